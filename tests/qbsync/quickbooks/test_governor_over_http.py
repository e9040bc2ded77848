"""The rate governor between real worker processes and the sandbox over HTTP, with the sandbox enforcing
the same limits QBO would: two processes hammering one company never get a 429 from it and never exceed
its concurrency, while a third process working for another company is not held back."""

import multiprocessing
import threading
import time
import uuid

LIMITS = {"per_minute": 30, "concurrent": 3, "batch_per_minute": 6, "per_second": None}
RUN_SECONDS = 3.0


class FixedToken:
    def __init__(self, token: str):
        self.token = token

    def access_token(self) -> str:
        return self.token

    def refresh_after_rejection(self, rejected_token: str) -> str:
        raise AssertionError("the token should not be rejected")


def hammer(api_base, realm, token, redis_url, prefix, threads, results):
    """One worker process: several threads calling QBO through the shared governor until time is up."""
    import redis

    from qbsync.quickbooks.client import QboClient
    from qbsync.quickbooks.errors import QboRateLimitError
    from qbsync.quickbooks.governor import RateLimits, RealmThrottled, RedisRateGovernor

    governor = RedisRateGovernor(
        redis.Redis.from_url(redis_url),
        RateLimits(
            max_in_flight=3,
            per_minute=30,
            batch_per_minute=6,
            per_second=None,
            headroom=0.0,
            window_seconds=60.0,
        ),
        key_prefix=prefix,
    )
    counts = {"ok": 0, "batch_ok": 0, "throttled_here": 0, "qbo_429": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + RUN_SECONDS

    def work(n: int):
        client = QboClient(
            realm_id=realm, base_url=api_base, token_source=FixedToken(token), governor=governor
        )
        while time.monotonic() < deadline:
            batch = n == 0
            try:
                if batch:
                    client.request(
                        "POST",
                        "batch",
                        body={"BatchItemRequest": [{"bId": "1", "Query": "SELECT * FROM Item MAXRESULTS 1"}]},
                        request_id=uuid.uuid4().hex,
                    )
                else:
                    client.company_info()
                key = "batch_ok" if batch else "ok"
            except RealmThrottled:
                key = "throttled_here"
                time.sleep(0.05)
            except QboRateLimitError:
                key = "qbo_429"
            with lock:
                counts[key] += 1

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    results.put((realm, counts))


def test_two_processes_on_one_realm_stay_within_qbos_limits_and_another_realm_is_unaffected(
    require_redis, qbo_sandbox
):
    realm_a = qbo_sandbox.control.create_company("Hammered Co", settings={"limits": LIMITS})
    realm_b = qbo_sandbox.control.create_company("Other Co", settings={"limits": LIMITS})
    token_a = qbo_sandbox.control.tokens(realm_a)["access_token"]
    token_b = qbo_sandbox.control.tokens(realm_b)["access_token"]
    prefix = f"test-gov-http-{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    processes = [
        ctx.Process(
            target=hammer, args=(qbo_sandbox.api_base, realm_a, token_a, require_redis, prefix, 4, results)
        ),
        ctx.Process(
            target=hammer, args=(qbo_sandbox.api_base, realm_a, token_a, require_redis, prefix, 4, results)
        ),
        ctx.Process(
            target=hammer, args=(qbo_sandbox.api_base, realm_b, token_b, require_redis, prefix, 2, results)
        ),
    ]
    for p in processes:
        p.start()
    collected = [results.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(timeout=30)
    a = [c for realm, c in collected if realm == realm_a]
    b = next(c for realm, c in collected if realm == realm_b)
    total = lambda key: sum(c[key] for c in a)  # noqa: E731

    assert total("qbo_429") == 0, a
    assert b["qbo_429"] == 0, b
    stats_a = qbo_sandbox.control.company(realm_a)["limits_stats"]
    assert stats_a["throttled"] == 0
    assert stats_a["max_in_flight"] <= 3
    # Realm A used its minute's budget (30 calls, 6 of them batches) and was then held back here.
    assert total("ok") + total("batch_ok") == 30
    assert total("batch_ok") <= 6
    assert total("throttled_here") > 0
    # Realm B got its own full budget meanwhile.
    assert b["ok"] + b["batch_ok"] == 30

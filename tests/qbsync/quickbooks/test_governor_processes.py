"""Separate OS processes share one RedisRateGovernor through real Redis: realm A is hammered by two processes
of three threads each and paused halfway (a 429), while a third process drives realm B. Afterwards every
limit is checked from the grants' logs, and B must have got its own full rate throughout.

Run as a script, this file is the hammering child process.
"""

import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
REALM_A = "4620816365000000001"
REALM_B = "4620816365000000002"
IN_FLIGHT = 3
PER_WINDOW = 20
BATCH_PER_WINDOW = 4
WINDOW_SECONDS = 1.0
RUN_SECONDS = 4.0
PAUSE_AFTER_SECONDS = 1.2
# Longer than a window, so that it holds at least one whole window's worth of B's permits.
PAUSE_SECONDS = 1.5


def hammer(job: dict) -> None:
    """Child: take permits on one realm from several threads until the run ends; write what happened."""
    import redis

    from qbsync.quickbooks.governor import RateLimits, RealmThrottled, RedisRateGovernor

    client = redis.Redis.from_url(job["redis_url"])
    limits = RateLimits(
        max_in_flight=IN_FLIGHT,
        per_minute=PER_WINDOW,
        batch_per_minute=BATCH_PER_WINDOW,
        per_second=None,
        headroom=0,
        window_seconds=WINDOW_SECONDS,
    )
    governor = RedisRateGovernor(client, limits, key_prefix=job["key_prefix"])
    governor.state(job["realm_id"])  # connects and loads a script: start-up is over before the start
    # Interpreters start at very different speeds on a busy machine, so the parent names the start time
    # once every child is ready.
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    stop_at = start_at + RUN_SECONDS
    grants: list[list] = []
    throttles: list[list] = []
    pauses: list[list] = []
    log_lock = threading.Lock()

    def run(seed: int) -> None:
        rng = random.Random(seed)
        while time.time() < stop_at:
            batch = rng.random() < 0.3
            try:
                with governor.permit(job["realm_id"], batch=batch, max_wait=0.3) as permit:
                    started = time.time()
                    time.sleep(rng.uniform(0.002, 0.015))  # the QBO call
                    ended = time.time()
                with log_lock:
                    grants.append([permit.granted_at, started, ended, batch])
            except RealmThrottled as exc:
                with log_lock:
                    throttles.append([time.time(), exc.reason, exc.retry_after])
                # A Celery task would retry after retry_after; coming back sooner keeps the pressure on.
                time.sleep(min(exc.retry_after, 0.05))

    def pause_like_a_429() -> None:
        time.sleep(max(0.0, start_at + PAUSE_AFTER_SECONDS - time.time()))
        seconds, micros = client.time()
        called = seconds + micros / 1e6
        governor.pause(job["realm_id"], PAUSE_SECONDS)
        seconds, micros = client.time()
        pauses.append([called, seconds + micros / 1e6])

    time.sleep(max(0.0, start_at - time.time()))
    threads = [threading.Thread(target=run, args=(job["seed"] * 100 + n,)) for n in range(job["threads"])]
    if job["pause"]:
        threads.append(threading.Thread(target=pause_like_a_429))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    Path(job["out"]).write_text(json.dumps({"grants": grants, "throttles": throttles, "pauses": pauses}))


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    # Ends sort before starts at the same instant: a slot released and retaken is not an overlap.
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def _max_in_window(granted_at: list[float]) -> int:
    # Grants at s count while s > now - window, so no half-open window (t - W, t] may hold more than the
    # limit. Whole microseconds, as Redis TIME gives them, keep the comparison exact.
    times = sorted(round(t * 1_000_000) for t in granted_at)
    window = round(WINDOW_SECONDS * 1_000_000)
    peak = first = 0
    for last, now in enumerate(times):
        while times[first] <= now - window:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def _check_limits(grants: list[list]) -> None:
    peaks = (
        _max_overlap([(started, ended) for _, started, ended, _ in grants]),
        _max_in_window([granted for granted, *_ in grants]),
        _max_in_window([granted for granted, _, _, batch in grants if batch]),
    )
    assert peaks[0] <= IN_FLIGHT, peaks
    assert peaks[1] <= PER_WINDOW, peaks
    assert peaks[2] <= BATCH_PER_WINDOW, peaks


def test_processes_sharing_redis_keep_every_realm_within_its_limits(require_redis, tmp_path):
    key_prefix = f"test:gov:{uuid.uuid4().hex}"
    jobs = [
        {"realm_id": REALM_A, "threads": 3, "pause": True, "seed": 1},
        {"realm_id": REALM_A, "threads": 3, "pause": False, "seed": 2},
        {"realm_id": REALM_B, "threads": 2, "pause": False, "seed": 3},
    ]
    children = []
    for n, job in enumerate(jobs):
        job |= {
            "redis_url": require_redis,
            "key_prefix": key_prefix,
            "out": str(tmp_path / f"child-{n}.json"),
        }
        children.append(
            subprocess.Popen(
                [sys.executable, __file__, json.dumps(job)],
                cwd=ROOT,
                env=os.environ | {"PYTHONPATH": str(ROOT)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        start_at = time.time() + 0.1
        for child in children:
            child.stdin.write(f"{start_at}\n")
            child.stdin.close()
        for child in children:
            assert child.wait(timeout=RUN_SECONDS + 30) == 0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
        import redis

        client = redis.Redis.from_url(require_redis)
        leftovers = list(client.scan_iter(f"{key_prefix}:*"))
        if leftovers:
            client.delete(*leftovers)
        client.close()

    logs = [json.loads(Path(job["out"]).read_text()) for job in jobs]
    grants_a = logs[0]["grants"] + logs[1]["grants"]
    grants_b = logs[2]["grants"]
    pause_called, pause_returned = logs[0]["pauses"][0]
    pause_ends = pause_called + PAUSE_SECONDS

    _check_limits(grants_a)
    _check_limits(grants_b)
    # Both processes of A got permits and together saturated A's window, so the bounds were put to the test.
    assert logs[0]["grants"]
    assert logs[1]["grants"]
    assert _max_in_window([granted for granted, *_ in grants_a]) == PER_WINDOW
    throttled_a = {reason for _, reason, _ in logs[0]["throttles"] + logs[1]["throttles"]}
    assert throttled_a >= {"paused", "per_minute"}
    assert not [granted for granted, *_ in grants_a if pause_returned <= granted < pause_ends]
    assert [granted for granted, *_ in grants_a if granted >= pause_ends], "A never resumed after its pause"

    # B kept to its own rate (a window's worth per window) while A was saturated and while A was paused.
    # The fractions are generous because on a busy machine the children may simply not get the CPU.
    assert len(grants_b) >= 0.4 * PER_WINDOW * RUN_SECONDS / WINDOW_SECONDS, len(grants_b)
    during_pause = [granted for granted, *_ in grants_b if pause_returned <= granted < pause_ends]
    assert len(during_pause) >= 0.5 * PER_WINDOW, len(during_pause)
    assert "paused" not in {reason for _, reason, _ in logs[2]["throttles"]}


if __name__ == "__main__":
    hammer(json.loads(sys.argv[1]))

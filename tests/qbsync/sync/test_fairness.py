"""Fair scheduling across realms (qbsync.sync.fairness), piece by piece: the governor's look that takes
nothing, the worker-slot leases in a real Redis, the caps, and run_fairly's decisions on a stand-in task.
Real worker processes against the sandbox are in test_fairness_workers.py."""

import time
import uuid
from dataclasses import dataclass, field

import pytest

from qbsync.quickbooks.governor import (
    IN_FLIGHT_RETRY_AFTER_SECONDS,
    LocalRateGovernor,
    RateLimits,
    RedisRateGovernor,
    reset_governor,
)
from qbsync.sync import fairness
from qbsync.sync.fairness import RealmSlots, node_cap, run_fairly

REALM = "9130351111111111"
OTHER_REALM = "9130351111111112"
LIMITS = RateLimits(
    max_in_flight=2, per_minute=3, batch_per_minute=1, per_second=None, headroom=0, window_seconds=5.0
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key_prefix() -> str:
    return f"test:fair:{uuid.uuid4().hex}"


@pytest.fixture
def redis_client(require_redis, key_prefix):
    import redis

    client = redis.Redis.from_url(require_redis)
    yield client
    leftovers = list(client.scan_iter(f"{key_prefix}:*"))
    if leftovers:
        client.delete(*leftovers)
    client.close()


@pytest.fixture(params=["local", "redis"])
def governor(request, key_prefix):
    if request.param == "local":
        clock = FakeClock()
        return LocalRateGovernor(LIMITS, clock=clock, sleep=lambda s: None)
    return RedisRateGovernor(request.getfixturevalue("redis_client"), LIMITS, key_prefix=key_prefix)


# --- The governor's look ------------------------------------------------------------------------------------


def test_a_look_at_a_free_realm_finds_no_wait_and_takes_nothing(governor):
    for _ in range(10):
        assert governor.wait_before_permit(REALM) is None
    state = governor.state(REALM)
    assert (state.in_flight, state.requests_in_window, state.batch_in_window) == (0, 0, 0)


def test_a_look_reports_the_pause_and_the_spent_window(governor):
    governor.pause(REALM, 3.0)
    reason, seconds = governor.wait_before_permit(REALM)
    assert reason == "paused"
    assert 2.5 < seconds <= 3.0
    assert governor.wait_before_permit(OTHER_REALM) is None

    for _ in range(3):
        with governor.permit(OTHER_REALM, max_wait=0):
            pass
    reason, seconds = governor.wait_before_permit(OTHER_REALM)
    assert reason == "per_minute"
    assert 4.0 < seconds <= 5.0


def test_a_look_at_a_full_in_flight_limit_advises_a_short_retry(governor):
    with governor.permit(REALM, max_wait=0), governor.permit(REALM, max_wait=0):
        reason, seconds = governor.wait_before_permit(REALM)
    assert reason == "in_flight"
    assert 0 < seconds <= IN_FLIGHT_RETRY_AFTER_SECONDS
    assert governor.wait_before_permit(REALM) is None


def test_a_look_for_a_batch_counts_the_batch_window(governor):
    with governor.permit(REALM, batch=True, max_wait=0):
        pass
    assert governor.wait_before_permit(REALM) is None
    assert governor.wait_before_permit(REALM, batch=True)[0] == "batch_per_minute"


# --- Worker slots -------------------------------------------------------------------------------------------


def test_slots_cap_one_worker_process_and_all_of_them(redis_client, key_prefix):
    slots = RealmSlots(redis_client, key_prefix=key_prefix, lease_seconds=30)
    taken = [slots.take(REALM, node="w1@a", node_cap=2, realm_cap=3) for _ in range(3)]
    assert [verdict for verdict, _ in taken] == ["ok", "ok", "node"]
    assert slots.take(REALM, node="w2@b", node_cap=2, realm_cap=3)[0] == "ok"
    assert slots.take(REALM, node="w3@c", node_cap=2, realm_cap=3)[0] == "realm"
    assert slots.take(OTHER_REALM, node="w1@a", node_cap=2, realm_cap=3)[0] == "ok", "realms are separate"
    assert slots.held(REALM) == 3

    slots.give_back(REALM, node="w1@a", slot_id=taken[0][1])
    assert slots.held(REALM) == 2
    assert slots.take(REALM, node="w3@c", node_cap=2, realm_cap=3)[0] == "ok"


def test_a_slot_of_a_worker_that_died_expires_with_its_lease(redis_client, key_prefix):
    slots = RealmSlots(redis_client, key_prefix=key_prefix, lease_seconds=0.3)
    assert slots.take(REALM, node="w1@a", node_cap=1, realm_cap=9)[0] == "ok"
    assert slots.take(REALM, node="w1@a", node_cap=1, realm_cap=9)[0] == "node"
    time.sleep(0.4)
    assert slots.held(REALM) == 0
    assert slots.take(REALM, node="w1@a", node_cap=1, realm_cap=9)[0] == "ok"


def test_slot_keys_share_the_realm_hash_tag_whatever_the_node_name(redis_client, key_prefix):
    slots = RealmSlots(redis_client, key_prefix=key_prefix, lease_seconds=1)
    keys = slots.keys_for(REALM, "odd{name}@host")
    assert all(f"{{{REALM}}}" in key for key in keys)
    assert all(key.count("{") == 1 for key in keys)


def test_the_cap_per_worker_process_is_half_its_pool_but_two_unless_set(settings):
    settings.QBSYNC_MAX_WORKERS_PER_REALM = 0
    assert [node_cap(n) for n in (1, 2, 3, 4, 6, 8, 16)] == [2, 2, 2, 2, 3, 4, 8]
    settings.QBSYNC_MAX_WORKERS_PER_REALM = 1
    assert node_cap(2) == 1
    settings.QBSYNC_MAX_WORKERS_PER_REALM = 3
    assert node_cap(8) == 3


def test_a_message_parked_at_the_cap_comes_back_with_the_next_slot_given_back(redis_client, key_prefix):
    slots = RealmSlots(redis_client, key_prefix=key_prefix, lease_seconds=30)
    verdict, slot_id = slots.take(REALM, node="w1@a", node_cap=1, realm_cap=9)
    assert verdict == "ok"
    assert slots.take(REALM, node="w1@a", node_cap=1, realm_cap=9, park="first")[0] == "node"
    assert slots.take(REALM, node="w1@a", node_cap=1, realm_cap=9, park="second")[0] == "node"
    assert slots.set_asides(REALM) == {"share": 2, "governor": 0, "parked_now": 2}
    # Each slot given back hands over one parked message, oldest first; none is lost or sent twice.
    assert slots.give_back(REALM, node="w1@a", slot_id=slot_id) == "first"
    verdict, slot_id = slots.take(REALM, node="w1@a", node_cap=1, realm_cap=9)
    assert slots.give_back(REALM, node="w1@a", slot_id=slot_id) == "second"
    verdict, slot_id = slots.take(REALM, node="w1@a", node_cap=1, realm_cap=9)
    assert slots.give_back(REALM, node="w1@a", slot_id=slot_id) is None
    assert slots.set_asides(REALM)["parked_now"] == 0
    assert slots.set_asides(OTHER_REALM) == {"share": 0, "governor": 0, "parked_now": 0}


# --- run_fairly ---------------------------------------------------------------------------------------------


@dataclass
class StandInRequest:
    args: tuple = (7,)
    kwargs: dict = field(default_factory=dict)
    retries: int = 0
    hostname: str = "w1@test"
    called_directly: bool = False


@dataclass
class StandInTask:
    """Records what run_fairly sends back to the queue; the real apply_async is exercised by the worker
    tests."""

    request: StandInRequest = field(default_factory=StandInRequest)
    sent: list = field(default_factory=list)
    name: str = "qbsync.qbo.invoice_push"

    def apply_async(self, **options) -> None:
        self.sent.append(options)


@pytest.fixture
def shared_redis(settings, require_redis):
    settings.QBO_RATE_WINDOW_SECONDS = 5.0
    settings.QBO_MAX_IN_FLIGHT = 3
    settings.QBO_RATE_HEADROOM = 0.0
    settings.QBSYNC_MAX_WORKERS_PER_REALM = 2
    reset_governor()
    fairness.reset_slots()
    yield
    reset_governor()
    fairness.reset_slots()


def fresh_realm() -> str:
    return str(9130352000000000 + uuid.uuid4().int % 10**8)


def test_a_realm_with_room_runs_the_work_and_gives_its_slot_back(shared_redis):
    realm, task = fresh_realm(), StandInTask()
    seen = []

    def work():
        seen.append(fairness.slots_from_settings().held(realm))
        return "synced"

    assert run_fairly(task, realm, work) == "synced"
    assert seen == [1], "the work ran holding one slot"
    assert fairness.slots_from_settings().held(realm) == 0
    assert task.sent == []


def test_a_paused_realm_sets_the_task_aside_for_the_pause_without_running_it(shared_redis):
    from qbsync.quickbooks.governor import governor_from_settings

    realm, task = fresh_realm(), StandInTask(request=StandInRequest(args=(41,), retries=2))
    governor_from_settings().pause(realm, 4.0)
    assert run_fairly(task, realm, lambda: pytest.fail("the work ran during the pause")) == "set-aside"
    assert fairness.slots_from_settings().set_asides(realm)["governor"] == 1
    [options] = task.sent
    assert options["args"] == (41,)
    assert options["retries"] == 3
    assert 3.5 < options["countdown"] <= 5.0, "back when the pause ends, give or take the jitter"


def test_a_realm_holding_its_share_sets_the_task_aside_and_another_realm_runs(shared_redis, monkeypatch):
    resent = []
    monkeypatch.setattr(
        fairness.current_app, "send_task", lambda name, **options: resent.append((name, options))
    )
    realm, other = fresh_realm(), fresh_realm()
    slots = fairness.slots_from_settings()
    for _ in range(2):
        assert slots.take(realm, node="w1@test", node_cap=2, realm_cap=3)[0] == "ok"
    task = StandInTask(request=StandInRequest(args=(77,)))
    assert run_fairly(task, realm, lambda: pytest.fail("over the share")) == "set-aside"
    assert task.sent == [], "parked in Redis, not sent back to the queue on a timer"
    assert slots.set_asides(realm) == {"share": 1, "governor": 0, "parked_now": 1}
    assert run_fairly(StandInTask(), other, lambda: "synced") == "synced"
    # On another worker process the realm still has room, up to the cap across all workers (3).
    on_w2 = StandInTask(request=StandInRequest(hostname="w2@test"))
    assert run_fairly(on_w2, realm, lambda: "synced") == "synced"
    assert slots.take(realm, node="w2@test", node_cap=2, realm_cap=3)[0] == "ok"
    on_w3 = StandInTask(request=StandInRequest(hostname="w3@test"))
    assert run_fairly(on_w3, realm, lambda: pytest.fail("over the realm's cap")) == "set-aside"
    # The task on w2 gave its slot back and sent the first parked task again; w3's waits now.
    assert resent == [("qbsync.qbo.invoice_push", {"args": [77], "kwargs": {}, "retries": 1})]
    assert slots.set_asides(realm) == {"share": 2, "governor": 0, "parked_now": 1}


def test_a_task_giving_its_slot_back_sends_the_first_parked_task_again(shared_redis, monkeypatch):
    realm = fresh_realm()
    slots = fairness.slots_from_settings()
    resent = []
    monkeypatch.setattr(
        fairness.current_app, "send_task", lambda name, **options: resent.append((name, options))
    )
    assert slots.take(realm, node="w1@test", node_cap=2, realm_cap=3)[0] == "ok"
    parked = StandInTask(request=StandInRequest(args=(5,), kwargs={"x": 1}, retries=0))

    def work_while_another_waits():
        assert run_fairly(parked, realm, lambda: pytest.fail("over the share")) == "set-aside"
        assert resent == []
        return "synced"

    # The running task ends, gives its slot back and sends the parked one again.
    assert run_fairly(StandInTask(), realm, work_while_another_waits) == "synced"
    assert resent == [("qbsync.qbo.invoice_push", {"args": [5], "kwargs": {"x": 1}, "retries": 1})]
    assert slots.set_asides(realm)["parked_now"] == 0


def test_the_slot_is_given_back_when_the_work_fails(shared_redis):
    realm = fresh_realm()

    def work():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_fairly(StandInTask(), realm, work)
    assert fairness.slots_from_settings().held(realm) == 0


def test_called_directly_or_without_a_realm_the_work_just_runs(shared_redis):
    realm = fresh_realm()
    from qbsync.quickbooks.governor import governor_from_settings

    governor_from_settings().pause(realm, 4.0)
    direct = StandInTask(request=StandInRequest(called_directly=True))
    assert run_fairly(direct, realm, lambda: "ran") == "ran"
    assert run_fairly(StandInTask(), None, lambda: "ran") == "ran"


def test_without_redis_only_the_governor_look_applies(settings):
    settings.REDIS_URL = ""
    reset_governor()
    fairness.reset_slots()
    try:
        assert fairness.slots_from_settings() is None
        assert run_fairly(StandInTask(), REALM, lambda: "ran") == "ran"
    finally:
        reset_governor()


def test_the_realm_of_each_fair_task_is_found_from_its_id(firm, qbo_connection):
    from qbsync.sync.fairness import realm_of_task
    from qbsync.sync.models import InvoiceSyncLink
    from tests.factories import AccountFactory, make_invoice

    invoice = make_invoice(account=AccountFactory(firm=firm))
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert realm_of_task("qbsync.qbo.invoice_push", link.pk) == qbo_connection.realm_id
    assert realm_of_task("qbsync.qbo.transactions_batch_push", firm.pk) == qbo_connection.realm_id
    assert realm_of_task("qbsync.qbo.invoice_push", 10**9) is None


def test_the_realm_read_for_a_tasks_log_lines_is_not_read_again(
    firm, qbo_connection, django_assert_num_queries
):
    from qbsync.sync.fairness import realm_of_task
    from qbsync.sync.log_context import task_log_context
    from qbsync.sync.models import InvoiceSyncLink
    from tests.factories import AccountFactory, make_invoice

    links = [
        InvoiceSyncLink.objects.get(invoice=make_invoice(account=AccountFactory(firm=firm))) for _ in range(2)
    ]
    with django_assert_num_queries(1):
        task_log_context("qbsync.qbo.invoice_push", [links[0].pk], {})
        assert realm_of_task("qbsync.qbo.invoice_push", links[0].pk) == qbo_connection.realm_id
    with django_assert_num_queries(1):  # another record than the task's start read: read
        assert realm_of_task("qbsync.qbo.invoice_push", links[1].pk) == qbo_connection.realm_id


def test_slots_of_a_killed_pool_process_are_freed_at_once_not_after_their_lease(redis_client, key_prefix):
    import subprocess
    import sys

    slots = RealmSlots(redis_client, key_prefix=key_prefix, lease_seconds=300)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    node_key, all_key = slots.keys_for(REALM, "w1@a")[:2]
    far = (time.time() + 300) * 1_000_000
    redis_client.zadd(node_key, {f"{dead.pid}:lost": far})
    redis_client.zadd(all_key, {f"{dead.pid}:lost": far})
    assert slots.take(REALM, node="w1@a", node_cap=2, realm_cap=9)[0] == "ok"  # a live one, ours
    assert slots.take(REALM, node="w1@a", node_cap=2, realm_cap=9, park="waiting")[0] == "node"
    # The dead holder will never give its slot back: the message parked behind it comes out with it.
    assert slots.reap_dead(REALM, "w1@a") == ["waiting"]
    assert slots.held(REALM) == 1, "the live process's slot stays"
    assert slots.reap_dead(REALM, "w1@a") == []
    assert slots.take(REALM, node="w1@a", node_cap=2, realm_cap=9)[0] == "ok"

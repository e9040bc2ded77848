"""Account sync through real worker processes, the sandbox over HTTP, and the configured database and
broker (PostgreSQL and Redis in CI): a worker killed mid-run, and faults, never leave a duplicate."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from qbsync.sync.engine.leases import SYNCING_LEASE
from qbsync.sync.kinds.accounts import account_sync_request
from qbsync.sync.models import AccountSyncLink
from qbsync.sync.states import SyncState
from qbsync.sync.work.sweep import sync_sweep
from tests.factories import AccountFactory
from tests.workers import WorkerProcess, sandbox_worker

pytestmark = pytest.mark.django_db(transaction=True)


def worker_for(qbo, name: str, concurrency: int = 2) -> WorkerProcess:
    return sandbox_worker(qbo, name=name, concurrency=concurrency)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def states(firm) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in AccountSyncLink.objects.filter(firm=firm).values_list("state", flat=True):
        counts[state] = counts.get(state, 0) + 1
    return counts


def assert_each_account_has_exactly_one_customer(qbo, realm_id: str, firm, expected: int) -> None:
    customers = qbo.control.entities(realm_id, "Customer")
    names = [c["DisplayName"] for c in customers]
    assert len(names) == len(set(names)) == expected, "a duplicate customer in QBO"
    by_id = {c["Id"]: c["DisplayName"] for c in customers}
    links = list(AccountSyncLink.objects.filter(firm=firm).select_related("account"))
    assert len(links) == expected
    for link in links:
        assert link.state == SyncState.SYNCED, (link.account.name, link.state, link.error_explanation)
        assert by_id[link.qbo_customer_id] == link.account.name


def test_a_worker_killed_mid_run_leaves_every_account_synced_exactly_once(qbo, qbo_connection, firm):
    realm = qbo_connection.realm_id
    qbo.control.settings(realm, latency_ms=60)  # each QBO call takes a moment, so the kill lands mid-run
    accounts = [AccountFactory(firm=firm, name=f"Killed Run Client {i:02d}") for i in range(50)]
    first = worker_for(qbo, "kill-1")
    try:
        for account in accounts:
            account_sync_request(account=account)
        wait_until(lambda: states(firm).get(SyncState.SYNCED, 0) >= 8, 60, "the first accounts to sync")
        first.kill()  # SIGKILL, pool children included: work in flight is cut off anywhere
    finally:
        first.stop()
    progress = states(firm)
    assert progress.get(SyncState.SYNCED, 0) < 50, f"the kill came too late to test anything: {progress}"

    second = worker_for(qbo, "kill-2")
    try:
        # Past the lease, the sweep puts back what the dead worker held; the new worker finishes.
        wait_until(
            lambda: (
                sync_sweep(now=timezone.now() + SYNCING_LEASE + timedelta(seconds=1)) is not None
                and states(firm).get(SyncState.SYNCED, 0) == 50
            ),
            120,
            "every account to be synced after the restart",
        )
    finally:
        second.stop()
    assert_each_account_has_exactly_one_customer(qbo, realm, firm, 50)


@pytest.mark.parametrize("fault", ["drop_after_commit", "http_503"])
def test_faults_through_a_worker_end_synced_without_duplicates(qbo, qbo_connection, firm, fault):
    realm = qbo_connection.realm_id
    qbo.control.settings(realm, idempotency="off")  # the app must cope where QBO ignores requestid
    qbo.control.fault(realm, fault, count=3, path="customer", method="POST", retry_after=1)
    accounts = [AccountFactory(firm=firm, name=f"{fault} client {i}") for i in range(5)]
    worker = worker_for(qbo, f"fault-{fault}")
    try:
        for account in accounts:
            account_sync_request(account=account)
        wait_until(lambda: states(firm).get(SyncState.SYNCED, 0) == 5, 90, "all five to sync")
    finally:
        worker.stop()
    assert_each_account_has_exactly_one_customer(qbo, realm, firm, 5)


def test_a_double_submit_through_the_worker_creates_one_customer(qbo, qbo_connection, firm):
    account = AccountFactory(firm=firm, name="Double Clicker LLC")
    worker = worker_for(qbo, "double")
    try:
        account_sync_request(account=account)
        account_sync_request(account=account)
        wait_until(lambda: states(firm).get(SyncState.SYNCED, 0) == 1, 60, "the account to sync")
    finally:
        worker.stop()
    assert_each_account_has_exactly_one_customer(qbo, qbo_connection.realm_id, firm, 1)


def test_a_bulk_sync_survives_a_worker_killed_in_the_middle(qbo, qbo_connection, firm, owner):
    from qbsync.sync.engine.leases import BULK_HOLD
    from qbsync.sync.models import BulkSyncPlan, QuickBooksConnection
    from qbsync.sync.work.bulk import bulk_sync_preview_start, bulk_sync_start

    realm = qbo_connection.realm_id
    QuickBooksConnection.objects.filter(pk=qbo_connection.pk).update(auto_sync_scope="all")
    qbo.control.settings(realm, latency_ms=400, idempotency="off")  # slow batches, and no requestid help
    for i in range(240):
        AccountFactory(firm=firm, name=f"Bulk Killed {i:03d}")
    first = worker_for(qbo, "bulk-1")
    try:
        plan = bulk_sync_preview_start(firm=firm, actor=owner)
        wait_until(lambda: BulkSyncPlan.objects.get(pk=plan.pk).state == "ready", 60, "the preview")
        bulk_sync_start(plan=BulkSyncPlan.objects.get(pk=plan.pk), actor=owner)
        wait_until(lambda: states(firm).get(SyncState.SYNCED, 0) >= 30, 60, "the first batch")
        first.kill()
    finally:
        first.stop()
    assert states(firm).get(SyncState.SYNCED, 0) < 240

    qbo.control.settings(realm, latency_ms=0)
    second = worker_for(qbo, "bulk-2")
    later = SYNCING_LEASE + BULK_HOLD + timedelta(seconds=1)
    try:
        # As beat would, once the lease and the bulk hold have passed: resume the run, requeue the rest.
        deadline = time.monotonic() + 150
        while states(firm).get(SyncState.SYNCED, 0) < 240 and time.monotonic() < deadline:
            sync_sweep(now=timezone.now() + later)
            wait_until(lambda: states(firm).get(SyncState.QUEUED, 0) == 0, 20, "the queue to drain")
    finally:
        second.stop()
    assert states(firm) == {SyncState.SYNCED: 240}
    assert_each_account_has_exactly_one_customer(qbo, realm, firm, 240)

"""Invoices and payments through real worker processes under faults: a 429 storm with lost replies and
requestid replay off, and the broker's queues wiped mid-run. Each ends with every record in QBO once, with
the right amounts, and nothing stuck."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from qbsync.sync.engine.leases import QUEUED_GRACE
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState
from qbsync.sync.work.sweep import sync_sweep
from tests.factories import AccountFactory, make_invoice, make_payment
from tests.workers import sandbox_worker

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def moving(firm) -> int:
    busy = Q(state=SyncState.SYNCING) | Q(state=SyncState.QUEUED)
    return sum(
        m.objects.filter(firm=firm).filter(busy).count()
        for m in (AccountSyncLink, InvoiceSyncLink, PaymentSyncLink)
    )


def wait_settled(firm, timeout: float, *, sweep: bool = False) -> None:
    deadline = time.monotonic() + timeout
    while moving(firm) and time.monotonic() < deadline:
        if sweep:
            sync_sweep(now=timezone.now() + QUEUED_GRACE + timedelta(seconds=1))
        time.sleep(1.0)
    assert moving(firm) == 0, "work was left behind"


def make_history(firm, n_accounts: int = 3, per_account: int = 4):
    for a in range(n_accounts):
        account = AccountFactory(firm=firm, name=f"Storm Client {a}")
        for i in range(per_account):
            invoice = make_invoice(account=account, number=f"S{a}-{i}", amounts=(f"{100 + i}.25",))
            if i % 2 == 0:
                make_payment(account=account, amount=f"{150 + i}.50", allocations={invoice: f"{100 + i}.25"})
    # The firm's rule ("accounts with invoices or payments") has asked each account to sync.


def assert_once_and_correct(qbo, realm, firm) -> None:
    invoices = {i["Id"]: i for i in qbo.control.entities(realm, "Invoice")}
    payments = {p["Id"]: p for p in qbo.control.entities(realm, "Payment")}
    invoice_links = list(InvoiceSyncLink.objects.filter(firm=firm).select_related("invoice"))
    payment_links = list(PaymentSyncLink.objects.filter(firm=firm).select_related("payment"))
    assert all(link.state == SyncState.SYNCED for link in invoice_links + payment_links)
    assert len(invoices) == len(invoice_links), "a duplicate invoice in QBO"
    assert len(payments) == len(payment_links), "a duplicate payment in QBO"
    for link in invoice_links:
        assert D(str(invoices[link.qbo_invoice_id]["TotalAmt"])) == link.invoice.total
        assert D(str(invoices[link.qbo_invoice_id]["Balance"])) == link.invoice.balance
    for link in payment_links:
        assert D(str(payments[link.qbo_payment_id]["UnappliedAmt"])) == link.payment.unapplied


def test_a_429_storm_with_lost_replies_and_no_requestid_replay(qbo, connected, firm):
    realm = connected.realm_id
    qbo.control.settings(realm, idempotency="off")
    qbo.control.fault(realm, "throttle", count=15, retry_after=1)
    qbo.control.fault(realm, "drop_after_commit", count=2, path="invoice", method="POST")
    qbo.control.fault(realm, "drop_after_commit", count=1, path="payment", method="POST")
    worker = sandbox_worker(qbo, name="storm", concurrency=2)
    try:
        make_history(firm)
        wait_settled(firm, 150)
    finally:
        worker.stop()
    assert_once_and_correct(qbo, realm, firm)


def test_the_broker_wiped_mid_run_loses_nothing(require_redis, qbo, connected, firm):
    import redis

    realm = connected.realm_id
    qbo.control.settings(realm, latency_ms=150)
    make_history(firm)  # queued in the broker; no worker yet
    client = redis.Redis.from_url(require_redis)
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    wiped = [key for key in client.scan_iter(f"{prefix}*")]
    assert wiped, "the broker should hold this run's queued tasks"
    client.delete(*wiped)  # as if Redis restarted without persistence
    worker = sandbox_worker(qbo, name="wiped", concurrency=2)
    try:
        wait_settled(firm, 150, sweep=True)  # beat's sweep rebuilds the queue from the database
    finally:
        worker.stop()
    assert_once_and_correct(qbo, realm, firm)


def test_a_worker_killed_mid_batch_leaves_no_duplicate_and_nothing_behind(qbo, connected, firm):
    """The first batch is applied in QBO, then its reply hangs and the worker is SIGKILLed. A new worker
    and the sweep finish the job: the batch's records are found by their markers, not created again."""
    from qbsync.sync.engine.leases import SYNCING_LEASE
    from qbsync.sync.models import SyncEvent

    realm = connected.realm_id
    qbo.control.settings(realm, idempotency="off")
    qbo.control.fault(realm, "hang", operation="batch", hang_seconds=20, apply=True)
    worker = sandbox_worker(qbo, name="killed", concurrency=2)
    try:
        make_history(firm, n_accounts=4, per_account=10)
        deadline = time.monotonic() + 60
        in_flight = SyncEvent.objects.filter(firm=firm, kind="create_sent", invoice__isnull=False)
        while not in_flight.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        # The batch is in QBO once its invoices are there (apply=True); its reply hangs.
        while not qbo.control.entities(realm, "Invoice") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert InvoiceSyncLink.objects.filter(firm=firm, state=SyncState.SYNCING).exists()
        worker.kill()
    finally:
        worker.stop()
    applied = len(qbo.control.entities(realm, "Invoice"))
    assert applied >= 1, "the killed batch reached QBO"
    stuck = InvoiceSyncLink.objects.filter(firm=firm, state=SyncState.SYNCING).count()
    assert stuck >= 1
    worker = sandbox_worker(qbo, name="after-kill", concurrency=2)
    try:
        # The lease of a push that stopped answering has run out: the sweep takes its records back.
        sync_sweep(now=timezone.now() + SYNCING_LEASE + timedelta(seconds=1))
        wait_settled(firm, 150, sweep=True)
    finally:
        worker.stop()
    assert_once_and_correct(qbo, realm, firm)
    handed_over = InvoiceSyncLink.objects.filter(firm=firm, in_batch=False).count()
    assert handed_over >= stuck, "the killed batch's records were finished one at a time"

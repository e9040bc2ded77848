"""S11, deleted here while the create's outcome is unknown: QBO applies an invoice's (or a payment's)
create and the worker is SIGKILLed before it hears back, so the link holds no QBO Id; the record is then
deleted here. The delete must still reach QBO (found by its marker under its customer), and survive the
same crash the create did: the next worker is killed while its delete hangs in QBO, unapplied, and a third
worker finishes it. No copy is left live in QBO; nothing is created twice."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from invoices.models import Invoice, Payment
from invoices.services import invoice_delete, payment_delete
from qbsync.sync.engine.leases import SYNCING_LEASE
from qbsync.sync.kinds.accounts import account_sync_request
from qbsync.sync.models import InvoiceSyncLink, PaymentSyncLink, SyncEvent, SyncOutbox
from qbsync.sync.states import SyncState
from qbsync.sync.work.sweep import sync_sweep
from tests.factories import AccountFactory, make_invoice, make_payment
from tests.faults.conftest import worker
from tests.faults.invariants import RealmCopy, assert_invariants, wait_settled

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

HANG = 3.0  # seconds QBO holds the create's reply before applying it and closing the connection
DELETE_HANG = 60.0  # the delete hangs unapplied for longer than the test waits: the worker dies first


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def live_copies(qbo, realm: str, kind: str, pk: int) -> list[dict]:
    copy = RealmCopy.read(qbo, realm)
    return [r for r in copy.by_marker.get((kind, pk), []) if float(r.get("TotalAmt") or 0) != 0]


@pytest.mark.parametrize("entity", ["invoice", "payment"])
def test_a_record_deleted_while_its_create_is_unknown_is_deleted_in_qbo_through_two_crashes(
    qbo, tenant, entity
):
    realm, firm = tenant.realm, tenant.firm
    kind = "inv" if entity == "invoice" else "pay"
    started = time.monotonic()
    with worker(qbo, name=f"s11-{entity}-create") as first:
        account = AccountFactory(firm=firm, name="Deleted Meanwhile Client")
        account_sync_request(account=account)
        wait_settled([firm], 30)
        if entity == "payment":
            invoice = make_invoice(account=account, amounts=("500.00",))
            wait_settled([firm], 30)
        qbo.control.fault(
            realm, "hang", method="POST", path=entity, operation="create", hang_seconds=HANG, apply=True
        )
        if entity == "invoice":
            record = make_invoice(account=account, amounts=("320.00", "80.00"))
        else:
            record = make_payment(account=account, amount="450.00", allocations={invoice: "400.00"})
        sent = SyncEvent.objects.filter(firm=firm, kind="create_sent", **{entity: record})
        wait_for(sent.exists, 30, "the create to be sent")
        time.sleep(0.5)  # the request is in QBO's hands now, its reply held back
        first.kill()
    wait_for(lambda: live_copies(qbo, realm, kind, record.pk), HANG + 10, "QBO to apply the create")
    link_model = InvoiceSyncLink if entity == "invoice" else PaymentSyncLink
    link = link_model.objects.get(**{entity: record})
    assert (link.state, link.qbo_id) == (SyncState.SYNCING, ""), "the killed worker held it, Id unknown"

    # Deleted here while it shows Syncing: the delete looks for it by its marker.
    (invoice_delete if entity == "invoice" else payment_delete)(**{entity: record})
    [row] = SyncOutbox.objects.filter(firm=firm, operation="delete")
    assert (row.marker, row.qbo_id) == (f"qbsync:{kind}:{record.pk}", "")
    qbo.control.fault(realm, "hang", method="POST", path=entity, operation="delete", hang_seconds=DELETE_HANG)

    with worker(qbo, name=f"s11-{entity}-delete") as second:
        sync_sweep(now=timezone.now() + SYNCING_LEASE + timedelta(seconds=1))
        # The worker found the copy by its marker and is sending the delete, which hangs in QBO.
        wait_for(lambda: SyncOutbox.objects.filter(pk=row.pk).exclude(qbo_id="").exists(), 30, "the find")
        time.sleep(0.5)
        second.kill()
    assert live_copies(qbo, realm, kind, record.pk), "the hung delete was not applied"
    row.refresh_from_db()
    assert row.state == SyncOutbox.State.PENDING

    # The killed worker's claim on the row runs out (its five-minute lease, here moved into the past).
    SyncOutbox.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    qbo.control.clear_faults(realm)
    with worker(qbo, name=f"s11-{entity}-after"):
        sync_sweep(now=timezone.now() + timedelta(seconds=1))
        wait_settled([firm], 60)
    row.refresh_from_db()
    assert row.state == SyncOutbox.State.DONE, row.result
    assert not live_copies(qbo, realm, kind, record.pk)
    assert not (Invoice if entity == "invoice" else Payment).objects.filter(pk=record.pk).exists()
    assert_invariants(qbo, {firm: realm})
    print(f"S11 {entity}: {time.monotonic() - started:.1f} s")

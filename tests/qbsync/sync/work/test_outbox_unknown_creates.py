"""A record deleted here while its create's outcome is unknown (QBO applied it and the reply was lost, or a
worker holds it mid-push) is deleted in QBO too: found by its marker under its customer, for as long as a
create sent before the delete may still land there. Over the sandbox, in process (the worker version is in
tests/faults/test_s11_deleted_while_unknown.py, crashes included)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from invoices.services import invoice_delete, payment_delete
from qbsync.quickbooks.transactions import create_invoice
from qbsync.sync.engine.client import connection_client
from qbsync.sync.engine.transitions import transition
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_draft, invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncOutbox
from qbsync.sync.states import SyncAction, SyncState
from qbsync.sync.work.outbox import outbox_process
from tests.factories import AccountFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced_account(connected, firm):
    account = AccountFactory(firm=firm, name="Deleted Meanwhile Ltd")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    return account


def live(qbo, realm: str, entity: str, marker: str) -> list[dict]:
    return [
        r
        for r in qbo.control.entities(realm, entity)
        if marker in (r.get("PrivateNote") or "")
        and r.get("status") != "Deleted"
        and Decimal(str(r.get("TotalAmt", 0))) != 0
    ]


def lose_the_create_reply(qbo, realm: str, entity: str) -> None:
    qbo.control.fault(realm, "drop_after_commit", method="POST", path=entity.lower(), operation="create")


def test_an_invoice_whose_create_reply_was_lost_is_deleted_in_qbo_when_deleted_here(
    qbo, connected, synced_account
):
    invoice = make_invoice(account=synced_account, number="LOST-1")
    marker = f"qbsync:inv:{invoice.pk}"
    lose_the_create_reply(qbo, connected.realm_id, "Invoice")
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert invoice_push(link_id=link.pk) == "deferred"  # QBO has it; we do not know its Id
    assert len(live(qbo, connected.realm_id, "Invoice", marker)) == 1

    invoice_delete(invoice=invoice)

    [row] = SyncOutbox.objects.filter(firm=connected.firm)
    assert (row.qbo_id, row.marker) == ("", marker)
    assert row.qbo_customer_id
    assert row.look_until > timezone.now()
    assert outbox_process(row_id=row.pk) == "done"
    assert live(qbo, connected.realm_id, "Invoice", marker) == []
    row.refresh_from_db()
    assert row.state == SyncOutbox.State.DONE
    assert row.qbo_id
    assert "Deleted invoice LOST-1" in row.result


def test_a_payment_whose_create_reply_was_lost_is_deleted_and_its_invoice_gets_its_balance_back(
    qbo, connected, synced_account
):
    invoice = make_invoice(account=synced_account, number="LOST-2", amounts=("80.00",))
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=invoice).pk) == "synced"
    payment = make_payment(account=synced_account, amount="80.00", allocations={invoice: "80.00"})
    marker = f"qbsync:pay:{payment.pk}"
    lose_the_create_reply(qbo, connected.realm_id, "Payment")
    assert payment_push(link_id=PaymentSyncLink.objects.get(payment=payment).pk) == "deferred"
    assert len(live(qbo, connected.realm_id, "Payment", marker)) == 1

    payment_delete(payment=payment)
    [row] = SyncOutbox.objects.filter(firm=connected.firm)
    assert outbox_process(row_id=row.pk) == "done"

    assert live(qbo, connected.realm_id, "Payment", marker) == []
    [qbo_invoice] = live(qbo, connected.realm_id, "Invoice", f"qbsync:inv:{invoice.pk}")
    assert Decimal(str(qbo_invoice["Balance"])) == Decimal("80.00")


def test_a_record_held_by_a_worker_is_looked_for_again_once_its_create_can_no_longer_land(
    qbo, connected, synced_account
):
    invoice = make_invoice(account=synced_account, number="HELD-1")
    marker = f"qbsync:inv:{invoice.pk}"
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert transition(link, SyncAction.START)  # a worker took it and may be sending it right now
    customer_id = AccountSyncLink.objects.get(account=synced_account).qbo_customer_id
    in_flight = invoice_draft(invoice, customer_id, connected, custom_numbers=False)

    invoice_delete(invoice=invoice)
    [row] = SyncOutbox.objects.filter(firm=connected.firm)
    assert row.look_until >= link.state_changed_at + timedelta(minutes=5)

    # Not in QBO yet: looked for again later, without spending an attempt.
    assert outbox_process(row_id=row.pk) == "deferred"
    row.refresh_from_db()
    assert (row.state, row.attempts, row.next_attempt_at) == (SyncOutbox.State.PENDING, 0, row.look_until)

    # The worker's create lands meanwhile; once nothing else can land, the row finds and deletes it.
    create_invoice(connection_client(connected), in_flight, request_id="in-flight-create")
    assert len(live(qbo, connected.realm_id, "Invoice", marker)) == 1
    SyncOutbox.objects.filter(pk=row.pk).update(look_until=timezone.now(), next_attempt_at=None)
    assert outbox_process(row_id=row.pk) == "done"
    assert live(qbo, connected.realm_id, "Invoice", marker) == []


def test_a_record_deleted_before_anything_was_sent_leaves_nothing_to_do(qbo, connected, firm):
    account = AccountFactory(firm=firm, name="Never Synced Co")  # its invoice waits for it
    invoice = make_invoice(account=account, number="NEVER-1")
    assert InvoiceSyncLink.objects.get(invoice=invoice).state == SyncState.QUEUED

    invoice_delete(invoice=invoice)

    assert not SyncOutbox.objects.filter(firm=firm).exists()


def test_a_create_that_never_landed_is_done_once_it_no_longer_can(qbo, connected, synced_account):
    invoice = make_invoice(account=synced_account, number="GONE-1")
    qbo.control.fault(connected.realm_id, "http_503", method="POST", path="invoice", operation="create")
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=invoice).pk) == "deferred"

    invoice_delete(invoice=invoice)
    [row] = SyncOutbox.objects.filter(firm=connected.firm)
    SyncOutbox.objects.filter(pk=row.pk).update(look_until=timezone.now() - timedelta(seconds=1))

    assert outbox_process(row_id=row.pk) == "done"
    row.refresh_from_db()
    assert "before QuickBooks Online had it" in row.result

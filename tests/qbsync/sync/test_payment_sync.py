"""Payments reach QBO after the invoices they pay, with each allocation as a LinkedTxn line and the rest
unapplied; edits replace the lines; a deleted payment is deleted in QBO and the balances come back."""

from decimal import Decimal

import pytest
from django.utils import timezone

from invoices.services import AllocationData, PaymentData, payment_create, payment_delete, payment_update
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncOutbox
from qbsync.sync.states import SyncState
from qbsync.sync.work.outbox import outbox_process
from tests.factories import AccountFactory, make_invoice

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def account(connected, firm):
    account = AccountFactory(firm=firm, name="Paying Client")
    account_push(link_id=account_sync_request(account=account).pk)
    return account


def pay(account, amount, *allocations):
    return payment_create(
        firm=account.firm,
        data=PaymentData(
            account=account,
            date=timezone.localdate(),
            amount=D(amount),
            reference="CHK 1042",
            allocations=[AllocationData(invoice=inv, amount=D(a)) for inv, a in allocations],
        ),
    )


def sync_invoice(invoice):
    invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=invoice).pk)


def push(payment) -> PaymentSyncLink:
    link = PaymentSyncLink.objects.get(payment=payment)
    payment_push(link_id=link.pk)
    link.refresh_from_db()
    return link


def qbo_invoice(qbo, realm, qbo_id):
    return next(i for i in qbo.control.entities(realm, "Invoice") if i["Id"] == qbo_id)


def test_a_payment_across_two_invoices_with_an_unapplied_rest(qbo, connected, account):
    first = make_invoice(account=account, amounts=("100.00",))
    second = make_invoice(account=account, amounts=("60.00",))
    sync_invoice(first)
    sync_invoice(second)
    payment = pay(account, "200.00", (first, "100.00"), (second, "20.00"))
    link = push(payment)
    assert link.state == SyncState.SYNCED
    [qbo_payment] = qbo.control.entities(connected.realm_id, "Payment")
    assert D(str(qbo_payment["TotalAmt"])) == D("200.00")
    assert D(str(qbo_payment["UnappliedAmt"])) == D("80.00")
    assert qbo_payment["PaymentRefNum"] == "CHK 1042"
    linked = {line["LinkedTxn"][0]["TxnId"]: D(str(line["Amount"])) for line in qbo_payment["Line"]}
    first_qbo = InvoiceSyncLink.objects.get(invoice=first).qbo_invoice_id
    second_qbo = InvoiceSyncLink.objects.get(invoice=second).qbo_invoice_id
    assert linked == {first_qbo: D("100.00"), second_qbo: D("20.00")}
    assert D(str(qbo_invoice(qbo, connected.realm_id, first_qbo)["Balance"])) == D("0")
    assert D(str(qbo_invoice(qbo, connected.realm_id, second_qbo)["Balance"])) == D("40")


def test_a_payment_waits_for_its_invoices_and_goes_when_they_sync(qbo, connected, account):
    invoice = make_invoice(account=account, number="WAIT-1")
    payment = pay(account, "50.00", (invoice, "50.00"))
    link = PaymentSyncLink.objects.get(payment=payment)
    assert (link.state, link.waiting_reason) == (SyncState.QUEUED, "waiting for invoice WAIT-1 to sync")
    assert push(payment).state == SyncState.QUEUED  # never Failed for that alone
    sync_invoice(invoice)
    link.refresh_from_db()
    assert link.waiting_reason == ""
    assert push(payment).state == SyncState.SYNCED


def test_the_sweep_releases_a_payment_left_waiting_for_an_invoice_already_in_qbo_and_only_that(
    qbo, connected, account
):
    from datetime import timedelta

    from qbsync.sync.kinds.payments import payment_waits_over
    from qbsync.sync.work.sweep import sync_sweep

    synced, unsynced = make_invoice(account=account, number="DONE-1"), make_invoice(account=account)
    sync_invoice(synced)
    lost = pay(account, "10.00", (synced, "10.00"))
    still = pay(account, "10.00", (synced, "5.00"), (unsynced, "5.00"))
    # A release that did not see the invoice synced (it committed meanwhile): the wait stays, for nothing.
    PaymentSyncLink.objects.filter(payment=lost).update(waiting_reason="waiting for invoice DONE-1 to sync")
    waiting = PaymentSyncLink.objects.filter(state=SyncState.QUEUED).exclude(waiting_reason="")
    assert list(payment_waits_over(waiting).values_list("payment", flat=True)) == [lost.pk]
    PaymentSyncLink.objects.update(state_changed_at=timezone.now() - timedelta(minutes=5))
    assert sync_sweep()["waiters_released"] == 1
    assert PaymentSyncLink.objects.get(payment=lost).waiting_reason == ""
    assert PaymentSyncLink.objects.get(payment=still).waiting_reason.startswith("waiting for invoice")


def test_a_payment_created_before_its_account_syncs_follows_customer_then_invoice(qbo, connected, firm):
    late = AccountFactory(firm=firm, name="Late Payer")
    invoice = make_invoice(account=late, number="ORDER-1")
    payment = pay(late, "30.00", (invoice, "30.00"))
    assert PaymentSyncLink.objects.get(payment=payment).waiting_reason == "waiting for the account to sync"
    account_push(link_id=AccountSyncLink.objects.get(account=late).pk)
    assert (
        PaymentSyncLink.objects.get(payment=payment).waiting_reason == "waiting for invoice ORDER-1 to sync"
    )
    sync_invoice(invoice)
    assert push(payment).state == SyncState.SYNCED
    kinds = [e.kind for e in payment.sync_events.order_by("created_at", "id")]
    assert kinds[0] == "waiting"
    assert kinds[-1] == "created"


def test_editing_the_allocations_updates_the_qbo_payment(qbo, connected, account):
    first = make_invoice(account=account, amounts=("100.00",))
    second = make_invoice(account=account, amounts=("100.00",))
    sync_invoice(first)
    sync_invoice(second)
    payment = pay(account, "100.00", (first, "100.00"))
    push(payment)
    payment_update(
        payment=payment,
        data=PaymentData(
            account=account,
            date=payment.date,
            amount=D("100.00"),
            reference="CHK 1042",
            allocations=[AllocationData(invoice=second, amount=D("40.00"))],
        ),
    )
    link = push(payment)
    assert link.state == SyncState.SYNCED
    [qbo_payment] = qbo.control.entities(connected.realm_id, "Payment")
    assert [line["LinkedTxn"][0]["TxnId"] for line in qbo_payment["Line"]] == [
        InvoiceSyncLink.objects.get(invoice=second).qbo_invoice_id
    ]
    assert D(str(qbo_payment["UnappliedAmt"])) == D("60.00")


def test_deleting_the_payment_deletes_it_in_qbo_and_restores_the_balances(qbo, connected, account):
    invoice = make_invoice(account=account, amounts=("100.00",))
    sync_invoice(invoice)
    payment = pay(account, "100.00", (invoice, "100.00"))
    push(payment)
    qbo_id = InvoiceSyncLink.objects.get(invoice=invoice).qbo_invoice_id
    assert D(str(qbo_invoice(qbo, connected.realm_id, qbo_id)["Balance"])) == D("0")
    payment_delete(payment=payment)
    row = SyncOutbox.objects.get(entity="Payment")
    assert outbox_process(row_id=row.pk) == "done"
    assert D(str(qbo_invoice(qbo, connected.realm_id, qbo_id)["Balance"])) == D("100")


@pytest.mark.parametrize("idempotency", ["replay", "off"])
def test_a_lost_reply_makes_no_second_payment(qbo, connected, account, idempotency):
    qbo.control.settings(connected.realm_id, idempotency=idempotency)
    payment = pay(account, "25.00")  # unapplied
    qbo.control.fault(connected.realm_id, "drop_after_commit", count=1, path="payment", method="POST")
    link = PaymentSyncLink.objects.get(payment=payment)
    assert payment_push(link_id=link.pk) == "deferred"
    PaymentSyncLink.objects.filter(pk=link.pk).update(next_attempt_at=timezone.now())
    assert push(payment).state == SyncState.SYNCED
    assert len(qbo.control.entities(connected.realm_id, "Payment")) == 1


def test_history_from_before_the_connection_syncs_once_the_account_links(qbo, qbo_connection, firm):
    from qbsync.sync.models import QuickBooksConnection
    from qbsync.sync.services.connections import connection_apply_first_defaults

    status = qbo_connection.status
    QuickBooksConnection.objects.filter(pk=qbo_connection.pk).update(status="disconnected")
    old_client = AccountFactory(firm=firm, name="Years Of History")
    invoice = make_invoice(account=old_client, amounts=("300.00",))
    payment = pay(old_client, "300.00", (invoice, "300.00"))
    assert not InvoiceSyncLink.objects.exists()
    QuickBooksConnection.objects.filter(pk=qbo_connection.pk).update(status=status)
    connection_apply_first_defaults(connection=qbo_connection)

    account_push(link_id=account_sync_request(account=old_client).pk)
    sync_invoice(invoice)
    assert push(payment).state == SyncState.SYNCED
    [qbo_inv] = qbo.control.entities(qbo_connection.realm_id, "Invoice")
    assert (D(str(qbo_inv["TotalAmt"])), D(str(qbo_inv["Balance"]))) == (D("300"), D("0"))


def _waiting_payments(account, count: int) -> None:
    for _ in range(count):
        invoice = make_invoice(account=account, amounts=("10.00",))
        pay(account, "10.00", (invoice, "10.00"))


@pytest.mark.parametrize("count", [3, 30])
def test_releasing_waiting_payments_costs_the_same_queries_for_any_number(
    qbo, connected, account, count, django_assert_num_queries
):
    """An invoice syncing asks every payment waiting in its account whether it may go now: set-based, so
    an account with many payments costs no more per invoice than one with few (issue 17)."""
    from qbsync.sync.kinds.account_records import payments_release_waiting

    _waiting_payments(account, count)
    assert PaymentSyncLink.objects.exclude(waiting_reason="").count() == count
    # Its transaction (a savepoint here), the account's lock, the waiting links, the account's customer,
    # where the copies are, the allocations, which invoices are synced, their numbers; nothing per payment
    # while none changes.
    with django_assert_num_queries(9):
        assert payments_release_waiting(account_id=account.pk) == 0

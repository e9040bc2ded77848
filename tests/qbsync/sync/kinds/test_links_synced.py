"""Records QBO created (a batch's, or one pushed alone) are settled together: each Synced with its history
line in a fixed number of queries whatever their number, one booked otherwise than billed Failed with
both figures, one changed while it was pushed queued again, one whose link moved meanwhile left alone."""

from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from qbsync.quickbooks.transactions import QboInvoice
from qbsync.sync.engine.enqueue import PAYMENT_PUSH
from qbsync.sync.kinds import transactions as pipeline
from qbsync.sync.kinds.invoices import INVOICE
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncEvent
from qbsync.sync.services.connections import connection_apply_first_defaults
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, connection_for_realm, make_invoice, make_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(firm, owner, qbo, qbo_realm):
    connection = connection_for_realm(firm=firm, user=owner, sandbox=qbo, realm_id=qbo_realm)
    connection_apply_first_defaults(connection=connection)
    return connection


def pushed(firm, name: str, invoices: int) -> list[tuple]:
    """(link, QBO's copy as billed, version pushed) for ``invoices`` invoices of a Synced account, their
    links Syncing as a batch pusher's claim leaves them."""
    account = AccountFactory(firm=firm, name=name)
    AccountSyncLink.objects.create(
        account=account, firm=firm, state=SyncState.SYNCED, qbo_customer_id=f"C{account.pk}"
    )
    synced = []
    for _ in range(invoices):
        invoice = make_invoice(account=account)
        InvoiceSyncLink.objects.update_or_create(
            invoice=invoice, defaults={"firm": firm, "state": SyncState.SYNCING, "in_batch": True}
        )
        link = InvoiceSyncLink.objects.select_related("invoice").get(invoice=invoice)
        copy = QboInvoice(
            id=f"Q{invoice.pk}",
            sync_token="0",
            doc_number=invoice.number,
            total=invoice.total,
            balance=invoice.total,
            txn_date=invoice.issue_date,
            customer_id=f"C{account.pk}",
            private_note="",
            voided=False,
        )
        synced.append((link, copy, invoice.content_version))
    return synced


def settled_in_queries(synced) -> tuple[list[str], int]:
    with CaptureQueriesContext(db_connection) as queries:
        outcomes = pipeline.links_synced(INVOICE, synced, "tid-1", release=False)
    return outcomes, len(queries)


def test_a_batchs_records_are_settled_in_the_same_number_of_queries_for_2_and_25(firm, connected):
    small = settled_in_queries(pushed(firm, "Small Client", 2))
    large = settled_in_queries(pushed(firm, "Large Client", 25))
    assert small[0] == ["synced"] * 2
    assert large[0] == ["synced"] * 25
    assert small[1] == large[1], (small[1], large[1])
    for link in InvoiceSyncLink.objects.filter(firm=firm):
        assert (link.state, link.qbo_invoice_id, link.pushed_version) == (
            SyncState.SYNCED,
            f"Q{link.invoice_id}",
            link.invoice.content_version,
        )
        event = SyncEvent.objects.get(invoice_id=link.invoice_id)
        assert (event.kind, event.outcome, event.intuit_tid, event.trigger) == (
            "created",
            "success",
            "tid-1",
            "worker",
        )
        assert event.message.startswith(f"Created invoice {link.invoice.number} in QuickBooks Online, for ")


def test_one_booked_otherwise_one_changed_and_one_moved_are_each_told_apart(firm, connected):
    synced = pushed(firm, "Mixed Client", 4)
    (_, differs, _), (changed, _, _), (moved, _, _) = synced[0], synced[1], synced[2]
    synced[0] = (
        synced[0][0],
        QboInvoice(**{**differs.__dict__, "total": differs.total + Decimal("1.00")}),
        synced[0][2],
    )
    type(changed.invoice).objects.filter(pk=changed.invoice_id).update(
        content_version=changed.invoice.content_version + 1
    )
    InvoiceSyncLink.objects.filter(pk=moved.pk).update(state=SyncState.QUEUED)

    outcomes = pipeline.links_synced(INVOICE, synced, "tid-2", release=False)

    assert outcomes == ["failed", "synced", "not-queued", "synced"]
    stored = {link.pk: link for link in InvoiceSyncLink.objects.filter(firm=firm)}
    first = stored[synced[0][0].pk]
    assert (first.state, first.qbo_invoice_id) == (
        SyncState.FAILED,
        f"Q{first.invoice_id}",
    )  # linked to its copy
    assert stored[changed.pk].state == SyncState.QUEUED  # the newer version goes next
    assert stored[moved.pk].state == SyncState.QUEUED
    assert not SyncEvent.objects.filter(invoice_id=moved.invoice_id).exists()
    assert stored[synced[3][0].pk].state == SyncState.SYNCED


def test_records_made_under_a_customer_their_account_has_left_are_set_moving_not_synced(
    firm, connected, django_capture_on_commit_callbacks
):
    staying = pushed(firm, "Staying Client", 2)
    leaving = pushed(firm, "Leaving Client", 2)
    leaving_account = leaving[0][0].invoice.account_id
    # Linked to another customer while the batch was in flight (its other records were set moving then).
    account_link = AccountSyncLink.objects.get(account_id=leaving_account)
    AccountSyncLink.objects.filter(pk=account_link.pk).update(qbo_customer_id="C-new")

    with django_capture_on_commit_callbacks() as sent:
        outcomes = pipeline.links_synced(INVOICE, staying + leaving, "tid-3", release=False)

    assert outcomes == ["synced", "synced", "moving", "moving"]
    for link, _, _ in leaving:
        link.refresh_from_db()
        assert (link.state, link.waiting_reason, link.pushed_version, link.qbo_customer_id) == (
            SyncState.QUEUED,
            pipeline.MOVING_TO_NEW_CUSTOMER,
            0,
            f"C{leaving_account}",  # where its copy is: the move starts from there
        )
        kinds = list(SyncEvent.objects.filter(invoice_id=link.invoice_id).order_by("pk").values_list("kind"))
        assert kinds == [("created",), ("moving",)]
    moves = [call.args for call in sent if call.func.__self__.name == pipeline.ACCOUNT_RECORDS_MOVE]
    assert moves == [((account_link.pk,), None)]  # one move job for the account
    for link, _, _ in staying:
        link.refresh_from_db()
        assert link.state == SyncState.SYNCED


def test_what_waits_is_looked_at_only_when_it_waits_for_a_record_just_synced(
    firm, connected, django_capture_on_commit_callbacks
):
    first, second = pushed(firm, "Waiting Client", 2)
    payment = make_payment(
        account=first[0].invoice.account, amount="50.00", allocations={second[0].invoice: "50.00"}
    )
    waiting = f"waiting for invoice {second[0].invoice.number} to sync"
    PaymentSyncLink.objects.update_or_create(
        payment=payment,
        defaults={"firm": firm, "state": SyncState.QUEUED, "in_batch": False, "waiting_reason": waiting},
    )
    unreleased = pushed(firm, "Other Client", 1)

    with CaptureQueriesContext(db_connection) as kept:
        pipeline.links_synced(INVOICE, unreleased, "tid-4", release=False)
    with CaptureQueriesContext(db_connection) as looked, django_capture_on_commit_callbacks() as sent:
        assert pipeline.links_synced(INVOICE, [first], "tid-4") == ["synced"]
    # One look for what waits on the invoice synced; nothing does, so no account's waits are worked out.
    assert len(looked) == len(kept) + 1
    assert PaymentSyncLink.objects.get(payment=payment).waiting_reason == waiting
    assert not sent

    with django_capture_on_commit_callbacks() as sent:
        assert pipeline.links_synced(INVOICE, [second], "tid-4") == ["synced"]
    link = PaymentSyncLink.objects.get(payment=payment)
    assert (link.state, link.waiting_reason) == (SyncState.QUEUED, "")
    assert [call.args[0] for call in sent if call.func.__self__.name == PAYMENT_PUSH] == [(link.pk,)]

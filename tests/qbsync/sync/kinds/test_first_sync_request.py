"""An account's history that never asked to sync (made before the firm connected) asks at once when the
account links: queued for the batch pusher, waiting where it must, skipped before the start date, in a
fixed number of queries whatever its size, and the pusher woken once."""

import dataclasses
from datetime import date
from functools import partial

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from invoices.models import Invoice
from qbsync.sync.engine.enqueue import start_batch_pusher
from qbsync.sync.kinds import transactions as pipeline
from qbsync.sync.kinds.account_records import account_history_request
from qbsync.sync.kinds.invoices import INVOICE
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncEvent
from qbsync.sync.services.connections import connection_apply_first_defaults
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, connection_for_realm, make_invoice, make_payment

pytestmark = pytest.mark.django_db


def history(firm, name: str, invoices: int):
    """An account with ``invoices`` issued invoices, a draft, and a payment of the first invoice; made
    while the firm has no connection, so none of it has a link."""
    account = AccountFactory(firm=firm, name=name)
    issued = [make_invoice(account=account, issue_date=date(2026, 3, 1 + i % 28)) for i in range(invoices)]
    make_invoice(account=account, status=Invoice.Status.DRAFT)
    make_payment(account=account, allocations={issued[0]: "100.00"})
    return account


def linked(account):
    """The account's link made Synced directly: what the history does next is under test, not linking."""
    AccountSyncLink.objects.create(
        account=account, firm=account.firm, state=SyncState.SYNCED, qbo_customer_id=f"C{account.pk}"
    )


@pytest.fixture
def connect(firm, owner, qbo, qbo_realm):
    def connect(**fields):
        connection = connection_for_realm(firm=firm, user=owner, sandbox=qbo, realm_id=qbo_realm)
        connection_apply_first_defaults(connection=connection)
        type(connection).objects.filter(pk=connection.pk).update(**fields)
        return connection

    return connect


def test_the_history_queues_for_the_batch_and_the_payment_waits_for_its_invoice(
    firm, connect, django_capture_on_commit_callbacks
):
    account = history(firm, "History Client", invoices=3)
    connect()
    linked(account)
    with django_capture_on_commit_callbacks() as callbacks:
        assert account_history_request(account_id=account.pk) == 4
    invoices = InvoiceSyncLink.objects.filter(invoice__account=account).order_by("pk")
    assert [(link.state, link.in_batch, link.request_epoch, link.waiting_reason) for link in invoices] == [
        (SyncState.QUEUED, True, 1, "")
    ] * 3
    # In issue-date order, as a person would read them.
    dates = [link.invoice.issue_date for link in invoices]
    assert dates == sorted(dates)
    payment = PaymentSyncLink.objects.get(payment__account=account)
    first = Invoice.objects.filter(account=account, sync_link__isnull=False).order_by("issue_date", "pk")[0]
    assert (payment.state, payment.in_batch, payment.waiting_reason) == (
        SyncState.QUEUED,
        True,
        f"waiting for invoice {first.number} to sync",
    )
    assert list(SyncEvent.objects.filter(payment=payment.payment).values_list("kind", "message")) == [
        ("waiting", f"Syncing: waiting for invoice {first.number} to sync.")
    ]
    assert not Invoice.objects.filter(account=account, status=Invoice.Status.DRAFT, sync_link__isnull=False)
    # One wake for the whole history, not one per record.
    wakes = [c for c in callbacks if isinstance(c, partial) and c.func is start_batch_pusher]
    assert [wake.args for wake in wakes] == [(firm.pk,)]
    # Asked once: asking again finds nothing left to ask.
    assert account_history_request(account_id=account.pk) == 0


def test_records_before_the_start_date_are_skipped_with_the_reason(firm, connect):
    account = history(firm, "Old History Client", invoices=3)
    connect(sync_start_date=date(2026, 3, 2))
    linked(account)
    account_history_request(account_id=account.pk)
    skipped = InvoiceSyncLink.objects.get(invoice__account=account, invoice__issue_date=date(2026, 3, 1))
    assert (skipped.state, skipped.skip_reason) == (
        SyncState.SKIPPED,
        "dated before the firm's sync start date (2026-03-02)",
    )
    assert SyncEvent.objects.get(invoice=skipped.invoice).message == (
        "Skipped: dated before the firm's sync start date (2026-03-02)."
    )
    assert InvoiceSyncLink.objects.filter(invoice__account=account, state=SyncState.QUEUED).count() == 2


def test_without_a_usable_connection_nothing_asks(firm, connect):
    account = history(firm, "Disconnected Client", invoices=2)
    connection = connect()
    linked(account)
    type(connection).objects.filter(pk=connection.pk).delete()
    assert account_history_request(account_id=account.pk) == 0
    assert not InvoiceSyncLink.objects.filter(invoice__account=account).exists()


def test_the_queries_do_not_grow_with_the_history(firm, connect):
    small = history(firm, "Small History", invoices=2)
    large = history(firm, "Large History", invoices=25)
    connect()
    linked(small)
    linked(large)
    with CaptureQueriesContext(db_connection) as asked_small:
        account_history_request(account_id=small.pk)
    with CaptureQueriesContext(db_connection) as asked_large:
        account_history_request(account_id=large.pk)
    assert InvoiceSyncLink.objects.filter(invoice__account=large).count() == 25
    assert len(asked_large) == len(asked_small)


def test_a_link_made_meanwhile_outside_the_lock_is_kept_and_the_rest_ask_one_at_a_time(
    firm, connect, monkeypatch
):
    """A person's skip creates its link without the account's lock: if it lands between the read and the
    insert, the insert conflicts, and the records ask one at a time (the skip stands)."""
    account = history(firm, "Racing Client", invoices=3)
    connect()
    linked(account)
    target = Invoice.objects.filter(account=account, status=Invoice.Status.SENT).order_by("pk").first()

    def syncs_and_a_skip_lands(invoice):
        if invoice.pk == target.pk:
            InvoiceSyncLink.objects.get_or_create(
                invoice=invoice, defaults={"firm": firm, "state": SyncState.SKIPPED, "skip_reason": "by hand"}
            )
        return INVOICE.syncs(invoice)

    racing = dataclasses.replace(INVOICE, syncs=syncs_and_a_skip_lands)
    invoices = Invoice.objects.filter(account=account, status__in=Invoice.PAYABLE_STATUSES)
    assert pipeline.first_sync_request(account_id=account.pk, asking=[(racing, invoices)]) == 3
    links = InvoiceSyncLink.objects.filter(invoice__account=account)
    assert links.get(invoice=target).state == SyncState.SKIPPED
    assert links.filter(state=SyncState.QUEUED, in_batch=True, request_epoch=1).count() == 2

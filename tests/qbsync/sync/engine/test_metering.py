"""The read budget (engine/metering.py): every call QBO answered counted per firm and month, pushes that
need no read, alerts at 50/80/95 %, reads paused at the budget or when QBO refuses them, and what needs a
read held (never created twice) until they resume."""

import logging
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from invoices.models import Invoice
from invoices.services import InvoiceData, InvoiceLineData, invoice_delete, invoice_update, invoice_void
from qbsync.quickbooks.metering import MeteredCall, QboReadsPausedError
from qbsync.sync.engine import metering
from qbsync.sync.engine.client import connection_client
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import (
    AccountSyncLink,
    InvoiceSyncLink,
    PaymentSyncLink,
    QboCallMonth,
    ReadBudgetMonth,
    SyncOutbox,
)
from qbsync.sync.services.connections import connection_check
from qbsync.sync.states import SyncState
from qbsync.sync.work.outbox import outbox_process
from tests.factories import AccountFactory, FirmFactory, make_invoice, make_payment, sandbox_create

pytestmark = pytest.mark.django_db
D = Decimal


def reads_of(firm) -> int:
    return metering.firm_calls(firm.pk)["reads"]


@pytest.fixture
def account(connected, firm):
    connection_check(connection_id=connected.pk)  # as the connect flow does: company info and preferences
    account = AccountFactory(firm=firm, name="Metered Client Ltd")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    return account


def push_invoice(invoice) -> InvoiceSyncLink:
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    invoice_push(link_id=link.pk)
    link.refresh_from_db()
    return link


def test_every_call_is_counted_for_its_firm_and_the_month(qbo, connected, firm):
    before = reads_of(firm)  # the first defaults' pick lists
    client = connection_client(connected)
    client.company_info()
    client.company_info()
    [row] = QboCallMonth.objects.filter(firm=firm)
    assert (row.realm_id, row.month) == (connected.realm_id, metering.month_of(timezone.now()))
    assert (row.reads, row.writes) == (before + 2, 0)
    # The sandbox metered the same reads for the realm.
    meter = qbo.control.meter(realm_id=connected.realm_id)
    assert meter["months"][meter["month"]]["realms"][connected.realm_id]["CorePlus"] == before + 2


def test_pushes_need_no_read(qbo, connected, firm, account):
    """New invoice, payment, edit, void, delete: 0 reads (preferences are kept on the connection, ids and
    SyncTokens come from our own write replies)."""
    before = reads_of(firm)
    invoice = make_invoice(account=account, amounts=("100.00",))
    assert push_invoice(invoice).state == SyncState.SYNCED
    payment = make_payment(account=account, amount="40.00", allocations={invoice: "40.00"})
    payment_push(link_id=PaymentSyncLink.objects.get(payment=payment).pk)
    assert PaymentSyncLink.objects.get(payment=payment).state == SyncState.SYNCED
    other = make_invoice(account=account, amounts=("55.00",))
    push_invoice(other)
    invoice_update(
        invoice=other,
        data=InvoiceData(
            account=account,
            number=other.number,
            issue_date=other.issue_date,
            due_date=other.due_date,
            lines=[InvoiceLineData(description="Edited", rate=D("65.00"))],
        ),
    )
    assert push_invoice(other).state == SyncState.SYNCED
    third = make_invoice(account=account, amounts=("20.00",))
    push_invoice(third)
    invoice_void(invoice=Invoice.objects.get(pk=third.pk))
    assert push_invoice(third).state == SyncState.SYNCED
    invoice_delete(invoice=Invoice.objects.get(pk=other.pk))
    for row in SyncOutbox.objects.all():
        outbox_process(row_id=row.pk)
    assert not SyncOutbox.objects.exclude(state=SyncOutbox.State.DONE).exists()
    assert reads_of(firm) == before
    assert metering.firm_calls(firm.pk)["writes"] >= 6


def test_budget_alerts_go_once_each_and_reads_pause_at_the_budget(settings, firm, other_firm, caplog):
    settings.QBO_MONTHLY_READ_BUDGET = 100
    settings.QBSYNC_OPS_EMAIL = "ops@example.com"
    metering.calls_count(firm_id=firm.pk, realm_id="1", call=MeteredCall(reads=30, writes=500))
    metering.calls_count(firm_id=other_firm.pk, realm_id="2", call=MeteredCall(reads=25))
    with caplog.at_level(logging.WARNING, logger="qbsync.sync.engine.metering"):
        assert metering.read_budget_check()["alerted"] == [50]
        assert metering.read_budget_check()["alerted"] == []  # once a month
    assert "55 of 100" in caplog.text
    assert [m.subject for m in mail.outbox] == ["qbsync: 50% of the QuickBooks read budget used"]
    assert metering.reads_paused() is None
    metering.calls_count(firm_id=firm.pk, realm_id="1", call=MeteredCall(reads=45))
    assert metering.read_budget_check()["alerted"] == [80, 95]
    row = metering.reads_paused()
    assert row is not None
    assert row.pause_reason == ReadBudgetMonth.PauseReason.BUDGET
    with pytest.raises(QboReadsPausedError, match="reads are paused"):
        metering.FirmMeter(firm.pk).before("1", MeteredCall(reads=1))
    metering.FirmMeter(firm.pk).before("1", MeteredCall(writes=1))  # writes go on
    # Ops resumed after a plan change: the budget check does not pause again this month.
    assert metering.reads_resume()
    metering.read_budget_check()
    assert metering.reads_paused() is None


def test_a_new_month_starts_with_reads_unpaused(firm):
    december = datetime(2026, 12, 20, tzinfo=UTC)
    metering.reads_pause(reason=ReadBudgetMonth.PauseReason.REFUSED, detail="refused", now=december)
    assert metering.reads_paused(december) is not None
    assert metering.reads_paused(datetime(2027, 1, 1, tzinfo=UTC)) is None
    assert metering.next_month_start(december) == datetime(2027, 1, 1, tzinfo=UTC)


def test_an_unknown_create_is_held_while_reads_are_paused_and_found_once_they_resume(qbo, connected, account):
    invoice = make_invoice(account=account, amounts=("70.00",))
    qbo.control.fault(connected.realm_id, "drop_after_commit", count=1, path="invoice", method="POST")
    link = push_invoice(invoice)
    assert link.state == SyncState.QUEUED  # the reply was lost: QBO has it, we do not know
    metering.reads_pause(reason=ReadBudgetMonth.PauseReason.REFUSED, detail="API read limit exceeded")
    link = push_invoice(invoice)
    # Held: no look-up (reads paused), and no second create.
    assert link.state == SyncState.QUEUED
    assert link.attempts <= 1
    assert "Waiting for QuickBooks reads to resume" in invoice.sync_events.order_by("pk").last().message
    assert len(qbo.control.entities(connected.realm_id, "Invoice")) == 1
    due = InvoiceSyncLink.objects.filter(pk=link.pk)
    due.update(next_attempt_at=None)  # the recheck is due (QBSYNC_READS_PAUSED_RECHECK_SECONDS)
    assert push_invoice(invoice).state == SyncState.QUEUED  # still paused: said once, still held
    assert invoice.sync_events.filter(message__startswith="Waiting for QuickBooks reads").count() == 1
    metering.reads_resume()
    due.update(next_attempt_at=None)
    link = push_invoice(invoice)
    assert link.state == SyncState.SYNCED
    [copy] = qbo.control.entities(connected.realm_id, "Invoice")
    assert copy["Id"] == link.qbo_invoice_id
    assert D(str(copy["TotalAmt"])) == D("70.00")


def test_a_read_qbo_refuses_pauses_reads_for_the_deployment(qbo, connected, account):
    other = FirmFactory()
    qbo.control.read_cap(0, answer="403")
    try:
        with pytest.raises(metering.QboReadsRefusedError):
            connection_client(connected).company_info()
    finally:
        qbo.control.read_cap(None)
    row = metering.reads_paused()
    assert row is not None
    assert row.pause_reason == ReadBudgetMonth.PauseReason.REFUSED
    connected.refresh_from_db()
    assert connected.status == connected.Status.CONNECTED  # a refused read is not a lost authorisation
    with pytest.raises(QboReadsPausedError):
        metering.FirmMeter(other.pk).before("x", MeteredCall(reads=1))
    # Pushes go on while reads are paused.
    invoice = make_invoice(account=account, amounts=("12.00",))
    assert push_invoice(invoice).state == SyncState.SYNCED


@pytest.mark.parametrize("name", ["Plain Client Ltd", "José Müller GmbH"])
def test_linking_an_account_costs_one_read(qbo, connected, firm, name):
    """The name look-up, in both Unicode forms at once; the create is a write."""
    before = reads_of(firm)
    account = AccountFactory(firm=firm, name=name)
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    assert reads_of(firm) == before + 1
    # A second account finds the first one's namesake typed decomposed in QBO with that one read too.
    other = AccountFactory(firm=firm, name="Zoë Studio")
    sandbox_create(
        qbo, connected.realm_id, "Customer", {"DisplayName": unicodedata.normalize("NFD", "Zoë Studio")}
    )
    before = reads_of(firm)
    assert account_push(link_id=account_sync_request(account=other).pk) == "synced"
    assert reads_of(firm) == before + 1
    assert AccountSyncLink.objects.get(account=other).link_method == AccountSyncLink.Method.MATCHED

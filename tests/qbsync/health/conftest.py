"""Two synced accounts with invoices and a payment in their sandbox company, a change planted directly in
QuickBooks, and a report asked for and run in this process."""

from decimal import Decimal

import pytest

from qbsync.health.models import ReconciliationReport
from qbsync.health.services.reconciliation import reconciliation_request, reconciliation_run
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.services.connections import connection_apply_first_defaults
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice, make_payment

D = Decimal


@pytest.fixture
def connected(qbo_connection):
    connection_apply_first_defaults(connection=qbo_connection)
    return qbo_connection


@pytest.fixture
def synced_books(connected, firm):
    """Two synced accounts, each with two invoices and a payment, all in the sandbox."""
    books = {}
    for name in ("Bright Ledger", "Harbor Tax"):
        account = AccountFactory(firm=firm, name=name)
        account_push(link_id=account_sync_request(account=account).pk)
        first = make_invoice(account=account, number=f"{name[:2].upper()}-1", amounts=("100.00", "50.00"))
        second = make_invoice(account=account, number=f"{name[:2].upper()}-2", amounts=("80.00",))
        payment = make_payment(account=account, amount="60.00", allocations={first: "60.00"})
        for link in InvoiceSyncLink.objects.filter(invoice__account=account):
            invoice_push(link_id=link.pk)
        payment_push(link_id=PaymentSyncLink.objects.get(payment=payment).pk)
        books[name] = {"account": account, "first": first, "second": second, "payment": payment}
    states = {
        link.state
        for model in (AccountSyncLink, InvoiceSyncLink, PaymentSyncLink)
        for link in model.objects.filter(firm=firm)
    }
    assert states == {SyncState.SYNCED}
    return books


def plant_total(qbo, realm: str, qbo_id: str, *, add: str) -> None:
    """Someone edits the invoice directly in QuickBooks: total and balance go up by ``add``."""
    [record] = [r for r in qbo.control.entities(realm, "Invoice") if r["Id"] == qbo_id]
    record["TotalAmt"] = float(D(str(record["TotalAmt"])) + D(add))
    record["Balance"] = float(D(str(record["Balance"])) + D(add))
    record["SyncToken"] = str(int(record["SyncToken"]) + 1)
    record.pop("MetaData", None)
    qbo.control.insert(realm, "Invoice", record)


def run_report(firm, actor=None) -> ReconciliationReport:
    report = reconciliation_request(firm=firm, actor=actor)
    assert reconciliation_run(report_id=report.pk) == "done"
    report.refresh_from_db()
    return report

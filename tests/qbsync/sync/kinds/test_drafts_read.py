"""A batch's drafts read what they use once for the whole batch: the reads are the same number of queries
for 2 records and for 12, and drafting each record afterwards reads nothing."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from invoices.models import Invoice, Payment
from invoices.services import InvoiceData, InvoiceLineData, invoice_create
from qbsync.sync.kinds.invoices import INVOICE
from qbsync.sync.kinds.payments import PAYMENT
from qbsync.sync.models import InvoiceSyncLink, ServiceItemMapping
from tests.factories import AccountFactory, ServiceFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(firm, owner):
    from qbsync.sync.models import QuickBooksConnection

    return QuickBooksConnection(firm=firm, realm_id="9130000000000001", default_item_id="1")


def invoices_with_services(firm, count: int) -> list[int]:
    """Invoices of two lines: one for a service with its own QBO item, one for a service without."""
    account = AccountFactory(firm=firm)
    mapped, unmapped = ServiceFactory(firm=firm), ServiceFactory(firm=firm)
    ServiceItemMapping.objects.create(firm=firm, service=mapped, qbo_item_id="77")
    made = []
    for n in range(count):
        invoice = invoice_create(
            firm=firm,
            status=Invoice.Status.SENT,
            data=InvoiceData(
                account=account,
                number=f"D-{account.pk}-{n}",
                issue_date=date(2026, 2, 1),
                due_date=date(2026, 2, 1) + timedelta(days=30),
                lines=[
                    InvoiceLineData(rate=Decimal("10.00"), service=mapped),
                    InvoiceLineData(rate=Decimal("5.00"), service=unmapped),
                ],
            ),
        )
        made.append(invoice.pk)
    return made


def payments_of_linked_invoices(firm, count: int) -> list[int]:
    account = AccountFactory(firm=firm)
    made = []
    for _ in range(count):
        invoice = make_invoice(account=account)
        InvoiceSyncLink.objects.create(firm=firm, invoice=invoice, qbo_invoice_id=f"Q{invoice.pk}")
        made.append(make_payment(account=account, allocations={invoice: "100.00"}).pk)
    return made


def drafted(kind, model, ids, connection) -> tuple[list, int, int]:
    records = list(model.objects.filter(pk__in=ids).order_by("pk"))
    with CaptureQueriesContext(db_connection) as reading:
        kind.read_for_drafts(records)
    with CaptureQueriesContext(db_connection) as drafting:
        drafts = [kind.draft(record, "C1", connection, False) for record in records]
    return drafts, len(reading), len(drafting)


def test_invoices_drafts_read_once_for_the_batch(firm, connection):
    few = drafted(INVOICE, Invoice, invoices_with_services(firm, 2), connection)
    many = drafted(INVOICE, Invoice, invoices_with_services(firm, 12), connection)
    assert (few[1], few[2]) == (many[1], 0)
    assert many[2] == 0
    for draft in few[0] + many[0]:
        assert [line.item_id for line in draft.lines] == ["77", "1"]  # its own item, else the default


def test_payments_drafts_read_once_for_the_batch(firm, connection):
    few = drafted(PAYMENT, Payment, payments_of_linked_invoices(firm, 2), connection)
    many = drafted(PAYMENT, Payment, payments_of_linked_invoices(firm, 12), connection)
    assert (few[1], few[2]) == (many[1], 0)
    assert many[2] == 0
    for draft in few[0] + many[0]:
        (application,) = draft.applications
        assert application.invoice_id.startswith("Q")

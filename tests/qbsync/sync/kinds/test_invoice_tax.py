"""What an invoice sends as tax, against sandbox companies over HTTP (pushed in this process): a tax shared
by two codes goes once per QBO tax rate, compound taxes keep their order, a code with other rates cannot
be mapped, and QuickBooks' total is checked after the push."""

from decimal import Decimal

import pytest

from invoices.services import firm_invoicing_update
from qbsync.firms.services import FirmSettingsData
from qbsync.sync.engine.causes import FailureCause
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.models import InvoiceSyncLink
from qbsync.sync.services.tax import TaxMappingError, connection_tax_codes, tax_mapping_save
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, connect_to_company, make_invoice, make_tax_rate

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def canada(qbo, firm, owner):
    firm_invoicing_update(firm=firm, data=FirmSettingsData(region="CA", currency="CAD"))
    connection = connect_to_company(qbo, firm, owner, "ca")
    codes = {code.name: code.id for code in connection_tax_codes(connection=connection, fresh=True)}
    connection.refresh_from_db()
    return connection, codes


def pushed(invoice) -> InvoiceSyncLink:
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    invoice_push(link_id=link.pk)
    link.refresh_from_db()
    return link


def test_a_tax_shared_by_two_codes_goes_once_per_quickbooks_rate(qbo, canada, firm, owner):
    connection, codes = canada
    gst = make_tax_rate(firm, "GST 5%", "5")
    bc = make_tax_rate(firm, "GST/PST BC", GST="5", PST="7")
    tax_mapping_save(
        connection=connection, actor=owner, choices={gst.pk: codes["GST"], bc.pk: codes["GST/PST BC"]}
    )
    account = AccountFactory(firm=firm, name="Shared Tax Ltd")
    account_push(link_id=account_sync_request(account=account).pk)
    invoice = make_invoice(account=account, number="SH-1", amounts=("10.10",), tax_rate=gst)
    # One GST over both lines (20.20 x 5 % = 1.01, not 0.51 + 0.51) and PST on one: 1.72 in all.
    from invoices.services import InvoiceData, InvoiceLineData, invoice_update

    invoice = invoice_update(
        invoice=invoice,
        data=InvoiceData(
            account=account,
            number="SH-1",
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            lines=[
                InvoiceLineData(description="First", rate=D("10.10"), tax_rate=gst),
                InvoiceLineData(description="Second", rate=D("10.10"), tax_rate=bc),
            ],
        ),
    )
    assert invoice.tax_total == D("1.72")

    link = pushed(invoice)

    assert link.state == SyncState.SYNCED, link.error_explanation
    (theirs,) = qbo.control.entities(connection.realm_id, "Invoice")
    assert D(str(theirs["TotalAmt"])) == D("21.92") == invoice.total
    by_rate = {
        t["TaxLineDetail"]["TaxRateRef"]["value"]: D(str(t["Amount"]))
        for t in theirs["TxnTaxDetail"]["TaxLine"]
    }
    assert sorted(by_rate.values()) == [D("0.71"), D("1.01")]


def test_a_code_that_taxes_otherwise_cannot_be_mapped(canada, firm, owner):
    connection, codes = canada
    twelve = make_tax_rate(firm, "BC 12%", "12")  # one tax of 12 %: QuickBooks' code has two, 5 % and 7 %
    with pytest.raises(TaxMappingError) as refused:
        tax_mapping_save(connection=connection, actor=owner, choices={twelve.pk: codes["GST/PST BC"]})
    assert 'charges GST 5% + PST BC 7%, but "BC 12%" here charges BC 12%' in refused.value.errors[twelve.pk]
    untaxed = {"untaxed_code_id": codes["HST ON"]}
    with pytest.raises(TaxMappingError) as refused:
        tax_mapping_save(connection=connection, actor=owner, choices={}, **untaxed)
    assert "lines without a tax rate here would be taxed" in refused.value.errors[0]


def test_quickbooks_taking_another_total_fails_the_invoice_with_both_figures(qbo, canada, firm, owner):
    connection, codes = canada
    hst = make_tax_rate(firm, "HST ON 13%", "13")
    tax_mapping_save(connection=connection, actor=owner, choices={hst.pk: codes["HST ON"]})
    # QuickBooks computes the tax itself (the override ignored), and the rate here and the code there no
    # longer agree (as when a rate changes on one side after it was mapped): 15 % here, 13 % there.
    qbo.control.settings(connection.realm_id, global_tax_override="ignore")
    account = AccountFactory(firm=firm, name="Recomputed Ltd")
    account_push(link_id=account_sync_request(account=account).pk)
    invoice = make_invoice(account=account, number="RC-1", amounts=("100.00",), tax_rate=hst)
    from invoices.models import TaxRateComponent

    TaxRateComponent.objects.filter(tax_rate=hst).update(percentage=D("15"))
    from invoices.services import InvoiceData, InvoiceLineData, invoice_update

    invoice = invoice_update(
        invoice=invoice,
        data=InvoiceData(
            account=account,
            number="RC-1",
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            lines=[InvoiceLineData(description="Work", rate=D("100.00"), tax_rate=hst)],
        ),
    )

    link = pushed(invoice)

    assert link.state == SyncState.FAILED
    assert link.error_cause == FailureCause.TAX_TOTAL_MISMATCH
    assert "booked this invoice for 113.00 CAD (tax 13.00 CAD)" in link.error_explanation
    assert "the client was billed 115.00 CAD (tax 15.00 CAD)" in link.error_explanation
    assert link.qbo_invoice_id  # linked to its copy: the retry updates it, never a second invoice
    assert len(qbo.control.entities(connection.realm_id, "Invoice")) == 1

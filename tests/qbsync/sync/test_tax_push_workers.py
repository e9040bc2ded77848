"""Invoices with tax, and their payments, through a real worker process into sandbox companies of every
region and tax model (issue 16): each record in QuickBooks once, its total and tax to the cent, balances
right; and what cannot go as billed is refused before anything is sent."""

from decimal import Decimal

import pytest

from invoices.services import firm_invoicing_update
from qbsync.firms.services import FirmSettingsData
from qbsync.sync.engine.causes import FailureCause
from qbsync.sync.models import InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState
from tests.factories import (
    AccountFactory,
    connect_to_company,
    make_invoice,
    make_payment,
    make_tax_rate,
    map_tax_codes,
)
from tests.workers import sandbox_worker

from .test_invoice_sync_workers import wait_settled

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def set_region(firm, region: str, currency: str) -> None:
    firm_invoicing_update(firm=firm, data=FirmSettingsData(region=region, currency=currency))
    firm.refresh_from_db()


def settled(firm) -> None:
    """wait_settled, saying where each record is when it fails."""
    try:
        wait_settled(firm, 120)
    except AssertionError as exc:
        links = InvoiceSyncLink.objects.filter(firm=firm).values_list(
            "invoice__number", "state", "waiting_reason", "error_explanation"
        )
        payments = PaymentSyncLink.objects.filter(firm=firm).values_list("state", "waiting_reason")
        raise AssertionError(f"{exc}: {list(links)} {list(payments)}") from exc


def run_worker(qbo, firm, name: str) -> None:
    worker = sandbox_worker(qbo, name=name, concurrency=2)
    try:
        settled(firm)
    finally:
        worker.stop()


def assert_in_qbo_as_billed(qbo, realm, firm, expected: dict[str, tuple[str, str]]) -> None:
    """Every invoice and payment once; each invoice's TotalAmt and TotalTax as ``expected`` by number,
    equal to ours, and its balance ours."""
    invoices = {i["Id"]: i for i in qbo.control.entities(realm, "Invoice")}
    payments = {p["Id"]: p for p in qbo.control.entities(realm, "Payment")}
    links = list(InvoiceSyncLink.objects.filter(firm=firm).select_related("invoice"))
    payment_links = list(PaymentSyncLink.objects.filter(firm=firm).select_related("payment"))
    assert {link.state for link in links + payment_links} == {SyncState.SYNCED}, [
        (link.state, link.error_explanation) for link in links + payment_links
    ]
    assert len(invoices) == len(links)
    assert len(payments) == len(payment_links)
    for link in links:
        theirs = invoices[link.qbo_invoice_id]
        total, tax = expected[link.invoice.number]
        assert D(str(theirs["TotalAmt"])) == D(total) == link.invoice.total
        assert D(str(theirs["TxnTaxDetail"].get("TotalTax", 0))) == D(tax) == link.invoice.tax_total
        assert D(str(theirs["Balance"])) == link.invoice.balance
    for link in payment_links:
        assert D(str(payments[link.qbo_payment_id]["UnappliedAmt"])) == link.payment.unapplied


def test_uk_vat_standard_zero_rated_and_untaxed_lines(qbo, firm, owner):
    set_region(firm, "UK", "GBP")
    connection = connect_to_company(qbo, firm, owner, "uk")
    vat = make_tax_rate(firm, "VAT 20%", "20")
    zero = make_tax_rate(firm, "Zero-rated 0%", "0")
    map_tax_codes(connection, owner, {vat: "20.0% S", zero: "0.0% Z"}, untaxed="No VAT")
    account = AccountFactory(firm=firm, name="Brolly Ltd")
    standard = make_invoice(account=account, number="UK-1", amounts=("100.00", "33.33"), tax_rate=vat)
    make_invoice(account=account, number="UK-2", amounts=("50.00",), tax_rate=zero)
    make_invoice(account=account, number="UK-3", amounts=("25.00",))
    make_payment(account=account, amount="160.00", allocations={standard: "160.00"})

    run_worker(qbo, firm, "uk-vat")

    # 20 % of 133.33 = 26.666 -> 26.67, once for the invoice (per line it would be 20.00 + 6.67 = 26.67).
    assert_in_qbo_as_billed(
        qbo,
        connection.realm_id,
        firm,
        {"UK-1": ("160.00", "26.67"), "UK-2": ("50.00", "0.00"), "UK-3": ("25.00", "0.00")},
    )
    sent = qbo.control.entities(connection.realm_id, "Invoice")
    assert {
        line["SalesItemLineDetail"]["TaxCodeRef"]["value"]
        for i in sent
        for line in i["Line"]
        if "SalesItemLineDetail" in line
    } == {"1", "3", "5"}


def test_canada_gst_pst_and_hst(qbo, firm, owner):
    set_region(firm, "CA", "CAD")
    connection = connect_to_company(qbo, firm, owner, "ca")
    bc = make_tax_rate(firm, "GST/PST BC", GST="5", PST="7")
    hst = make_tax_rate(firm, "HST ON 13%", "13")
    map_tax_codes(connection, owner, {bc: "GST/PST BC", hst: "HST ON"})
    account = AccountFactory(firm=firm, name="Maple Bookkeeping Inc")
    make_invoice(account=account, number="CA-1", amounts=("99.99",), tax_rate=bc)
    on = make_invoice(account=account, number="CA-2", amounts=("99.99", "0.01"), tax_rate=hst)
    make_payment(account=account, amount="113.00", allocations={on: "113.00"})

    run_worker(qbo, firm, "ca-gst")

    # GST 5 % of 99.99 = 5.00, PST 7 % = 7.00; HST 13 % of 100.00 = 13.00.
    assert_in_qbo_as_billed(
        qbo, connection.realm_id, firm, {"CA-1": ("111.99", "12.00"), "CA-2": ("113.00", "13.00")}
    )


def test_australia_gst_with_amounts_including_tax(qbo, firm, owner):
    set_region(firm, "AU", "AUD")
    connection = connect_to_company(qbo, firm, owner, "au")
    gst = make_tax_rate(firm, "GST 10%", "10")
    map_tax_codes(connection, owner, {gst: "GST"}, untaxed="GST free")
    account = AccountFactory(firm=firm, name="Wattle Pty Ltd")
    make_invoice(account=account, number="AU-1", amounts=("110.00",), tax_rate=gst, amounts_include_tax=True)
    three = make_invoice(
        account=account,
        number="AU-2",
        amounts=("10.03", "10.03", "10.03"),
        tax_rate=gst,
        amounts_include_tax=True,
    )
    make_payment(account=account, amount="30.09", allocations={three: "30.09"})

    run_worker(qbo, firm, "au-gst")

    # Each line made net: 10.03 / 1.1 -> 9.12, three times 27.36, GST 2.73; the client pays the prices.
    assert_in_qbo_as_billed(
        qbo, connection.realm_id, firm, {"AU-1": ("110.00", "10.00"), "AU-2": ("30.09", "2.73")}
    )


def test_us_sales_tax_by_hand_and_automated_with_the_override(qbo, firm, owner, other_firm):
    from qbsync.firms.models import User

    connection = connect_to_company(qbo, firm, owner, "us-manual")
    california = make_tax_rate(firm, "California 8%", "8")
    map_tax_codes(connection, owner, {california: "California"})
    account = AccountFactory(firm=firm, name="Sunset Dental LLC")
    billed = make_invoice(account=account, number="US-1", amounts=("100.00", "12.34"), tax_rate=california)
    make_invoice(account=account, number="US-2", amounts=("40.00",))
    make_payment(account=account, amount="121.33", allocations={billed: "121.33"})

    # Another firm on an AST company: QuickBooks would tax by the customer's address; the billed tax wins.
    ast_owner = User.objects.create(username="ast-owner", firm=other_firm, role="owner")
    ast = connect_to_company(qbo, other_firm, ast_owner, "us-ast")
    sales_tax = make_tax_rate(other_firm, "Sales tax 8.875%", "8.875")
    ast_account = AccountFactory(firm=other_firm, name="Hudson Books LLC")
    make_invoice(account=ast_account, number="AST-1", amounts=("200.00",), tax_rate=sales_tax)

    worker = sandbox_worker(qbo, name="us-tax", concurrency=2)
    try:
        settled(firm)
        settled(other_firm)
    finally:
        worker.stop()

    # 8 % of 112.34 = 8.9872 -> 8.99 on the TAX lines; the NON invoice has none.
    assert_in_qbo_as_billed(
        qbo, connection.realm_id, firm, {"US-1": ("121.33", "8.99"), "US-2": ("40.00", "0.00")}
    )
    # 8.875 % of 200.00 = 17.75, sent as the override.
    assert_in_qbo_as_billed(qbo, ast.realm_id, other_firm, {"AST-1": ("217.75", "17.75")})


def test_what_cannot_go_as_billed_is_refused_before_anything_is_sent(qbo, firm, owner):
    connection = connect_to_company(qbo, firm, owner, "us")  # no sales tax in the company
    rate = make_tax_rate(firm, "Sales tax 8%", "8")
    account = AccountFactory(firm=firm, name="Plain Books LLC")
    plain = make_invoice(account=account, number="NT-1", amounts=("75.00",))
    taxed = make_invoice(account=account, number="NT-2", amounts=("100.00",), tax_rate=rate)

    run_worker(qbo, firm, "us-no-tax")

    sent = qbo.control.entities(connection.realm_id, "Invoice")
    assert ["NT-1" in i["PrivateNote"] for i in sent] == [True]
    assert D(str(sent[0]["TotalAmt"])) == plain.total
    link = InvoiceSyncLink.objects.get(invoice=taxed)
    assert link.state == SyncState.FAILED
    assert link.error_cause == FailureCause.TAX_NOT_IN_COMPANY
    assert "8.00 USD of tax" in link.error_explanation
    assert "no sales tax set up" in link.error_explanation


def test_an_unmapped_rate_waits_failed_and_goes_once_mapped(qbo, firm, owner):
    set_region(firm, "UK", "GBP")
    connection = connect_to_company(qbo, firm, owner, "uk")
    vat = make_tax_rate(firm, "VAT 20%", "20")
    account = AccountFactory(firm=firm, name="Later Ltd")
    invoice = make_invoice(account=account, number="UN-1", amounts=("10.00",), tax_rate=vat)
    worker = sandbox_worker(qbo, name="unmapped", concurrency=2)
    try:
        settled(firm)
        link = InvoiceSyncLink.objects.get(invoice=invoice)
        assert link.state == SyncState.FAILED
        assert link.error_cause == FailureCause.TAX_UNMAPPED
        assert 'the tax rate "VAT 20%"' in link.error_explanation
        assert qbo.control.entities(connection.realm_id, "Invoice") == []

        map_tax_codes(connection, owner, {vat: "20.0% S"}, untaxed="No VAT")
        settled(firm)
    finally:
        worker.stop()
    assert_in_qbo_as_billed(qbo, connection.realm_id, firm, {"UN-1": ("12.00", "2.00")})

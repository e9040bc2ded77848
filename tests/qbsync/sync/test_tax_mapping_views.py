"""The Tax codes block of the QuickBooks page (issue 16), against sandbox companies over HTTP: the company's
tax model in words, each tax rate with the codes that fit it and the one suggested, saving (a code that
charges other taxes refused, per row), the invoices that waited going again, the codes read once and then
kept, and nothing of it for staff or another firm."""

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from invoices.services import firm_invoicing_update
from qbsync.firms.services import FirmSettingsData
from qbsync.sync.engine.causes import FailureCause
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.models import InvoiceSyncLink, QuickBooksConnection, TaxCodeMapping
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, connect_to_company, make_invoice, make_tax_rate

pytestmark = pytest.mark.django_db

SETTINGS = "quickbooks:settings"
# The UK preset's codes (docs/sandbox.md, "Regions, tax and currency").
STANDARD, REDUCED, ZERO, EXEMPT, NO_VAT = "1", "2", "3", "4", "5"


@pytest.fixture
def uk(qbo, firm, owner):
    firm_invoicing_update(firm=firm, data=FirmSettingsData(region="UK", currency="GBP"))
    firm.refresh_from_db()
    return connect_to_company(qbo, firm, owner, "uk")


def reads(qbo, realm: str) -> int:
    """The company's metered reads (CorePlus) this month, as the sandbox counts them."""
    meter = qbo.control.meter(realm)
    return meter["months"].get(meter["month"], {}).get("total", {}).get("CorePlus", 0)


def block(html: str) -> str:
    """The Tax codes block of the page."""
    start = html.index('data-testid="tax-codes"')
    return html[start : html.index("</section>", start)]


def selected(html: str, field: str) -> str:
    """The label of the option selected in select ``field``."""
    select = re.search(rf'<select id="{field}" name="{field}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {field}"
    chosen = re.search(r"<option value=\"[^\"]*\" selected>([^<]*)</option>", select.group(1))
    return chosen.group(1) if chosen else ""


def options(html: str, field: str) -> list[str]:
    select = re.search(rf'<select id="{field}" name="{field}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {field}"
    return re.findall(r"<option [^>]*>([^<]*)</option>", select.group(1))


def test_a_uk_company_shows_its_model_the_codes_that_fit_and_the_suggestion(firm_admin_client, firm, uk):
    vat = make_tax_rate(firm, "VAT 20%", "20")
    reduced = make_tax_rate(firm, "Reduced rate", "5")
    old_rate = make_tax_rate(firm, "VAT 17.5%", "17.5")

    html = block(firm_admin_client.get(reverse(SETTINGS)).content.decode())

    assert 'data-testid="tax-model">VAT/GST (a tax code on every line)<' in html
    assert "VAT 20%</td>" in html  # the rate's taxes
    # Only the codes that charge the rate's taxes are offered; the one that fits is suggested.
    assert options(html, f"code_{vat.pk}") == ["Not mapped", "20.0% S (20.0% S 20%) (suggested)"]
    assert selected(html, f"code_{vat.pk}") == "20.0% S (20.0% S 20%) (suggested)"
    assert selected(html, f"code_{reduced.pk}") == "5.0% R (5.0% R 5%) (suggested)"
    # No code charges 17.5 %: the row says so, and what to do, instead of offering a code.
    assert f'id="code_{old_rate.pk}"' not in html
    assert (
        "No QuickBooks tax code charges VAT 17.5%: create one in QuickBooks Online, then read the tax codes "
        "again." in html
    )
    # Lines without a rate: the codes without tax, "No VAT" suggested.
    assert "Lines without a tax rate go to QuickBooks as" in html
    assert options(html, "untaxed_code") == [
        "Not chosen",
        "0.0% Z (0.0% Z 0%)",
        "Exempt (Exempt 0%)",
        "No VAT (no tax) (suggested)",
    ]
    assert selected(html, "untaxed_code") == "No VAT (no tax) (suggested)"
    assert reverse("quickbooks:tax_codes_save") in html
    assert "Read the tax codes again" in html


def test_saving_maps_the_rates_and_the_invoice_that_waited_goes_again(qbo, owner_client, firm, uk):
    vat = make_tax_rate(firm, "VAT 20%", "20")
    account = AccountFactory(firm=firm, name="Brolly Ltd")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    invoice = make_invoice(account=account, number="UK-1", amounts=("100.00",), tax_rate=vat)
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert invoice_push(link_id=link.pk) == "failed"
    link.refresh_from_db()
    assert link.error_cause == FailureCause.TAX_UNMAPPED
    assert 'the tax rate "VAT 20%"' in link.error_explanation

    # The invoice's page points a manager at the Tax codes block, which reads the company's codes.
    page = owner_client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
    assert f'href="{reverse(SETTINGS)}#tax-codes"' in page
    owner_client.get(reverse(SETTINGS))

    response = owner_client.post(
        reverse("quickbooks:tax_codes_save"),
        {f"code_{vat.pk}": STANDARD, "untaxed_code": NO_VAT},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == f"{reverse(SETTINGS)}#tax-codes"
    assert (
        "Tax codes saved. 1 invoice that waited for a tax code went to QuickBooks again."
        in response.content.decode()
    )
    mapping = TaxCodeMapping.objects.get(tax_rate=vat)
    assert (mapping.firm_id, mapping.realm_id, mapping.qbo_tax_code_id, mapping.qbo_tax_code_name) == (
        firm.pk,
        uk.realm_id,
        STANDARD,
        "20.0% S",
    )
    uk.refresh_from_db()
    assert (uk.untaxed_tax_code_id, uk.untaxed_tax_code_name) == (NO_VAT, "No VAT")
    link.refresh_from_db()
    assert link.state == SyncState.QUEUED
    # Saved, the page shows the choices as saved (no longer "suggested").
    html = block(response.content.decode())
    assert selected(html, f"code_{vat.pk}") == "20.0% S (20.0% S 20%)"
    assert selected(html, "untaxed_code") == "No VAT (no tax)"

    # The invoice goes to QuickBooks with its VAT.
    assert invoice_push(link_id=link.pk) == "synced"
    [sent] = qbo.control.entities(uk.realm_id, "Invoice")
    assert Decimal(str(sent["TotalAmt"])) == Decimal("120.00")
    assert Decimal(str(sent["TxnTaxDetail"]["TotalTax"])) == Decimal("20.00")


def test_a_code_with_other_taxes_is_refused_with_the_reason_on_its_row(firm_admin_client, firm, uk):
    vat = make_tax_rate(firm, "VAT 20%", "20")
    reduced = make_tax_rate(firm, "Reduced rate", "5")
    firm_admin_client.get(reverse(SETTINGS))

    response = firm_admin_client.post(
        reverse("quickbooks:tax_codes_save"),
        {f"code_{vat.pk}": REDUCED, f"code_{reduced.pk}": REDUCED, "untaxed_code": STANDARD},
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "The tax codes were not saved: see below." in page
    html = block(page)
    row = html[html.index(f'data-tax-rate="{vat.pk}"') :]  # the last row ("Reduced rate" sorts first)
    assert (
        "QuickBooks&#x27; tax code &quot;5.0% R&quot; charges 5.0% R 5%, but &quot;VAT 20%&quot; here "
        "charges VAT 20%: invoices would have different totals there." in row
    )
    assert f'id="code_{vat.pk}-error"' in row
    # A code with tax is refused for lines without a rate, in words.
    assert "&quot;20.0% S&quot; charges 20.0% S 20%: lines without a tax rate here would be taxed" in html
    # Nothing was saved, and the reduced rate's choice (which fits) is shown as posted.
    assert not TaxCodeMapping.objects.exists()
    assert selected(html, f"code_{reduced.pk}").startswith("5.0% R")
    assert selected(html, f"code_{vat.pk}") == "Not mapped"  # the refused code is not among those that fit


def test_the_codes_are_read_once_then_kept_and_read_again_on_the_button(qbo, owner_client, firm, uk):
    make_tax_rate(firm, "VAT 20%", "20")
    before = reads(qbo, uk.realm_id)

    owner_client.get(reverse(SETTINGS))
    owner_client.get(reverse(SETTINGS))
    owner_client.get(reverse(SETTINGS))

    # The tax codes are read once (TaxRate and TaxCode); customer types and items were kept at connect.
    assert reads(qbo, uk.realm_id) == before + 2
    uk.refresh_from_db()
    assert {code["name"] for code in uk.tax_codes} >= {"20.0% S", "No VAT"}
    assert uk.tax_codes_read_at is not None

    response = owner_client.post(reverse("quickbooks:tax_codes_refresh"), follow=True)

    assert "The tax codes were read again from QuickBooks Online." in response.content.decode()
    assert reads(qbo, uk.realm_id) == before + 4
    owner_client.get(reverse(SETTINGS))
    assert reads(qbo, uk.realm_id) == before + 4

    # Kept a day: older codes are read again when the page is next shown to a manager.
    QuickBooksConnection.objects.filter(pk=uk.pk).update(tax_codes_read_at=timezone.now() - timedelta(days=2))
    owner_client.get(reverse(SETTINGS))
    assert reads(qbo, uk.realm_id) == before + 6


def test_the_codes_are_read_for_managers_only(qbo, staff_client, firm, uk):
    make_tax_rate(firm, "VAT 20%", "20")
    before = reads(qbo, uk.realm_id)

    page = staff_client.get(reverse(SETTINGS)).content.decode()

    assert 'data-testid="tax-codes"' not in page
    assert reads(qbo, uk.realm_id) == before


def test_staff_may_neither_save_nor_read_the_codes(staff_client, firm, uk):
    vat = make_tax_rate(firm, "VAT 20%", "20")

    assert staff_client.post(reverse("quickbooks:tax_codes_save"), {f"code_{vat.pk}": "1"}).status_code == 403
    assert staff_client.post(reverse("quickbooks:tax_codes_refresh")).status_code == 403
    assert not TaxCodeMapping.objects.exists()
    uk.refresh_from_db()
    assert uk.tax_codes_read_at is None


def test_another_firms_rate_cannot_be_mapped_or_seen(owner_client, firm, other_firm, uk):
    theirs = make_tax_rate(other_firm, "Their VAT 20%", "20")
    make_tax_rate(firm, "VAT 20%", "20")

    page = owner_client.get(reverse(SETTINGS)).content.decode()
    assert "VAT 20%" in page
    assert "Their VAT 20%" not in page
    response = owner_client.post(reverse("quickbooks:tax_codes_save"), {f"code_{theirs.pk}": STANDARD})

    assert response.status_code == 400
    assert "This tax rate is not one of the firm&#x27;s." in response.content.decode()
    assert "Their VAT 20%" not in response.content.decode()
    assert not TaxCodeMapping.objects.exists()


@pytest.mark.parametrize(
    ("preset", "label", "why"),
    [
        ("us", "US, no sales tax", "the company has no sales tax set up"),
        ("us-ast", "US, automated sales tax", "QuickBooks works out the sales tax itself"),
    ],
)
def test_a_us_company_without_codes_to_map_says_why_and_reads_none(
    qbo, owner_client, firm, owner, preset, label, why
):
    make_tax_rate(firm, "Sales tax 8%", "8")
    connection = connect_to_company(qbo, firm, owner, preset)
    before = reads(qbo, connection.realm_id)

    html = block(owner_client.get(reverse(SETTINGS)).content.decode())

    assert f'data-testid="tax-model">{label}<' in html
    assert f"Nothing to map: {why}" in html
    assert "<select" not in html
    assert "Read the tax codes again" not in html
    assert reads(qbo, connection.realm_id) == before
    response = owner_client.post(reverse("quickbooks:tax_codes_refresh"), follow=True)
    assert "needs no tax codes mapped" in response.content.decode()


def test_a_us_company_with_sales_tax_by_hand_maps_a_rate_to_a_code_of_the_same_percentage(
    qbo, owner_client, firm, owner
):
    california = make_tax_rate(firm, "California 8%", "8")
    connection = connect_to_company(qbo, firm, owner, "us-manual")

    html = block(owner_client.get(reverse(SETTINGS)).content.decode())

    assert 'data-testid="tax-model">US, sales tax set up by hand<' in html
    assert options(html, f"code_{california.pk}") == ["Not mapped", "California (California 8%) (suggested)"]
    assert "untaxed_code" not in html  # TAX/NON lines need no code
    assert "one tax code (or tax group) to an invoice's taxable lines" in html.replace("&#x27;", "'")
    owner_client.post(reverse("quickbooks:tax_codes_save"), {f"code_{california.pk}": "2"})
    assert TaxCodeMapping.objects.get(tax_rate=california).qbo_tax_code_name == "California"
    assert connection.realm_id == TaxCodeMapping.objects.get(tax_rate=california).realm_id


def test_the_errors_page_leads_to_the_tax_codes(firm_admin_client, firm, uk):
    vat = make_tax_rate(firm, "VAT 20%", "20")
    account = AccountFactory(firm=firm, name="Brolly Ltd")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    invoice = make_invoice(account=account, number="UK-9", amounts=("10.00",), tax_rate=vat)
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=invoice).pk) == "failed"

    page = firm_admin_client.get(reverse("health:errors")).content.decode()

    group = page[page.index('data-cause="tax_unmapped"') :]
    assert f'<a href="{reverse(SETTINGS)}#tax-codes">Open the tax codes on the QuickBooks page</a>' in group


def test_starting_over_with_another_company_reads_its_own_codes(qbo, owner_client, firm, uk):
    from tests.qbsync.sync.test_connection_flow import consent, follow_back, start_connect

    vat = make_tax_rate(firm, "VAT 20%", "20")
    owner_client.get(reverse(SETTINGS))
    owner_client.post(
        reverse("quickbooks:tax_codes_save"), {f"code_{vat.pk}": STANDARD, "untaxed_code": NO_VAT}
    )
    other = qbo.control.create_company(f"Other UK {uuid.uuid4().hex[:6]}", preset="uk")
    qbo.control.insert(
        other,
        "TaxCode",
        {
            "Id": "9",
            "Name": "Standard 20",
            "Description": "Standard",
            "Active": True,
            "SalesTaxRateList": {
                "TaxRateDetail": [
                    {"TaxRateRef": {"value": "1"}, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}
                ]
            },
        },
    )

    follow_back(
        owner_client, consent(qbo, start_connect(owner_client, "start_over", confirm="yes"), realm_id=other)
    )

    connection = QuickBooksConnection.objects.get(firm=firm)
    assert connection.realm_id == other
    # The first company's codes and its code for untaxed lines are not this company's.
    assert (connection.tax_codes, connection.tax_codes_read_at, connection.untaxed_tax_code_id) == (
        [],
        None,
        "",
    )
    html = block(owner_client.get(reverse(SETTINGS)).content.decode())
    assert "Standard 20 (20.0% S 20%)" in options(html, f"code_{vat.pk}")

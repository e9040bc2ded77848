"""Tax on the pages: Settings > Tax rates (owners and admins manage, staff look), the firm's region and
currency, the invoice form's tax rate per line and "Amounts include tax", and the invoice's tax shown."""

from decimal import Decimal

import pytest
from django.urls import reverse

from invoices.models import Invoice, TaxRate
from invoices.services import tax_rate_archive
from qbsync.firms.models import Firm
from tests.factories import AccountFactory, make_invoice, make_tax_rate
from tests.invoices.test_views import invoice_post

pytestmark = pytest.mark.django_db

D = Decimal
RATES_URL = reverse("invoicing:tax_rates")
NEW_RATE_URL = reverse("invoicing:tax_rate_create")
FIRM_SETTINGS_URL = reverse("invoicing:settings")


def rate_url(rate: TaxRate, action: str = "detail") -> str:
    return reverse(f"invoicing:tax_rate_{action}", args=[rate.pk])


def rate_post(name: str, *taxes: tuple, initial: int = 0) -> dict:
    """The POST body of a rate's page; ``taxes``: (name, percentage) or (name, percentage, compound)."""
    body = {"name": name, "taxes-TOTAL_FORMS": str(len(taxes)), "taxes-INITIAL_FORMS": str(initial)}
    for i, tax in enumerate(taxes):
        body |= {f"taxes-{i}-name": tax[0], f"taxes-{i}-percentage": tax[1]}
        if len(tax) > 2 and tax[2]:
            body[f"taxes-{i}-compound"] = "on"
    return body


def set_region(firm: Firm, region: str, currency: str) -> None:
    firm.region, firm.currency = region, currency
    firm.save(update_fields=["region", "currency"])


@pytest.fixture
def account(firm):
    return AccountFactory(firm=firm, name="Acme Corp")


# Settings > Tax rates: who may do what ------------------------------------------------------------------


def test_anonymous_users_are_sent_to_sign_in(client, firm):
    rate = make_tax_rate(firm, "VAT 20%", "20")

    for url in (RATES_URL, NEW_RATE_URL, rate_url(rate), FIRM_SETTINGS_URL):
        assert client.get(url)["Location"].startswith(reverse("login")), url
    assert client.post(rate_url(rate, "archive"))["Location"].startswith(reverse("login"))
    assert TaxRate.objects.get().is_active


def test_staff_see_the_rates_read_only(staff_client, firm):
    rate = make_tax_rate(firm, "GST/PST BC", GST="5", PST="7")

    listing = staff_client.get(RATES_URL).content.decode()
    detail = staff_client.get(rate_url(rate)).content.decode()

    assert "GST/PST BC" in listing
    assert "GST 5% + PST 7%" in listing
    assert NEW_RATE_URL not in listing
    assert rate_url(rate, "archive") not in listing
    assert "Owners and admins change the rates." in listing
    assert 'name="name"' not in detail
    assert "Save tax rate" not in detail
    assert "Owners and admins change tax rates." in detail
    assert ">7%</td>" in detail


def test_staff_may_not_change_a_rate(staff_client, firm):
    rate = make_tax_rate(firm, "VAT 20%", "20")

    assert staff_client.get(NEW_RATE_URL).status_code == 403
    assert staff_client.post(NEW_RATE_URL, rate_post("New", ("VAT", "5"))).status_code == 403
    assert staff_client.post(rate_url(rate), rate_post("Renamed", ("VAT", "5"))).status_code == 403
    for action in ("archive", "restore", "delete"):
        assert staff_client.post(rate_url(rate, action)).status_code == 403, action
    rate.refresh_from_db()
    assert (rate.name, rate.is_active, TaxRate.objects.count()) == ("VAT 20%", True, 1)


@pytest.mark.parametrize("client_fixture", ["staff_client", "firm_admin_client"])
def test_another_firms_rate_is_404(request, other_firm, client_fixture):
    member_client = request.getfixturevalue(client_fixture)
    theirs = make_tax_rate(other_firm, "Their VAT", "20")

    assert member_client.get(rate_url(theirs)).status_code == 404
    assert member_client.post(rate_url(theirs), rate_post("Taken", ("VAT", "1"))).status_code == 404
    # The actions are for owners and admins: staff are refused before any rate is looked up.
    refused = 403 if client_fixture == "staff_client" else 404
    for action in ("archive", "restore", "delete"):
        assert member_client.post(rate_url(theirs, action)).status_code == refused, action
    theirs.refresh_from_db()
    assert (theirs.name, theirs.is_active) == ("Their VAT", True)
    assert "Their VAT" not in member_client.get(RATES_URL).content.decode()


# Settings > Tax rates: owners and admins ----------------------------------------------------------------


@pytest.mark.parametrize("client_fixture", ["owner_client", "firm_admin_client"])
def test_owners_and_admins_create_a_rate_with_two_taxes(request, firm, client_fixture):
    member_client = request.getfixturevalue(client_fixture)

    response = member_client.post(NEW_RATE_URL, rate_post("GST/PST BC", ("GST", "5"), ("PST", "7")))

    assert response["Location"] == RATES_URL
    rate = TaxRate.objects.get(firm=firm)
    assert [(c.name, c.percentage) for c in rate.components.all()] == [("GST", D("5")), ("PST", D("7"))]
    listing = member_client.get(RATES_URL).content.decode()
    assert "Tax rate “GST/PST BC” created." in listing
    assert NEW_RATE_URL in listing


def test_a_rate_without_taxes_is_exempt(firm_admin_client, firm):
    firm_admin_client.post(NEW_RATE_URL, rate_post("Exempt"))

    assert list(TaxRate.objects.get(firm=firm, name="Exempt").components.all()) == []


def test_blank_tax_rows_are_ignored_and_errors_go_to_their_row(firm_admin_client, firm):
    body = rate_post("Odd", ("VAT", "20"), ("PST", "120"), ("", "")) | {"taxes-TOTAL_FORMS": "3"}

    response = firm_admin_client.post(NEW_RATE_URL, body)

    assert response.status_code == 200
    html = response.content.decode()
    assert "The percentage must be between 0 and 100." in html
    rows = response.context["components"].kept_forms()
    assert len(rows) == 2
    assert rows[1].non_field_errors() == ["The percentage must be between 0 and 100."]
    assert not TaxRate.objects.exists()


def test_a_compound_first_tax_and_a_taken_name_are_explained(firm_admin_client, firm):
    make_tax_rate(firm, "VAT 20%", "20")

    compound = firm_admin_client.post(NEW_RATE_URL, rate_post("Q", ("QST", "9.975", True)))
    taken = firm_admin_client.post(NEW_RATE_URL, rate_post("vat 20%", ("VAT", "20")))

    assert "the first has none before it" in compound.content.decode()
    assert "This firm already has a tax rate named “vat 20%”." in taken.content.decode()
    assert TaxRate.objects.count() == 1


def test_an_unused_rate_changes_its_taxes(firm_admin_client, firm):
    rate = make_tax_rate(firm, "Sales tax", "8")

    page = firm_admin_client.get(rate_url(rate))
    response = firm_admin_client.post(
        rate_url(rate), rate_post("Sales tax NYC", ("Sales tax", "8.875"), initial=1)
    )

    assert page.context["components"].initial == [{"name": "Sales", "percentage": D("8"), "compound": False}]
    assert response["Location"] == RATES_URL
    rate.refresh_from_db()
    assert rate.name == "Sales tax NYC"
    assert [c.percentage for c in rate.components.all()] == [D("8.875")]


def test_a_rate_in_use_shows_its_taxes_and_only_its_name_changes(firm_admin_client, firm, account):
    set_region(firm, Firm.Region.UK, "GBP")
    rate = make_tax_rate(firm, "VAT", "20")
    make_invoice(account=account, tax_rate=rate)

    page = firm_admin_client.get(rate_url(rate))
    renamed = firm_admin_client.post(rate_url(rate), {"name": "VAT standard"})
    refused = firm_admin_client.post(rate_url(rate), rate_post("VAT standard", ("VAT", "17.5"), initial=1))

    html = page.content.decode()
    assert "Used on 1 invoice: its taxes stay as they are" in html
    assert page.context["components"] is None
    assert ">20%</td>" in html
    assert renamed["Location"] == RATES_URL
    assert "so its taxes cannot change" in refused.content.decode()
    rate.refresh_from_db()
    assert rate.name == "VAT standard"
    assert [c.percentage for c in rate.components.all()] == [D("20")]


def test_archive_restore_and_delete(firm_admin_client, firm, account):
    used = make_tax_rate(firm, "Used", "5")
    make_invoice(account=account, tax_rate=used)
    unused = make_tax_rate(firm, "Unused", "5")

    firm_admin_client.post(rate_url(used, "archive"))
    refused = firm_admin_client.post(rate_url(used, "delete"), follow=True)
    firm_admin_client.post(rate_url(unused, "delete"))

    used.refresh_from_db()
    assert not used.is_active
    assert (
        "“Used” is used on 1 invoice, so it cannot be deleted. Archive it instead" in refused.content.decode()
    )
    assert list(TaxRate.objects.values_list("name", flat=True)) == ["Used"]
    listing = refused.content.decode()
    assert "Archived" in listing
    assert rate_url(used, "restore") in listing
    assert rate_url(used, "delete") not in listing
    firm_admin_client.post(rate_url(used, "restore"))
    used.refresh_from_db()
    assert used.is_active


def test_rate_actions_are_post_only(firm_admin_client, firm):
    rate = make_tax_rate(firm, "VAT", "20")

    for action in ("archive", "restore", "delete"):
        assert firm_admin_client.get(rate_url(rate, action)).status_code == 405
    assert firm_admin_client.post(RATES_URL).status_code == 405


# The firm's region and currency ------------------------------------------------------------------------


def test_settings_page_shows_the_region_and_links_to_tax_rates(staff_client, owner, firm):
    html = staff_client.get(reverse("settings")).content.decode()

    assert "<dd>United States</dd>" in html
    assert f'href="{RATES_URL}"' in html
    assert FIRM_SETTINGS_URL not in html


def test_an_owner_changes_region_and_currency_before_any_invoice(owner_client, firm):
    assert FIRM_SETTINGS_URL in owner_client.get(reverse("settings")).content.decode()

    response = owner_client.post(FIRM_SETTINGS_URL, {"region": "UK", "currency": "gbp"})

    assert response["Location"] == reverse("settings")
    firm.refresh_from_db()
    assert (firm.region, firm.currency) == ("UK", "GBP")


def test_the_currency_is_read_only_once_invoices_exist(firm_admin_client, firm, account):
    make_invoice(account=account)

    page = firm_admin_client.get(FIRM_SETTINGS_URL)
    response = firm_admin_client.post(FIRM_SETTINGS_URL, {"region": "CA", "currency": "CAD"})

    html = page.content.decode()
    assert 'name="currency"' in html
    assert "disabled" in html
    assert "The currency stays USD: the firm already has invoices or payments" in html
    assert response["Location"] == reverse("settings")
    firm.refresh_from_db()
    assert (firm.region, firm.currency) == ("CA", "USD")


def test_a_wrong_currency_code_is_explained(firm_admin_client, firm):
    response = firm_admin_client.post(FIRM_SETTINGS_URL, {"region": "US", "currency": "$$"})

    assert "three-letter ISO 4217 code" in response.content.decode()
    firm.refresh_from_db()
    assert firm.currency == "USD"


def test_staff_may_not_change_the_region(staff_client, firm):
    assert staff_client.get(FIRM_SETTINGS_URL).status_code == 403
    assert staff_client.post(FIRM_SETTINGS_URL, {"region": "UK", "currency": "GBP"}).status_code == 403
    firm.refresh_from_db()
    assert firm.region == "US"


# The invoice form and page ------------------------------------------------------------------------------


def test_the_invoice_form_offers_the_active_rates_and_no_tax(staff_client, firm, other_firm):
    make_tax_rate(firm, "VAT 20%", "20")
    tax_rate_archive(tax_rate=make_tax_rate(firm, "VAT 17.5%", "17.5"))
    make_tax_rate(other_firm, "Their VAT", "20")

    html = staff_client.get(reverse("invoices:create")).content.decode()

    assert '<th scope="col">Tax</th>' in html
    assert ">No tax</option>" in html
    assert ">VAT 20%</option>" in html
    assert "VAT 17.5%" not in html
    assert "Their VAT" not in html


def test_a_firm_without_rates_gets_no_tax_column(staff_client, firm):
    html = staff_client.get(reverse("invoices:create")).content.decode()

    assert '<th scope="col">Tax</th>' not in html
    assert "Amounts include tax" not in html  # a US firm


def test_create_an_invoice_with_a_rate_per_line(staff_client, firm, account):
    set_region(firm, Firm.Region.UK, "GBP")
    vat = make_tax_rate(firm, "VAT 20%", "20")
    zero = make_tax_rate(firm, "Zero-rated 0%", "0")

    response = staff_client.post(
        reverse("invoices:create"),
        invoice_post(
            account=account,
            lines=[
                {"description": "Bookkeeping", "rate": "100.00", "tax_rate": str(vat.pk)},
                {"description": "Books", "rate": "50.00", "tax_rate": str(zero.pk)},
                {"description": "Disbursement", "rate": "10.00"},
            ],
        ),
    )

    invoice = Invoice.objects.get(number="INV-1")
    assert response["Location"] == reverse("invoices:detail", args=[invoice.pk])
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("160.00"), D("20.00"), D("180.00"))
    html = staff_client.get(response["Location"]).content.decode()
    assert "VAT 20% on 100.00 GBP" in html
    assert "20.00&nbsp;" in html
    assert "Zero-rated 0% on 50.00 GBP" in html
    assert "Subtotal" in html
    assert "180.00&nbsp;" in html


def test_amounts_include_tax_outside_the_us(staff_client, firm, account):
    set_region(firm, Firm.Region.AU, "AUD")
    gst = make_tax_rate(firm, "GST", "10")

    page = staff_client.get(reverse("invoices:create")).content.decode()
    response = staff_client.post(
        reverse("invoices:create"),
        invoice_post(
            account=account,
            lines=[{"description": "Tax return", "rate": "110.00", "tax_rate": str(gst.pk)}],
            amounts_include_tax="on",
        ),
    )

    assert "Amounts include tax" in page
    invoice = Invoice.objects.get()
    assert invoice.amounts_include_tax
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("100.00"), D("10.00"), D("110.00"))
    html = staff_client.get(response["Location"]).content.decode()
    assert "GST 10% on 100.00 AUD (included)" in html
    assert "Subtotal (without tax)" in html


def test_amounts_include_tax_is_not_offered_in_the_us_and_a_forged_one_is_ignored(
    staff_client, firm, account
):
    rate = make_tax_rate(firm, "Sales tax", "8.875")

    staff_client.post(
        reverse("invoices:create"),
        invoice_post(
            account=account,
            lines=[{"description": "Payroll", "rate": "100.00", "tax_rate": str(rate.pk)}],
            amounts_include_tax="on",
        ),
    )

    invoice = Invoice.objects.get()
    assert not invoice.amounts_include_tax
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("100.00"), D("8.88"), D("108.88"))


@pytest.mark.parametrize("firm_has_rates", [True, False])
def test_another_firms_rate_cannot_be_posted_on_a_line(
    staff_client, firm, account, other_firm, firm_has_rates
):
    if firm_has_rates:
        make_tax_rate(firm, "VAT 20%", "20")
    theirs = make_tax_rate(other_firm, "Their VAT", "20")

    response = staff_client.post(
        reverse("invoices:create"),
        invoice_post(
            account=account, lines=[{"description": "x", "rate": "1.00", "tax_rate": str(theirs.pk)}]
        ),
    )

    assert response.status_code == 200
    assert "Choose one of the tax rates offered." in response.content.decode()
    assert not Invoice.objects.exists()


def test_editing_an_invoice_keeps_its_archived_rate(staff_client, firm, account):
    set_region(firm, Firm.Region.UK, "GBP")
    old = make_tax_rate(firm, "VAT 17.5%", "17.5")
    invoice = make_invoice(account=account, tax_rate=old)
    tax_rate_archive(tax_rate=old)

    page = staff_client.get(reverse("invoices:edit", args=[invoice.pk]))
    response = staff_client.post(
        reverse("invoices:edit", args=[invoice.pk]),
        invoice_post(
            account=account,
            number=invoice.number,
            lines=[{"description": "Work", "rate": "200.00", "tax_rate": str(old.pk)}],
            initial_lines=1,
        ),
    )

    assert ">VAT 17.5%</option>" in page.content.decode()
    assert response["Location"] == reverse("invoices:detail", args=[invoice.pk])
    invoice.refresh_from_db()
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (D("200.00"), D("35.00"), D("235.00"))


def test_a_us_invoice_with_two_rates_says_why_above_the_lines(staff_client, firm, account):
    state = make_tax_rate(firm, "Illinois", "6.25")
    city = make_tax_rate(firm, "Chicago", "10.25")

    response = staff_client.post(
        reverse("invoices:create"),
        invoice_post(
            account=account,
            lines=[
                {"description": "a", "rate": "1.00", "tax_rate": str(state.pk)},
                {"description": "b", "rate": "1.00", "tax_rate": str(city.pk)},
            ],
        ),
    )

    assert "an invoice charges one sales tax rate" in response.content.decode()
    assert not Invoice.objects.exists()


def test_an_exempt_line_says_so_and_an_invoice_without_tax_shows_just_its_total(staff_client, firm, account):
    exempt = make_tax_rate(firm, "Exempt")
    taxed = make_invoice(account=account, tax_rate=exempt, number="E-1")
    plain = make_invoice(account=account, number="P-1")

    taxed_html = staff_client.get(reverse("invoices:detail", args=[taxed.pk])).content.decode()
    plain_html = staff_client.get(reverse("invoices:detail", args=[plain.pk])).content.decode()

    assert "Exempt on 100.00 USD: no tax" in taxed_html
    assert "Subtotal" not in plain_html
    assert "data-tax-row" not in plain_html
    assert "100.00&nbsp;" in plain_html


def test_the_list_shows_the_total_with_tax(staff_client, firm, account):
    rate = make_tax_rate(firm, "Sales tax", "8.875")
    make_invoice(account=account, tax_rate=rate, number="T-1")

    html = staff_client.get(reverse("invoices:list")).content.decode()

    assert "108.88&nbsp;" in html


@pytest.mark.parametrize("line_count", [1, 8])
def test_the_detail_page_queries_do_not_grow_with_taxed_lines(
    staff_client, firm, account, line_count, django_assert_num_queries
):
    rate = make_tax_rate(firm, "GST/PST BC", GST="5", PST="7")
    invoice = make_invoice(account=account, amounts=("1.00",) * line_count, tax_rate=rate)
    url = reverse("invoices:detail", args=[invoice.pk])
    staff_client.get(url)

    # session, user, firm, invoice, lines with their rates, the rates' taxes (once), the connection,
    # the payments applied
    with django_assert_num_queries(8):
        html = staff_client.get(url).content.decode()
    assert html.count("data-tax-row") == 2

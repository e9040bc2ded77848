"""Tax on invoices through the services: the firm's tax rates (create, update, archive, delete), invoice
lines carrying a rate or none, the stored subtotal, tax and total, and the firm's region and currency."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from invoices.models import Invoice, InvoiceLine, TaxRate, TaxRateComponent
from invoices.services import (
    FIRM_CURRENCY_IN_USE,
    INVOICE_INCLUSIVE_IN_US,
    TAX_COMPONENT_FIRST_COMPOUND,
    InvoiceData,
    InvoiceLineData,
    TaxComponentData,
    TaxRateData,
    firm_invoicing_update,
    invoice_create,
    invoice_update,
    tax_rate_archive,
    tax_rate_create,
    tax_rate_delete,
    tax_rate_restore,
    tax_rate_update,
)
from qbsync.firms.models import Firm
from qbsync.firms.services import FIRM_CURRENCY_FORMAT, FirmSettingsData
from tests.factories import AccountFactory, make_compound_tax_rate, make_invoice, make_payment, make_tax_rate

pytestmark = pytest.mark.django_db

D = Decimal


def set_region(firm: Firm, region: str, currency: str | None = None) -> Firm:
    firm.region = region
    firm.currency = currency or firm.currency
    firm.save(update_fields=["region", "currency"])
    return firm


@pytest.fixture
def account(firm):
    return AccountFactory(firm=firm, name="Tax Client")


@pytest.fixture
def uk(firm):
    return set_region(firm, Firm.Region.UK, "GBP")


def data(account, *lines: InvoiceLineData, number="INV-1", inclusive=False) -> InvoiceData:
    return InvoiceData(
        account=account,
        number=number,
        issue_date=date(2026, 3, 1),
        due_date=date(2026, 3, 31),
        lines=list(lines),
        amounts_include_tax=inclusive,
    )


def line(rate: str, tax_rate=None, quantity="1", description="Work") -> InvoiceLineData:
    return InvoiceLineData(description=description, rate=D(rate), quantity=D(quantity), tax_rate=tax_rate)


def stored(invoice: Invoice) -> tuple[Decimal, Decimal, Decimal]:
    invoice.refresh_from_db()
    return invoice.subtotal, invoice.tax_total, invoice.total


def messages(exc: pytest.ExceptionInfo, field: str) -> list[str]:
    return exc.value.message_dict[field]


# Invoices with tax ---------------------------------------------------------------------------------


def test_invoice_create_keeps_each_lines_rate_and_the_subtotal_tax_and_total(uk, account):
    vat = make_tax_rate(uk, "VAT 20%", "20")
    zero = make_tax_rate(uk, "Zero-rated 0%", "0")

    invoice = invoice_create(
        firm=uk, data=data(account, line("100.00", vat), line("50.00", zero), line("10.00"))
    )

    assert stored(invoice) == (D("160.00"), D("20.00"), D("180.00"))
    assert [ln.tax_rate for ln in invoice.lines.all()] == [vat, zero, None]
    assert invoice.computed_total() == D("180.00")
    assert invoice.balance == D("180.00")


def test_invoice_tax_is_worked_out_per_invoice_not_per_line(uk, account):
    vat = make_tax_rate(uk, "VAT 20%", "20")

    invoice = invoice_create(firm=uk, data=data(account, *[line("10.01", vat)] * 3))

    # 30.03 x 20% = 6.006 -> 6.01 (line by line it would be 3 x 2.00).
    assert stored(invoice) == (D("30.03"), D("6.01"), D("36.04"))


def test_canadian_invoice_with_gst_and_pst(firm, account):
    set_region(firm, Firm.Region.CA, "CAD")
    bc = make_tax_rate(firm, "GST/PST BC", GST="5", PST="7")

    invoice = invoice_create(firm=firm, data=data(account, line("99.99", bc)))

    assert stored(invoice) == (D("99.99"), D("12.00"), D("111.99"))


def test_amounts_may_include_tax_outside_the_us(firm, account):
    set_region(firm, Firm.Region.AU, "AUD")
    gst = make_tax_rate(firm, "GST", "10")

    invoice = invoice_create(firm=firm, data=data(account, line("110.00", gst), inclusive=True))

    assert invoice.amounts_include_tax
    assert stored(invoice) == (D("100.00"), D("10.00"), D("110.00"))
    assert invoice.lines.get().amount == D("110.00")


def test_amounts_including_tax_are_refused_in_the_us(firm, account):
    assert firm.region == Firm.Region.US
    sales_tax = make_tax_rate(firm, "Sales tax 8.875%", "8.875")

    with pytest.raises(ValidationError) as exc:
        invoice_create(firm=firm, data=data(account, line("100.00", sales_tax), inclusive=True))

    assert messages(exc, "amounts_include_tax") == [INVOICE_INCLUSIVE_IN_US]
    assert not Invoice.objects.exists()


def test_a_us_invoice_charges_one_sales_tax_rate(firm, account):
    state = make_tax_rate(firm, "Illinois 6.25%", "6.25")
    city = make_tax_rate(firm, "Chicago 10.25%", "10.25")
    exempt = make_tax_rate(firm, "Exempt")

    with pytest.raises(ValidationError) as exc:
        invoice_create(firm=firm, data=data(account, line("10.00", state), line("10.00", city)))

    assert "one sales tax rate" in messages(exc, "lines")[0]
    assert "\u201cIllinois 6.25%\u201d and \u201cChicago 10.25%\u201d" in messages(exc, "lines")[0]
    invoice = invoice_create(
        firm=firm, data=data(account, line("100.00", city), line("10.00"), line("5.00", exempt))
    )
    assert stored(invoice) == (D("115.00"), D("10.25"), D("125.25"))


def test_an_archived_rate_is_refused_on_a_new_invoice(uk, account):
    old = make_tax_rate(uk, "VAT 17.5%", "17.5")
    tax_rate_archive(tax_rate=old)

    with pytest.raises(ValidationError) as exc:
        invoice_create(firm=uk, data=data(account, line("100.00", old)))

    assert messages(exc, "lines") == [
        "Line 1: the tax rate \u201cVAT 17.5%\u201d is archived; choose an active rate "
        "(or restore it in Settings > Tax rates)."
    ]


def test_an_archived_rate_stays_on_the_invoice_that_has_it_but_is_not_added_to_another(uk, account):
    old = make_tax_rate(uk, "VAT 17.5%", "17.5")
    having = invoice_create(firm=uk, data=data(account, line("100.00", old)))
    other = invoice_create(firm=uk, data=data(account, line("100.00"), number="INV-2"))
    tax_rate_archive(tax_rate=old)

    kept = invoice_update(invoice=having, data=data(account, line("200.00", old)))
    with pytest.raises(ValidationError):
        invoice_update(invoice=other, data=data(account, line("100.00", old), number="INV-2"))

    assert stored(kept) == (D("200.00"), D("35.00"), D("235.00"))
    assert stored(other) == (D("100.00"), D("0.00"), D("100.00"))


def test_another_firms_rate_is_refused(firm, other_firm, account):
    theirs = make_tax_rate(other_firm, "Their VAT", "20")

    with pytest.raises(ValidationError) as exc:
        invoice_create(firm=firm, data=data(account, line("100.00", theirs)))

    assert messages(exc, "lines") == ["Line 1: choose a tax rate of this firm."]
    assert not InvoiceLine.objects.filter(tax_rate=theirs).exists()


def test_invoice_update_recomputes_the_tax_and_moves_the_content_version(uk, account):
    vat = make_tax_rate(uk, "VAT 20%", "20")
    invoice = invoice_create(firm=uk, data=data(account, line("100.00")))
    version = invoice.content_version

    updated = invoice_update(invoice=invoice, data=data(account, line("100.00", vat)))

    assert stored(updated) == (D("100.00"), D("20.00"), D("120.00"))
    assert updated.content_version == version + 1
    again = invoice_update(invoice=updated, data=data(account, line("120.00", vat), inclusive=True))
    assert stored(again) == (D("100.00"), D("20.00"), D("120.00"))
    assert again.amounts_include_tax
    assert again.content_version == version + 2


def test_a_paid_invoice_keeps_its_total_with_tax_above_what_was_paid(uk, account):
    vat = make_tax_rate(uk, "VAT 20%", "20")
    invoice = make_invoice(account=account, amounts=("100.00",), tax_rate=vat)
    make_payment(account=account, amount="120.00", allocations={invoice: "120.00"})
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID

    with pytest.raises(ValidationError) as exc:
        invoice_update(invoice=invoice, data=data(account, line("100.00"), number=invoice.number))

    assert "less than the 120.00 already paid" in messages(exc, "lines")[0]


def test_a_total_with_tax_beyond_the_money_column_is_refused(uk, account):
    vat = make_tax_rate(uk, "VAT 20%", "20")

    with pytest.raises(ValidationError) as exc:
        invoice_create(firm=uk, data=data(account, line("900000000000.00", vat)))

    assert "1,080,000,000,000.00 is too large" in messages(exc, "lines")[0]


def test_existing_callers_without_rates_keep_subtotal_equal_to_total(account):
    invoice = make_invoice(account=account, amounts=("12.34", "0.66"))

    assert stored(invoice) == (D("13.00"), D("0.00"), D("13.00"))
    assert not invoice.amounts_include_tax


def test_the_database_holds_subtotal_plus_tax_equal_to_the_total(account):
    invoice = make_invoice(account=account, amounts=("19783.47",))

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(tax_total=D("0.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(
            subtotal=D("0.00"), tax_total=D("-1.00"), total=D("-1.00")
        )
    # Amounts where a floating-point sum would miss by a hair (SQLite) still hold.
    Invoice.objects.filter(pk=invoice.pk).update(
        subtotal=D("19783.47"), tax_total=D("5195.01"), total=D("24978.48")
    )


# Tax rates -----------------------------------------------------------------------------------------


def test_tax_rate_create_keeps_its_taxes_in_order(firm):
    rate = tax_rate_create(
        firm=firm,
        data=TaxRateData(
            name="  GST/QST  ",
            components=[
                TaxComponentData(name="GST", percentage=D("5")),
                TaxComponentData(name=" QST ", percentage=D("9.975"), compound=True),
            ],
        ),
    )

    assert rate.name == "GST/QST"
    assert rate.is_active
    assert [(c.position, c.name, c.percentage, c.compound) for c in rate.components.all()] == [
        (1, "GST", D("5.0000"), False),
        (2, "QST", D("9.9750"), True),
    ]
    assert rate.percentage == D("14.975")


def test_exempt_and_zero_rates_are_rates(firm):
    exempt = tax_rate_create(firm=firm, data=TaxRateData(name="Exempt"))
    zero = make_tax_rate(firm, "Zero-rated 0%", "0")

    assert list(exempt.components.all()) == []
    assert zero.components.get().percentage == 0


@pytest.mark.parametrize(
    ("name", "components", "field", "message"),
    [
        ("", [], "name", "Enter a name for the tax rate."),
        ("x" * 101, [], "name", "Keep the name of the tax rate to 100 characters or fewer."),
        ("VAT", [("", "20", False)], "components", "Tax 1: enter its name, for example VAT, GST or PST."),
        ("VAT", [("VAT", "100.01", False)], "components", "Tax 1: the percentage must be between 0 and 100."),
        ("VAT", [("VAT", "-1", False)], "components", "Tax 1: the percentage must be between 0 and 100."),
        (
            "VAT",
            [("VAT", "8.87501", False)],
            "components",
            "Tax 1: use at most four decimal places (for example 8.875).",
        ),
        ("VAT", [("VAT", "5", True)], "components", TAX_COMPONENT_FIRST_COMPOUND),
        (
            "GST",
            [("GST", "5", False), ("gst", "5", False)],
            "components",
            "Two taxes of this rate are named gst; give each its own name.",
        ),
        ("Many", [(f"T{i}", "1", False) for i in range(6)], "components", "A tax rate has at most 5 taxes."),
    ],
)
def test_tax_rate_create_says_what_is_wrong(firm, name, components, field, message):
    rate_data = TaxRateData(
        name=name,
        components=[TaxComponentData(name=n, percentage=D(p), compound=c) for n, p, c in components],
    )

    with pytest.raises(ValidationError) as exc:
        tax_rate_create(firm=firm, data=rate_data)

    assert message in messages(exc, field)
    assert not TaxRate.objects.exists()


def test_tax_rate_names_are_unique_per_firm_ignoring_case(firm, other_firm):
    make_tax_rate(firm, "VAT 20%", "20")

    with pytest.raises(ValidationError) as exc:
        make_tax_rate(firm, "vat 20%", "20")

    assert messages(exc, "name") == ["This firm already has a tax rate named \u201cvat 20%\u201d."]
    assert make_tax_rate(other_firm, "VAT 20%", "20").pk


def test_an_unused_rate_may_change_its_taxes(firm):
    rate = make_tax_rate(firm, "Sales tax", "8")

    tax_rate_update(
        tax_rate=rate,
        data=TaxRateData(
            name="Sales tax NYC", components=[TaxComponentData(name="Sales tax", percentage=D("8.875"))]
        ),
    )

    rate.refresh_from_db()
    assert rate.name == "Sales tax NYC"
    assert [c.percentage for c in rate.components.all()] == [D("8.875")]


def test_a_rate_in_use_keeps_its_taxes_but_may_be_renamed(uk, account):
    vat = make_tax_rate(uk, "VAT", "20")
    invoice = make_invoice(account=account, tax_rate=vat)

    with pytest.raises(ValidationError) as exc:
        tax_rate_update(
            tax_rate=vat,
            data=TaxRateData(name="VAT", components=[TaxComponentData(name="VAT", percentage=D("17.5"))]),
        )
    renamed = tax_rate_update(
        tax_rate=vat,
        data=TaxRateData(
            name="VAT standard 20%", components=[TaxComponentData(name="VAT", percentage=D("20"))]
        ),
    )

    assert messages(exc, "components") == [
        "\u201cVAT\u201d is used on 1 invoice, so its taxes cannot change: those invoices keep the tax "
        "they were made with. Archive it and create a new rate for the new taxes."
    ]
    assert renamed.name == "VAT standard 20%"
    assert [c.percentage for c in renamed.components.all()] == [D("20")]
    assert stored(invoice) == (D("100.00"), D("20.00"), D("120.00"))


def test_a_rate_in_use_cannot_be_deleted_only_archived(uk, account):
    vat = make_tax_rate(uk, "VAT 20%", "20")
    make_invoice(account=account, tax_rate=vat)
    make_invoice(account=account, tax_rate=vat, status=Invoice.Status.DRAFT)

    with pytest.raises(ValidationError) as exc:
        tax_rate_delete(tax_rate=vat)

    assert exc.value.messages == [
        "\u201cVAT 20%\u201d is used on 2 invoices, so it cannot be deleted. Archive it instead: it stays on "
        "those invoices and is no longer offered for new lines."
    ]
    with pytest.raises(ProtectedError):
        vat.delete()
    assert tax_rate_archive(tax_rate=vat).is_active is False
    assert tax_rate_restore(tax_rate=vat).is_active is True


def test_an_unused_rate_is_deleted_with_its_taxes(firm):
    rate = make_tax_rate(firm, "GST/PST BC", GST="5", PST="7")

    tax_rate_delete(tax_rate=rate)

    assert not TaxRate.objects.exists()
    assert not TaxRateComponent.objects.exists()


def test_compound_rate_on_an_invoice(firm, account):
    set_region(firm, Firm.Region.CA, "CAD")
    quebec = make_compound_tax_rate(firm, "GST/QST", ("GST", "5", False), ("QST", "8.5", True))

    invoice = make_invoice(account=account, amounts=("100.11",), tax_rate=quebec)

    assert stored(invoice) == (D("100.11"), D("13.95"), D("114.06"))


# The firm's region and currency ---------------------------------------------------------------------


def test_a_new_firm_bills_from_the_us_by_default(firm):
    assert firm.region == Firm.Region.US
    assert not firm.allows_tax_inclusive_amounts


def test_region_and_currency_change_while_the_firm_has_no_money_recorded(firm):
    firm_invoicing_update(firm=firm, data=FirmSettingsData(region="UK", currency=" gbp "))

    firm.refresh_from_db()
    assert (firm.region, firm.currency) == ("UK", "GBP")
    assert firm.allows_tax_inclusive_amounts


def test_currency_stays_once_an_invoice_exists_but_the_region_may_change(firm, account):
    make_invoice(account=account)

    with pytest.raises(ValidationError) as exc:
        firm_invoicing_update(firm=firm, data=FirmSettingsData(region="CA", currency="CAD"))
    firm_invoicing_update(firm=firm, data=FirmSettingsData(region="CA", currency="USD"))

    assert messages(exc, "currency") == [FIRM_CURRENCY_IN_USE.format(currency="USD", new="CAD")]
    firm.refresh_from_db()
    assert (firm.region, firm.currency) == ("CA", "USD")


def test_currency_stays_once_a_payment_exists(firm, account):
    make_payment(account=account, amount="10.00")

    with pytest.raises(ValidationError):
        firm_invoicing_update(firm=firm, data=FirmSettingsData(region="US", currency="EUR"))


@pytest.mark.parametrize(
    ("region", "currency", "field"), [("XX", "USD", "region"), ("US", "US$", "currency")]
)
def test_firm_settings_refuse_an_unknown_region_or_currency_code(firm, region, currency, field):
    with pytest.raises(ValidationError) as exc:
        firm_invoicing_update(firm=firm, data=FirmSettingsData(region=region, currency=currency))

    assert list(exc.value.message_dict) == [field]
    if field == "currency":
        assert messages(exc, "currency") == [FIRM_CURRENCY_FORMAT]

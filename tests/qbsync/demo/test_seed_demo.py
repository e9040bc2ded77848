from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.db.models import F

from accounts.models import Account
from invoices.models import (
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    Service,
    TaxRate,
    TaxRateComponent,
)
from qbsync.demo.services import DEMO_UK_FIRM_SLUG, LONG_NAME
from qbsync.firms.models import Firm, User

pytestmark = pytest.mark.django_db

SEEDED = [
    Firm,
    User,
    Service,
    Account,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    TaxRate,
    TaxRateComponent,
]


def snapshot() -> dict[str, list[tuple]]:
    return {model.__name__: list(model.objects.order_by("pk").values_list()) for model in SEEDED}


def test_seed_demo_twice_changes_nothing(capsys):
    call_command("seed_demo")
    first = snapshot()
    call_command("seed_demo")
    assert snapshot() == first
    assert "created: nothing new" in capsys.readouterr().out


def test_seed_demo_prints_working_logins(client, capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    for username, password in [
        ("owner", "demo-owner-2026"),
        ("admin", "demo-admin-2026"),
        ("staff", "demo-staff-2026"),
    ]:
        assert f"{username} / {password}" in out
        assert client.login(username=username, password=password)
    assert {u.role for u in User.objects.filter(firm__slug="demo")} == {"owner", "admin", "staff"}


def test_seed_demo_has_the_awkward_data_real_firms_have():
    call_command("seed_demo")
    firm = Firm.objects.get(slug="demo")
    names = set(Account.objects.for_firm(firm).values_list("name", flat=True))
    assert 55 <= len(names) <= 70
    assert {
        "O'Brien & Sons",
        'The "Quoted" Company',
        "Zoë Müller",
        "株式会社",
        "Smith & Co",
        "Smith  &  Co",
    } <= names
    assert LONG_NAME in names
    assert len(LONG_NAME) == 200
    payments = Payment.objects.for_firm(firm)
    assert payments.filter(amount_allocated=0).exists(), "an unapplied payment"
    assert payments.filter(amount_allocated__gt=0, amount_allocated__lt=F("amount")).exists(), (
        "a part-applied one"
    )
    assert Invoice.objects.for_firm(firm).filter(status=Invoice.Status.PARTIALLY_PAID).exists()
    assert Invoice.objects.for_firm(firm).filter(status=Invoice.Status.DRAFT).exists()
    for invoice in Invoice.objects.for_firm(firm):
        assert invoice.total == invoice.computed_total()


def test_the_us_demo_firm_fits_the_sandboxs_us_demo_company_and_charges_no_tax():
    call_command("seed_demo")
    firm = Firm.objects.get(slug="demo")
    # The sandbox's demo company is a US company without sales tax: a taxed invoice would be refused there.
    assert (firm.region, firm.currency) == ("US", "USD")
    assert not TaxRate.objects.filter(firm=firm).exists()
    assert not Invoice.objects.for_firm(firm).exclude(tax_total=0).exists()


def test_the_uk_demo_firm_bills_vat_and_its_owner_signs_in(client, capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "To try VAT: Demo Firm UK" in out
    assert "owner-uk / demo-owner-uk-2026" in out
    assert client.login(username="owner-uk", password="demo-owner-uk-2026")
    firm = Firm.objects.get(slug=DEMO_UK_FIRM_SLUG)
    assert (firm.name, firm.region, firm.currency) == ("Demo Firm UK", "UK", "GBP")
    assert [(u.username, u.role) for u in User.objects.filter(firm=firm)] == [("owner-uk", "owner")]
    [vat] = TaxRate.objects.filter(firm=firm)
    assert (vat.name, [(c.name, c.percentage) for c in vat.components.all()]) == ("VAT 20%", [("VAT", 20)])
    invoices = {i.number: i for i in Invoice.objects.for_firm(firm)}
    assert {n: (i.subtotal, i.tax_total, i.total) for n, i in invoices.items()} == {
        "UK-00001": (D("450.00"), D("90.00"), D("540.00")),
        "UK-00002": (D("350.00"), D("70.00"), D("420.00")),
        "UK-00003": (D("289.00"), D("51.00"), D("340.00")),
        "UK-00004": (D("950.00"), D("190.00"), D("1140.00")),
        "UK-00005": (D("150.00"), D("30.00"), D("180.00")),  # billed including VAT
    }
    assert [n for n, i in invoices.items() if i.amounts_include_tax] == ["UK-00005"]
    # One line goes without a rate (a disbursement outside the scope of VAT): the untaxed code is needed.
    assert InvoiceLine.objects.filter(invoice__firm=firm, tax_rate__isnull=True).count() == 1
    assert invoices["UK-00001"].status == Invoice.Status.PAID

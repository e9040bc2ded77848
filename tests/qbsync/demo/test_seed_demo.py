import pytest
from django.core.management import call_command
from django.db.models import F

from accounts.models import Account
from invoices.models import Invoice, InvoiceLine, Payment, PaymentAllocation, Service
from qbsync.demo.services import LONG_NAME
from qbsync.firms.models import Firm, User

pytestmark = pytest.mark.django_db

SEEDED = [Firm, User, Service, Account, Invoice, InvoiceLine, Payment, PaymentAllocation]


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

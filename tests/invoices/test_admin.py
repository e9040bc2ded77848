from decimal import Decimal

import pytest
from django.urls import reverse

from invoices.models import Invoice, Payment
from tests.factories import AccountFactory, make_invoice

pytestmark = pytest.mark.django_db


def _inline(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data |= {f"{prefix}-{i}-{key}": value for key, value in row.items()}
    return data


def _invoice_form(account, lines, **overrides):
    return (
        {
            "firm": account.firm.pk,
            "account": account.pk,
            "number": "ADM-1",
            "issue_date": "2026-03-01",
            "due_date": "2026-03-31",
            "status": "sent",
            "memo": "",
        }
        | overrides
        | _inline("lines", lines)
    )


def _payment_form(account, allocations, amount="100.00"):
    return {
        "firm": account.firm.pk,
        "account": account.pk,
        "date": "2026-03-05",
        "amount": amount,
        "method": "check",
        "reference": "CHK 1",
        "memo": "",
    } | _inline("allocations", allocations)


def test_admin_creates_an_invoice_with_lines_and_a_computed_total(admin_client, firm):
    account = AccountFactory(firm=firm)
    response = admin_client.post(
        reverse("admin:invoices_invoice_add"),
        _invoice_form(
            account, [{"position": "1", "description": "Audit", "quantity": "1.5", "rate": "33.33"}]
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    invoice = Invoice.objects.get(number="ADM-1")
    assert invoice.total == Decimal("50.00")
    assert invoice.status == Invoice.Status.SENT


def test_admin_rejects_a_negative_rate_on_its_line(admin_client, firm):
    account = AccountFactory(firm=firm)
    response = admin_client.post(
        reverse("admin:invoices_invoice_add"),
        _invoice_form(account, [{"position": "1", "description": "Audit", "quantity": "1", "rate": "-5"}]),
    )
    assert response.status_code == 200
    assert "Enter an amount that is not negative." in response.content.decode()
    assert not Invoice.objects.exists()


def test_admin_rejects_over_allocation_and_saves_nothing(admin_client, firm):
    account = AccountFactory(firm=firm)
    invoice = make_invoice(account=account, amounts=("80.00",))
    response = admin_client.post(
        reverse("admin:invoices_payment_add"),
        _payment_form(account, [{"invoice": invoice.pk, "amount": "90.00"}], amount="100.00"),
    )
    assert response.status_code == 200
    assert f"Invoice {invoice.number} has 80.00 left to pay" in response.content.decode()
    assert not Payment.objects.exists()


def test_admin_rejects_allocations_above_the_payment(admin_client, firm):
    account = AccountFactory(firm=firm)
    invoice = make_invoice(account=account, amounts=("500.00",))
    response = admin_client.post(
        reverse("admin:invoices_payment_add"),
        _payment_form(account, [{"invoice": invoice.pk, "amount": "150.00"}], amount="100.00"),
    )
    assert "more than the payment of 100.00" in response.content.decode()
    assert not Payment.objects.exists()


def test_admin_rejects_a_negative_payment_amount(admin_client, firm):
    account = AccountFactory(firm=firm)
    response = admin_client.post(
        reverse("admin:invoices_payment_add"), _payment_form(account, [], amount="-1")
    )
    assert "Enter an amount greater than zero." in response.content.decode()
    assert not Payment.objects.exists()


def test_admin_payment_updates_invoice_balances(admin_client, firm):
    account = AccountFactory(firm=firm)
    invoice = make_invoice(account=account, amounts=("80.00",))
    response = admin_client.post(
        reverse("admin:invoices_payment_add"),
        _payment_form(account, [{"invoice": invoice.pk, "amount": "30.00"}], amount="100.00"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.status) == (Decimal("30.00"), Invoice.Status.PARTIALLY_PAID)
    payment = Payment.objects.get()
    assert payment.unapplied == Decimal("70.00")
    admin_client.post(reverse("admin:invoices_payment_delete", args=[payment.pk]), {"post": "yes"})
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.status) == (Decimal("0.00"), Invoice.Status.SENT)


def test_every_model_is_in_the_admin(admin_client):
    from django.apps import apps
    from django.contrib import admin

    ours = [m for m in apps.get_models() if m._meta.app_label in {"firms", "accounts", "invoices", "sync"}]
    # Shown with their parents (lines, allocations, plan items) or on the QuickBooks page (item mappings).
    inline_only = {
        "InvoiceLine",
        "PaymentAllocation",
        "BulkSyncItem",
        "ServiceItemMapping",
        "TaxRateComponent",
    }
    missing = [m.__name__ for m in ours if m not in admin.site._registry and m.__name__ not in inline_only]
    assert missing == []
    for model in ours:
        if model in admin.site._registry:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            assert admin_client.get(url).status_code == 200

from decimal import Decimal

import pytest

from invoices.models import Invoice
from invoices.selectors import (
    invoice_allocation_list,
    invoice_list,
    payment_allocation_candidates,
    payment_allocation_list,
    payment_list,
    service_choices,
)
from tests.factories import AccountFactory, ServiceFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db


def test_invoice_list_is_the_firms_newest_first(firm, other_firm):
    account = AccountFactory(firm=firm)
    older = make_invoice(account=account, number="A-1")
    newer = make_invoice(account=account, number="A-2", issue_date=older.issue_date.replace(month=3))
    make_invoice(account=AccountFactory(firm=other_firm), number="A-3")

    assert list(invoice_list(firm=firm)) == [newer, older]


def test_invoice_list_searches_number_and_account_name(firm):
    acme = AccountFactory(firm=firm, name="Acme Corp")
    bright = AccountFactory(firm=firm, name="Bright Ledger")
    make_invoice(account=acme, number="INV-100")
    make_invoice(account=bright, number="INV-200")

    assert [i.number for i in invoice_list(firm=firm, search="inv-1")] == ["INV-100"]
    assert [i.number for i in invoice_list(firm=firm, search="bright")] == ["INV-200"]


def test_invoice_list_filters_status_and_account(firm):
    acme = AccountFactory(firm=firm)
    other = AccountFactory(firm=firm)
    make_invoice(account=acme, number="D-1", status=Invoice.Status.DRAFT)
    make_invoice(account=acme, number="S-1")
    make_invoice(account=other, number="S-2")

    assert [i.number for i in invoice_list(firm=firm, status="draft")] == ["D-1"]
    assert {i.number for i in invoice_list(firm=firm, account=acme)} == {"D-1", "S-1"}


def test_payment_list_and_allocation_lists(firm):
    account = AccountFactory(firm=firm)
    invoice = make_invoice(account=account, amounts=("100.00",))
    payment = make_payment(account=account, amount="80.00", allocations={invoice: "80.00"})

    assert list(payment_list(firm=firm, account=account)) == [payment]
    assert [a.amount for a in invoice_allocation_list(invoice=invoice)] == [Decimal("80.00")]
    assert [a.invoice for a in payment_allocation_list(payment=payment)] == [invoice]


def test_allocation_candidates_are_open_issued_invoices_of_the_account(firm):
    account = AccountFactory(firm=firm)
    open_one = make_invoice(account=account, number="OPEN", amounts=("100.00",))
    paid = make_invoice(account=account, number="PAID", amounts=("50.00",))
    make_invoice(account=account, number="DRAFT", status=Invoice.Status.DRAFT)
    make_invoice(account=AccountFactory(firm=firm), number="ELSEWHERE")
    make_payment(account=account, amount="50.00", allocations={paid: "50.00"})

    candidates = payment_allocation_candidates(account=account)

    assert [i.number for i in candidates] == ["OPEN"]
    assert candidates[0] == open_one
    assert candidates[0].open_for_payment == Decimal("100.00")
    assert candidates[0].allocated_here == Decimal("0.00")


def test_allocation_candidates_for_a_payment_add_back_what_it_applies(firm):
    account = AccountFactory(firm=firm)
    invoice = make_invoice(account=account, number="X", amounts=("100.00",))
    other_payment = make_payment(account=account, amount="30.00", allocations={invoice: "30.00"})
    payment = make_payment(account=account, amount="70.00", allocations={invoice: "70.00"})

    # The invoice is paid in full, yet editing a payment must still offer it, with that payment's share.
    [candidate] = payment_allocation_candidates(account=account, payment=payment)
    assert candidate.allocated_here == Decimal("70.00")
    assert candidate.open_for_payment == Decimal("70.00")
    assert payment_allocation_candidates(account=account) == []
    [for_other] = payment_allocation_candidates(account=account, payment=other_payment)
    assert for_other.open_for_payment == Decimal("30.00")


def test_service_choices_are_active_services_plus_those_in_use(firm, other_firm):
    active = ServiceFactory(firm=firm, name="Bookkeeping")
    retired = ServiceFactory(firm=firm, name="Old service", is_active=False)
    ServiceFactory(firm=other_firm, name="Payroll")

    assert list(service_choices(firm=firm)) == [active]
    assert list(service_choices(firm=firm, include_ids=(retired.pk,))) == [active, retired]

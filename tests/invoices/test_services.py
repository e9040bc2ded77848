import threading
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from invoices.models import Invoice, InvoiceLine, Payment, PaymentAllocation
from invoices.services import (
    AllocationData,
    InvoiceData,
    InvoiceLineData,
    PaymentData,
    invoice_create,
    invoice_delete,
    invoice_next_number,
    invoice_send,
    invoice_update,
    invoice_void,
    payment_create,
    payment_delete,
    payment_update,
)
from tests.factories import AccountFactory, ServiceFactory, make_invoice

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def account(firm):
    return AccountFactory(firm=firm, name="O'Brien & Sons")


def _invoice_data(account, number="INV-1", lines=None, **overrides):
    values = {
        "account": account,
        "number": number,
        "issue_date": date(2026, 3, 1),
        "due_date": date(2026, 3, 31),
        "lines": lines
        if lines is not None
        else [
            InvoiceLineData(description="Bookkeeping, March", quantity=D("1.5"), rate=D("33.33")),
            InvoiceLineData(description="Payroll", quantity=D("3"), rate=D("0.33")),
        ],
    }
    return InvoiceData(**(values | overrides))


def _pay(account, amount, *allocations, when=date(2026, 3, 10)):
    return payment_create(
        firm=account.firm,
        data=PaymentData(
            account=account,
            date=when,
            amount=D(amount),
            allocations=[AllocationData(invoice=inv, amount=D(a)) for inv, a in allocations],
        ),
    )


# Invoices ----------------------------------------------------------------------------------------


def test_invoice_total_is_the_sum_of_rounded_line_amounts(firm, account):
    invoice = invoice_create(firm=firm, data=_invoice_data(account))
    assert [line.amount for line in invoice.lines.all()] == [D("50.00"), D("0.99")]
    assert invoice.total == D("50.99") == invoice.computed_total()
    assert invoice.status == Invoice.Status.DRAFT
    assert invoice.balance == D("50.99")


def test_invoice_line_may_name_a_service_instead_of_a_description(firm, account):
    service = ServiceFactory(firm=firm, name="Tax return")
    invoice = invoice_create(
        firm=firm, data=_invoice_data(account, lines=[InvoiceLineData(service=service, rate=D("450"))])
    )
    assert invoice.lines.get().service == service


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"number": "  "}, "number"),
        ({"number": "X" * 31}, "number"),
        ({"due_date": date(2026, 2, 1)}, "due_date"),
        ({"lines": []}, "lines"),
        ({"lines": [InvoiceLineData(description="x", rate=D("-1"))]}, "lines"),
        ({"lines": [InvoiceLineData(description="x", rate=D("1"), quantity=D("0"))]}, "lines"),
        ({"lines": [InvoiceLineData(description="  ", rate=D("1"))]}, "lines"),
    ],
)
def test_invoice_create_rejects_bad_input_and_saves_nothing(firm, account, overrides, field):
    with pytest.raises(ValidationError) as exc:
        invoice_create(firm=firm, data=_invoice_data(account, **overrides))
    assert field in exc.value.message_dict
    assert not Invoice.objects.exists()
    assert not InvoiceLine.objects.exists()


def test_invoice_numbers_are_unique_per_firm_ignoring_case(firm, other_firm, account):
    invoice_create(firm=firm, data=_invoice_data(account, number="INV-7"))
    with pytest.raises(ValidationError) as exc:
        invoice_create(firm=firm, data=_invoice_data(account, number="inv-7"))
    assert "INV-7" in exc.value.message_dict["number"][0] or "inv-7" in exc.value.message_dict["number"][0]
    other_account = AccountFactory(firm=other_firm)
    assert invoice_create(firm=other_firm, data=_invoice_data(other_account, number="INV-7")).pk


def test_invoice_cannot_use_another_firms_account_or_service(firm, other_firm, account):
    stranger = AccountFactory(firm=other_firm)
    with pytest.raises(ValidationError) as exc:
        invoice_create(firm=firm, data=_invoice_data(stranger))
    assert "account" in exc.value.message_dict
    foreign_service = ServiceFactory(firm=other_firm)
    with pytest.raises(ValidationError):
        invoice_create(
            firm=firm,
            data=_invoice_data(account, lines=[InvoiceLineData(service=foreign_service, rate=D(1))]),
        )


def test_a_failed_line_write_leaves_no_half_saved_invoice(firm, account, monkeypatch):
    from invoices import services

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services.InvoiceLine.objects, "bulk_create", explode)
    with pytest.raises(RuntimeError):
        invoice_create(firm=firm, data=_invoice_data(account))
    assert not Invoice.objects.exists()


def test_invoice_update_replaces_lines_and_total(firm, account):
    invoice = invoice_create(firm=firm, data=_invoice_data(account))
    updated = invoice_update(
        invoice=invoice,
        data=_invoice_data(account, lines=[InvoiceLineData(description="Audit", rate=D("999.99"))]),
    )
    assert updated.total == D("999.99")
    assert list(updated.lines.values_list("description", flat=True)) == ["Audit"]


def test_invoice_total_cannot_drop_below_what_was_paid(firm, account):
    invoice = make_invoice(account=account, amounts=("100.00",))
    _pay(account, "80.00", (invoice, "80.00"))
    with pytest.raises(ValidationError) as exc:
        invoice_update(
            invoice=invoice,
            data=_invoice_data(
                account, number=invoice.number, lines=[InvoiceLineData(description="Smaller", rate=D("50"))]
            ),
        )
    assert "80.00" in exc.value.message_dict["lines"][0]
    invoice.refresh_from_db()
    assert invoice.total == D("100.00")


def test_send_void_and_delete(firm, account):
    invoice = invoice_create(firm=firm, data=_invoice_data(account))
    assert invoice_send(invoice=invoice).status == Invoice.Status.SENT
    with pytest.raises(ValidationError):
        invoice_send(invoice=invoice)
    assert invoice_void(invoice=invoice).status == Invoice.Status.VOID
    with pytest.raises(ValidationError):
        invoice_update(invoice=invoice, data=_invoice_data(account))
    invoice_delete(invoice=invoice)
    assert not Invoice.objects.exists()


def test_a_send_whose_sync_hook_fails_leaves_the_invoice_a_draft(firm, account, monkeypatch):
    """A sent invoice that nothing would push must not be saved: the status and the hook are one unit."""
    from invoices import services

    def explode(*args, **kwargs):
        raise RuntimeError("process died")

    invoice = invoice_create(firm=firm, data=_invoice_data(account))
    monkeypatch.setattr(services, "_invoice_changed", explode)
    with pytest.raises(RuntimeError):
        invoice_send(invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.DRAFT


def test_an_invoice_with_payments_cannot_be_voided_or_deleted(firm, account):
    invoice = make_invoice(account=account)
    _pay(account, "10.00", (invoice, "10.00"))
    with pytest.raises(ValidationError, match="payments applied"):
        invoice_void(invoice=invoice)
    with pytest.raises(ValidationError, match="payments applied"):
        invoice_delete(invoice=invoice)


def test_invoice_next_number_skips_taken_numbers(firm, account):
    make_invoice(account=account, number="INV-00002")
    assert invoice_next_number(firm=firm) == "INV-00003"


# Payments ----------------------------------------------------------------------------------------


def test_payment_allocated_to_two_invoices_with_an_unapplied_rest(firm, account):
    first = make_invoice(account=account, amounts=("100.00",))
    second = make_invoice(account=account, amounts=("60.00", "0.50"))
    payment = _pay(account, "200.00", (first, "100.00"), (second, "20.00"))
    assert payment.amount_allocated == D("120.00")
    assert payment.unapplied == D("80.00")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.balance) == (Invoice.Status.PAID, D("0.00"))
    assert (second.status, second.balance) == (Invoice.Status.PARTIALLY_PAID, D("40.50"))


def test_unapplied_payment_is_allowed(firm, account):
    payment = _pay(account, "75.00")
    assert payment.unapplied == D("75.00")
    assert not payment.allocations.exists()


@pytest.mark.parametrize("amount", ["0", "-5.00"])
def test_payment_amount_must_be_positive(firm, account, amount):
    with pytest.raises(ValidationError) as exc:
        _pay(account, amount)
    assert "amount" in exc.value.message_dict
    assert not Payment.objects.exists()


def test_allocations_cannot_exceed_the_payment(firm, account):
    invoice = make_invoice(account=account, amounts=("500.00",))
    with pytest.raises(ValidationError) as exc:
        _pay(account, "100.00", (invoice, "100.01"))
    assert "more than the payment" in " ".join(exc.value.message_dict["allocations"])
    assert not Payment.objects.exists()
    invoice.refresh_from_db()
    assert invoice.amount_paid == D("0.00")


def test_allocations_cannot_exceed_an_invoices_balance(firm, account):
    invoice = make_invoice(account=account, amounts=("100.00",))
    _pay(account, "70.00", (invoice, "70.00"))
    with pytest.raises(ValidationError) as exc:
        _pay(account, "50.00", (invoice, "30.01"))
    assert "30.00 left to pay" in exc.value.message_dict["allocations"][0]
    assert Payment.objects.count() == 1


def test_allocations_only_to_payable_invoices_of_the_same_account(firm, account):
    draft = make_invoice(account=account, status=Invoice.Status.DRAFT)
    other = make_invoice(account=AccountFactory(firm=firm))
    with pytest.raises(ValidationError) as exc:
        _pay(account, "50.00", (draft, "10.00"), (other, "10.00"))
    problems = " ".join(exc.value.message_dict["allocations"])
    assert "draft" in problems
    assert "another account" in problems


def test_the_same_invoice_twice_is_rejected(firm, account):
    invoice = make_invoice(account=account)
    with pytest.raises(ValidationError, match="listed twice"):
        _pay(account, "50.00", (invoice, "10.00"), (invoice, "10.00"))


def test_editing_allocations_moves_balances(firm, account):
    first = make_invoice(account=account, amounts=("100.00",))
    second = make_invoice(account=account, amounts=("100.00",))
    payment = _pay(account, "100.00", (first, "100.00"))
    payment_update(
        payment=payment,
        data=PaymentData(
            account=account,
            date=payment.date,
            amount=D("100.00"),
            allocations=[AllocationData(invoice=second, amount=D("40.00"))],
        ),
    )
    first.refresh_from_db()
    second.refresh_from_db()
    payment.refresh_from_db()
    assert (first.amount_paid, first.status) == (D("0.00"), Invoice.Status.SENT)
    assert (second.amount_paid, second.status) == (D("40.00"), Invoice.Status.PARTIALLY_PAID)
    assert payment.unapplied == D("60.00")


def test_editing_a_payment_may_reuse_its_own_share_of_a_balance(firm, account):
    invoice = make_invoice(account=account, amounts=("100.00",))
    payment = _pay(account, "100.00", (invoice, "100.00"))
    payment_update(
        payment=payment,
        data=PaymentData(
            account=account,
            date=payment.date,
            amount=D("100.00"),
            allocations=[AllocationData(invoice=invoice, amount=D("100.00"))],
        ),
    )
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_deleting_a_payment_restores_the_balances(firm, account):
    invoice = make_invoice(account=account, amounts=("100.00",))
    payment = _pay(account, "100.00", (invoice, "100.00"))
    payment_delete(payment=payment)
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.status) == (D("0.00"), Invoice.Status.SENT)
    assert not PaymentAllocation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_payments_cannot_overpay_an_invoice(require_postgres, firm):
    """Both see a 100.00 balance; the row lock makes the second one see the first's allocation."""
    account = AccountFactory(firm=firm)
    invoice = make_invoice(account=account, amounts=("100.00",))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def pay():
        try:
            barrier.wait()
            _pay(account, "70.00", (invoice, "70.00"))
            outcomes.append("paid")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    invoice.refresh_from_db()
    assert sorted(outcomes) == ["paid", "refused"]
    assert invoice.amount_paid == D("70.00")


def test_an_allocation_to_a_deleted_invoice_is_a_clear_error(firm, account):
    gone = make_invoice(account=account, number="GONE-1")
    invoice_delete(invoice=Invoice.objects.get(pk=gone.pk))
    with pytest.raises(ValidationError) as exc:
        _pay(account, "10.00", (gone, "10.00"))
    assert "GONE-1 no longer exists" in exc.value.message_dict["allocations"][0]


# Issue 13, item 9: a page's one-time token makes one record however often, and however simultaneously,
# the page is submitted.


def test_the_second_submit_of_a_token_returns_the_first_record(firm, account):
    first = invoice_create(firm=firm, data=_invoice_data(account, submission_token="page-1"))
    again = invoice_create(firm=firm, data=_invoice_data(account, number="INV-2", submission_token="page-1"))
    assert again.pk == first.pk
    assert Invoice.objects.count() == 1
    paid = payment_create(
        firm=firm,
        data=PaymentData(account=account, date=date(2026, 3, 10), amount=D("5"), submission_token="page-2"),
    )
    repaid = payment_create(
        firm=firm,
        data=PaymentData(account=account, date=date(2026, 3, 10), amount=D("5"), submission_token="page-2"),
    )
    assert repaid.pk == paid.pk
    assert Payment.objects.count() == 1


def test_a_submit_whose_record_was_deleted_says_so(firm, account):
    first = invoice_create(firm=firm, data=_invoice_data(account, submission_token="page-1"))
    invoice_delete(invoice=first)
    with pytest.raises(
        ValidationError, match="already submitted, and the invoice it created has since been deleted"
    ):
        invoice_create(firm=firm, data=_invoice_data(account, submission_token="page-1"))
    assert not Invoice.objects.exists()


@pytest.mark.parametrize("record", ["invoice", "payment"])
def test_a_submit_overtaken_after_its_check_returns_the_other_submits_record(firm, account, record):
    """The other submit of the same page commits after this one found the token unused and before this
    one uses it: the unique constraint refuses this one, which answers with the other's record."""

    def create():
        if record == "invoice":
            return invoice_create(firm=firm, data=_invoice_data(account, submission_token="page-1"))
        data = PaymentData(account=account, date=date(2026, 3, 10), amount=D("5"), submission_token="page-1")
        return payment_create(firm=firm, data=data)

    overtaken = []

    def the_other_submit_first(execute, sql, params, many, context):
        if not overtaken and sql.upper().startswith("SAVEPOINT"):
            overtaken.append(None)  # before create(): its own savepoint comes back through here
            overtaken[0] = create()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(the_other_submit_first):
        mine = create()

    assert overtaken, "the race was not staged: no transaction opened after the check"
    assert mine.pk == overtaken[0].pk
    assert Invoice.objects.count() == 1 if record == "invoice" else Payment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_submits_of_one_page_make_one_payment(require_postgres, firm):
    account = AccountFactory(firm=firm)
    barrier = threading.Barrier(2)
    made: list[int] = []

    def submit():
        try:
            barrier.wait()
            data = PaymentData(
                account=account, date=date(2026, 3, 10), amount=D("25"), submission_token="page-1"
            )
            made.append(payment_create(firm=firm, data=data).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 2
    assert made[0] == made[1]
    assert Payment.objects.count() == 1

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from invoices.forms import (
    AllocationFormSet,
    InvoiceForm,
    InvoiceLineFormSet,
    PaymentForm,
    add_invoice_errors,
    add_payment_errors,
    invoice_data,
)
from invoices.models import Service
from tests.factories import AccountFactory, ServiceFactory, make_invoice

pytestmark = pytest.mark.django_db


def lines_formset(rows, *, initial_rows=(), services=None):
    """A bound lines formset; the first ``len(initial_rows)`` rows are lines already on the invoice."""
    data = {"lines-TOTAL_FORMS": str(len(rows)), "lines-INITIAL_FORMS": str(len(initial_rows))}
    for i, row in enumerate(rows):
        data |= {f"lines-{i}-{k}": v for k, v in ({"quantity": "1"} | row).items()}
    return InvoiceLineFormSet(
        data,
        prefix="lines",
        initial=list(initial_rows),
        form_kwargs={"services": services if services is not None else Service.objects.none()},
    )


def test_line_rate_defaults_to_the_services_rate(firm):
    service = ServiceFactory(firm=firm, default_rate=Decimal("80.00"))
    lines = lines_formset([{"service": str(service.pk), "rate": ""}], services=Service.objects.for_firm(firm))

    assert lines.is_valid(), lines.errors
    [line] = lines.to_data()
    assert (line.service, line.rate) == (service, Decimal("80.00"))


def test_line_without_service_or_rate_asks_for_a_rate():
    lines = lines_formset([{"description": "Advice", "rate": ""}])

    assert not lines.is_valid()
    assert lines.forms[0].errors["rate"] == ["Enter a rate."]


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"description": "x", "rate": "-0.01"}, "rate", "The rate cannot be negative."),
        (
            {"description": "x", "rate": "1", "quantity": "0"},
            "quantity",
            "Enter a quantity greater than zero.",
        ),
        (
            {"description": "x", "rate": "1.001"},
            "rate",
            "An amount goes to the cent: use at most two decimal places (for example 10.25).",
        ),
        ({"description": "x", "rate": "abc"}, "rate", "Enter a number."),
    ],
)
def test_line_rejects_bad_numbers(row, field, message):
    lines = lines_formset([row])

    assert not lines.is_valid()
    assert lines.forms[0].errors[field] == [message]


def test_amounts_are_decimals_never_floats():
    lines = lines_formset([{"description": "x", "rate": "0.10", "quantity": "3"}])

    assert lines.is_valid()
    [line] = lines.to_data()
    assert isinstance(line.rate, Decimal)
    assert isinstance(line.quantity, Decimal)
    assert line.rate * line.quantity == Decimal("0.30")


def test_kept_lines_skip_blank_extra_rows_and_deleted_rows_but_keep_untouched_existing_ones():
    existing = [
        {"description": "Existing, untouched", "quantity": Decimal("1"), "rate": Decimal("1")},
        {"description": "Existing, deleted", "quantity": Decimal("1"), "rate": Decimal("2")},
    ]
    lines = lines_formset(
        [
            {"description": "Existing, untouched", "rate": "1"},
            {"description": "Existing, deleted", "rate": "2", "DELETE": "on"},
            {},  # a blank extra row
            {"description": "New", "rate": "3"},
        ],
        initial_rows=existing,
    )

    assert lines.is_valid(), lines.errors
    assert not lines.forms[0].has_changed()
    assert [f.cleaned_data["description"] for f in lines.kept_forms()] == ["Existing, untouched", "New"]


def test_add_invoice_errors_maps_line_numbers_to_kept_rows(firm):
    lines = lines_formset([{"description": "a", "rate": "1"}, {}, {"description": "b", "rate": "1"}])
    form = InvoiceForm({}, accounts=firm.accounts.all())
    assert lines.is_valid()
    form.is_valid()

    add_invoice_errors(
        form,
        lines,
        ValidationError(
            {
                "lines": ["Line 2: choose a service of this firm.", "Add at least one line to the invoice."],
                "number": "Taken.",
                "status": "Bad status.",
            }
        ),
    )

    # "Line 2" is the second line sent to the service: the third row of the page.
    assert lines.forms[2].non_field_errors() == ["Choose a service of this firm."]
    assert lines.non_form_errors() == ["Add at least one line to the invoice."]
    assert "Taken." in form.errors["number"]
    assert form.non_field_errors() == ["Bad status."]


def test_invoice_data_comes_from_the_forms(firm):
    account = AccountFactory(firm=firm)
    form = InvoiceForm(
        {"account": account.pk, "number": "N-1", "issue_date": "2026-01-01", "due_date": "2026-01-31"},
        accounts=firm.accounts.all(),
    )
    lines = lines_formset([{"description": "a", "rate": "12.50"}])
    assert form.is_valid(), form.errors
    assert lines.is_valid()

    data = invoice_data(form, lines)

    assert (data.account, data.number, data.lines[0].rate) == (account, "N-1", Decimal("12.50"))


def allocation_formset(invoices, amounts):
    offered = {invoice.pk: invoice for invoice in invoices}
    data = {"allocations-TOTAL_FORMS": str(len(amounts)), "allocations-INITIAL_FORMS": str(len(amounts))}
    for i, (invoice_id, amount) in enumerate(amounts):
        data |= {f"allocations-{i}-invoice": str(invoice_id), f"allocations-{i}-amount": amount}
    return AllocationFormSet(data, prefix="allocations", form_kwargs={"invoices": offered})


def test_allocations_blank_means_not_applied(firm):
    account = AccountFactory(firm=firm)
    first, second = make_invoice(account=account), make_invoice(account=account)
    allocations = allocation_formset([first, second], [(first.pk, "25.00"), (second.pk, "")])

    assert allocations.is_valid()
    assert [(a.invoice, a.amount) for a in allocations.to_data()] == [(first, Decimal("25.00"))]


def test_allocation_rows_accept_only_offered_invoices(firm):
    account = AccountFactory(firm=firm)
    offered, not_offered = make_invoice(account=account), make_invoice(account=account)
    allocations = allocation_formset([offered], [(not_offered.pk, "10.00")])

    assert not allocations.is_valid()
    assert "invoice" in allocations.forms[0].errors


def test_add_payment_errors_puts_invoice_errors_on_their_rows(firm):
    account = AccountFactory(firm=firm)
    first = make_invoice(account=account, number="INV-1")
    tenth = make_invoice(account=account, number="INV-10")
    allocations = allocation_formset([first, tenth], [(first.pk, "1"), (tenth.pk, "2")])
    form = PaymentForm({"date": "2026-01-01", "amount": "-1", "method": "check"})
    assert allocations.is_valid()
    assert form.is_valid()

    add_payment_errors(
        form,
        allocations,
        ValidationError(
            {
                "amount": "Enter an amount greater than zero.",
                "allocations": [
                    "Invoice INV-10 has 5.00 left to pay; 9.00 is more than that.",
                    "Invoice INV-1: enter an amount greater than zero.",
                    "The allocations add up to 3.00, more than the payment of 1.00.",
                ],
            }
        ),
    )

    assert allocations.forms[0].errors["amount"] == ["Invoice INV-1: enter an amount greater than zero."]
    assert allocations.forms[1].errors["amount"] == [
        "Invoice INV-10 has 5.00 left to pay; 9.00 is more than that."
    ]
    assert allocations.non_form_errors() == ["The allocations add up to 3.00, more than the payment of 1.00."]
    assert form.errors["amount"] == ["Enter an amount greater than zero."]


# Issue 13, item 8: amounts beyond the money column are refused in words, not Django's "14 digits".


@pytest.mark.parametrize("amount", ["1000000000000", "1000000000000.00", "123456789012345.67"])
def test_payment_amount_beyond_the_money_column_is_refused_in_words(amount):
    form = PaymentForm({"date": "2026-03-05", "amount": amount, "method": "check"})

    assert not form.is_valid()
    assert form.errors["amount"] == [
        "This amount is too large: QuickBooks and qbsync allow at most 999,999,999,999.99."
    ]


def test_payment_amount_at_the_limit_is_accepted():
    form = PaymentForm({"date": "2026-03-05", "amount": "999999999999.99", "method": "check"})

    assert form.is_valid(), form.errors


def test_line_rate_beyond_the_money_column_is_refused_in_words():
    lines = lines_formset([{"description": "x", "rate": "1000000000000"}])

    assert not lines.is_valid()
    assert lines.forms[0].errors["rate"] == [
        "This amount is too large: QuickBooks and qbsync allow at most 999,999,999,999.99."
    ]


# Issue 13, item 6: a line description over QuickBooks' 4,000 characters is refused at save, clearly.


def test_a_line_description_over_4000_characters_is_refused_with_the_limit():
    lines = lines_formset([{"description": "x" * 4001, "rate": "1"}])

    assert not lines.is_valid()
    assert lines.forms[0].errors["description"] == [
        "A line description can have at most 4,000 characters, the limit of QuickBooks Online; "
        "this one has 4,001."
    ]


def test_a_line_description_of_4000_characters_is_accepted():
    lines = lines_formset([{"description": "x" * 4000, "rate": "1"}])

    assert lines.is_valid(), lines.errors


# Issue 14: Django's stock "no more than N digits" / "decimal places" become sentences about the amount or
# the quantity.


def test_an_amount_with_fractions_of_a_cent_is_refused_in_words():
    form = PaymentForm({"date": "2026-03-05", "amount": "10.001", "method": "check"})

    assert not form.is_valid()
    assert form.errors["amount"] == [
        "An amount goes to the cent: use at most two decimal places (for example 10.25)."
    ]


def test_a_line_quantity_too_large_or_too_fine_is_refused_in_words():
    lines = lines_formset(
        [
            {"description": "x", "quantity": "1234567890123", "rate": "1"},
            {"description": "y", "quantity": "1.234", "rate": "1"},
        ]
    )

    assert not lines.is_valid()
    assert lines.forms[0].errors["quantity"] == [
        "This quantity is too large: qbsync allows at most 9,999,999,999.99."
    ]
    assert lines.forms[1].errors["quantity"] == [
        "A quantity has at most two decimal places (for example 1.5 hours)."
    ]
    assert "digits" not in str(lines.errors)

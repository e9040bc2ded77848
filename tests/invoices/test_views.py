from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from invoices.models import Invoice, Payment, PaymentAllocation
from invoices.services import (
    INVOICE_HAS_PAYMENTS,
    PAYMENT_OVER_ALLOCATED,
    invoice_next_number,
)
from tests.factories import AccountFactory, ServiceFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db

LIST_URL = reverse("invoices:list")
CREATE_URL = reverse("invoices:create")
PAYMENT_CREATE_URL = reverse("invoices:payment_create")


def invoice_post(*, account, number="INV-1", lines=(), initial_lines=0, **header) -> dict:
    """The POST body of the invoice page: the header plus the lines formset."""
    data = {
        "account": account.pk,
        "number": number,
        "issue_date": "2026-03-01",
        "due_date": "2026-03-31",
        "memo": "",
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": str(initial_lines),
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    } | header
    for i, line in enumerate(lines):
        row = {"service": "", "description": "", "quantity": "1", "rate": ""} | line
        data |= {f"lines-{i}-{key}": value for key, value in row.items()}
    return data


def payment_post(*, amount="100.00", allocations=(), **fields) -> dict:
    """The POST body of the payment page; ``allocations`` is [(invoice, amount or "")]."""
    data = {
        "date": "2026-03-05",
        "amount": amount,
        "method": Payment.Method.CHECK,
        "reference": "",
        "memo": "",
        "allocations-TOTAL_FORMS": str(len(allocations)),
        "allocations-INITIAL_FORMS": str(len(allocations)),
        "allocations-MIN_NUM_FORMS": "0",
        "allocations-MAX_NUM_FORMS": "1000",
    } | fields
    for i, (invoice, share) in enumerate(allocations):
        data |= {f"allocations-{i}-invoice": str(invoice.pk), f"allocations-{i}-amount": share}
    return data


@pytest.fixture
def account(firm):
    return AccountFactory(firm=firm, name="Acme Corp")


# List -----------------------------------------------------------------------------------------------


def test_list_shows_the_firms_invoices(staff_client, account, other_firm):
    make_invoice(account=account, number="INV-042", amounts=("1500.00", "20.5"))
    make_invoice(account=AccountFactory(firm=other_firm), number="THEIRS-1")

    response = staff_client.get(LIST_URL)

    html = response.content.decode()
    assert "INV-042" in html
    assert "Acme Corp" in html
    assert "1,520.50&nbsp;" in html
    assert "THEIRS-1" not in html


def test_list_filters_by_status_and_searches(staff_client, account):
    make_invoice(account=account, number="D-1", status=Invoice.Status.DRAFT)
    make_invoice(account=account, number="S-1")
    make_invoice(account=AccountFactory(firm=account.firm, name="Bright"), number="S-2")

    def numbers(**params):
        return [i.number for i in staff_client.get(LIST_URL, params).context["page"].object_list]

    assert numbers(status="draft") == ["D-1"]
    assert sorted(numbers(status="sent")) == ["S-1", "S-2"]
    assert numbers(q="bright") == ["S-2"]
    assert numbers(q="d-1") == ["D-1"]
    assert sorted(numbers(status="nonsense")) == ["D-1", "S-1", "S-2"]


def test_list_paginates(staff_client, account, monkeypatch):
    monkeypatch.setattr("invoices.views.INVOICES_PER_PAGE", 2)
    for n in range(3):
        make_invoice(account=account, number=f"P-{n}")

    second = staff_client.get(LIST_URL, {"status": "sent", "page": 2})

    assert len(second.context["page"].object_list) == 1
    assert "Page 2 of 2" in second.content.decode()
    assert "?status=sent&amp;page=1" in second.content.decode()


@pytest.mark.parametrize("count", [5, 50])
def test_list_query_count_does_not_grow_with_the_page(
    staff_client, account, count, django_assert_num_queries
):
    for n in range(count):
        make_invoice(account=account, number=f"Q-{n:03d}")
    staff_client.get(LIST_URL)

    # session, user, firm, the QuickBooks connection, count, and one page of invoices joined to their
    # accounts and sync links
    with django_assert_num_queries(6):
        response = staff_client.get(LIST_URL)
    assert len(response.context["page"].object_list) == count


# Detail and actions ---------------------------------------------------------------------------------


def test_detail_shows_lines_totals_and_payments(staff_client, account):
    service = ServiceFactory(firm=account.firm, name="Bookkeeping")
    invoice = make_invoice(account=account, number="INV-9", amounts=("200.00", "50.00"))
    invoice.lines.filter(position=1).update(service=service)
    payment = make_payment(
        account=account, amount="100.00", allocations={invoice: "100.00"}, reference="CHK-7"
    )

    response = staff_client.get(reverse("invoices:detail", args=[invoice.pk]))

    html = response.content.decode()
    assert "Bookkeeping" in html
    assert "Work 2" in html
    assert "250.00&nbsp;" in html  # total
    assert "150.00&nbsp;" in html  # balance
    assert "CHK-7" in html
    assert reverse("invoices:payment_detail", args=[payment.pk]) in html
    assert "Partially paid" in html


def test_send_marks_a_draft_sent(staff_client, account):
    invoice = make_invoice(account=account, status=Invoice.Status.DRAFT)

    response = staff_client.post(reverse("invoices:send", args=[invoice.pk]), follow=True)

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.SENT
    assert f"Invoice {invoice.number} marked as sent." in response.content.decode()


def test_send_of_a_sent_invoice_shows_the_error(staff_client, account):
    invoice = make_invoice(account=account)

    response = staff_client.post(reverse("invoices:send", args=[invoice.pk]), follow=True)

    assert "Only a draft invoice can be sent." in response.content.decode()
    assert 'class="message message--error" role="alert"' in response.content.decode()


def test_void_and_its_refusal_when_paid(staff_client, account):
    unpaid = make_invoice(account=account)
    paid = make_invoice(account=account)
    make_payment(account=account, amount="10.00", allocations={paid: "10.00"})

    staff_client.post(reverse("invoices:void", args=[unpaid.pk]))
    response = staff_client.post(reverse("invoices:void", args=[paid.pk]), follow=True)

    unpaid.refresh_from_db()
    paid.refresh_from_db()
    assert unpaid.status == Invoice.Status.VOID
    assert paid.status == Invoice.Status.PARTIALLY_PAID
    assert INVOICE_HAS_PAYMENTS.format(number=paid.number) in response.content.decode()


def test_delete_removes_the_invoice_unless_paid(staff_client, account):
    unpaid = make_invoice(account=account)
    paid = make_invoice(account=account)
    make_payment(account=account, amount="10.00", allocations={paid: "10.00"})

    response = staff_client.post(reverse("invoices:delete", args=[unpaid.pk]))
    assert response["Location"] == reverse("accounts:detail", args=[account.pk])
    assert not Invoice.objects.filter(pk=unpaid.pk).exists()

    response = staff_client.post(reverse("invoices:delete", args=[paid.pk]), follow=True)
    assert Invoice.objects.filter(pk=paid.pk).exists()
    assert INVOICE_HAS_PAYMENTS.format(number=paid.number) in response.content.decode()


@pytest.mark.parametrize("action", ["send", "void", "delete"])
def test_invoice_actions_refuse_get(staff_client, account, action):
    invoice = make_invoice(account=account, status=Invoice.Status.DRAFT)

    response = staff_client.get(reverse(f"invoices:{action}", args=[invoice.pk]))

    assert response.status_code == 405
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.DRAFT


def test_void_needs_the_csrf_token(staff_user, account):
    invoice = make_invoice(account=account)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)

    response = client.post(reverse("invoices:void", args=[invoice.pk]))

    assert response.status_code == 403
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.SENT


def test_payment_create_needs_the_csrf_token(staff_user, account):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)

    response = client.post(f"{PAYMENT_CREATE_URL}?account={account.pk}", payment_post())

    assert response.status_code == 403
    assert not Payment.objects.exists()


# Create and edit invoices -----------------------------------------------------------------------------


def test_create_page_prefills_the_next_number_dates_and_the_account(staff_client, account):
    make_invoice(account=account, number="INV-00001")

    response = staff_client.get(CREATE_URL, {"account": account.pk})

    form = response.context["form"]
    assert form["number"].value() == invoice_next_number(firm=account.firm) == "INV-00002"
    assert form["account"].value() == account.pk
    assert 'value="INV-00002"' in response.content.decode()
    assert f'<option value="{account.pk}" selected>Acme Corp</option>' in response.content.decode()


def test_create_saves_a_draft_with_its_lines(staff_client, account):
    service = ServiceFactory(firm=account.firm, name="Payroll", default_rate=Decimal("75.00"))

    response = staff_client.post(
        CREATE_URL,
        invoice_post(
            account=account,
            number="INV-77",
            lines=[
                {"service": service.pk, "quantity": "2", "rate": ""},  # blank rate: the service's
                {"description": "Tax return", "quantity": "1.5", "rate": "100.005"},
                {},  # an untouched blank row is ignored
            ],
        ),
    )

    assert response.status_code == 200  # 100.005 has three decimals: refused by the form
    assert "An amount goes to the cent: use at most two decimal places" in response.content.decode()
    assert not Invoice.objects.exists()

    response = staff_client.post(
        CREATE_URL,
        invoice_post(
            account=account,
            number="INV-77",
            lines=[
                {"service": service.pk, "quantity": "2", "rate": ""},
                {"description": "Tax return", "quantity": "1.5", "rate": "100.01"},
                {},
            ],
        ),
    )
    invoice = Invoice.objects.get(number="INV-77")
    assert response["Location"] == reverse("invoices:detail", args=[invoice.pk])
    assert invoice.status == Invoice.Status.DRAFT
    assert [(ln.rate, ln.amount) for ln in invoice.lines.all()] == [
        (Decimal("75.00"), Decimal("150.00")),
        (Decimal("100.01"), Decimal("150.02")),  # 1.5 x 100.01 = 150.015, half up
    ]
    assert invoice.total == Decimal("300.02")


def test_create_and_send(staff_client, account):
    staff_client.post(
        CREATE_URL,
        invoice_post(account=account, action="send", lines=[{"description": "Audit", "rate": "10"}]),
    )

    assert Invoice.objects.get().status == Invoice.Status.SENT


def test_create_rejects_a_negative_rate_on_its_row(staff_client, account):
    response = staff_client.post(
        CREATE_URL,
        invoice_post(
            account=account, lines=[{"description": "Ok", "rate": "5"}, {"description": "X", "rate": "-5"}]
        ),
    )

    lines = response.context["lines"]
    assert lines.forms[1].errors["rate"] == ["The rate cannot be negative."]
    assert not lines.forms[0].errors
    assert "The rate cannot be negative." in response.content.decode()
    assert not Invoice.objects.exists()


def test_create_maps_a_service_line_error_onto_its_row(staff_client, account):
    # Neither a service nor a description: only the service knows this rule; its "Line 2: ..." message
    # must land on the second row.
    response = staff_client.post(
        CREATE_URL,
        invoice_post(
            account=account, lines=[{"description": "Ok", "rate": "5"}, {"quantity": "2", "rate": "5"}]
        ),
    )

    lines = response.context["lines"]
    assert lines.forms[1].non_field_errors() == ["Choose a service or write a description."]
    assert "Choose a service or write a description." in response.content.decode()
    assert not Invoice.objects.exists()


def test_create_without_lines_says_so(staff_client, account):
    response = staff_client.post(CREATE_URL, invoice_post(account=account, lines=[{}]))

    assert response.context["lines"].non_form_errors() == ["Add at least one line to the invoice."]
    assert not Invoice.objects.exists()


def test_create_rejects_a_taken_number_and_a_due_date_before_issue(staff_client, account):
    make_invoice(account=account, number="INV-1")

    response = staff_client.post(
        CREATE_URL,
        invoice_post(
            account=account, number="inv-1", due_date="2026-02-01", lines=[{"description": "A", "rate": "1"}]
        ),
    )

    errors = response.context["form"].errors
    assert "already used" in errors["number"][0]
    assert errors["due_date"] == ["The due date cannot be before the issue date."]
    assert Invoice.objects.count() == 1


def test_create_offers_only_the_firms_accounts_and_services(staff_client, account, other_firm):
    theirs = AccountFactory(firm=other_firm, name="Their Client")
    their_service = ServiceFactory(firm=other_firm, name="Their Service")

    html = staff_client.get(CREATE_URL).content.decode()
    assert "Their Client" not in html
    assert "Their Service" not in html

    response = staff_client.post(
        CREATE_URL, invoice_post(account=theirs, lines=[{"service": their_service.pk, "rate": "1"}])
    )
    assert "account" in response.context["form"].errors
    assert "service" in response.context["lines"].forms[0].errors
    assert not Invoice.objects.exists()


def test_create_from_another_firms_account_is_404(staff_client, other_firm):
    theirs = AccountFactory(firm=other_firm)

    assert staff_client.get(CREATE_URL, {"account": theirs.pk}).status_code == 404
    assert staff_client.get(CREATE_URL, {"account": "abc"}).status_code == 404


def test_edit_shows_the_lines_and_replaces_them(staff_client, account):
    invoice = make_invoice(account=account, number="E-1", amounts=("10.00", "20.00"))
    url = reverse("invoices:edit", args=[invoice.pk])

    page = staff_client.get(url)
    assert [f["rate"].value() for f in page.context["lines"].forms[:2]] == [
        Decimal("10.00"),
        Decimal("20.00"),
    ]

    response = staff_client.post(
        url,
        invoice_post(
            account=account,
            number="E-1",
            initial_lines=2,
            lines=[
                {"description": "Work 1", "rate": "10.00"},
                {"description": "Work 2", "rate": "20.00", "DELETE": "on"},
                {"description": "Extra", "quantity": "3", "rate": "5"},
            ],
        ),
    )

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert [ln.description for ln in invoice.lines.all()] == ["Work 1", "Extra"]
    assert invoice.total == Decimal("25.00")


def test_edit_cannot_bring_the_total_below_what_was_paid(staff_client, account):
    invoice = make_invoice(account=account, number="E-2", amounts=("100.00",))
    make_payment(account=account, amount="80.00", allocations={invoice: "80.00"})

    response = staff_client.post(
        reverse("invoices:edit", args=[invoice.pk]),
        invoice_post(
            account=account, number="E-2", initial_lines=1, lines=[{"description": "Less", "rate": "50"}]
        ),
    )

    assert "is less than the 80.00 already paid" in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.total == Decimal("100.00")


def test_edit_of_a_void_invoice_redirects_with_a_message(staff_client, account):
    invoice = make_invoice(account=account)
    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.VOID)

    response = staff_client.get(reverse("invoices:edit", args=[invoice.pk]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("invoices:detail", args=[invoice.pk])
    assert "A void invoice cannot be changed." in response.content.decode()


# Payments -----------------------------------------------------------------------------------------


def test_payment_create_without_an_account_asks_for_one(staff_client, account, other_firm):
    AccountFactory(firm=other_firm, name="Their Client")

    response = staff_client.get(PAYMENT_CREATE_URL)

    html = response.content.decode()
    assert "invoices/payment_choose_account.html" in [t.name for t in response.templates]
    assert f'<option value="{account.pk}">Acme Corp</option>' in html
    assert "Their Client" not in html


def test_payment_page_lists_the_accounts_open_invoices(staff_client, account):
    open_invoice = make_invoice(account=account, number="OPEN-1", amounts=("300.00",))
    make_invoice(account=account, number="DRAFT-1", status=Invoice.Status.DRAFT)
    make_payment(account=account, amount="100.00", allocations={open_invoice: "100.00"})

    response = staff_client.get(PAYMENT_CREATE_URL, {"account": account.pk})

    html = response.content.decode()
    assert "OPEN-1" in html
    assert "200.00&nbsp;" in html  # its open balance
    assert "DRAFT-1" not in html


def test_payment_from_an_invoice_proposes_its_balance(staff_client, account):
    invoice = make_invoice(account=account, amounts=("120.00",))

    response = staff_client.get(PAYMENT_CREATE_URL, {"account": account.pk, "invoice": invoice.pk})

    assert response.context["form"]["amount"].value() == Decimal("120.00")
    assert response.context["allocations"].forms[0]["amount"].value() == Decimal("120.00")


def test_payment_create_applies_to_invoices_and_keeps_the_rest_unapplied(staff_client, account):
    first = make_invoice(account=account, number="A", amounts=("100.00",))
    second = make_invoice(account=account, number="B", amounts=("100.00",))

    response = staff_client.post(
        f"{PAYMENT_CREATE_URL}?account={account.pk}",
        payment_post(amount="150.00", reference="CHK-1", allocations=[(first, "100.00"), (second, "")]),
    )

    payment = Payment.objects.get()
    assert response["Location"] == reverse("invoices:payment_detail", args=[payment.pk])
    assert payment.amount_allocated == Decimal("100.00")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Invoice.Status.PAID
    assert second.status == Invoice.Status.SENT

    detail = staff_client.get(response["Location"]).content.decode()
    assert "CHK-1" in detail
    assert 'data-unapplied><span class="money">50.00&nbsp;' in detail


def test_payment_rejects_a_negative_amount_on_the_amount_field(staff_client, account):
    response = staff_client.post(f"{PAYMENT_CREATE_URL}?account={account.pk}", payment_post(amount="-10.00"))

    assert response.context["form"].errors["amount"] == ["Enter an amount greater than zero."]
    assert "Enter an amount greater than zero." in response.content.decode()
    assert not Payment.objects.exists()


def test_payment_rejects_an_allocation_above_the_invoice_balance_on_its_row(staff_client, account):
    small = make_invoice(account=account, number="SMALL", amounts=("40.00",))
    big = make_invoice(account=account, number="BIG", amounts=("500.00",))

    response = staff_client.post(
        f"{PAYMENT_CREATE_URL}?account={account.pk}",
        payment_post(amount="200.00", allocations=[(small, "50.00"), (big, "100.00")]),
    )

    rows = response.context["allocations"].forms
    assert rows[0].errors["amount"] == ["Invoice SMALL has 40.00 left to pay; 50.00 is more than that."]
    assert not rows[1].errors
    assert "Invoice SMALL has 40.00 left to pay" in response.content.decode()
    assert not Payment.objects.exists()
    assert not PaymentAllocation.objects.exists()


def test_payment_rejects_allocations_above_the_payment_visibly(staff_client, account):
    first = make_invoice(account=account, number="A", amounts=("100.00",))
    second = make_invoice(account=account, number="B", amounts=("100.00",))

    response = staff_client.post(
        f"{PAYMENT_CREATE_URL}?account={account.pk}",
        payment_post(amount="100.00", allocations=[(first, "60.00"), (second, "60.00")]),
    )

    message = PAYMENT_OVER_ALLOCATED.format(allocated="120.00", amount="100.00")
    assert response.context["allocations"].non_form_errors() == [message]
    assert f'id="allocation-errors"><p>{message}</p>' in response.content.decode()
    assert not Payment.objects.exists()
    first.refresh_from_db()
    assert first.amount_paid == Decimal("0.00")


def test_payment_rejects_a_negative_allocation(staff_client, account):
    invoice = make_invoice(account=account, number="N", amounts=("100.00",))

    response = staff_client.post(
        f"{PAYMENT_CREATE_URL}?account={account.pk}", payment_post(allocations=[(invoice, "-5")])
    )

    assert response.context["allocations"].forms[0].errors["amount"]
    assert not Payment.objects.exists()


def test_payment_rows_cannot_point_at_other_invoices(staff_client, account, other_firm):
    mine = make_invoice(account=account, number="MINE")
    sibling = make_invoice(account=AccountFactory(firm=account.firm), number="SIBLING")
    theirs = make_invoice(account=AccountFactory(firm=other_firm), number="THEIRS")

    for invoice in (sibling, theirs):
        response = staff_client.post(
            f"{PAYMENT_CREATE_URL}?account={account.pk}",
            payment_post(amount="10.00", allocations=[(mine, ""), (invoice, "10.00")]),
        )
        assert "invoice" in response.context["allocations"].forms[1].errors
    assert not Payment.objects.exists()


def test_payment_edit_changes_the_allocations(staff_client, account):
    first = make_invoice(account=account, number="A", amounts=("100.00",))
    second = make_invoice(account=account, number="B", amounts=("100.00",))
    payment = make_payment(account=account, amount="100.00", allocations={first: "100.00"})
    url = reverse("invoices:payment_edit", args=[payment.pk])

    page = staff_client.get(url)
    rows = page.context["allocations"].forms
    assert [(r.offered_invoice.number, r["amount"].value()) for r in rows] == [
        ("A", Decimal("100.00")),
        ("B", None),
    ]

    response = staff_client.post(
        url, payment_post(amount="100.00", allocations=[(first, "30"), (second, "70")])
    )

    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.amount_paid, second.amount_paid) == (Decimal("30.00"), Decimal("70.00"))


def test_payment_edit_over_allocation_saves_nothing(staff_client, account):
    invoice = make_invoice(account=account, number="A", amounts=("100.00",))
    payment = make_payment(account=account, amount="50.00", allocations={invoice: "50.00"})

    response = staff_client.post(
        reverse("invoices:payment_edit", args=[payment.pk]),
        payment_post(amount="50.00", allocations=[(invoice, "80.00")]),
    )

    assert response.status_code == 200
    assert PAYMENT_OVER_ALLOCATED.format(allocated="80.00", amount="50.00") in response.content.decode()
    payment.refresh_from_db()
    assert payment.amount_allocated == Decimal("50.00")


def test_payment_delete_reopens_the_invoices(staff_client, account):
    invoice = make_invoice(account=account, amounts=("100.00",))
    payment = make_payment(account=account, amount="100.00", allocations={invoice: "100.00"})

    assert staff_client.get(reverse("invoices:payment_delete", args=[payment.pk])).status_code == 405
    response = staff_client.post(reverse("invoices:payment_delete", args=[payment.pk]))

    assert response["Location"] == reverse("accounts:detail", args=[account.pk])
    assert not Payment.objects.exists()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.SENT


def test_payment_detail_shows_allocations(staff_client, account):
    invoice = make_invoice(account=account, number="PD-1", amounts=("100.00",))
    payment = make_payment(
        account=account, amount="100.00", allocations={invoice: "75.00"}, paid_on=date(2026, 4, 2)
    )

    html = staff_client.get(reverse("invoices:payment_detail", args=[payment.pk])).content.decode()

    assert "Payment of Apr 2, 2026" in html
    assert "PD-1" in html
    assert "75.00&nbsp;" in html
    assert 'data-unapplied><span class="money">25.00&nbsp;' in html


@pytest.mark.parametrize("line_count", [1, 8])
def test_edit_page_queries_do_not_grow_with_the_lines(
    staff_client, account, line_count, django_assert_num_queries
):
    ServiceFactory(firm=account.firm)
    invoice = make_invoice(account=account, amounts=("1.00",) * line_count)

    # session, user, firm, invoice, lines, services and tax rates (once each for every row's select),
    # accounts
    with django_assert_num_queries(8):
        response = staff_client.get(reverse("invoices:edit", args=[invoice.pk]))
    assert len(response.context["lines"].forms) == line_count + 2


# Issue 13, item 8: an amount beyond the money column's 14 digits is a message, never a DataError.

TOO_LARGE = "QuickBooks and qbsync allow at most 999,999,999,999.99"


def test_create_refuses_a_line_amount_beyond_the_money_column_on_its_row(staff_client, account):
    response = staff_client.post(
        CREATE_URL,
        invoice_post(
            account=account,
            lines=[
                {"description": "Ok", "rate": "5"},
                {"description": "Huge", "quantity": "1000", "rate": "999999999999.99"},
            ],
        ),
    )

    assert response.status_code == 200
    [message] = response.context["lines"].forms[1].non_field_errors()
    assert message.startswith("This amount is too large")
    assert TOO_LARGE in message
    assert TOO_LARGE in response.content.decode()
    assert "digits" not in response.content.decode()
    assert not Invoice.objects.exists()


def test_create_refuses_a_total_beyond_the_money_column(staff_client, account):
    big = {"description": "Big", "rate": "600000000000.00"}  # each line fits; their sum does not
    response = staff_client.post(CREATE_URL, invoice_post(account=account, lines=[big, big]))

    assert response.status_code == 200
    [message] = response.context["lines"].non_form_errors()
    assert message.startswith("The invoice total 1,200,000,000,000.00 is too large")
    assert TOO_LARGE in message
    assert not Invoice.objects.exists()


def test_edit_refuses_a_total_beyond_the_money_column(staff_client, account):
    invoice = make_invoice(account=account, number="INV-9", amounts=("10.00",))
    url = reverse("invoices:edit", args=[invoice.pk])
    response = staff_client.post(
        url,
        invoice_post(
            account=account,
            number="INV-9",
            lines=[{"description": "x", "quantity": "9999", "rate": "999999999.99"}],
        ),
    )

    assert response.status_code == 200
    assert TOO_LARGE in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.total == Decimal("10.00")


@pytest.mark.parametrize("amount", ["1000000000000.00", "99999999999999", "1e20"])
def test_payment_refuses_an_amount_beyond_the_money_column_in_words(staff_client, account, amount):
    response = staff_client.post(f"{PAYMENT_CREATE_URL}?account={account.pk}", payment_post(amount=amount))

    assert response.status_code == 200
    [message] = response.context["form"].errors["amount"]
    assert message.startswith("This amount is too large")
    assert TOO_LARGE in message
    assert not Payment.objects.exists()


# Issue 13, item 9: a double submit of a money form (a double click, a resend) makes one record. The page
# carries a one-time token; the second POST of it is answered with the first's record.


def page_token(client, url) -> str:
    token = client.get(url).context["form"]["submission_token"].value()
    assert token
    return token


def test_each_create_page_carries_a_fresh_one_time_token(staff_client, account):
    first, second = page_token(staff_client, CREATE_URL), page_token(staff_client, CREATE_URL)
    assert first != second
    page = staff_client.get(CREATE_URL).content.decode()
    assert 'type="hidden" name="submission_token"' in page
    payment_page = staff_client.get(f"{PAYMENT_CREATE_URL}?account={account.pk}").content.decode()
    assert 'type="hidden" name="submission_token"' in payment_page


def test_submitting_the_same_invoice_form_twice_makes_one_invoice(staff_client, account):
    token = page_token(staff_client, CREATE_URL)
    body = invoice_post(
        account=account, action="send", submission_token=token, lines=[{"description": "Audit", "rate": "10"}]
    )

    first = staff_client.post(CREATE_URL, body)
    second = staff_client.post(CREATE_URL, body)

    invoice = Invoice.objects.get()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("invoices:detail", args=[invoice.pk])
    # A fresh page is a new form: it creates a second invoice.
    again = invoice_post(
        account=account,
        number="INV-2",
        submission_token=page_token(staff_client, CREATE_URL),
        lines=[{"description": "Audit", "rate": "10"}],
    )
    assert staff_client.post(CREATE_URL, again).status_code == 302
    assert Invoice.objects.count() == 2


def test_a_refused_submit_does_not_use_up_its_token(staff_client, account):
    token = page_token(staff_client, CREATE_URL)
    refused = staff_client.post(CREATE_URL, invoice_post(account=account, submission_token=token, lines=[{}]))
    assert refused.status_code == 200
    assert refused.context["form"]["submission_token"].value() == token  # kept for the corrected submit

    fixed = invoice_post(
        account=account, submission_token=token, lines=[{"description": "Audit", "rate": "10"}]
    )
    assert staff_client.post(CREATE_URL, fixed).status_code == 302
    assert Invoice.objects.count() == 1


def test_submitting_the_same_unapplied_payment_form_twice_makes_one_payment(staff_client, account):
    url = f"{PAYMENT_CREATE_URL}?account={account.pk}"
    body = payment_post(amount="150.00", submission_token=page_token(staff_client, url))

    first = staff_client.post(url, body)
    second = staff_client.post(url, body)

    payment = Payment.objects.get()
    assert first["Location"] == second["Location"] == reverse("invoices:payment_detail", args=[payment.pk])


def test_a_token_is_the_firms_own(staff_client, account, other_firm):
    from invoices.services import InvoiceData, InvoiceLineData, invoice_create

    token = page_token(staff_client, CREATE_URL)
    other_account = AccountFactory(firm=other_firm, name="Elsewhere")
    elsewhere = invoice_create(
        firm=other_firm,
        data=InvoiceData(
            account=other_account,
            number="X-1",
            issue_date=date(2026, 3, 1),
            due_date=date(2026, 3, 31),
            lines=[InvoiceLineData(description="x", rate=Decimal("1"))],
            submission_token=token,
        ),
    )
    response = staff_client.post(
        CREATE_URL,
        invoice_post(account=account, submission_token=token, lines=[{"description": "Audit", "rate": "10"}]),
    )
    mine = Invoice.objects.get(firm=account.firm)
    assert response["Location"] == reverse("invoices:detail", args=[mine.pk])
    assert mine.pk != elsewhere.pk

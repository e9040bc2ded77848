import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account
from accounts.services import ACCOUNT_NAME_EMPTY
from invoices.models import Invoice
from tests.factories import AccountFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db

LIST_URL = reverse("accounts:list")
CREATE_URL = reverse("accounts:create")


def _form(**overrides) -> dict:
    return {"name": "Bright Ledger LLC", "kind": Account.Kind.COMPANY, "email": "", "phone": ""} | overrides


def _rows(response) -> list[str]:
    return [account.name for account in response.context["page"].object_list]


# List ----------------------------------------------------------------------------------------------


def test_list_shows_the_firms_accounts_with_columns(staff_client, firm, other_firm):
    account = AccountFactory(firm=firm, name="Acme Corp", email="ap@acme.test", phone="555-0100")
    make_invoice(account=account, amounts=("1234.50",))
    AccountFactory(firm=other_firm, name="Someone Else's Client")

    response = staff_client.get(LIST_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("accounts:detail", args=[account.pk]) in html
    assert "ap@acme.test" in html
    assert "555-0100" in html
    assert '1,234.50&nbsp;<span class="money__currency">USD</span>' in html
    assert "Someone Else" not in html
    assert 'class="qb-status qb-status--not-connected" tabindex="0" aria-describedby=' in html
    assert "accounts/_quickbooks_cell.html" in [t.name for t in response.templates]


def test_list_shows_the_firm_and_the_signed_in_user_in_the_nav(staff_client, firm, staff_user):
    html = staff_client.get(LIST_URL).content.decode()

    assert firm.name in html
    assert staff_user.username in html
    assert ">Staff</span>" in html
    assert f'action="{reverse("logout")}"' in html


def test_list_searches_name_email_and_phone(staff_client, firm):
    AccountFactory(firm=firm, name="Bright Ledger", email="x@bright.test", phone="555-0199")
    AccountFactory(firm=firm, name="Acme", email="ap@acme.test", phone="555-0100")

    assert _rows(staff_client.get(LIST_URL, {"q": "bright"})) == ["Bright Ledger"]
    assert _rows(staff_client.get(LIST_URL, {"q": "ap@acme"})) == ["Acme"]
    assert _rows(staff_client.get(LIST_URL, {"q": "0199"})) == ["Bright Ledger"]
    assert "No accounts match" in staff_client.get(LIST_URL, {"q": "nothing"}).content.decode()


def test_list_defaults_to_active_and_filters_archived(staff_client, firm):
    AccountFactory(firm=firm, name="Active Co")
    AccountFactory(firm=firm, name="Archived Co", is_active=False)

    assert _rows(staff_client.get(LIST_URL)) == ["Active Co"]
    assert _rows(staff_client.get(LIST_URL, {"status": "archived"})) == ["Archived Co"]


def test_list_paginates_fifty_per_page_keeping_the_search(staff_client, firm):
    for n in range(51):
        AccountFactory(firm=firm, name=f"Client {n:03d}")
    AccountFactory(firm=firm, name="Other")

    first = staff_client.get(LIST_URL, {"q": "client"})
    second = staff_client.get(LIST_URL, {"q": "client", "page": 2})

    assert len(_rows(first)) == 50
    assert _rows(second) == ["Client 050"]
    assert "?q=client&amp;page=2" in first.content.decode()
    assert "Page 2 of 2 (51 in all)" in second.content.decode()
    # A page out of range shows the last page rather than an error.
    assert _rows(staff_client.get(LIST_URL, {"q": "client", "page": 99})) == ["Client 050"]


@pytest.mark.parametrize("count", [5, 50])
def test_list_query_count_does_not_grow_with_the_page(staff_client, firm, count, django_assert_num_queries):
    for n in range(count):
        account = AccountFactory(firm=firm, name=f"Client {n:03d}")
        make_invoice(account=account)
    staff_client.get(LIST_URL)  # warm up anything cached per process

    # session, user, firm, QuickBooks connection (none: no status counts), whether a first sync is due
    # (for the rows' tooltips), count, and one page of accounts with their balances and sync links
    with django_assert_num_queries(7):
        response = staff_client.get(LIST_URL)
    assert len(_rows(response)) == count


# Create and edit -----------------------------------------------------------------------------------


def test_create_saves_and_redirects_to_the_account(staff_client, firm):
    response = staff_client.post(CREATE_URL, _form(name="  Bright Ledger LLC ", email="ap@bright.test"))

    account = Account.objects.get(firm=firm)
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:detail", args=[account.pk])
    assert account.name == "Bright Ledger LLC"
    assert account.email == "ap@bright.test"


@pytest.mark.parametrize("name", ["", "   "])
def test_create_rejects_a_blank_name(staff_client, firm, name):
    response = staff_client.post(CREATE_URL, _form(name=name))

    assert response.status_code == 200
    assert response.context["form"].errors["name"] == [ACCOUNT_NAME_EMPTY]
    assert ACCOUNT_NAME_EMPTY in response.content.decode()
    assert not Account.objects.exists()


def test_create_rejects_a_name_differing_only_in_case(staff_client, firm):
    AccountFactory(firm=firm, name="Acme Corp")

    response = staff_client.post(CREATE_URL, _form(name="ACME CORP"))

    assert response.status_code == 200
    assert "already called" in response.context["form"].errors["name"][0]
    assert "already called &quot;Acme Corp&quot;" in response.content.decode()
    assert Account.objects.filter(firm=firm).count() == 1


def test_create_allows_a_name_used_by_another_firm(staff_client, firm, other_firm):
    AccountFactory(firm=other_firm, name="Acme Corp")

    response = staff_client.post(CREATE_URL, _form(name="Acme Corp"))

    assert response.status_code == 302
    assert Account.objects.filter(firm=firm, name="Acme Corp").exists()


def test_create_rejects_a_bad_email(staff_client):
    response = staff_client.post(CREATE_URL, _form(email="not-an-email"))

    assert "email" in response.context["form"].errors
    assert not Account.objects.exists()


def test_create_page_renders_labelled_fields(staff_client):
    html = staff_client.get(CREATE_URL).content.decode()

    assert '<label for="id_name">Name:</label>' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_edit_shows_current_values_and_saves(staff_client, firm):
    account = AccountFactory(firm=firm, name="Acme", phone="555-0100")
    url = reverse("accounts:edit", args=[account.pk])

    assert 'value="555-0100"' in staff_client.get(url).content.decode()
    response = staff_client.post(url, _form(name="Acme Corp", phone="555-0111"))

    account.refresh_from_db()
    assert response.status_code == 302
    assert (account.name, account.phone) == ("Acme Corp", "555-0111")


def test_edit_may_change_only_the_case_of_its_own_name(staff_client, firm):
    account = AccountFactory(firm=firm, name="acme")

    staff_client.post(reverse("accounts:edit", args=[account.pk]), _form(name="Acme"))

    account.refresh_from_db()
    assert account.name == "Acme"


def test_edit_rejects_another_accounts_name(staff_client, firm):
    AccountFactory(firm=firm, name="Acme")
    account = AccountFactory(firm=firm, name="Bright")

    response = staff_client.post(reverse("accounts:edit", args=[account.pk]), _form(name="acme"))

    assert "already called" in response.context["form"].errors["name"][0]
    account.refresh_from_db()
    assert account.name == "Bright"


# Detail -------------------------------------------------------------------------------------------


def test_detail_info_tab_shows_details_invoices_and_payments(staff_client, firm):
    account = AccountFactory(firm=firm, name="Acme", email="ap@acme.test", city="Springfield")
    invoice = make_invoice(account=account, number="INV-777", amounts=("300.00",))
    make_payment(account=account, amount="120.00", allocations={invoice: "100.00"}, reference="CHK-42")

    response = staff_client.get(reverse("accounts:detail", args=[account.pk]))

    html = response.content.decode()
    assert response.context["tab"] == "info"
    assert "Springfield" in html
    assert "ap@acme.test" in html
    assert reverse("invoices:detail", args=[invoice.pk]) in html
    assert "Partially paid" in html
    assert "CHK-42" in html
    # open balance 200.00; payment allocated 100.00 with 20.00 unapplied
    assert "200.00&nbsp;" in html
    assert "100.00&nbsp;" in html
    assert "20.00&nbsp;" in html
    assert f"{reverse('invoices:create')}?account={account.pk}" in html


def test_detail_without_a_connection_shows_not_connected(staff_client, firm):
    account = AccountFactory(firm=firm)

    response = staff_client.get(reverse("accounts:detail", args=[account.pk]))

    html = response.content.decode()
    assert 'class="qb-status qb-status--not-connected" tabindex="0" aria-describedby=' in html
    assert "accounts/_quickbooks_section.html" in [t.name for t in response.templates]
    # The "⋯" menu needs a connection and an owner or admin: tests/accounts/test_quickbooks_views.py.
    assert "accounts/_actions_menu.html" not in [t.name for t in response.templates]


def test_detail_of_an_archived_account_offers_restore(staff_client, firm):
    account = AccountFactory(firm=firm, is_active=False)

    html = staff_client.get(reverse("accounts:detail", args=[account.pk])).content.decode()

    assert "Archived</span>" in html
    assert reverse("accounts:restore", args=[account.pk]) in html
    assert reverse("accounts:archive", args=[account.pk]) not in html


# Archive and restore --------------------------------------------------------------------------------


def test_archive_and_restore(staff_client, firm):
    account = AccountFactory(firm=firm)

    response = staff_client.post(reverse("accounts:archive", args=[account.pk]), follow=True)
    account.refresh_from_db()
    assert not account.is_active
    assert "archived" in response.content.decode()

    staff_client.post(reverse("accounts:restore", args=[account.pk]))
    account.refresh_from_db()
    assert account.is_active


@pytest.mark.parametrize("action", ["archive", "restore"])
def test_archive_and_restore_refuse_get(staff_client, firm, action):
    account = AccountFactory(firm=firm, is_active=action == "archive")

    response = staff_client.get(reverse(f"accounts:{action}", args=[account.pk]))

    assert response.status_code == 405
    account.refresh_from_db()
    assert account.is_active is (action == "archive")


def test_archive_needs_the_csrf_token(staff_user, firm):
    account = AccountFactory(firm=firm)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)

    response = client.post(reverse("accounts:archive", args=[account.pk]))

    assert response.status_code == 403
    account.refresh_from_db()
    assert account.is_active


def test_create_needs_the_csrf_token(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)

    response = client.post(CREATE_URL, _form())

    assert response.status_code == 403
    assert not Account.objects.exists()


def test_invoices_of_the_account_do_not_leak_balance_of_drafts(staff_client, firm):
    account = AccountFactory(firm=firm)
    make_invoice(account=account, amounts=("80.00",), status=Invoice.Status.DRAFT)

    response = staff_client.get(reverse("accounts:detail", args=[account.pk]))

    assert response.context["account"].open_balance == 0


def test_create_refuses_a_zero_width_space_and_says_which_character(staff_client, firm):
    AccountFactory(firm=firm, name="Acme Corp")

    response = staff_client.post(CREATE_URL, _form(name="Acme\u200b Corp"))

    assert response.status_code == 200
    [message] = response.context["form"].errors["name"]
    assert "U+200B ZERO WIDTH SPACE" in message
    assert "U+200B ZERO WIDTH SPACE" in response.content.decode()
    assert Account.objects.filter(firm=firm).count() == 1


def test_create_stores_a_name_pasted_decomposed_as_composed(staff_client, firm):
    staff_client.post(CREATE_URL, _form(name="Cafe\u0301"))

    assert Account.objects.get(firm=firm).name == "Café"

"""Signing in and out, and who may open which page."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account
from invoices.models import Invoice
from qbsync.health.models import Notification
from qbsync.sync.models import BulkSyncPlan
from tests.factories import (
    TEST_PASSWORD,
    AccountFactory,
    UserFactory,
    make_invoice,
    make_payment,
    make_tax_rate,
)
from tests.test_tenant_isolation import (
    FLOW_ONLY,
    MANAGERS_ONLY,
    NOT_FIRM_PAGES,
    POST_ONLY,
    discover_urls,
)

pytestmark = pytest.mark.django_db

# Pages that are not firm pages: the sign-in pages, the probes and Intuit's webhook (each tested where
# NOT_FIRM_PAGES says).
PUBLIC = set(NOT_FIRM_PAGES)


@pytest.fixture
def pages(firm) -> dict[str, str]:
    """Every firm page (by URL name) with an id of this firm's data where it needs one."""
    account = AccountFactory(firm=firm)
    draft = make_invoice(account=account, status=Invoice.Status.DRAFT, number="P-DRAFT")
    sent = make_invoice(account=account, number="P-SENT")
    payment = make_payment(account=account, amount="5.00", allocations={sent: "5.00"})
    notice = Notification.objects.create(
        firm=firm, recipient=UserFactory(firm=firm, role="admin"), kind="failures", title="t", body="b"
    )
    ids = {
        "quickbooks:bulk_": BulkSyncPlan.objects.create(firm=firm).pk,
        "health:errors_account": account.pk,
        "health:errors_invoice": sent.pk,
        "health:errors_payment": payment.pk,
        "health:notification": notice.pk,
        "changes:invoice": sent.pk,
        "accounts": account.pk,
        "invoices:send": draft.pk,
        "invoices:payment": payment.pk,
        "invoices": sent.pk,
        "invoicing:tax_rate": make_tax_rate(firm, "VAT 20%", "20").pk,
    }
    urls = {}
    for name, arguments in discover_urls():
        if name in PUBLIC:
            continue
        if not arguments:
            urls[name] = reverse(name)
            continue
        pk = next(value for prefix, value in ids.items() if name.startswith(prefix))
        urls[name] = reverse(name, kwargs={"pk": pk})
    return urls


def test_login_page_renders_a_labelled_form(client):
    response = client.get(reverse("login"))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_username">Username:</label>' in html
    assert '<label for="id_password">Password:</label>' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'aria-label="Main"' not in html  # no navigation before signing in


def test_login_with_good_credentials_lands_on_the_accounts(client, staff_user):
    response = client.post(reverse("login"), {"username": staff_user.username, "password": TEST_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:list")


def test_login_with_a_wrong_password_says_so(client, staff_user):
    response = client.post(reverse("login"), {"username": staff_user.username, "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_keeps_next(client, staff_user):
    target = reverse("invoices:list")

    response = client.post(
        f"{reverse('login')}?next={target}",
        {"username": staff_user.username, "password": TEST_PASSWORD, "next": target},
    )

    assert response["Location"] == target


def test_logout_is_a_post_from_the_nav(staff_client):
    html = staff_client.get(reverse("accounts:list")).content.decode()
    assert f'<form method="post" action="{reverse("logout")}"' in html

    assert staff_client.get(reverse("logout")).status_code == 405
    response = staff_client.post(reverse("logout"))

    assert response["Location"] == reverse("login")
    assert staff_client.get(reverse("accounts:list")).status_code == 302


def test_anonymous_users_are_sent_to_login(client, pages):
    before = list(Account.objects.values())
    for name, url in pages.items():
        response = client.post(url) if name in POST_ONLY else client.get(url)
        assert response.status_code == 302, name
        assert response["Location"] == f"{reverse('login')}?next={url}", name
    assert list(Account.objects.values()) == before


def test_a_user_without_a_firm_gets_403_everywhere(client, pages):
    loner = UserFactory(firm=None, username="no-firm")
    client.force_login(loner)
    for name, url in pages.items():
        response = client.post(url) if name in POST_ONLY else client.get(url)
        assert response.status_code == 403, name
    assert "not a member of a firm" in client.get(reverse("accounts:list")).content.decode()


@pytest.mark.parametrize("client_fixture", ["staff_client", "firm_admin_client", "owner_client"])
def test_every_role_can_open_every_page(request, pages, client_fixture):
    client = request.getfixturevalue(client_fixture)
    for name, url in pages.items():
        if name in POST_ONLY or name in FLOW_ONLY:
            continue
        # Syncing (one account, or the first bulk sync) and changing the firm's settings are for owners and
        # admins; staff see the statuses and the tax rates but get 403 there.
        expected = 403 if client_fixture == "staff_client" and name in MANAGERS_ONLY else 200
        assert client.get(url).status_code == expected, name


def test_staff_may_not_use_the_quickbooks_actions(staff_client, pages):
    for name in MANAGERS_ONLY:
        response = staff_client.post(pages[name]) if name in POST_ONLY else staff_client.get(pages[name])
        assert response.status_code == 403, name


def test_staff_can_edit_practice_data(staff_client, firm):
    account = AccountFactory(firm=firm, name="Before")

    staff_client.post(reverse("accounts:edit", args=[account.pk]), {"name": "After", "kind": "company"})
    staff_client.post(reverse("accounts:archive", args=[account.pk]))

    account.refresh_from_db()
    assert (account.name, account.is_active) == ("After", False)


def test_nav_shows_the_firm_user_and_role(owner_client, firm, owner):
    html = owner_client.get(reverse("invoices:list")).content.decode()

    assert f'<span class="topbar__firm">{firm.name}</span>' in html
    assert owner.username in html
    assert '<span class="role-badge" title="Your role in' in html
    assert ">Owner</span>" in html
    assert f'href="{reverse("invoices:list")}" aria-current="page">Invoices</a>' in html
    assert 'id="nav-clients">Clients</span>' in html


def test_missing_page_renders_the_404_template(staff_client):
    response = staff_client.get("/no/such/page/")

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_csrf_is_enforced_on_login_forms(staff_user):
    client = Client(enforce_csrf_checks=True)

    response = client.post(reverse("login"), {"username": staff_user.username, "password": TEST_PASSWORD})

    assert response.status_code == 403

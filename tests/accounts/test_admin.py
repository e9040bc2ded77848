import pytest
from django.urls import reverse

from accounts.models import Account
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def _account_form(firm, **overrides):
    return {
        "firm": firm.pk,
        "name": "New Client",
        "kind": "company",
        "email": "",
        "phone": "",
        "address_line1": "",
        "address_line2": "",
        "city": "",
        "region": "",
        "postal_code": "",
        "country": "",
        "is_active": "on",
    } | overrides


def test_admin_creates_an_account_through_the_service(admin_client, firm):
    response = admin_client.post(
        reverse("admin:accounts_account_add"), _account_form(firm, name="  Trimmed  ")
    )
    assert response.status_code == 302
    assert Account.objects.get(firm=firm).name == "Trimmed"


@pytest.mark.parametrize(
    ("name", "message"), [("   ", "This field is required"), ("acme llc", "already called")]
)
def test_admin_rejects_bad_names_with_a_clear_error(admin_client, firm, name, message):
    AccountFactory(firm=firm, name="Acme LLC")
    response = admin_client.post(reverse("admin:accounts_account_add"), _account_form(firm, name=name))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Account.objects.filter(firm=firm).count() == 1


def test_admin_list_search_and_filters(admin_client, firm):
    AccountFactory(firm=firm, name="Findable Bakery")
    AccountFactory(firm=firm, name="Other Co")
    response = admin_client.get(reverse("admin:accounts_account_changelist"), {"q": "findable"})
    assert "Findable Bakery" in response.content.decode()
    assert "Other Co" not in response.content.decode()

import pytest
from django.urls import reverse

from qbsync.firms.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SETTINGS_URL = reverse("settings")


def test_settings_shows_the_firm_and_its_currency(staff_client, firm):
    firm.currency = "CAD"
    firm.save(update_fields=["currency"])

    response = staff_client.get(SETTINGS_URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert f"<dd>{firm.name}</dd>" in html
    assert "<dd>CAD</dd>" in html


def test_settings_lists_members_owner_first_with_roles(staff_client, firm, staff_user):
    UserFactory(firm=firm, role=User.Role.ADMIN, username="zed-admin", first_name="Zed", last_name="Admin")
    UserFactory(firm=firm, role=User.Role.OWNER, username="olga", first_name="Olga", last_name="Owner")
    UserFactory(firm=firm, role=User.Role.STAFF, username="gone", is_active=False)

    response = staff_client.get(SETTINGS_URL)

    members = list(response.context["members"])
    assert [m.role for m in members] == ["owner", "admin", "staff"]
    html = response.content.decode()
    assert "Olga Owner" in html
    assert '<span class="role-badge role-badge--admin">Admin</span>' in html
    assert f'{staff_user.username} <span class="muted">(you)</span>' in html
    assert "gone" not in [m.username for m in members]


def test_settings_has_the_quickbooks_card_for_everyone(staff_client):
    html = staff_client.get(SETTINGS_URL).content.decode()

    assert "Integrations" in html
    assert "QuickBooks Online" in html
    assert "Not connected" in html
    assert 'href="/settings/integrations/quickbooks/"' in html


def test_settings_card_shows_the_connected_company(staff_client, qbo_connection):
    html = staff_client.get(SETTINGS_URL).content.decode()

    assert "Connected" in html
    assert qbo_connection.company_name in html
    assert "Not connected" not in html


def test_settings_is_for_firm_members(client):
    assert client.get(SETTINGS_URL)["Location"].startswith(reverse("login"))


def test_healthz_still_answers(client):
    assert client.get(reverse("healthz")).json() == {"status": "ok"}

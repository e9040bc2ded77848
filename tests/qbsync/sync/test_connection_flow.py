"""Settings > Integrations > QuickBooks, driven end to end: our views, the sandbox's consent page and token
endpoint over HTTP, and the database."""

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connection as db
from django.urls import reverse

from qbsync.sync.models import QuickBooksConnection
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SETTINGS_URL = "/settings/integrations/quickbooks/"


def start_connect(client, intent: str = "connect", **extra) -> str:
    response = client.post(reverse("quickbooks:connect"), {"intent": intent, **extra})
    assert response.status_code == 302
    return response["Location"]


def consent(sandbox, authorize_url: str, *, realm_id: str | None, action: str = "connect") -> str:
    """Play the person on the sandbox's consent page; returns where the browser is sent back to."""
    http = requests.Session()
    http.trust_env = False
    page = http.get(authorize_url, timeout=10)
    assert page.status_code == 200
    assert "Choose a company" in page.text
    form = {
        unescape(n): unescape(v)
        for n, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    }
    form |= {"action": action} | ({"realmId": realm_id} if realm_id else {})
    back = http.post(f"{sandbox.base_url}/connect/oauth2", data=form, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    return back.headers["Location"]


def follow_back(client, callback_url: str):
    parts = urlsplit(callback_url)
    assert parts.path == reverse("quickbooks:callback")
    return client.get(
        parts.path, parse_qs(parts.query) and {k: v[0] for k, v in parse_qs(parts.query).items()}
    )


def test_owner_connects_through_the_real_authorize_flow(owner_client, firm, owner, qbo, qbo_realm):
    authorize_url = start_connect(owner_client)
    assert authorize_url.startswith(f"{qbo.base_url}/connect/oauth2?")
    assert "com.intuit.quickbooks.accounting" in parse_qs(urlsplit(authorize_url).query)["scope"][0]
    response = follow_back(owner_client, consent(qbo, authorize_url, realm_id=qbo_realm))
    assert response.status_code == 302
    assert response["Location"] == SETTINGS_URL

    connection = QuickBooksConnection.objects.get(firm=firm)
    assert connection.realm_id == qbo_realm
    assert connection.status == QuickBooksConnection.Status.CONNECTED
    assert connection.company_name.startswith("Test Company")
    assert connection.connected_by == owner
    assert connection.access_token
    assert connection.refresh_token
    assert connection.access_token_expires_at
    assert connection.refresh_token_expires_at
    # First-connect defaults: the "Individual" customer type and the "Services" item.
    assert (connection.default_customer_type_name, connection.default_item_name) == ("Individual", "Services")

    page = owner_client.get(SETTINGS_URL).content.decode()
    assert connection.company_name in page
    assert qbo_realm in page
    assert "Connected" in page


def test_tokens_are_encrypted_in_the_raw_database(qbo_connection):
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM sync_quickbooksconnection WHERE id = %s",
            [qbo_connection.pk],
        )
        raw_access, raw_refresh = cursor.fetchone()
    assert raw_access.startswith("fernet:")
    assert qbo_connection.access_token not in raw_access
    assert qbo_connection.refresh_token not in raw_refresh


@pytest.mark.parametrize("tamper", ["wrong-state", "missing-state", "no-session"])
def test_a_tampered_or_missing_state_saves_nothing(owner_client, client, firm, qbo, qbo_realm, tamper):
    callback = consent(qbo, start_connect(owner_client), realm_id=qbo_realm)
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    if tamper == "wrong-state":
        params["state"] = "forged"
    elif tamper == "missing-state":
        params.pop("state")
    else:
        owner_client.session.flush()
        owner_client.cookies.clear()
        owner = firm.members.get(role="owner")
        owner_client.force_login(owner)
    response = owner_client.get(reverse("quickbooks:callback"), params)
    assert response.status_code == 403
    assert "could not be verified" in response.content.decode()
    assert not QuickBooksConnection.objects.exists()


def test_denied_consent_saves_nothing(owner_client, qbo, qbo_realm):
    response = follow_back(
        owner_client, consent(qbo, start_connect(owner_client), realm_id=None, action="deny")
    )
    assert response.status_code == 400
    assert "chose not to allow" in response.content.decode()
    assert not QuickBooksConnection.objects.exists()


def test_a_callback_without_realm_id_saves_nothing(owner_client, qbo, qbo_realm):
    callback = consent(qbo, start_connect(owner_client), realm_id=qbo_realm)
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items() if k != "realmId"}
    response = owner_client.get(reverse("quickbooks:callback"), params)
    assert response.status_code == 400
    assert "no company id" in response.content.decode()
    assert not QuickBooksConnection.objects.exists()


def test_a_reused_callback_is_refused(owner_client, qbo, qbo_realm):
    callback = consent(qbo, start_connect(owner_client), realm_id=qbo_realm)
    assert follow_back(owner_client, callback).status_code == 302
    version = QuickBooksConnection.objects.get().token_version
    # The state was used up; the code would be refused by Intuit anyway.
    assert follow_back(owner_client, callback).status_code == 403
    assert QuickBooksConnection.objects.get().token_version == version


def test_reconnect_to_the_same_company_keeps_the_connection(owner_client, qbo, qbo_connection):
    QuickBooksConnection.objects.filter(pk=qbo_connection.pk).update(
        status=QuickBooksConnection.Status.NEEDS_RECONNECT,
        status_reason="revoked",
        default_item_id="1",
        default_item_name="Services",
    )
    follow_back(owner_client, consent(qbo, start_connect(owner_client), realm_id=qbo_connection.realm_id))
    connection = QuickBooksConnection.objects.get()
    assert connection.pk == qbo_connection.pk
    assert connection.status == QuickBooksConnection.Status.CONNECTED
    assert connection.default_item_id == "1"
    assert connection.token_version > qbo_connection.token_version


def test_reconnect_to_another_company_is_refused_unless_starting_over(owner_client, qbo, qbo_connection):
    other_realm = qbo.control.create_company("Somebody Else's Books", customer_types=["Individual"])
    QuickBooksConnection.objects.filter(pk=qbo_connection.pk).update(
        default_item_id="1", default_item_name="x"
    )
    response = follow_back(owner_client, consent(qbo, start_connect(owner_client), realm_id=other_realm))
    assert response.status_code == 409
    page = response.content.decode()
    assert "Somebody Else&#x27;s Books" in page or "Somebody Else's Books" in page
    assert qbo_connection.realm_id in page
    unchanged = QuickBooksConnection.objects.get()
    assert (unchanged.realm_id, unchanged.token_version) == (
        qbo_connection.realm_id,
        qbo_connection.token_version,
    )
    assert qbo.control.company(other_realm)["oauth"]["revoked_grants"] == 1

    assert start_connect(owner_client, "start_over").endswith(SETTINGS_URL)  # not confirmed: refused
    authorize_url = start_connect(owner_client, "start_over", confirm="yes")
    assert follow_back(owner_client, consent(qbo, authorize_url, realm_id=other_realm)).status_code == 302
    moved = QuickBooksConnection.objects.get()
    assert moved.realm_id == other_realm
    # The old company's default item is gone; the new company's own "Services" item replaced it.
    assert moved.default_item_name == "Services"


def test_disconnect_revokes_the_tokens(owner_client, qbo, qbo_connection):
    old_access = qbo_connection.access_token
    response = owner_client.post(reverse("quickbooks:disconnect"))
    assert response.status_code == 302
    connection = QuickBooksConnection.objects.get()
    assert connection.status == QuickBooksConnection.Status.DISCONNECTED
    assert connection.access_token == connection.refresh_token == ""
    api = requests.get(
        f"{qbo.api_base}/company/{qbo_connection.realm_id}/companyinfo/{qbo_connection.realm_id}",
        headers={"Authorization": f"Bearer {old_access}", "Accept": "application/json"},
        timeout=10,
    )
    assert api.status_code == 401


@pytest.mark.parametrize("role", ["admin", "staff"])
def test_only_the_owner_connects_or_disconnects(client, firm, qbo, role):
    user = UserFactory(firm=firm, role=role)
    client.force_login(user)
    assert client.post(reverse("quickbooks:connect")).status_code == 403
    assert client.post(reverse("quickbooks:disconnect")).status_code == 403
    assert client.get(SETTINGS_URL).status_code == 200


def test_connect_is_post_only(owner_client, qbo):
    assert owner_client.get(reverse("quickbooks:connect")).status_code == 405


def test_defaults_use_the_companys_pick_lists(firm_admin_client, qbo, qbo_connection):
    page = firm_admin_client.get(SETTINGS_URL).content.decode()
    assert "Individual" in page
    assert "Services" in page
    types = {t["Name"]: t["Id"] for t in qbo.control.entities(qbo_connection.realm_id, "CustomerType")}
    items = {i["Name"]: i["Id"] for i in qbo.control.entities(qbo_connection.realm_id, "Item")}
    response = firm_admin_client.post(
        reverse("quickbooks:defaults"),
        {
            "auto_sync_scope": "all",
            "default_customer_type": types["Individual"],
            "default_item": items["Services"],
            "sync_start_date": "2026-01-01",
        },
    )
    assert response.status_code == 302
    connection = QuickBooksConnection.objects.get()
    assert (
        connection.auto_sync_scope,
        connection.default_customer_type_name,
        connection.default_item_name,
    ) == (
        "all",
        "Individual",
        "Services",
    )
    assert str(connection.sync_start_date) == "2026-01-01"


def test_defaults_refuse_an_id_from_elsewhere(firm_admin_client, qbo, qbo_connection):
    response = firm_admin_client.post(
        reverse("quickbooks:defaults"),
        {
            "auto_sync_scope": "all",
            "default_customer_type": "99999",
            "default_item": "",
            "sync_start_date": "",
        },
    )
    assert response.status_code == 400
    assert QuickBooksConnection.objects.get().default_customer_type_id == ""


def test_banner_shows_owners_and_admins_a_connection_that_needs_attention(
    owner_client, qbo_connection, staff_user, client
):
    QuickBooksConnection.objects.filter(pk=qbo_connection.pk).update(
        status=QuickBooksConnection.Status.NEEDS_RECONNECT,
        status_reason="The connecting user lost admin rights.",
    )
    page = owner_client.get(reverse("accounts:list")).content.decode()
    assert "QuickBooks Online needs attention" in page
    assert "lost admin rights" in page
    client.force_login(staff_user)
    assert "QuickBooks Online needs attention" not in client.get(reverse("accounts:list")).content.decode()


def test_starting_over_clears_every_account_link(owner_client, qbo, qbo_connection, firm):
    from qbsync.sync.models import AccountSyncLink
    from tests.factories import AccountFactory

    linked = AccountSyncLink.objects.create(
        firm=firm,
        account=AccountFactory(firm=firm),
        state="synced",
        qbo_customer_id="58",
        qbo_display_name="X",
    )
    skipped = AccountSyncLink.objects.create(
        firm=firm, account=AccountFactory(firm=firm), state="skipped", previous_customer_id="59"
    )
    from qbsync.sync.models import InvoiceSyncLink
    from tests.factories import make_invoice

    invoice_link, _ = InvoiceSyncLink.objects.update_or_create(
        invoice=make_invoice(account=linked.account),
        defaults={"firm": firm, "state": "synced", "qbo_invoice_id": "77"},
    )
    other_realm = qbo.control.create_company("New Books", customer_types=["Individual"])
    authorize_url = start_connect(owner_client, "start_over", confirm="yes")
    follow_back(owner_client, consent(qbo, authorize_url, realm_id=other_realm))
    linked.refresh_from_db()
    skipped.refresh_from_db()
    assert (linked.state, linked.qbo_customer_id) == ("not_synced", "")
    assert linked.account.sync_events.filter(kind="links_cleared").exists()
    assert (skipped.state, skipped.previous_customer_id) == ("skipped", "")
    invoice_link.refresh_from_db()
    assert (invoice_link.state, invoice_link.qbo_invoice_id) == ("not_synced", "")


def test_reconnecting_the_same_company_keeps_account_links(owner_client, qbo, qbo_connection, firm):
    from qbsync.sync.models import AccountSyncLink
    from tests.factories import AccountFactory

    linked = AccountSyncLink.objects.create(
        firm=firm, account=AccountFactory(firm=firm), state="synced", qbo_customer_id="58"
    )
    follow_back(owner_client, consent(qbo, start_connect(owner_client), realm_id=qbo_connection.realm_id))
    linked.refresh_from_db()
    assert (linked.state, linked.qbo_customer_id) == ("synced", "58")


def test_after_a_disconnect_another_company_still_needs_starting_over(owner_client, qbo, qbo_connection):
    owner_client.post(reverse("quickbooks:disconnect"))
    other_realm = qbo.control.create_company("Elsewhere Books")
    response = follow_back(owner_client, consent(qbo, start_connect(owner_client), realm_id=other_realm))
    assert response.status_code == 409
    assert QuickBooksConnection.objects.get().realm_id == qbo_connection.realm_id


# Issue 13, item 11: two firms connecting the same company at once. The other firm's connection is
# committed after this callback's check that the company is free and before its own save, so the
# database's one-firm-per-company constraint is what refuses it.


def test_losing_the_race_for_a_company_explains_and_revokes_the_fresh_grant(
    owner_client, firm, other_firm, qbo, qbo_realm
):
    rival_owner = UserFactory(firm=other_firm, role="owner")
    callback = consent(qbo, start_connect(owner_client), realm_id=qbo_realm)
    raced = []

    def the_other_firm_connects_first(execute, sql, params, many, context):
        # Just before this callback's transaction opens: after its checks, before its save.
        if not raced and sql.upper().startswith("SAVEPOINT"):
            raced.append(
                QuickBooksConnection.objects.create(
                    firm=other_firm,
                    realm_id=qbo_realm,
                    access_token="a",
                    refresh_token="r",
                    connected_by=rival_owner,
                )
            )
        return execute(sql, params, many, context)

    with db.execute_wrapper(the_other_firm_connects_first):
        response = follow_back(owner_client, callback)

    assert raced, "the race was not staged: no transaction opened after the checks"
    assert response.status_code == 409
    page = unescape(response.content.decode())
    assert "already connected to another firm" in page
    assert "revoked" in page
    assert not QuickBooksConnection.objects.filter(firm=firm).exists()
    assert QuickBooksConnection.objects.get(realm_id=qbo_realm).firm == other_firm
    assert qbo.control.company(qbo_realm)["oauth"]["revoked_grants"] == 1

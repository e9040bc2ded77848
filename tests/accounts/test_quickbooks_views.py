"""The account pages' QuickBooks UI: statuses with tooltips, filters and counts, the self-refreshing status
poll, the Info tab's QuickBooks section and "⋯" menu, and the "Sync Account to QuickBooks" page with its
POST actions. QBO is the sandbox over HTTP; syncs are driven synchronously with ``account_push``."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.services import AccountData, account_update
from qbsync.sync.display import ACCOUNT_TOOLTIPS
from qbsync.sync.engine.explanations import said_on
from qbsync.sync.kinds.accounts import UNSYNCED_MESSAGE, account_push, account_sync_request, account_sync_skip
from qbsync.sync.models import AccountSyncLink, QuickBooksConnection, SyncEvent
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, sandbox_create

pytestmark = pytest.mark.django_db

LIST_URL = reverse("accounts:list")
STATUS_URL = reverse("accounts:sync_status")


@pytest.fixture
def connected(qbo_connection):
    """The firm connected to a fresh sandbox company with the first-connect defaults."""
    from qbsync.sync.services.connections import connection_apply_first_defaults

    connection_apply_first_defaults(connection=qbo_connection)
    return qbo_connection


@pytest.fixture
def connection_row(firm, owner):
    """A connection that is never called: for pages that only read our own database."""
    return QuickBooksConnection.objects.create(
        firm=firm,
        realm_id="9130000000000001",
        access_token="unused",
        refresh_token="unused",
        connected_by=owner,
    )


def sync(account, **request) -> AccountSyncLink:
    link = account_sync_request(account=account, **request)
    account_push(link_id=link.pk)
    link.refresh_from_db()
    return link


def detail_url(account) -> str:
    return reverse("accounts:detail", args=[account.pk])


def page_url(account) -> str:
    return reverse("accounts:quickbooks", args=[account.pk])


def sync_url(account) -> str:
    return reverse("accounts:quickbooks_sync", args=[account.pk])


def skip_url(account) -> str:
    return reverse("accounts:quickbooks_skip", args=[account.pk])


def has_badge(html: str, status: str, tooltip: str) -> bool:
    """The status badge and its one tooltip (described by it; no title attribute)."""
    slug = status.lower().replace(" ", "-")
    return bool(
        re.search(
            rf'class="qb-status qb-status--{slug}" tabindex="0" aria-describedby="([^"]+)">'
            rf"{re.escape(status)}</span>"
            rf'<span class="qb-tooltip" role="tooltip" id="\1">{re.escape(tooltip)}</span>',
            html,
        )
    )


def names(response) -> list[str]:
    return [account.name for account, _ in response.context["rows"]]


@pytest.fixture
def one_of_each(qbo, connected, firm, owner):
    """An account in each of the five statuses, reached through the real services and sandbox."""
    sandbox_create(qbo, connected.realm_id, "Vendor", {"DisplayName": "Staples"})
    accounts = {
        "Synced": AccountFactory(firm=firm, name="Acme Corp"),
        "Failed": AccountFactory(firm=firm, name="Staples"),
        "Syncing": AccountFactory(firm=firm, name="Bright Ledger"),
        "Skipped": AccountFactory(firm=firm, name="Dormant LLC"),
        "Not synced": AccountFactory(firm=firm, name="Zeta Partners"),
    }
    sync(accounts["Synced"], actor=owner)
    sync(accounts["Failed"], actor=owner)
    account_sync_request(account=accounts["Syncing"], actor=owner)
    account_sync_skip(account=accounts["Skipped"], actor=owner)
    return accounts


# The list: statuses, tooltips, filters and counts ------------------------------------------------------


def test_list_shows_each_status_as_a_badge_with_its_tooltip(staff_client, one_of_each):
    html = staff_client.get(LIST_URL).content.decode()

    failed = AccountSyncLink.objects.get(account=one_of_each["Failed"])
    assert "vendor" in failed.error_explanation
    for status in ("Synced", "Syncing", "Skipped", "Not synced"):
        assert has_badge(html, status, ACCOUNT_TOOLTIPS[status]), status
    # Failed says why, both in the title (mouse) and in the tooltip element (focus, screen readers).
    reason = f"There is a sync issue with this account: {failed.error_explanation}"
    escaped = escape(reason)
    assert has_badge(html, "Failed", escaped)
    account_id = one_of_each["Failed"].pk
    assert f'aria-describedby="qb-tip-{account_id}">Failed</span>' in html
    assert f'<span class="qb-tooltip" role="tooltip" id="qb-tip-{account_id}">{escaped}</span>' in html


def test_list_without_a_connection_shows_not_connected_and_no_filters(staff_client, firm):
    AccountFactory(firm=firm)

    html = staff_client.get(LIST_URL).content.decode()

    assert 'class="qb-status qb-status--not-connected" tabindex="0"' in html
    assert "Not synced" not in html
    assert "qb-filters" not in html


def test_list_counts_each_status_and_filters_by_it(staff_client, firm, one_of_each):
    # A link row in "not_synced" (e.g. lost in QBO) and "syncing" count with their display status.
    AccountSyncLink.objects.create(
        firm=firm, account=AccountFactory(firm=firm, name="Lost Co"), state=SyncState.NOT_SYNCED
    )
    AccountSyncLink.objects.create(
        firm=firm, account=AccountFactory(firm=firm, name="Busy Co"), state=SyncState.SYNCING
    )

    response = staff_client.get(LIST_URL)
    html = response.content.decode()

    assert response.context["sync_counts"] == {
        "Synced": 1,
        "Syncing": 2,
        "Failed": 1,
        "Not synced": 2,
        "Skipped": 1,
    }
    assert (
        'href="?qb=Failed">Failed <span class="qb-filter__count" data-qb-count="Failed">1</span></a>' in html
    )
    not_synced = '<span class="qb-filter__count" data-qb-count="Not synced">2</span>'
    assert f'href="?qb=Not+synced">Not synced {not_synced}</a>' in html
    assert names(staff_client.get(LIST_URL, {"qb": "Not synced"})) == ["Lost Co", "Zeta Partners"]
    assert names(staff_client.get(LIST_URL, {"qb": "Syncing"})) == ["Bright Ledger", "Busy Co"]
    assert names(staff_client.get(LIST_URL, {"qb": "Failed"})) == ["Staples"]
    assert names(staff_client.get(LIST_URL, {"qb": "Synced"})) == ["Acme Corp"]
    assert names(staff_client.get(LIST_URL, {"qb": "Skipped"})) == ["Dormant LLC"]
    # An unknown status filters nothing out; the filter combines with the search.
    assert len(names(staff_client.get(LIST_URL, {"qb": "Bogus"}))) == 7
    assert names(staff_client.get(LIST_URL, {"qb": "Not synced", "q": "zeta"})) == ["Zeta Partners"]
    filtered = staff_client.get(LIST_URL, {"qb": "Failed"}).content.decode()
    assert 'href="?qb=Failed" aria-current="true">Failed' in filtered
    assert '<input type="hidden" name="qb" value="Failed">' in filtered


def test_counts_follow_the_search_on_the_list_and_in_its_counts_poll(
    staff_client, firm, other_firm, connection_row
):
    AccountSyncLink.objects.create(
        firm=firm, account=AccountFactory(firm=firm, name="Acme North"), state="syncing"
    )
    AccountSyncLink.objects.create(
        firm=firm, account=AccountFactory(firm=firm, name="Acme South"), state="synced"
    )
    AccountSyncLink.objects.create(
        firm=firm, account=AccountFactory(firm=firm, name="Beacon"), state="syncing"
    )
    AccountFactory(firm=firm, name="Acme Archived", is_active=False)
    AccountFactory(firm=other_firm, name="Acme Elsewhere")
    acme = {"Synced": 1, "Syncing": 1, "Failed": 0, "Not synced": 0, "Skipped": 0}

    response = staff_client.get(LIST_URL, {"q": "acme"})
    assert response.context["sync_counts"] == acme
    assert f'data-qb-counts-url="{reverse("accounts:sync_counts")}?q=acme"' in response.content.decode()

    poll = staff_client.get(reverse("accounts:sync_counts"), {"q": "acme"})
    assert poll["Cache-Control"] == "no-store"
    assert poll.json() == acme
    assert staff_client.get(reverse("accounts:sync_counts")).json()["Syncing"] == 2
    assert staff_client.post(reverse("accounts:sync_counts")).status_code == 405


def test_list_filter_with_no_match_says_so(staff_client, firm, connection_row):
    AccountFactory(firm=firm)

    html = staff_client.get(LIST_URL, {"qb": "Failed"}).content.decode()

    assert "No accounts show QuickBooks status “Failed”." in html


STATES = [SyncState.SYNCED, SyncState.FAILED, SyncState.QUEUED, SyncState.SYNCING, SyncState.SKIPPED, None]


@pytest.mark.parametrize("count", [5, 50])
def test_list_query_count_does_not_grow_with_links(
    staff_client, firm, connection_row, count, django_assert_num_queries
):
    for n in range(count):
        account = AccountFactory(firm=firm, name=f"Client {n:03d}")
        state = STATES[n % len(STATES)]
        if state is not None:
            AccountSyncLink.objects.create(
                firm=firm,
                account=account,
                state=state,
                qbo_customer_id=str(n) if state == SyncState.SYNCED else "",
                qbo_current_name=account.name,
                error_explanation="Something is wrong." if state == SyncState.FAILED else "",
            )
    staff_client.get(LIST_URL)

    # session, user, firm, connection, status counts, paginator count, one page of accounts with links;
    # whether the first sync is due (for the rows' tooltips, and for the notice) and how many wait for it
    with django_assert_num_queries(10):
        response = staff_client.get(LIST_URL)
    assert len(names(response)) == count
    assert response.content.decode().count('class="qb-status ') == count


# The status poll -------------------------------------------------------------------------------------


def test_sync_status_returns_the_cells_of_the_firms_accounts_only(
    staff_client, firm, other_firm, one_of_each
):
    theirs = AccountFactory(firm=other_firm, name="Their Client")
    mine = [one_of_each["Syncing"], one_of_each["Synced"]]
    ids = ",".join(str(a.pk) for a in [*mine, theirs]) + ",abc,99999999"

    response = staff_client.get(STATUS_URL, {"ids": ids})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {str(a.pk) for a in mine}
    syncing = body[str(one_of_each["Syncing"].pk)]
    assert syncing["status"] == "Syncing"
    assert has_badge(syncing["html"], "Syncing", ACCOUNT_TOOLTIPS["Syncing"])
    assert f'data-qb-cell="{one_of_each["Syncing"].pk}" data-qb-status="Syncing"' in syncing["html"]
    assert "section" not in syncing


def test_sync_status_follows_the_sync_to_its_end(staff_client, connected, firm, owner):
    account = AccountFactory(firm=firm, name="Acme Corp")
    link = account_sync_request(account=account, actor=owner)

    before = staff_client.get(STATUS_URL, {"ids": account.pk, "section": account.pk}).json()
    account_push(link_id=link.pk)
    after = staff_client.get(STATUS_URL, {"ids": account.pk, "section": account.pk}).json()

    assert before[str(account.pk)]["status"] == "Syncing"
    assert after[str(account.pk)]["status"] == "Synced"
    section = after[str(account.pk)]["section"]
    assert 'data-qb-section="' in section
    assert "Created in QuickBooks Online" in section
    # Staff get the section without the owner/admin menu.
    assert 'data-slot="account-actions"' not in section


def test_sync_status_section_has_the_menu_for_admins(firm_admin_client, firm, connection_row):
    account = AccountFactory(firm=firm)

    body = firm_admin_client.get(STATUS_URL, {"ids": account.pk, "section": account.pk}).json()

    assert reverse("accounts:quickbooks", args=[account.pk]) in body[str(account.pk)]["section"]


def test_sync_status_without_ids_is_empty_and_needs_sign_in(client, staff_client):
    assert staff_client.get(STATUS_URL).json() == {}
    assert Client().get(STATUS_URL, {"ids": "1"}).status_code == 302
    assert staff_client.post(STATUS_URL, {"ids": "1"}).status_code == 405


# The Info tab ----------------------------------------------------------------------------------------


def test_info_tab_shows_the_linked_customer_how_and_by_whom(staff_client, qbo, connected, firm, firm_admin):
    customer = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Acme Corporation"})
    account = AccountFactory(firm=firm, name="Acme Corp")
    sync(account, actor=firm_admin, mode="pick", customer_id=customer["Id"])

    html = staff_client.get(detail_url(account)).content.decode()

    assert has_badge(html, "Synced", ACCOUNT_TOOLTIPS["Synced"])
    assert f'Acme Corporation <span class="muted">(Id {customer["Id"]})</span>' in html
    assert f"Picked from the QuickBooks customers by {firm_admin.username}" in html
    # The names differ, so the notice says renaming here does not rename there.
    assert (
        'Named "Acme Corporation" in QuickBooks Online; renaming here never renames the customer there.'
        in html.replace("&quot;", '"')
    )


def test_info_tab_has_no_name_notice_while_the_names_agree(staff_client, connected, firm, owner):
    account = AccountFactory(firm=firm, name="Bright Ledger")
    sync(account, actor=owner)

    html = staff_client.get(detail_url(account)).content.decode()
    assert "Created in QuickBooks Online by" in html
    assert "renaming here never renames" not in html

    account_update(account=account, data=AccountData(name="Bright Ledger LLC", kind=account.kind))
    html = staff_client.get(detail_url(account)).content.decode()
    assert (
        'Named "Bright Ledger" in QuickBooks Online; renaming here never renames the customer there.' in html
    )


def test_info_tab_shows_the_failure_and_the_last_ten_events(staff_client, qbo, connected, firm, owner):
    sandbox_create(qbo, connected.realm_id, "Vendor", {"DisplayName": "Staples"})
    account = AccountFactory(firm=firm, name="Staples")
    link = sync(account, actor=owner)
    for n in range(12):
        SyncEvent.objects.create(
            firm=firm, account=account, kind="note", message=f"Note {n:02d}", trigger="sweep"
        )

    response = staff_client.get(detail_url(account))
    html = response.content.decode()

    assert f'<p class="qb-section__error" id="qb-error-{account.pk}">' in html
    assert "a vendor" in html
    assert len(response.context["sync_events"]) == 10
    assert "Note 11" in html
    assert "Automatic retry" in html
    assert "Note 01" not in html

    history = staff_client.get(detail_url(account)).context["sync_events"]
    assert history[0].message == "Note 11"
    failed = SyncEvent.objects.get(account=account, kind="failed")
    assert failed.intuit_tid == link.error_intuit_tid


def test_info_tab_history_names_who_triggered_and_the_intuit_tid_only_for_owners(
    client, staff_user, connected, firm, owner
):
    account = AccountFactory(firm=firm, name="Acme Corp")
    sync(account, actor=owner)

    client.force_login(staff_user)
    html = client.get(detail_url(account)).content.decode()
    client.force_login(owner)
    owners = client.get(detail_url(account)).content.decode()

    created = SyncEvent.objects.get(account=account, kind="created")
    sent = SyncEvent.objects.get(account=account, kind="create_sent")
    assert created.intuit_tid
    # Issue 14: staff never see the intuit_tid or the request id; owners find both under "Details".
    assert created.intuit_tid not in html
    assert sent.sent["request_id"] not in html
    assert "For Intuit support" not in html
    assert f"<p>intuit_tid: <code>{created.intuit_tid}</code></p>" in owners
    assert f"request_id: {sent.sent['request_id']}" in owners
    assert f"<td>{owner.username}</td>" in html  # the request
    assert "<td>Sync worker</td>" in html  # the worker's steps


@pytest.mark.parametrize(
    ("client_fixture", "sees_menu"),
    [("owner_client", True), ("firm_admin_client", True), ("staff_client", False)],
)
def test_menu_is_for_owners_and_admins(request, firm, connection_row, client_fixture, sees_menu):
    client = request.getfixturevalue(client_fixture)
    account = AccountFactory(firm=firm)

    html = client.get(detail_url(account)).content.decode()

    assert 'class="qb-status qb-status--not-synced"' in html  # everyone sees the status
    assert ('<details class="menu" data-menu>' in html) is sees_menu
    assert (page_url(account) in html) is sees_menu
    assert (skip_url(account) in html) is sees_menu


def test_menu_offers_unsync_for_synced_and_no_skip_for_skipped(owner_client, firm, owner, connection_row):
    synced = AccountFactory(firm=firm)
    AccountSyncLink.objects.create(firm=firm, account=synced, state=SyncState.SYNCED, qbo_customer_id="7")
    skipped = AccountFactory(firm=firm)
    account_sync_skip(account=skipped, actor=owner)
    fresh = AccountFactory(firm=firm)

    assert ">Unsync</button>" in owner_client.get(detail_url(synced)).content.decode()
    skipped_html = owner_client.get(detail_url(skipped)).content.decode()
    assert skip_url(skipped) not in skipped_html
    assert page_url(skipped) in skipped_html
    fresh_html = owner_client.get(detail_url(fresh)).content.decode()
    assert ">Do not sync this account</button>" in fresh_html
    assert 'data-confirm="Stop syncing' in fresh_html


def test_info_tab_without_a_connection_has_no_menu(owner_client, firm):
    account = AccountFactory(firm=firm)

    html = owner_client.get(detail_url(account)).content.decode()

    assert "QuickBooks Online is not connected" in html
    assert '<details class="menu"' not in html


# The "Sync Account to QuickBooks" page ------------------------------------------------------------------


def test_sync_page_offers_the_three_ways(owner_client, qbo, connected, firm):
    sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Acme Corporation"})
    account = AccountFactory(firm=firm, name="Acme Corp")

    response = owner_client.get(page_url(account))
    html = response.content.decode()

    assert response.status_code == 200
    assert "Sync by name</button>" in html
    assert 'name="mode" value="auto"' in html
    assert "Acme Corporation" in html
    assert 'name="mode" value="pick"' in html
    assert 'value="Acme Corp"' in html  # the create form, prefilled with the account's name
    assert 'name="mode" value="create"' in html
    assert html.count('name="csrfmiddlewaretoken"') >= 4  # logout + three forms


def test_sync_page_is_not_for_staff(staff_client, firm, connection_row):
    account = AccountFactory(firm=firm)

    response = staff_client.get(page_url(account))

    assert response.status_code == 403
    assert not AccountSyncLink.objects.exists()


def test_sync_page_picker_searches_and_pages(owner_client, qbo, connected, firm, owner):
    for n in range(30):
        sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": f"Customer {n:02d}"})
    sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Other Person"})
    taken = AccountFactory(firm=firm, name="Customer 03")
    sync(taken, actor=owner)  # matched by name: now linked to that account
    account = AccountFactory(firm=firm, name="New Client")

    first = owner_client.get(page_url(account), {"q": "customer"})
    second = owner_client.get(page_url(account), {"q": "customer", "page": 2})

    # The customers that can be linked come first, in name order; the one linked elsewhere comes last.
    linkable = [f"Customer {n:02d}" for n in range(30) if n != 3]
    first_rows = [row.display_name for row in first.context["customers"]]
    assert first_rows == linkable[:25]
    assert first.context["has_more"] is True
    first_html = first.content.decode()
    assert 'href="?q=customer&amp;page=2">Next</a>' in first_html
    assert "Previous</a>" not in first_html
    assert [row.display_name for row in second.context["customers"]] == [*linkable[25:], "Customer 03"]
    second_html = second.content.decode()
    assert 'href="?q=customer&amp;page=1">Previous</a>' in second_html
    assert "Next</a>" not in second_html
    assert "Other Person" not in first_html + second_html
    # How many match, on every page.
    for html in (first_html, second_html):
        assert (
            "30 active customers match “customer”: 29 can be linked, 1 already linked to other accounts "
            "(listed last)." in html
        )
    assert first_html.count('aria-label="Link Customer') == 25
    # The customer linked to another account cannot be linked again.
    assert "Linked to Customer 03</span>" in second_html
    assert second_html.count('<button type="button" class="button" disabled') == 1
    assert second_html.count('aria-label="Link Customer') == 4


def test_sync_page_picker_counts_matches_without_linked_ones(owner_client, qbo, connected, firm):
    for name in ("Acme Corp", "Acme Holdings"):
        sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": name})
    account = AccountFactory(firm=firm, name="New Client")

    html = owner_client.get(page_url(account), {"q": "acme"}).content.decode()

    assert "2 active customers match “acme”." in html
    one = owner_client.get(page_url(account), {"q": "holdings"}).content.decode()
    assert "1 active customer matches “holdings”." in one


def test_sync_page_of_the_linked_account_marks_its_own_customer(owner_client, connected, firm, owner):
    account = AccountFactory(firm=firm, name="Acme Corp")
    sync(account, actor=owner)

    html = owner_client.get(page_url(account)).content.decode()

    assert "Linked to this account</button>" in html
    assert "Choosing another customer below re-links it" in html


def test_sync_page_explains_when_qbo_cannot_be_read_and_still_offers_create(
    owner_client, qbo, connected, firm
):
    account = AccountFactory(firm=firm, name="Acme Corp")
    qbo.control.fault(connected.realm_id, "auth_3100", count=5, operation="query")

    response = owner_client.get(page_url(account))
    html = response.content.decode()
    qbo.control.clear_faults(connected.realm_id)

    assert response.status_code == 200
    assert "Could not read the customers from QuickBooks Online:" in html
    assert response.context["picker_error"] in html
    assert 'name="mode" value="create"' in html


def test_sync_page_prefills_the_name_the_failure_proposed(owner_client, connected, firm, owner):
    account = AccountFactory(firm=firm, name="Acme: East")
    link = sync(account, actor=owner)
    assert link.error_proposed_name

    response = owner_client.get(page_url(account))

    assert response.context["create_form"]["display_name"].value() == link.error_proposed_name
    # Worded for this page: not "in the account's Info tab".
    assert escape(said_on(link.error_explanation, "sync_page")) in response.content.decode()
    assert "Info tab" not in said_on(link.error_explanation, "sync_page")


def test_sync_page_without_a_connection_says_so(owner_client, firm):
    account = AccountFactory(firm=firm)

    html = owner_client.get(page_url(account)).content.decode()

    assert "QuickBooks Online is not connected." in html
    assert "Sync by name</button>" not in html


# POST: sync, pick, create, skip ------------------------------------------------------------------------


def test_sync_by_name_enqueues_once_and_lands_on_the_info_tab(
    owner_client, qbo, connected, firm, owner, django_capture_on_commit_callbacks
):
    existing = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Acme Corp"})
    account = AccountFactory(firm=firm, name="Acme Corp")

    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(sync_url(account), {"mode": "auto"})

    assert response.status_code == 302
    assert response["Location"] == detail_url(account)
    assert len(callbacks) == 1
    link = AccountSyncLink.objects.get(account=account)
    assert (link.state, link.requested_by) == (SyncState.QUEUED, owner)
    followed = owner_client.get(response["Location"])
    html = followed.content.decode()
    assert "matching a QuickBooks customer by name" in html
    assert f'data-qb-section="{account.pk}" data-qb-status="Syncing"' in html

    account_push(link_id=link.pk)
    link.refresh_from_db()
    assert (link.state, link.qbo_customer_id, link.link_method) == ("synced", existing["Id"], "matched")


def test_pick_links_the_chosen_customer(
    owner_client, qbo, connected, firm, django_capture_on_commit_callbacks
):
    chosen = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "ACME Holdings"})
    account = AccountFactory(firm=firm, name="Acme Corp")

    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(sync_url(account), {"mode": "pick", "customer_id": chosen["Id"]})

    assert response.status_code == 302
    assert len(callbacks) == 1
    link = AccountSyncLink.objects.get(account=account)
    # What the enqueued task does, run here rather than in a worker.
    account_push(link_id=link.pk)
    link.refresh_from_db()
    assert (link.state, link.qbo_customer_id, link.link_method) == ("synced", chosen["Id"], "picked")


def test_create_makes_a_new_customer_under_the_given_name(
    owner_client, qbo, connected, firm, django_capture_on_commit_callbacks
):
    sandbox_create(qbo, connected.realm_id, "Vendor", {"DisplayName": "Staples"})
    account = AccountFactory(firm=firm, name="Staples")

    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(
            sync_url(account), {"mode": "create", "display_name": " Staples  (client) "}
        )

    assert response.status_code == 302
    assert len(callbacks) == 1
    link = AccountSyncLink.objects.get(account=account)
    account_push(link_id=link.pk)
    link.refresh_from_db()
    assert (link.state, link.link_method, link.qbo_display_name) == ("synced", "created", "Staples (client)")
    names_in_qbo = [c["DisplayName"] for c in qbo.control.entities(connected.realm_id, "Customer")]
    assert names_in_qbo == ["Staples (client)"]


def test_create_with_a_colon_is_refused_with_the_explanation(owner_client, connected, firm):
    account = AccountFactory(firm=firm, name="Acme Corp")

    response = owner_client.post(sync_url(account), {"mode": "create", "display_name": "Acme: East"})

    assert response.status_code == 400
    form = response.context["create_form"]
    assert "does not allow colons" in form.errors["display_name"][0]
    html = response.content.decode()
    assert "does not allow colons" in html
    assert 'value="Acme: East"' in html  # what was typed is kept
    assert not AccountSyncLink.objects.filter(account=account).exists()


def test_pick_without_a_customer_is_refused(owner_client, connected, firm):
    account = AccountFactory(firm=firm)

    response = owner_client.post(sync_url(account), {"mode": "pick"})

    assert response.status_code == 400
    assert "Choose a QuickBooks customer." in response.content.decode()


def test_an_unknown_mode_is_refused(owner_client, connection_row, firm):
    account = AccountFactory(firm=firm)

    response = owner_client.post(sync_url(account), {"mode": "delete-everything"})

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not AccountSyncLink.objects.exists()


def test_sync_without_a_connection_explains_and_returns_to_the_account(owner_client, firm):
    account = AccountFactory(firm=firm)

    response = owner_client.post(sync_url(account), {"mode": "auto"}, follow=True)

    assert response.redirect_chain == [(detail_url(account), 302)]
    assert "QuickBooks Online is not connected." in response.content.decode()
    assert not AccountSyncLink.objects.exists()


def test_skip_and_unsync(owner_client, connected, firm, owner):
    fresh = AccountFactory(firm=firm, name="Fresh Co")
    synced = AccountFactory(firm=firm, name="Acme Corp")
    sync(synced, actor=owner)

    skipped = owner_client.post(skip_url(fresh), follow=True)
    unsynced = owner_client.post(skip_url(synced), follow=True)
    again = owner_client.post(skip_url(fresh), follow=True)

    assert "“Fresh Co” will not sync to QuickBooks Online" in skipped.content.decode()
    assert UNSYNCED_MESSAGE in unsynced.content.decode()
    assert "Sync is already off for this account." in again.content.decode()
    assert AccountSyncLink.objects.get(account=fresh).state == SyncState.SKIPPED
    link = AccountSyncLink.objects.get(account=synced)
    assert (link.state, link.qbo_customer_id) == (SyncState.SKIPPED, "")
    assert has_badge(unsynced.content.decode(), "Skipped", ACCOUNT_TOOLTIPS["Skipped"])


# Who may, and how --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url_for", [sync_url, skip_url])
def test_staff_may_not_sync_or_skip(staff_client, firm, connection_row, url_for):
    account = AccountFactory(firm=firm)

    assert staff_client.post(url_for(account), {"mode": "auto"}).status_code == 403
    assert not AccountSyncLink.objects.exists()


@pytest.mark.parametrize("url_for", [sync_url, skip_url])
def test_sync_and_skip_refuse_get(owner_client, firm, connection_row, url_for):
    account = AccountFactory(firm=firm)

    assert owner_client.get(url_for(account)).status_code == 405
    assert not AccountSyncLink.objects.exists()


@pytest.mark.parametrize("url_for", [sync_url, skip_url])
def test_sync_and_skip_need_the_csrf_token(owner, firm, connection_row, url_for):
    account = AccountFactory(firm=firm)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    assert client.post(url_for(account), {"mode": "auto"}).status_code == 403
    assert not AccountSyncLink.objects.exists()


@pytest.mark.parametrize("url_for", [page_url, sync_url, skip_url])
def test_another_firms_account_is_404(owner_client, other_firm, connection_row, url_for):
    theirs = AccountFactory(firm=other_firm)

    response = (
        owner_client.get(url_for(theirs))
        if url_for is page_url
        else owner_client.post(url_for(theirs), {"mode": "auto"})
    )

    assert response.status_code == 404
    assert not AccountSyncLink.objects.exists()


def test_sync_status_json_is_plain_json(staff_client, firm, connection_row):
    account = AccountFactory(firm=firm)

    body = json.loads(staff_client.get(STATUS_URL, {"ids": str(account.pk)}).content)

    assert body[str(account.pk)]["status"] == "Not synced"


def test_archived_list_filters_by_status_without_the_active_counts(staff_client, firm, connection_row):
    AccountFactory(firm=firm, name="Old Co", is_active=False)

    response = staff_client.get(LIST_URL, {"status": "archived", "qb": "Not synced"})

    assert names(response) == ["Old Co"]
    assert "qb-filters" not in response.content.decode()

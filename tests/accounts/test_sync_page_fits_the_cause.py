"""The "Sync Account to QuickBooks" page fits the failure it follows (issue 14): after a vendor name clash
it proposes "Staples (client)" and puts creating first; a name QBO would refuse is caught on the form
before anything is queued; texts on the account's own pages do not send people to the page they are on;
names that differ only in spacing are shown with their spacing, and the other account is linked."""

import pytest
from django.urls import reverse

from qbsync.sync.engine.explanations import SYNC_MENU, SYNC_MENU_MID
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.models import AccountSyncLink, QuickBooksConnection
from qbsync.sync.states import SyncState
from qbsync.sync.work.bulk import bulk_sync_preview, bulk_sync_preview_start, bulk_sync_run, bulk_sync_start
from tests.factories import AccountFactory, sandbox_create

pytestmark = pytest.mark.django_db

INFO_TAB_WORDS = "in the account's Info tab"


def page_url(account) -> str:
    return reverse("accounts:quickbooks", args=[account.pk])


def sync_url(account) -> str:
    return reverse("accounts:quickbooks_sync", args=[account.pk])


def detail_url(account) -> str:
    return reverse("accounts:detail", args=[account.pk])


@pytest.fixture
def staples(qbo, qbo_connection, firm, owner):
    """An account whose name a QBO vendor holds, failed by "Sync by name"."""
    sandbox_create(qbo, qbo_connection.realm_id, "Vendor", {"DisplayName": "Staples"})
    account = AccountFactory(firm=firm, name="Staples")
    link = account_sync_request(account=account, actor=owner)
    account_push(link_id=link.pk)
    link.refresh_from_db()
    assert (link.state, link.error_cause) == (SyncState.FAILED, "name_used_by_other")
    return account


def test_after_a_vendor_clash_the_page_proposes_the_client_name_and_puts_create_first(owner_client, staples):
    response = owner_client.get(page_url(staples))
    html = response.content.decode()

    assert response.context["create_form"]["display_name"].value() == "Staples (client)"
    assert 'value="Staples (client)"' in html
    assert (
        html.index('id="create-customer"')
        < html.index('id="pick-customer"')
        < html.index('id="sync-by-name"')
    )
    assert '<button type="submit" class="button button--primary">Create customer and link</button>' in html
    assert '<button type="submit" class="button">Sync by name</button>' in html


def test_a_failure_stored_before_proposals_still_gets_the_client_name(owner_client, staples):
    AccountSyncLink.objects.filter(account=staples).update(error_proposed_name="")

    response = owner_client.get(page_url(staples))

    assert response.context["create_form"]["display_name"].value() == "Staples (client)"


def test_without_a_failure_sync_by_name_stays_the_main_button(owner_client, qbo_connection, firm):
    account = AccountFactory(firm=firm, name="Acme Corp")

    html = owner_client.get(page_url(account)).content.decode()

    assert '<button type="submit" class="button button--primary">Sync by name</button>' in html
    assert html.index('id="sync-by-name"') < html.index('id="create-customer"')


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("Staples\tClient", "does not allow colons, tabs or line breaks"),
        ("Staples\nClient", "does not allow colons, tabs or line breaks"),
        ("Staples: Client", "does not allow colons, tabs or line breaks"),
        ("   ", "Enter a name for the new customer."),
        ("x" * 501, "allows at most 500 characters (this has 501)"),
        ("Staples", 'already uses the name "Staples" for a vendor'),
        ("  staples ", 'already uses the name "Staples" for a vendor'),
        ("Acme Holdings", 'already has a customer named "Acme Holdings"'),
        ("Bob Smith", 'already uses the name "Bob Smith" for an employee'),
    ],
)
def test_a_name_qbo_would_refuse_is_caught_on_the_form_before_anything_is_queued(
    owner_client, qbo, qbo_connection, staples, typed, reason, django_capture_on_commit_callbacks
):
    realm = qbo_connection.realm_id
    sandbox_create(qbo, realm, "Customer", {"DisplayName": "Acme Holdings"})
    sandbox_create(
        qbo, realm, "Employee", {"GivenName": "Bob", "FamilyName": "Smith", "DisplayName": "Bob Smith"}
    )
    before = AccountSyncLink.objects.get(account=staples)

    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(sync_url(staples), {"mode": "create", "display_name": typed})

    assert response.status_code == 400
    assert callbacks == []
    errors = response.context["create_form"].errors["display_name"]
    assert reason in errors[0]
    html = response.content.decode()
    # The reason is shown on the form, next to the field.
    field = html[html.index('id="create-customer"') :]
    assert reason.replace('"', "&quot;") in field
    after = AccountSyncLink.objects.get(account=staples)
    assert (after.state, after.request_epoch) == (before.state, before.request_epoch)


def test_an_inactive_namesake_does_not_block_the_name(
    owner_client, qbo, qbo_connection, firm, django_capture_on_commit_callbacks
):
    sandbox_create(qbo, qbo_connection.realm_id, "Customer", {"DisplayName": "Gone Ltd", "Active": False})
    account = AccountFactory(firm=firm, name="Gone Ltd")

    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(sync_url(account), {"mode": "create", "display_name": "Gone Ltd"})

    assert response.status_code == 302
    assert len(callbacks) == 1


def test_texts_on_the_account_pages_do_not_send_people_to_the_info_tab(owner_client, staples, firm):
    link = AccountSyncLink.objects.get(account=staples)
    assert SYNC_MENU_MID in link.error_explanation  # stored for lists and the errors page

    info = owner_client.get(detail_url(staples)).content.decode()
    page = owner_client.get(page_url(staples)).content.decode()
    errors = owner_client.get(reverse("health:errors")).content.decode()

    assert INFO_TAB_WORDS not in info
    assert 'use "Sync Account to QuickBooks" in the "⋯" menu beside the status'.replace('"', "&quot;") in info
    assert INFO_TAB_WORDS not in page
    assert "Rename the account, or use this page to pick an existing customer" in page
    # Away from the account, the text still says where to go.
    assert INFO_TAB_WORDS in errors.replace("&#x27;", "'")
    assert SYNC_MENU.startswith("Use")


def test_names_that_differ_only_in_spacing_are_shown_apart_and_the_other_is_linked(
    owner_client, qbo_connection, firm, owner
):
    QuickBooksConnection.objects.filter(pk=qbo_connection.pk).update(auto_sync_scope="all")
    spaced = AccountFactory(firm=firm, name="Smith  &  Co")
    plain = AccountFactory(firm=firm, name="Smith & Co")
    plan = bulk_sync_preview(plan_id=bulk_sync_preview_start(firm=firm, actor=owner).pk)
    bulk_sync_start(plan=plan, actor=owner)
    bulk_sync_run(plan_id=plan.pk)
    failed = AccountSyncLink.objects.get(state=SyncState.FAILED)
    assert failed.error_cause == "two_accounts_one_name"
    this, other = (plain, spaced) if failed.account_id == plain.pk else (spaced, plain)

    for html in (
        owner_client.get(detail_url(this)).content.decode(),
        owner_client.get(page_url(this)).content.decode(),
    ):
        # Runs of spaces are marked visibly: the two names no longer read as one.
        assert '<span class="qb-spacing" title="2 spaces" aria-label="2 spaces">␣␣</span>' in html
        assert "Smith  &amp;  Co" not in html.replace("&nbsp;", " ")
        assert f'<a href="{detail_url(other)}">' in html
    # Sync by name cannot help: creating under another name comes first.
    page = owner_client.get(page_url(this)).content.decode()
    assert page.index('id="create-customer"') < page.index('id="sync-by-name"')
    plan_html = owner_client.get(reverse("quickbooks:bulk_plan", args=[plan.pk])).content.decode()
    assert "Smith  &amp;  Co" not in plan_html


def test_a_repeated_create_while_queued_is_not_refused_for_its_own_customer(
    owner_client, qbo, qbo_connection, staples, django_capture_on_commit_callbacks
):
    data = {"mode": "create", "display_name": "Staples (client)"}
    with django_capture_on_commit_callbacks() as first:
        assert owner_client.post(sync_url(staples), data).status_code == 302
    # The first click's customer is there already (its worker was quick); the second click changes nothing.
    sandbox_create(qbo, qbo_connection.realm_id, "Customer", {"DisplayName": "Staples (client)"})

    with django_capture_on_commit_callbacks() as second:
        response = owner_client.post(sync_url(staples), data)

    assert response.status_code == 302
    assert (len(first), len(second)) == (1, 0)
    assert AccountSyncLink.objects.get(account=staples).state == SyncState.QUEUED

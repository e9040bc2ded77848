"""Issue 14, after connecting: the QuickBooks page and the Accounts list say how many accounts are due for
the firm's first sync and lead owners and admins to review and start it; until it runs, a due account's Not
synced tooltip says it waits for it; the integration defaults offer to start it without a preview."""

import pytest
from django.urls import reverse

from qbsync.sync.display import WAITING_FOR_FIRST_SYNC
from qbsync.sync.models import AccountSyncLink, BulkSyncPlan, QuickBooksConnection
from qbsync.sync.selectors import first_sync_due_count
from qbsync.sync.states import SyncState
from qbsync.sync.work.bulk import bulk_sync_preview, bulk_sync_run
from tests.factories import AccountFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db

ACCOUNTS_URL = "/clients/accounts/"
SETTINGS_URL = "/settings/integrations/quickbooks/"


def made_before_connecting(connection, firm):
    """Two accounts with activity and one without, made while no connection could take their rule."""
    QuickBooksConnection.objects.filter(pk=connection.pk).update(
        status=QuickBooksConnection.Status.DISCONNECTED
    )
    invoiced = AccountFactory(firm=firm, name="Invoiced Before")
    make_invoice(account=invoiced)
    paid = AccountFactory(firm=firm, name="Paid Before")
    make_payment(account=paid, amount="10.00")
    idle = AccountFactory(firm=firm, name="Idle Before")
    QuickBooksConnection.objects.filter(pk=connection.pk).update(status=QuickBooksConnection.Status.CONNECTED)
    assert not AccountSyncLink.objects.filter(firm=firm).exists()
    return invoiced, paid, idle


def test_owners_are_led_to_the_first_sync_and_staff_told_who_starts_it(
    owner_client, staff_user, client, connected, firm
):
    made_before_connecting(connected, firm)
    assert first_sync_due_count(firm=firm) == 2
    for url in (ACCOUNTS_URL, SETTINGS_URL):
        page = owner_client.get(url).content.decode()
        assert "2 accounts are due to sync to QuickBooks Online" in page, url
        assert "Review the first sync" in page
    listed = owner_client.get(ACCOUNTS_URL)
    tooltips = {account.name: badge.tooltip for account, badge in listed.context["rows"]}
    assert tooltips["Invoiced Before"] == tooltips["Paid Before"] == WAITING_FOR_FIRST_SYNC
    assert tooltips["Idle Before"] != WAITING_FOR_FIRST_SYNC  # the firm's rule does not sync it

    owner_client.logout()
    client.force_login(staff_user)
    page = client.get(ACCOUNTS_URL).content.decode()
    assert "An owner or admin reviews and starts it." in page
    assert "Review the first sync" not in page

    BulkSyncPlan.objects.create(firm=firm, state=BulkSyncPlan.State.DONE)
    assert first_sync_due_count(firm=firm) == 0
    assert "due to sync to QuickBooks" not in client.get(ACCOUNTS_URL).content.decode()


def test_starting_without_a_preview_syncs_every_due_account_as_planned(
    owner_client, owner, qbo, connected, firm
):
    made_before_connecting(connected, firm)
    form = owner_client.get(SETTINGS_URL).context["defaults_form"]
    data = {key: value or "" for key, value in form.initial.items() if value is not None}
    response = owner_client.post(reverse("quickbooks:defaults"), {**data, "first_sync_without_preview": "on"})
    assert response.status_code == 302
    [plan] = BulkSyncPlan.objects.filter(firm=firm)
    assert plan.state == BulkSyncPlan.State.PREVIEWING
    plan = bulk_sync_preview(plan_id=plan.pk)  # the worker's part: planned, then started as planned
    assert plan.state == BulkSyncPlan.State.RUNNING
    bulk_sync_run(plan_id=plan.pk)
    states = dict(AccountSyncLink.objects.filter(firm=firm).values_list("account__name", "state"))
    assert states == {"Invoiced Before": SyncState.SYNCED, "Paid Before": SyncState.SYNCED}
    assert first_sync_due_count(firm=firm) == 0

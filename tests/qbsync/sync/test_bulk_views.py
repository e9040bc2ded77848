import pytest
from django.urls import reverse

from qbsync.sync.models import BulkSyncPlan, QuickBooksConnection
from qbsync.sync.work.bulk import bulk_sync_preview, bulk_sync_run
from tests.factories import AccountFactory, FirmFactory, sandbox_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def all_accounts(qbo_connection):
    QuickBooksConnection.objects.filter(pk=qbo_connection.pk).update(auto_sync_scope="all")
    return qbo_connection


def test_preview_then_start_from_the_connection_page(qbo, all_accounts, firm, firm_admin_client):
    sandbox_create(qbo, all_accounts.realm_id, "Vendor", {"DisplayName": "Staples"})
    AccountFactory(firm=firm, name="Staples")
    AccountFactory(firm=firm, name="Fresh Client")
    page = firm_admin_client.get(reverse("quickbooks:settings")).content.decode()
    assert "Preview the first sync" in page

    response = firm_admin_client.post(reverse("quickbooks:bulk_preview"))
    plan = BulkSyncPlan.objects.get(firm=firm)
    assert response["Location"] == reverse("quickbooks:bulk_plan", args=[plan.pk])
    assert "Reading the QuickBooks company" in firm_admin_client.get(response["Location"]).content.decode()

    bulk_sync_preview(plan_id=plan.pk)  # what the worker does
    page = firm_admin_client.get(response["Location"]).content.decode()
    assert "Fresh Client" in page
    assert "already uses the name" in page
    assert "Start the sync" in page

    firm_admin_client.post(reverse("quickbooks:bulk_start", args=[plan.pk]))
    bulk_sync_run(plan_id=plan.pk)
    page = firm_admin_client.get(response["Location"]).content.decode()
    assert "Synced: <strong>1</strong>" in page
    assert "Failed: <strong>1</strong>" in page
    # Started once; a second click does nothing.
    again = firm_admin_client.post(reverse("quickbooks:bulk_start", args=[plan.pk]), follow=True)
    assert "already been started" in again.content.decode()


def test_staff_cannot_preview_or_start(staff_client, all_accounts, firm):
    plan = BulkSyncPlan.objects.create(firm=firm)
    assert staff_client.post(reverse("quickbooks:bulk_preview")).status_code == 403
    assert staff_client.post(reverse("quickbooks:bulk_start", args=[plan.pk])).status_code == 403
    assert staff_client.get(reverse("quickbooks:bulk_plan", args=[plan.pk])).status_code == 403


def test_another_firms_plan_is_404(owner_client, all_accounts):
    theirs = BulkSyncPlan.objects.create(firm=FirmFactory())
    assert owner_client.get(reverse("quickbooks:bulk_plan", args=[theirs.pk])).status_code == 404
    assert owner_client.post(reverse("quickbooks:bulk_start", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == BulkSyncPlan.State.PREVIEWING

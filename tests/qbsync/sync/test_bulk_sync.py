"""The first bulk sync: the preview's decisions, a real run that does what it said in few requests, and
a batch whose reply is lost handing over to the single-account sync without duplicates."""

import pytest

from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.models import AccountSyncLink, BulkSyncItem, BulkSyncPlan, QuickBooksConnection
from qbsync.sync.states import SyncState
from qbsync.sync.work.bulk import (
    bulk_sync_preview,
    bulk_sync_preview_start,
    bulk_sync_run,
    bulk_sync_start,
    bulk_sync_summary,
)
from tests.factories import AccountFactory, make_invoice, sandbox_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def all_accounts(qbo_connection):
    QuickBooksConnection.objects.filter(pk=qbo_connection.pk).update(auto_sync_scope="all")
    return qbo_connection


def preview(firm, owner) -> BulkSyncPlan:
    plan = bulk_sync_preview_start(firm=firm, actor=owner)
    return bulk_sync_preview(plan_id=plan.pk)


def decisions(plan) -> dict[str, tuple[str, str]]:
    return {
        i.account.name: (i.decision, i.cause or i.customer_name) for i in plan.items.select_related("account")
    }


def batch_requests(qbo, realm):
    return [r for r in qbo.control.requests(realm) if r.get("operation") == "batch"]


def test_the_preview_says_what_will_happen_and_changes_nothing(qbo, all_accounts, firm, owner):
    realm = all_accounts.realm_id
    match = sandbox_create(qbo, realm, "Customer", {"DisplayName": "match me inc"})
    taken = sandbox_create(qbo, realm, "Customer", {"DisplayName": "Taken Ltd"})
    sandbox_create(qbo, realm, "Vendor", {"DisplayName": "Staples"})
    AccountFactory(firm=firm, name="Match Me Inc")
    AccountFactory(firm=firm, name="Brand New Client")
    AccountFactory(firm=firm, name="Staples")
    AccountFactory(firm=firm, name="Acme: West")
    AccountFactory(firm=firm, name="Twin Co")
    AccountFactory(firm=firm, name="Twin  Co")
    holder = AccountFactory(firm=firm, name="Holder")
    AccountSyncLink.objects.create(
        firm=firm, account=holder, state=SyncState.SYNCED, qbo_customer_id=taken["Id"]
    )
    AccountFactory(firm=firm, name="Taken Ltd")
    before = len(qbo.control.entities(realm, "Customer"))

    plan = preview(firm, owner)
    assert plan.state == BulkSyncPlan.State.READY
    assert decisions(plan) == {
        "Match Me Inc": ("match", "match me inc"),
        "Brand New Client": ("create", "Brand New Client"),
        "Staples": ("conflict", "name_used_by_other"),
        "Acme: West": ("conflict", "bad_characters"),
        "Twin  Co": ("conflict", "two_accounts_one_name"),
        "Twin Co": ("create", "Twin Co"),
        "Taken Ltd": ("conflict", "linked_elsewhere"),
    }
    assert plan.items.get(account__name="Match Me Inc").customer_id == match["Id"]
    assert len(qbo.control.entities(realm, "Customer")) == before
    assert not AccountSyncLink.objects.exclude(account=holder).exists()
    assert bulk_sync_summary(plan=plan) == {"match": 1, "create": 2, "conflict": 4}


def test_the_real_run_does_what_the_preview_said_in_batches(qbo, all_accounts, firm, owner):
    realm = all_accounts.realm_id
    existing = sandbox_create(qbo, realm, "Customer", {"DisplayName": "Existing Client"})
    AccountFactory(firm=firm, name="Existing Client")
    for i in range(64):
        AccountFactory(firm=firm, name=f"Bulk Client {i:03d}")
    AccountFactory(firm=firm, name="Bad: Name")
    plan = preview(firm, owner)
    requests_before = len(qbo.control.requests(realm))

    bulk_sync_start(plan=plan, actor=owner)
    assert AccountSyncLink.objects.filter(firm=firm, state=SyncState.QUEUED).count() == 66
    bulk_sync_run(plan_id=plan.pk)

    plan.refresh_from_db()
    assert plan.state == BulkSyncPlan.State.DONE
    links = {
        link.account.name: link
        for link in AccountSyncLink.objects.filter(firm=firm).select_related("account")
    }
    assert (links["Existing Client"].state, links["Existing Client"].qbo_customer_id) == (
        SyncState.SYNCED,
        existing["Id"],
    )
    assert links["Existing Client"].link_method == "matched"
    assert (links["Bad: Name"].state, links["Bad: Name"].error_cause) == (SyncState.FAILED, "bad_characters")
    created = [link for name, link in links.items() if name.startswith("Bulk Client")]
    assert all(link.state == SyncState.SYNCED and link.link_method == "created" for link in created)
    names = [c["DisplayName"] for c in qbo.control.entities(realm, "Customer")]
    assert len(names) == len(set(names)) == 65
    # One page of customers to re-check the matches, and 64 creates in ceil(64/30) = 3 batch requests.
    assert len(batch_requests(qbo, realm)) == 3
    assert len(qbo.control.requests(realm)) - requests_before == 4


def test_with_activity_only_accounts_with_invoices_or_payments_are_due(qbo, qbo_connection, firm, owner):
    busy = AccountFactory(firm=firm, name="Has An Invoice")
    AccountFactory(firm=firm, name="Nothing Yet")
    make_invoice(account=busy)
    AccountSyncLink.objects.filter(account=busy).delete()  # as if the firm connected after invoicing
    plan = preview(firm, owner)
    assert set(decisions(plan)) == {"Has An Invoice"}


def test_a_lost_batch_reply_hands_over_without_duplicates(qbo, all_accounts, firm, owner):
    realm = all_accounts.realm_id
    qbo.control.settings(realm, idempotency="off")
    for i in range(5):
        AccountFactory(firm=firm, name=f"Dropped Batch {i}")
    plan = preview(firm, owner)
    bulk_sync_start(plan=plan, actor=owner)
    qbo.control.fault(realm, "drop_after_commit", count=1, path="batch")
    bulk_sync_run(plan_id=plan.pk)
    assert plan.items.filter(outcome=BulkSyncItem.Outcome.HANDED_OVER).count() == 5
    assert len(qbo.control.entities(realm, "Customer")) == 5  # the batch was applied
    for link in AccountSyncLink.objects.filter(firm=firm):
        assert link.state == SyncState.QUEUED
        account_push(link_id=link.pk)
    names = [c["DisplayName"] for c in qbo.control.entities(realm, "Customer")]
    assert len(names) == len(set(names)) == 5
    assert AccountSyncLink.objects.filter(firm=firm, state=SyncState.SYNCED).count() == 5


def test_accounts_already_syncing_are_not_in_a_preview(qbo, all_accounts, firm, owner):
    account = AccountFactory(firm=firm, name="Already Going")
    account_sync_request(account=account)
    assert "Already Going" not in decisions(preview(firm, owner))

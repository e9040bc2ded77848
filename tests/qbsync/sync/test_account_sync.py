"""Account sync against the sandbox over HTTP: matching, creating, conflicts with a way out, skip and
resume, and the faults that must never cause a duplicate customer."""

import pytest
from django.utils import timezone

from accounts.models import Account
from qbsync.sync.engine.errors import SyncRequestError
from qbsync.sync.kinds.accounts import account_push, account_sync_request, account_sync_skip
from qbsync.sync.models import AccountSyncLink, QuickBooksConnection, SyncEvent
from qbsync.sync.states import SyncState
from qbsync.sync.work.sweep import sync_sweep
from tests.factories import AccountFactory, sandbox_create

pytestmark = pytest.mark.django_db


def sync(account: Account, **request) -> AccountSyncLink:
    link = account_sync_request(account=account, **request)
    account_push(link_id=link.pk)
    link.refresh_from_db()
    return link


def customers(qbo, realm: str) -> list[dict]:
    return qbo.control.entities(realm, "Customer")


def test_a_customer_with_the_same_name_is_matched_ignoring_case_and_spacing(qbo, connected, firm):
    existing = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Smith & Co"})
    link = sync(AccountFactory(firm=firm, name="SMITH  &  co"))
    assert (link.state, link.qbo_customer_id, link.link_method) == (
        SyncState.SYNCED,
        existing["Id"],
        "matched",
    )
    assert link.qbo_display_name == "Smith & Co"
    assert link.display_status == "Synced"
    assert len(customers(qbo, connected.realm_id)) == 1


def test_no_match_creates_the_customer_with_the_accounts_details(qbo, connected, firm):
    account = AccountFactory(firm=firm, name="O'Brien & Sons", email="ap@obrien.test", phone="555-0100")
    link = sync(account)
    assert (link.state, link.link_method) == (SyncState.SYNCED, "created")
    [created] = customers(qbo, connected.realm_id)
    assert created["Id"] == link.qbo_customer_id
    assert created["DisplayName"] == "O'Brien & Sons"
    assert created["PrimaryEmailAddr"]["Address"] == "ap@obrien.test"
    assert created["PrimaryPhone"]["FreeFormNumber"] == "555-0100"
    assert created["CustomerTypeRef"]["value"] == connected.default_customer_type_id
    kinds = list(SyncEvent.objects.filter(account=account).values_list("kind", flat=True))
    assert {"requested", "create_sent", "created"} <= set(kinds)


def test_a_vendor_with_the_name_fails_with_a_way_out(qbo, connected, firm):
    sandbox_create(qbo, connected.realm_id, "Vendor", {"DisplayName": "Staples"})
    link = sync(AccountFactory(firm=firm, name="Staples"))
    assert link.state == SyncState.FAILED
    assert link.error_cause == "name_used_by_other"
    assert link.error_code == "6240"
    assert "vendor" in link.error_explanation
    assert "Sync Account to QuickBooks" in link.error_explanation
    assert link.tooltip.startswith("There is a sync issue with this account: ")
    assert customers(qbo, connected.realm_id) == []


def test_a_customer_already_linked_to_another_account_is_not_linked_twice(qbo, connected, firm):
    sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Smith & Co"})
    first = sync(AccountFactory(firm=firm, name="Smith & Co"))
    second = sync(AccountFactory(firm=firm, name="Smith  &  Co"))
    assert first.state == SyncState.SYNCED
    assert (second.state, second.error_cause) == (SyncState.FAILED, "linked_elsewhere")
    assert 'already linked to the account "Smith & Co"' in second.error_explanation


@pytest.mark.parametrize(
    ("name", "cause", "proposed"),
    [
        ("Acme: West Region", "bad_characters", "Acme - West Region"),
        ("x" * 600, "too_long", "x" * 500),
    ],
)
def test_names_qbo_refuses_fail_with_a_proposal_and_nothing_is_sent(
    qbo, connected, firm, name, cause, proposed
):
    link = sync(AccountFactory(firm=firm, name=name))
    assert (link.state, link.error_cause, link.error_proposed_name) == (SyncState.FAILED, cause, proposed)
    assert Account.objects.get(pk=link.account_id).name == name  # never altered silently
    assert customers(qbo, connected.realm_id) == []


def test_an_inactive_namesake_is_not_linked_a_new_customer_is_created(qbo, connected, firm):
    old = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Old Mill Cafe"})
    sandbox_create(
        qbo,
        connected.realm_id,
        "Customer",
        {"Id": old["Id"], "SyncToken": old["SyncToken"], "sparse": True, "Active": False},
    )
    link = sync(AccountFactory(firm=firm, name="Old Mill Cafe"))
    assert (link.state, link.link_method) == (SyncState.SYNCED, "created")
    assert link.qbo_customer_id != old["Id"]


def test_pick_links_the_chosen_customer_and_refuses_an_inactive_one(qbo, connected, firm):
    chosen = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Totally Different Name"})
    link = sync(AccountFactory(firm=firm, name="Picky Client"), mode="pick", customer_id=chosen["Id"])
    assert (link.state, link.link_method, link.qbo_customer_id) == (SyncState.SYNCED, "picked", chosen["Id"])
    gone = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Gone Co"})
    sandbox_create(
        qbo,
        connected.realm_id,
        "Customer",
        {"Id": gone["Id"], "SyncToken": gone["SyncToken"], "sparse": True, "Active": False},
    )
    other = sync(AccountFactory(firm=firm, name="Other"), mode="pick", customer_id=gone["Id"])
    assert (other.state, other.error_cause) == (SyncState.FAILED, "picked_inactive")


def test_create_under_another_name_is_the_way_out_of_a_vendor_clash(qbo, connected, firm):
    sandbox_create(qbo, connected.realm_id, "Vendor", {"DisplayName": "Staples"})
    account = AccountFactory(firm=firm, name="Staples")
    assert sync(account).state == SyncState.FAILED
    link = sync(account, mode="create", display_name="Staples (client)")
    assert (link.state, link.link_method, link.qbo_display_name) == (
        SyncState.SYNCED,
        "created",
        "Staples (client)",
    )


def test_unsync_clears_the_link_and_syncing_again_resumes_the_same_customer(qbo, connected, firm, owner):
    account = AccountFactory(firm=firm, name="Resume Me")
    first = sync(account)
    customer_id = first.qbo_customer_id
    skipped = account_sync_skip(account=account, actor=owner)
    assert (skipped.state, skipped.qbo_customer_id, skipped.display_status) == (
        SyncState.SKIPPED,
        "",
        "Skipped",
    )
    Account.objects.filter(pk=account.pk).update(name="Resume Me (renamed)")
    account.refresh_from_db()
    again = sync(account)
    assert (again.state, again.qbo_customer_id) == (SyncState.SYNCED, customer_id)
    assert len(customers(qbo, connected.realm_id)) == 1
    assert again.name_differs


def test_a_double_submit_enqueues_once(connected, firm, django_capture_on_commit_callbacks):
    account = AccountFactory(firm=firm)
    with django_capture_on_commit_callbacks() as callbacks:
        account_sync_request(account=account)
        account_sync_request(account=account)
    assert len(callbacks) == 1


def test_a_second_worker_finds_nothing_to_do(qbo, connected, firm):
    link = account_sync_request(account=AccountFactory(firm=firm))
    assert account_push(link_id=link.pk) == "synced"
    assert account_push(link_id=link.pk) == "not-queued"


@pytest.mark.parametrize("idempotency", ["replay", "off"])
def test_a_reply_lost_after_qbo_created_the_customer_makes_no_duplicate(qbo, connected, firm, idempotency):
    qbo.control.settings(connected.realm_id, idempotency=idempotency)
    qbo.control.fault(connected.realm_id, "drop_after_commit", count=1, path="customer", method="POST")
    account = AccountFactory(firm=firm, name="Lost Reply Ltd")
    link = account_sync_request(account=account)
    assert account_push(link_id=link.pk) == "deferred"
    assert len(customers(qbo, connected.realm_id)) == 1  # QBO did create it
    AccountSyncLink.objects.filter(pk=link.pk).update(next_attempt_at=timezone.now())
    assert account_push(link_id=link.pk) == "synced"
    [only] = customers(qbo, connected.realm_id)
    link.refresh_from_db()
    assert link.qbo_customer_id == only["Id"]


def test_a_503_is_retried_later_and_then_synced(qbo, connected, firm):
    qbo.control.fault(connected.realm_id, "http_503", count=1)
    link = account_sync_request(account=AccountFactory(firm=firm, name="Patient Co"))
    assert account_push(link_id=link.pk) == "deferred"
    link.refresh_from_db()
    assert (link.state, link.display_status, link.attempts) == (SyncState.QUEUED, "Syncing", 1)
    assert link.next_attempt_at > timezone.now()
    AccountSyncLink.objects.filter(pk=link.pk).update(next_attempt_at=timezone.now())
    assert account_push(link_id=link.pk) == "synced"
    assert len(customers(qbo, connected.realm_id)) == 1


def test_case_sensitive_like_in_qbo_still_matches_through_6240(qbo, connected, firm):
    qbo.control.settings(connected.realm_id, query_case_insensitive=False)
    existing = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Sunrise yoga studio"})
    link = sync(AccountFactory(firm=firm, name="Sunrise Yoga Studio"))
    assert (link.state, link.qbo_customer_id) == (SyncState.SYNCED, existing["Id"])
    assert len(customers(qbo, connected.realm_id)) == 1


def test_a_lost_connection_fails_with_the_reason(qbo, connected, firm):
    link = account_sync_request(account=AccountFactory(firm=firm))
    QuickBooksConnection.objects.filter(pk=connected.pk).update(status="needs_reconnect")
    account_push(link_id=link.pk)
    link.refresh_from_db()
    assert (link.state, link.error_cause) == (SyncState.FAILED, "connection")
    assert "reconnected" in link.error_explanation


def test_sync_needs_a_connection(firm):
    with pytest.raises(SyncRequestError, match="not connected"):
        account_sync_request(account=AccountFactory(firm=firm))


def test_the_sweep_puts_back_work_a_dead_worker_left(connected, firm, django_capture_on_commit_callbacks):
    link = account_sync_request(account=AccountFactory(firm=firm))
    AccountSyncLink.objects.filter(pk=link.pk).update(
        state=SyncState.SYNCING, state_changed_at=timezone.now() - timezone.timedelta(minutes=30)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert sync_sweep()["requeued_stuck"] == 1
    assert len(callbacks) == 1
    link.refresh_from_db()
    assert link.state == SyncState.QUEUED


def test_activity_starts_sync_by_the_firms_rule_and_skipped_stays_skipped(connected, firm, owner):
    from tests.factories import make_invoice

    busy = AccountFactory(firm=firm, name="Busy")
    make_invoice(account=busy)
    assert AccountSyncLink.objects.get(account=busy).state == SyncState.QUEUED
    quiet = AccountFactory(firm=firm, name="Quiet")
    assert not AccountSyncLink.objects.filter(account=quiet).exists()
    skipped = AccountFactory(firm=firm, name="Skipped One")
    account_sync_skip(account=skipped, actor=owner)
    make_invoice(account=skipped)
    assert AccountSyncLink.objects.get(account=skipped).state == SyncState.SKIPPED


def test_all_accounts_rule_syncs_new_accounts(connected, firm):
    from accounts.services import AccountData, account_create

    QuickBooksConnection.objects.filter(pk=connected.pk).update(auto_sync_scope="all")
    account = account_create(firm=firm, data=AccountData(name="Brand New"))
    assert AccountSyncLink.objects.get(account=account).state == SyncState.QUEUED


def test_syncing_a_linked_account_again_notices_the_customer_was_deleted_in_qbo(qbo, connected, firm):
    account = AccountFactory(firm=firm, name="Soon Gone")
    link = sync(account)
    customer = qbo.control.entities(connected.realm_id, "Customer")[0]
    sandbox_create(
        qbo,
        connected.realm_id,
        "Customer",
        {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True, "Active": False},
    )
    again = sync(account)
    assert (again.state, again.display_status, again.qbo_customer_id) == (
        SyncState.NOT_SYNCED,
        "Not synced",
        "",
    )
    event = SyncEvent.objects.filter(account=account).first()
    assert event.kind == "deleted_in_qbo"
    assert "deleted or made inactive in QuickBooks Online" in event.message
    # Syncing it once more creates a new customer, as the Not synced tooltip promises.
    fresh = sync(account)
    assert fresh.state == SyncState.SYNCED
    assert fresh.qbo_customer_id not in ("", link.qbo_customer_id)


def test_syncing_a_linked_account_again_keeps_the_link_and_sees_a_rename_in_qbo(qbo, connected, firm):
    account = AccountFactory(firm=firm, name="Renamed There")
    link = sync(account)
    customer = qbo.control.entities(connected.realm_id, "Customer")[0]
    sandbox_create(
        qbo,
        connected.realm_id,
        "Customer",
        {
            "Id": customer["Id"],
            "SyncToken": customer["SyncToken"],
            "sparse": True,
            "DisplayName": "Renamed There Inc",
        },
    )
    again = sync(account)
    assert (again.state, again.qbo_customer_id, again.linked_at) == (
        SyncState.SYNCED,
        link.qbo_customer_id,
        link.linked_at,
    )
    assert (again.qbo_display_name, again.qbo_current_name) == ("Renamed There", "Renamed There Inc")
    assert again.name_differs


# Issue 13, item 4: one-at-a-time sync matches whichever Unicode form either side holds, as bulk sync does.


@pytest.mark.parametrize(
    ("in_qbo", "ours"), [("Café Bleu", "Cafe\u0301 Bleu"), ("Cafe\u0301 Bleu", "Café Bleu")]
)
def test_a_name_in_the_other_unicode_form_is_matched_not_created_again(qbo, connected, firm, in_qbo, ours):
    existing = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": in_qbo})
    link = sync(AccountFactory(firm=firm, name=ours))  # saved as typed, as names were before NFC at save
    assert (link.state, link.qbo_customer_id, link.link_method) == (
        SyncState.SYNCED,
        existing["Id"],
        "matched",
    )
    assert len(customers(qbo, connected.realm_id)) == 1

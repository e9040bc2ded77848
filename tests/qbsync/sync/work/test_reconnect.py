"""Issue 14, activity while disconnected: accounts that got their first invoice or payment while the firm was
disconnected sync once the owner reconnects (the firm's rule asks for them then), through the consent page
and a real worker; before the firm's first sync, they are left to its preview."""

import pytest
from django.urls import reverse

from qbsync.sync.engine.client import connection_mark_needs_reconnect
from qbsync.sync.kinds.accounts import account_push, account_sync_request, account_sync_skip
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, QuickBooksConnection
from qbsync.sync.states import SyncState
from qbsync.sync.work.reconnect import accounts_request_missed_by_the_rule
from tests.factories import AccountFactory, make_invoice, make_payment
from tests.faults.invariants import assert_invariants, wait_settled
from tests.qbsync.sync.test_connection_flow import consent, follow_back, start_connect
from tests.workers import sandbox_worker


def _synced(firm, name: str):
    account = AccountFactory(firm=firm, name=name)
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    return account


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_accounts_active_while_disconnected_sync_after_reconnecting(
    owner_client, owner, qbo, connected, firm
):
    _synced(firm, "Before Client")  # the firm is past its first sync
    assert owner_client.post(reverse("quickbooks:disconnect")).status_code == 302
    invoiced = AccountFactory(firm=firm, name="Invoiced Meanwhile")
    invoice = make_invoice(account=invoiced, amounts=("120.00",))
    paid = AccountFactory(firm=firm, name="Paid Meanwhile")
    payment = make_payment(account=paid, amount="35.00")
    idle = AccountFactory(firm=firm, name="Idle Meanwhile")  # no activity: the rule leaves it
    assert not AccountSyncLink.objects.filter(account__in=[invoiced, paid, idle]).exists()

    follow_back(owner_client, consent(qbo, start_connect(owner_client), realm_id=connected.realm_id))
    assert QuickBooksConnection.objects.get(pk=connected.pk).status == QuickBooksConnection.Status.CONNECTED
    process = sandbox_worker(qbo, name="reconnect-rule", concurrency=2)
    try:
        wait_settled([firm], 60)
    finally:
        process.stop()
    states = dict(AccountSyncLink.objects.filter(firm=firm).values_list("account__name", "state"))
    assert states == {
        "Before Client": SyncState.SYNCED,
        "Invoiced Meanwhile": SyncState.SYNCED,
        "Paid Meanwhile": SyncState.SYNCED,
    }
    assert InvoiceSyncLink.objects.get(invoice=invoice).state == SyncState.SYNCED
    assert PaymentSyncLink.objects.get(payment=payment).state == SyncState.SYNCED
    # Not strict: the idle account is rightly not in QBO; everything linked is, once.
    assert_invariants(qbo, {firm: connected.realm_id}, strict=False)
    names = [c["DisplayName"] for c in qbo.control.entities(connected.realm_id, "Customer")]
    assert "Idle Meanwhile" not in names
    assert names.count("Invoiced Meanwhile") == names.count("Paid Meanwhile") == 1


@pytest.mark.django_db
def test_the_rule_waits_for_the_first_sync_and_leaves_decided_accounts_alone(qbo, connected, firm, owner):
    connection_mark_needs_reconnect(connection_id=connected.pk, reason="revoked")
    early = AccountFactory(firm=firm, name="Early Client")
    make_invoice(account=early)
    QuickBooksConnection.objects.filter(pk=connected.pk).update(status=QuickBooksConnection.Status.CONNECTED)
    assert accounts_request_missed_by_the_rule(firm_id=firm.pk) == 0  # the first sync's preview lists it
    assert not AccountSyncLink.objects.filter(account=early).exists()

    _synced(firm, "First Synced")
    skipped = AccountFactory(firm=firm, name="Skipped Client")
    account_sync_skip(account=skipped, actor=owner)
    connection_mark_needs_reconnect(connection_id=connected.pk, reason="revoked")
    make_invoice(account=skipped)
    QuickBooksConnection.objects.filter(pk=connected.pk).update(status=QuickBooksConnection.Status.CONNECTED)
    assert accounts_request_missed_by_the_rule(firm_id=firm.pk) == 1
    assert AccountSyncLink.objects.get(account=early).state == SyncState.QUEUED
    assert AccountSyncLink.objects.get(account=skipped).state == SyncState.SKIPPED

"""A signed webhook is a hint that something changed in that company, never the truth: what changes here is
decided from QBO's own answer (CDC). Forged-but-signed events about records still live in the sandbox change
nothing; a real change announced by the sandbox's own webhook is still reflected."""

import json

import pytest
from django.urls import reverse

from qbsync.changes.models import ChangePoll, InvoiceChangeInQbo, QboChange
from qbsync.quickbooks.webhooks import signature_for
from qbsync.sandbox.webhooks import cloudevents_payload, legacy_payload
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink
from qbsync.sync.states import SyncState
from tests.factories import make_invoice

from .conftest import catch_up, push_invoice

pytestmark = pytest.mark.django_db
TOKEN = "hint-verifier-token"


@pytest.fixture
def webhooks_on(settings):
    settings.QBO_WEBHOOK_VERIFIER_TOKEN = TOKEN


def send_signed(client, fmt: str, realm_id: str, *events: dict):
    """POST a body signed with our verifier token: what Intuit (or whoever holds the token) would send."""
    from datetime import UTC, datetime

    rows = [
        {"realm_id": realm_id, "time": datetime.now(UTC), "event_id": f"forged-{i}", "deleted_id": None, **e}
        for i, e in enumerate(events)
    ]
    payload = legacy_payload(rows) if fmt == "legacy" else cloudevents_payload(rows)
    body = json.dumps(payload).encode()
    response = client.post(
        reverse("changes:qbo_webhook"),
        data=body,
        content_type="application/json",
        HTTP_INTUIT_SIGNATURE=signature_for(body, TOKEN),
    )
    assert response.status_code == 200, response.content
    return response


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
def test_a_signed_merge_of_a_customer_still_active_in_qbo_changes_nothing(
    client, webhooks_on, connected, qbo_user, synced_invoice, fmt
):
    account = synced_invoice.account
    link = AccountSyncLink.objects.get(account=account)
    ours = link.qbo_customer_id
    unrelated = qbo_user.create_customer("Unrelated Client")

    send_signed(
        client,
        fmt,
        connected.realm_id,
        {"entity": "Customer", "id": unrelated["Id"], "operation": "Merge", "deleted_id": ours},
    )
    catch_up(connected)  # what the webhook asks for: QBO's own answer

    link.refresh_from_db()
    assert (link.state, link.qbo_customer_id) == (SyncState.SYNCED, ours)
    assert qbo_user.record("Customer", ours)["Active"] is True
    later = make_invoice(account=account, number="CH-2")
    created = qbo_user.record("Invoice", push_invoice(later).qbo_invoice_id)
    assert created["CustomerRef"]["value"] == ours


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
def test_a_signed_delete_or_void_of_a_live_customer_or_invoice_changes_nothing(
    client, webhooks_on, connected, qbo_user, synced_invoice, fmt
):
    account_link = AccountSyncLink.objects.get(account=synced_invoice.account)
    invoice_link = InvoiceSyncLink.objects.get(invoice=synced_invoice)

    send_signed(
        client,
        fmt,
        connected.realm_id,
        {"entity": "Customer", "id": account_link.qbo_customer_id, "operation": "Delete"},
        {"entity": "Invoice", "id": invoice_link.qbo_invoice_id, "operation": "Delete"},
        {"entity": "Invoice", "id": invoice_link.qbo_invoice_id, "operation": "Void"},
    )
    catch_up(connected)

    account_link.refresh_from_db()
    invoice_link.refresh_from_db()
    assert account_link.state == SyncState.SYNCED
    assert invoice_link.state == SyncState.SYNCED
    assert not InvoiceChangeInQbo.objects.exists()


def test_a_signed_event_for_another_company_is_not_applied_to_this_one(
    client, webhooks_on, connected, qbo_user, synced_account
):
    link = AccountSyncLink.objects.get(account=synced_account)

    response = send_signed(
        client,
        "legacy",
        "9999000011112222",
        {"entity": "Customer", "id": link.qbo_customer_id, "operation": "Delete"},
    )
    catch_up(connected)

    assert response.json()["unknown_company"] == 1
    link.refresh_from_db()
    assert link.state == SyncState.SYNCED
    assert not ChangePoll.objects.filter(hinted_at__isnull=False).exists()


def test_a_webhook_is_a_hint_that_asks_one_cdc_poll_of_its_company(
    client, webhooks_on, connected, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as sent:
        response = send_signed(
            client,
            "cloudevents",
            connected.realm_id,
            *[{"entity": "Customer", "id": str(100 + i), "operation": "Create"} for i in range(40)],
        )
        send_signed(
            client, "legacy", connected.realm_id, {"entity": "Invoice", "id": "7", "operation": "Void"}
        )

    assert response.json() == {"events": 40, "companies": 1, "merges_claimed": 0, "unknown_company": 0}
    assert not QboChange.objects.exists()  # nothing recorded from the body itself
    poll = ChangePoll.objects.get(connection=connected)
    assert poll.hinted_at is not None
    assert poll.hints_received == 41
    assert len(sent) == 1  # the second delivery joins the poll the first one scheduled

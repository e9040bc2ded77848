"""End to end: someone changes the sandbox company directly, the sandbox POSTs its own signed webhook
(legacy or CloudEvents) to a live qbsync server, the endpoint answers at once and asks one CDC poll of the
company (no beat runs here), and a real Celery worker process reacts to QBO's answer. Forged-but-signed
events change nothing."""

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
from django.urls import reverse

from qbsync.changes.models import ChangePoll, InvoiceChangeInQbo, QboChange, QboPaymentOnInvoice
from qbsync.quickbooks.webhooks import signature_for
from qbsync.sandbox.webhooks import cloudevents_payload, legacy_payload
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice
from tests.workers import sandbox_worker

from .conftest import sync_account

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
TOKEN = "e2e-verifier-token"


def documented_delay(*, ahead: int) -> float:
    """README, "Changes made in QuickBooks": a change shows within the webhook's debounce (2 s) plus the
    changes ahead of it in the inbox at 50 a second or more, plus 10 s."""
    return 2 + ahead / 50 + 10


@pytest.fixture
def worker(qbo):
    # One per test, stopped before the database is flushed (a worker mid-task would hold locks).
    process = sandbox_worker(qbo, name="webhooks-e2e", concurrency=2)
    yield process
    process.stop()


@pytest.fixture(params=["legacy", "cloudevents"])
def subscribed(request, settings, live_server, qbo, connected, worker):
    """The sandbox sends this company's changes to the live server, signed with our verifier token."""
    settings.QBO_WEBHOOK_VERIFIER_TOKEN = TOKEN
    subscription = qbo.control.webhook(
        f"{live_server.url}/integrations/webhooks/quickbooks/",
        TOKEN,
        request.param,
        realms=[connected.realm_id],
    )
    yield request.param
    qbo.control.call("DELETE", f"/_sandbox/webhooks/{subscription['id']}")


def wait_for(check, timeout: float = 30.0, worker=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    changes = list(
        QboChange.objects.values_list("entity", "entity_id", "operation", "deleted_id", "state", "outcome")
    )
    raise AssertionError(
        f"not reached in {timeout}s; changes: {changes}" + (f"\n{worker.log()}" if worker else "")
    )


def deliveries_ok(qbo, since: int) -> list[dict]:
    ours = qbo.control.webhooks()["deliveries"][since:]
    assert ours, "the sandbox delivered nothing"
    assert all(d["ok"] and d["status"] == 200 for d in ours), ours  # 200 within the sandbox's 3 s timeout
    return ours


def sources(firm) -> set[str]:
    return set(QboChange.objects.filter(firm=firm).values_list("source", flat=True))


def test_customer_made_inactive_and_renamed(qbo, subscribed, qbo_user, synced_account, worker, firm):
    link = AccountSyncLink.objects.get(account=synced_account)
    other = AccountFactory(firm=firm, name="Renamed Client")
    other_link = sync_account(other)
    before = len(qbo.control.webhooks()["deliveries"])

    qbo_user.make_inactive(link.qbo_customer_id)
    qbo_user.rename(other_link.qbo_customer_id, "Renamed Client Inc")

    wait_for(lambda: AccountSyncLink.objects.get(pk=link.pk).state == SyncState.NOT_SYNCED, worker=worker)
    wait_for(lambda: AccountSyncLink.objects.get(pk=other_link.pk).qbo_current_name == "Renamed Client Inc")
    assert "made inactive in QuickBooks Online" in AccountSyncLink.objects.get(pk=link.pk).tooltip
    deliveries_ok(qbo, before)
    # Changed on purpose (issue 13 item 3): the webhook is a hint; the CDC answer it asked for reacted.
    assert sources(firm) == {"cdc"}


def test_customers_merged(qbo, subscribed, qbo_user, synced_account, worker, firm):
    link = AccountSyncLink.objects.get(account=synced_account)
    survivor = qbo_user.create_customer(f"Merged Survivor {subscribed}")

    qbo_user.merge(link.qbo_customer_id, survivor["Id"])

    wait_for(lambda: AccountSyncLink.objects.get(pk=link.pk).qbo_customer_id == survivor["Id"], worker=worker)
    assert AccountSyncLink.objects.get(pk=link.pk).state == SyncState.SYNCED
    # The webhook's merge claim, followed once the CDC answer it asked for showed the customer gone.
    assert sources(firm) == {"webhook", "cdc"}


@pytest.mark.parametrize("how", ["deleted", "voided"])
def test_invoice_deleted_or_voided(qbo, subscribed, qbo_user, synced_invoice, worker, how):
    link = InvoiceSyncLink.objects.get(invoice=synced_invoice)
    before = len(qbo.control.webhooks()["deliveries"])

    (qbo_user.delete_invoice if how == "deleted" else qbo_user.void_invoice)(link.qbo_invoice_id)

    wait_for(lambda: InvoiceSyncLink.objects.get(pk=link.pk).state == SyncState.FAILED, worker=worker)
    link.refresh_from_db()
    assert (link.error_cause, link.error_code) == ("changed_in_qbo", f"invoice_{how}")
    assert InvoiceChangeInQbo.objects.get(invoice=synced_invoice).kind == how
    deliveries_ok(qbo, before)


def test_payment_added_in_qbo(qbo, subscribed, qbo_user, synced_invoice, worker):
    link = InvoiceSyncLink.objects.get(invoice=synced_invoice)
    customer = AccountSyncLink.objects.get(account=synced_invoice.account).qbo_customer_id

    payment = qbo_user.receive_payment(customer, link.qbo_invoice_id, "75.50")

    wait_for(lambda: QboPaymentOnInvoice.objects.filter(invoice=synced_invoice).exists(), worker=worker)
    [paid] = QboPaymentOnInvoice.objects.filter(invoice=synced_invoice)
    assert (paid.qbo_payment_id, paid.amount) == (payment["Id"], Decimal("75.50"))
    # Still Synced: a payment made there is shown, not a failure, and nothing goes back.
    assert InvoiceSyncLink.objects.get(pk=link.pk).state == SyncState.SYNCED
    assert len(qbo.control.entities(qbo_user.realm_id, "Payment")) == 1


def api_requests(qbo, realm_id: str, since: int) -> list[dict]:
    return [r for r in qbo.control.requests(realm_id)[since:] if r.get("kind") == "api"]


def test_a_burst_of_webhook_events_for_one_company_is_one_cdc_request(
    qbo, subscribed, qbo_user, worker, firm
):
    """Fifteen customers made in one batch request in QBO: the webhook tells of fifteen changes; qbsync asks
    QBO what changed once (CDC), not once per event."""
    before = len(qbo.control.requests(qbo_user.realm_id))
    names = [f"Imported Client {i:02d}" for i in range(15)]

    qbo_user.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": str(i), "operation": "create", "Customer": {"DisplayName": name}}
                for i, name in enumerate(names)
            ]
        },
    )

    wait_for(lambda: QboChange.objects.filter(firm=firm, entity="Customer").count() == 15, worker=worker)
    wait_for(lambda: not QboChange.objects.filter(firm=firm, state__in=["pending", "processing"]).exists())
    ours = [r for r in api_requests(qbo, qbo_user.realm_id, before) if r.get("requestid") is None]
    cdc = [r for r in ours if r["path"].endswith("/cdc")]
    reads = [r for r in ours if r["method"] == "GET" and "/customer/" in r["path"]]
    assert len(cdc) == 1, ours
    assert reads == []
    assert sources(firm) == {"cdc"}


def test_a_void_behind_a_burst_of_1100_changes_is_reflected_within_the_documented_delay(
    qbo, subscribed, qbo_user, synced_invoice, worker, firm, connected
):
    """1,100 changes are waiting in the inbox (an import of customers in QBO, as CDC recorded them), then the
    invoice is voided there: the inbox drains in order, run after run, until the void is reflected."""
    QboChange.objects.bulk_create(
        QboChange(
            firm=firm,
            realm_id=connected.realm_id,
            event_id=f"import-{i}",
            source=QboChange.Source.CDC,
            entity="Customer",
            entity_id=str(50_000 + i),
            operation="Update",
            payload={"Id": str(50_000 + i), "SyncToken": "0", "DisplayName": f"Imported {i}", "Active": True},
        )
        for i in range(1100)
    )
    link = InvoiceSyncLink.objects.get(invoice=synced_invoice)

    qbo_user.void_invoice(link.qbo_invoice_id)

    wait_for(
        lambda: InvoiceSyncLink.objects.get(pk=link.pk).state == SyncState.FAILED,
        timeout=documented_delay(ahead=1100),
        worker=worker,
    )
    assert not QboChange.objects.filter(firm=firm, state="pending").exists()
    # In order: every imported change was settled before the void's.
    void = QboChange.objects.filter(firm=firm, entity="Invoice").latest("id")
    last_import = QboChange.objects.get(event_id="import-1099")
    assert last_import.processed_at <= void.processed_at


def test_forged_but_signed_merge_and_deletes_change_nothing_through_the_worker(
    qbo, subscribed, qbo_user, synced_invoice, worker, firm, live_server
):
    """Whoever holds the verifier token signs a merge of our customer into an unrelated one, and deletes of
    our live customer and invoice: the worker's CDC poll (what the hint asks for) finds them all alive, and
    nothing changes here; later invoices still go to our customer."""
    account_link = AccountSyncLink.objects.get(account=synced_invoice.account)
    invoice_link = InvoiceSyncLink.objects.get(invoice=synced_invoice)
    ours = account_link.qbo_customer_id
    unrelated = qbo_user.create_customer(f"Unrelated Client {subscribed}")
    # The sandbox's webhook for that customer is a hint too: wait until its CDC poll recorded the customer
    # and everything was handled, so that the forged hint below is the only one left to come.
    unsettled = QboChange.objects.filter(firm=firm, state__in=["pending", "processing"])
    seen = QboChange.objects.filter(firm=firm, entity="Customer", entity_id=unrelated["Id"])
    wait_for(lambda: seen.exists() and not unsettled.exists(), worker=worker)
    hints = ChangePoll.objects.get(firm=firm).hints_received

    rows = [
        {"entity": "Customer", "id": unrelated["Id"], "operation": "Merge", "deleted_id": ours},
        {"entity": "Customer", "id": ours, "operation": "Delete", "deleted_id": None},
        {"entity": "Invoice", "id": invoice_link.qbo_invoice_id, "operation": "Delete", "deleted_id": None},
    ]
    now = datetime.now(UTC)
    events = [
        {"realm_id": qbo_user.realm_id, "time": now, "event_id": f"forged-{i}", **r}
        for i, r in enumerate(rows)
    ]
    payload = legacy_payload(events) if subscribed == "legacy" else cloudevents_payload(events)
    body = json.dumps(payload).encode()
    response = requests.post(
        f"{live_server.url}{reverse('changes:qbo_webhook')}",
        data=body,
        headers={"Content-Type": "application/json", "intuit-signature": signature_for(body, TOKEN)},
        timeout=10,
    )
    assert response.status_code == 200, response.text

    # The hint was taken and the CDC poll it asked for came back, and everything it recorded was handled.
    def polled_after_the_hint():
        poll = ChangePoll.objects.get(firm=firm)
        return poll.hints_received > hints and poll.hinted_at is None and poll.last_polled_at > now

    wait_for(polled_after_the_hint, worker=worker)
    wait_for(lambda: not QboChange.objects.filter(firm=firm, state__in=["pending", "processing"]).exists())
    account_link.refresh_from_db()
    invoice_link.refresh_from_db()
    assert (account_link.state, account_link.qbo_customer_id) == (SyncState.SYNCED, ours)
    assert invoice_link.state == SyncState.SYNCED
    assert not InvoiceChangeInQbo.objects.filter(invoice=synced_invoice).exists()
    later = make_invoice(account=synced_invoice.account, number=f"CH-{subscribed}")
    wait_for(lambda: InvoiceSyncLink.objects.get(invoice=later).state == SyncState.SYNCED, worker=worker)
    created = qbo_user.record("Invoice", InvoiceSyncLink.objects.get(invoice=later).qbo_invoice_id)
    assert created["CustomerRef"]["value"] == ours

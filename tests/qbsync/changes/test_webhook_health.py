"""Webhook health and the CDC safety net (issue 15): a company whose webhooks are healthy is polled every
QBSYNC_CDC_SAFETY_POLL_SECONDS, one that has none or whose webhooks went silent every beat tick. Times are
set on the rows, never waited for."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from qbsync.changes.models import ChangePoll, WebhookEndpoint
from qbsync.changes.selectors import (
    cdc_poll_due,
    cdc_polls_due,
    changes_polling,
    reads_a_month,
    webhooks_health,
    webhooks_healthy,
)
from qbsync.changes.services import inbox
from qbsync.changes.services.inbox import changes_poll_all, changes_poll_connection
from qbsync.quickbooks.webhooks import signature_for
from qbsync.sandbox.webhooks import legacy_payload
from qbsync.sync.models import QuickBooksConnection
from tests.factories import FirmFactory

pytestmark = pytest.mark.django_db
TOKEN = "health-verifier-token"
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def webhooks_on(settings):
    settings.QBO_WEBHOOK_VERIFIER_TOKEN = TOKEN
    settings.QBSYNC_WEBHOOK_TRUST_SECONDS = 24 * 3600
    settings.QBSYNC_CDC_SAFETY_POLL_SECONDS = 6 * 3600
    settings.QBSYNC_CDC_POLL_SECONDS = 300


@pytest.fixture
def webhooks_off(settings):
    settings.QBO_WEBHOOK_VERIFIER_TOKEN = ""
    settings.QBSYNC_CDC_POLL_SECONDS = 300


def company(realm_id: str, *, polled=None, delivered=None) -> QuickBooksConnection:
    """A connected firm (no QBO call is made) whose poll row says when it was last polled and last named by
    a verified webhook delivery."""
    firm = FirmFactory()
    connection = QuickBooksConnection.objects.create(
        firm=firm, realm_id=realm_id, connected_at=NOW - 90 * HOUR
    )
    ChangePoll.objects.create(
        connection=connection,
        firm=firm,
        realm_id=realm_id,
        last_polled_at=polled,
        last_verified_delivery_at=delivered,
    )
    return connection


def endpoint_delivered(at) -> None:
    WebhookEndpoint.objects.update_or_create(
        pk=WebhookEndpoint.SINGLETON, defaults={"last_verified_delivery_at": at}
    )


def post_signed(client, body: bytes, signature: str | None = None):
    return client.post(
        reverse("changes:qbo_webhook"),
        data=body,
        content_type="application/json",
        HTTP_INTUIT_SIGNATURE=signature or signature_for(body, TOKEN),
    )


def legacy_body(realm_id: str) -> bytes:
    row = {"realm_id": realm_id, "time": NOW, "event_id": "e-1", "deleted_id": None}
    return json.dumps(
        legacy_payload([{**row, "entity": "Customer", "id": "1", "operation": "Update"}])
    ).encode()


# The one decision --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("company_at", "endpoint_at", "healthy"),
    [
        (NOW - HOUR, None, True),  # this company's own notice, an hour ago
        (None, NOW - HOUR, True),  # another company's: the endpoint works, this one changed nothing
        (NOW - 30 * HOUR, NOW - 23 * HOUR, True),
        (NOW - 30 * HOUR, NOW - 25 * HOUR, False),  # silent for more than a day everywhere
        (None, None, False),  # never a verified delivery
    ],
)
def test_webhooks_are_healthy_when_a_verified_delivery_reached_the_company_or_the_endpoint_lately(
    webhooks_on, company_at, endpoint_at, healthy
):
    health = webhooks_health(company_delivery_at=company_at, endpoint_delivery_at=endpoint_at, now=NOW)

    assert (health.configured, health.healthy) == (True, healthy)


def test_webhooks_are_never_healthy_when_not_configured(webhooks_off):
    health = webhooks_health(company_delivery_at=NOW, endpoint_delivery_at=NOW, now=NOW)

    assert (health.configured, health.healthy) == (False, False)


# Verified deliveries -----------------------------------------------------------------------------------


def test_only_a_delivery_whose_signature_verifies_counts(client, webhooks_on):
    connection = company("4620816365000000001")
    body = legacy_body(connection.realm_id)

    refused = post_signed(client, body, signature=signature_for(body, "someone-else"))

    assert refused.status_code == 401
    assert not WebhookEndpoint.objects.exists()
    assert ChangePoll.objects.get(connection=connection).last_verified_delivery_at is None
    assert not webhooks_healthy(connection, timezone.now())

    assert post_signed(client, body).status_code == 200

    poll = ChangePoll.objects.get(connection=connection)
    endpoint = WebhookEndpoint.objects.get()
    assert poll.last_verified_delivery_at is not None
    assert endpoint.last_verified_delivery_at == poll.last_verified_delivery_at
    assert endpoint.verified_deliveries == 1
    assert webhooks_healthy(connection, timezone.now())


def test_a_delivery_for_another_company_proves_the_endpoint_for_every_company(client, webhooks_on):
    quiet = company("4620816365000000002")

    assert post_signed(client, legacy_body("9999000011112222")).status_code == 200  # no firm has it

    assert ChangePoll.objects.get(connection=quiet).last_verified_delivery_at is None
    assert WebhookEndpoint.objects.get().verified_deliveries == 1
    assert webhooks_healthy(quiet, timezone.now())


def test_without_the_verifier_token_deliveries_are_refused_and_nothing_counts(client, webhooks_off):
    connection = company("4620816365000000003")
    body = legacy_body(connection.realm_id)

    assert post_signed(client, body).status_code == 401

    assert not WebhookEndpoint.objects.exists()
    assert not webhooks_healthy(connection, timezone.now())


# Which companies beat polls ----------------------------------------------------------------------------


def test_beat_polls_a_company_with_healthy_webhooks_every_six_hours(webhooks_on):
    endpoint_delivered(NOW - 2 * HOUR)
    recent = company("100", polled=NOW - 1 * HOUR)
    hinted = company(
        "101", polled=NOW - timedelta(minutes=10), delivered=NOW - timedelta(minutes=10)
    )  # a webhook's poll counts
    old = company("102", polled=NOW - 6 * HOUR)
    never = company("103")

    assert set(cdc_polls_due(NOW)) == {old.pk, never.pk}
    assert recent.pk not in cdc_polls_due(NOW + 4 * HOUR)
    assert set(cdc_polls_due(NOW + 6 * HOUR)) == {recent.pk, hinted.pk, old.pk, never.pk}


def test_beat_polls_every_tick_without_webhooks_or_when_they_went_silent(webhooks_on):
    endpoint_delivered(NOW - 25 * HOUR)  # silent for more than QBSYNC_WEBHOOK_TRUST_SECONDS
    just_polled = company("200", polled=NOW - timedelta(seconds=60))
    # A poll is stamped a moment after the tick that asked for it: a tick later it is due, not two.
    last_tick = company("201", polled=NOW - timedelta(seconds=298), delivered=NOW - 30 * HOUR)

    assert cdc_polls_due(NOW) == [last_tick.pk]
    assert set(cdc_polls_due(NOW + timedelta(seconds=300))) == {just_polled.pk, last_tick.pk}


def test_beat_polls_every_tick_when_webhooks_are_not_configured(webhooks_off):
    endpoint_delivered(NOW - HOUR)
    connection = company("300", polled=NOW - timedelta(seconds=290), delivered=NOW - HOUR)

    assert cdc_polls_due(NOW) == [connection.pk]


def test_a_company_that_started_over_is_judged_by_its_new_company_alone(webhooks_on):
    connection = company("400", polled=NOW - HOUR, delivered=NOW - HOUR)
    QuickBooksConnection.objects.filter(pk=connection.pk).update(realm_id="401")

    assert cdc_polls_due(NOW) == [connection.pk]  # the old company's times say nothing about this one


def test_changes_poll_all_sends_only_the_due_polls(webhooks_on, monkeypatch):
    endpoint_delivered(timezone.now() - HOUR)
    due = company("500", polled=timezone.now() - 7 * HOUR)
    company("501", polled=timezone.now() - HOUR)
    sent = []
    monkeypatch.setattr(inbox, "send_now", lambda name, *args: sent.append((name, args)))

    assert changes_poll_all() == 1

    assert sent == [(inbox.CHANGES_POLL, (due.pk,))]


def test_cdc_poll_due_counts_any_poll(settings):
    settings.QBSYNC_CDC_POLL_SECONDS = 300
    assert cdc_poll_due(last_polled_at=None, every=21600, now=NOW)
    assert not cdc_poll_due(last_polled_at=NOW - 5 * HOUR, every=21600, now=NOW)
    assert cdc_poll_due(last_polled_at=NOW - 6 * HOUR + timedelta(seconds=100), every=21600, now=NOW)


def test_what_polling_costs_a_month():
    assert reads_a_month(6 * 3600) == 120
    assert reads_a_month(300) == 8640


# Reads counted per poll and per month ------------------------------------------------------------------


def test_each_poll_counts_its_reads_into_the_month(qbo, connected):
    changes_poll_connection(connection_id=connected.pk)
    changes_poll_connection(connection_id=connected.pk)

    poll = ChangePoll.objects.get(connection=connected)
    assert (poll.requests_last_poll, poll.polls_this_month, poll.reads_this_month) == (1, 2, 2)
    polling = changes_polling(connected)
    assert (polling.polls_this_month, polling.reads_this_month) == (2, 2)

    # A new month starts the count again.
    ChangePoll.objects.filter(pk=poll.pk).update(month=poll.month.replace(year=poll.month.year - 1))
    assert changes_polling(connected).reads_this_month == 0
    changes_poll_connection(connection_id=connected.pk)
    poll.refresh_from_db()
    assert (poll.polls_this_month, poll.reads_this_month) == (1, 1)


def test_a_failed_poll_counts_as_a_poll_but_not_as_a_read(qbo, connected):
    changes_poll_connection(connection_id=connected.pk)
    qbo.control.fault(connected.realm_id, "http_500", count=20)
    try:
        outcome = changes_poll_connection(connection_id=connected.pk)
    finally:
        qbo.control.clear_faults(connected.realm_id)

    assert "failed" in outcome
    poll = ChangePoll.objects.get(connection=connected)
    assert (poll.polls_this_month, poll.reads_this_month) == (2, 1)


def test_qbsync_status_shows_webhook_health_and_the_interval_per_company(webhooks_on, capsys):
    endpoint_delivered(timezone.now() - HOUR)
    company("600", polled=timezone.now() - HOUR, delivered=timezone.now() - 2 * HOUR)

    call_command("qbsync_status", "--json")
    report = json.loads(capsys.readouterr().out)["changes_polling"]
    [row] = report["connections"]
    assert (row["realm"], row["webhooks"], row["cdc_every_seconds"]) == ("600", "healthy", 21600)
    assert row["last_verified_delivery"] is not None
    assert report["webhooks_configured"] is True

    call_command("qbsync_status")
    text = capsys.readouterr().out
    assert "Changes from QuickBooks (webhooks and CDC polling)" in text
    assert "webhooks healthy" in text
    assert "CDC every 6 h (~120 reads/month)" in text


# The QuickBooks page -----------------------------------------------------------------------------------


def changes_block(page_client) -> str:
    page = page_client.get(reverse("quickbooks:settings")).content.decode()
    start = page.find('aria-labelledby="qbo-changes"')
    return page[start : page.find("</section>", start)] if start >= 0 else ""


def test_the_quickbooks_page_says_webhooks_work_and_what_the_safety_net_costs(
    webhooks_on, qbo, connected, owner_client
):
    ChangePoll.objects.create(
        connection=connected,
        firm=connected.firm,
        realm_id=connected.realm_id,
        last_verified_delivery_at=timezone.now() - HOUR,
    )

    block = changes_block(owner_client)

    assert 'data-webhooks="healthy"' in block
    assert "QuickBooks Online tells qbsync about changes as they are made there" in block
    assert "Every 6 hours in case a notice was lost, about 120 reads a month" in block
    assert "None for this company yet" not in block


def test_the_quickbooks_page_says_when_webhooks_went_silent(webhooks_on, qbo, connected, firm_admin_client):
    endpoint_delivered(timezone.now() - 30 * HOUR)

    block = changes_block(firm_admin_client)

    assert 'data-webhooks="silent"' in block
    assert "Silent since" in block
    assert "None for this company yet" in block
    assert "Every 5 minutes, about 8,640 reads a month" in block
    assert "this drops to about 120 a month" in block


def test_the_quickbooks_page_says_webhooks_are_not_set_up(webhooks_off, qbo, connected, owner_client):
    block = changes_block(owner_client)

    assert 'data-webhooks="not_configured"' in block
    assert "Not set up for this installation" in block
    assert "Every 5 minutes, about 8,640 reads a month" in block


def test_staff_do_not_see_the_changes_block(webhooks_on, qbo, connected, staff_client):
    assert changes_block(staff_client) == ""

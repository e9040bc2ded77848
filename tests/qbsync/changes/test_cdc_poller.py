"""The CDC poller against the sandbox: the watermark it keeps per connection, the 29-day limit, window
narrowing when an answer hits the object cap, and a revoked connection found by the next call."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from qbsync.changes.models import ChangePoll, QboChange, QboPaymentOnInvoice
from qbsync.changes.services.inbox import changes_poll_all, changes_poll_connection, changes_process
from qbsync.quickbooks import cdc
from qbsync.quickbooks.cdc import parse_qbo_datetime
from qbsync.sync.models import QuickBooksConnection, SyncEvent
from tests.factories import AccountFactory, connection_for_realm, make_invoice

from .conftest import QboUser, push_invoice, sync_account

pytestmark = pytest.mark.django_db


def cdc_requests(sandbox, realm: str) -> list[dict]:
    """The changedSince of every CDC request the sandbox served for ``realm``, oldest first."""
    found = []
    for entry in sandbox.control.requests(realm):
        if entry.get("path", "").endswith("/cdc"):
            query = entry.get("query")
            params = query if isinstance(query, dict) else parse_qs(query or "")
            since = params.get("changedSince")
            found.append(
                {
                    "entities": str(params.get("entities")),
                    "since": parse_qbo_datetime(since[0] if isinstance(since, list) else since),
                }
            )
    return found


def test_the_watermark_moves_forward_and_each_change_is_recorded_once(qbo, connected, qbo_user):
    assert changes_poll_connection(connection_id=connected.pk).startswith("0 new")
    first = ChangePoll.objects.get(connection=connected)
    assert first.changed_since is not None
    assert first.requests_last_poll == 1  # Customer, Invoice and Payment in one request

    customer = qbo_user.create_customer("Polled Client")
    changes_poll_connection(connection_id=connected.pk)
    changes_poll_connection(connection_id=connected.pk)  # overlapping window: nothing new

    second = ChangePoll.objects.get(connection=connected)
    assert second.changed_since > first.changed_since
    assert list(
        QboChange.objects.filter(firm=connected.firm).values_list("entity", "entity_id", "source")
    ) == [("Customer", customer["Id"], "cdc")]
    # Each request started a few seconds before the previous answer's time: no gap between windows.
    sinces = [r["since"] for r in cdc_requests(qbo, connected.realm_id) if "Customer" in r["entities"]]
    assert sinces == sorted(sinces)
    assert sinces[-1] <= second.changed_since
    assert changes_process(connection_id=connected.pk) == {"done": 0, "ignored": 1, "failed": 0, "later": 0}


def test_amounts_with_cents_are_recorded_and_reacted_to(qbo, connected, qbo_user, firm):
    """QBO's amounts are parsed as Decimals (382.5 is not a float here); the recorded copy keeps them exactly,
    and a payment of 62.25 made there shows on the invoice as that amount."""
    account = AccountFactory(firm=firm, name="Cents Client")
    customer_id = sync_account(account).qbo_customer_id
    invoice = make_invoice(account=account, number="CENTS-1", amounts=("262.50", "120.00"))
    qbo_invoice_id = push_invoice(invoice).qbo_invoice_id
    qbo_user.receive_payment(customer_id, qbo_invoice_id, "62.25")

    result = changes_poll_connection(connection_id=connected.pk)

    assert not result.startswith("0 new"), result
    recorded = QboChange.objects.get(entity="Invoice", entity_id=qbo_invoice_id)
    assert Decimal(str(recorded.payload["TotalAmt"])) == Decimal("382.50")
    assert changes_process(connection_id=connected.pk)["failed"] == 0
    [paid] = QboPaymentOnInvoice.objects.filter(invoice=invoice)
    assert paid.amount == Decimal("62.25")


def test_a_watermark_older_than_29_days_starts_at_29_days_and_says_so(qbo, connected, caplog):
    poll = ChangePoll.objects.create(
        connection=connected,
        firm=connected.firm,
        realm_id=connected.realm_id,
        changed_since=timezone.now() - timedelta(days=45),
    )

    outcome = changes_poll_connection(connection_id=connected.pk)

    assert "keeps only 30 days of changes" in outcome
    poll.refresh_from_db()
    assert poll.changed_since > timezone.now() - timedelta(minutes=5)
    [gap] = SyncEvent.objects.filter(firm=connected.firm, kind="cdc_gap")
    assert "Changes made there before that were not seen" in gap.message
    assert "keeps only 30 days" in caplog.text
    # QBO was never asked for more than 29 days (it would refuse more than 30).
    oldest = min(r["since"] for r in cdc_requests(qbo, connected.realm_id))
    assert oldest >= timezone.now() - timedelta(days=29, minutes=5)


def test_cdc_beyond_30_days_is_refused_by_the_sandbox_as_by_qbo(qbo, connected):
    from qbsync.quickbooks.errors import QboError
    from qbsync.sync.engine.client import connection_client

    with pytest.raises(QboError) as refused:
        cdc.changed_since(connection_client(connected), ["Customer"], timezone.now() - timedelta(days=31))
    assert "older than fixed days is not supported" in refused.value.detail


@pytest.fixture
def small_cap_sandbox(settings, monkeypatch, firm, owner):
    """A sandbox of its own (its clock is moved) whose CDC answers at most 4 objects, as qbsync expects."""
    from qbsync.sandbox.testing import running_sandbox

    with running_sandbox() as sandbox:
        settings.QBO_API_BASE_URL = sandbox.api_base
        settings.QBO_OAUTH_DISCOVERY_URL = sandbox.discovery_url
        realm = sandbox.control.create_company("Busy Co", settings={"cdc_max_objects": 4})
        monkeypatch.setattr(cdc, "MAX_OBJECTS", 4)
        connection = connection_for_realm(firm=firm, user=owner, sandbox=sandbox, realm_id=realm)
        yield sandbox, connection


def test_an_answer_at_the_cap_narrows_the_window_until_everything_is_read(small_cap_sandbox):
    sandbox, connection = small_cap_sandbox
    changes_poll_connection(connection_id=connection.pk)  # sets the watermark
    user = QboUser(sandbox, connection.realm_id)
    created = []
    for i in range(11):
        created.append(user.create_customer(f"Client {i:02d}")["Id"])
        sandbox.control.advance_clock(60)  # changes a minute apart on QBO's clock

    outcome = changes_poll_connection(connection_id=connection.pk)

    recorded = list(
        QboChange.objects.filter(firm=connection.firm, entity="Customer").values_list("entity_id", flat=True)
    )
    assert sorted(recorded, key=int) == created
    poll = ChangePoll.objects.get(connection=connection)
    assert "window narrowed" in outcome
    assert poll.requests_last_poll >= 4  # 11 changes at most 4 an answer: at least four windows
    customer_windows = [
        r["since"] for r in cdc_requests(sandbox, connection.realm_id) if "Customer" in r["entities"]
    ]
    assert customer_windows[-3:] == sorted(customer_windows[-3:])
    assert len(set(customer_windows)) >= 4
    # More than a full answer of changes within one second cannot be narrowed (CDC has no paging and
    # whole-second timestamps): what came is kept, the log says some may be missed, and the poll moves on.
    sandbox.control.freeze_clock()  # all five in one second, whenever the test runs
    for i in range(5):
        user.create_customer(f"Same Second {i}")
    outcome = changes_poll_connection(connection_id=connection.pk)
    assert "some may be missed" in outcome
    assert QboChange.objects.filter(firm=connection.firm, entity="Customer").count() >= 11 + 4


@pytest.mark.parametrize("boundary", ["second_inclusive", "second_exclusive"])
def test_narrowed_windows_miss_nothing_and_repeat_nothing_whatever_qbo_does_at_the_boundary(
    small_cap_sandbox, boundary
):
    """Whether QBO answers changes made in changedSince's own second is UNCONFIRMED: a narrowed window
    starts a second before the cut, and what that repeats is recorded once."""
    sandbox, connection = small_cap_sandbox
    sandbox.control.settings(connection.realm_id, cdc_boundary=boundary)
    changes_poll_connection(connection_id=connection.pk)
    user = QboUser(sandbox, connection.realm_id)
    sandbox.control.freeze_clock()
    created = []
    for second in range(4):  # three changes a second: windows are cut right at a second with changes
        created += [user.create_customer(f"Client {second}-{i}")["Id"] for i in range(3)]
        sandbox.control.advance_clock(1)

    outcome = changes_poll_connection(connection_id=connection.pk)

    assert "window narrowed" in outcome
    recorded = QboChange.objects.filter(firm=connection.firm, entity="Customer")
    assert sorted(recorded.values_list("entity_id", flat=True), key=int) == created
    assert changes_poll_connection(connection_id=connection.pk).startswith("0 new")


@pytest.fixture
def frozen_sandbox_clock(qbo):
    """The shared sandbox's wall clock stopped half-way through a second, let go after the test."""
    with qbo.control.clock_frozen_mid_second() as epoch:
        yield epoch


@pytest.mark.parametrize("boundary", ["second_inclusive", "second_exclusive"])
def test_a_change_in_the_second_of_the_watermark_is_recorded_and_reacted_to_once(
    qbo, connected, qbo_user, frozen_sandbox_clock, boundary
):
    """A change made in QBO in the same second as the poll's answer (its watermark): the next poll finds it
    even if QBO leaves that second out, and the polls after that, which may repeat it, record it once."""
    qbo.control.settings(connected.realm_id, cdc_boundary=boundary)
    changes_poll_connection(connection_id=connected.pk)
    watermark = ChangePoll.objects.get(connection=connected).changed_since
    qbo.control.advance_clock(0.2)
    customer = qbo_user.create_customer("Same Second Client")
    assert parse_qbo_datetime(customer["MetaData"]["LastUpdatedTime"]) == watermark.replace(microsecond=0)

    changes_poll_connection(connection_id=connected.pk)
    qbo.control.advance_clock(0.2)
    changes_poll_connection(connection_id=connected.pk)

    assert list(QboChange.objects.filter(firm=connected.firm).values_list("entity", "entity_id")) == [
        ("Customer", customer["Id"])
    ]
    assert changes_process(connection_id=connected.pk) == {"done": 0, "ignored": 1, "failed": 0, "later": 0}


def test_a_revoked_connection_is_marked_needs_reconnect_by_the_next_poll(qbo, connected):
    from qbsync.quickbooks import oauth
    from qbsync.sync.engine.client import oauth_config

    # The firm disconnects the app in QuickBooks Online: Intuit revokes the whole grant.
    oauth.revoke_token(oauth_config(), token=connected.refresh_token)

    outcome = changes_poll_connection(connection_id=connected.pk)

    connected.refresh_from_db()
    assert connected.status == QuickBooksConnection.Status.NEEDS_RECONNECT
    assert "needs reconnect" in outcome
    assert "reconnect" in connected.status_reason
    # No more calls for it until the owner reconnects.
    assert changes_poll_all() == 0
    assert changes_poll_connection(connection_id=connected.pk) == "skipped: not connected"

"""The one retry policy, the same for accounts, invoices and payments: backoff with jitter (or QBO's
Retry-After), QBO's limits never spending an attempt, giving up after the last one, and failing with
the reason and an event."""

import random

import pytest

from qbsync.quickbooks.errors import QboRateLimitError, QboTransientError
from qbsync.sync.engine import retry
from qbsync.sync.engine.causes import FailureCause
from qbsync.sync.engine.errors import SyncFailure
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncEvent
from qbsync.sync.states import SyncAction, SyncState
from tests.factories import AccountFactory, make_invoice, make_payment

KINDS = ["account", "invoice", "payment"]


@pytest.fixture
def link_of(firm):
    account = AccountFactory(firm=firm)
    invoice = make_invoice(account=account)
    payment = make_payment(account=account, allocations={invoice: "100.00"})

    def make(kind: str, state: str = SyncState.SYNCING, attempts: int = 0):
        model, record = {
            "account": (AccountSyncLink, {"account": account}),
            "invoice": (InvoiceSyncLink, {"invoice": invoice}),
            "payment": (PaymentSyncLink, {"payment": payment}),
        }[kind]
        return model.objects.create(firm=firm, state=state, attempts=attempts, **record)

    return make


class Enqueued(list):
    def __call__(self, pk, countdown=None):
        self.append((pk, countdown))


def test_backoff_doubles_with_jitter_up_to_five_minutes(settings, monkeypatch):
    settings.QBSYNC_RETRY_BACKOFF_SECONDS = 2.0
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert [retry.backoff(n) for n in (0, 1, 2, 3)] == [2.0, 4.0, 8.0, 16.0]
    assert retry.backoff(20) == retry.BACKOFF_MAX_SECONDS
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    assert retry.backoff(3) == 8.0  # at least half the step: retries spread, never bunch at zero


def test_qbos_retry_after_wins_over_the_backoff():
    assert retry.backoff(5, retry_after=42.0) == 42.0


@pytest.mark.parametrize("kind", KINDS)
def test_a_transient_failure_defers_with_an_attempt_and_an_event(link_of, kind):
    link = link_of(kind, attempts=2)
    enqueued = Enqueued()

    outcome = retry.defer(link, QboTransientError("gateway", status=503, code="503"), enqueue=enqueued)

    assert outcome == "deferred"
    link.refresh_from_db()
    assert (link.state, link.attempts) == (SyncState.QUEUED, 3)
    assert link.next_attempt_at is not None
    assert [pk for pk, _ in enqueued] == [link.pk]
    assert enqueued[0][1] > 0
    event = SyncEvent.objects.get(kind="retry_scheduled")
    assert event.message.startswith("QuickBooks Online could not be reached; the next try is in ")
    assert "gateway" not in event.message
    assert "503" not in event.message
    assert event.received == {"code": "503", "status": 503, "message": "gateway"}


@pytest.mark.parametrize("kind", KINDS)
def test_qbos_limits_never_spend_an_attempt(link_of, kind):
    link = link_of(kind, attempts=retry.MAX_ATTEMPTS - 1)

    outcome = retry.defer(link, QboRateLimitError("slow down", retry_after=7.0), enqueue=Enqueued())

    assert outcome == "deferred"
    link.refresh_from_db()
    assert (link.state, link.attempts) == (SyncState.QUEUED, retry.MAX_ATTEMPTS - 1)
    assert "asked us to slow down" in SyncEvent.objects.get(kind="retry_scheduled").message


@pytest.mark.parametrize("kind", KINDS)
def test_the_last_attempt_fails_with_the_reason(link_of, kind):
    link = link_of(kind, attempts=retry.MAX_ATTEMPTS - 1)
    enqueued = Enqueued()

    outcome = retry.defer(link, QboTransientError("timed out", code="timeout"), enqueue=enqueued)

    assert outcome == "failed"
    assert enqueued == []
    link.refresh_from_db()
    assert (link.state, link.error_cause, link.error_code) == (
        SyncState.FAILED,
        FailureCause.UNAVAILABLE,
        "timeout",
    )
    assert f"after {retry.MAX_ATTEMPTS} tries, so qbsync stopped trying" in link.error_explanation
    # Issue 14: words for the firm; QBO's last answer is kept in error_message, not in the explanation.
    assert "timed out" not in link.error_explanation
    assert 'Sync Account to QuickBooks"' not in link.error_explanation  # not only accounts give up
    assert link.error_message == "timed out"


@pytest.mark.parametrize("kind", KINDS)
def test_fail_records_the_failure_on_the_link_and_in_its_history(link_of, kind):
    link = link_of(kind)
    failure = SyncFailure(FailureCause.REFUSED, "QuickBooks said no.", code="6000", message="no", tid="t-1")

    assert retry.fail(link, failure)

    link.refresh_from_db()
    assert (link.state, link.error_cause, link.error_code, link.error_message, link.error_intuit_tid) == (
        SyncState.FAILED,
        "refused",
        "6000",
        "no",
        "t-1",
    )
    event = SyncEvent.objects.get(kind="failed")
    assert (event.message, event.received, event.intuit_tid) == (
        "QuickBooks said no.",
        {"code": "6000", "message": "no"},
        "t-1",
    )


@pytest.mark.parametrize("kind", KINDS)
def test_fail_from_a_state_the_action_does_not_allow_records_nothing(link_of, kind):
    link = link_of(kind, state=SyncState.SYNCED)

    assert not retry.fail(link, SyncFailure(FailureCause.REFUSED, "no"))
    assert retry.fail(link, SyncFailure(FailureCause.CHANGED_IN_QBO, "voided there"), action=SyncAction.FLAG)

    assert list(SyncEvent.objects.values_list("message", flat=True)) == ["voided there"]

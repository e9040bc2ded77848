"""The one retry policy of every record kind: how long to wait before the next attempt (backoff with
jitter, or QBO's Retry-After), what counts as an attempt, when to give up, and how a link is deferred or
failed. Accounts, invoices, payments and deletes in QBO all use it."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from qbsync.quickbooks.errors import QboRateLimitError, QboTransientError
from qbsync.quickbooks.governor import RealmThrottled
from qbsync.quickbooks.metering import QboReadsUnavailableError

from ..models import SyncEvent
from ..states import SyncAction
from . import explanations
from .causes import FailureCause
from .errors import SyncFailure
from .history import last_event, record_event
from .transitions import transition

MAX_ATTEMPTS = 8
BACKOFF_MAX_SECONDS = 300.0


def jittered_doubling(step: int, *, first: float, ceiling: float) -> float:
    """``first`` doubled ``step`` times, at most ``ceiling``, times a random factor in [0.5, 1]: so that
    what was put back together does not come back together."""
    return min(ceiling, first * 2 ** min(step, 32)) * random.uniform(0.5, 1.0)


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Seconds before attempt number ``attempt``: QBO's Retry-After when it gave one, else doubling from
    QBSYNC_RETRY_BACKOFF_SECONDS up to five minutes, with jitter."""
    if retry_after:
        return retry_after
    return jittered_doubling(
        attempt, first=settings.QBSYNC_RETRY_BACKOFF_SECONDS, ceiling=BACKOFF_MAX_SECONDS
    )


def counts_as_attempt(exc: QboTransientError) -> bool:
    """QBO's limits (a 429, our governor holding a request back, reads paused for the month) say "later",
    not "failed": waiting them out never uses up a record's attempts, however long they last."""
    return not isinstance(exc, QboRateLimitError | RealmThrottled | QboReadsUnavailableError)


UNREACHABLE = "QuickBooks Online could not be reached; the next try is in {delay}."
SLOWED_DOWN = (
    "QuickBooks Online asked us to slow down; the next try is in {delay}. Waiting for it never uses up a try."
)


def in_words(seconds: float) -> str:
    """A wait as people say it: "5 seconds", "3 minutes"."""
    if seconds < 90:
        n = max(1, round(seconds))
        return f"{n} second{'s' if n != 1 else ''}"
    n = round(seconds / 60)
    return f"{n} minute{'s' if n != 1 else ''}"


READS_WAIT = (
    "Waiting for QuickBooks reads to resume: this needs a look-up in QuickBooks, and reads are paused for "
    "the month. It is held, never sent twice, and goes on by itself when reads are back."
)


def retry_message(exc: QboTransientError, delay: float) -> str:
    """In words; QBO's own message and code stay in the event's received data."""
    if isinstance(exc, QboReadsUnavailableError):
        return READS_WAIT
    return (UNREACHABLE if counts_as_attempt(exc) else SLOWED_DOWN).format(delay=in_words(delay))


def gave_up(exc: QboTransientError, attempts: int) -> SyncFailure:
    return SyncFailure(
        FailureCause.UNAVAILABLE,
        # QBO's last answer stays in error_message and the history's received data, not in the words.
        explanations.GAVE_UP.format(attempts=attempts),
        code=exc.code,
        message=exc.message,
        tid=exc.intuit_tid,
    )


def fail(
    link,
    failure: SyncFailure,
    *,
    action: str = SyncAction.FAIL,
    kind: str = "failed",
    trigger: str = "worker",
    received: dict | None = None,
    **fields,
) -> bool:
    """Settle ``link`` as Failed with the failure's reason and explanation, and record it. ``action`` FLAG
    fails a link from Synced (QBO changed the record); ``fields`` are set in the same move."""
    error = {
        "error_code": failure.code or failure.cause,
        "error_message": failure.message,
        "error_explanation": failure.explanation,
        "error_cause": failure.cause,
        "error_intuit_tid": failure.tid,
    }
    if hasattr(link, "error_proposed_name"):
        error["error_proposed_name"] = failure.proposed_name
    with transaction.atomic():
        if not transition(link, action, next_attempt_at=None, **error, **fields):
            return False
        if received is None:
            received = {"code": failure.code, "message": failure.message} if failure.code else {}
        record_event(
            link=link,
            kind=kind,
            outcome=SyncEvent.Outcome.FAILURE,
            trigger=trigger,
            message=failure.explanation,
            received=received,
            intuit_tid=failure.tid,
        )
    return True


def defer(link, exc: QboTransientError, *, enqueue: Callable[..., None]) -> str:
    """Back to the queue for a later attempt; Failed after the last one. Returns "deferred" or "failed"."""
    attempts = link.attempts + (1 if counts_as_attempt(exc) else 0)
    if attempts >= MAX_ATTEMPTS:
        fail(link, gave_up(exc, attempts))
        return "failed"
    delay = backoff(attempts, exc.retry_after)
    throttled = not counts_as_attempt(exc)
    with transaction.atomic():
        if transition(
            link,
            SyncAction.DEFER,
            attempts=attempts,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        ):
            # A throttling storm is one happening: its first slow-down is said, not every one after it.
            last = last_event(link)
            reads_wait = isinstance(exc, QboReadsUnavailableError)
            if not (
                throttled
                and last is not None
                and last.received.get("throttled")
                and bool(last.received.get("reads_paused")) == reads_wait
            ):
                record_event(
                    link=link,
                    kind="retry_scheduled",
                    outcome=SyncEvent.Outcome.FAILURE,
                    intuit_tid=exc.intuit_tid,
                    message=retry_message(exc, delay),
                    received={"code": exc.code, "status": exc.status, "message": exc.message}
                    | ({"throttled": True} if throttled else {})
                    | ({"reads_paused": True} if reads_wait else {}),
                )
            enqueue(link.pk, countdown=delay)
    return "deferred"

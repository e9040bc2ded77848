"""What the invoice and payment sync share: failing with a reason, retrying a transient failure later,
and noticing the record is gone from QBO. Each moves the link by compare-and-set and records the event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from django.db import transaction
from django.utils import timezone

from qbsync.quickbooks.errors import (
    QboError,
    QboNotFoundError,
    QboReconnectRequiredError,
    QboStaleObjectError,
    QboTransientError,
)

from .. import explanations
from ..models import QuickBooksConnection, SyncEvent, TransactionSyncLink
from ..status import SyncAction
from .accounts import MAX_ATTEMPTS, _backoff, _transition, counts_as_attempt, record_event, retry_message

T = TypeVar("T")

WAITING_FOR_ACCOUNT = "waiting for the account to sync"
BEFORE_START_DATE = "dated before the firm's sync start date ({start})"
ITEM_INACTIVE = (
    "QuickBooks Online refused the invoice because something it uses is inactive or deleted there "
    "({message}): usually an item its lines carry. Make it active in QuickBooks Online, or choose another "
    "item on the QuickBooks settings page, then sync again."
)
PAYMENT_REFERENCE_INACTIVE = (
    "QuickBooks Online refused the payment because something it uses is inactive or deleted there "
    "({message}): its customer or an invoice it pays. Check them in QuickBooks Online, then sync again."
)


def record_kind(link: TransactionSyncLink) -> str:
    """ "invoice" or "payment": what a transaction link links, in words."""
    return "invoice" if hasattr(link, "invoice_id") else "payment"


def usable_connection(firm_id: int) -> QuickBooksConnection | None:
    """The firm's connection when calls may go out on it; None when missing or needing reconnect."""
    connection = QuickBooksConnection.objects.filter(firm_id=firm_id).first()
    return connection if connection is not None and connection.is_usable else None


def retry_once_if_stale(
    write: Callable[[str, str], T], *, sync_token: str, request_id: str, current_token: Callable[[], str]
) -> T:
    """Write with ``sync_token``; on 5010 (QBO's copy changed since we read it) re-read the current
    SyncToken and write once more, under a requestid of its own."""
    try:
        return write(sync_token, request_id)
    except QboStaleObjectError:
        return write(current_token(), request_id + "r")


class Failure(Exception):
    """A sync that cannot succeed without a person: why (``cause``), and what to do (``explanation``)."""

    def __init__(self, cause: str, explanation: str, *, code: str = "", message: str = "", tid: str = ""):
        super().__init__(explanation)
        self.cause, self.explanation, self.code, self.message, self.tid = (
            cause,
            explanation,
            code,
            message,
            tid,
        )


def link_fail(link: TransactionSyncLink, failure: Failure) -> None:
    with transaction.atomic():
        if _transition(
            link,
            SyncAction.FAIL,
            error_code=failure.code or failure.cause,
            error_message=failure.message,
            error_explanation=failure.explanation,
            error_cause=failure.cause,
            error_intuit_tid=failure.tid,
            next_attempt_at=None,
        ):
            record_event(
                link=link,
                kind="failed",
                outcome=SyncEvent.Outcome.FAILURE,
                message=failure.explanation,
                intuit_tid=failure.tid,
            )


def link_lost(link: TransactionSyncLink, *, tid: str, message: str, forget: dict) -> None:
    """QBO says the linked record is gone (610): Not synced, with the reason; never recreated by itself."""
    with transaction.atomic():
        if _transition(link, SyncAction.LOST, qbo_sync_token="", pushed_version=0, **forget):
            record_event(
                link=link,
                kind="deleted_in_qbo",
                outcome=SyncEvent.Outcome.FAILURE,
                intuit_tid=tid,
                message=message,
            )


def link_defer(link: TransactionSyncLink, exc: QboTransientError, *, enqueue: Callable[..., None]) -> str:
    """Back to the queue for a later attempt (backoff with jitter, or QBO's Retry-After); Failed after the
    last attempt."""
    attempts = link.attempts + (1 if counts_as_attempt(exc) else 0)
    if attempts >= MAX_ATTEMPTS:
        link_fail(
            link,
            Failure(
                "unavailable",
                explanations.GAVE_UP.format(attempts=attempts, error=exc.message),
                code=exc.code,
                message=exc.message,
                tid=exc.intuit_tid,
            ),
        )
        return "failed"
    delay = _backoff(attempts, exc.retry_after)
    with transaction.atomic():
        if _transition(
            link,
            SyncAction.DEFER,
            attempts=attempts,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        ):
            record_event(
                link=link,
                kind="retry_scheduled",
                outcome=SyncEvent.Outcome.FAILURE,
                intuit_tid=exc.intuit_tid,
                message=retry_message(exc, delay),
            )
            enqueue(link.pk, countdown=delay)
    return "deferred"


def attempt_push(
    link: TransactionSyncLink,
    work: Callable[[], T],
    *,
    lost_message: str,
    forget: dict,
    enqueue: Callable[..., None],
) -> tuple[str | None, T | None]:
    """Run the QBO calls of one push. Success comes back as (None, result); a failure settles the link and
    comes back as its outcome: "failed" (with the reason), "lost" (gone from QBO) or "deferred"."""
    try:
        return None, work()
    except Failure as failure:
        link_fail(link, failure)
    except QboNotFoundError as exc:
        if all(getattr(link, field) for field in forget):
            link_lost(link, tid=exc.intuit_tid, message=lost_message, forget=forget)
            return "lost", None
        # Nothing of ours exists in QBO yet: 610 on a create means something it refers to is inactive.
        message = exc.message.rstrip(".")
        failure = (
            Failure("item_inactive", ITEM_INACTIVE.format(message=message))
            if record_kind(link) == "invoice"
            else Failure("reference_inactive", PAYMENT_REFERENCE_INACTIVE.format(message=message))
        )
        failure.code, failure.message, failure.tid = exc.code, exc.message, exc.intuit_tid
        link_fail(link, failure)
    except QboReconnectRequiredError as exc:
        link_fail(link, Failure("connection", explanations.CONNECTION, code=exc.code, message=exc.message))
    except QboTransientError as exc:
        return link_defer(link, exc, enqueue=enqueue), None
    except QboError as exc:
        link_fail(
            link,
            Failure(
                "refused",
                explanations.refused(message=exc.message, detail=exc.detail, record=record_kind(link)),
                code=exc.code,
                message=exc.message,
                tid=exc.intuit_tid,
            ),
        )
    return "failed", None

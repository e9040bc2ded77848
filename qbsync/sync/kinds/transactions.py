"""What the invoice and payment sync share: failing with a reason, retrying a transient failure later,
and noticing the record is gone from QBO. Each moves the link by compare-and-set and records the event."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import transaction

from qbsync.quickbooks.errors import (
    QboError,
    QboNotFoundError,
    QboReconnectRequiredError,
    QboStaleObjectError,
    QboTransientError,
)

from ..engine import explanations
from ..engine.errors import SyncFailure
from ..engine.history import record_event
from ..engine.retry import defer, fail
from ..engine.transitions import transition
from ..models import SyncEvent, TransactionSyncLink
from ..states import SyncAction

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


def retry_once_if_stale(
    write: Callable[[str, str], T], *, sync_token: str, request_id: str, current_token: Callable[[], str]
) -> T:
    """Write with ``sync_token``; on 5010 (QBO's copy changed since we read it) re-read the current
    SyncToken and write once more, under a requestid of its own."""
    try:
        return write(sync_token, request_id)
    except QboStaleObjectError:
        return write(current_token(), request_id + "r")


def link_lost(link: TransactionSyncLink, *, tid: str, message: str, forget: dict) -> None:
    """QBO says the linked record is gone (610): Not synced, with the reason; never recreated by itself."""
    with transaction.atomic():
        if transition(link, SyncAction.LOST, qbo_sync_token="", pushed_version=0, **forget):
            record_event(
                link=link,
                kind="deleted_in_qbo",
                outcome=SyncEvent.Outcome.FAILURE,
                intuit_tid=tid,
                message=message,
            )


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
    except SyncFailure as failure:
        fail(link, failure)
    except QboNotFoundError as exc:
        if all(getattr(link, field) for field in forget):
            link_lost(link, tid=exc.intuit_tid, message=lost_message, forget=forget)
            return "lost", None
        # Nothing of ours exists in QBO yet: 610 on a create means something it refers to is inactive.
        message = exc.message.rstrip(".")
        failure = (
            SyncFailure("item_inactive", ITEM_INACTIVE.format(message=message))
            if record_kind(link) == "invoice"
            else SyncFailure("reference_inactive", PAYMENT_REFERENCE_INACTIVE.format(message=message))
        )
        failure.code, failure.message, failure.tid = exc.code, exc.message, exc.intuit_tid
        fail(link, failure)
    except QboReconnectRequiredError as exc:
        fail(link, SyncFailure("connection", explanations.CONNECTION, code=exc.code, message=exc.message))
    except QboTransientError as exc:
        return defer(link, exc, enqueue=enqueue), None
    except QboError as exc:
        fail(
            link,
            SyncFailure(
                "refused",
                explanations.refused(message=exc.message, detail=exc.detail, record=record_kind(link)),
                code=exc.code,
                message=exc.message,
                tid=exc.intuit_tid,
            ),
        )
    return "failed", None

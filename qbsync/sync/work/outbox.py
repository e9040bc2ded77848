"""Deletes in QBO, through the outbox: a record deleted here while QBO has it leaves a row (written with
the delete, in its transaction), and this carries it out. Safe to repeat: a row is claimed by
compare-and-set, and a delete of something already gone counts as done. Retries follow the engine's
policy (`qbsync/sync/engine/retry.py`)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from qbsync.quickbooks.errors import QboError, QboTransientError
from qbsync.quickbooks.requestids import request_id_for

from ..engine.client import connection_client
from ..engine.connection import usable_connection
from ..engine.enqueue import enqueue_outbox
from ..engine.leases import OUTBOX_LEASE
from ..engine.retry import MAX_ATTEMPTS, backoff
from ..kinds.account_records import invoices_release_after_deletes, payments_release_waiting
from ..kinds.payments import PAYMENT
from ..kinds.transactions import kind_of_entity
from ..models import SyncEvent, SyncOutbox

NEVER_REACHED = (
    "The {entity} {label} was deleted here before QuickBooks Online had it; nothing to delete there."
)
NOT_THERE_YET = (
    "Deleted here while its create's outcome was unknown: not in QuickBooks Online yet; looked for again "
    "once a create sent before the delete can no longer land."
)
DELETE_AND_VOID_REFUSED = (
    "Invoice {label} was deleted here, but QuickBooks Online refused to delete or void it ({message}). "
    "Unlink its payments in QuickBooks Online, then delete the invoice there."
)


def outbox_process(*, row_id: int) -> str:
    """Carry out one pending outbox row. Safe to repeat: a row is claimed by compare-and-set, a delete of
    something already gone counts as done."""
    now = timezone.now()
    claimed = (
        SyncOutbox.objects.filter(pk=row_id, state=SyncOutbox.State.PENDING)
        .exclude(next_attempt_at__gt=now + timedelta(seconds=1))
        .update(next_attempt_at=now + OUTBOX_LEASE, attempts=F("attempts") + 1)
    )
    if not claimed:
        return "not-pending"
    row = SyncOutbox.objects.get(pk=row_id)
    connection = usable_connection(row.firm_id)
    if connection is None:
        return _outbox_retry(row, "QuickBooks Online is not connected", None)
    client = connection_client(connection)
    kind = kind_of_entity(row.entity)
    try:
        if row.qbo_id:
            outcome = kind.delete_in_qbo(client, row, request_id_for("del", row.entity, row.firm_id, row.pk))
        else:
            outcome = _delete_found_by_marker(kind, client, row)
            if outcome is None:
                return _look_again_later(row)
    except QboTransientError as exc:
        return _outbox_retry(row, exc.message, exc.retry_after)
    except QboError as exc:
        outcome = DELETE_AND_VOID_REFUSED.format(label=row.local_label, message=exc.message)
        _outbox_finish(row, SyncOutbox.State.FAILED, outcome, SyncEvent.Outcome.FAILURE, exc.intuit_tid)
        return "failed"
    _outbox_finish(row, SyncOutbox.State.DONE, outcome, SyncEvent.Outcome.SUCCESS, client.last_intuit_tid)
    return "done"


def _delete_found_by_marker(kind, client, row: SyncOutbox) -> str | None:
    """A record deleted here while its create's outcome was unknown: delete every copy QBO has under its
    customer with its marker (normally one). None when QBO has none yet and one may still land."""
    found = kind.find_by_marker(client, row.qbo_customer_id, row.marker)
    if not found:
        if row.look_until and timezone.now() < row.look_until:
            return None
        return NEVER_REACHED.format(entity=row.entity.lower(), label=row.local_label)
    outcomes = []
    for qbo_record in found:
        row.qbo_id, row.qbo_sync_token = qbo_record.id, qbo_record.sync_token
        SyncOutbox.objects.filter(pk=row.pk).update(qbo_id=row.qbo_id, qbo_sync_token=row.qbo_sync_token)
        request_id = request_id_for("del", row.entity, row.firm_id, row.pk, qbo_record.id)
        outcomes.append(kind.delete_in_qbo(client, row, request_id))
    return " ".join(outcomes)


def _look_again_later(row: SyncOutbox) -> str:
    """Not in QBO yet, while a create sent before the delete may still land: look once more when it no
    longer can. Waiting is not a failed attempt."""
    delay = max(0.0, (row.look_until - timezone.now()).total_seconds())
    SyncOutbox.objects.filter(pk=row.pk).update(
        next_attempt_at=row.look_until, attempts=F("attempts") - 1, result=NOT_THERE_YET
    )
    enqueue_outbox(row.pk, countdown=delay)
    return "deferred"


def _outbox_retry(row: SyncOutbox, message: str, retry_after: float | None) -> str:
    if row.attempts >= MAX_ATTEMPTS:
        text = DELETE_AND_VOID_REFUSED.format(label=row.local_label, message=message)
        _outbox_finish(row, SyncOutbox.State.FAILED, text, SyncEvent.Outcome.FAILURE, "")
        return "failed"
    delay = backoff(row.attempts, retry_after)
    SyncOutbox.objects.filter(pk=row.pk).update(
        next_attempt_at=timezone.now() + timedelta(seconds=delay), result=message
    )
    enqueue_outbox(row.pk, countdown=delay)
    return "deferred"


def _outbox_finish(row: SyncOutbox, state: str, text: str, outcome: str, tid: str) -> None:
    with transaction.atomic():
        SyncOutbox.objects.filter(pk=row.pk).update(state=state, result=text, next_attempt_at=None)
        SyncEvent.objects.create(
            firm_id=row.firm_id,
            account_id=row.account_id,
            kind="deleted",
            outcome=outcome,
            trigger="worker",
            message=text,
            intuit_tid=tid,
            sent={"operation": "delete", "Id": row.qbo_id},
        )
        if row.entity == PAYMENT.outbox_entity:
            invoices_release_after_deletes(account_id=row.account_id)
            payments_release_waiting(account_id=row.account_id)

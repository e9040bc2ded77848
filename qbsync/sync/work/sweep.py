"""The sweep (beat, every minute): puts back what workers dropped. Links stuck in Syncing past their lease
go back to the queue, queued links nobody took are enqueued again, records left waiting for what has
already synced are released, stalled bulk runs and batch pushers are resumed, and due outbox rows are
enqueued. Every record kind's lease and grace live in `qbsync/sync/engine/leases.py`."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..engine.enqueue import (
    ACCOUNT_RECORDS_MOVE,
    BULK_SYNC_RUN,
    enqueue,
    enqueue_account_push,
    enqueue_invoice_push,
    enqueue_outbox,
    enqueue_payment_push,
)
from ..engine.history import record_event
from ..engine.leases import BULK_HOLD, QUEUED_GRACE, SYNCING_LEASE
from ..engine.transitions import transition
from ..kinds.account_records import (
    invoices_release_after_deletes,
    invoices_release_waiting,
    payments_release_waiting,
)
from ..kinds.payments import payment_waits_over
from ..kinds.transactions import MOVING_TO_NEW_CUSTOMER, WAITING_FOR_ACCOUNT
from ..models import AccountSyncLink, BulkSyncPlan, InvoiceSyncLink, PaymentSyncLink, SyncOutbox
from ..states import SyncAction, SyncState
from .batches import batch_push_resume


def sync_sweep(*, now=None, limit: int = 500) -> dict[str, int]:
    """Put back what workers dropped: links stuck in Syncing past the lease, and queued links nobody took
    (accounts, invoices and payments alike)."""
    now = now or timezone.now()
    counts = {"requeued_stuck": 0, "reenqueued": 0}
    links = (
        (AccountSyncLink, enqueue_account_push),
        (InvoiceSyncLink, enqueue_invoice_push),
        (PaymentSyncLink, enqueue_payment_push),
    )
    for model, enqueue_push in links:
        stuck = list(
            model.objects.filter(
                state=SyncState.SYNCING, state_changed_at__lt=now - SYNCING_LEASE
            ).values_list("pk", flat=True)[:limit]
        )
        for pk in stuck:
            link = model.objects.get(pk=pk)
            # A record stuck mid-push may have reached QBO: the single push looks it up before creating.
            single = {} if model is AccountSyncLink else {"in_batch": False}
            with transaction.atomic():
                if transition(link, SyncAction.DEFER, next_attempt_at=None, **single):
                    record_event(
                        link=link,
                        kind="requeued",
                        trigger="sweep",
                        message="The worker handling this sync stopped; it was put back in the queue.",
                    )
                    enqueue_push(link.pk)
        waiting = model.objects.filter(
            state=SyncState.QUEUED, state_changed_at__lt=now - QUEUED_GRACE
        ).exclude(next_attempt_at__gt=now)
        if model is not AccountSyncLink:
            # Invoices and payments waiting for what they depend on are released when it syncs, not polled;
            # first-sync records belong to the batch pushers (resumed below).
            waiting = waiting.filter(waiting_reason="", in_batch=False)
        waiting_ids = list(waiting.values_list("pk", flat=True)[:limit])
        for pk in waiting_ids:
            with transaction.atomic():
                enqueue_push(pk)
        counts["requeued_stuck"] += len(stuck)
        counts["reenqueued"] += len(waiting_ids)
    counts["waiters_released"] = _release_lost_waiters(now=now, limit=limit)
    counts["moves_resumed"] = _resume_lost_moves(now=now, limit=limit)
    counts["bulk_resumed"] = _resume_stalled_bulk_runs(now=now)
    counts["batch_pushers_started"] = batch_push_resume(now=now)
    counts["outbox_reenqueued"] = _reenqueue_outbox(now=now, limit=limit)
    return counts


def _release_lost_waiters(*, now, limit: int) -> int:
    """Records still waiting for what has already synced (a change committed while the release ran, so
    the release did not see it) are released here rather than waiting for nothing."""
    stale = now - QUEUED_GRACE
    for_account = set(
        InvoiceSyncLink.objects.filter(
            state=SyncState.QUEUED,
            waiting_reason=WAITING_FOR_ACCOUNT,
            state_changed_at__lt=stale,
            invoice__account__sync_link__state=SyncState.SYNCED,
        ).values_list("invoice__account_id", flat=True)[:limit]
    )
    for_invoices = set(
        payment_waits_over(
            PaymentSyncLink.objects.filter(state=SyncState.QUEUED, state_changed_at__lt=stale).exclude(
                waiting_reason=""
            )
        ).values_list("payment__account_id", flat=True)[:limit]
    )
    released = 0
    for account_id in for_account:
        with transaction.atomic():
            released += invoices_release_waiting(account_id=account_id)
    for account_id in for_invoices | for_account:
        with transaction.atomic():
            released += payments_release_waiting(account_id=account_id)
    return released + invoices_release_after_deletes(before=stale, limit=limit)


def _resume_lost_moves(*, now, limit: int) -> int:
    """Records still waiting for their copies to follow their account's new customer (the move's message
    was lost, or it waited for a reconnect) are moved again: a move repeats nothing that was done."""
    stale = now - QUEUED_GRACE
    accounts = set()
    for model, record in ((InvoiceSyncLink, "invoice"), (PaymentSyncLink, "payment")):
        accounts |= set(
            model.objects.filter(
                state=SyncState.QUEUED,
                waiting_reason=MOVING_TO_NEW_CUSTOMER,
                state_changed_at__lt=stale,
                **{f"{record}__account__sync_link__state": SyncState.SYNCED},
            ).values_list(f"{record}__account__sync_link", flat=True)[:limit]
        )
    for link_id in accounts:
        with transaction.atomic():
            enqueue(ACCOUNT_RECORDS_MOVE, link_id)
    return len(accounts)


def _reenqueue_outbox(*, now, limit: int) -> int:
    due = list(
        SyncOutbox.objects.filter(state=SyncOutbox.State.PENDING)
        .filter(
            Q(next_attempt_at__lt=now) | Q(next_attempt_at__isnull=True, created_at__lt=now - QUEUED_GRACE)
        )
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        with transaction.atomic():
            enqueue_outbox(pk)
    return len(due)


def _resume_stalled_bulk_runs(*, now) -> int:
    stalled = list(
        BulkSyncPlan.objects.filter(
            state=BulkSyncPlan.State.RUNNING, updated_at__lt=now - BULK_HOLD
        ).values_list("pk", flat=True)
    )
    for pk in stalled:
        BulkSyncPlan.objects.filter(pk=pk).update(updated_at=now)
        # A run that has not moved for the hold died holding its lease, which has ended by now (the hold
        # is longer); said in the clock the run's lease is read in, so the resumed run takes it over.
        BulkSyncPlan.objects.filter(pk=pk, run_until__lte=now).update(run_until=timezone.now())
        enqueue(BULK_SYNC_RUN, pk)
    return len(stalled)

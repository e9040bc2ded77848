"""Enqueueing work: every service that queues a task does it here, after its transaction commits (a
rolled-back intent queues nothing; a lost message is found again by the sweep).

Messages are sent by task name, the contract between this module and the task modules
(`qbsync/sync/tasks.py`, `qbsync/changes/tasks.py`, `qbsync/health/tasks.py`), which register the tasks
under these names and import the services: so no service imports a task, and queued messages survive a
deploy as long as the names stay."""

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from celery import current_app
from django.db import transaction
from django.utils import timezone

from ..models import BatchPushSlot
from .leases import QUEUED_GRACE

ACCOUNT_PUSH = "qbsync.qbo.account_push"
INVOICE_PUSH = "qbsync.qbo.invoice_push"
PAYMENT_PUSH = "qbsync.qbo.payment_push"
OUTBOX_PROCESS = "qbsync.qbo.outbox_process"
BATCH_PUSH = "qbsync.qbo.transactions_batch_push"
SINGLES_PUSH = "qbsync.qbo.transactions_singles_push"
BULK_SYNC_PREVIEW = "qbsync.qbo.bulk_sync_preview"
BULK_SYNC_RUN = "qbsync.qbo.bulk_sync_run"
ACCOUNT_RECORDS_MOVE = "qbsync.qbo.account_records_move"
CONNECTION_CHECK = "qbsync.qbo.connection_check"
SYNC_SWEEP = "qbsync.sync_sweep"
READ_BUDGET_CHECK = "qbsync.read_budget_check"
# Inbound changes and sync health (qbsync/changes/tasks.py, qbsync/health/tasks.py).
CHANGES_PROCESS = "qbsync.qbo.changes_process"
CHANGES_POLL = "qbsync.qbo.changes_poll"
CHANGES_POLL_ALL = "qbsync.changes_poll_all"
RECONCILIATION_RUN = "qbsync.qbo.reconciliation_run"
RECONCILIATION_NIGHTLY = "qbsync.reconciliation_nightly"
NOTIFICATIONS_CHECK = "qbsync.notifications_check"


@dataclass(frozen=True)
class TaskMessage:
    """A message for the task registered under ``name``."""

    name: str

    def send(self, args: tuple, countdown: float | None = None) -> None:
        current_app.send_task(self.name, args=list(args), countdown=countdown)


def send_now(task_name: str, *args) -> None:
    """Send ``task_name(*args)`` at once, whatever the transaction (beat fan-outs that write nothing)."""
    TaskMessage(task_name).send(args)


def enqueue(task_name: str, *args, countdown: float | None = None) -> None:
    """Send ``task_name(*args)`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(TaskMessage(task_name).send, args, countdown))


def enqueue_account_push(link_id: int, countdown: float | None = None) -> None:
    enqueue(ACCOUNT_PUSH, link_id, countdown=countdown)


def enqueue_invoice_push(link_id: int, countdown: float | None = None) -> None:
    enqueue(INVOICE_PUSH, link_id, countdown=countdown)


def enqueue_payment_push(link_id: int, countdown: float | None = None) -> None:
    enqueue(PAYMENT_PUSH, link_id, countdown=countdown)


def enqueue_outbox(row_id: int, countdown: float | None = None) -> None:
    enqueue(OUTBOX_PROCESS, row_id, countdown=countdown)


def enqueue_singles(firm_id: int, link_ids: dict[str, list[int]], countdown: float | None = None) -> None:
    """Push these first-sync records of the firm one at a time, in one task (``link_ids``: by record
    kind's name, in the order they go)."""
    enqueue(SINGLES_PUSH, firm_id, link_ids, countdown=countdown)


def wake_batch_pusher(firm_id: int) -> None:
    """The firm has first-sync records to batch: after commit, wake its batch pusher."""
    transaction.on_commit(partial(start_batch_pusher, firm_id))


def start_batch_pusher(firm_id: int, countdown: float | None = None) -> bool:
    """Send the firm's batch pusher a message, unless it is running (it looks for new work before it
    stops) or a message to start it is already on its way: new work wakes it once, however many records
    arrive. True when a message was sent."""
    now = timezone.now()
    slot, _ = BatchPushSlot.objects.get_or_create(firm_id=firm_id, number=0)
    woken = (
        BatchPushSlot.objects.filter(pk=slot.pk)
        .exclude(held_until__gt=now)
        # A message whose time is still to come, or that went out within the grace, is on its way; one
        # older than the grace was lost (the sweep comes here too).
        .exclude(wake_due_at__gt=now - QUEUED_GRACE)
        .update(wake_due_at=now + timedelta(seconds=countdown or 0))
    )
    if woken:
        TaskMessage(BATCH_PUSH).send((firm_id,), countdown)
    return bool(woken)

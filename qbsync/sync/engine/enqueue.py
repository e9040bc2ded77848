"""Enqueueing work: every service that queues a task does it here, after its transaction commits (a
rolled-back intent queues nothing; a lost message is found again by the sweep).

Messages are sent by task name, the contract between this module and the task modules
(`qbsync/sync/tasks.py`, `qbsync/changes/tasks.py`, `qbsync/health/tasks.py`), which register the tasks
under these names and import the services: so no service imports a task, and queued messages survive a
deploy as long as the names stay."""

from dataclasses import dataclass
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import BatchPushSlot

ACCOUNT_PUSH = "qbsync.qbo.account_push"
INVOICE_PUSH = "qbsync.qbo.invoice_push"
PAYMENT_PUSH = "qbsync.qbo.payment_push"
OUTBOX_PROCESS = "qbsync.qbo.outbox_process"
BATCH_PUSH = "qbsync.qbo.transactions_batch_push"
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


def batch_pushers() -> int:
    """How many batch pushers a firm may run at once (QBSYNC_BATCH_PUSHERS)."""
    return max(1, int(getattr(settings, "QBSYNC_BATCH_PUSHERS", 3)))


def enqueue_batch_pushers(firm_id: int) -> None:
    """The firm has first-sync records to batch: after commit, start pushers in its free slots."""
    transaction.on_commit(partial(start_batch_pushers, firm_id))


def start_batch_pushers(firm_id: int, countdown: float | None = None) -> int:
    """Start a pusher for each of the firm's free slots now; returns how many."""
    held = BatchPushSlot.objects.filter(firm_id=firm_id, held_until__gt=timezone.now()).count()
    free = batch_pushers() - held
    for _ in range(free):
        TaskMessage(BATCH_PUSH).send((firm_id,), countdown)
    return max(free, 0)

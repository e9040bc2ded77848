"""Celery tasks of the QuickBooks integration. Each takes ids and calls one service; retry timing of sync
work lives in the database (the services schedule it), so these tasks never retry blindly.

Tasks are registered under the names in `engine/enqueue.py`, which the services send by name: the tasks
import the services, never the other way round, and queued messages survive a deploy.

The sync tasks run their service through `fairness.run_fairly`: a task whose company (realm) is throttled
or already holds its share of the workers goes back on the queue for a moment, so that one slow or
throttled company never holds every worker (qbsync/sync/fairness.py)."""

from celery import shared_task

from qbsync.quickbooks.errors import QboTransientError

from .engine import enqueue as names
from .engine.retry import backoff
from .fairness import realm_of_task, run_fairly
from .kinds.accounts import account_push as push_account
from .kinds.invoices import invoice_push as push_invoice
from .kinds.payments import payment_push as push_payment
from .services.connections import connection_check as check_connection
from .work.batches import transactions_batch_push as push_batch
from .work.bulk import bulk_sync_preview as preview_bulk_sync
from .work.bulk import bulk_sync_run as run_bulk_sync
from .work.outbox import outbox_process as process_outbox
from .work.read_budget import read_budget_check as check_read_budget
from .work.relink import account_records_move as move_account_records
from .work.singles import transactions_singles_push as push_singles
from .work.sweep import sync_sweep as sweep

# Set-aside tasks come back as new messages; they are not retries of failed work, so there is no limit.
FAIR = {"bind": True, "max_retries": None}


@shared_task(name=names.CONNECTION_CHECK, bind=True, max_retries=5, ignore_result=False)
def connection_check(self, connection_id: int) -> dict:
    try:
        profile = check_connection(connection_id=connection_id)
    except QboTransientError as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, exc.retry_after)) from exc
    return {"realm_id": profile.realm_id, "company_name": profile.name}


@shared_task(name=names.ACCOUNT_PUSH, **FAIR)
def account_push(self, link_id: int) -> str:
    return run_fairly(self, realm_of_task(self.name, link_id), lambda: push_account(link_id=link_id))


@shared_task(name=names.SYNC_SWEEP)
def sync_sweep() -> dict:
    return sweep()


@shared_task(name=names.READ_BUDGET_CHECK)
def read_budget_check() -> dict:
    return check_read_budget()


@shared_task(name=names.BULK_SYNC_PREVIEW)
def bulk_sync_preview(plan_id: int) -> str:
    return preview_bulk_sync(plan_id=plan_id).state


@shared_task(name=names.BULK_SYNC_RUN, **FAIR)
def bulk_sync_run(self, plan_id: int) -> dict | str:
    return run_fairly(
        self,
        realm_of_task(self.name, plan_id),
        lambda: run_bulk_sync(plan_id=plan_id, run_id=self.request.id or ""),
        batch=True,
    )


@shared_task(name=names.INVOICE_PUSH, **FAIR)
def invoice_push(self, link_id: int) -> str:
    return run_fairly(self, realm_of_task(self.name, link_id), lambda: push_invoice(link_id=link_id))


@shared_task(name=names.OUTBOX_PROCESS, **FAIR)
def outbox_process(self, row_id: int) -> str:
    return run_fairly(self, realm_of_task(self.name, row_id), lambda: process_outbox(row_id=row_id))


@shared_task(name=names.PAYMENT_PUSH, **FAIR)
def payment_push(self, link_id: int) -> str:
    return run_fairly(self, realm_of_task(self.name, link_id), lambda: push_payment(link_id=link_id))


@shared_task(name=names.BATCH_PUSH, **FAIR)
def transactions_batch_push(self, firm_id: int) -> dict | str:
    return run_fairly(
        self,
        realm_of_task(self.name, firm_id),
        lambda: push_batch(firm_id=firm_id, run_id=self.request.id or ""),
        batch=True,
    )


@shared_task(name=names.SINGLES_PUSH, **FAIR)
def transactions_singles_push(self, firm_id: int, link_ids: dict[str, list[int]]) -> dict | str:
    return run_fairly(
        self, realm_of_task(self.name, firm_id), lambda: push_singles(firm_id=firm_id, link_ids=link_ids)
    )


@shared_task(name=names.ACCOUNT_RECORDS_MOVE, **FAIR)
def account_records_move(self, link_id: int) -> dict | str:
    return run_fairly(
        self, realm_of_task(self.name, link_id), lambda: move_account_records(link_id=link_id), batch=True
    )

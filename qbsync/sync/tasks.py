"""Celery tasks of the QuickBooks integration. Each takes ids and calls one service; retry timing of sync
work lives in the database (the services schedule it), so these tasks never retry blindly.

The sync tasks run their service through `fairness.run_fairly`: a task whose company (realm) is throttled
or already holds its share of the workers goes back on the queue for a moment, so that one slow or
throttled company never holds every worker (qbsync/sync/fairness.py)."""

from celery import shared_task

from qbsync.quickbooks.errors import QboTransientError

from .fairness import realm_of_task, run_fairly

# Set-aside tasks come back as new messages; they are not retries of failed work, so there is no limit.
FAIR = {"bind": True, "max_retries": None}


@shared_task(name="qbsync.qbo.connection_check", bind=True, max_retries=5, ignore_result=False)
def connection_check(self, connection_id: int) -> dict:
    from qbsync.sync.services.connections import connection_check as check

    try:
        profile = check(connection_id=connection_id)
    except QboTransientError as exc:
        raise self.retry(exc=exc, countdown=exc.retry_after or 2**self.request.retries) from exc
    return {"realm_id": profile.realm_id, "company_name": profile.name}


@shared_task(name="qbsync.qbo.account_push", **FAIR)
def account_push(self, link_id: int) -> str:
    from qbsync.sync.services.accounts import account_push as push

    return run_fairly(self, realm_of_task(self.name, link_id), lambda: push(link_id=link_id))


@shared_task(name="qbsync.sync_sweep")
def sync_sweep() -> dict:
    from qbsync.sync.services.accounts import account_sync_sweep

    return account_sync_sweep()


@shared_task(name="qbsync.qbo.bulk_sync_preview")
def bulk_sync_preview(plan_id: int) -> str:
    from qbsync.sync.services.bulk import bulk_sync_preview as preview

    return preview(plan_id=plan_id).state


@shared_task(name="qbsync.qbo.bulk_sync_run", **FAIR)
def bulk_sync_run(self, plan_id: int) -> dict | str:
    from qbsync.sync.services.bulk import bulk_sync_run as run

    return run_fairly(self, realm_of_task(self.name, plan_id), lambda: run(plan_id=plan_id), batch=True)


@shared_task(name="qbsync.qbo.invoice_push", **FAIR)
def invoice_push(self, link_id: int) -> str:
    from qbsync.sync.services.invoices import invoice_push as push

    return run_fairly(self, realm_of_task(self.name, link_id), lambda: push(link_id=link_id))


@shared_task(name="qbsync.qbo.outbox_process", **FAIR)
def outbox_process(self, row_id: int) -> str:
    from qbsync.sync.services.invoices import outbox_process as process

    return run_fairly(self, realm_of_task(self.name, row_id), lambda: process(row_id=row_id))


@shared_task(name="qbsync.qbo.payment_push", **FAIR)
def payment_push(self, link_id: int) -> str:
    from qbsync.sync.services.payments import payment_push as push

    return run_fairly(self, realm_of_task(self.name, link_id), lambda: push(link_id=link_id))


@shared_task(name="qbsync.qbo.transactions_batch_push", **FAIR)
def transactions_batch_push(self, firm_id: int) -> dict | str:
    from qbsync.sync.services.transaction_batches import transactions_batch_push as push

    return run_fairly(self, realm_of_task(self.name, firm_id), lambda: push(firm_id=firm_id), batch=True)

"""Celery tasks of the QuickBooks integration. Each takes ids and calls one service; retry timing of sync
work lives in the database (the services schedule it), so these tasks never retry blindly."""

from celery import shared_task

from qbsync.quickbooks.errors import QboTransientError


@shared_task(name="qbsync.qbo.connection_check", bind=True, max_retries=5, ignore_result=False)
def connection_check(self, connection_id: int) -> dict:
    from qbsync.sync.services.connections import connection_check as check

    try:
        profile = check(connection_id=connection_id)
    except QboTransientError as exc:
        raise self.retry(exc=exc, countdown=exc.retry_after or 2**self.request.retries) from exc
    return {"realm_id": profile.realm_id, "company_name": profile.name}


@shared_task(name="qbsync.qbo.account_push")
def account_push(link_id: int) -> str:
    from qbsync.sync.services.accounts import account_push as push

    return push(link_id=link_id)


@shared_task(name="qbsync.sync_sweep")
def sync_sweep() -> dict:
    from qbsync.sync.services.accounts import account_sync_sweep

    return account_sync_sweep()


@shared_task(name="qbsync.qbo.bulk_sync_preview")
def bulk_sync_preview(plan_id: int) -> str:
    from qbsync.sync.services.bulk import bulk_sync_preview as preview

    return preview(plan_id=plan_id).state


@shared_task(name="qbsync.qbo.bulk_sync_run")
def bulk_sync_run(plan_id: int) -> dict:
    from qbsync.sync.services.bulk import bulk_sync_run as run

    return run(plan_id=plan_id)


@shared_task(name="qbsync.qbo.invoice_push")
def invoice_push(link_id: int) -> str:
    from qbsync.sync.services.invoices import invoice_push as push

    return push(link_id=link_id)


@shared_task(name="qbsync.qbo.outbox_process")
def outbox_process(row_id: int) -> str:
    from qbsync.sync.services.invoices import outbox_process as process

    return process(row_id=row_id)


@shared_task(name="qbsync.qbo.payment_push")
def payment_push(link_id: int) -> str:
    from qbsync.sync.services.payments import payment_push as push

    return push(link_id=link_id)


@shared_task(name="qbsync.qbo.transactions_batch_push")
def transactions_batch_push(firm_id: int) -> dict:
    from qbsync.sync.services.transaction_batches import transactions_batch_push as push

    return push(firm_id=firm_id)

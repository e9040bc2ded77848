"""What a sync task is about, for its log lines: the firm, the realm and the record behind the id it was
given. Read once when the task starts (qbsync.celery's task_prerun) with one small query."""

from __future__ import annotations

from qbsync.sync.models import (
    AccountSyncLink,
    BulkSyncPlan,
    InvoiceSyncLink,
    PaymentSyncLink,
    QuickBooksConnection,
    SyncOutbox,
)

# Task name -> (model of its id, path to the firm, record label, path to the record's id).
TASK_RECORDS = {
    "qbsync.qbo.account_push": (AccountSyncLink, "account__firm", "account", "account_id"),
    "qbsync.qbo.account_records_move": (AccountSyncLink, "account__firm", "account", "account_id"),
    "qbsync.qbo.invoice_push": (InvoiceSyncLink, "invoice__firm", "invoice", "invoice_id"),
    "qbsync.qbo.payment_push": (PaymentSyncLink, "payment__firm", "payment", "payment_id"),
    "qbsync.qbo.outbox_process": (SyncOutbox, "firm", "outbox", "pk"),
    "qbsync.qbo.bulk_sync_preview": (BulkSyncPlan, "firm", "bulk_plan", "pk"),
    "qbsync.qbo.bulk_sync_run": (BulkSyncPlan, "firm", "bulk_plan", "pk"),
    "qbsync.qbo.connection_check": (QuickBooksConnection, "firm", "connection", "pk"),
}


# The realm read for the log lines of the task that started last in this process, by (task name, id): its
# fair scheduling asks the same right after (`fairness.realm_of_task`), and need not read it again.
_realm_read: tuple[str, int, str | None] | None = None


def task_log_context(task_name: str, args: tuple | list, kwargs: dict) -> dict:
    """Fields for the log context of a task run: firm, realm and record when the task names one."""
    global _realm_read
    _realm_read = None
    known = TASK_RECORDS.get(task_name)
    ids = [*(args or ()), *(kwargs or {}).values()]
    if known is None or not ids or not isinstance(ids[0], int):
        return {}
    model, firm, label, record_id = known
    row = (
        model.objects.filter(pk=ids[0])
        .values_list(f"{firm}_id", f"{firm}__quickbooks_connection__realm_id", record_id)
        .first()
    )
    _realm_read = (task_name, ids[0], row[1] if row else None)
    if row is None:
        return {}
    firm_id, realm_id, pk = row
    return {"firm": firm_id, "realm": realm_id, "record": f"{label}:{pk}"}


def realm_read_at_start(task_name: str, record_id: int) -> tuple[bool, str | None]:
    """(True, the realm) when the start of this task read it for its log lines; (False, None) otherwise."""
    read = _realm_read
    if read is not None and read[:2] == (task_name, record_id):
        return True, read[2]
    return False, None

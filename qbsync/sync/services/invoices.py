"""Invoices reach QuickBooks: issued invoices of synced accounts are created there once, and every later
change follows as a sparse update with the current SyncToken.

The link row is the durable intent: it is written in the same transaction as the invoice change, a task
is enqueued after commit, and the sweep re-enqueues whatever is left. Before creating again after an
unknown outcome, the invoice is looked up in QBO by the marker we put in its PrivateNote, so nothing is
created twice whether or not QBO honours requestid.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from invoices.models import Invoice
from qbsync.quickbooks import transactions as qbo_txn
from qbsync.quickbooks.errors import (
    QboDuplicateDocNumberError,
    QboError,
    QboNotFoundError,
    QboTransientError,
    QboValidationError,
)
from qbsync.quickbooks.requestids import request_id_for

from .. import explanations
from ..models import (
    AccountSyncLink,
    InvoiceSyncLink,
    QuickBooksConnection,
    ServiceItemMapping,
    SyncEvent,
    SyncOutbox,
)
from ..status import SyncAction, SyncState, target_of
from .accounts import MAX_ATTEMPTS, _backoff, _transition, record_event
from .connections import connection_client
from .transaction_links import (
    BEFORE_START_DATE,
    WAITING_FOR_ACCOUNT,
    Failure,
    attempt_push,
    link_fail,
    retry_once_if_stale,
    usable_connection,
)

logger = logging.getLogger(__name__)

# An outbox row a worker claimed is left alone by others for this long.
OUTBOX_LEASE = timedelta(minutes=5)
DOC_NUMBER_TAKEN = (
    "QuickBooks Online already has an invoice numbered {number}. Give this invoice another number here, or "
    "turn off custom transaction numbers in QuickBooks Online so that it numbers invoices itself; then sync "
    "the invoice again."
)
DOC_NUMBER_TOO_LONG = (
    "QuickBooks Online allows invoice numbers of at most {limit} characters; {number} has {length}. "
    "Renumber the invoice and sync it again."
)
NO_ITEM = (
    "No QuickBooks item is chosen for invoice lines. Choose one in Settings > Integrations > QuickBooks, "
    "then sync the invoice again."
)
DELETED_IN_QBO = "The invoice was deleted in QuickBooks Online; it is not created again by itself."
ACCOUNT_UNSYNCED = "its account is not synced"


def invoice_marker(invoice: Invoice) -> str:
    return f"qbsync:inv:{invoice.pk}"


def _enqueue(link_id: int, countdown: float | None = None) -> None:
    from qbsync.sync.tasks import invoice_push as invoice_push_task

    transaction.on_commit(partial(invoice_push_task.apply_async, (link_id,), countdown=countdown))


def invoice_sync_on_change(*, invoice: Invoice, via_batch: bool = False) -> InvoiceSyncLink | None:
    """An issued invoice was created or changed. Called inside the change's transaction. ``via_batch``: it
    is part of its account's first sync, so a batch pusher creates it (if QBO has never seen it)."""
    connection = usable_connection(invoice.firm_id)
    if connection is None:
        return None
    if invoice.status == Invoice.Status.VOID:
        # A void follows only an invoice QBO has; one it never had is simply not synced.
        link = InvoiceSyncLink.objects.filter(invoice=invoice).exclude(qbo_invoice_id="").first()
        if link is None:
            return None
    elif invoice.status not in Invoice.PAYABLE_STATUSES:
        return None
    else:
        link, _ = InvoiceSyncLink.objects.get_or_create(
            invoice=invoice, defaults={"firm_id": invoice.firm_id}
        )
    if link.state == SyncState.SKIPPED:
        return link
    start = connection.sync_start_date
    if start and invoice.issue_date < start:
        if _transition(link, SyncAction.SKIP, skip_reason=BEFORE_START_DATE.format(start=start.isoformat())):
            record_event(link=link, kind="skipped", trigger="auto", message=f"Skipped: {link.skip_reason}.")
        return link
    if target_of(SyncAction.REQUEST, link.state) is None:
        # A worker holds it now; it compares versions when it finishes and picks the change up.
        return link
    account_link = AccountSyncLink.objects.filter(account_id=invoice.account_id).first()
    waiting = account_link is None or account_link.state != SyncState.SYNCED
    in_batch = via_batch and not link.qbo_invoice_id
    _transition(
        link,
        SyncAction.REQUEST,
        in_batch=in_batch,
        request_epoch=link.request_epoch + 1,
        attempts=0,
        next_attempt_at=None,
        waiting_reason=WAITING_FOR_ACCOUNT if waiting else "",
        error_code="",
        error_message="",
        error_explanation="",
        error_cause="",
        error_intuit_tid="",
    )
    if waiting:
        record_event(link=link, kind="waiting", trigger="auto", message=f"Syncing: {WAITING_FOR_ACCOUNT}.")
    elif in_batch:
        from .transaction_batches import batch_push_request

        batch_push_request(firm_id=invoice.firm_id)
    else:
        _enqueue(link.pk)
    return link


def invoices_unsync_for_account(*, account_id: int) -> int:
    """The account was unsynced: its invoices stop syncing and forget their QBO links (nothing is deleted
    in QBO; syncing the account again finds them there by their marker)."""
    from ..models import PaymentSyncLink

    now = timezone.now()
    PaymentSyncLink.objects.filter(payment__account_id=account_id).exclude(state=SyncState.SKIPPED).update(
        state=SyncState.SKIPPED,
        state_changed_at=now,
        updated_at=now,
        skip_reason=ACCOUNT_UNSYNCED,
        qbo_payment_id="",
        qbo_sync_token="",
        pushed_version=0,
        waiting_reason="",
        next_attempt_at=None,
    )
    return (
        InvoiceSyncLink.objects.filter(invoice__account_id=account_id)
        .exclude(state=SyncState.SKIPPED)
        .update(
            state=SyncState.SKIPPED,
            state_changed_at=now,
            updated_at=now,
            skip_reason=ACCOUNT_UNSYNCED,
            qbo_invoice_id="",
            qbo_sync_token="",
            pushed_version=0,
            waiting_reason="",
            next_attempt_at=None,
        )
    )


def account_history_request(*, account_id: int) -> int:
    """The account is synced now: its issued invoices and its payments that never asked to sync (made
    before the firm connected, say) ask now, as a first sync that goes out in batches. Returns how many."""
    from invoices.models import Payment

    from .payments import payment_sync_on_change

    count = 0
    for invoice in Invoice.objects.filter(
        account_id=account_id, status__in=Invoice.PAYABLE_STATUSES, sync_link__isnull=True
    ).order_by("issue_date", "pk"):
        invoice_sync_on_change(invoice=invoice, via_batch=True)
        count += 1
    for payment in Payment.objects.filter(account_id=account_id, sync_link__isnull=True).order_by(
        "date", "pk"
    ):
        payment_sync_on_change(payment=payment, via_batch=True)
        count += 1
    return count


def transactions_resume_after_reconnect(*, firm_id: int) -> int:
    """The firm reconnected: what changed while the connection did not work reaches QBO now. Issued
    invoices and payments of synced accounts that never asked to sync (the change found no usable
    connection) go as a first sync; synced ones changed meanwhile push their change. Returns how many."""
    from invoices.models import Payment

    from ..models import PaymentSyncLink
    from .payments import payment_sync_on_change

    count = 0
    synced_accounts = AccountSyncLink.objects.filter(firm_id=firm_id, state=SyncState.SYNCED)
    for account_id in synced_accounts.values_list("account_id", flat=True):
        count += account_history_request(account_id=account_id)
    stale_invoices = InvoiceSyncLink.objects.filter(firm_id=firm_id, state=SyncState.SYNCED).exclude(
        pushed_version=F("invoice__content_version")
    )
    for invoice in Invoice.objects.filter(sync_link__in=stale_invoices):
        invoice_sync_on_change(invoice=invoice)
        count += 1
    stale_payments = PaymentSyncLink.objects.filter(firm_id=firm_id, state=SyncState.SYNCED).exclude(
        pushed_version=F("payment__content_version")
    )
    for payment in Payment.objects.filter(sync_link__in=stale_payments):
        payment_sync_on_change(payment=payment)
        count += 1
    return count


def invoices_release_waiting(*, account_id: int) -> int:
    """The account just linked: its invoices that were waiting for it go out (those QBO has never seen in
    batches, as part of the account's first sync), and those its unsync stopped resume one at a time (QBO
    may have them: the single push looks them up by marker first)."""
    stopped = InvoiceSyncLink.objects.filter(
        invoice__account_id=account_id, state=SyncState.SKIPPED, skip_reason=ACCOUNT_UNSYNCED
    )
    resumed = []
    for link in stopped:
        if _transition(
            link, SyncAction.REQUEST, skip_reason="", in_batch=False, request_epoch=link.request_epoch + 1
        ):
            resumed.append(link.pk)
    from ..models import PaymentSyncLink
    from .payments import payment_sync_on_change

    for link in PaymentSyncLink.objects.filter(
        payment__account_id=account_id, state=SyncState.SKIPPED, skip_reason=ACCOUNT_UNSYNCED
    ).select_related("payment"):
        PaymentSyncLink.objects.filter(pk=link.pk).update(state=SyncState.NOT_SYNCED, skip_reason="")
        payment_sync_on_change(payment=link.payment)
    waiting = InvoiceSyncLink.objects.filter(
        invoice__account_id=account_id, state=SyncState.QUEUED, waiting_reason=WAITING_FOR_ACCOUNT
    )
    now = timezone.now()
    # Payments that waited for the account join the batch too (they go once their invoices are in QBO).
    PaymentSyncLink.objects.filter(
        payment__account_id=account_id,
        state=SyncState.QUEUED,
        waiting_reason=WAITING_FOR_ACCOUNT,
        qbo_payment_id="",
        pushed_version=0,
    ).update(in_batch=True, updated_at=now)
    first_time = waiting.filter(qbo_invoice_id="", pushed_version=0).update(
        waiting_reason="", in_batch=True, updated_at=now
    )
    if first_time:
        from accounts.models import Account

        from .transaction_batches import batch_push_request

        batch_push_request(firm_id=Account.objects.values_list("firm_id", flat=True).get(pk=account_id))
    single = list(
        InvoiceSyncLink.objects.filter(
            invoice__account_id=account_id, state=SyncState.QUEUED, in_batch=False
        ).values_list("pk", flat=True)
    )
    InvoiceSyncLink.objects.filter(pk__in=single).update(waiting_reason="", updated_at=now)
    for pk in single:
        _enqueue(pk)
    return first_time + len(single)


# The numbering preference is read at most this often per company (QBO meters reads; it rarely changes,
# and a change shows up at once as a 6140 or a QBO-assigned number, both handled).
NUMBERING_PREFERENCE_TTL = 300.0
_numbering_preference: dict[str, tuple[float, bool]] = {}


def custom_numbers_of(client) -> bool:
    """Whether the company numbers its own invoices (we then send ours), read through a short cache."""
    now = time.monotonic()
    cached = _numbering_preference.get(client.realm_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    value = client.custom_txn_numbers()
    _numbering_preference[client.realm_id] = (now + NUMBERING_PREFERENCE_TTL, value)
    return value


def invoice_draft(invoice: Invoice, customer_id: str, connection: QuickBooksConnection, custom_numbers: bool):
    mapped = dict(
        ServiceItemMapping.objects.filter(service__in=invoice.lines.values("service")).values_list(
            "service_id", "qbo_item_id"
        )
    )
    lines = []
    for line in invoice.lines.select_related("service"):
        item_id = mapped.get(line.service_id) or connection.default_item_id
        if not item_id:
            raise Failure("no_item", NO_ITEM)
        lines.append(
            qbo_txn.InvoiceLineDraft(
                amount=line.amount,
                quantity=line.quantity,
                unit_price=line.rate,
                description=line.description or (line.service.name if line.service else ""),
                item_id=item_id,
            )
        )
    try:
        doc_number = qbo_txn.doc_number_for(invoice.number, custom_txn_numbers=custom_numbers)
    except qbo_txn.DocNumberTooLong as exc:
        raise Failure(
            "doc_number_too_long",
            DOC_NUMBER_TOO_LONG.format(limit=exc.limit, number=invoice.number, length=len(invoice.number)),
        ) from exc
    return qbo_txn.InvoiceDraft(
        customer_id=customer_id,
        txn_date=invoice.issue_date,
        due_date=invoice.due_date,
        lines=lines,
        private_note=f"qbsync invoice {invoice.number} ({invoice_marker(invoice)})",
        doc_number=doc_number,
    )


def invoice_push(*, link_id: int) -> str:
    """Create or update the invoice in QBO. Returns "synced", "waiting", "deferred", "failed", "lost",
    "not-synced" (voided before QBO had it) or "not-queued"."""
    link = InvoiceSyncLink.objects.select_related("invoice").filter(pk=link_id).first()
    if link is None or (
        link.next_attempt_at and link.next_attempt_at > timezone.now() + timedelta(seconds=1)
    ):
        return "not-queued"
    if not _transition(link, SyncAction.START):
        return "not-queued"
    invoice = Invoice.objects.select_related("account").get(pk=link.invoice_id)
    account_link = AccountSyncLink.objects.filter(
        account_id=invoice.account_id, state=SyncState.SYNCED
    ).first()
    if account_link is None:
        _transition(link, SyncAction.DEFER, waiting_reason=WAITING_FOR_ACCOUNT)
        return "waiting"
    if invoice.status == Invoice.Status.VOID and _payment_deletes_pending(invoice.account_id):
        # QBO refuses to void an invoice a payment is applied to: the payments deleted here go first.
        _transition(link, SyncAction.DEFER, waiting_reason=WAITING_FOR_DELETES)
        return "waiting"
    connection = usable_connection(invoice.firm_id)
    if connection is None:
        link_fail(link, Failure("connection", explanations.CONNECTION))
        return "failed"
    client = connection_client(connection)
    version = invoice.content_version

    def work() -> qbo_txn.QboInvoice:
        if invoice.status == Invoice.Status.VOID:
            return _void(client, link, invoice, account_link.qbo_customer_id)
        draft = invoice_draft(invoice, account_link.qbo_customer_id, connection, custom_numbers_of(client))
        try:
            return _create_or_update(client, link, invoice, draft)
        except QboDuplicateDocNumberError as exc:
            raise Failure(
                "duplicate_doc_number",
                DOC_NUMBER_TAKEN.format(number=invoice.number),
                code=exc.code,
                message=exc.message,
                tid=exc.intuit_tid,
            ) from exc

    try:
        outcome, qbo_invoice = attempt_push(
            link, work, lost_message=DELETED_IN_QBO, forget={"qbo_invoice_id": ""}, enqueue=_enqueue
        )
    except VoidedBeforeSync:
        with transaction.atomic():
            if _transition(link, SyncAction.LOST, waiting_reason="", pushed_version=0, qbo_sync_token=""):
                record_event(link=link, kind="not_synced", message=VOIDED_BEFORE_SYNC)
        return "not-synced"
    if outcome is not None:
        return outcome
    return invoice_link_synced(link, qbo_invoice, version, client.last_intuit_tid)


def _create_or_update(client, link: InvoiceSyncLink, invoice: Invoice, draft) -> qbo_txn.QboInvoice:
    request_id = request_id_for("inv", link.firm_id, invoice.pk, link.request_epoch, invoice.content_version)
    if not link.qbo_invoice_id:
        # An earlier attempt may have created it and lost the reply: find it by our marker first.
        found = qbo_txn.find_invoices_by_marker(client, draft.customer_id, invoice_marker(invoice))
        if found:
            existing = found[0]
            if link.pushed_version == invoice.content_version:
                return existing
            # Not the lost create's requestid: QBO would replay that create's answer, or refuse it (600).
            adopt_id = request_id_for(
                "inv-adopt", link.firm_id, invoice.pk, link.request_epoch, invoice.content_version
            )
            return _update(client, existing.id, existing.sync_token, draft, adopt_id)
        record_event(
            link=link,
            kind="create_sent",
            message=f"Creating invoice {invoice.number} in QuickBooks.",
            sent={"request_id": request_id, "DocNumber": draft.doc_number or "(QuickBooks numbers it)"},
        )
        return qbo_txn.create_invoice(client, draft, request_id=request_id)
    if link.pushed_version == invoice.content_version:
        return qbo_txn.read_invoice(client, link.qbo_invoice_id)
    return _update(client, link.qbo_invoice_id, link.qbo_sync_token, draft, request_id)


WAITING_FOR_DELETES = "waiting for deleted payments to be deleted in QuickBooks first"


def _payment_deletes_pending(account_id: int) -> bool:
    return SyncOutbox.objects.filter(
        account_id=account_id, entity="Payment", state=SyncOutbox.State.PENDING
    ).exists()


def invoices_release_after_deletes(*, account_id: int | None = None, before=None, limit: int = 500) -> int:
    """Voids that waited for payment deletes go once none is pending for their account: called when a
    delete finishes (``account_id``), and by the sweep for waits older than ``before``."""
    waiting = InvoiceSyncLink.objects.filter(state=SyncState.QUEUED, waiting_reason=WAITING_FOR_DELETES)
    if account_id is not None:
        waiting = waiting.filter(invoice__account_id=account_id)
    if before is not None:
        waiting = waiting.filter(state_changed_at__lt=before)
    released = 0
    for pk, owner in list(waiting.values_list("pk", "invoice__account_id")[:limit]):
        if _payment_deletes_pending(owner):
            continue
        with transaction.atomic():
            if InvoiceSyncLink.objects.filter(pk=pk, waiting_reason=WAITING_FOR_DELETES).update(
                waiting_reason="", updated_at=timezone.now()
            ):
                _enqueue(pk)
                released += 1
    return released


class VoidedBeforeSync(Exception):
    """The invoice was voided here before QBO ever had it: there is nothing to void there."""


VOIDED_BEFORE_SYNC = (
    "Voided before it reached QuickBooks Online, so it is not synced (nothing to void there)."
)


def _void(client, link: InvoiceSyncLink, invoice: Invoice, customer_id: str) -> qbo_txn.QboInvoice:
    qbo_id, sync_token = link.qbo_invoice_id, link.qbo_sync_token
    if not qbo_id:
        # Voided while its first push was under way: an earlier attempt may have created it after all.
        found = qbo_txn.find_invoices_by_marker(client, customer_id, invoice_marker(invoice))
        if not found:
            raise VoidedBeforeSync
        qbo_id, sync_token = found[0].id, found[0].sync_token
    return retry_once_if_stale(
        lambda token, rid: qbo_txn.void_invoice(client, qbo_id, token, request_id=rid),
        sync_token=sync_token,
        request_id=request_id_for("inv-void", link.firm_id, invoice.pk, link.request_epoch),
        current_token=lambda: qbo_txn.read_invoice(client, qbo_id).sync_token,
    )


def _update(client, qbo_id: str, sync_token: str, draft, request_id: str) -> qbo_txn.QboInvoice:
    return retry_once_if_stale(
        lambda token, rid: qbo_txn.update_invoice_sparse(client, qbo_id, token, draft, request_id=rid),
        sync_token=sync_token,
        request_id=request_id,
        current_token=lambda: qbo_txn.read_invoice(client, qbo_id).sync_token,
    )


def invoice_link_synced(
    link: InvoiceSyncLink, qbo_invoice: qbo_txn.QboInvoice, version: int, tid: str
) -> str:
    with transaction.atomic():
        created = not link.qbo_invoice_id
        done = _transition(
            link,
            SyncAction.SUCCEED,
            qbo_invoice_id=qbo_invoice.id,
            qbo_sync_token=qbo_invoice.sync_token,
            qbo_doc_number=qbo_invoice.doc_number or "",
            pushed_version=version,
            attempts=0,
            next_attempt_at=None,
            waiting_reason="",
        )
        if done:
            from .payments import payments_release_waiting

            payments_release_waiting(account_id=link.invoice.account_id)
            voided = Invoice.objects.filter(pk=link.invoice_id, status=Invoice.Status.VOID).exists()
            kind = "voided" if voided else ("created" if created else "updated")
            record_event(
                link=link,
                kind=kind,
                outcome=SyncEvent.Outcome.SUCCESS,
                intuit_tid=tid,
                received={"Id": qbo_invoice.id, "DocNumber": qbo_invoice.doc_number},
                message=f"{kind.capitalize()} QuickBooks invoice {qbo_invoice.doc_number} "
                f"(Id {qbo_invoice.id}, total {qbo_invoice.total}).",
            )
            current = (
                Invoice.objects.filter(pk=link.invoice_id).values_list("content_version", flat=True).first()
            )
            if current is not None and current != version:
                # Changed while we were pushing: push the newer version too.
                invoice_sync_on_change(invoice=Invoice.objects.get(pk=link.invoice_id))
    return "synced" if done else "not-queued"


# Deleting ------------------------------------------------------------------------------------------

DELETE_REFUSED_VOIDED = (
    "Invoice {label} could not be deleted in QuickBooks Online because payments there are linked to it, so "
    "it was voided instead (it stays in QuickBooks at zero, with its number)."
)
DELETE_AND_VOID_REFUSED = (
    "Invoice {label} was deleted here, but QuickBooks Online refused to delete or void it ({message}). "
    "Unlink its payments in QuickBooks Online, then delete the invoice there."
)


def invoice_delete_in_qbo(*, invoice: Invoice) -> SyncOutbox | None:
    """Called in the transaction that deletes the local invoice: remember to delete it in QBO too."""
    link = InvoiceSyncLink.objects.filter(invoice=invoice).exclude(qbo_invoice_id="").first()
    if link is None:
        return None
    row = SyncOutbox.objects.create(
        firm_id=invoice.firm_id,
        account_id=invoice.account_id,
        entity="Invoice",
        operation="delete",
        local_label=invoice.number,
        qbo_id=link.qbo_invoice_id,
        qbo_sync_token=link.qbo_sync_token,
    )
    _enqueue_outbox(row.pk)
    return row


def _enqueue_outbox(row_id: int, countdown: float | None = None) -> None:
    from qbsync.sync.tasks import outbox_process as outbox_task

    transaction.on_commit(partial(outbox_task.apply_async, (row_id,), countdown=countdown))


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
    request_id = request_id_for("del", row.entity, row.firm_id, row.pk)
    try:
        outcome = (_delete_invoice if row.entity == "Invoice" else _delete_payment)(client, row, request_id)
    except QboTransientError as exc:
        return _outbox_retry(row, exc.message, exc.retry_after)
    except QboError as exc:
        outcome = DELETE_AND_VOID_REFUSED.format(label=row.local_label, message=exc.message)
        _outbox_finish(row, SyncOutbox.State.FAILED, outcome, SyncEvent.Outcome.FAILURE, exc.intuit_tid)
        return "failed"
    _outbox_finish(row, SyncOutbox.State.DONE, outcome, SyncEvent.Outcome.SUCCESS, client.last_intuit_tid)
    return "done"


def _delete_invoice(client, row: SyncOutbox, request_id: str) -> str:
    try:
        token = qbo_txn.read_invoice(client, row.qbo_id).sync_token
    except QboNotFoundError:
        return f"Invoice {row.local_label} was already gone from QuickBooks Online."
    try:
        qbo_txn.delete_invoice(client, row.qbo_id, token, request_id=request_id)
        return f"Deleted invoice {row.local_label} in QuickBooks Online."
    except QboNotFoundError:
        return f"Invoice {row.local_label} was already gone from QuickBooks Online."
    except QboValidationError:
        # QBO refuses to delete an invoice with linked payments (6000): void it instead, and say so.
        qbo_txn.void_invoice(client, row.qbo_id, token, request_id=request_id + "v")
        return DELETE_REFUSED_VOIDED.format(label=row.local_label)


def _delete_payment(client, row: SyncOutbox, request_id: str) -> str:
    try:
        token = qbo_txn.read_payment(client, row.qbo_id).sync_token
        qbo_txn.delete_payment(client, row.qbo_id, token, request_id=request_id)
    except QboNotFoundError:
        return f"The payment {row.local_label} was already gone from QuickBooks Online."
    return f"Deleted the payment {row.local_label} in QuickBooks Online; its invoices' balances are restored."


def _outbox_retry(row: SyncOutbox, message: str, retry_after: float | None) -> str:
    if row.attempts >= MAX_ATTEMPTS:
        text = DELETE_AND_VOID_REFUSED.format(label=row.local_label, message=message)
        _outbox_finish(row, SyncOutbox.State.FAILED, text, SyncEvent.Outcome.FAILURE, "")
        return "failed"
    delay = _backoff(row.attempts, retry_after)
    SyncOutbox.objects.filter(pk=row.pk).update(
        next_attempt_at=timezone.now() + timedelta(seconds=delay), result=message
    )
    _enqueue_outbox(row.pk, countdown=delay)
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
        if row.entity == "Payment":
            from .payments import payments_release_waiting

            invoices_release_after_deletes(account_id=row.account_id)
            payments_release_waiting(account_id=row.account_id)


# A person's choice ---------------------------------------------------------------------------------

SKIPPED_BY = "skipped by {who}"


def invoice_sync_skip(*, invoice: Invoice, actor) -> InvoiceSyncLink:
    """Stop syncing this invoice (it is not changed or deleted in QBO)."""
    from .accounts import SyncRequestError

    link, _ = InvoiceSyncLink.objects.get_or_create(invoice=invoice, defaults={"firm_id": invoice.firm_id})
    who = actor.get_full_name() or actor.username
    with transaction.atomic():
        if not _transition(
            link,
            SyncAction.SKIP,
            skip_reason=SKIPPED_BY.format(who=who),
            waiting_reason="",
            next_attempt_at=None,
        ):
            raise SyncRequestError("Sync is already off for this invoice.")
        record_event(
            link=link, kind="skipped", actor=actor, trigger="user", message="Sync skipped for this invoice."
        )
    return link


def invoice_sync_again(*, invoice: Invoice, actor) -> InvoiceSyncLink | None:
    """Sync a skipped, failed or not synced invoice again (a re-push of a synced one is an edit)."""
    from .accounts import SyncRequestError

    if usable_connection(invoice.firm_id) is None:
        raise SyncRequestError(explanations.NOT_CONNECTED)
    if invoice.status not in Invoice.PAYABLE_STATUSES and invoice.status != Invoice.Status.VOID:
        raise SyncRequestError("Only issued invoices sync to QuickBooks.")
    with transaction.atomic():
        InvoiceSyncLink.objects.filter(invoice=invoice, state=SyncState.SKIPPED).update(
            state=SyncState.NOT_SYNCED, skip_reason="", state_changed_at=timezone.now()
        )
        link = invoice_sync_on_change(invoice=invoice)
        if link is not None and link.state == SyncState.SKIPPED:
            raise SyncRequestError(f"This invoice is not synced: {link.skip_reason}.")
        if link is not None:
            record_event(link=link, kind="requested", actor=actor, trigger="user", message="Sync requested.")
    return link

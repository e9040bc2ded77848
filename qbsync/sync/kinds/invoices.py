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

from django.db import transaction
from django.utils import timezone

from invoices.models import Invoice
from qbsync.quickbooks import transactions as qbo_txn
from qbsync.quickbooks.errors import (
    QboDuplicateDocNumberError,
)
from qbsync.quickbooks.requestids import request_id_for

from ..engine import explanations
from ..engine.client import connection_client
from ..engine.connection import usable_connection
from ..engine.enqueue import enqueue_batch_pushers, enqueue_invoice_push, enqueue_outbox
from ..engine.errors import SyncFailure
from ..engine.history import record_event
from ..engine.retry import fail
from ..engine.transitions import transition, transition_all
from ..models import (
    AccountSyncLink,
    InvoiceSyncLink,
    QuickBooksConnection,
    ServiceItemMapping,
    SyncEvent,
    SyncOutbox,
)
from ..states import SyncAction, SyncState, target_of
from .transactions import BEFORE_START_DATE, WAITING_FOR_ACCOUNT, attempt_push, retry_once_if_stale

logger = logging.getLogger(__name__)

# An outbox row a worker claimed is left alone by others for this long.
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
        if transition(link, SyncAction.SKIP, skip_reason=BEFORE_START_DATE.format(start=start.isoformat())):
            record_event(link=link, kind="skipped", trigger="auto", message=f"Skipped: {link.skip_reason}.")
        return link
    if target_of(SyncAction.REQUEST, link.state) is None:
        # A worker holds it now; it compares versions when it finishes and picks the change up.
        return link
    account_link = AccountSyncLink.objects.filter(account_id=invoice.account_id).first()
    waiting = account_link is None or account_link.state != SyncState.SYNCED
    in_batch = via_batch and not link.qbo_invoice_id
    transition(
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
        enqueue_batch_pushers(invoice.firm_id)
    else:
        enqueue_invoice_push(link.pk)
    return link


def invoices_unsync_for_account(*, account_id: int) -> int:
    """The account was unsynced: its invoices stop syncing and forget their QBO links (nothing is deleted
    in QBO; syncing the account again finds them there by their marker)."""
    from ..models import PaymentSyncLink

    forget = {"qbo_sync_token": "", "pushed_version": 0, "waiting_reason": "", "next_attempt_at": None}
    transition_all(
        PaymentSyncLink.objects.filter(payment__account_id=account_id),
        SyncAction.SKIP,
        skip_reason=ACCOUNT_UNSYNCED,
        qbo_payment_id="",
        **forget,
    )
    return transition_all(
        InvoiceSyncLink.objects.filter(invoice__account_id=account_id),
        SyncAction.SKIP,
        skip_reason=ACCOUNT_UNSYNCED,
        qbo_invoice_id="",
        **forget,
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


def invoices_release_waiting(*, account_id: int) -> int:
    """The account just linked: its invoices that were waiting for it go out (those QBO has never seen in
    batches, as part of the account's first sync), and those its unsync stopped resume one at a time (QBO
    may have them: the single push looks them up by marker first)."""
    stopped = InvoiceSyncLink.objects.filter(
        invoice__account_id=account_id, state=SyncState.SKIPPED, skip_reason=ACCOUNT_UNSYNCED
    )
    resumed = []
    for link in stopped:
        if transition(
            link, SyncAction.REQUEST, skip_reason="", in_batch=False, request_epoch=link.request_epoch + 1
        ):
            resumed.append(link.pk)
    from ..models import PaymentSyncLink
    from .payments import payment_sync_on_change

    for link in PaymentSyncLink.objects.filter(
        payment__account_id=account_id, state=SyncState.SKIPPED, skip_reason=ACCOUNT_UNSYNCED
    ).select_related("payment"):
        transition(link, SyncAction.UNSKIP, skip_reason="")
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

        enqueue_batch_pushers(Account.objects.values_list("firm_id", flat=True).get(pk=account_id))
    single = list(
        InvoiceSyncLink.objects.filter(
            invoice__account_id=account_id, state=SyncState.QUEUED, in_batch=False
        ).values_list("pk", flat=True)
    )
    InvoiceSyncLink.objects.filter(pk__in=single).update(waiting_reason="", updated_at=now)
    for pk in single:
        enqueue_invoice_push(pk)
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
            raise SyncFailure("no_item", NO_ITEM)
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
        raise SyncFailure(
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
    if not transition(link, SyncAction.START):
        return "not-queued"
    invoice = Invoice.objects.select_related("account").get(pk=link.invoice_id)
    account_link = AccountSyncLink.objects.filter(
        account_id=invoice.account_id, state=SyncState.SYNCED
    ).first()
    if account_link is None:
        transition(link, SyncAction.DEFER, waiting_reason=WAITING_FOR_ACCOUNT)
        return "waiting"
    if invoice.status == Invoice.Status.VOID and _payment_deletes_pending(invoice.account_id):
        # QBO refuses to void an invoice a payment is applied to: the payments deleted here go first.
        transition(link, SyncAction.DEFER, waiting_reason=WAITING_FOR_DELETES)
        return "waiting"
    connection = usable_connection(invoice.firm_id)
    if connection is None:
        fail(link, SyncFailure("connection", explanations.CONNECTION))
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
            raise SyncFailure(
                "duplicate_doc_number",
                DOC_NUMBER_TAKEN.format(number=invoice.number),
                code=exc.code,
                message=exc.message,
                tid=exc.intuit_tid,
            ) from exc

    try:
        outcome, qbo_invoice = attempt_push(
            link,
            work,
            lost_message=DELETED_IN_QBO,
            forget={"qbo_invoice_id": ""},
            enqueue=enqueue_invoice_push,
        )
    except VoidedBeforeSync:
        with transaction.atomic():
            if transition(link, SyncAction.LOST, waiting_reason="", pushed_version=0, qbo_sync_token=""):
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
                enqueue_invoice_push(pk)
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
        done = transition(
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
    enqueue_outbox(row.pk)
    return row


# A person's choice ---------------------------------------------------------------------------------

SKIPPED_BY = "skipped by {who}"


def invoice_sync_skip(*, invoice: Invoice, actor) -> InvoiceSyncLink:
    """Stop syncing this invoice (it is not changed or deleted in QBO)."""
    from ..engine.errors import SyncRequestError

    link, _ = InvoiceSyncLink.objects.get_or_create(invoice=invoice, defaults={"firm_id": invoice.firm_id})
    who = actor.get_full_name() or actor.username
    with transaction.atomic():
        if not transition(
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
    from ..engine.errors import SyncRequestError

    if usable_connection(invoice.firm_id) is None:
        raise SyncRequestError(explanations.NOT_CONNECTED)
    if invoice.status not in Invoice.PAYABLE_STATUSES and invoice.status != Invoice.Status.VOID:
        raise SyncRequestError("Only issued invoices sync to QuickBooks.")
    with transaction.atomic():
        transition_all(InvoiceSyncLink.objects.filter(invoice=invoice), SyncAction.UNSKIP, skip_reason="")
        link = invoice_sync_on_change(invoice=invoice)
        if link is not None and link.state == SyncState.SKIPPED:
            raise SyncRequestError(f"This invoice is not synced: {link.skip_reason}.")
        if link is not None:
            record_event(link=link, kind="requested", actor=actor, trigger="user", message="Sync requested.")
    return link

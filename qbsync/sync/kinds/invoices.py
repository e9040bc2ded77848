"""Invoices reach QuickBooks: issued invoices of synced accounts are created there once, and every later
change follows as a sparse update with the current SyncToken; a void here voids the invoice there (once the
account's payment deletes have reached QBO, since QBO refuses to void an invoice a payment is applied to).

What is particular to invoices is described in `INVOICE`; the pipeline (`transactions.py`) does the rest.
"""

from __future__ import annotations

from django.db.models import Prefetch, prefetch_related_objects

from invoices.models import Invoice, InvoiceLine
from qbsync.core.money import money_text
from qbsync.quickbooks import transactions as qbo_txn
from qbsync.quickbooks.errors import (
    QboDuplicateDocNumberError,
    QboError,
    QboNotFoundError,
    QboValidationError,
)

from ..engine.causes import FailureCause
from ..engine.company import kept_foreign_currency
from ..engine.enqueue import enqueue_invoice_push
from ..engine.errors import SyncFailure
from ..engine.markers import invoice_marker
from ..models import InvoiceSyncLink, QuickBooksConnection, SyncOutbox
from . import transactions as pipeline
from .invoice_tax import connection_tax_model, invoice_tax_draft, invoice_total_differs
from .transactions import TransactionKind, account_blockers

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
ITEM_INACTIVE = (
    "QuickBooks Online refused the invoice because something it uses is inactive or deleted there "
    "({message}): usually an item its lines carry. Make it active in QuickBooks Online, or choose another "
    "item on the QuickBooks settings page, then sync again."
)
SENT_SHORTENED = (
    "QuickBooks Online allows {limit:,} characters in a line's description (with its quantity and rate), so "
    'the description of {lines} was sent shortened, ending in "…". The full text stays here.'
)
DELETE_REFUSED_VOIDED = (
    "Invoice {label} could not be deleted in QuickBooks Online because payments there are linked to it, so "
    "it was voided instead (it stays in QuickBooks at zero, with its number)."
)


_LINES_FOR_DRAFTS = InvoiceLine.objects.select_related(
    "service__qbo_item_mapping", "tax_rate"
).prefetch_related("tax_rate__components")


def invoices_read_for_drafts(invoices: list[Invoice]) -> None:
    """Read what the drafts of ``invoices`` use (their firm; their lines, each with its service, the QBO
    item chosen for it and its tax rate), in a fixed number of queries however many: a batch's at once."""
    prefetch_related_objects(
        invoices,
        "firm",
        Prefetch("lines", queryset=_LINES_FOR_DRAFTS),
    )


def invoice_draft(invoice: Invoice, customer_id: str, connection: QuickBooksConnection, custom_numbers: bool):
    invoices_read_for_drafts([invoice])  # reads nothing when a batch read them already
    lines = []
    ours = list(invoice.lines.all())
    line_taxes, tax = invoice_tax_draft(invoice, ours, connection)
    for line, line_tax in zip(ours, line_taxes, strict=True):
        mapping = getattr(line.service, "qbo_item_mapping", None)
        item_id = (mapping.qbo_item_id if mapping is not None else "") or connection.default_item_id
        if not item_id:
            raise SyncFailure(FailureCause.NO_ITEM, NO_ITEM)
        lines.append(
            qbo_txn.InvoiceLineDraft(
                amount=line.amount if line_tax.net is None else line_tax.net,
                quantity=line.quantity,
                unit_price=line.rate,
                description=line.description or (line.service.name if line.service else ""),
                item_id=item_id,
                tax_code_id=line_tax.code_id,
                tax_inclusive_amount=line_tax.gross,
            )
        )
    try:
        doc_number = qbo_txn.doc_number_for(invoice.number, custom_txn_numbers=custom_numbers)
    except qbo_txn.DocNumberTooLong as exc:
        raise SyncFailure(
            FailureCause.DOC_NUMBER_TOO_LONG,
            DOC_NUMBER_TOO_LONG.format(limit=exc.limit, number=invoice.number, length=len(invoice.number)),
        ) from exc
    return qbo_txn.InvoiceDraft(
        customer_id=customer_id,
        txn_date=invoice.issue_date,
        due_date=invoice.due_date,
        lines=lines,
        private_note=f"qbsync invoice {invoice.number} ({invoice_marker(invoice)})",
        doc_number=doc_number,
        tax=tax,
        currency=kept_foreign_currency(connection, invoice.firm.currency) or None,
    )


def _total_differs(invoice: Invoice, qbo_invoice: qbo_txn.QboInvoice, version: int):
    """QuickBooks' total against the billed one, for the version pushed (a newer one is pushed next)."""
    if invoice.content_version != version or invoice.status == Invoice.Status.VOID:
        return None
    if qbo_invoice.total == invoice.total:
        return None  # the usual case: no need to know the company's tax model
    connection = QuickBooksConnection.objects.filter(firm_id=invoice.firm_id).first()
    model = connection_tax_model(connection) if connection is not None else None
    return invoice_total_differs(invoice, qbo_invoice.total, qbo_invoice.total_tax, model)


def _sent_differently(draft: qbo_txn.InvoiceDraft) -> str:
    lines = draft.trimmed_lines
    if not lines:
        return ""
    which = f"line {lines[0]}" if len(lines) == 1 else "lines " + ", ".join(map(str, lines))
    return SENT_SHORTENED.format(lines=which, limit=qbo_txn.LINE_DESCRIPTION_MAX_LENGTH)


def _doc_number_taken(exc: QboError, invoice: Invoice) -> SyncFailure | None:
    if not isinstance(exc, QboDuplicateDocNumberError):
        return None
    return SyncFailure(
        FailureCause.DUPLICATE_DOC_NUMBER,
        DOC_NUMBER_TAKEN.format(number=invoice.number),
        code=exc.code,
        message=exc.message,
        tid=exc.intuit_tid,
    )


def _create_sent(invoice: Invoice, draft: qbo_txn.InvoiceDraft) -> tuple[str, dict]:
    message = f"Creating invoice {invoice.number} in QuickBooks."
    return message, {"DocNumber": draft.doc_number or "(QuickBooks numbers it)"}


SYNCED_MESSAGES = {
    "voided": "Voided invoice {number} in QuickBooks Online.",
    pipeline.CREATED: "Created invoice {number} in QuickBooks Online, for {total}.",
    pipeline.FOUND: "Found invoice {number} already in QuickBooks Online (sent there before) and linked it "
    "again, for {total}; nothing was created twice.",
    pipeline.UPDATED: "Updated invoice {number} in QuickBooks Online; its total there is {total}.",
}


def _synced_event(invoice: Invoice, qbo_invoice: qbo_txn.QboInvoice, how: str) -> dict:
    kind = "voided" if invoice.status == Invoice.Status.VOID else how
    return {
        "kind": kind,
        "received": {
            "Id": qbo_invoice.id,
            "DocNumber": qbo_invoice.doc_number,
            "TotalAmt": str(qbo_invoice.total),
        },
        "message": SYNCED_MESSAGES[kind].format(
            number=qbo_invoice.doc_number or invoice.number,
            total=money_text(qbo_invoice.total, invoice.firm.currency),
        ),
    }


def _delete_in_qbo(client, row: SyncOutbox, request_id: str) -> str:
    # With the SyncToken our last write got back: no read unless QBO's copy changed since (5010).
    def with_kept_token(write, rid: str):
        def current_token() -> str:
            return qbo_txn.read_invoice(client, row.qbo_id).sync_token

        return pipeline.retry_once_if_stale(
            write, sync_token=row.qbo_sync_token, request_id=rid, current_token=current_token
        )

    try:
        with_kept_token(
            lambda token, rid: qbo_txn.delete_invoice(client, row.qbo_id, token, request_id=rid), request_id
        )
        return f"Deleted invoice {row.local_label} in QuickBooks Online."
    except QboNotFoundError:
        return f"Invoice {row.local_label} was already gone from QuickBooks Online."
    except QboValidationError:
        # QBO refuses to delete an invoice with linked payments (6000): void it instead, and say so.
        with_kept_token(
            lambda token, rid: qbo_txn.void_invoice(client, row.qbo_id, token, request_id=rid),
            request_id + "v",
        )
        return DELETE_REFUSED_VOIDED.format(label=row.local_label)


def _is_void(invoice: Invoice) -> bool:
    return invoice.status == Invoice.Status.VOID


INVOICE = pipeline.register(
    TransactionKind(
        record_model=Invoice,
        link_model=InvoiceSyncLink,
        outbox_entity="Invoice",
        request_prefix="inv",
        batch_id_prefix="i",
        enqueue_push=enqueue_invoice_push,
        marker=invoice_marker,
        find_by_marker=qbo_txn.find_invoices_by_marker,
        dated=lambda invoice: invoice.issue_date,
        blockers=account_blockers,
        draft=invoice_draft,
        read_for_drafts=invoices_read_for_drafts,
        create=qbo_txn.create_invoice,
        update=qbo_txn.update_invoice_sparse,
        read=qbo_txn.read_invoice,
        delete_in_qbo=_delete_in_qbo,
        outbox_label=lambda invoice: invoice.number,
        lost_message=DELETED_IN_QBO,
        reference_inactive=(FailureCause.ITEM_INACTIVE, ITEM_INACTIVE),
        create_sent=_create_sent,
        synced_event=_synced_event,
        synced_fields=lambda qbo_invoice: {"qbo_doc_number": qbo_invoice.doc_number or ""},
        syncs=lambda invoice: invoice.status in Invoice.PAYABLE_STATUSES or _is_void(invoice),
        not_syncable="Only issued invoices sync to QuickBooks.",
        voided=_is_void,
        void=qbo_txn.void_invoice,
        waits_for_deletes=_is_void,
        explain_refusal=_doc_number_taken,
        written_differs=_total_differs,
        sent_differently=_sent_differently,
        numbered=True,
    )
)


# Entry points: what the rest of the code calls ----------------------------------------------------------


def invoice_sync_on_change(*, invoice: Invoice, via_batch: bool = False) -> InvoiceSyncLink | None:
    """An issued invoice was created or changed. Called inside the change's transaction. ``via_batch``: it
    is part of its account's first sync, so a batch pusher creates it (if QBO has never seen it)."""
    return pipeline.sync_on_change(INVOICE, invoice, via_batch=via_batch)


def invoice_push(*, link_id: int) -> str:
    """Create, update or void the invoice in QBO (see `transactions.push`)."""
    return pipeline.push(INVOICE, link_id=link_id)


def invoice_link_synced(
    link: InvoiceSyncLink, qbo_invoice: qbo_txn.QboInvoice, version: int, tid: str
) -> str:
    return pipeline.link_synced(link, qbo_invoice, version, tid)


def invoice_delete_in_qbo(*, invoice: Invoice) -> SyncOutbox | None:
    """Called in the transaction that deletes the local invoice: remember to delete it in QBO too."""
    return pipeline.delete_in_qbo(INVOICE, invoice)


def invoice_sync_skip(*, invoice: Invoice, actor) -> InvoiceSyncLink:
    """Stop syncing this invoice (it is not changed or deleted in QBO)."""
    return pipeline.sync_skip(INVOICE, invoice, actor)


def invoice_sync_again(*, invoice: Invoice, actor) -> InvoiceSyncLink | None:
    """Sync a skipped, failed or not synced invoice again (a re-push of a synced one is an edit)."""
    return pipeline.sync_again(INVOICE, invoice, actor)

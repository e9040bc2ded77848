"""Payments reach QuickBooks after the invoices they pay: a payment of a synced account is created once
every invoice it is allocated to is Synced (until then it waits as Syncing, with the reason), each
allocation becomes a LinkedTxn line, and the rest stays unapplied. Edits replace the lines; deleting the
payment deletes it in QBO, which gives the invoices their balance back there.

What is particular to payments is described in `PAYMENT`; the pipeline (`transactions.py`) does the rest.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects

from invoices.models import Invoice, Payment, PaymentAllocation
from qbsync.core.money import money_text
from qbsync.quickbooks import transactions as qbo_txn
from qbsync.quickbooks.errors import QboNotFoundError

from ..engine.causes import FailureCause
from ..engine.company import kept_foreign_currency
from ..engine.enqueue import enqueue_payment_push
from ..engine.markers import payment_marker
from ..models import InvoiceSyncLink, PaymentSyncLink, QuickBooksConnection, SyncOutbox
from ..states import SyncState
from . import transactions as pipeline
from .transactions import TransactionKind, account_blockers

WAITING_FOR_INVOICES = "waiting for invoice {numbers} to sync"
DELETED_IN_QBO = "The payment was deleted in QuickBooks Online; it is not created again by itself."
REFERENCE_INACTIVE = (
    "QuickBooks Online refused the payment because something it uses is inactive or deleted there "
    "({message}): its customer or an invoice it pays. Check them in QuickBooks Online, then sync again."
)


def payment_blockers(payments: list[Payment]) -> dict[int, str]:
    """Why each of some payments of one account cannot go yet: its account, or an invoice it pays, is not
    in QBO ("" when it can). Five queries whatever the number of payments."""
    blockers = account_blockers(payments)
    ready = [payment.pk for payment in payments if not blockers[payment.pk]]
    if not ready:
        return blockers
    pays = list(
        PaymentAllocation.objects.filter(payment_id__in=ready).values_list("payment_id", "invoice_id")
    )
    synced = set(
        InvoiceSyncLink.objects.filter(invoice_id__in={i for _, i in pays}, state=SyncState.SYNCED)
        .exclude(qbo_invoice_id="")
        .values_list("invoice_id", flat=True)
    )
    missing: dict[int, set[int]] = {}
    for payment_id, invoice_id in pays:
        if invoice_id not in synced:
            missing.setdefault(payment_id, set()).add(invoice_id)
    numbers = dict(Invoice.objects.filter(pk__in=set().union(*missing.values())).values_list("pk", "number"))
    for payment_id, invoice_ids in missing.items():
        blockers[payment_id] = WAITING_FOR_INVOICES.format(
            numbers=", ".join(sorted(numbers[i] for i in invoice_ids))
        )
    return blockers


def payment_waits_over(links: QuerySet[PaymentSyncLink]) -> QuerySet[PaymentSyncLink]:
    """Of these payment links, those `payment_blockers` would now let go as far as their invoices and
    account go (the account Synced, every invoice they pay in QBO), and those waiting for anything else:
    one query, so that the sweep looks again only at waits that may be over, not at every payment of a
    first sync still waiting for its invoices."""
    invoice_in_qbo = InvoiceSyncLink.objects.filter(
        invoice_id=OuterRef("invoice_id"), state=SyncState.SYNCED
    ).exclude(qbo_invoice_id="")
    pays_one_not_in_qbo = PaymentAllocation.objects.filter(payment_id=OuterRef("payment_id")).filter(
        ~Exists(invoice_in_qbo)
    )
    for_invoices = Q(waiting_reason__startswith=WAITING_FOR_INVOICES.partition("{")[0])
    return links.filter(
        for_invoices & Q(payment__account__sync_link__state=SyncState.SYNCED) & ~Exists(pays_one_not_in_qbo)
        | ~for_invoices
    )


def payments_read_for_drafts(payments: list[Payment]) -> None:
    """Read what the drafts of ``payments`` use (their firm; their allocations, each with its invoice's
    link), in a fixed number of queries however many: a batch's at once."""
    prefetch_related_objects(
        payments,
        "firm",
        Prefetch("allocations", queryset=PaymentAllocation.objects.select_related("invoice__sync_link")),
    )


def payment_draft(
    payment: Payment, customer_id: str, connection: QuickBooksConnection | None = None
) -> qbo_txn.PaymentDraft:
    payments_read_for_drafts([payment])  # reads nothing when a batch read them already
    return qbo_txn.PaymentDraft(
        customer_id=customer_id,
        txn_date=payment.date,
        total=payment.amount,
        reference=payment.reference,
        method_note=payment.get_method_display(),
        applications=tuple(
            qbo_txn.PaymentApplication(invoice_id=a.invoice.sync_link.qbo_invoice_id, amount=a.amount)
            for a in payment.allocations.all()
        ),
        private_note=f"qbsync payment ({payment_marker(payment)})",
        currency=(kept_foreign_currency(connection, payment.firm.currency) or None) if connection else None,
    )


SYNCED_MESSAGES = {
    pipeline.CREATED: "Created the payment in QuickBooks Online: {total}, of which {unapplied} is unapplied.",
    pipeline.FOUND: "Found the payment already in QuickBooks Online (sent there before) and linked it "
    "again: {total}, of which {unapplied} is unapplied; nothing was created twice.",
    pipeline.UPDATED: "Updated the payment in QuickBooks Online: {total}, of which {unapplied} is unapplied.",
}


def _synced_event(payment: Payment, qbo_payment: qbo_txn.QboPayment, how: str) -> dict:
    currency = payment.firm.currency
    return {
        "kind": how,
        "received": {"Id": qbo_payment.id, "UnappliedAmt": str(qbo_payment.unapplied)},
        "message": SYNCED_MESSAGES[how].format(
            total=money_text(qbo_payment.total, currency),
            unapplied=money_text(qbo_payment.unapplied, currency),
        ),
    }


def _delete_in_qbo(client, row: SyncOutbox, request_id: str) -> str:
    # With the SyncToken our last write got back: no read unless QBO's copy changed since (5010).
    def current_token() -> str:
        return qbo_txn.read_payment(client, row.qbo_id).sync_token

    try:
        pipeline.retry_once_if_stale(
            lambda token, rid: qbo_txn.delete_payment(client, row.qbo_id, token, request_id=rid),
            sync_token=row.qbo_sync_token,
            request_id=request_id,
            current_token=current_token,
        )
    except QboNotFoundError:
        return f"The payment {row.local_label} was already gone from QuickBooks Online."
    return f"Deleted the payment {row.local_label} in QuickBooks Online; its invoices' balances are restored."


PAYMENT = pipeline.register(
    TransactionKind(
        record_model=Payment,
        link_model=PaymentSyncLink,
        outbox_entity="Payment",
        request_prefix="pay",
        batch_id_prefix="p",
        enqueue_push=enqueue_payment_push,
        marker=payment_marker,
        find_by_marker=qbo_txn.find_payments_by_marker,
        dated=lambda payment: payment.date,
        blockers=payment_blockers,
        draft=lambda payment, customer_id, connection, custom_numbers: payment_draft(
            payment, customer_id, connection
        ),
        read_for_drafts=payments_read_for_drafts,
        create=qbo_txn.create_payment,
        update=qbo_txn.update_payment_sparse,
        read=qbo_txn.read_payment,
        delete_in_qbo=_delete_in_qbo,
        outbox_label=lambda payment: (
            f"of {money_text(payment.amount, payment.firm.currency)} on {payment.date.isoformat()}"
        ),
        lost_message=DELETED_IN_QBO,
        reference_inactive=(FailureCause.REFERENCE_INACTIVE, REFERENCE_INACTIVE),
        create_sent=lambda payment, draft: (
            "Creating the payment in QuickBooks.",
            {"TotalAmt": str(draft.total)},
        ),
        synced_event=_synced_event,
        # A deleted payment gives its invoices their balance back in QBO only once its delete gets there.
        waits_for_deletes=lambda payment: payment.allocations.exists(),
        waits_on={"invoice": "allocations__invoice_id"},
        waits_in_batch=True,
    )
)


# Entry points: what the rest of the code calls ----------------------------------------------------------


def payment_sync_on_change(*, payment: Payment, via_batch: bool = False) -> PaymentSyncLink | None:
    """A payment was recorded or changed. Called inside the change's transaction. ``via_batch``: it is part
    of its account's first sync, so a batch pusher creates it once its invoices are in QBO."""
    return pipeline.sync_on_change(PAYMENT, payment, via_batch=via_batch)


def payment_push(*, link_id: int) -> str:
    """Create or update the payment in QBO (see `transactions.push`)."""
    return pipeline.push(PAYMENT, link_id=link_id)


def payment_link_synced(
    link: PaymentSyncLink, qbo_payment: qbo_txn.QboPayment, version: int, tid: str
) -> str:
    return pipeline.link_synced(link, qbo_payment, version, tid)


def payment_delete_in_qbo(*, payment: Payment) -> SyncOutbox | None:
    """Called in the transaction that deletes the local payment: remember to delete it in QBO too."""
    return pipeline.delete_in_qbo(PAYMENT, payment)


def payment_sync_skip(*, payment: Payment, actor) -> PaymentSyncLink:
    """Stop syncing this payment (it is not changed or deleted in QBO)."""
    return pipeline.sync_skip(PAYMENT, payment, actor)


def payment_sync_again(*, payment: Payment, actor) -> PaymentSyncLink | None:
    return pipeline.sync_again(PAYMENT, payment, actor)

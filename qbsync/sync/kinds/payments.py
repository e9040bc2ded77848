"""Payments reach QuickBooks after the invoices they pay: a payment of a synced account is created once
every invoice it is allocated to is Synced (until then it waits as Syncing, with the reason), each
allocation becomes a LinkedTxn line, and the rest stays unapplied. Edits replace the lines; deleting the
payment deletes it in QBO, which gives the invoices their balance back there.

Before creating again after an unknown outcome, the payment is looked up by the marker in its PrivateNote.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from invoices.models import Payment
from qbsync.quickbooks import transactions as qbo_txn
from qbsync.quickbooks.requestids import request_id_for

from ..engine import explanations
from ..engine.client import connection_client
from ..engine.connection import usable_connection
from ..engine.enqueue import enqueue_batch_pushers, enqueue_outbox, enqueue_payment_push
from ..engine.errors import SyncFailure
from ..engine.history import record_event
from ..engine.retry import fail
from ..engine.transitions import transition, transition_all
from ..models import (
    AccountSyncLink,
    InvoiceSyncLink,
    PaymentSyncLink,
    SyncEvent,
    SyncOutbox,
)
from ..states import SyncAction, SyncState, target_of
from .invoices import _payment_deletes_pending
from .transactions import BEFORE_START_DATE, WAITING_FOR_ACCOUNT, attempt_push, retry_once_if_stale

logger = logging.getLogger(__name__)

WAITING_FOR_INVOICES = "waiting for invoice {numbers} to sync"
WAITING_FOR_DELETES = "waiting for deleted payments to be deleted in QuickBooks first"
DELETED_IN_QBO = "The payment was deleted in QuickBooks Online; it is not created again by itself."


def payment_marker(payment: Payment) -> str:
    return f"qbsync:pay:{payment.pk}"


def payment_blocker(payment: Payment) -> str:
    """Why the payment cannot go yet: its account or an invoice it pays is not in QBO. Empty when it can."""
    if not AccountSyncLink.objects.filter(account_id=payment.account_id, state=SyncState.SYNCED).exists():
        return WAITING_FOR_ACCOUNT
    invoice_ids = list(payment.allocations.values_list("invoice_id", flat=True))
    synced = set(
        InvoiceSyncLink.objects.filter(invoice_id__in=invoice_ids, state=SyncState.SYNCED)
        .exclude(qbo_invoice_id="")
        .values_list("invoice_id", flat=True)
    )
    missing = [inv_id for inv_id in invoice_ids if inv_id not in synced]
    if not missing:
        return ""
    from invoices.models import Invoice

    numbers = ", ".join(
        Invoice.objects.filter(pk__in=missing).order_by("number").values_list("number", flat=True)
    )
    return WAITING_FOR_INVOICES.format(numbers=numbers)


def payment_sync_on_change(*, payment: Payment, via_batch: bool = False) -> PaymentSyncLink | None:
    """A payment was recorded or changed. Called inside the change's transaction. ``via_batch``: it is part
    of its account's first sync, so a batch pusher creates it once its invoices are in QBO."""
    connection = usable_connection(payment.firm_id)
    if connection is None:
        return None
    link, _ = PaymentSyncLink.objects.get_or_create(payment=payment, defaults={"firm_id": payment.firm_id})
    if link.state == SyncState.SKIPPED:
        return link
    start = connection.sync_start_date
    if start and payment.date < start:
        if transition(link, SyncAction.SKIP, skip_reason=BEFORE_START_DATE.format(start=start.isoformat())):
            record_event(link=link, kind="skipped", trigger="auto", message=f"Skipped: {link.skip_reason}.")
        return link
    if target_of(SyncAction.REQUEST, link.state) is None:
        return link  # a worker holds it; it compares versions when it finishes
    blocker = payment_blocker(payment)
    in_batch = via_batch and not link.qbo_payment_id
    transition(
        link,
        SyncAction.REQUEST,
        in_batch=in_batch,
        request_epoch=link.request_epoch + 1,
        attempts=0,
        next_attempt_at=None,
        waiting_reason=blocker,
        error_code="",
        error_message="",
        error_explanation="",
        error_cause="",
        error_intuit_tid="",
    )
    if blocker:
        record_event(link=link, kind="waiting", trigger="auto", message=f"Syncing: {blocker}.")
    elif in_batch:
        enqueue_batch_pushers(payment.firm_id)
    else:
        enqueue_payment_push(link.pk)
    return link


def payments_release_waiting(*, account_id: int) -> int:
    """An invoice or the account of these payments just synced: try the ones that were waiting.

    Each waiting payment is locked before its blocker is worked out, so two invoices syncing at once
    cannot both read the other as not yet synced and leave the payment waiting for nothing.
    """
    with transaction.atomic():
        waiting = list(
            PaymentSyncLink.objects.select_for_update(of=("self",))
            .filter(payment__account_id=account_id, state=SyncState.QUEUED)
            .exclude(waiting_reason="")
            .select_related("payment")
            .order_by("pk")
        )
        released = to_batch = 0
        for link in waiting:
            blocker = payment_blocker(link.payment)
            PaymentSyncLink.objects.filter(pk=link.pk).update(
                waiting_reason=blocker, updated_at=timezone.now()
            )
            if blocker:
                continue
            released += 1
            if link.in_batch and not link.qbo_payment_id:
                to_batch += 1
            else:
                enqueue_payment_push(link.pk)
        if to_batch:
            enqueue_batch_pushers(waiting[0].firm_id)
    return released


def payment_draft(payment: Payment, customer_id: str) -> qbo_txn.PaymentDraft:
    qbo_ids = dict(
        InvoiceSyncLink.objects.filter(invoice__allocations__payment=payment).values_list(
            "invoice_id", "qbo_invoice_id"
        )
    )
    return qbo_txn.PaymentDraft(
        customer_id=customer_id,
        txn_date=payment.date,
        total=payment.amount,
        reference=payment.reference,
        method_note=payment.get_method_display(),
        applications=tuple(
            qbo_txn.PaymentApplication(invoice_id=qbo_ids[a.invoice_id], amount=a.amount)
            for a in payment.allocations.all()
        ),
        private_note=f"qbsync payment ({payment_marker(payment)})",
    )


def payment_push(*, link_id: int) -> str:
    """Create or update the payment in QBO. Returns "synced", "waiting", "deferred", "failed", "lost" or
    "not-queued"."""
    link = PaymentSyncLink.objects.filter(pk=link_id).first()
    if link is None or (
        link.next_attempt_at and link.next_attempt_at > timezone.now() + timedelta(seconds=1)
    ):
        return "not-queued"
    if not transition(link, SyncAction.START):
        return "not-queued"
    payment = Payment.objects.select_related("account").get(pk=link.payment_id)
    blocker = payment_blocker(payment)
    if not blocker and payment.allocations.exists() and _payment_deletes_pending(payment.account_id):
        # A deleted payment gives its invoices their balance back in QBO only once its delete gets there.
        blocker = WAITING_FOR_DELETES
    if blocker:
        transition(link, SyncAction.DEFER, waiting_reason=blocker)
        return "waiting"
    connection = usable_connection(payment.firm_id)
    if connection is None:
        fail(link, SyncFailure("connection", explanations.CONNECTION))
        return "failed"
    customer_id = AccountSyncLink.objects.get(account_id=payment.account_id).qbo_customer_id
    client = connection_client(connection)
    version = payment.content_version
    outcome, qbo_payment = attempt_push(
        link,
        lambda: _create_or_update(client, link, payment, payment_draft(payment, customer_id)),
        lost_message=DELETED_IN_QBO,
        forget={"qbo_payment_id": ""},
        enqueue=enqueue_payment_push,
    )
    if outcome is not None:
        return outcome
    return payment_link_synced(link, qbo_payment, version, client.last_intuit_tid)


def _create_or_update(client, link: PaymentSyncLink, payment: Payment, draft) -> qbo_txn.QboPayment:
    request_id = request_id_for("pay", link.firm_id, payment.pk, link.request_epoch, payment.content_version)
    if not link.qbo_payment_id:
        found = qbo_txn.find_payments_by_marker(client, draft.customer_id, payment_marker(payment))
        if found:
            # Not the lost create's requestid: QBO would replay that create's answer, or refuse it (600).
            adopt_id = request_id_for(
                "pay-adopt", link.firm_id, payment.pk, link.request_epoch, payment.content_version
            )
            return _update(client, found[0].id, found[0].sync_token, draft, adopt_id)
        record_event(
            link=link,
            kind="create_sent",
            message="Creating the payment in QuickBooks.",
            sent={"request_id": request_id, "TotalAmt": str(draft.total)},
        )
        return qbo_txn.create_payment(client, draft, request_id=request_id)
    if link.pushed_version == payment.content_version:
        return qbo_txn.read_payment(client, link.qbo_payment_id)
    return _update(client, link.qbo_payment_id, link.qbo_sync_token, draft, request_id)


def _update(client, qbo_id: str, sync_token: str, draft, request_id: str) -> qbo_txn.QboPayment:
    return retry_once_if_stale(
        lambda token, rid: qbo_txn.update_payment_sparse(client, qbo_id, token, draft, request_id=rid),
        sync_token=sync_token,
        request_id=request_id,
        current_token=lambda: qbo_txn.read_payment(client, qbo_id).sync_token,
    )


def payment_link_synced(
    link: PaymentSyncLink, qbo_payment: qbo_txn.QboPayment, version: int, tid: str
) -> str:
    with transaction.atomic():
        created = not link.qbo_payment_id
        done = transition(
            link,
            SyncAction.SUCCEED,
            qbo_payment_id=qbo_payment.id,
            qbo_sync_token=qbo_payment.sync_token,
            pushed_version=version,
            attempts=0,
            next_attempt_at=None,
            waiting_reason="",
        )
        if done:
            record_event(
                link=link,
                kind="created" if created else "updated",
                outcome=SyncEvent.Outcome.SUCCESS,
                intuit_tid=tid,
                received={"Id": qbo_payment.id, "UnappliedAmt": str(qbo_payment.unapplied)},
                message=f"{'Created' if created else 'Updated'} QuickBooks payment {qbo_payment.id} of "
                f"{qbo_payment.total} ({qbo_payment.unapplied} unapplied).",
            )
            current = (
                Payment.objects.filter(pk=link.payment_id).values_list("content_version", flat=True).first()
            )
            if current is not None and current != version:
                payment_sync_on_change(payment=Payment.objects.get(pk=link.payment_id))
    return "synced" if done else "not-queued"


def payment_delete_in_qbo(*, payment: Payment) -> SyncOutbox | None:
    """Called in the transaction that deletes the local payment: remember to delete it in QBO too."""
    link = PaymentSyncLink.objects.filter(payment=payment).exclude(qbo_payment_id="").first()
    if link is None:
        return None
    row = SyncOutbox.objects.create(
        firm_id=payment.firm_id,
        account_id=payment.account_id,
        entity="Payment",
        operation="delete",
        local_label=f"of {payment.amount} on {payment.date.isoformat()}",
        qbo_id=link.qbo_payment_id,
        qbo_sync_token=link.qbo_sync_token,
    )
    enqueue_outbox(row.pk)
    return row


def payment_sync_skip(*, payment: Payment, actor) -> PaymentSyncLink:
    """Stop syncing this payment (it is not changed or deleted in QBO)."""
    from ..engine.errors import SyncRequestError

    link, _ = PaymentSyncLink.objects.get_or_create(payment=payment, defaults={"firm_id": payment.firm_id})
    who = actor.get_full_name() or actor.username
    with transaction.atomic():
        if not transition(
            link, SyncAction.SKIP, skip_reason=f"skipped by {who}", waiting_reason="", next_attempt_at=None
        ):
            raise SyncRequestError("Sync is already off for this payment.")
        record_event(
            link=link, kind="skipped", actor=actor, trigger="user", message="Sync skipped for this payment."
        )
    return link


def payment_sync_again(*, payment: Payment, actor) -> PaymentSyncLink | None:
    from ..engine.errors import SyncRequestError

    if usable_connection(payment.firm_id) is None:
        raise SyncRequestError(explanations.NOT_CONNECTED)
    with transaction.atomic():
        transition_all(PaymentSyncLink.objects.filter(payment=payment), SyncAction.UNSKIP, skip_reason="")
        link = payment_sync_on_change(payment=payment)
        if link is not None and link.state == SyncState.SKIPPED:
            raise SyncRequestError(f"This payment is not synced: {link.skip_reason}.")
        if link is not None:
            record_event(link=link, kind="requested", actor=actor, trigger="user", message="Sync requested.")
    return link

"""Reacting to one change made directly in QuickBooks Online.

What changes here is decided from QBO's own answer (the CDC copy of the record, or a read), never from
what a webhook said. Every reaction is idempotent: it compares what QBO says now with what the link holds
and acts only on a difference, by compare-and-set, so a change reported twice reacts once. Changes
qbsync made itself are recognised (our markers, our SyncTokens, our own deletes and voids) and left
alone.

Reads are metered by Intuit, so a reaction reads QBO only for what no CDC answer in the inbox tells: the
echoes of our own writes and every change a CDC row describes are settled without a call. What is left
is a merge: a webhook's claim checked against QBO when the merged-away customer was already dealt with,
and, when the CDC answers recorded do not show it, where a merged customer's transactions went.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from invoices.models import Invoice
from qbsync.core.money import money_text
from qbsync.quickbooks import transactions as qbo_txn
from qbsync.quickbooks.cdc import changed_at, is_deleted
from qbsync.quickbooks.customers import customer_from_json
from qbsync.quickbooks.errors import QboNotFoundError, QboValidationError
from qbsync.sync.engine.causes import FailureCause
from qbsync.sync.engine.errors import SyncFailure, SyncRequestError
from qbsync.sync.engine.history import record_event
from qbsync.sync.engine.markers import INVOICE_MARKER_PREFIX, PAYMENT_MARKER_PREFIX
from qbsync.sync.engine.retry import fail
from qbsync.sync.engine.transitions import transition
from qbsync.sync.kinds.account_records import invoices_unsync_for_account
from qbsync.sync.kinds.accounts import account_sync_request
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncEvent
from qbsync.sync.states import SyncAction, SyncState

from .. import causes, explanations
from ..models import InvoiceChangeInQbo, QboChange, QboPaymentOnInvoice

logger = logging.getLogger(__name__)

# What a re-push must not find again: the voided invoice keeps its note, minus our marker.
RETIRED_MARKER = "qbsync-retired-inv-"


GONE = object()  # what a read of a deleted record gives
# The echoes of our own writes (`own_echoes` settles them many at a time).
OUR_OWN_CHANGE = "ignored: our own change"
OUR_OWN_PAYMENT = "ignored: our own payment"


@dataclass(frozen=True)
class Fact:
    """What we know of one change: the entity as QBO has it now (``row``), or GONE."""

    realm_id: str
    entity: str
    entity_id: str
    operation: str
    deleted_id: str
    row: Any  # dict | GONE | None (not read yet)
    row_stub: dict | None = None  # CDC's stub of a deleted record


def _fact_of(change: QboChange) -> Fact:
    return Fact(
        realm_id=change.realm_id,
        entity=change.entity,
        entity_id=change.entity_id,
        operation=change.operation,
        deleted_id=change.deleted_id,
        row=_row_from_payload(change.payload),
        row_stub=change.payload if change.payload and is_deleted(change.payload) else None,
    )


def own_echoes(firm_id: int, changes: list[QboChange]) -> dict[int, str]:
    """Of some of the firm's changes, those `react` would settle as plainly ours without reading anything
    (an invoice at the version we wrote last, any payment we linked), by change id with that outcome. Two
    queries whatever their number: a first sync's thousands of echoes are settled together."""
    invoices = [change for change in changes if change.entity == "Invoice"]
    payments = [change for change in changes if change.entity == "Payment"]
    echoes: dict[int, str] = {}
    if invoices:
        tokens = dict(
            InvoiceSyncLink.objects.filter(
                firm_id=firm_id, qbo_invoice_id__in={change.entity_id for change in invoices}
            ).values_list("qbo_invoice_id", "qbo_sync_token")
        )
        for change in invoices:
            if change.entity_id in tokens and _our_version(_fact_of(change), tokens[change.entity_id]):
                echoes[change.pk] = OUR_OWN_CHANGE
    if payments:
        ours = set(
            PaymentSyncLink.objects.filter(
                firm_id=firm_id, qbo_payment_id__in={change.entity_id for change in payments}
            ).values_list("qbo_payment_id", flat=True)
        )
        echoes.update({change.pk: OUR_OWN_PAYMENT for change in payments if change.entity_id in ours})
    return echoes


def react(change: QboChange, client) -> str:
    """React to ``change``; returns what happened, in words for the change's outcome."""
    fact = _fact_of(change)
    if change.entity == "Customer":
        return _customer_changed(change.firm_id, fact, client)
    if change.entity == "Invoice":
        return _invoice_changed(change.firm_id, fact, client)
    if change.entity == "Payment":
        return _payment_changed(change.firm_id, fact, client)
    return "ignored: qbsync does not sync this kind of record"


def _row_from_payload(payload: Any):
    if not payload:
        return None
    return GONE if is_deleted(payload) else payload


def _current(client, fact: Fact):
    """The entity as QBO has it now: the CDC copy, or one read. What a webhook said happened to it (a
    Delete, a Void) is never taken for QBO's answer."""
    if fact.row is not None:
        return fact.row
    return _read(client, fact.entity, fact.entity_id)


def _read(client, entity: str, qbo_id: str):
    try:
        return client.read(entity, qbo_id)
    except QboNotFoundError:
        return GONE


def _gone_at(fact: Fact):
    """When QBO says the record disappeared (its CDC stub's time), if it says."""
    return changed_at(fact.row_stub) if fact.row_stub else None


def _fresh_copy(firm_id: int, realm_id: str, entity: str, qbo_id: str, since) -> dict | None:
    """The record as the newest CDC answer in the inbox has it, when QBO changed it no earlier than
    ``since``: what QBO said then is what it says now, as a later change would be a later row of the
    inbox, reacted to after this one. None when no such copy was recorded (then only a read tells)."""
    if since is None:
        return None
    payload = (
        QboChange.objects.filter(
            firm_id=firm_id, realm_id=realm_id, source=QboChange.Source.CDC, entity=entity, entity_id=qbo_id
        )
        .filter(payload__isnull=False)
        .order_by("-id")
        .values_list("payload", flat=True)
        .first()
    )
    if not payload or is_deleted(payload):
        return None
    updated = changed_at(payload)
    return payload if updated is not None and updated >= since.replace(microsecond=0) else None


def _copy_or_read(client, firm_id: int, realm_id: str, entity: str, qbo_id: str, since):
    return _fresh_copy(firm_id, realm_id, entity, qbo_id, since) or _read(client, entity, qbo_id)


# Customers -----------------------------------------------------------------------------------------


def _linked_account(firm_id: int, customer_id: str) -> AccountSyncLink | None:
    return (
        AccountSyncLink.objects.filter(firm_id=firm_id, qbo_customer_id=customer_id)
        .select_related("account")
        .first()
    )


def _customer_changed(firm_id: int, fact: Fact, client) -> str:
    if fact.deleted_id:
        return _merge_claimed(firm_id, fact, client)
    link = _linked_account(firm_id, fact.entity_id)
    if link is None:
        return "ignored: customer not linked to an account"
    row = _current(client, fact)
    if row is GONE:
        survivor = _merge_survivor(client, link, fact) or _survivor_from_merge_claim(client, link, fact)
        return _merged(link, survivor) if survivor else _customer_lost(link, deleted=True)
    if not row.get("Active", True):
        return _customer_lost(link, deleted=False)
    return _renamed(link, customer_from_json(row).display_name)


def _merge_claimed(firm_id: int, fact: Fact, client) -> str:
    """A webhook said customer ``deleted_id`` was merged into ``entity_id``: a claim, not a fact. While the
    merged-away customer's account is linked, nothing happens here: the merge is applied when QBO itself
    reports that customer gone (the CDC answer the webhook asked for), with this claim as the pointer to
    the survivor. An account already Not synced because QBO reported the customer gone is asked to link
    the survivor, if QBO has it active."""
    if _linked_account(firm_id, fact.deleted_id) is not None:
        return "ignored: merge claimed by a webhook; applied only when QuickBooks reports the customer gone"
    link = _account_lost_to_deletion(firm_id, fact.deleted_id)
    if link is None:
        # Not a customer of ours (or dealt with since): QBO is not asked about it.
        return "ignored: customer not linked to an account"
    survivor = _current(client, fact)  # the claim is checked against QBO: the one read left here
    if survivor is GONE or not survivor.get("Active", True):
        return "ignored: the customer named as the survivor of a merge is not active in QuickBooks"
    return _merged_after_lost(link, fact.deleted_id, survivor)


def _shown_name(link: AccountSyncLink) -> str:
    return link.qbo_current_name or link.qbo_display_name or f"Id {link.qbo_customer_id}"


def _customer_lost(link: AccountSyncLink, *, deleted: bool) -> str:
    """Not synced, with the reason in its tooltip and history; nothing is created again by itself."""
    name = _shown_name(link)
    customer_id = link.qbo_customer_id
    explanation = (explanations.CUSTOMER_DELETED if deleted else explanations.CUSTOMER_INACTIVE).format(
        name=name
    )
    with transaction.atomic():
        moved = transition(
            link,
            SyncAction.LOST,
            qbo_customer_id="",
            link_method="",
            linked_at=None,
            previous_customer_id="",
            next_attempt_at=None,
            error_code="",
            error_message="",
            error_explanation=explanation,
            error_cause=causes.CUSTOMER_DELETED if deleted else causes.CUSTOMER_INACTIVE,
            error_proposed_name="",
            error_intuit_tid="",
        )
        if not moved:
            return f"ignored: account {link.account_id} is {link.state}"
        # Its records' copies are under the lost customer: not synced until the account links again.
        invoices_unsync_for_account(account_id=link.account_id, lost_in_qbo=True)
        record_event(
            link=link,
            kind="deleted_in_qbo" if deleted else "inactive_in_qbo",
            outcome=SyncEvent.Outcome.FAILURE,
            trigger="qbo",
            message=f"{explanation} (customer Id {customer_id})",
            received={"Id": customer_id, "status": "Deleted" if deleted else "Inactive"},
        )
    return f"account {link.account_id}: customer {'deleted' if deleted else 'made inactive'} in QBO"


def _renamed(link: AccountSyncLink, name: str) -> str:
    old = link.qbo_current_name or link.qbo_display_name
    if not name or name == old:
        return "ignored: customer unchanged"
    with transaction.atomic():
        changed = AccountSyncLink.objects.filter(
            pk=link.pk, qbo_customer_id=link.qbo_customer_id, qbo_current_name=link.qbo_current_name
        ).update(qbo_current_name=name, updated_at=timezone.now())
        if not changed:
            return "ignored: the link changed meanwhile"
        link.refresh_from_db()
        record_event(
            link=link,
            kind="renamed_in_qbo",
            trigger="qbo",
            message=explanations.CUSTOMER_RENAMED.format(old=old, new=name),
            received={"Id": link.qbo_customer_id, "DisplayName": name},
        )
    return f"account {link.account_id}: customer renamed in QBO"


def _merge_survivor(client, link: AccountSyncLink, gone: Fact) -> dict | None:
    """A linked customer that disappeared was merged when our transactions now belong to another one. A
    merge changes the transactions it moves and the survivor, so the CDC answer that reports the customer
    gone usually has them too: QBO is read only for what the inbox has no copy of since the deletion."""
    since = _gone_at(gone)
    invoice_ids = list(
        InvoiceSyncLink.objects.filter(invoice__account_id=link.account_id)
        .exclude(qbo_invoice_id="")
        .values_list("qbo_invoice_id", flat=True)[:3]
    )
    payment_ids = list(
        PaymentSyncLink.objects.filter(payment__account_id=link.account_id)
        .exclude(qbo_payment_id="")
        .values_list("qbo_payment_id", flat=True)[:3]
    )
    for entity, ids in (("Invoice", invoice_ids), ("Payment", payment_ids)):
        for qbo_id in ids:
            row = _copy_or_read(client, link.firm_id, gone.realm_id, entity, qbo_id, since)
            if row is GONE:
                continue
            owner = str((row.get("CustomerRef") or {}).get("value", ""))
            if owner and owner != link.qbo_customer_id:
                survivor = _copy_or_read(client, link.firm_id, gone.realm_id, "Customer", owner, since)
                return None if survivor is GONE else survivor
    return None


def _survivor_from_merge_claim(client, link: AccountSyncLink, gone: Fact) -> dict | None:
    """A webhook may have claimed where the customer went (a Merge naming it as deletedId). QBO has just
    said the customer is gone; the claim is followed only to a customer QBO has active and changed no
    earlier than that (a merge updates the survivor)."""
    claim = (
        QboChange.objects.filter(
            firm_id=link.firm_id,
            realm_id=gone.realm_id,
            entity="Customer",
            operation="Merge",
            deleted_id=link.qbo_customer_id,
        )
        .order_by("-id")
        .first()
    )
    if claim is None:
        return None
    survivor = _copy_or_read(client, link.firm_id, gone.realm_id, "Customer", claim.entity_id, _gone_at(gone))
    if survivor is GONE or not survivor.get("Active", True):
        return None
    updated, gone_at = changed_at(survivor), _gone_at(gone)
    if gone_at is not None and (updated is None or updated < gone_at.replace(microsecond=0)):
        logger.warning(
            "A webhook claimed customer %s was merged into %s, which QBO has not changed since: not followed",
            link.qbo_customer_id,
            claim.entity_id,
        )
        return None
    return survivor


def _account_lost_to_deletion(firm_id: int, deleted_id: str) -> AccountSyncLink | None:
    """The account made Not synced because QBO reported customer ``deleted_id`` gone, if it still is."""
    lost = (
        SyncEvent.objects.filter(firm_id=firm_id, kind="deleted_in_qbo", received__Id=deleted_id)
        .exclude(account=None)
        .order_by("-id")
        .first()
    )
    if lost is None:
        return None
    return AccountSyncLink.objects.filter(
        account_id=lost.account_id, state=SyncState.NOT_SYNCED, error_cause=causes.CUSTOMER_DELETED
    ).first()


def _merged_after_lost(link: AccountSyncLink, deleted_id: str, survivor: dict) -> str:
    """The merge is reported after an older notice already found the customer gone (webhooks arrive in
    any order): the account, Not synced for that reason, is asked to link the surviving customer."""
    customer = customer_from_json(survivor)
    try:
        account_sync_request(
            account=link.account,
            mode=AccountSyncLink.RequestMode.PICK,
            customer_id=customer.id,
            trigger="qbo",
        )
    except SyncRequestError as exc:
        return f"ignored: {exc}"
    record_event(
        link=link,
        kind="merged_in_qbo",
        trigger="qbo",
        message=f'The deleted customer was merged in QuickBooks Online into "{customer.display_name}" '
        f"(Id {customer.id}); linking the account to it.",
        received={"merged": deleted_id, "into": customer.id},
    )
    return f"account {link.account_id}: linking the customer it was merged into"


def _merged(link: AccountSyncLink, survivor: dict) -> str:
    """Re-point the account to the customer it was merged into, unless another account has that one."""
    customer = customer_from_json(survivor)
    old_id, old_name = link.qbo_customer_id, _shown_name(link)
    other = _linked_account(link.firm_id, customer.id)
    if other is not None and other.pk != link.pk:
        explanation = explanations.MERGED_LINKED_ELSEWHERE.format(
            old=old_name, new=customer.display_name, other=other.account.name
        )
        with transaction.atomic():
            locked = AccountSyncLink.objects.select_for_update().get(pk=link.pk)
            if locked.state != SyncState.SYNCED or locked.qbo_customer_id != old_id:
                return f"ignored: account {link.account_id} is {locked.state}"
            fail(
                locked,
                SyncFailure(FailureCause.MERGED_CUSTOMER_LINKED_ELSEWHERE, explanation, code="merged"),
                action=SyncAction.FLAG,
                trigger="qbo",
                received={"merged": old_id, "into": customer.id},
                qbo_customer_id="",
                link_method="",
                linked_at=None,
                previous_customer_id="",
            )
            invoices_unsync_for_account(account_id=link.account_id, lost_in_qbo=True)
        return f"account {link.account_id}: merged into a customer linked elsewhere"
    try:
        with transaction.atomic():
            moved = AccountSyncLink.objects.filter(pk=link.pk, qbo_customer_id=old_id).update(
                qbo_customer_id=customer.id,
                qbo_current_name=customer.display_name,
                updated_at=timezone.now(),
            )
            if not moved:
                return "ignored: the link changed meanwhile"
            # QBO moved the merged customer's transactions to the survivor: so are our copies.
            for model, record in ((InvoiceSyncLink, "invoice"), (PaymentSyncLink, "payment")):
                model.objects.filter(
                    **{f"{record}__account_id": link.account_id}, qbo_customer_id=old_id
                ).update(qbo_customer_id=customer.id)
            link.refresh_from_db()
            record_event(
                link=link,
                kind="merged_in_qbo",
                outcome=SyncEvent.Outcome.SUCCESS,
                trigger="qbo",
                message=explanations.CUSTOMER_MERGED.format(
                    old=old_name, new=customer.display_name, new_id=customer.id
                ),
                received={"merged": old_id, "into": customer.id},
            )
    except IntegrityError:
        return "ignored: the surviving customer was linked meanwhile"
    return f"account {link.account_id}: re-pointed to customer {customer.id} after a merge"


# Invoices ------------------------------------------------------------------------------------------


def _our_version(fact: Fact, sync_token: str) -> bool:
    """The CDC row is the version we wrote: QBO answered our last create or update with this SyncToken (an
    echo of our own write, settled without a read)."""
    row = fact.row
    return (
        isinstance(row, dict)
        and bool(sync_token)
        and str(row.get("Id", "")) == fact.entity_id
        and str(row.get("SyncToken", "")) == sync_token
    )


def _invoice_changed(firm_id: int, fact: Fact, client) -> str:
    link = (
        InvoiceSyncLink.objects.filter(firm_id=firm_id, qbo_invoice_id=fact.entity_id)
        .select_related("invoice")
        .first()
    )
    if link is None:
        # Ours are deleted in QBO only after the local invoice (and its link) is gone.
        return "ignored: invoice not linked"
    if _our_version(fact, link.qbo_sync_token):
        return OUR_OWN_CHANGE
    if link.state != SyncState.SYNCED:
        # A push is on its way (it sees QBO's state itself) or a person already decides about it.
        return f"ignored: invoice link is {link.state}"
    if link.invoice.status not in Invoice.PAYABLE_STATUSES:
        return "ignored: the invoice is not active here (our own void or delete)"
    row = _current(client, fact)
    if row is GONE:
        return _invoice_changed_in_qbo(link, InvoiceChangeInQbo.Kind.DELETED, None, client)
    invoice = qbo_txn.invoice_from_json(row)
    if invoice.voided and invoice.sync_token != link.qbo_sync_token:
        return _invoice_changed_in_qbo(link, InvoiceChangeInQbo.Kind.VOIDED, invoice, client)
    return "ignored: invoice still active in QBO"


def _retire_marker(client, invoice: qbo_txn.QboInvoice, local_id: int) -> None:
    """Take our marker off a voided invoice, so that a re-push creates a new one instead of finding it."""
    note = invoice.private_note.replace(f"{INVOICE_MARKER_PREFIX}{local_id}", f"{RETIRED_MARKER}{local_id}")
    if note == invoice.private_note:
        return
    try:
        client.update(
            "Invoice",
            {"Id": invoice.id, "SyncToken": invoice.sync_token, "PrivateNote": note},
            request_id=f"retire-{invoice.id}-{invoice.sync_token}",
        )
    except QboValidationError as exc:
        # QBO may refuse edits to a voided invoice: a re-push would then find it by the marker again.
        logger.warning("Could not retire the marker of voided invoice %s: %s", invoice.id, exc)


def _invoice_changed_in_qbo(link: InvoiceSyncLink, kind: str, invoice, client) -> str:
    local = link.invoice
    if invoice is not None:
        _retire_marker(client, invoice, local.pk)
    template = explanations.INVOICE_DELETED if kind == "deleted" else explanations.INVOICE_VOIDED
    explanation = template.format(number=local.number)
    with transaction.atomic():
        locked = InvoiceSyncLink.objects.select_for_update().get(pk=link.pk)
        if locked.state != SyncState.SYNCED or locked.qbo_invoice_id != link.qbo_invoice_id:
            return f"ignored: invoice link is {locked.state}"
        InvoiceChangeInQbo.objects.update_or_create(
            invoice=local,
            defaults={
                "firm_id": local.firm_id,
                "kind": kind,
                "qbo_invoice_id": locked.qbo_invoice_id,
                "qbo_doc_number": locked.qbo_doc_number,
                "detected_at": timezone.now(),
                "resolution": InvoiceChangeInQbo.Resolution.OPEN,
                "resolved_by": None,
                "resolved_at": None,
            },
        )
        fail(
            locked,
            SyncFailure(FailureCause.CHANGED_IN_QBO, explanation, code=f"invoice_{kind}"),
            action=SyncAction.FLAG,
            kind="changed_in_qbo",
            trigger="qbo",
            received={"Id": link.qbo_invoice_id, "status": kind.capitalize()},
            # QBO's copy is gone or void: a re-push (or the next edit) creates the invoice again.
            qbo_invoice_id="",
            qbo_sync_token="",
            pushed_version=0,
        )
    return f"invoice {local.pk}: {kind} in QBO"


# Payments ------------------------------------------------------------------------------------------


def _payment_changed(firm_id: int, fact: Fact, client) -> str:
    # Ours, whatever its version: an echo of our write, or QBO's side of our own void or delete.
    if PaymentSyncLink.objects.filter(firm_id=firm_id, qbo_payment_id=fact.entity_id).exists():
        return OUR_OWN_PAYMENT
    known = QboPaymentOnInvoice.objects.filter(firm_id=firm_id, qbo_payment_id=fact.entity_id)
    if fact.operation == "Create" and fact.row is None and known.exists():
        return "ignored: payment already recorded"
    row = _current(client, fact)
    if row is GONE:
        return _payment_removed(known)
    payment = qbo_txn.payment_from_json(row)
    if PAYMENT_MARKER_PREFIX in payment.private_note:
        return OUR_OWN_PAYMENT
    if payment.total == 0 and payment.private_note.startswith("Voided"):
        return _payment_removed(known)
    applied: dict[str, Decimal] = {}
    for invoice_id, amount in payment.applications:
        applied[invoice_id] = applied.get(invoice_id, Decimal("0")) + amount
    links = {
        link.qbo_invoice_id: link
        for link in InvoiceSyncLink.objects.filter(firm_id=firm_id, qbo_invoice_id__in=list(applied))
        .exclude(qbo_invoice_id="")
        .select_related("invoice")
    }
    recorded = []
    with transaction.atomic():
        for qbo_invoice_id, link in links.items():
            amount = applied[qbo_invoice_id]
            row_, created = QboPaymentOnInvoice.objects.get_or_create(
                invoice=link.invoice,
                qbo_payment_id=payment.id,
                defaults={
                    "firm_id": firm_id,
                    "qbo_invoice_id": qbo_invoice_id,
                    "amount": amount,
                    "payment_total": payment.total,
                    "paid_on": payment.txn_date,
                    "reference": payment.reference[:100],
                },
            )
            changed = created or row_.amount != amount or row_.removed_at is not None
            if not created and changed:
                QboPaymentOnInvoice.objects.filter(pk=row_.pk).update(
                    amount=amount,
                    payment_total=payment.total,
                    paid_on=payment.txn_date,
                    removed_at=None,
                    updated_at=timezone.now(),
                )
            if changed:
                record_event(
                    link=link,
                    kind="paid_in_qbo",
                    trigger="qbo",
                    message=explanations.PAID_IN_QBO.format(
                        amount=money_text(amount, link.firm.currency),
                        date=payment.txn_date.isoformat() if payment.txn_date else "an unknown date",
                        payment_id=payment.id,
                    ),
                    received={"Id": payment.id, "Amount": str(amount), "TxnDate": str(payment.txn_date)},
                )
                recorded.append(link.invoice_id)
        # Applications taken off one of our invoices in QBO.
        _payment_removed(known.exclude(qbo_invoice_id__in=list(links)))
    if not links:
        return "ignored: payment applies to no synced invoice"
    return (
        f"payment {payment.id} in QBO recorded on invoices {sorted(recorded)}"
        if recorded
        else ("ignored: payment unchanged")
    )


def _payment_removed(known) -> str:
    removed = 0
    for row in known.filter(removed_at__isnull=True).select_related("invoice"):
        with transaction.atomic():
            if not QboPaymentOnInvoice.objects.filter(pk=row.pk, removed_at__isnull=True).update(
                removed_at=timezone.now()
            ):
                continue
            link = InvoiceSyncLink.objects.filter(invoice=row.invoice).first()
            if link is not None:
                record_event(
                    link=link,
                    kind="payment_removed_in_qbo",
                    trigger="qbo",
                    message=explanations.PAYMENT_REMOVED_IN_QBO.format(
                        amount=money_text(row.amount, link.firm.currency), payment_id=row.qbo_payment_id
                    ),
                )
            removed += 1
    return f"{removed} QBO payment(s) removed" if removed else "ignored: payment not recorded here"

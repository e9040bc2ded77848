"""What an owner or admin decides about an invoice that was deleted or voided directly in QuickBooks
Online while it is active here: push it again, or accept the change and stop syncing it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from invoices.models import Invoice
from qbsync.firms.models import User
from qbsync.sync.engine.errors import SyncRequestError
from qbsync.sync.engine.history import record_event
from qbsync.sync.engine.transitions import transition
from qbsync.sync.kinds.invoices import invoice_sync_again
from qbsync.sync.models import InvoiceSyncLink
from qbsync.sync.states import SyncAction, SyncState

from .. import causes, explanations
from ..models import InvoiceChangeInQbo

NOTHING_TO_DECIDE = "There is no change made in QuickBooks Online waiting for a decision on this invoice."


def _open_change(invoice: Invoice) -> InvoiceChangeInQbo:
    change = InvoiceChangeInQbo.objects.filter(
        invoice=invoice, resolution=InvoiceChangeInQbo.Resolution.OPEN
    ).first()
    link = InvoiceSyncLink.objects.filter(invoice=invoice).first()
    if change is None or link is None or link.error_cause != causes.CHANGED_IN_QBO:
        raise SyncRequestError(NOTHING_TO_DECIDE)
    return change


def _who(actor: User) -> str:
    return actor.get_full_name() or actor.username


def invoice_change_repush(*, invoice: Invoice, actor: User) -> InvoiceSyncLink | None:
    """Make QBO match ours: the invoice is created there again (a voided one stays there as a record;
    its marker was retired when the void was noticed, so the push does not find it)."""
    with transaction.atomic():
        change = _open_change(invoice)
        link = invoice_sync_again(invoice=invoice, actor=actor)
        InvoiceChangeInQbo.objects.filter(pk=change.pk).update(
            resolution=InvoiceChangeInQbo.Resolution.REPUSHED, resolved_by=actor, resolved_at=timezone.now()
        )
        if link is not None:
            record_event(
                link=link,
                kind="change_repushed",
                actor=actor,
                trigger="user",
                message=f"{_who(actor)} chose to push the invoice to QuickBooks Online again after it was "
                f"{change.kind} there (QuickBooks Id {change.qbo_invoice_id}).",
            )
    return link


def invoice_change_accept(*, invoice: Invoice, actor: User) -> InvoiceSyncLink:
    """Accept what was done in QBO: this invoice stops syncing (nothing changes here or there)."""
    with transaction.atomic():
        change = _open_change(invoice)
        link = InvoiceSyncLink.objects.select_for_update().get(invoice=invoice)
        reason = explanations.INVOICE_CHANGE_ACCEPTED.format(what=change.kind, who=_who(actor))
        if link.state != SyncState.FAILED or not transition(
            link, SyncAction.SKIP, skip_reason=reason[:200], waiting_reason="", next_attempt_at=None
        ):
            raise SyncRequestError(
                "This invoice is being synced again; its QuickBooks status shows the result."
            )
        InvoiceChangeInQbo.objects.filter(pk=change.pk).update(
            resolution=InvoiceChangeInQbo.Resolution.ACCEPTED, resolved_by=actor, resolved_at=timezone.now()
        )
        record_event(
            link=link,
            kind="change_accepted",
            actor=actor,
            trigger="user",
            message=f"{_who(actor)} accepted that the invoice was {change.kind} in QuickBooks Online; "
            "it is no longer synced.",
        )
    return link

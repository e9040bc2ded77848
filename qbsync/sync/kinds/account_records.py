"""What an account's invoices and payments do when the account links, is unsynced, or its payment deletes
reach QBO: they stop and forget their QBO links, ask to sync for the first time, or are released from
waiting. Invoices and payments each know only themselves; what concerns both lives here."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from invoices.models import Invoice, Payment

from ..engine.enqueue import ACCOUNT_RECORDS_MOVE, enqueue, enqueue_invoice_push, wake_batch_pusher
from ..engine.history import record_events
from ..engine.transitions import transition, transition_all
from ..models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from ..states import SyncAction, SyncState
from . import transactions as pipeline
from .invoices import INVOICE
from .payments import PAYMENT, payment_sync_on_change
from .transactions import (
    ACCOUNT_UNSYNCED,
    WAITING_FOR_ACCOUNT,
    WAITING_FOR_DELETES,
    hold_account,
    payment_deletes_pending,
)

# The line each of the account's invoices and payments gets in its own history when the account's sync is
# turned off (the account's page shows the account's own line instead of one per record).
ACCOUNT_UNSYNCED_EVENT = "account_unsynced"
UNSYNCED_WITH_ACCOUNT = (
    "{who} unsynced its account, so this {noun} is no longer synced; nothing was deleted in QuickBooks "
    "Online. It syncs again when the account does."
)
SKIPPED_WITH_ACCOUNT = (
    "{who} turned off sync for its account, so this {noun} is not synced. It syncs when the account does."
)
LOST_WITH_ACCOUNT = (
    "Its account's customer was deleted, made inactive or merged away in QuickBooks Online, so this {noun} "
    "is not synced. It syncs again when the account does, and its copy in QuickBooks follows the account's "
    "customer."
)


def invoices_unsync_for_account(
    *, account_id: int, actor=None, was_synced: bool = True, lost_in_qbo: bool = False
) -> int:
    """The account was unsynced (or skipped): its invoices and payments stop syncing and forget their QBO
    links (nothing is deleted in QBO; syncing the account again finds them there by their marker), and
    each one's history says so. Returns how many invoices."""
    forget = {"qbo_sync_token": "", "pushed_version": 0, "waiting_reason": "", "next_attempt_at": None}
    now = timezone.now()
    payments = PaymentSyncLink.objects.filter(payment__account_id=account_id)
    invoices = InvoiceSyncLink.objects.filter(invoice__account_id=account_id)
    transition_all(
        payments, SyncAction.SKIP, now=now, skip_reason=ACCOUNT_UNSYNCED, qbo_payment_id="", **forget
    )
    moved = transition_all(
        invoices, SyncAction.SKIP, now=now, skip_reason=ACCOUNT_UNSYNCED, qbo_invoice_id="", **forget
    )
    who = (actor.get_full_name() or actor.username) if actor is not None else "Someone"
    said = LOST_WITH_ACCOUNT if lost_in_qbo else UNSYNCED_WITH_ACCOUNT if was_synced else SKIPPED_WITH_ACCOUNT
    for links, noun in ((invoices, "invoice"), (payments, "payment")):
        record_events(
            links=links.filter(state=SyncState.SKIPPED, state_changed_at=now).select_related(noun),
            kind=ACCOUNT_UNSYNCED_EVENT,
            message=said.format(who=who, noun=noun),
            actor=actor,
            trigger="qbo" if lost_in_qbo else "user",
        )
    return moved


def account_records_on_link(*, link: AccountSyncLink) -> None:
    """The account just linked (called in the linking transaction): what waited for it goes, what its
    unsync stopped resumes, its history that never asked asks now, and copies under another customer move.
    An account none of whose records has a link yet (a first sync) only asks."""
    has_links = (
        InvoiceSyncLink.objects.filter(invoice__account_id=link.account_id).exists()
        or PaymentSyncLink.objects.filter(payment__account_id=link.account_id).exists()
    )
    if has_links:
        invoices_release_waiting(account_id=link.account_id)
        payments_release_waiting(account_id=link.account_id)
    account_history_request(account_id=link.account_id)
    if has_links:
        records_follow_customer(link=link)


def account_history_request(*, account_id: int) -> int:
    """The account is synced now: its issued invoices and its payments that never asked to sync (made
    before the firm connected, say) ask now, as a first sync that goes out in batches. Returns how many."""
    invoices = Invoice.objects.filter(
        account_id=account_id, status__in=Invoice.PAYABLE_STATUSES, sync_link__isnull=True
    ).order_by("issue_date", "pk")
    payments = Payment.objects.filter(account_id=account_id, sync_link__isnull=True).order_by("date", "pk")
    # Invoices first: the payments' waits are worked out with their invoices already asked.
    return pipeline.first_sync_request(
        account_id=account_id, asking=[(INVOICE, invoices), (PAYMENT, payments)]
    )


def invoices_release_waiting(*, account_id: int) -> int:
    """The account just linked: its invoices that were waiting for it go out (those QBO has never seen in
    batches, as part of the account's first sync), and those its unsync stopped resume one at a time (QBO
    may have them: the single push looks them up by marker first). Its payments its unsync stopped ask
    again, and those that waited for it join the batch."""
    with transaction.atomic():
        hold_account(account_id)
        return _release_waiting_invoices(account_id)


def _release_waiting_invoices(account_id: int) -> int:
    stopped = InvoiceSyncLink.objects.filter(
        invoice__account_id=account_id, state=SyncState.SKIPPED, skip_reason=ACCOUNT_UNSYNCED
    )
    for link in stopped:
        transition(
            link, SyncAction.REQUEST, skip_reason="", in_batch=False, request_epoch=link.request_epoch + 1
        )
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
        wake_batch_pusher(Account.objects.values_list("firm_id", flat=True).get(pk=account_id))
    single = list(
        InvoiceSyncLink.objects.filter(
            invoice__account_id=account_id, state=SyncState.QUEUED, in_batch=False
        ).values_list("pk", flat=True)
    )
    InvoiceSyncLink.objects.filter(pk__in=single).update(waiting_reason="", updated_at=now)
    for pk in single:
        enqueue_invoice_push(pk)
    return first_time + len(single)


def payments_release_waiting(*, account_id: int) -> int:
    """An invoice or the account of these payments just synced: try the ones that were waiting."""
    return pipeline.release_waiting(PAYMENT, account_id=account_id)


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
        if payment_deletes_pending(owner):
            continue
        with transaction.atomic():
            if InvoiceSyncLink.objects.filter(pk=pk, waiting_reason=WAITING_FOR_DELETES).update(
                waiting_reason="", updated_at=timezone.now()
            ):
                enqueue_invoice_push(pk)
                released += 1
    return released


# The account's customer changed ----------------------------------------------------------------------


def records_follow_customer(*, link: AccountSyncLink) -> int:
    """The account was just linked to ``link.qbo_customer_id``: its invoices and payments whose copies in QBO
    are under another customer stop showing Synced and wait while `work/relink.py` moves the copies (a
    record never shows Synced under a customer its account has left). Called in the linking transaction;
    returns how many records move."""
    moving = 0
    for model, record in ((InvoiceSyncLink, "invoice"), (PaymentSyncLink, "payment")):
        links = (
            model.objects.filter(**{f"{record}__account_id": link.account_id})
            .exclude(qbo_customer_id="")
            .exclude(qbo_customer_id=link.qbo_customer_id)
        )
        moving += pipeline.start_moving(
            links.filter(state__in=[SyncState.SYNCED, SyncState.FAILED, SyncState.QUEUED])
        )
        # Unsynced with their account (their copies' Ids forgotten) wait by themselves once asked again:
        # their blocker sees the customer. Records a person skipped are left where they are.
        moving += links.filter(state=SyncState.SKIPPED, skip_reason=ACCOUNT_UNSYNCED).count()
    if moving:
        enqueue(ACCOUNT_RECORDS_MOVE, link.pk)
    return moving

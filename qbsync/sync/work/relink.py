"""An account linked to another QBO customer takes its invoices and payments along: their copies in QBO are
moved to the new customer rather than created a second time, and none of them shows Synced while its copy
is under a customer the account has left.

QBO keeps a payment and the invoices it pays under one customer, and refuses to move a paid invoice. So a
move goes: every payment of ours under the old customer moves unapplied, then every invoice of ours; then
the records are pushed as usual (invoices first, payments waiting for them), which applies the payments
again. Each step reads QBO first, so running it again after a crash repeats nothing that was done.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q

from qbsync.quickbooks import transactions as qbo_txn
from qbsync.quickbooks.errors import QboError, QboReconnectRequiredError, QboTransientError
from qbsync.quickbooks.requestids import request_id_for

from ..engine.causes import FailureCause
from ..engine.client import connection_client
from ..engine.connection import usable_connection
from ..engine.enqueue import ACCOUNT_RECORDS_MOVE, enqueue
from ..engine.errors import SyncFailure
from ..engine.history import record_event
from ..engine.retry import backoff, fail
from ..kinds.invoices import INVOICE
from ..kinds.payments import PAYMENT
from ..kinds.transactions import (
    ACCOUNT_UNSYNCED,
    MOVING_TO_NEW_CUSTOMER,
    TransactionKind,
    hold_account,
    release_waiting,
)
from ..models import AccountSyncLink, TransactionSyncLink
from ..states import SyncState

logger = logging.getLogger(__name__)

MOVE_REFUSED = (
    "This {noun} is in QuickBooks Online under the account's previous customer, and QuickBooks refused to "
    "move it to the account's new customer ({message}). Usually a payment entered in QuickBooks is applied "
    "to it: remove or move that payment in QuickBooks Online, then sync the {noun} again."
)
MOVED = "Moved in QuickBooks Online from customer Id {old} to the account's customer (Id {new})."


def _movers(kind: TransactionKind, account_id: int, customer_id: str) -> list[TransactionSyncLink]:
    """The account's records of ``kind`` whose copies are under another customer and that may be moved:
    not those a person skipped, nor those whose copy is gone from QBO."""
    return list(
        kind.link_model.objects.filter(**{f"{kind.name}__account_id": account_id})
        .exclude(qbo_customer_id="")
        .exclude(qbo_customer_id=customer_id)
        .exclude(state=SyncState.NOT_SYNCED)
        .exclude(Q(state=SyncState.SKIPPED) & ~Q(skip_reason=ACCOUNT_UNSYNCED))
        .select_related(kind.name)
        .order_by("pk")
    )


def account_records_move(*, link_id: int) -> dict[str, int]:
    """Move the copies in QBO of the account's records to the customer the account is linked to now, then
    let them push. Returns counts ("moved", "refused", "released"; "deferred" when QBO asked to wait)."""
    link = AccountSyncLink.objects.filter(pk=link_id, state=SyncState.SYNCED).first()
    if link is None:
        return {"not-linked": 1}  # moved again when it links
    connection = usable_connection(link.firm_id)
    if connection is None:
        return {"not-connected": 1}  # resumed after reconnecting (the sweep)
    client = connection_client(connection)
    target = link.qbo_customer_id
    counts = {"moved": 0, "refused": 0}
    try:
        for kind, move in ((PAYMENT, qbo_txn.move_payment_unapplied), (INVOICE, qbo_txn.move_invoice)):
            movers = _movers(kind, link.account_id, target)
            listed = {}  # the old customer's records of this kind, read once per customer
            for mover in movers:
                old = mover.qbo_customer_id
                if old not in listed:
                    listed[old] = (
                        qbo_txn.payments_of_customer(client, old)
                        if kind is PAYMENT
                        else qbo_txn.invoices_of_customer(client, old)
                    )
                record = kind.record_of(mover)
                marker = kind.marker(record)
                found = [copy for copy in listed[old] if qbo_txn.carries_marker(copy.private_note, marker)]
                token = mover.qbo_sync_token
                try:
                    for copy in found:
                        token = move(
                            client,
                            copy.id,
                            copy.sync_token,
                            target,
                            request_id=request_id_for(
                                f"mv-{kind.request_prefix}", link.firm_id, record.pk, copy.sync_token, target
                            ),
                        ).sync_token
                except (QboTransientError, QboReconnectRequiredError):
                    raise
                except QboError as exc:
                    _refused(kind, mover, exc)
                    counts["refused"] += 1
                    continue
                kind.link_model.objects.filter(pk=mover.pk).update(
                    qbo_customer_id=target, qbo_sync_token=token
                )
                if found:
                    record_event(link=mover, kind="moved", message=MOVED.format(old=old, new=target))
                    counts["moved"] += len(found)
    except QboTransientError as exc:
        logger.info("Moving the records of account %s waits: %s", link.account_id, exc)
        enqueue(ACCOUNT_RECORDS_MOVE, link.pk, countdown=backoff(1, exc.retry_after))
        return {**counts, "deferred": 1}
    except QboReconnectRequiredError:
        return {**counts, "not-connected": 1}  # resumed after reconnecting (the sweep)
    counts["released"] = _release(link)
    return counts


def _refused(kind: TransactionKind, mover: TransactionSyncLink, exc: QboError) -> None:
    failure = SyncFailure(
        FailureCause.MOVE_REFUSED,
        MOVE_REFUSED.format(noun=kind.name, message=exc.message.rstrip(".")),
        code=exc.code,
        message=exc.message,
        tid=exc.intuit_tid,
    )
    if mover.state == SyncState.QUEUED:
        fail(mover, failure)


def _release(link: AccountSyncLink) -> int:
    """The moved records push now: invoices at once, payments once their invoices are synced."""
    released = 0
    with transaction.atomic():
        hold_account(link.account_id)
        waiting = INVOICE.link_model.objects.filter(
            invoice__account_id=link.account_id,
            state=SyncState.QUEUED,
            waiting_reason=MOVING_TO_NEW_CUSTOMER,
        )
        ids = list(waiting.values_list("pk", flat=True))
        waiting.update(waiting_reason="")
        for pk in ids:
            INVOICE.enqueue_push(pk)
        released += len(ids) + release_waiting(PAYMENT, account_id=link.account_id)
    return released

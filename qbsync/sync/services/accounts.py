"""Account sync: every client account linked to exactly one QBO customer, or a clear reason why not.

Services own every transition, as compare-and-set updates on the link row, so two clicks or a click
racing a worker never both win. The intent to sync is committed before a task is enqueued (after
commit), so a lost broker loses nothing: the sweep re-enqueues whatever is left queued or stuck.

No duplicate customer, ever: a create is preceded by a lookup by name, carries a requestid derived from
the request (retries reuse it), and a 6240 "duplicate name" after an unknown outcome is resolved by
looking the name up again and linking what our own earlier attempt created.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from qbsync.firms.models import User
from qbsync.quickbooks import customers as qbo_customers
from qbsync.quickbooks.customers import CustomerDraft, QboCustomer, display_name_problem
from qbsync.quickbooks.errors import (
    QboDuplicateNameError,
    QboError,
    QboNotFoundError,
    QboReconnectRequiredError,
    QboTransientError,
)
from qbsync.quickbooks.requestids import request_id_for

from .. import explanations
from ..models import AccountSyncLink, QuickBooksConnection, SyncEvent
from ..status import TRANSITIONS, SyncAction, SyncState, target_of
from .connections import connection_client

logger = logging.getLogger(__name__)

UNSYNCED_MESSAGE = (
    "Unsynced: the link to the QuickBooks customer was cleared; nothing was deleted in QuickBooks."
)
MAX_ATTEMPTS = 8
BACKOFF_MAX_SECONDS = 300.0
# A worker holding a link longer than this is presumed dead; the sweep puts the link back in the queue.
SYNCING_LEASE = timedelta(minutes=5)
# A queued link nobody picked up for this long is enqueued again (the broker may have lost it).
QUEUED_GRACE = timedelta(seconds=60)

Mode = AccountSyncLink.RequestMode
Method = AccountSyncLink.Method


class SyncRequestError(Exception):
    """A sync action cannot be taken now; the message is for the person who asked."""


@dataclass
class LinkConflict(Exception):
    """Linking cannot go ahead without a person's decision."""

    cause: str
    explanation: str
    proposed_name: str = ""
    code: str = ""
    message: str = ""
    details: dict = field(default_factory=dict)


# Transitions and history ---------------------------------------------------------------------------


def _transition(link, action: str, **fields) -> bool:
    """Compare-and-set: move ``link`` (an account or invoice link) by ``action`` only if it is still in one
    of the action's sources."""
    now = timezone.now()
    sources, target = TRANSITIONS[action]
    updated = (
        type(link)
        .objects.filter(pk=link.pk, state__in=sources)
        .update(state=target, state_changed_at=now, updated_at=now, **fields)
    )
    if updated:
        link.refresh_from_db()
    return bool(updated)


def record_event(
    *,
    link,
    kind: str,
    message: str,
    outcome: str = SyncEvent.Outcome.INFO,
    actor: User | None = None,
    trigger: str = "worker",
    sent: dict | None = None,
    received: dict | None = None,
    intuit_tid: str = "",
) -> SyncEvent:
    # An invoice's or payment's events belong to it and to its account's history.
    invoice = getattr(link, "invoice", None)
    payment = getattr(link, "payment", None)
    owner = invoice or payment
    return SyncEvent.objects.create(
        firm_id=link.firm_id,
        account_id=owner.account_id if owner is not None else link.account_id,
        invoice=invoice,
        payment=payment,
        kind=kind,
        outcome=outcome,
        message=message,
        actor=actor,
        trigger=trigger,
        sent=sent or {},
        received=received or {},
        intuit_tid=intuit_tid,
    )


def _enqueue(link_id: int, countdown: float | None = None) -> None:
    from qbsync.sync.tasks import account_push as account_push_task

    transaction.on_commit(partial(account_push_task.apply_async, (link_id,), countdown=countdown))


def _clear_error() -> dict:
    return {
        "error_code": "",
        "error_message": "",
        "error_explanation": "",
        "error_cause": "",
        "error_proposed_name": "",
        "error_intuit_tid": "",
    }


def account_link_for(account: Account) -> AccountSyncLink:
    link, _ = AccountSyncLink.objects.get_or_create(account=account, defaults={"firm_id": account.firm_id})
    return link


def _connection_for(firm_id: int) -> QuickBooksConnection | None:
    return QuickBooksConnection.objects.filter(firm_id=firm_id).first()


# Requests from people and rules --------------------------------------------------------------------


def account_sync_request(
    *,
    account: Account,
    actor: User | None = None,
    mode: str = Mode.AUTO,
    customer_id: str = "",
    display_name: str = "",
    trigger: str = "user",
) -> AccountSyncLink:
    """Ask for the account to be linked: by name (auto), to a chosen customer (pick), or to a new one.

    Idempotent for a repeated identical request while one is queued (a double click enqueues once).
    Raises SyncRequestError when it cannot be asked now, ValidationError for a bad name or choice.
    """
    connection = _connection_for(account.firm_id)
    if connection is None or connection.status == QuickBooksConnection.Status.DISCONNECTED:
        raise SyncRequestError(explanations.NOT_CONNECTED)
    if mode == Mode.PICK and not customer_id:
        raise ValidationError({"customer_id": "Choose a QuickBooks customer."})
    if mode == Mode.CREATE:
        display_name = " ".join(display_name.split()) if display_name.strip() else ""
        problem = display_name_problem(display_name)
        if problem is not None:
            message = {
                "empty": "Enter a name for the new customer.",
                "characters": "QuickBooks Online does not allow colons, tabs or line breaks. "
                f'Try "{problem.proposed}".',
                "too_long": "QuickBooks Online allows at most 500 characters "
                f"(this has {len(display_name)}).",
            }[problem.reason]
            raise ValidationError({"display_name": message})
    with transaction.atomic():
        link = account_link_for(account)
        link = AccountSyncLink.objects.select_for_update().get(pk=link.pk)
        same_request = (
            link.state == SyncState.QUEUED
            and link.request_mode == mode
            and link.requested_customer_id == customer_id
            and link.requested_display_name == display_name
        )
        if same_request:
            return link
        if link.state == SyncState.SYNCING:
            raise SyncRequestError("This account is being synced right now. Try again in a moment.")
        if target_of(SyncAction.REQUEST, link.state) is None:
            raise SyncRequestError("This account cannot be synced from its current state.")
        _transition(
            link,
            SyncAction.REQUEST,
            request_mode=mode,
            requested_customer_id=customer_id,
            requested_display_name=display_name,
            requested_by=actor,
            request_epoch=link.request_epoch + 1,
            attempts=0,
            next_attempt_at=None,
            **_clear_error(),
        )
        what = {
            Mode.AUTO: "Sync requested: match by name, or create the customer.",
            Mode.PICK: f"Sync requested: link QuickBooks customer {customer_id}.",
            Mode.CREATE: f'Sync requested: create the QuickBooks customer "{display_name}".',
        }[mode]
        record_event(link=link, kind="requested", message=what, actor=actor, trigger=trigger)
        _enqueue(link.pk)
    return link


def account_sync_skip(*, account: Account, actor: User | None) -> AccountSyncLink:
    """ "Do not sync this account" / "Unsync": no more pushes and no more errors for it.

    A linked customer is forgotten here (and remembered as the one to resume with); nothing is deleted in
    QuickBooks.
    """
    with transaction.atomic():
        link = AccountSyncLink.objects.select_for_update().get(pk=account_link_for(account).pk)
        was_synced = link.state == SyncState.SYNCED
        previous = link.qbo_customer_id or link.previous_customer_id
        if not _transition(
            link,
            SyncAction.SKIP,
            qbo_customer_id="",
            qbo_display_name="",
            qbo_current_name="",
            link_method="",
            linked_by=None,
            linked_at=None,
            previous_customer_id=previous,
            next_attempt_at=None,
            **_clear_error(),
        ):
            raise SyncRequestError("Sync is already off for this account.")
        from .invoices import invoices_unsync_for_account

        invoices_unsync_for_account(account_id=account.pk)
        record_event(
            link=link,
            kind="unsynced" if was_synced else "skipped",
            actor=actor,
            trigger="user",
            message=UNSYNCED_MESSAGE if was_synced else "Sync skipped for this account.",
        )
    return link


def account_sync_on_activity(*, account: Account) -> None:
    """An account got its first issued invoice or payment: sync it if the firm's rule says so."""
    connection = _connection_for(account.firm_id)
    if connection is None or connection.status != QuickBooksConnection.Status.CONNECTED:
        return
    link = AccountSyncLink.objects.filter(account=account).first()
    if link is not None and link.state != SyncState.NOT_SYNCED:
        return  # Skipped stays skipped; anything else is already on its way or settled.
    if link is not None and link.request_epoch > 0:
        return  # It was synced once and lost in QBO: a person decides to sync it again.
    account_sync_request(account=account, trigger="auto")


def account_sync_on_create(*, account: Account) -> None:
    connection = _connection_for(account.firm_id)
    if (
        connection is not None
        and connection.status == QuickBooksConnection.Status.CONNECTED
        and (connection.auto_sync_scope == QuickBooksConnection.AutoSyncScope.ALL)
    ):
        account_sync_request(account=account, trigger="auto")


# The worker ----------------------------------------------------------------------------------------


def account_push(*, link_id: int) -> str:
    """Take a queued link and settle it: Synced, Failed with a reason, or back in the queue for later.

    Returns what happened ("synced", "failed", "deferred", or "not-queued" when another worker or a
    person got there first).
    """
    link = AccountSyncLink.objects.select_related("account", "firm").filter(pk=link_id).first()
    if link is None or (
        link.next_attempt_at and link.next_attempt_at > timezone.now() + timedelta(seconds=1)
    ):
        return "not-queued"
    if not _transition(link, SyncAction.START):
        return "not-queued"
    connection = _connection_for(link.firm_id)
    if connection is None or connection.status != QuickBooksConnection.Status.CONNECTED:
        _fail(link, LinkConflict("connection", explanations.CONNECTION))
        return "failed"
    client = connection_client(connection)
    try:
        customer, method, tid = _link_customer(client, link, connection)
    except CustomerLost:
        account_link_mark_lost(link=link, tid=client.last_intuit_tid)
        return "lost"
    except LinkConflict as conflict:
        _fail(link, conflict)
        return "failed"
    except QboReconnectRequiredError as exc:
        _fail(link, LinkConflict("connection", explanations.CONNECTION, code=exc.code, message=exc.message))
        return "failed"
    except QboTransientError as exc:
        return _defer(link, exc)
    except QboError as exc:
        _fail(
            link,
            LinkConflict(
                "refused",
                explanations.refused(message=exc.message, detail=exc.detail),
                code=exc.code,
                message=exc.message,
                details={"intuit_tid": exc.intuit_tid},
            ),
        )
        return "failed"
    return _succeed(link, customer, method, tid)


def _backoff(attempt: int, retry_after: float | None) -> float:
    if retry_after:
        return retry_after
    base = settings.QBSYNC_RETRY_BACKOFF_SECONDS
    return min(BACKOFF_MAX_SECONDS, base * 2**attempt) * random.uniform(0.5, 1.0)


def counts_as_attempt(exc: QboTransientError) -> bool:
    """QBO's limits (a 429, or our governor holding a request back) say "later", not "failed": waiting
    them out never uses up a record's attempts, however long a throttling storm lasts."""
    from qbsync.quickbooks.errors import QboRateLimitError
    from qbsync.quickbooks.governor import RealmThrottled

    return not isinstance(exc, QboRateLimitError | RealmThrottled)


def retry_message(exc: QboTransientError, delay: float) -> str:
    if counts_as_attempt(exc):
        return f"QuickBooks Online was not reachable ({exc.message}); next try in {delay:.0f} s."
    return f"QuickBooks Online asked us to slow down ({exc.message}); next try in {delay:.0f} s."


def _defer(link: AccountSyncLink, exc: QboTransientError) -> str:
    attempts = link.attempts + (1 if counts_as_attempt(exc) else 0)
    if attempts >= MAX_ATTEMPTS:
        _fail(
            link,
            LinkConflict(
                "unavailable",
                explanations.GAVE_UP.format(attempts=attempts, error=exc.message),
                code=exc.code,
                message=exc.message,
                details={"intuit_tid": exc.intuit_tid},
            ),
        )
        return "failed"
    delay = _backoff(attempts, exc.retry_after)
    with transaction.atomic():
        if _transition(
            link,
            SyncAction.DEFER,
            attempts=attempts,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        ):
            record_event(
                link=link,
                kind="retry_scheduled",
                outcome=SyncEvent.Outcome.FAILURE,
                intuit_tid=exc.intuit_tid,
                message=retry_message(exc, delay),
                received={"code": exc.code, "status": exc.status},
            )
            _enqueue(link.pk, countdown=delay)
    return "deferred"


def _fail(link: AccountSyncLink, conflict: LinkConflict) -> None:
    with transaction.atomic():
        if _transition(
            link,
            SyncAction.FAIL,
            error_code=conflict.code or conflict.cause,
            error_message=conflict.message,
            error_explanation=conflict.explanation,
            error_cause=conflict.cause,
            error_proposed_name=conflict.proposed_name,
            error_intuit_tid=conflict.details.get("intuit_tid", ""),
            next_attempt_at=None,
        ):
            record_event(
                link=link,
                kind="failed",
                outcome=SyncEvent.Outcome.FAILURE,
                message=conflict.explanation,
                received={"code": conflict.code, "message": conflict.message} if conflict.code else {},
                intuit_tid=conflict.details.get("intuit_tid", ""),
            )


def _succeed(link: AccountSyncLink, customer: QboCustomer, method: str, tid: str) -> str:
    now = timezone.now()
    try:
        with transaction.atomic():
            # Re-checking an existing link keeps who linked it, when, and under which name.
            same_link = bool(link.qbo_customer_id == customer.id and link.linked_at)
            done = _transition(
                link,
                SyncAction.SUCCEED,
                qbo_customer_id=customer.id,
                qbo_display_name=link.qbo_display_name if same_link else customer.display_name,
                qbo_current_name=customer.display_name,
                link_method=method,
                linked_by=link.linked_by if same_link else link.requested_by,
                linked_at=link.linked_at if same_link else now,
                previous_customer_id="",
                attempts=0,
                next_attempt_at=None,
                **_clear_error(),
            )
            if done:
                from .invoices import account_history_request, invoices_release_waiting
                from .payments import payments_release_waiting

                invoices_release_waiting(account_id=link.account_id)
                payments_release_waiting(account_id=link.account_id)
                account_history_request(account_id=link.account_id)
                verb = {Method.MATCHED: "Matched", Method.PICKED: "Linked", Method.CREATED: "Created"}[method]
                record_event(
                    link=link,
                    kind=method,
                    outcome=SyncEvent.Outcome.SUCCESS,
                    intuit_tid=tid,
                    message=f'{verb} QuickBooks customer "{customer.display_name}" (Id {customer.id}).',
                    received={"Id": customer.id, "DisplayName": customer.display_name},
                )
    except Exception as exc:
        if "account_link_one_account_per_customer" not in str(exc):
            raise
        _fail(
            link,
            LinkConflict(
                "linked_elsewhere",
                explanations.name_linked_elsewhere(
                    name=customer.display_name,
                    other=_account_linked_to(link, customer.id) or "another account",
                ),
            ),
        )
        return "failed"
    if not done:
        # Skipped (or re-requested) while QBO was answering: the link is not kept.
        record_event(
            link=link,
            kind="superseded",
            message=f'QuickBooks customer "{customer.display_name}" was found, but sync changed meanwhile.',
        )
        return "not-queued"
    return "synced"


def _account_linked_to(link: AccountSyncLink, customer_id: str) -> str | None:
    other = (
        AccountSyncLink.objects.filter(firm_id=link.firm_id, qbo_customer_id=customer_id)
        .exclude(pk=link.pk)
        .select_related("account")
        .first()
    )
    return other.account.name if other else None


def _draft_for(link: AccountSyncLink, name: str, connection: QuickBooksConnection) -> CustomerDraft:
    account = link.account
    return CustomerDraft(
        display_name=name,
        email=account.email,
        phone=account.phone,
        company_name=name if account.kind == Account.Kind.COMPANY else "",
        customer_type_id=connection.default_customer_type_id,
    )


def _link_customer(client, link: AccountSyncLink, connection) -> tuple[QboCustomer, str, str]:
    """Find or create the customer for ``link`` as its request asks. Raises LinkConflict when a person
    must decide."""
    if link.request_mode == Mode.PICK:
        return _pick(client, link), Method.PICKED, client.last_intuit_tid
    if link.request_mode == Mode.CREATE:
        return _create(client, link, link.requested_display_name, connection)
    if link.qbo_customer_id:
        return _recheck(client, link), link.link_method or Method.MATCHED, client.last_intuit_tid
    if link.previous_customer_id:
        resumed = _resume(client, link)
        if resumed is not None:
            return resumed, Method.MATCHED, client.last_intuit_tid
    name = link.account.name
    problem = display_name_problem(name)
    if problem is not None and problem.reason == "characters":
        raise LinkConflict(
            "bad_characters",
            explanations.bad_characters(proposed=problem.proposed),
            proposed_name=problem.proposed,
        )
    if problem is not None and problem.reason == "too_long":
        raise LinkConflict(
            "too_long",
            explanations.too_long(length=len(name), proposed=problem.proposed),
            proposed_name=problem.proposed,
        )
    found = _match(link, qbo_customers.find_customers_named(client, name))
    if found is not None:
        return found, Method.MATCHED, client.last_intuit_tid
    return _create(client, link, name, connection)


def _match(link: AccountSyncLink, candidates: list[QboCustomer]) -> QboCustomer | None:
    """The one active, unlinked customer of that name; None when there is none (inactive namesakes don't
    count: their bare name is free); LinkConflict when it is ambiguous or taken."""
    active = [c for c in candidates if c.active]
    if not active:
        return None
    taken = {c.id: _account_linked_to(link, c.id) for c in active}
    free = [c for c in active if taken[c.id] is None]
    if len(active) == 1 and free:
        return free[0]
    if len(free) > 1 or (free and len(active) > 1):
        raise LinkConflict(
            "several_matches",
            explanations.several_customers(name=link.account.name, names=[c.display_name for c in active]),
        )
    holder = active[0]
    raise LinkConflict(
        "linked_elsewhere",
        explanations.name_linked_elsewhere(name=holder.display_name, other=taken[holder.id]),
    )


class CustomerLost(Exception):
    """The linked customer is inactive or gone in QBO."""


def _recheck(client, link: AccountSyncLink) -> QboCustomer:
    """Syncing an already linked account again checks its customer is still there and active."""
    try:
        customer = qbo_customers.read_customer(client, link.qbo_customer_id)
    except QboNotFoundError as exc:
        raise CustomerLost from exc
    if not customer.active:
        raise CustomerLost
    return customer


def _resume(client, link: AccountSyncLink) -> QboCustomer | None:
    try:
        customer = qbo_customers.read_customer(client, link.previous_customer_id)
    except QboNotFoundError:
        return None
    if not customer.active or _account_linked_to(link, customer.id):
        return None
    return customer


def _pick(client, link: AccountSyncLink) -> QboCustomer:
    try:
        customer = qbo_customers.read_customer(client, link.requested_customer_id)
    except QboNotFoundError as exc:
        raise LinkConflict(
            "picked_missing", explanations.PICKED_MISSING, code=exc.code, message=exc.message
        ) from exc
    if not customer.active:
        raise LinkConflict("picked_inactive", explanations.PICKED_INACTIVE.format(name=customer.display_name))
    other = _account_linked_to(link, customer.id)
    if other:
        raise LinkConflict(
            "linked_elsewhere", explanations.name_linked_elsewhere(name=customer.display_name, other=other)
        )
    return customer


def _create(client, link: AccountSyncLink, name: str, connection) -> tuple[QboCustomer, str, str]:
    """Create the customer, unless one of that name exists. Safe to repeat after an unknown outcome."""
    # In auto mode the caller has just looked the name up; a person's "create" has not.
    existing = (
        [c for c in qbo_customers.find_customers_named(client, name) if c.active]
        if link.request_mode == Mode.CREATE
        else []
    )
    if existing:
        # A person asked for a new customer; one by that name exists. Ours from an earlier attempt?
        mine = _created_by_us_before(link, existing)
        if mine is None:
            raise LinkConflict(
                "create_would_duplicate", explanations.CREATE_WOULD_DUPLICATE.format(name=name)
            )
        return mine, Method.CREATED, client.last_intuit_tid
    request_id = request_id_for("cust", link.firm_id, link.pk, link.request_epoch)
    draft = _draft_for(link, name, connection)
    # Committed before sending: after a lost reply, this is how a retry knows the customer is ours.
    record_event(
        link=link,
        kind="create_sent",
        message=f'Creating QuickBooks customer "{name}".',
        sent={"request_id": request_id, "DisplayName": name, "CustomerTypeRef": draft.customer_type_id},
    )
    try:
        created = qbo_customers.create_customer(client, draft, request_id=request_id)
    except QboDuplicateNameError as exc:
        # Either QBO's name lookup differs from ours (case, spacing), or a vendor or employee has the
        # name, or an earlier attempt of ours created it and QBO did not replay the requestid.
        resolved = _resolve_duplicate(client, link, name)
        if resolved is not None:
            return (
                resolved,
                Method.MATCHED if link.request_mode == Mode.AUTO else Method.CREATED,
                client.last_intuit_tid,
            )
        holders = qbo_customers.find_name_holders(client, name)
        if holders:
            raise LinkConflict(
                "name_used_by_other",
                explanations.name_used_by_other(name=name, entity=holders[0].entity),
                code=exc.code,
                message=exc.message,
                details={"intuit_tid": exc.intuit_tid},
            ) from exc
        raise LinkConflict(
            "duplicate_name",
            explanations.refused(message=exc.message, detail=exc.detail),
            code=exc.code,
            message=exc.message,
            details={"intuit_tid": exc.intuit_tid},
        ) from exc
    return created, Method.CREATED, client.last_intuit_tid


def _created_by_us_before(link: AccountSyncLink, existing: list[QboCustomer]) -> QboCustomer | None:
    # An earlier attempt of this same request that reached QBO but not our database leaves an unlinked
    # customer with the requested name; the request's history shows it was this request's create.
    free = [c for c in existing if _account_linked_to(link, c.id) is None]
    attempted = (
        SyncEvent.objects.filter(account_id=link.account_id, kind="create_sent")
        .filter(sent__request_id=request_id_for("cust", link.firm_id, link.pk, link.request_epoch))
        .exists()
    )
    return free[0] if attempted and len(free) == 1 else None


def _resolve_duplicate(client, link: AccountSyncLink, name: str) -> QboCustomer | None:
    candidates = qbo_customers.scan_customers_named(client, name)
    try:
        return _match(link, candidates)
    except LinkConflict:
        return None


# The sweep -----------------------------------------------------------------------------------------


def account_sync_sweep(*, now=None, limit: int = 500) -> dict[str, int]:
    """Put back what workers dropped: links stuck in Syncing past the lease, and queued links nobody took
    (accounts and invoices alike)."""
    from qbsync.sync.models import InvoiceSyncLink

    from .invoices import _enqueue as enqueue_invoice

    now = now or timezone.now()
    counts = {"requeued_stuck": 0, "reenqueued": 0}
    from qbsync.sync.models import PaymentSyncLink

    from .payments import _enqueue as enqueue_payment

    links = (
        (AccountSyncLink, _enqueue),
        (InvoiceSyncLink, enqueue_invoice),
        (PaymentSyncLink, enqueue_payment),
    )
    for model, enqueue in links:
        stuck = list(
            model.objects.filter(
                state=SyncState.SYNCING, state_changed_at__lt=now - SYNCING_LEASE
            ).values_list("pk", flat=True)[:limit]
        )
        for pk in stuck:
            link = model.objects.get(pk=pk)
            # A record stuck mid-push may have reached QBO: the single push looks it up before creating.
            single = {} if model is AccountSyncLink else {"in_batch": False}
            with transaction.atomic():
                if _transition(link, SyncAction.DEFER, next_attempt_at=None, **single):
                    record_event(
                        link=link,
                        kind="requeued",
                        trigger="sweep",
                        message="The worker handling this sync stopped; it was put back in the queue.",
                    )
                    enqueue(link.pk)
        waiting = model.objects.filter(
            state=SyncState.QUEUED, state_changed_at__lt=now - QUEUED_GRACE
        ).exclude(next_attempt_at__gt=now)
        if model is not AccountSyncLink:
            # Invoices and payments waiting for what they depend on are released when it syncs, not polled;
            # first-sync records belong to the batch pushers (resumed below).
            waiting = waiting.filter(waiting_reason="", in_batch=False)
        waiting_ids = list(waiting.values_list("pk", flat=True)[:limit])
        for pk in waiting_ids:
            with transaction.atomic():
                enqueue(pk)
        counts["requeued_stuck"] += len(stuck)
        counts["reenqueued"] += len(waiting_ids)
    counts["waiters_released"] = _release_lost_waiters(now=now, limit=limit)
    counts["bulk_resumed"] = _resume_stalled_bulk_runs(now=now)
    from .transaction_batches import batch_push_resume

    counts["batch_pushers_started"] = batch_push_resume(now=now)
    counts["outbox_reenqueued"] = _reenqueue_outbox(now=now, limit=limit)
    return counts


def _release_lost_waiters(*, now, limit: int) -> int:
    """Records still waiting for what has already synced (a change committed while the release ran, so
    the release did not see it) are released here rather than waiting for nothing."""
    from qbsync.sync.models import InvoiceSyncLink, PaymentSyncLink

    from .invoices import WAITING_FOR_ACCOUNT, invoices_release_waiting
    from .payments import payments_release_waiting

    stale = now - QUEUED_GRACE
    for_account = set(
        InvoiceSyncLink.objects.filter(
            state=SyncState.QUEUED,
            waiting_reason=WAITING_FOR_ACCOUNT,
            state_changed_at__lt=stale,
            invoice__account__sync_link__state=SyncState.SYNCED,
        ).values_list("invoice__account_id", flat=True)[:limit]
    )
    for_invoices = set(
        PaymentSyncLink.objects.filter(state=SyncState.QUEUED, state_changed_at__lt=stale)
        .exclude(waiting_reason="")
        .values_list("payment__account_id", flat=True)[:limit]
    )
    released = 0
    for account_id in for_account:
        with transaction.atomic():
            released += invoices_release_waiting(account_id=account_id)
    for account_id in for_invoices | for_account:
        with transaction.atomic():
            released += payments_release_waiting(account_id=account_id)
    from .invoices import invoices_release_after_deletes

    return released + invoices_release_after_deletes(before=stale, limit=limit)


def _reenqueue_outbox(*, now, limit: int) -> int:
    from django.db.models import Q

    from qbsync.sync.models import SyncOutbox

    from .invoices import _enqueue_outbox

    due = list(
        SyncOutbox.objects.filter(state=SyncOutbox.State.PENDING)
        .filter(
            Q(next_attempt_at__lt=now) | Q(next_attempt_at__isnull=True, created_at__lt=now - QUEUED_GRACE)
        )
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        with transaction.atomic():
            _enqueue_outbox(pk)
    return len(due)


def _resume_stalled_bulk_runs(*, now) -> int:
    from qbsync.sync.models import BulkSyncPlan
    from qbsync.sync.services.bulk import BULK_HOLD
    from qbsync.sync.tasks import bulk_sync_run as run_task

    stalled = list(
        BulkSyncPlan.objects.filter(
            state=BulkSyncPlan.State.RUNNING, updated_at__lt=now - BULK_HOLD
        ).values_list("pk", flat=True)
    )
    for pk in stalled:
        BulkSyncPlan.objects.filter(pk=pk).update(updated_at=now)
        transaction.on_commit(partial(run_task.delay, pk))
    return len(stalled)


def account_link_mark_lost(*, link: AccountSyncLink, trigger: str = "worker", tid: str = "") -> bool:
    """The linked customer is inactive or gone in QBO: the account becomes Not synced, and says why."""
    with transaction.atomic():
        customer_id = link.qbo_customer_id
        if not _transition(
            link,
            SyncAction.LOST,
            qbo_customer_id="",
            link_method="",
            linked_at=None,
            previous_customer_id="",
            **_clear_error(),
        ):
            return False
        record_event(
            link=link,
            kind="deleted_in_qbo",
            outcome=SyncEvent.Outcome.FAILURE,
            trigger=trigger,
            intuit_tid=tid,
            message=f"{explanations.DELETED_IN_QBO} (customer Id {customer_id}). "
            "Sync it again to create a new customer.",
        )
    return True


def account_sync_auto_safely(*, account: Account, event: str) -> None:
    """The auto-sync rule, called from practice-data services: it never blocks saving an invoice or
    payment; what it cannot do now the sweep or a person does later."""
    try:
        if event == "created":
            account_sync_on_create(account=account)
        else:
            account_sync_on_activity(account=account)
    except (SyncRequestError, ValidationError) as exc:
        logger.info("Auto-sync of account %s not requested: %s", account.pk, exc)

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
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from qbsync.firms.models import User
from qbsync.quickbooks import customers as qbo_customers
from qbsync.quickbooks.customers import (
    DISPLAY_NAME_MAX_LENGTH,
    CustomerDraft,
    QboCustomer,
    display_name_problem,
)
from qbsync.quickbooks.errors import (
    QboDuplicateNameError,
    QboError,
    QboNotFoundError,
    QboReconnectRequiredError,
    QboTransientError,
)
from qbsync.quickbooks.requestids import request_id_for

from ..engine import explanations
from ..engine.causes import FailureCause
from ..engine.client import connection_client
from ..engine.company import kept_foreign_currency
from ..engine.connection import firm_connection, has_company, is_usable
from ..engine.enqueue import enqueue_account_push
from ..engine.errors import SyncFailure, SyncRequestError
from ..engine.history import record_event
from ..engine.retry import defer, fail
from ..engine.transitions import error_fields_cleared, transition
from ..models import AccountSyncLink, QuickBooksConnection, SyncEvent
from ..states import SyncAction, SyncState, target_of
from .account_records import account_records_on_link, invoices_unsync_for_account

logger = logging.getLogger(__name__)

UNSYNCED_MESSAGE = (
    "Unsynced: the link to the QuickBooks customer was cleared; nothing was deleted in QuickBooks."
)

Mode = AccountSyncLink.RequestMode
Method = AccountSyncLink.Method

# How the worker came by the customer, in the account's history. A customer QBO already had is never said
# to be created: one an earlier attempt of ours created (its reply lost) is "found", a linked one checked
# again is "still linked".
LINKED_MESSAGES = {
    Method.CREATED: 'Created QuickBooks customer "{name}" and linked the account to it.',
    Method.MATCHED: 'Matched QuickBooks customer "{name}" by name and linked the account to it.',
    Method.PICKED: 'Linked the account to the chosen QuickBooks customer "{name}".',
    "found": 'Found QuickBooks customer "{name}" already in QuickBooks Online (created by an earlier '
    "attempt, or named slightly differently there) and linked the account to it; nothing was created twice.",
    "rechecked": 'Still linked to QuickBooks customer "{name}", which is active there.',
    "resumed": 'Linked the account again to QuickBooks customer "{name}", the one it was linked to before.',
}


def account_link_for(account: Account) -> AccountSyncLink:
    link, _ = AccountSyncLink.objects.get_or_create(account=account, defaults={"firm_id": account.firm_id})
    return link


# Requests from people and rules --------------------------------------------------------------------


def account_sync_request(
    *,
    account: Account,
    actor: User | None = None,
    mode: str = Mode.AUTO,
    customer_id: str = "",
    display_name: str = "",
    trigger: str = "user",
    check_name_in_qbo: bool = False,
) -> AccountSyncLink:
    """Ask for the account to be linked: by name (auto), to a chosen customer (pick), or to a new one.

    Idempotent for a repeated identical request while one is queued (a double click enqueues once).
    Raises SyncRequestError when it cannot be asked now, ValidationError for a bad name or choice. With
    ``check_name_in_qbo`` (a person's "create"), a name an active QBO customer, vendor or employee already
    has is refused here, before anything is queued, when QBO can be read now.
    """
    connection = firm_connection(account.firm_id)
    if not has_company(connection):
        raise SyncRequestError(explanations.NOT_CONNECTED)
    if mode == Mode.PICK and not customer_id:
        raise ValidationError({"customer_id": "Choose a QuickBooks customer."})
    if mode == Mode.CREATE:
        display_name = _create_name_checked(display_name)
        asked = AccountSyncLink.objects.filter(account=account).first()
        # A repeated click on a queued create is not checked again (its customer may exist by now).
        if check_name_in_qbo and not _same_request(asked, mode, customer_id, display_name):
            _create_name_free_in_qbo(connection, display_name)
    with transaction.atomic():
        link = account_link_for(account)
        link = AccountSyncLink.objects.select_for_update().get(pk=link.pk)
        if _same_request(link, mode, customer_id, display_name):
            return link
        if link.state == SyncState.SYNCING:
            raise SyncRequestError("This account is being synced right now. Try again in a moment.")
        if target_of(SyncAction.REQUEST, link.state) is None:
            raise SyncRequestError("This account cannot be synced from its current state.")
        transition(
            link,
            SyncAction.REQUEST,
            request_mode=mode,
            requested_customer_id=customer_id,
            requested_display_name=display_name,
            requested_by=actor,
            request_epoch=link.request_epoch + 1,
            attempts=0,
            next_attempt_at=None,
            **error_fields_cleared(AccountSyncLink),
        )
        what = {
            Mode.AUTO: "Sync requested: match by name, or create the customer.",
            # The customer is named in the history once it is linked (QBO's Id stays in the link's data).
            Mode.PICK: "Sync requested: link the QuickBooks customer chosen from the list.",
            Mode.CREATE: f'Sync requested: create the QuickBooks customer "{display_name}".',
        }[mode]
        record_event(link=link, kind="requested", message=what, actor=actor, trigger=trigger)
        enqueue_account_push(link.pk)
    return link


def _same_request(link: AccountSyncLink | None, mode: str, customer_id: str, display_name: str) -> bool:
    return (
        link is not None
        and link.state == SyncState.QUEUED
        and link.request_mode == mode
        and link.requested_customer_id == customer_id
        and link.requested_display_name == display_name
    )


CREATE_NAME_PROBLEMS = {
    "empty": "Enter a name for the new customer.",
    "characters": 'QuickBooks Online does not allow colons, tabs or line breaks. Try "{proposed}".',
    "too_long": "QuickBooks Online allows at most {limit} characters (this has {length}).",
}
CREATE_NAME_TAKEN = {
    "Customer": 'QuickBooks Online already has a customer named "{name}". Link it (under "Link an '
    'existing customer") instead of creating a second one, or choose another name.',
    "Vendor": 'QuickBooks Online already uses the name "{name}" for a vendor, and a customer cannot share '
    'it. Choose another name (for example "{proposed}").',
    "Employee": 'QuickBooks Online already uses the name "{name}" for an employee, and a customer cannot '
    'share it. Choose another name (for example "{proposed}").',
}


def _create_name_checked(raw: str) -> str:
    """The name a person typed for a new customer, as it will be sent; ValidationError when QBO would
    refuse it. Tabs and line breaks are refused as typed, not silently made spaces."""
    raw_problem = display_name_problem(raw)
    name = " ".join(raw.split())
    problem = (
        raw_problem if raw_problem is not None and raw_problem.reason == "characters" else None
    ) or display_name_problem(name)
    if problem is not None:
        message = CREATE_NAME_PROBLEMS[problem.reason].format(
            proposed=problem.proposed, limit=DISPLAY_NAME_MAX_LENGTH, length=len(name)
        )
        raise ValidationError({"display_name": message})
    return name


def _create_name_free_in_qbo(connection: QuickBooksConnection, name: str) -> None:
    """ValidationError when an active QBO customer, vendor or employee has ``name`` (QBO would refuse the
    create with 6240). When QBO cannot be read now the request goes ahead: the worker checks again."""
    if not is_usable(connection):
        return
    try:
        client = connection_client(connection)
        customers = qbo_customers.find_customers_named(client, name)
        taken = [("Customer", c.display_name) for c in customers if c.active]
        if not taken:
            taken = [
                (h.entity, h.display_name) for h in qbo_customers.find_name_holders(client, name) if h.active
            ]
    except QboError as exc:
        logger.info("Could not check the name %r in QBO before the request: %s", name, exc)
        return
    if taken:
        entity, shown = taken[0]
        message = CREATE_NAME_TAKEN[entity].format(
            name=shown, proposed=qbo_customers.alternative_customer_name(name)
        )
        raise ValidationError({"display_name": message})


def account_create_name_proposal(account: Account) -> str:
    """The name the Sync page proposes for a new customer: the one the last failure proposed (a name
    without the characters QBO refuses, or "Staples (client)" when a vendor or employee holds the name;
    also for failures stored before they carried a proposal), else the account's name."""
    link = getattr(account, "sync_link", None)
    if link is None:
        return account.name
    if link.error_proposed_name:
        return link.error_proposed_name
    if link.state == SyncState.FAILED and link.error_cause == FailureCause.NAME_USED_BY_OTHER:
        tried = link.requested_display_name if link.request_mode == Mode.CREATE else account.name
        return qbo_customers.alternative_customer_name(tried or account.name)
    return account.name


def account_sync_suggestion(link: AccountSyncLink | None) -> str:
    """The way of syncing the Sync page puts first, from the last failure: a name QBO refuses asks for a
    new customer under another name, an ambiguous or taken customer asks for a pick, else sync by name."""
    cause = link.error_cause if link is not None and link.state == SyncState.FAILED else ""
    if cause in CAUSES_NEEDING_ANOTHER_NAME:
        return Mode.CREATE
    if cause in CAUSES_NEEDING_A_PICK:
        return Mode.PICK
    return Mode.AUTO


CAUSES_NEEDING_ANOTHER_NAME = {
    FailureCause.NAME_USED_BY_OTHER,
    FailureCause.CUSTOMER_OTHER_CURRENCY,
    FailureCause.DUPLICATE_NAME,
    FailureCause.BAD_CHARACTERS,
    FailureCause.TOO_LONG,
    FailureCause.TWO_ACCOUNTS_ONE_NAME,
}
CAUSES_NEEDING_A_PICK = {
    FailureCause.SEVERAL_MATCHES,
    FailureCause.LINKED_ELSEWHERE,
    FailureCause.CREATE_WOULD_DUPLICATE,
    FailureCause.PICKED_INACTIVE,
    FailureCause.PICKED_MISSING,
}


def account_sync_skip(*, account: Account, actor: User | None) -> AccountSyncLink:
    """ "Do not sync this account" / "Unsync": no more pushes and no more errors for it.

    A linked customer is forgotten here (and remembered as the one to resume with); nothing is deleted in
    QuickBooks.
    """
    with transaction.atomic():
        link = AccountSyncLink.objects.select_for_update().get(pk=account_link_for(account).pk)
        was_synced = link.state == SyncState.SYNCED
        previous = link.qbo_customer_id or link.previous_customer_id
        if not transition(
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
            **error_fields_cleared(AccountSyncLink),
        ):
            raise SyncRequestError("Sync is already off for this account.")
        invoices_unsync_for_account(account_id=account.pk, actor=actor, was_synced=was_synced)
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
    connection = firm_connection(account.firm_id)
    if not is_usable(connection):
        return
    link = AccountSyncLink.objects.filter(account=account).first()
    if link is not None and link.state != SyncState.NOT_SYNCED:
        return  # Skipped stays skipped; anything else is already on its way or settled.
    if link is not None and link.request_epoch > 0:
        return  # It was synced once and lost in QBO: a person decides to sync it again.
    account_sync_request(account=account, trigger="auto")


def account_sync_on_create(*, account: Account) -> None:
    connection = firm_connection(account.firm_id)
    if is_usable(connection) and connection.auto_sync_scope == QuickBooksConnection.AutoSyncScope.ALL:
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
    if not transition(link, SyncAction.START):
        return "not-queued"
    connection = firm_connection(link.firm_id)
    if not is_usable(connection):
        fail(link, SyncFailure(FailureCause.CONNECTION, explanations.CONNECTION))
        return "failed"
    client = connection_client(connection)
    try:
        customer, method, tid, how = _link_customer(client, link, connection)
    except CustomerLost:
        account_link_mark_lost(link=link, tid=client.last_intuit_tid)
        return "lost"
    except SyncFailure as conflict:
        fail(link, conflict)
        return "failed"
    except QboReconnectRequiredError as exc:
        fail(
            link,
            SyncFailure(FailureCause.CONNECTION, explanations.CONNECTION, code=exc.code, message=exc.message),
        )
        return "failed"
    except QboTransientError as exc:
        return defer(link, exc, enqueue=enqueue_account_push)
    except QboError as exc:
        fail(
            link,
            SyncFailure(
                FailureCause.REFUSED,
                explanations.refused(message=exc.message, detail=exc.detail),
                code=exc.code,
                message=exc.message,
                tid=exc.intuit_tid,
            ),
        )
        return "failed"
    return account_link_succeed(link, customer, method, tid, how=how)


def account_link_succeed(
    link: AccountSyncLink, customer: QboCustomer, method: str, tid: str, *, how: str = ""
) -> str:
    """Synced with ``customer``, linked by ``method``; ``how`` says in the history how it was come by (a
    LINKED_MESSAGES key; the method's own words by default)."""
    how = how or method
    now = timezone.now()
    try:
        with transaction.atomic():
            # Re-checking an existing link keeps who linked it, when, and under which name.
            same_link = bool(link.qbo_customer_id == customer.id and link.linked_at)
            done = transition(
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
                **error_fields_cleared(AccountSyncLink),
            )
            if done:
                account_records_on_link(link=link)
                record_event(
                    link=link,
                    kind="found" if how == "found" else method,
                    outcome=SyncEvent.Outcome.SUCCESS,
                    intuit_tid=tid,
                    message=LINKED_MESSAGES[how].format(name=customer.display_name),
                    received={"Id": customer.id, "DisplayName": customer.display_name},
                )
    except Exception as exc:
        if "account_link_one_account_per_customer" not in str(exc):
            raise
        fail(
            link,
            SyncFailure(
                FailureCause.LINKED_ELSEWHERE,
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


def account_customer_draft(
    link: AccountSyncLink, name: str, connection: QuickBooksConnection
) -> CustomerDraft:
    account = link.account
    return CustomerDraft(
        display_name=name,
        email=account.email,
        phone=account.phone,
        company_name=name if account.kind == Account.Kind.COMPANY else "",
        customer_type_id=connection.default_customer_type_id,
        currency=kept_foreign_currency(connection, link.firm.currency),
    )


def _in_firm_currency(link: AccountSyncLink, connection, customer: QboCustomer) -> None:
    """A customer keeps its currency for ever: one in another currency than the firm's is never linked
    (a multicurrency company says each customer's; without multicurrency all are in the home currency)."""
    wanted = kept_foreign_currency(connection, link.firm.currency)
    if not wanted or customer.currency in ("", wanted):
        return
    raise SyncFailure(
        FailureCause.CUSTOMER_OTHER_CURRENCY,
        explanations.CUSTOMER_OTHER_CURRENCY.format(
            name=customer.display_name,
            theirs=customer.currency,
            ours=wanted,
            proposed=f"{link.account.name} ({wanted})",
        ),
        proposed_name=f"{link.account.name} ({wanted})",
    )


def _link_customer(client, link: AccountSyncLink, connection) -> tuple[QboCustomer, str, str, str]:
    """Find or create the customer for ``link`` as its request asks: (customer, link method, intuit_tid,
    how it was come by, a LINKED_MESSAGES key). Raises SyncFailure when a person must decide."""
    if link.request_mode == Mode.PICK:
        picked = _pick(client, link)
        _in_firm_currency(link, connection, picked)
        return picked, Method.PICKED, client.last_intuit_tid, Method.PICKED
    if link.request_mode == Mode.CREATE:
        return _create(client, link, link.requested_display_name, connection)
    if link.qbo_customer_id:
        return _recheck(client, link), link.link_method or Method.MATCHED, client.last_intuit_tid, "rechecked"
    if link.previous_customer_id:
        resumed = _resume(client, link)
        if resumed is not None:
            return resumed, Method.MATCHED, client.last_intuit_tid, "resumed"
    name = link.account.name
    problem = display_name_problem(name)
    if problem is not None and problem.reason == "characters":
        raise SyncFailure(
            FailureCause.BAD_CHARACTERS,
            explanations.bad_characters(proposed=problem.proposed),
            proposed_name=problem.proposed,
        )
    if problem is not None and problem.reason == "too_long":
        raise SyncFailure(
            FailureCause.TOO_LONG,
            explanations.too_long(length=len(name), proposed=problem.proposed),
            proposed_name=problem.proposed,
        )
    found = _match(link, qbo_customers.find_customers_named(client, name))
    if found is not None:
        _in_firm_currency(link, connection, found)
        # Ours, if this request's create was sent before and its answer lost: found, not matched.
        how = "found" if _created_by_us_before(link, [found]) else Method.MATCHED
        return found, Method.MATCHED, client.last_intuit_tid, how
    return _create(client, link, name, connection)


def _match(link: AccountSyncLink, candidates: list[QboCustomer]) -> QboCustomer | None:
    """The one active, unlinked customer of that name; None when there is none (inactive namesakes don't
    count: their bare name is free); SyncFailure when it is ambiguous or taken."""
    active = [c for c in candidates if c.active]
    if not active:
        return None
    taken = {c.id: _account_linked_to(link, c.id) for c in active}
    free = [c for c in active if taken[c.id] is None]
    if len(active) == 1 and free:
        return free[0]
    if len(free) > 1 or (free and len(active) > 1):
        raise SyncFailure(
            FailureCause.SEVERAL_MATCHES,
            explanations.several_customers(name=link.account.name, names=[c.display_name for c in active]),
        )
    holder = active[0]
    raise SyncFailure(
        FailureCause.LINKED_ELSEWHERE,
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
        raise SyncFailure(
            FailureCause.PICKED_MISSING, explanations.PICKED_MISSING, code=exc.code, message=exc.message
        ) from exc
    if not customer.active:
        raise SyncFailure(
            FailureCause.PICKED_INACTIVE, explanations.PICKED_INACTIVE.format(name=customer.display_name)
        )
    other = _account_linked_to(link, customer.id)
    if other:
        raise SyncFailure(
            FailureCause.LINKED_ELSEWHERE,
            explanations.name_linked_elsewhere(name=customer.display_name, other=other),
        )
    return customer


def _create(client, link: AccountSyncLink, name: str, connection) -> tuple[QboCustomer, str, str, str]:
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
            raise SyncFailure(
                FailureCause.CREATE_WOULD_DUPLICATE, explanations.CREATE_WOULD_DUPLICATE.format(name=name)
            )
        return mine, Method.CREATED, client.last_intuit_tid, "found"
    request_id = request_id_for("cust", link.firm_id, link.pk, link.request_epoch)
    draft = account_customer_draft(link, name, connection)
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
            if link.request_mode == Mode.AUTO:
                return resolved, Method.MATCHED, client.last_intuit_tid, Method.MATCHED
            return resolved, Method.CREATED, client.last_intuit_tid, "found"
        holders = qbo_customers.find_name_holders(client, name)
        if holders:
            raise SyncFailure(
                FailureCause.NAME_USED_BY_OTHER,
                explanations.name_used_by_other(name=name, entity=holders[0].entity),
                proposed_name=qbo_customers.alternative_customer_name(name),
                code=exc.code,
                message=exc.message,
                tid=exc.intuit_tid,
            ) from exc
        raise SyncFailure(
            FailureCause.DUPLICATE_NAME,
            explanations.refused(message=exc.message, detail=exc.detail),
            code=exc.code,
            message=exc.message,
            tid=exc.intuit_tid,
        ) from exc
    return created, Method.CREATED, client.last_intuit_tid, Method.CREATED


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
    except SyncFailure:
        return None


def account_link_mark_lost(*, link: AccountSyncLink, trigger: str = "worker", tid: str = "") -> bool:
    """The linked customer is inactive or gone in QBO: the account becomes Not synced, and says why."""
    with transaction.atomic():
        customer_id = link.qbo_customer_id
        if not transition(
            link,
            SyncAction.LOST,
            qbo_customer_id="",
            link_method="",
            linked_at=None,
            previous_customer_id="",
            **error_fields_cleared(AccountSyncLink),
        ):
            return False
        # Its records' copies are under a customer it no longer has: not synced until it links again
        # (then they follow it to its new customer).
        invoices_unsync_for_account(account_id=link.account_id, lost_in_qbo=True)
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

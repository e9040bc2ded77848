"""The first bulk sync: a dry run over every account due to sync (which will be matched, to which
customer; which created; which conflict and why), then one click runs exactly that plan.

QBO is read a page of 1000 customers at a time, and new customers go out 30 to a batch request, so two
thousand accounts take tens of requests rather than thousands. The plan's progress lives in the
database, and the run goes a slice at a time (`engine/leases.slice_deadline`), each slice sending a message
for the next: a worker restart resumes it, and whatever a dead run left half-done falls back to the
single-account sync, which looks names up before creating anything.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import Account
from invoices.models import Invoice, Payment
from qbsync.firms.models import Firm, User
from qbsync.quickbooks import customers as qbo_customers
from qbsync.quickbooks.batch import BATCH_MAX_ITEMS
from qbsync.quickbooks.customers import QboCustomer, display_name_problem, normalize_name
from qbsync.quickbooks.errors import QboDuplicateNameError, QboError, QboTransientError
from qbsync.quickbooks.governor import RealmThrottled
from qbsync.quickbooks.requestids import BATCH_ID_MAX_LENGTH as BATCH_REQUEST_ID_MAX_LENGTH
from qbsync.quickbooks.requestids import request_id_for

from ..engine import explanations
from ..engine.causes import FailureCause
from ..engine.client import connection_client
from ..engine.company import kept_foreign_currency
from ..engine.connection import firm_connection, is_usable
from ..engine.enqueue import BULK_SYNC_PREVIEW, BULK_SYNC_RUN, enqueue, enqueue_account_push
from ..engine.errors import SyncFailure, SyncRequestError
from ..engine.history import record_event
from ..engine.leases import BULK_HOLD, run_lease, slice_deadline
from ..engine.retry import fail
from ..engine.transitions import transition
from ..kinds.accounts import account_customer_draft, account_link_for, account_link_succeed
from ..models import AccountSyncLink, BulkSyncItem, BulkSyncPlan, QuickBooksConnection
from ..states import SyncAction, SyncState

logger = logging.getLogger(__name__)

Decision = BulkSyncItem.Decision
# Links a live bulk run holds are left alone by the sweep for this long.
TWO_ACCOUNTS_ONE_NAME = (
    'Another account, "{other}", has the same name as QuickBooks compares names. QuickBooks allows one '
    "customer per name: rename one of the accounts, or sync this one under another name."
)
CHANGED_SINCE_PREVIEW = (
    'The preview matched this account to QuickBooks customer "{name}", which has since been changed or made '
    "inactive in QuickBooks Online. Sync the account again to decide afresh."
)


# Accounts nothing ever asked to sync: no link, or Not synced without a request (not lost in QBO).
NEVER_ASKED = Q(sync_link__isnull=True) | Q(sync_link__state=SyncState.NOT_SYNCED, sync_link__request_epoch=0)


def due_by_rule(connection: QuickBooksConnection) -> Q:
    """Active accounts the firm's rule syncs: those with an issued invoice or a payment, or every one."""
    condition = Q(is_active=True)
    if connection.auto_sync_scope == QuickBooksConnection.AutoSyncScope.WITH_ACTIVITY:
        issued = Invoice.objects.filter(account=OuterRef("pk"), status__in=Invoice.PAYABLE_STATUSES)
        paid = Payment.objects.filter(account=OuterRef("pk"))
        condition &= Q(Exists(issued)) | Q(Exists(paid))
    return condition


# A plan in these states means the firm's first sync was started (it runs, or ran).
FIRST_SYNC_STARTED = (BulkSyncPlan.State.RUNNING, BulkSyncPlan.State.DONE)


def first_sync_has_run(firm_id: int) -> bool:
    """Whether the firm's first bulk sync was started (it runs, or ran)."""
    return BulkSyncPlan.objects.filter(firm_id=firm_id, state__in=FIRST_SYNC_STARTED).exists()


def awaiting_first_sync(firm: Firm) -> Q | None:
    """Which accounts wait for the firm's first sync: due by its rule and never asked, while the firm is
    connected and has not started it. None when no account does."""
    started = BulkSyncPlan.objects.filter(firm_id=OuterRef("firm_id"), state__in=FIRST_SYNC_STARTED)
    connection = (  # one query: pages ask on every load
        QuickBooksConnection.objects.filter(firm_id=firm.pk, status=QuickBooksConnection.Status.CONNECTED)
        .exclude(Exists(started))
        .first()
    )
    if connection is None:
        return None
    return due_by_rule(connection) & NEVER_ASKED


def bulk_sync_due_accounts(*, firm: Firm, connection: QuickBooksConnection):
    """Active accounts the firm's rule says should sync and that are neither linked, nor skipped, nor
    already on their way."""
    settled = Q(
        sync_link__state__in=[SyncState.SYNCED, SyncState.SKIPPED, SyncState.QUEUED, SyncState.SYNCING]
    )
    accounts = Account.objects.for_firm(firm).filter(due_by_rule(connection)).exclude(settled)
    # The oldest account keeps a name two accounts share.
    return accounts.order_by("pk")


def _usable_connection(firm: Firm) -> QuickBooksConnection:
    connection = firm_connection(firm.pk)
    if not is_usable(connection):
        raise SyncRequestError(explanations.NOT_CONNECTED)
    return connection


def bulk_sync_preview_start(*, firm: Firm, actor: User | None) -> BulkSyncPlan:
    """Start a dry run; it is prepared by a worker (reading a large company takes a while)."""
    _usable_connection(firm)
    if BulkSyncPlan.objects.for_firm(firm).filter(state=BulkSyncPlan.State.RUNNING).exists():
        raise SyncRequestError("A bulk sync is running; wait for it to finish before previewing another.")
    plan = BulkSyncPlan.objects.create(firm=firm, created_by=actor)
    enqueue(BULK_SYNC_PREVIEW, plan.pk)
    return plan


def bulk_sync_preview(*, plan_id: int) -> BulkSyncPlan:
    """Decide, for every due account, what the real run will do. Reads QBO; changes nothing there."""
    plan = BulkSyncPlan.objects.select_related("firm").get(pk=plan_id)
    if plan.state != BulkSyncPlan.State.PREVIEWING:
        return plan
    connection = _usable_connection(plan.firm)
    client = connection_client(connection)
    try:
        customers = list(qbo_customers.iter_customers(client))
        blocked = {
            normalize_name(h.display_name if h.active else qbo_customers.bare_name(h.display_name)): h
            for entity in ("Vendor", "Employee")
            for h in qbo_customers.iter_name_holders(client, entity)
        }
    except QboError as exc:
        BulkSyncPlan.objects.filter(pk=plan.pk).update(
            state=BulkSyncPlan.State.FAILED, error=f"QuickBooks Online could not be read: {exc.message}"
        )
        plan.refresh_from_db()
        return plan
    by_name: dict[str, list[QboCustomer]] = defaultdict(list)
    for customer in customers:
        if customer.active:
            by_name[customer.name_key].append(customer)
    linked = dict(
        AccountSyncLink.objects.for_firm(plan.firm)
        .exclude(qbo_customer_id="")
        .values_list("qbo_customer_id", "account__name")
    )
    items, first_with_name = [], {}
    currency = kept_foreign_currency(connection, plan.firm.currency)
    for account in bulk_sync_due_accounts(firm=plan.firm, connection=connection):
        items.append(_decide(plan, account, by_name, blocked, linked, first_with_name, currency))
    with transaction.atomic():
        BulkSyncItem.objects.bulk_create(items)
        BulkSyncPlan.objects.filter(pk=plan.pk).update(
            state=BulkSyncPlan.State.READY, customers_read=len(customers), updated_at=timezone.now()
        )
    plan.refresh_from_db()
    if connection.first_sync_without_preview and not first_sync_has_run(plan.firm_id):
        # The firm chose the help page's behaviour: its first sync starts as soon as it is planned.
        return bulk_sync_start(plan=plan, actor=plan.created_by)
    return plan


def _decide(plan, account, by_name, blocked, linked, first_with_name, currency="") -> BulkSyncItem:
    item = BulkSyncItem(plan=plan, account=account)
    problem = display_name_problem(account.name)
    if problem is not None and problem.reason in ("characters", "too_long"):
        item.decision, item.cause, item.proposed_name = (
            Decision.CONFLICT,
            f"{problem.reason}",
            problem.proposed,
        )
        item.explanation = (
            explanations.bad_characters(proposed=problem.proposed)
            if problem.reason == "characters"
            else explanations.too_long(length=len(account.name), proposed=problem.proposed)
        )
        item.cause = "bad_characters" if problem.reason == "characters" else "too_long"
        return item
    key = normalize_name(account.name)
    if key in first_with_name:
        item.decision, item.cause = Decision.CONFLICT, "two_accounts_one_name"
        item.explanation = TWO_ACCOUNTS_ONE_NAME.format(other=first_with_name[key])
        return item
    first_with_name[key] = account.name
    candidates = by_name.get(key, [])
    free = [c for c in candidates if c.id not in linked]
    if len(candidates) == 1 and free and currency and free[0].currency not in ("", currency):
        # A customer keeps its currency for ever: one in another currency is never linked (see
        # kinds/accounts.py: _in_firm_currency).
        item.decision, item.cause = Decision.CONFLICT, FailureCause.CUSTOMER_OTHER_CURRENCY
        item.proposed_name = f"{account.name} ({currency})"
        item.explanation = explanations.CUSTOMER_OTHER_CURRENCY.format(
            name=free[0].display_name, theirs=free[0].currency, ours=currency, proposed=item.proposed_name
        )
    elif len(candidates) == 1 and free:
        item.decision, item.customer_id, item.customer_name = Decision.MATCH, free[0].id, free[0].display_name
    elif len(candidates) > 1:
        item.decision, item.cause = Decision.CONFLICT, "several_matches"
        item.explanation = explanations.several_customers(
            name=account.name, names=[c.display_name for c in candidates]
        )
    elif candidates:
        item.decision, item.cause = Decision.CONFLICT, "linked_elsewhere"
        item.explanation = explanations.name_linked_elsewhere(
            name=candidates[0].display_name, other=linked[candidates[0].id]
        )
    elif key in blocked:
        item.decision, item.cause = Decision.CONFLICT, "name_used_by_other"
        item.explanation = explanations.name_used_by_other(name=account.name, entity=blocked[key].entity)
    else:
        item.decision, item.customer_name = Decision.CREATE, account.name
    return item


def bulk_sync_start(*, plan: BulkSyncPlan, actor: User | None) -> BulkSyncPlan:
    """Run what the preview said. Every planned account is marked Syncing now, in one transaction."""
    _usable_connection(plan.firm)
    with transaction.atomic():
        locked = BulkSyncPlan.objects.select_for_update().get(pk=plan.pk)
        if locked.state != BulkSyncPlan.State.READY:
            raise SyncRequestError("This preview has already been started or is not ready yet.")
        hold_until = timezone.now() + BULK_HOLD
        for item in locked.items.select_related("account"):
            link = account_link_for(item.account)
            if not transition(
                link,
                SyncAction.REQUEST,
                request_mode=AccountSyncLink.RequestMode.AUTO,
                requested_customer_id="",
                requested_display_name="",
                requested_by=actor,
                request_epoch=link.request_epoch + 1,
                attempts=0,
                next_attempt_at=hold_until,
                error_code="",
                error_message="",
                error_explanation="",
                error_cause="",
                error_proposed_name="",
                error_intuit_tid="",
            ):
                item.outcome = BulkSyncItem.Outcome.DONE
                item.save(update_fields=["outcome"])
                continue
            record_event(
                link=link,
                kind="requested",
                actor=actor,
                trigger="bulk",
                message=f"First bulk sync: {item.get_decision_display().lower()}.",
            )
        locked.state, locked.started_by, locked.started_at = BulkSyncPlan.State.RUNNING, actor, timezone.now()
        locked.save(update_fields=["state", "started_by", "started_at", "updated_at"])
        enqueue(BULK_SYNC_RUN, locked.pk)
    return locked


def bulk_sync_run(*, plan_id: int, run_id: str = "") -> dict[str, int]:
    """Carry out the plan's pending items for one slice, then hand the rest to a new message. Safe to run
    again: only pending items are touched, each link moves by compare-and-set, a batch of creates carries
    one requestid, and while one task (``run_id``: its task id) holds the run the others return."""
    plan = BulkSyncPlan.objects.select_related("firm").get(pk=plan_id)
    if plan.state != BulkSyncPlan.State.RUNNING:
        return {}
    orphaned = _take_run(plan, run_id)
    if orphaned is None:
        return {"busy": 1}
    done: dict[str, int] = defaultdict(int)
    deadline = slice_deadline()
    try:
        if orphaned:
            done["handed_over"] += _hand_over_in_flight(plan)
        connection = _usable_connection(plan.firm)
        _run_slice(plan, connection, deadline, done)
    except QboTransientError as exc:
        # QBO's limits or an outage: what is done stays done; the rest waits for a later run.
        delay = exc.retry_after or 30.0
        logger.info("Bulk sync %s paused for %.0f s: %s", plan.pk, delay, exc)
        _release_run(plan)
        enqueue(BULK_SYNC_RUN, plan.pk, countdown=delay)
        return dict(done) | {"paused": 1}
    except BaseException:
        _release_run(plan, failed=True)
        raise
    _release_run(plan)
    if not plan.items.filter(outcome=BulkSyncItem.Outcome.PENDING).exists():
        BulkSyncPlan.objects.filter(pk=plan.pk).update(
            state=BulkSyncPlan.State.DONE, finished_at=timezone.now(), updated_at=timezone.now()
        )
    elif done.get("sliced"):
        enqueue(BULK_SYNC_RUN, plan.pk)
    return dict(done)


def _run_slice(plan: BulkSyncPlan, connection, deadline: float, done: dict[str, int]) -> None:
    client = connection_client(connection)
    pending = list(plan.items.filter(outcome=BulkSyncItem.Outcome.PENDING).select_related("account"))
    current = (
        {c.id: c for c in qbo_customers.iter_customers(client)}
        if any(i.decision == Decision.MATCH for i in pending)
        else {}
    )
    for item in [i for i in pending if i.decision == Decision.CONFLICT]:
        link = AccountSyncLink.objects.get(account=item.account)
        fail(link, SyncFailure(item.cause, item.explanation, proposed_name=item.proposed_name))
        _finish(item)
        done["conflict"] += 1
    for item in [i for i in pending if i.decision == Decision.MATCH]:
        if time.monotonic() >= deadline:
            done["sliced"] = 1
            return
        done[_run_match(item, current.get(item.customer_id))] += 1
    creates = [i for i in pending if i.decision == Decision.CREATE]
    for start in range(0, len(creates), BATCH_MAX_ITEMS):
        if time.monotonic() >= deadline:
            done["sliced"] = 1
            return
        for outcome, n in _run_create_batch(
            client, plan, creates[start : start + BATCH_MAX_ITEMS], connection
        ).items():
            done[outcome] += n
        # A heartbeat: the sweep resumes only runs that stopped moving.
        BulkSyncPlan.objects.filter(pk=plan.pk).update(updated_at=timezone.now())


def _take_run(plan: BulkSyncPlan, run_id: str) -> bool | None:
    """Hold the plan's run for this task: None while another live task holds it, else whether it was
    taken over from a task that died holding it (by its own redelivered message, or once the lease
    ended)."""
    now = timezone.now()
    with transaction.atomic():
        locked = BulkSyncPlan.objects.select_for_update().get(pk=plan.pk)
        live = locked.run_until is not None and locked.run_until > now
        if live and not (run_id and locked.run_holder == run_id):
            return None
        BulkSyncPlan.objects.filter(pk=plan.pk).update(
            run_holder=run_id, run_until=now + run_lease(), updated_at=now
        )
    return locked.run_until is not None


def _release_run(plan: BulkSyncPlan, *, failed: bool = False) -> None:
    """Let the run go. After an error its lease is ended, not cleared: the next run takes it over and
    hands the accounts this one had in hand to the single sync."""
    now = timezone.now()
    BulkSyncPlan.objects.filter(pk=plan.pk).update(
        run_holder="", run_until=now if failed else None, updated_at=now
    )


def _hand_over_in_flight(plan: BulkSyncPlan) -> int:
    """The accounts a dead run had in hand (Syncing, their item still pending) go to the single-account
    sync, which looks each name up in QBO before creating anything."""
    moved = 0
    for item in plan.items.filter(
        outcome=BulkSyncItem.Outcome.PENDING, account__sync_link__state=SyncState.SYNCING
    ).select_related("account"):
        _hand_over(AccountSyncLink.objects.get(account=item.account), item)
        moved += 1
    return moved


def _finish(item: BulkSyncItem, outcome: str = BulkSyncItem.Outcome.DONE) -> None:
    BulkSyncItem.objects.filter(pk=item.pk).update(outcome=outcome)


def _hand_over(link: AccountSyncLink, item: BulkSyncItem) -> None:
    """Let the single-account sync finish this one: it looks the name up before creating anything."""
    with transaction.atomic():
        if link.state == SyncState.SYNCING:
            transition(link, SyncAction.DEFER, next_attempt_at=None)
        else:
            AccountSyncLink.objects.filter(pk=link.pk).update(next_attempt_at=None)
        enqueue_account_push(link.pk)
        _finish(item, BulkSyncItem.Outcome.HANDED_OVER)


def _run_match(item: BulkSyncItem, customer: QboCustomer | None) -> str:
    link = AccountSyncLink.objects.get(account=item.account)
    if not transition(link, SyncAction.START):
        _finish(item)
        return "skipped"
    if customer is None or not customer.active or customer.name_key != normalize_name(item.customer_name):
        fail(
            link,
            SyncFailure(
                FailureCause.CHANGED_SINCE_PREVIEW, CHANGED_SINCE_PREVIEW.format(name=item.customer_name)
            ),
        )
        _finish(item)
        return "conflict"
    outcome = account_link_succeed(link, customer, AccountSyncLink.Method.MATCHED, "")
    _finish(item)
    return outcome


def _run_create_batch(client, plan: BulkSyncPlan, items: list[BulkSyncItem], connection) -> dict[str, int]:
    links = {}
    for item in items:
        link = AccountSyncLink.objects.get(account=item.account)
        if transition(link, SyncAction.START):
            links[item.pk] = (item, link)
        else:
            _finish(item)
    if not links:
        return {}
    drafts = [
        (str(item.pk), account_customer_draft(link, item.customer_name, connection))
        for item, link in links.values()
    ]
    request_id = request_id_for(
        "bulk",
        plan.pk,
        *sorted(links),
        *(link.request_epoch for _, link in links.values()),
        max_length=BATCH_REQUEST_ID_MAX_LENGTH,
    )
    try:
        results = qbo_customers.batch_create_customers(client, drafts, request_id=request_id)
    except RealmThrottled:
        # Nothing was sent: the same batch goes out again when the realm has room.
        for _item, link in links.values():
            transition(link, SyncAction.DEFER, next_attempt_at=timezone.now() + BULK_HOLD)
        raise
    except QboTransientError:
        # The batch may or may not have been applied: the single-account sync finishes these, and it
        # looks each name up before creating anything.
        for item, link in links.values():
            _hand_over(link, item)
        return {"handed_over": len(links)}
    counts: dict[str, int] = defaultdict(int)
    for item, link in links.values():
        result = results.get(str(item.pk))
        if isinstance(result, QboCustomer):
            counts[
                account_link_succeed(link, result, AccountSyncLink.Method.CREATED, client.last_intuit_tid)
            ] += 1
            _finish(item)
        elif isinstance(result, QboDuplicateNameError) or result is None:
            _hand_over(link, item)
            counts["handed_over"] += 1
        else:
            fail(
                link,
                SyncFailure(
                    FailureCause.REFUSED,
                    explanations.refused(message=result.message, detail=result.detail),
                    code=result.code,
                    message=result.message,
                ),
            )
            _finish(item)
            counts["failed"] += 1
    return counts


def bulk_sync_summary(*, plan: BulkSyncPlan) -> dict[str, int]:
    counts = dict.fromkeys(Decision.values, 0)
    for decision in plan.items.values_list("decision", flat=True):
        counts[decision] += 1
    return counts

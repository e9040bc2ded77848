"""First syncs go out in batches: when an account links, its invoices and payments that QBO has never
seen are created 30 to a batch request (across the firm's accounts), instead of one request each.

Each firm has one batch pusher (its ``BatchPushSlot``), every request under the realm's rate governor: QBO
counts batch requests whatever their size, so one pusher sending full batches reaches the firm's ceiling.
New work wakes it with one message (`engine/enqueue.start_batch_pusher`), not a task per record; it works
in slices (`engine/leases.slice_deadline`) and sends a message for the rest itself, and it stops as soon as
nothing is left to claim, so it never holds a worker slot while idle. Order holds per account: a record is
only batched once its account is Synced, and a payment only once every invoice it pays is Synced.

Nothing is created twice. A batch item that fails fails only its record. When a batch's outcome is
unknown (a timeout, a 5xx, a dropped reply, a worker killed mid-request), its records go to the single
push, which looks each one up by its marker before creating it; a record whose create was ever sent is
never batched again.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from qbsync.quickbooks import transactions as qbo_txn
from qbsync.quickbooks.batch import BATCH_ID_MAX_LENGTH, BATCH_MAX_ITEMS
from qbsync.quickbooks.errors import (
    QboDuplicateDocNumberError,
    QboError,
    QboRateLimitError,
    QboReconnectRequiredError,
    QboTransientError,
)
from qbsync.quickbooks.governor import GOVERNOR_BACKEND_ERRORS, RealmThrottled, governor_from_settings
from qbsync.quickbooks.requestids import BATCH_ID_MAX_LENGTH as BATCH_REQUEST_ID_MAX_LENGTH
from qbsync.quickbooks.requestids import request_id_for

from ..engine import explanations
from ..engine.causes import FailureCause
from ..engine.client import connection_client
from ..engine.company import currency_refusal, preferences_forget, preferences_of
from ..engine.connection import usable_connection
from ..engine.enqueue import start_batch_pusher
from ..engine.errors import SyncFailure
from ..engine.history import record_event, record_events
from ..engine.leases import QUEUED_GRACE, run_lease, slice_deadline
from ..engine.retry import defer, fail
from ..engine.transitions import transition, transition_all
from ..kinds.invoices import INVOICE
from ..kinds.payments import PAYMENT
from ..kinds.transactions import (
    CREATE_SENT,
    TransactionKind,
    hold_account,
    kind_of,
    kind_of_model,
    links_synced,
    refused,
    say_sent_differently,
    settle_blocked,
)
from ..models import AccountSyncLink, BatchPushSlot, SyncEvent
from ..states import SyncAction, SyncState
from .singles import send_singly

logger = logging.getLogger(__name__)

# The kinds whose first syncs go in batches, in the order they are claimed: payments go after the
# invoices they pay.
BATCHED = (INVOICE, PAYMENT)

SENT = CREATE_SENT
# The batch's requestid stays in the event's sent data (for support), not in the words.
SENT_IN_BATCH = "Sent to QuickBooks Online in one request together with {others} other record{s}."
SENT_ALONE = "Sent to QuickBooks Online."
NOT_SENT = "QuickBooks Online was busy, so nothing was sent; the batch goes out again shortly."
NOT_SENT_KIND = "send_throttled"
SENT_BEFORE = "Sent to QuickBooks Online before: it is checked there and sent on its own, not in a batch."
HANDED_OVER = (
    "QuickBooks Online's answer to the batch was lost ({reason}); this record is checked in QuickBooks and "
    "sent on its own if it is not there."
)
CHANGED_WHILE_WAITING = "The {record} changed while it waited for its batch; it is sent on its own."
SENT_SINGLY = (
    "QuickBooks Online's batch requests for this minute are used up: sent on its own, with the minute's "
    "other requests, rather than wait for the next minute."
)
# After each batch, what its minute's remaining batch requests cannot carry goes to the single push, this
# many seconds' worth of the minute's other requests ahead: enough to keep the company's other
# worker slots busy until it looks again, few enough not to queue ahead of its own next message.
SINGLES_AHEAD_SECONDS = 2.0


def _sent_in_batch(size: int) -> str:
    others = size - 1
    return SENT_IN_BATCH.format(others=others, s="s" if others != 1 else "") if others else SENT_ALONE


def _take_pusher(firm_id: int, run_id: str) -> BatchPushSlot | None:
    """Hold the firm's pusher for this task (``run_id``: its task id), or None while another live task holds
    it. Taking it over from a task that died (by its own redelivered message, or by anyone once the lease
    ended), the records of that task's batch in hand are put back first."""
    now = timezone.now()
    BatchPushSlot.objects.get_or_create(firm_id=firm_id, number=0)
    with transaction.atomic():
        slot = BatchPushSlot.objects.select_for_update().get(firm_id=firm_id, number=0)
        live = slot.held_until is not None and slot.held_until > now
        if live and not (run_id and slot.holder == run_id):
            return None
        orphans = slot.claimed
        BatchPushSlot.objects.filter(pk=slot.pk).update(
            held_until=now + run_lease(), holder=run_id, claimed={}, wake_due_at=None
        )
    if orphans:
        _put_back_orphans(orphans)
    return slot


def _put_back_orphans(claimed: dict[str, list[int]]) -> None:
    """The batch a dead pusher held goes back to the queue; those whose create it may have sent then go
    to the single push (`_hand_over_sent_before`), which looks each up in QBO first."""
    for kind in BATCHED:
        for link in kind.link_model.objects.filter(
            pk__in=claimed.get(kind.name, []), state=SyncState.SYNCING, in_batch=True
        ):
            transition(link, SyncAction.DEFER, next_attempt_at=None)


def _renew(slot: BatchPushSlot) -> None:
    """Renew the pusher's lease for the next batch, whose records `_claim` notes as it claims them."""
    slot.claimed = {}
    BatchPushSlot.objects.filter(pk=slot.pk).update(held_until=timezone.now() + run_lease(), claimed={})


def _release(slot: BatchPushSlot, batches: int, *, failed: bool = False) -> None:
    """Let the pusher go. After an error its lease is ended but its batch in hand kept: whoever takes the
    pusher next puts those records back."""
    BatchPushSlot.objects.filter(pk=slot.pk).update(
        held_until=timezone.now() if failed else None,
        holder="",
        batches_sent=F("batches_sent") + batches,
        **({} if failed else {"claimed": {}}),
    )


def _sent_before(model) -> Exists:
    """Whether a create of the link's record was ever sent to QBO (its history has a send)."""
    owner = kind_of_model(model).name
    return Exists(SyncEvent.objects.filter(**{owner: OuterRef(f"{owner}_id")}, kind=SENT))


def _queued_for_batch(model, firm_id: int):
    return model.objects.filter(firm_id=firm_id, in_batch=True, state=SyncState.QUEUED, waiting_reason="")


def _eligible(model, firm_id: int):
    """Queued first-sync records nobody has ever sent a create for."""
    return (
        _queued_for_batch(model, firm_id)
        .filter(**{kind_of_model(model).qbo_id_field: ""})
        .exclude(next_attempt_at__gt=timezone.now())
        .filter(~_sent_before(model))
    )


def batch_work_left(*, firm_id: int) -> bool:
    return any(_eligible(kind.link_model, firm_id).exists() for kind in BATCHED)


def _claim(model, firm_id: int, limit: int, slot: BatchPushSlot | None = None) -> list:
    """Move up to ``limit`` eligible links to Syncing; only rows this call moved are returned. With the
    pusher's ``slot``, the claim is noted on it in the same transaction, so whoever takes over from a
    pusher killed at any point finds every record it had in hand."""
    if limit <= 0:
        return []
    now = timezone.now()
    with transaction.atomic():
        candidates = _eligible(model, firm_id).order_by("pk")
        if db_connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        # The update's timestamp marks this claim: a pusher racing for the same rows gets none of them.
        transition_all(model.objects.filter(pk__in=ids), SyncAction.START, now=now)
        if slot is not None and ids:
            name = kind_of_model(model).name
            slot.claimed = {**slot.claimed, name: [*slot.claimed.get(name, []), *ids]}
            BatchPushSlot.objects.filter(pk=slot.pk).update(claimed=slot.claimed)
    return list(
        model.objects.filter(pk__in=ids, state=SyncState.SYNCING, state_changed_at=now)
        .select_related(kind_of_model(model).name)
        .order_by("pk")
    )


def transactions_batch_push(*, firm_id: int, run_id: str = "") -> dict[str, int]:
    """Send the firm's first-sync invoices and payments in batches for one slice, then hand the rest to a
    new message (or stop when none is left, or pause when QBO's limits make it wait). Safe to run any
    number of times at once: while one task holds the firm's pusher, the others return."""
    slot = _take_pusher(firm_id, run_id)
    if slot is None:
        return {"busy": 1}
    counts: dict[str, int] = defaultdict(int)
    handed_over = _hand_over_sent_before(firm_id)
    if handed_over:
        counts["handed_over"] += handed_over
    deadline = slice_deadline()
    pause = None
    try:
        connection = usable_connection(firm_id)
        if connection is None:
            counts["failed"] += _fail_all_waiting(firm_id)
            _release(slot, 0)
            return dict(counts)
        client = connection_client(connection)
        preferences = None
        while True:
            if time.monotonic() >= deadline:
                counts["sliced"] = 1
                break
            _renew(slot)
            held = _batch_held_back(connection.realm_id)
            if held is not None:
                # Not worth claiming a batch that could not go (its records would only go back).
                reason, pause = held
                counts["batch_budget_spent"] = int(reason == "batch_per_minute")
                break
            links = _claim_batch(firm_id, deadline, slot)
            if not links:
                break
            if preferences is None:
                try:
                    preferences = preferences_of(client, connection)
                except QboTransientError as exc:
                    _put_back(links)
                    pause = exc.retry_after or settings.QBSYNC_RETRY_BACKOFF_SECONDS
                    break
            outcome = _push_batch(client, connection, links, preferences, counts)
            if outcome is not None:
                pause = outcome
                break
            counts["batches"] += 1
            counts["sent_singly"] += _send_singly(firm_id, connection.realm_id, SINGLES_AHEAD_SECONDS, slot)
        if pause is not None and counts.pop("batch_budget_spent", 0):
            _renew(slot)
            realm_id = connection.realm_id
            counts["sent_singly"] += _send_singly(firm_id, realm_id, pause, slot, batches_paused=True)
    except Exception:
        logger.exception("The batch pusher of firm %s stopped", firm_id)
        _release(slot, counts.get("batches", 0), failed=True)
        raise
    _release(slot, counts.get("batches", 0))
    if pause is not None:
        # QBO's limits: what is done stays done; the pusher comes back when the realm has room.
        start_batch_pusher(firm_id, countdown=pause)
        counts["paused"] = 1
    elif counts.get("sliced") or batch_work_left(firm_id=firm_id):
        # The rest of the work, or work that arrived while this slice was finishing.
        start_batch_pusher(firm_id)
    return dict(counts)


def _hand_over_sent_before(firm_id: int) -> int:
    """Records marked for a batch after their create was already sent once (a push whose outcome is
    unknown, then a wait for the account to sync again) are never batched: without this they would wait
    for a batch forever. The single push looks each up in QBO before creating it."""
    now = timezone.now()
    moved = 0
    for kind in BATCHED:
        model = kind.link_model
        for link in _queued_for_batch(model, firm_id).filter(_sent_before(model)):
            with transaction.atomic():
                if model.objects.filter(pk=link.pk, state=SyncState.QUEUED, in_batch=True).update(
                    in_batch=False, updated_at=now
                ):
                    record_event(link=link, kind="handed_over", message=SENT_BEFORE)
                    kind.enqueue_push(link.pk)
                    moved += 1
    return moved


def _claim_batch(firm_id: int, slice_ends: float, slot: BatchPushSlot) -> list:
    """Claim up to 30 records, invoices first. QBO allows 40 batch requests a minute whatever their size,
    so a batch of 5 wastes a slot that 30 could use: while more records are on their way (accounts still
    linking, or another batch in flight whose invoices release payments), top a started batch up for a
    moment, never longer than QBSYNC_BATCH_LINGER_SECONDS. With nothing to claim it returns at once: the
    pusher stops rather than hold a worker slot, and new work wakes it."""
    linger = float(getattr(settings, "QBSYNC_BATCH_LINGER_SECONDS", 2.0))
    deadline = min(time.monotonic() + linger, slice_ends)
    claimed: dict[str, list] = {kind.name: [] for kind in BATCHED}
    while True:
        for kind in BATCHED:
            room = BATCH_MAX_ITEMS - sum(len(links) for links in claimed.values())
            claimed[kind.name] += _claim(kind.link_model, firm_id, room, slot)
        links = [link for kind in BATCHED for link in claimed[kind.name]]
        if not links or len(links) >= BATCH_MAX_ITEMS or time.monotonic() >= deadline:
            return links
        if not _more_coming(firm_id, mine=[link.pk for link in claimed[INVOICE.name]]):
            return links
        time.sleep(0.05)


def _more_coming(firm_id: int, mine: list[int]) -> bool:
    linking = AccountSyncLink.objects.filter(
        firm_id=firm_id, state__in=[SyncState.QUEUED, SyncState.SYNCING]
    ).exists()
    # Invoices of another batch in flight release the payments that wait for them when they sync.
    in_flight = (
        INVOICE.link_model.objects.filter(firm_id=firm_id, in_batch=True, state=SyncState.SYNCING)
        .exclude(pk__in=mine)
        .exists()
    )
    return linking or in_flight


def _fail_all_waiting(firm_id: int) -> int:
    failed = 0
    for kind in BATCHED:
        for link in _claim(kind.link_model, firm_id, 10_000):
            fail(link, SyncFailure(FailureCause.CONNECTION, explanations.CONNECTION))
            failed += 1
    return failed


def _put_back(links: list, sent_events: list[int] = (), reason: str = "") -> None:
    """Nothing was applied: back to the queue for the next batch, as they were. The history says the batch
    was refused rather than sent, so these records may go in a batch again; a record whose history already
    says so (the same throttling again) gets no second line."""
    with transaction.atomic():
        said = [pk for pk in sent_events if _busy_said_before(pk)]
        SyncEvent.objects.filter(pk__in=said).delete()
        SyncEvent.objects.filter(pk__in=sent_events).exclude(pk__in=said).update(
            kind=NOT_SENT_KIND, message=NOT_SENT, received={"message": reason}
        )
        for link in links:
            transition(link, SyncAction.DEFER, next_attempt_at=None)


def _busy_said_before(event_id: int) -> bool:
    event = SyncEvent.objects.get(pk=event_id)
    before = (
        SyncEvent.objects.filter(invoice_id=event.invoice_id, payment_id=event.payment_id, pk__lt=event_id)
        .order_by("-pk")
        .values_list("kind", flat=True)
        .first()
    )
    return before == NOT_SENT_KIND


def _to_single_push(link, message: str, outcome: str = SyncEvent.Outcome.FAILURE) -> None:
    """Leave this record to the one-at-a-time push, which looks it up in QBO before creating it if its
    create was ever sent."""
    _all_to_single_push(kind_of(link), [link], message, outcome)


def _all_to_single_push(
    kind: TransactionKind, links: list, message: str, outcome: str, *, enqueue: bool = True
) -> list:
    """`_to_single_push` for records of one kind this pusher holds, in a fixed number of queries however
    many. Returns those handed over; ``enqueue`` False: the caller sends their pushes."""
    if not links:
        return []
    now = timezone.now()
    ids = [link.pk for link in links]
    with transaction.atomic():
        # The move's timestamp marks the rows this call moved, as a claim's does.
        rows = kind.link_model.objects.filter(pk__in=ids)
        transition_all(rows, SyncAction.DEFER, now=now, in_batch=False, next_attempt_at=None)
        moved = set(rows.filter(state=SyncState.QUEUED, state_changed_at=now).values_list("pk", flat=True))
        handed = [link for link in links if link.pk in moved]
        record_events(links=handed, kind="handed_over", message=message, outcome=outcome)
        for link in handed if enqueue else ():
            kind.enqueue_push(link.pk)
    return handed


def _batch_held_back(realm_id: str) -> tuple[str, float] | None:
    """(the limit, seconds) when the realm's governor would hold a batch request back for more than a
    moment."""
    try:
        return governor_from_settings().holds_back(realm_id, batch=True)
    except GOVERNOR_BACKEND_ERRORS:
        return None  # the batch's own permit finds the same fault, and its records go singly


def _send_singly(
    firm_id: int, realm_id: str, seconds: float, slot: BatchPushSlot, *, batches_paused: bool = False
) -> int:
    """Hand records to the single push when more are ready than the batch requests the minute has left
    can carry in the next ``seconds`` (none while ``batches_paused``: the minute's are spent for that
    long): as many as the minute's other requests take meanwhile at their even pace (QBO allows 500
    requests a minute, of which batches use 40), within what the window will have room for by then.
    Records handed over before and not sent yet count. Returns how many were handed over."""
    governor = governor_from_settings()
    limits = governor.limits
    per_minute, batches = limits.usable(limits.per_minute), limits.usable(limits.batch_per_minute)
    try:
        then = governor.state(realm_id, ahead=seconds)
    except GOVERNOR_BACKEND_ERRORS:
        return 0  # without the shared counters nothing can be paced: the records wait for their batch
    batches_left = 0 if batches_paused else max(0, batches - then.batch_in_window)
    pace = math.ceil((per_minute - batches) * min(seconds, limits.window_seconds) / limits.window_seconds)
    carried = batches_left * BATCH_MAX_ITEMS
    ready = sum(_eligible(kind.link_model, firm_id)[: carried + pace].count() for kind in BATCHED)
    if ready <= carried:
        return 0  # the minute's batches take them all, 30 to a request
    waiting = sum(
        kind.link_model.objects.filter(
            firm_id=firm_id, state=SyncState.QUEUED, in_batch=False, waiting_reason=""
        ).count()
        for kind in BATCHED
    )
    room = per_minute - then.requests_in_window - batches_left
    # Those handed over before take their share of the pace and the room; the rest may go now.
    wanted = min(min(room, pace) - waiting, ready - carried)
    handed: list = []
    for kind in BATCHED:  # invoices first: a payment goes after the invoices it pays
        claimed = _claim(kind.link_model, firm_id, wanted - len(handed), slot)
        handed += _all_to_single_push(kind, claimed, SENT_SINGLY, SyncEvent.Outcome.INFO, enqueue=False)
    send_singly(firm_id, handed)
    return len(handed)


def _drafts(connection, links, preferences, counts) -> list[tuple[str, object, object]]:
    """(bId, link, draft) for every claimed link that can go; the rest are settled here."""
    refusal = currency_refusal(preferences, connection.firm.currency)
    customer_of = dict(
        AccountSyncLink.objects.filter(
            account_id__in={kind_of(link).record_of(link).account_id for link in links},
            state=SyncState.SYNCED,
        ).values_list("account_id", "qbo_customer_id")
    )
    going = []
    for link in links:
        kind = kind_of(link)
        record = kind.record_of(link)  # loaded with the claim
        if not kind.syncs(record) or kind.voided(record):
            _to_single_push(link, CHANGED_WHILE_WAITING.format(record=kind.name))
        else:
            going.append(link)
    blocked = _settle_blocked_in_batch(going, counts)
    for kind in BATCHED:
        kind.read_for_drafts([kind.record_of(link) for link in going if kind_of(link) is kind])
    ready = []
    for link in going:
        if link.pk in blocked:
            continue
        kind = kind_of(link)
        record = kind.record_of(link)
        customer_id = (
            customer_of.get(record.account_id)
            or AccountSyncLink.objects.get(account_id=record.account_id).qbo_customer_id
        )
        try:
            if refusal is not None:
                raise refusal
            draft = kind.draft(
                record, customer_id, connection, kind.numbered and preferences.custom_txn_numbers
            )
        except SyncFailure as failure:
            fail(link, failure)
            counts["failed"] += 1
            continue
        say_sent_differently(kind, link, record, draft)
        ready.append((f"{kind.batch_id_prefix}{link.pk}", link, draft))
    return ready


def _settle_blocked_in_batch(links, counts) -> set[int]:
    """Work out what each claimed link waits for, a kind of one account at a time (a fixed number of
    queries for each, under the account's lock: see hold_account); settle those that must wait. Returns
    the ids of the links settled."""
    groups: dict[tuple[int, int], list] = defaultdict(list)
    for link in links:
        kind = kind_of(link)
        groups[(kind.record_of(link).account_id, BATCHED.index(kind))].append(link)
    blocked = set()
    for (account_id, kind_index), group in sorted(groups.items()):
        kind = BATCHED[kind_index]
        with transaction.atomic():
            hold_account(account_id)
            blockers = kind.blockers([kind.record_of(link) for link in group])
            for link in group:
                blocker = blockers[kind.record_id_of(link)]
                if blocker:
                    leave = {} if kind.waits_in_batch else {"in_batch": False}
                    counts[settle_blocked(link, kind.record_of(link), blocker, **leave)] += 1
                    blocked.add(link.pk)
    return blocked


def _push_batch(client, connection, links, preferences, counts) -> float | None:
    """Send one batch and settle every record in it. Returns seconds to pause when QBO's limits refused the
    whole batch (nothing applied), else None."""
    ready = _drafts(connection, links, preferences, counts)
    if not ready:
        return None
    assert all(len(bid) <= BATCH_ID_MAX_LENGTH for bid, _, _ in ready)
    versions = {bid: kind_of(link).record_of(link).content_version for bid, link, _ in ready}
    request_id = request_id_for(
        "txb",
        connection.firm_id,
        *(f"{bid}.{link.request_epoch}.{versions[bid]}" for bid, link, _ in ready),
        max_length=BATCH_REQUEST_ID_MAX_LENGTH,
    )
    # Recorded before sending: a record whose create may have reached QBO is never batched again.
    links = [link for _, link, _ in ready]
    sent_events = [
        event.pk
        for event in record_events(
            links=links,
            kind=SENT,
            message=_sent_in_batch(len(ready)),
            sent={"request_id": request_id, "batch_size": len(ready)},
        )
    ]
    try:
        results = qbo_txn.batch_create_transactions(
            client, [(bid, draft) for bid, _, draft in ready], request_id=request_id
        )
    except (RealmThrottled, QboRateLimitError) as exc:
        # The governor held it back (nothing left us) or QBO answered 429 (nothing applied): send it again.
        _put_back(links, sent_events, exc.message)
        counts["requeued"] += len(links)
        if isinstance(exc, RealmThrottled) and exc.reason == "batch_per_minute":
            counts["batch_budget_spent"] = 1
        return exc.retry_after or settings.QBO_RATE_WINDOW_SECONDS
    except QboTransientError as exc:
        for link in links:
            _to_single_push(link, HANDED_OVER.format(reason=exc.message))
        counts["handed_over"] += len(links)
        return None
    except QboReconnectRequiredError as exc:
        for link in links:
            fail(
                link,
                SyncFailure(
                    FailureCause.CONNECTION, explanations.CONNECTION, code=exc.code, message=exc.message
                ),
            )
        counts["failed"] += len(links)
        return None
    except QboError as exc:
        for link in links:
            fail(link, refused(kind_of(link), exc))
        counts["failed"] += len(links)
        return None
    tid = client.last_intuit_tid
    created: dict[TransactionKind, list[tuple]] = defaultdict(list)  # (link, QBO's record, version), by kind
    for bid, link, _draft in ready:
        kind = kind_of(link)
        result = results.get(bid)
        if result is None:
            _to_single_push(link, HANDED_OVER.format(reason="no answer for this record"))
            counts["handed_over"] += 1
        elif isinstance(result, QboTransientError):
            # This item was not applied; it retries on its own, with backoff.
            kind.link_model.objects.filter(pk=link.pk).update(in_batch=False)
            counts[defer(link, result, enqueue=kind.enqueue_push)] += 1
        elif isinstance(result, QboError):
            if isinstance(result, QboDuplicateDocNumberError):
                preferences_forget(connection.pk)  # numbering may have changed in QBO
            fail(link, kind.explain_refusal(result, kind.record_of(link)) or refused(kind, result))
            counts["failed"] += 1
        else:
            created[kind].append((link, result, versions[bid]))
    for kind, synced in created.items():
        for outcome in links_synced(kind, synced, tid):
            counts[outcome] += 1
    return None


def batch_push_resume(*, now=None) -> int:
    """For the sweep: wake the pusher of firms whose first-sync records have waited past the grace (a
    pusher died, or its broker message was lost). Returns how many were woken."""
    now = now or timezone.now()
    firms = set()
    for kind in BATCHED:
        firms |= set(
            kind.link_model.objects.filter(
                in_batch=True,
                state=SyncState.QUEUED,
                waiting_reason="",
                state_changed_at__lt=now - QUEUED_GRACE,
            )
            .values_list("firm_id", flat=True)
            .distinct()
        )
    # A pusher whose lease has ended by the sweep's ``now`` died: said in the clock its lease is read in,
    # so the next wake (now, or when its records stop waiting) takes it over. A live pusher takes the
    # records, and a message on its way starts one: both are left alone.
    BatchPushSlot.objects.filter(held_until__lte=now).update(held_until=timezone.now())
    return sum(start_batch_pusher(firm_id) for firm_id in sorted(firms))

"""Changes made in QuickBooks Online reach one inbox (QboChange), and one worker path reacts to them.

A webhook is a hint that something changed in its company, never the truth: it records the hint per
connection and schedules one CDC poll of that company a little later (QBSYNC_WEBHOOK_DEBOUNCE_SECONDS);
the hints that arrive meanwhile join that poll, so a burst of events is one CDC request. The poll (also run
by beat, for what webhooks missed, and all there is without them) records QBO's own answer in the inbox,
and only that answer decides what changes here. CDC is a metered read: beat polls a company whose webhooks
are healthy only as a safety net, every QBSYNC_CDC_SAFETY_POLL_SECONDS (selectors.webhooks_health). A
webhook's Merge is kept as a claim, believed only when QBO reports the merged-away customer gone
(reactions.py).

The inbox drains in order until it is empty: one processing run per connection at a time; a run that stops
at its limit hands over to the next run itself, and polls and beat hand over whatever is left.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from qbsync.quickbooks import cdc
from qbsync.quickbooks.errors import QboError, QboReconnectRequiredError, QboTransientError
from qbsync.quickbooks.webhooks import ChangeNotice
from qbsync.sync.engine.client import connection_client
from qbsync.sync.engine.connection import is_usable, linked_connections
from qbsync.sync.engine.enqueue import CHANGES_POLL, CHANGES_PROCESS, enqueue, send_now
from qbsync.sync.models import QuickBooksConnection, SyncEvent

from .. import explanations
from ..models import ChangePoll, QboChange, WebhookEndpoint
from ..selectors import cdc_polls_due, month_of
from .reactions import own_echoes, react

logger = logging.getLogger(__name__)

CDC_ENTITIES = ("Customer", "Invoice", "Payment")
# Re-read this much before the watermark: QBO's timestamps are whole seconds, it may leave out the
# changedSince second (cdc.BOUNDARY_OVERLAP), and its clock is not ours. Overlap is harmless (changes are
# unique per event id); a gap would lose a change.
CDC_OVERLAP = timedelta(seconds=5)
# A poll stops asking after this many requests and continues from where it got at the next poll.
CDC_MAX_REQUESTS_PER_POLL = 30
# A change claimed by a worker that died is taken again after this long; so is a processing turn.
CLAIM_LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
# Changes one processing run reacts to before it hands over to the next run (which it enqueues itself).
PROCESS_BATCH = 500
# A hint whose poll has not started this long after it was due is taken as lost: the next hint (or beat)
# schedules another poll.
HINT_GRACE = timedelta(seconds=60)
# After QBO could not be reached, the next run of the inbox waits this long.
PROCESS_RETRY_SECONDS = 15.0


def webhook_debounce_seconds() -> float:
    return max(0.0, float(getattr(settings, "QBSYNC_WEBHOOK_DEBOUNCE_SECONDS", 2.0)))


def _enqueue_processing(connection_id: int, countdown: float | None = None) -> None:
    enqueue(CHANGES_PROCESS, connection_id, countdown=countdown)


def _active_connections_by_realm(realm_ids: set[str]) -> dict[str, QuickBooksConnection]:
    return {c.realm_id: c for c in linked_connections().filter(realm_id__in=realm_ids)}


def _unprocessed(connection: QuickBooksConnection):
    return QboChange.objects.filter(
        firm_id=connection.firm_id, realm_id=connection.realm_id, state=QboChange.State.PENDING
    )


# Webhooks ------------------------------------------------------------------------------------------


def changes_record_notices(*, notices: list[ChangeNotice]) -> dict[str, int]:
    """Take what a verified webhook reported as hints: per company it names (routed by realm to the firm
    connected to it), one CDC poll is scheduled, or joined if one is already due. Nothing here changes on
    the body's word; a Merge is kept as a claim that QBO's answer must bear out. Unknown companies are
    logged and dropped.

    Called only with a delivery whose intuit-signature was verified (views.qbo_webhook_view): the delivery
    is recorded as such, for the endpoint and for each company it names (webhook health)."""
    now = timezone.now()
    _endpoint_delivered(now)
    connections = _active_connections_by_realm({n.realm_id for n in notices})
    counts = {"events": 0, "companies": 0, "merges_claimed": 0, "unknown_company": 0}
    per_realm: dict[str, int] = {}
    claims = []
    for notice in notices:
        connection = connections.get(notice.realm_id)
        if connection is None:
            counts["unknown_company"] += 1
            continue
        counts["events"] += 1
        per_realm[notice.realm_id] = per_realm.get(notice.realm_id, 0) + 1
        if notice.operation == "Merge" and notice.entity == "Customer" and notice.deleted_id:
            claims.append(
                QboChange(
                    firm_id=connection.firm_id,
                    realm_id=notice.realm_id,
                    event_id=notice.event_id[:100],
                    source=QboChange.Source.WEBHOOK,
                    entity=notice.entity[:40],
                    entity_id=notice.entity_id[:32],
                    operation=notice.operation[:20],
                    deleted_id=notice.deleted_id[:32],
                    occurred_at=notice.occurred_at[:40],
                )
            )
    if counts["unknown_company"]:
        logger.warning(
            "QuickBooks webhook: %s event(s) for companies no firm has connected were dropped",
            counts["unknown_company"],
        )
    with transaction.atomic():
        counts["merges_claimed"] = _insert_new(claims)
        for realm_id, events in per_realm.items():
            _hint(connections[realm_id], events, now)
        counts["companies"] = len(per_realm)
    return counts


def _endpoint_delivered(now: datetime) -> None:
    """A verified delivery reached the deployment's endpoint (whatever companies it names)."""
    endpoint = WebhookEndpoint.objects.filter(pk=WebhookEndpoint.SINGLETON)
    fields = {"last_verified_delivery_at": now, "verified_deliveries": F("verified_deliveries") + 1}
    if endpoint.update(**fields):
        return
    try:
        with transaction.atomic():
            WebhookEndpoint.objects.create(
                pk=WebhookEndpoint.SINGLETON, last_verified_delivery_at=now, verified_deliveries=1
            )
    except IntegrityError:  # a concurrent delivery created it first
        endpoint.update(**fields)


def _hint(connection: QuickBooksConnection, events: int, now: datetime) -> bool:
    """Note that ``connection``'s company changed (a verified delivery named it); the first hint since the
    last poll (or one whose poll seems lost) schedules the poll. Returns whether this hint scheduled it."""
    poll = _poll_for(connection)
    lost = now - HINT_GRACE - timedelta(seconds=webhook_debounce_seconds())
    first = (
        ChangePoll.objects.filter(pk=poll.pk)
        .filter(Q(hinted_at__isnull=True) | Q(hinted_at__lt=lost))
        .update(hinted_at=now)
    )
    ChangePoll.objects.filter(pk=poll.pk).update(
        last_verified_delivery_at=now, hints_received=F("hints_received") + events
    )
    if first:
        enqueue(CHANGES_POLL, connection.pk, countdown=webhook_debounce_seconds() or None)
    return bool(first)


def _insert_new(rows: list[QboChange]) -> int:
    """Insert the changes not recorded before; returns how many were new."""
    if not rows:
        return 0
    keys = Q()
    for row in rows:
        keys |= Q(realm_id=row.realm_id, event_id=row.event_id)
    seen = set(QboChange.objects.filter(keys).values_list("realm_id", "event_id"))
    fresh, batch_keys = [], set()
    for row in rows:
        key = (row.realm_id, row.event_id)
        if key not in seen and key not in batch_keys:
            fresh.append(row)
            batch_keys.add(key)
    # A concurrent delivery of the same events may insert first: the constraint keeps them once.
    QboChange.objects.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


# CDC -----------------------------------------------------------------------------------------------


def cdc_event_id(realm_id: str, entity: str, row: dict) -> str:
    """The same object in the same version gets the same id in every overlapping window."""
    version = "deleted" if cdc.is_deleted(row) else str(row.get("SyncToken", ""))
    stamp = (row.get("MetaData") or {}).get("LastUpdatedTime", "")
    key = "|".join((realm_id, entity, str(row.get("Id", "")), version, str(stamp)))
    return "cdc-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _poll_for(connection: QuickBooksConnection) -> ChangePoll:
    poll, _ = ChangePoll.objects.get_or_create(
        connection=connection, defaults={"firm_id": connection.firm_id, "realm_id": connection.realm_id}
    )
    if poll.realm_id != connection.realm_id:
        # The firm started over with another company: the old watermark means nothing there.
        ChangePoll.objects.filter(pk=poll.pk).update(realm_id=connection.realm_id, changed_since=None)
        poll.refresh_from_db()
    return poll


def _record_gap(connection: QuickBooksConnection, since: datetime, start: datetime) -> str:
    text = explanations.CDC_GAP.format(
        since=since.strftime("%Y-%m-%d %H:%M %Z"), start=start.strftime("%Y-%m-%d %H:%M %Z")
    )
    logger.warning("QuickBooks CDC for connection %s: %s", connection.pk, text)
    SyncEvent.objects.create(
        firm_id=connection.firm_id,
        kind="cdc_gap",
        outcome=SyncEvent.Outcome.FAILURE,
        trigger="qbo",
        message=text,
    )
    return text


def _rows_to_changes(connection: QuickBooksConnection, found: list[tuple[str, dict]]) -> list[QboChange]:
    """The inbox rows of a CDC answer, oldest change first (the inbox reacts in id order)."""
    ordered = sorted(
        (pair for pair in found if pair[1].get("Id")),
        key=lambda pair: cdc.changed_at(pair[1]) or datetime.max.replace(tzinfo=UTC),
    )
    return [
        QboChange(
            firm_id=connection.firm_id,
            realm_id=connection.realm_id,
            event_id=cdc_event_id(connection.realm_id, entity, row),
            source=QboChange.Source.CDC,
            entity=entity,
            entity_id=str(row.get("Id", ""))[:32],
            operation="Delete" if cdc.is_deleted(row) else "Update",
            occurred_at=str((row.get("MetaData") or {}).get("LastUpdatedTime", ""))[:40],
            payload=row,
        )
        for entity, row in ordered
    ]


def _read_window(client, entities: tuple[str, ...], since: datetime, now: datetime, budget: list[int]):
    """Every change of ``entities`` in [since, now], in one CDC request when it fits: (pairs of entity and
    row, covered-up-to, notes).

    A full answer (1,000 objects, all entities together) means some are missing. Asking from the same start
    gives the same first 1,000, so the window is narrowed: halved until its end falls within what the
    answer covers (QBO answers the oldest changes first), the part before that end is kept, and the rest is
    asked again from there. ``budget`` counts the requests left for this poll.
    """
    found_all: list[tuple[str, dict]] = []
    notes: list[str] = []
    label = ", ".join(entities)
    start = since
    while budget[0] > 0:
        budget[0] -= 1
        answer = cdc.changed_since(client, list(entities), start)
        found = [(entity, row) for entity in entities for row in answer.rows.get(entity, [])]
        if len(found) < cdc.MAX_OBJECTS:
            found_all.extend(found)
            return found_all, answer.time or now, notes
        newest = max((cdc.changed_at(r) for _, r in found if cdc.changed_at(r)), default=None)
        end = answer.time or now  # QBO's clock: its timestamps are what the window is cut on
        while newest is not None and end > newest and end - start > timedelta(seconds=2):
            end = start + (end - start) / 2
        if newest is not None:
            # Changes at the newest second of a full answer may continue past the cap: only the ones
            # before it are known to be complete.
            end = min(end, newest)
        end = end.replace(microsecond=0)
        if newest is None or end <= start:
            # A thousand changes within one second: nothing narrower can be asked; keep them all.
            found_all.extend(found)
            notes.append(f"{label}: 1,000 changes at one moment ({start.isoformat()}); some may be missed")
            start = start + timedelta(seconds=1)
            continue
        kept = [(e, r) for e, r in found if (cdc.changed_at(r) or end) < end]
        notes.append(
            f"{label}: 1,000 objects since {start.isoformat()}; window narrowed to {end.isoformat()}"
        )
        # The next window must include the second at ``end`` even if QBO leaves out changedSince's own
        # second (cdc.BOUNDARY_OVERLAP). It starts a second earlier when that still moves it forward (what
        # it repeats is dropped by event id). When it does not, the cut is the second after changedSince's:
        # changes kept from that second show QBO answers it, so starting at ``end`` loses nothing; with none
        # kept, QBO may leave ``end`` out, so everything found (all from ``end`` on) is kept.
        if end - cdc.BOUNDARY_OVERLAP > start:
            start = end - cdc.BOUNDARY_OVERLAP
        elif kept:
            start = end
        else:
            kept, start = found, end
        found_all.extend(kept)
    notes.append(f"{label}: stopped after the request limit at {start.isoformat()}; continues next poll")
    return found_all, start, notes


def _take_hint(poll: ChangePoll) -> datetime | None:
    """The hint this poll serves (cleared before QBO is read: a hint arriving meanwhile schedules the next
    poll, so no change announced after this read began waits for beat)."""
    hinted = ChangePoll.objects.filter(pk=poll.pk).values_list("hinted_at", flat=True).first()
    if hinted is not None:
        ChangePoll.objects.filter(pk=poll.pk, hinted_at=hinted).update(hinted_at=None)
    return hinted


def _give_hint_back(poll: ChangePoll, hinted: datetime | None) -> None:
    """A poll that failed serves no hint: the next hint or beat polls again."""
    if hinted is not None:
        ChangePoll.objects.filter(pk=poll.pk, hinted_at__isnull=True).update(hinted_at=hinted)


def changes_poll_connection(*, connection_id: int) -> str:
    """Read what changed in the connection's company since its watermark (one CDC request for every
    entity, more only when an answer is full), record it in the inbox, move the watermark, and hand the
    inbox over to processing if anything waits there. Returns a one-line summary (also kept on the
    ChangePoll row)."""
    connection = QuickBooksConnection.objects.filter(pk=connection_id).first()
    if not is_usable(connection):
        return "skipped: not connected"
    poll = _poll_for(connection)
    hinted = _take_hint(poll)
    now = timezone.now()
    oldest_allowed = now - cdc.MAX_LOOKBACK
    since = poll.changed_since or max(connection.connected_at or now, oldest_allowed)
    notes: list[str] = []
    if since < oldest_allowed:
        notes.append(_record_gap(connection, since, oldest_allowed))
        since = oldest_allowed
    client = connection_client(connection)
    budget = [CDC_MAX_REQUESTS_PER_POLL]
    try:
        found, reached, notes_read = _read_window(client, CDC_ENTITIES, since - CDC_OVERLAP, now, budget)
    except QboReconnectRequiredError as exc:
        # The client has marked the connection; polling resumes after the owner reconnects.
        _give_hint_back(poll, hinted)
        return _finish_poll(poll, None, 0, budget, [f"needs reconnect: {exc.message}"])
    except QboError as exc:
        logger.warning("QuickBooks CDC for connection %s failed: %s", connection.pk, exc)
        _give_hint_back(poll, hinted)
        return _finish_poll(poll, None, 0, budget, [f"failed: {exc.message}"])
    notes.extend(notes_read)
    with transaction.atomic():
        recorded = _insert_new(_rows_to_changes(connection, found))
        if _unprocessed(connection).exists():
            _enqueue_processing(connection.pk)
        return _finish_poll(poll, reached, recorded, budget, notes)


def _finish_poll(poll: ChangePoll, reached: datetime | None, recorded: int, budget, notes) -> str:
    """Stamp the poll (failed ones too: they count for when the next is due) and count its reads into the
    month's. A poll that failed (``reached`` None) ended on a request QBO did not answer: failed calls are
    not metered."""
    summary = "; ".join(notes) or "ok"
    now = timezone.now()
    requests = CDC_MAX_REQUESTS_PER_POLL - budget[0]
    reads = requests - 1 if reached is None and requests else requests
    month = month_of(now)
    same_month = Q(month=month)
    fields = {
        "last_polled_at": now,
        "last_outcome": summary[:2000],
        "requests_last_poll": requests,
        "changes_last_poll": recorded,
        # One UPDATE: a poll running alongside (a webhook's and beat's) adds to the same month's count.
        "month": Value(month),
        "polls_this_month": Case(When(same_month, then=F("polls_this_month") + 1), default=Value(1)),
        "reads_this_month": Case(When(same_month, then=F("reads_this_month") + reads), default=Value(reads)),
    }
    if reached is not None:
        fields["changed_since"] = reached
    ChangePoll.objects.filter(pk=poll.pk).update(**fields)
    return f"{recorded} new change(s); {summary}"


def changes_poll_all() -> int:
    """Beat: ask a CDC poll of every usable connection that is due (selectors.cdc_polls_due: seldom when its
    webhooks are healthy, every tick when not), and hand over every inbox nobody is processing (changes
    pending, or claimed by a worker that died) whatever the poll finds. Returns how many polls it asked."""
    now = timezone.now()
    ids = cdc_polls_due(now)
    for pk in ids:
        send_now(CHANGES_POLL, pk)
    stale = now - CLAIM_LEASE
    leftover = (
        QboChange.objects.filter(
            Q(state=QboChange.State.PENDING) | Q(state=QboChange.State.PROCESSING, claimed_at__lt=stale)
        )
        .filter(firm__quickbooks_connection__status=QuickBooksConnection.Status.CONNECTED)
        .values_list("firm__quickbooks_connection", flat=True)
        .distinct()
    )
    for connection_id in set(leftover):
        send_now(CHANGES_PROCESS, connection_id)
    return len(ids)


# Reacting ------------------------------------------------------------------------------------------


def _claimable(change_ids: list[int]):
    now = timezone.now()
    return QboChange.objects.filter(pk__in=change_ids).filter(
        Q(state=QboChange.State.PENDING)
        | Q(state=QboChange.State.PROCESSING, claimed_at__lt=now - CLAIM_LEASE)
    )


def _claim(change_id: int) -> bool:
    return bool(_claimable([change_id]).update(state=QboChange.State.PROCESSING, claimed_at=timezone.now()))


def _settle_unclaimed(change_ids: list[int], state: str, outcome: str) -> int:
    """Claim and settle these changes at once, those nobody holds; returns how many."""
    now = timezone.now()
    return _claimable(change_ids).update(
        state=state, outcome=outcome[:2000], claimed_at=now, processed_at=now
    )


def _settle(change: QboChange, state: str, outcome: str, *, attempts: int | None = None) -> None:
    fields = {"state": state, "outcome": outcome[:2000], "processed_at": timezone.now()}
    if attempts is not None:
        fields["attempts"] = attempts
    QboChange.objects.filter(pk=change.pk).update(**fields)


def _take_turn(connection: QuickBooksConnection) -> ChangePoll | None:
    """The connection's processing turn (one run at a time keeps the inbox in order), or None if another
    run holds it."""
    poll = _poll_for(connection)
    now = timezone.now()
    taken = (
        ChangePoll.objects.filter(pk=poll.pk)
        .filter(Q(processing_until__isnull=True) | Q(processing_until__lt=now))
        .update(processing_until=now + CLAIM_LEASE)
    )
    return poll if taken else None


def _give_turn_back(poll: ChangePoll) -> None:
    ChangePoll.objects.filter(pk=poll.pk).update(processing_until=None)


def changes_process(*, connection_id: int, limit: int = PROCESS_BATCH) -> dict[str, int]:
    """React to the connection's pending changes, oldest first, one run at a time per connection.

    A run that reacted to ``limit`` changes, or that finds more waiting when it gives its turn back, hands
    over to the next run itself, so the inbox drains until it is empty whatever arrives. A transient QBO
    failure stops the run at that change (order is kept) and the next run comes after a pause; a
    connection needing reconnect stops until the owner reconnects (beat hands over after that)."""
    connection = QuickBooksConnection.objects.filter(pk=connection_id).first()
    counts = {"done": 0, "ignored": 0, "failed": 0, "later": 0}
    if not is_usable(connection):
        return counts
    turn = _take_turn(connection)
    if turn is None:
        return counts  # the run holding the turn hands over when it gives it back
    stopped, pause = False, None
    try:
        stopped, pause = _react_in_order(connection, limit, counts)
    finally:
        _give_turn_back(turn)
    if not stopped and _unprocessed(connection).exists():
        _enqueue_processing(connection.pk, countdown=pause)
    return counts


def _react_in_order(connection: QuickBooksConnection, limit: int, counts: dict[str, int]):
    """Up to ``limit`` pending changes, oldest first: (stopped for reconnect, pause before the next run)."""
    client = connection_client(connection)
    pending = list(_unprocessed(connection).order_by("id")[:limit])
    # The echoes of our own writes first, together: reacting to them changes nothing, so the order of the
    # others holds.
    echoes = own_echoes(connection.firm_id, pending)
    for outcome in set(echoes.values()):
        counts["ignored"] += _settle_unclaimed(
            [change_id for change_id, said in echoes.items() if said == outcome],
            QboChange.State.IGNORED,
            outcome,
        )
    for change_id in [change.pk for change in pending if change.pk not in echoes]:
        if not _claim(change_id):
            continue
        change = QboChange.objects.get(pk=change_id)
        try:
            outcome = react(change, client)
        except QboReconnectRequiredError:
            _settle(change, QboChange.State.PENDING, "waiting: QuickBooks Online needs reconnecting")
            counts["later"] += 1
            return True, None
        except QboTransientError as exc:
            attempts = change.attempts + 1
            state = QboChange.State.FAILED if attempts >= MAX_ATTEMPTS else QboChange.State.PENDING
            _settle(change, state, f"QuickBooks Online was not reachable: {exc.message}", attempts=attempts)
            if state == QboChange.State.PENDING:
                counts["later"] += 1
                return False, max(PROCESS_RETRY_SECONDS, float(getattr(exc, "retry_after", 0) or 0))
            counts["failed"] += 1
            continue
        except QboError as exc:
            _settle(change, QboChange.State.FAILED, f"QuickBooks Online refused: {exc.message}")
            counts["failed"] += 1
            continue
        state = QboChange.State.IGNORED if outcome.startswith("ignored") else QboChange.State.DONE
        _settle(change, state, outcome)
        counts["ignored" if state == QboChange.State.IGNORED else "done"] += 1
    return False, None

"""Changes reported by QuickBooks Online reach one inbox (QboChange), from webhooks and from the CDC
poller, and one worker path reacts to them.

Webhooks are recorded and answered at once (Intuit wants 200 within 3 seconds); the reacting happens in
a task. The poller reads CDC since each connection's watermark, catches whatever webhooks missed, and is
the only source when webhooks are not configured. Both insert with the same uniqueness (company, event
id), and every reaction is idempotent, so overlap costs nothing but a little work.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from qbsync.quickbooks import cdc
from qbsync.quickbooks.errors import QboError, QboReconnectRequiredError, QboTransientError
from qbsync.quickbooks.webhooks import ChangeNotice
from qbsync.sync.engine.client import connection_client
from qbsync.sync.engine.connection import is_usable, linked_connections, usable_connections
from qbsync.sync.engine.enqueue import CHANGES_POLL, CHANGES_PROCESS, enqueue, send_now
from qbsync.sync.models import QuickBooksConnection, SyncEvent

from .. import explanations
from ..models import ChangePoll, QboChange
from .reactions import react

logger = logging.getLogger(__name__)

CDC_ENTITIES = ("Customer", "Invoice", "Payment")
# Re-read this much before the watermark: QBO's timestamps are whole seconds, it may leave out the
# changedSince second (cdc.BOUNDARY_OVERLAP), and its clock is not ours. Overlap is harmless (changes are
# unique per event id); a gap would lose a change.
CDC_OVERLAP = timedelta(seconds=5)
# A poll stops asking after this many requests and continues from where it got at the next poll.
CDC_MAX_REQUESTS_PER_POLL = 30
# A change claimed by a worker that died is taken again after this long.
CLAIM_LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8


def _enqueue_processing(connection_id: int) -> None:
    enqueue(CHANGES_PROCESS, connection_id)


def _active_connections_by_realm(realm_ids: set[str]) -> dict[str, QuickBooksConnection]:
    return {c.realm_id: c for c in linked_connections().filter(realm_id__in=realm_ids)}


# Webhooks ------------------------------------------------------------------------------------------


def changes_record_notices(*, notices: list[ChangeNotice]) -> dict[str, int]:
    """Record what a verified webhook reported, each event once, routed by realm to its firm's
    connection; the reacting is enqueued. Unknown companies are logged and dropped."""
    connections = _active_connections_by_realm({n.realm_id for n in notices})
    counts = {"recorded": 0, "duplicates": 0, "unknown_company": 0}
    rows = []
    for notice in notices:
        connection = connections.get(notice.realm_id)
        if connection is None:
            counts["unknown_company"] += 1
            continue
        rows.append(
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
        counts["recorded"] = _insert_new(rows)
        counts["duplicates"] = len(rows) - counts["recorded"]
        for realm_id in {row.realm_id for row in rows}:
            _enqueue_processing(connections[realm_id].pk)
    return counts


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


def _rows_to_changes(connection: QuickBooksConnection, entity: str, rows: list[dict]) -> list[QboChange]:
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
        for row in rows
        if row.get("Id")
    ]


def _read_entity(client, entity: str, since: datetime, now: datetime, budget: list[int]):
    """Every change of ``entity`` in [since, now]: (rows, covered-up-to, notes).

    A full answer (1,000 objects) means some are missing. Asking from the same start gives the same first
    1,000, so the window is narrowed: halved until its end falls within what the answer covers (QBO
    answers the oldest changes first), the part before that end is kept, and the rest is asked again
    from there. ``budget`` counts the requests left for this poll.
    """
    rows: list[dict] = []
    notes: list[str] = []
    start = since
    while budget[0] > 0:
        budget[0] -= 1
        answer = cdc.changed_since(client, [entity], start)
        found = answer.rows.get(entity, [])
        if len(found) < cdc.MAX_OBJECTS:
            rows.extend(found)
            return rows, answer.time or now, notes
        newest = max((cdc.changed_at(r) for r in found if cdc.changed_at(r)), default=None)
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
            rows.extend(found)
            notes.append(f"{entity}: 1,000 changes at one moment ({start.isoformat()}); some may be missed")
            start = start + timedelta(seconds=1)
            continue
        kept = [r for r in found if (cdc.changed_at(r) or end) < end]
        notes.append(
            f"{entity}: 1,000 objects since {start.isoformat()}; window narrowed to {end.isoformat()}"
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
        rows.extend(kept)
    notes.append(f"{entity}: stopped after the request limit at {start.isoformat()}; continues next poll")
    return rows, start, notes


def changes_poll_connection(*, connection_id: int) -> str:
    """Read what changed in the connection's company since its watermark, record it in the inbox, and
    move the watermark. Returns a one-line summary (also kept on the ChangePoll row)."""
    connection = QuickBooksConnection.objects.filter(pk=connection_id).first()
    if not is_usable(connection):
        return "skipped: not connected"
    poll = _poll_for(connection)
    now = timezone.now()
    oldest_allowed = now - cdc.MAX_LOOKBACK
    since = poll.changed_since or max(connection.connected_at or now, oldest_allowed)
    notes: list[str] = []
    if since < oldest_allowed:
        notes.append(_record_gap(connection, since, oldest_allowed))
        since = oldest_allowed
    client = connection_client(connection)
    budget = [CDC_MAX_REQUESTS_PER_POLL]
    reached: list[datetime] = []
    changes: list[QboChange] = []
    try:
        for entity in CDC_ENTITIES:
            rows, covered, entity_notes = _read_entity(client, entity, since - CDC_OVERLAP, now, budget)
            changes.extend(_rows_to_changes(connection, entity, rows))
            reached.append(covered)
            notes.extend(entity_notes)
    except QboReconnectRequiredError as exc:
        # The client has marked the connection; polling resumes after the owner reconnects.
        return _finish_poll(poll, None, 0, budget, [f"needs reconnect: {exc.message}"])
    except QboError as exc:
        logger.warning("QuickBooks CDC for connection %s failed: %s", connection.pk, exc)
        return _finish_poll(poll, None, 0, budget, [f"failed: {exc.message}"])
    with transaction.atomic():
        recorded = _insert_new(changes)
        if recorded:
            _enqueue_processing(connection.pk)
        # Everything up to the least advanced entity has been read.
        return _finish_poll(poll, min(reached), recorded, budget, notes)


def _finish_poll(poll: ChangePoll, reached: datetime | None, recorded: int, budget, notes) -> str:
    summary = "; ".join(notes) or "ok"
    fields = {
        "last_polled_at": timezone.now(),
        "last_outcome": summary[:2000],
        "requests_last_poll": CDC_MAX_REQUESTS_PER_POLL - budget[0],
        "changes_last_poll": recorded,
    }
    if reached is not None:
        fields["changed_since"] = reached
    ChangePoll.objects.filter(pk=poll.pk).update(**fields)
    return f"{recorded} new change(s); {summary}"


def changes_poll_all() -> int:
    """Beat: ask a CDC poll of every usable connection, and hand over changes nobody processed."""
    ids = list(usable_connections().values_list("pk", flat=True))
    for pk in ids:
        send_now(CHANGES_POLL, pk)
    stale = timezone.now() - CLAIM_LEASE
    leftover = (
        QboChange.objects.filter(
            Q(state=QboChange.State.PENDING) | Q(state=QboChange.State.PROCESSING, claimed_at__lt=stale)
        )
        .filter(firm__quickbooks_connection__status=QuickBooksConnection.Status.CONNECTED)
        .values_list("firm__quickbooks_connection", flat=True)
        .distinct()
    )
    for connection_id in set(leftover) - set(ids):
        _enqueue_processing(connection_id)
    return len(ids)


# Reacting ------------------------------------------------------------------------------------------


def _claim(change_id: int) -> bool:
    now = timezone.now()
    return bool(
        QboChange.objects.filter(pk=change_id)
        .filter(
            Q(state=QboChange.State.PENDING)
            | Q(state=QboChange.State.PROCESSING, claimed_at__lt=now - CLAIM_LEASE)
        )
        .update(state=QboChange.State.PROCESSING, claimed_at=now)
    )


def _settle(change: QboChange, state: str, outcome: str, *, attempts: int | None = None) -> None:
    fields = {"state": state, "outcome": outcome[:2000], "processed_at": timezone.now()}
    if attempts is not None:
        fields["attempts"] = attempts
    QboChange.objects.filter(pk=change.pk).update(**fields)


def changes_process(*, connection_id: int, limit: int = 500) -> dict[str, int]:
    """React to the connection's pending changes, oldest first. A transient QBO failure leaves the change
    pending for the next round (the beat hands it over again); a connection needing reconnect stops."""
    connection = QuickBooksConnection.objects.filter(pk=connection_id).first()
    counts = {"done": 0, "ignored": 0, "failed": 0, "later": 0}
    if not is_usable(connection):
        return counts
    client = connection_client(connection)
    pending = list(
        QboChange.objects.filter(
            firm_id=connection.firm_id, realm_id=connection.realm_id, state=QboChange.State.PENDING
        ).values_list("pk", flat=True)[:limit]
    )
    for change_id in pending:
        if not _claim(change_id):
            continue
        change = QboChange.objects.get(pk=change_id)
        try:
            outcome = react(change, client)
        except QboReconnectRequiredError:
            _settle(change, QboChange.State.PENDING, "waiting: QuickBooks Online needs reconnecting")
            counts["later"] += 1
            break
        except QboTransientError as exc:
            attempts = change.attempts + 1
            state = QboChange.State.FAILED if attempts >= MAX_ATTEMPTS else QboChange.State.PENDING
            _settle(change, state, f"QuickBooks Online was not reachable: {exc.message}", attempts=attempts)
            counts["later" if state == QboChange.State.PENDING else "failed"] += 1
            continue
        except QboError as exc:
            _settle(change, QboChange.State.FAILED, f"QuickBooks Online refused: {exc.message}")
            counts["failed"] += 1
            continue
        state = QboChange.State.IGNORED if outcome.startswith("ignored") else QboChange.State.DONE
        _settle(change, state, outcome)
        counts["ignored" if state == QboChange.State.IGNORED else "done"] += 1
    return counts

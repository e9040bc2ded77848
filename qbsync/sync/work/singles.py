"""First-sync records the batch pusher hands to the single push (more are ready than the minute's batch
requests can carry: `work/batches._send_singly`) go one at a time, up to SINGLES_PER_TASK in one task,
not a task each: a task per record cost the worker about five times a batched record (its own message,
the fair-scheduling checks, and usually a park while the company's other worker slot was busy).

Each record goes through the same single push as a record pushed alone (`kinds/transactions.push`): a
create that was ever sent is looked up in QBO by its marker first, and a payment waits for its invoices.
The task stops for QBO's limits and at the end of its slice, and sends the rest on in one message; a task
that dies leaves its records Queued, and the sweep sends each of them again.
"""

from __future__ import annotations

import time
from collections import defaultdict

from qbsync.quickbooks.governor import GOVERNOR_BACKEND_ERRORS, governor_from_settings

from ..engine.client import FirmClients
from ..engine.enqueue import enqueue_singles
from ..engine.leases import slice_deadline
from ..kinds.transactions import kind_named, kind_of, push

# A few records a task: enough that the per-task costs are shared, few enough that two tasks of a company
# run side by side while its batch requests are paused (each takes a worker slot of its own).
SINGLES_PER_TASK = 10


def send_singly(firm_id: int, links: list) -> None:
    """Have ``links`` (Queued, taken out of their batch) pushed one at a time, in their order, in tasks
    of SINGLES_PER_TASK."""
    for start in range(0, len(links), SINGLES_PER_TASK):
        enqueue_singles(
            firm_id, _by_kind([(kind_of(link), link.pk) for link in links[start : start + SINGLES_PER_TASK]])
        )


def _by_kind(pairs: list[tuple]) -> dict[str, list[int]]:
    """(kind, link id) pairs as a message carries them: ids by kind's name, in their order."""
    grouped: dict[str, list[int]] = defaultdict(list)
    for kind, link_id in pairs:
        grouped[kind.name].append(link_id)
    return dict(grouped)


def transactions_singles_push(*, firm_id: int, link_ids: dict[str, list[int]]) -> dict[str, int]:
    """Push each of these records of the firm on its own (``link_ids``: by kind's name, kinds in the order
    they go). Returns how many ended each way ("synced", "waiting", ...), and "handed_on" for those sent on
    to a later message."""
    counts: dict[str, int] = defaultdict(int)
    queue = [(kind_named(name), link_id) for name, ids in link_ids.items() for link_id in ids]
    clients = FirmClients()
    connection, _ = clients.of(firm_id)
    realm_id = connection.realm_id if connection else None
    deadline = slice_deadline()
    for index, (kind, link_id) in enumerate(queue):
        wait = 0.0 if time.monotonic() >= deadline else _held_back(realm_id)
        if wait is not None:
            enqueue_singles(firm_id, _by_kind(queue[index:]), countdown=wait or None)
            counts["handed_on"] = len(queue) - index
            break
        counts[push(kind, link_id=link_id, clients=clients)] += 1
    return dict(counts)


def _held_back(realm_id: str | None) -> float | None:
    """Seconds the realm's governor would hold a request back for, when more than a moment; else None."""
    if not realm_id:
        return None  # no connection: each push says so on its record
    try:
        held = governor_from_settings().holds_back(realm_id)
    except GOVERNOR_BACKEND_ERRORS:
        return None  # each request's permit finds the same fault, and its record is deferred
    return held[1] if held else None

"""The sync state machine, as data: the states a link can be in, and which action moves it from which
states to which. Pure Python; `engine/transitions.py` applies it with compare-and-set updates, and nothing
else writes a link's state. How a state looks to people lives in `qbsync/sync/display.py`."""

from django.db import models


class SyncState(models.TextChoices):
    NOT_SYNCED = "not_synced", "Not synced"
    QUEUED = "queued", "Syncing"  # intent recorded, waiting for a worker
    SYNCING = "syncing", "Syncing"  # a worker holds it
    SYNCED = "synced", "Synced"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class SyncAction(models.TextChoices):
    REQUEST = "request"  # a person or the auto-sync rule asks for a sync
    START = "start"  # a worker takes it
    SUCCEED = "succeed"
    DEFER = "defer"  # transient failure, or handed to another path: back to the queue
    FAIL = "fail"
    SKIP = "skip"  # "Do not sync this account" / "Unsync", or its account was unsynced
    UNSKIP = "unskip"  # a skipped record may sync again; the request that follows queues it
    LOST = "lost"  # the linked QBO record is inactive or gone
    FLAG = "flag"  # QBO changed the linked record (voided, deleted, merged): a person decides
    RESET = "reset"  # the firm started over with another company: every link is forgotten


S = SyncState
ALL_STATES = frozenset(SyncState.values)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    SyncAction.REQUEST: (frozenset({S.NOT_SYNCED, S.FAILED, S.SKIPPED, S.SYNCED, S.QUEUED}), S.QUEUED),
    SyncAction.START: (frozenset({S.QUEUED}), S.SYNCING),
    SyncAction.SUCCEED: (frozenset({S.SYNCING}), S.SYNCED),
    SyncAction.DEFER: (frozenset({S.SYNCING}), S.QUEUED),
    SyncAction.FAIL: (frozenset({S.SYNCING, S.QUEUED}), S.FAILED),
    SyncAction.SKIP: (frozenset({S.NOT_SYNCED, S.QUEUED, S.SYNCING, S.SYNCED, S.FAILED}), S.SKIPPED),
    SyncAction.UNSKIP: (frozenset({S.SKIPPED}), S.NOT_SYNCED),
    SyncAction.LOST: (frozenset({S.SYNCED, S.QUEUED, S.SYNCING, S.FAILED}), S.NOT_SYNCED),
    SyncAction.FLAG: (frozenset({S.NOT_SYNCED, S.FAILED, S.SKIPPED, S.SYNCED, S.QUEUED}), S.FAILED),
    SyncAction.RESET: (ALL_STATES, S.NOT_SYNCED),
}


def target_of(action: str, current: str) -> str | None:
    """Where ``action`` takes a record in state ``current``; None when it may not act from there."""
    sources, target = TRANSITIONS[action]
    return target if current in sources else None

"""The sync state machine, as data: states, and which action moves a record from which states to which.
Pure Python; services apply it with compare-and-set updates. How a state looks to people: ``display``."""

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
    DEFER = "defer"  # transient failure: back to the queue for a later attempt
    FAIL = "fail"
    SKIP = "skip"  # "Do not sync this account" / "Unsync"
    LOST = "lost"  # the linked QBO record is inactive or gone


S = SyncState
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    SyncAction.REQUEST: (frozenset({S.NOT_SYNCED, S.FAILED, S.SKIPPED, S.SYNCED, S.QUEUED}), S.QUEUED),
    SyncAction.START: (frozenset({S.QUEUED}), S.SYNCING),
    SyncAction.SUCCEED: (frozenset({S.SYNCING}), S.SYNCED),
    SyncAction.DEFER: (frozenset({S.SYNCING}), S.QUEUED),
    SyncAction.FAIL: (frozenset({S.SYNCING, S.QUEUED}), S.FAILED),
    SyncAction.SKIP: (frozenset({S.NOT_SYNCED, S.QUEUED, S.SYNCING, S.SYNCED, S.FAILED}), S.SKIPPED),
    SyncAction.LOST: (frozenset({S.SYNCED, S.QUEUED, S.SYNCING, S.FAILED}), S.NOT_SYNCED),
}


def target_of(action: str, current: str) -> str | None:
    """Where ``action`` takes a record in state ``current``; None when it may not act from there."""
    sources, target = TRANSITIONS[action]
    return target if current in sources else None

"""The sync state machine, as data: states, what each looks like to a person, and which action moves a
record from which states to which. Pure Python; services apply it with compare-and-set updates."""

from django.db import models


class SyncState(models.TextChoices):
    NOT_SYNCED = "not_synced", "Not synced"
    QUEUED = "queued", "Syncing"  # intent recorded, waiting for a worker
    SYNCING = "syncing", "Syncing"  # a worker holds it
    SYNCED = "synced", "Synced"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


# The five statuses people see. Internal states map onto them.
DISPLAY_STATUS = {
    SyncState.NOT_SYNCED: "Not synced",
    SyncState.QUEUED: "Syncing",
    SyncState.SYNCING: "Syncing",
    SyncState.SYNCED: "Synced",
    SyncState.FAILED: "Failed",
    SyncState.SKIPPED: "Skipped",
}
ACCOUNT_TOOLTIPS = {
    "Synced": "This account is successfully synced.",
    "Not synced": (
        "This account is not synced. You can sync it from the Info tab. If it was Synced before, it may have "
        "been deleted from QuickBooks Online; sync it again to create a new customer."
    ),
    "Skipped": "You skipped sync for this account. Resync it from the Info tab, if needed.",
    "Failed": "There is a sync issue with this account: {reason}",
    "Syncing": "This account is being synced. This takes a moment.",
}
DISPLAY_ORDER = ["Synced", "Syncing", "Failed", "Not synced", "Skipped"]


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


def display_status(state: str) -> str:
    return DISPLAY_STATUS[SyncState(state)]


def account_tooltip(state: str, reason: str = "") -> str:
    shown = display_status(state)
    if shown == "Not synced" and reason:
        # Lost in QBO (deleted, made inactive): the reason replaces the generic guess.
        return f"This account is not synced. {reason}"
    return ACCOUNT_TOOLTIPS[shown].format(reason=reason or "see the account's Info tab.")

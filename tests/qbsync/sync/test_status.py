"""The state machine as data: every action from every state."""

import pytest

from qbsync.sync.engine.states import TRANSITIONS, SyncAction, SyncState, target_of
from qbsync.sync.status import ACCOUNT_TOOLTIPS, DISPLAY_STATUS, account_tooltip, display_status

S = SyncState
EXPECTED = {
    # action: {from state: to state}; states not listed may not take the action
    SyncAction.REQUEST: {
        S.NOT_SYNCED: S.QUEUED,
        S.FAILED: S.QUEUED,
        S.SKIPPED: S.QUEUED,
        S.SYNCED: S.QUEUED,
        S.QUEUED: S.QUEUED,
    },
    SyncAction.START: {S.QUEUED: S.SYNCING},
    SyncAction.SUCCEED: {S.SYNCING: S.SYNCED},
    SyncAction.DEFER: {S.SYNCING: S.QUEUED},
    SyncAction.FAIL: {S.SYNCING: S.FAILED, S.QUEUED: S.FAILED},
    SyncAction.SKIP: {
        S.NOT_SYNCED: S.SKIPPED,
        S.QUEUED: S.SKIPPED,
        S.SYNCING: S.SKIPPED,
        S.SYNCED: S.SKIPPED,
        S.FAILED: S.SKIPPED,
    },
    SyncAction.LOST: {
        S.SYNCED: S.NOT_SYNCED,
        S.QUEUED: S.NOT_SYNCED,
        S.SYNCING: S.NOT_SYNCED,
        S.FAILED: S.NOT_SYNCED,
    },
    SyncAction.UNSKIP: {S.SKIPPED: S.NOT_SYNCED},
    SyncAction.FLAG: {
        S.NOT_SYNCED: S.FAILED,
        S.FAILED: S.FAILED,
        S.SKIPPED: S.FAILED,
        S.SYNCED: S.FAILED,
        S.QUEUED: S.FAILED,
    },
    SyncAction.RESET: {state: S.NOT_SYNCED for state in SyncState},
}


@pytest.mark.parametrize("action", list(SyncAction))
@pytest.mark.parametrize("state", list(SyncState))
def test_every_action_from_every_state(action, state):
    assert target_of(action, state) == EXPECTED[action].get(state)


def test_the_table_covers_every_action():
    assert set(TRANSITIONS) == set(SyncAction)


def test_people_see_exactly_five_statuses():
    assert set(DISPLAY_STATUS.values()) == {"Synced", "Not synced", "Skipped", "Failed", "Syncing"}
    assert display_status(S.QUEUED) == display_status(S.SYNCING) == "Syncing"


def test_tooltips_are_the_product_texts_and_failed_names_the_reason():
    assert account_tooltip(S.SYNCED) == "This account is successfully synced."
    assert account_tooltip(S.SYNCING) == "This account is being synced. This takes a moment."
    assert (
        account_tooltip(S.SKIPPED)
        == "You skipped sync for this account. Resync it from the Info tab, if needed."
    )
    assert account_tooltip(S.NOT_SYNCED).startswith(
        "This account is not synced. You can sync it from the Info tab."
    )
    assert account_tooltip(S.FAILED, "QBO has a vendor named Staples.") == (
        "There is a sync issue with this account: QBO has a vendor named Staples."
    )
    assert set(ACCOUNT_TOOLTIPS) == set(DISPLAY_STATUS.values())

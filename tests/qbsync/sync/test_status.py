"""The state machine as data: every action from every state."""

import pytest

from qbsync.sync.states import TRANSITIONS, SyncAction, SyncState, target_of

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

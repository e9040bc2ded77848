"""The two meanings of "the firm is connected": it has a company (statuses and requests mean something,
even while the owner must reconnect), and calls may go out now."""

import pytest

from qbsync.sync.engine.connection import has_company, is_usable
from qbsync.sync.models import QuickBooksConnection


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (None, False),
        (QuickBooksConnection.Status.DISCONNECTED, False),
        # Statuses still mean something while an owner has to reconnect: nothing was lost.
        (QuickBooksConnection.Status.NEEDS_RECONNECT, True),
        (QuickBooksConnection.Status.CONNECTED, True),
    ],
)
def test_statuses_show_while_the_firm_has_a_connection(status, shown):
    connection = None if status is None else QuickBooksConnection(status=status)

    assert has_company(connection) is shown


@pytest.mark.parametrize(
    ("status", "usable"),
    [
        (None, False),
        (QuickBooksConnection.Status.DISCONNECTED, False),
        (QuickBooksConnection.Status.NEEDS_RECONNECT, False),
        (QuickBooksConnection.Status.CONNECTED, True),
    ],
)
def test_calls_go_out_only_on_a_connected_connection(status, usable):
    connection = None if status is None else QuickBooksConnection(status=status)

    assert is_usable(connection) is usable

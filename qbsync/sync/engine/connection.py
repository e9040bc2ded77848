"""The firm's QuickBooks connection as the engine sees it: the one home of "is the firm connected".

Two meanings, named apart: a firm *has a company* while a connection exists that was not disconnected
(it may need reconnecting: requests are still taken and wait for it); calls may go out only while the
connection is *usable* (connected, tokens accepted)."""

from ..models import QuickBooksConnection

NOT_CONNECTED = "QuickBooks Online is not connected for this firm."


def firm_connection(firm_id: int) -> QuickBooksConnection | None:
    """The firm's connection row, whatever its status."""
    return QuickBooksConnection.objects.filter(firm_id=firm_id).first()


def has_company(connection: QuickBooksConnection | None) -> bool:
    """A company is linked (connected, or needing reconnect): sync requests are taken."""
    return connection is not None and connection.status != QuickBooksConnection.Status.DISCONNECTED


def is_usable(connection: QuickBooksConnection | None) -> bool:
    """Calls to QBO may go out on it now."""
    return connection is not None and connection.status == QuickBooksConnection.Status.CONNECTED


def usable_connection(firm_id: int) -> QuickBooksConnection | None:
    """The firm's connection when calls may go out on it; None when missing or needing reconnect."""
    connection = firm_connection(firm_id)
    return connection if is_usable(connection) else None

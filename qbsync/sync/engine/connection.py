"""The firm's QuickBooks connection as the engine finds it: the one home of "which connection" and "is it
connected". The two meanings of connected are defined on the model (`has_company`: linked to a company,
possibly needing reconnect, so requests are taken and wait; `is_usable`: calls may go out now)."""

from django.db.models import QuerySet

from ..models import QuickBooksConnection

NOT_CONNECTED = "QuickBooks Online is not connected for this firm."


def firm_connection(firm_id: int) -> QuickBooksConnection | None:
    """The firm's connection row, whatever its status."""
    return QuickBooksConnection.objects.filter(firm_id=firm_id).first()


def has_company(connection: QuickBooksConnection | None) -> bool:
    return connection is not None and connection.has_company


def is_usable(connection: QuickBooksConnection | None) -> bool:
    return connection is not None and connection.is_usable


def usable_connection(firm_id: int) -> QuickBooksConnection | None:
    """The firm's connection when calls may go out on it; None when missing or needing reconnect."""
    connection = firm_connection(firm_id)
    return connection if is_usable(connection) else None


def usable_connections() -> QuerySet[QuickBooksConnection]:
    """Every connection calls may go out on now (for work done across firms: polling, nightly checks)."""
    return QuickBooksConnection.objects.filter(status=QuickBooksConnection.Status.CONNECTED)


def linked_connections() -> QuerySet[QuickBooksConnection]:
    """Every connection still linked to a company, usable or not."""
    return QuickBooksConnection.objects.exclude(status=QuickBooksConnection.Status.DISCONNECTED)

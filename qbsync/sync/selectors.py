from qbsync.firms.models import Firm

from .models import QuickBooksConnection


def connection_for_firm(*, firm: Firm | None) -> QuickBooksConnection | None:
    if firm is None:
        return None
    return QuickBooksConnection.objects.for_firm(firm).select_related("connected_by").first()


def connection_needs_attention(*, firm: Firm | None) -> QuickBooksConnection | None:
    """The firm's connection when an owner has to act on it (for the firm-wide banner)."""
    if firm is None:
        return None
    return (
        QuickBooksConnection.objects.for_firm(firm)
        .filter(status=QuickBooksConnection.Status.NEEDS_RECONNECT)
        .only("status", "status_reason", "company_name", "realm_id")
        .first()
    )

from qbsync.firms.permissions import can_manage_quickbooks

from .selectors import unread_notification_count


def notifications_badge(request):
    """Owners and admins see how many of their notices are unread, on every page."""
    user = getattr(request, "user", None)
    if user is None or not can_manage_quickbooks(user):
        return {}
    return {"unread_notifications": unread_notification_count(user=user)}

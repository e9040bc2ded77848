from . import permissions


def firm(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_firm": user.firm if user.firm_id else None,
        "can_manage_quickbooks": permissions.can_manage_quickbooks(user),
        "can_connect_quickbooks": permissions.can_connect_quickbooks(user),
        "can_manage_firm_settings": permissions.can_manage_firm_settings(user),
    }

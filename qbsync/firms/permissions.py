"""The one home of role rules. Views use the decorators; templates use the same functions via context."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from .models import User


def is_firm_member(user) -> bool:
    return bool(user.is_authenticated and getattr(user, "firm_id", None))


def can_manage_quickbooks(user) -> bool:
    """Owners and admins sync, unsync and skip records and change integration defaults."""
    return is_firm_member(user) and user.role in (User.Role.OWNER, User.Role.ADMIN)


def can_connect_quickbooks(user) -> bool:
    """Only the owner connects, disconnects or reconnects the firm's QuickBooks company."""
    return is_firm_member(user) and user.role == User.Role.OWNER


def can_manage_firm_settings(user) -> bool:
    """Owners and admins change the firm's settings (region, currency, tax rates); staff may look."""
    return is_firm_member(user) and user.role in (User.Role.OWNER, User.Role.ADMIN)


def can_edit_practice_data(user) -> bool:
    """Every member of the firm keeps its client accounts, invoices and payments."""
    return is_firm_member(user)


def firm_member_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in and belonging to a firm; a signed-in user without a firm (e.g. a bare superuser) gets 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not is_firm_member(request.user):
            raise PermissionDenied("Your user is not a member of a firm.")
        return view(request, *args, **kwargs)

    return wrapper


def permission_required(rule: Callable[[User], bool]) -> Callable:
    """Wrap a view so that it runs only when ``rule(request.user)`` holds; otherwise 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @firm_member_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not rule(request.user):
                raise PermissionDenied("Your role does not allow this action.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator

"""Settings > Integrations > QuickBooks: connect, reconnect, disconnect and the integration defaults."""

import secrets
import time

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from qbsync.core.forms import add_service_errors
from qbsync.firms.permissions import (
    can_connect_quickbooks,
    can_manage_quickbooks,
    firm_member_required,
    permission_required,
)
from qbsync.quickbooks.errors import QboError

from .engine.connection import is_usable
from .engine.errors import SyncRequestError
from .forms import IntegrationDefaultsForm
from .models import BulkSyncPlan
from .selectors import (
    bulk_plan_context,
    connection_for_firm,
    first_sync_due_count,
    latest_bulk_plan,
    qbo_calls_this_month,
    service_item_rows,
)
from .services.connections import (
    ConnectionRealmMismatch,
    PickLists,
    connection_authorization_url,
    connection_connect,
    connection_disconnect,
    connection_pick_lists,
    connection_update_defaults,
    service_items_update,
)
from .work.bulk import bulk_sync_preview_start, bulk_sync_start

OAUTH_SESSION_KEY = "quickbooks_oauth"
OAUTH_STATE_MAX_AGE = 15 * 60
INTENT_CONNECT = "connect"
INTENT_START_OVER = "start_over"


def _pick_lists(connection) -> tuple[PickLists | None, str]:
    if not is_usable(connection):
        return None, ""
    try:
        return connection_pick_lists(connection=connection), ""
    except QboError as exc:
        return None, f"Could not read customer types and items from QuickBooks Online: {exc.message}"


def _settings_page(request: HttpRequest, *, form=None, pick_lists=None, status: int = 200) -> HttpResponse:
    connection = connection_for_firm(firm=request.firm)
    pick_error = ""
    if form is None and can_manage_quickbooks(request.user):
        pick_lists, pick_error = _pick_lists(connection)
        if pick_lists is not None:
            form = IntegrationDefaultsForm(
                initial=IntegrationDefaultsForm.initial_for(connection), pick_lists=pick_lists
            )
    return render(
        request,
        "sync/quickbooks_settings.html",
        {
            "connection": connection,
            "defaults_form": form,
            "pick_error": pick_error,
            "latest_plan": latest_bulk_plan(firm=request.firm),
            "first_sync_due": first_sync_due_count(firm=request.firm),
            "service_items": service_item_rows(firm=request.firm),
            "item_choices": pick_lists.items if pick_lists is not None else [],
            "qbo_calls": qbo_calls_this_month(firm=request.firm),
        },
        status=status,
    )


@firm_member_required
@require_GET
def quickbooks_settings(request: HttpRequest) -> HttpResponse:
    return _settings_page(request)


@permission_required(can_connect_quickbooks)
@require_POST
def quickbooks_connect(request: HttpRequest) -> HttpResponse:
    intent = INTENT_START_OVER if request.POST.get("intent") == INTENT_START_OVER else INTENT_CONNECT
    if intent == INTENT_START_OVER and request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm that starting over clears every QuickBooks link.")
        return redirect("quickbooks:settings")
    state = secrets.token_urlsafe(32)
    request.session[OAUTH_SESSION_KEY] = {
        "state": state,
        "intent": intent,
        "user_id": request.user.pk,
        "issued_at": time.time(),
    }
    try:
        return redirect(connection_authorization_url(state=state))
    except QboError as exc:
        messages.error(request, f"Could not start connecting to QuickBooks Online: {exc.message}")
        return redirect("quickbooks:settings")


def _callback_problem(
    request: HttpRequest, title: str, explanation: str, *, status: int = 400
) -> HttpResponse:
    return render(
        request,
        "sync/quickbooks_callback_problem.html",
        {"title": title, "explanation": explanation},
        status=status,
    )


@permission_required(can_connect_quickbooks)
@require_GET
def quickbooks_callback(request: HttpRequest) -> HttpResponse:
    """Where Intuit sends the owner back. Nothing is saved unless the state matches this session."""
    pending = request.session.pop(OAUTH_SESSION_KEY, None)
    state = request.GET.get("state", "")
    if (
        not pending
        or not state
        or not secrets.compare_digest(str(pending.get("state", "")), state)
        or pending.get("user_id") != request.user.pk
    ):
        return _callback_problem(
            request,
            "This connection attempt could not be verified",
            "The link back from QuickBooks did not match a connection you started in this browser session "
            "(it may have been opened twice, in another browser, or altered). Nothing was changed. "
            "Start again from Settings > Integrations > QuickBooks.",
            status=403,
        )
    if time.time() - float(pending.get("issued_at", 0)) > OAUTH_STATE_MAX_AGE:
        return _callback_problem(
            request,
            "This connection attempt expired",
            "More than 15 minutes passed between starting to connect and coming back. Nothing was changed. "
            "Start again.",
        )
    if request.GET.get("error"):
        denied = request.GET["error"] == "access_denied"
        return _callback_problem(
            request,
            "QuickBooks Online was not connected",
            "You chose not to allow qbsync to access the company, so nothing was connected or changed."
            if denied
            else f"QuickBooks Online reported a problem ({request.GET['error']}). Nothing was changed.",
        )
    code, realm_id = request.GET.get("code", ""), request.GET.get("realmId", "")
    if not code or not realm_id or not realm_id.isdigit():
        return _callback_problem(
            request,
            "QuickBooks Online did not say which company to connect",
            "The link back from QuickBooks had no company id (realmId) or no authorization code. Nothing was "
            "changed. Make sure you choose a QuickBooks Online company when asked, then start again.",
        )
    try:
        connection = connection_connect(
            firm=request.firm,
            user=request.user,
            code=code,
            realm_id=realm_id,
            start_over=pending.get("intent") == INTENT_START_OVER,
        )
    except ConnectionRealmMismatch as exc:
        return render(request, "sync/quickbooks_other_company.html", {"explanation": exc.message}, status=409)
    except QboError as exc:
        return _callback_problem(
            request,
            "QuickBooks Online was not connected",
            f"{exc.message}. Nothing was changed; start again.",
            status=502,
        )
    messages.success(
        request, f"Connected to QuickBooks Online company “{connection.company_name or realm_id}”."
    )
    return redirect("quickbooks:settings")


@permission_required(can_connect_quickbooks)
@require_POST
def quickbooks_disconnect(request: HttpRequest) -> HttpResponse:
    connection = connection_for_firm(firm=request.firm)
    if connection is None:
        raise PermissionDenied("No QuickBooks company is connected.")
    if connection_disconnect(connection=connection):
        messages.success(
            request, "Disconnected from QuickBooks Online. Account links are kept for a reconnect."
        )
    else:
        messages.warning(
            request,
            "Disconnected here, but QuickBooks Online did not confirm revoking access. To be sure, remove "
            "qbsync under Apps in QuickBooks Online.",
        )
    return redirect("quickbooks:settings")


@permission_required(can_manage_quickbooks)
@require_POST
def quickbooks_pick_lists_refresh(request: HttpRequest) -> HttpResponse:
    """Read customer types and items from QuickBooks now (one added there a moment ago)."""
    connection = connection_for_firm(firm=request.firm)
    if not is_usable(connection):
        messages.error(request, "Connect QuickBooks Online first.")
        return redirect("quickbooks:settings")
    try:
        connection_pick_lists(connection=connection, fresh=True)
    except QboError as exc:
        messages.error(
            request, f"Could not read customer types and items from QuickBooks Online: {exc.message}"
        )
    else:
        messages.success(request, "Customer types and items were read again from QuickBooks Online.")
    return redirect("quickbooks:settings")


@permission_required(can_manage_quickbooks)
@require_POST
def quickbooks_defaults(request: HttpRequest) -> HttpResponse:
    connection = connection_for_firm(firm=request.firm)
    pick_lists, pick_error = _pick_lists(connection)
    if pick_lists is None:
        messages.error(request, pick_error or "Connect QuickBooks Online first.")
        return redirect("quickbooks:settings")
    form = IntegrationDefaultsForm(request.POST, pick_lists=pick_lists)
    if form.is_valid():
        try:
            connection_update_defaults(
                connection=connection,
                auto_sync_scope=form.cleaned_data["auto_sync_scope"],
                customer_type_id=form.cleaned_data["default_customer_type"],
                item_id=form.cleaned_data["default_item"],
                sync_start_date=form.cleaned_data["sync_start_date"],
                pick_lists=pick_lists,
                first_sync_without_preview=form.cleaned_data["first_sync_without_preview"],
                actor=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Integration defaults saved.")
            return redirect("quickbooks:settings")
    return _settings_page(request, form=form, pick_lists=pick_lists, status=400)


# The first bulk sync -------------------------------------------------------------------------------


@permission_required(can_manage_quickbooks)
@require_POST
def bulk_preview(request: HttpRequest) -> HttpResponse:
    try:
        plan = bulk_sync_preview_start(firm=request.firm, actor=request.user)
    except SyncRequestError as exc:
        messages.error(request, str(exc))
        return redirect("quickbooks:settings")
    return redirect("quickbooks:bulk_plan", pk=plan.pk)


@permission_required(can_manage_quickbooks)
@require_GET
def bulk_plan(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_object_or_404(BulkSyncPlan.objects.for_firm(request.firm), pk=pk)
    return render(request, "sync/bulk_plan.html", bulk_plan_context(plan=plan))


@permission_required(can_manage_quickbooks)
@require_POST
def bulk_start(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_object_or_404(BulkSyncPlan.objects.for_firm(request.firm), pk=pk)
    try:
        bulk_sync_start(plan=plan, actor=request.user)
    except SyncRequestError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "The first sync has started. Accounts show Syncing until each settles.")
    return redirect("quickbooks:bulk_plan", pk=plan.pk)


@permission_required(can_manage_quickbooks)
@require_POST
def quickbooks_service_items(request: HttpRequest) -> HttpResponse:
    """Which QBO item each of the firm's services' invoice lines carry (blank: the default item)."""
    connection = connection_for_firm(firm=request.firm)
    pick_lists, pick_error = _pick_lists(connection)
    if pick_lists is None:
        messages.error(request, pick_error or "Connect QuickBooks Online first.")
        return redirect("quickbooks:settings")
    mapping = {
        int(key.removeprefix("item_")): value
        for key, value in request.POST.items()
        if key.startswith("item_") and key.removeprefix("item_").isdigit()
    }
    try:
        service_items_update(connection=connection, mapping=mapping, pick_lists=pick_lists)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Items for services saved.")
    return redirect("quickbooks:settings")

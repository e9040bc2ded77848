"""Settings > Integrations > QuickBooks: connect, reconnect, disconnect, the integration defaults and the
tax codes the firm's tax rates map to."""

import secrets
import time

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from qbsync.core.forms import add_service_errors
from qbsync.firms.permissions import (
    can_connect_quickbooks,
    can_manage_quickbooks,
    firm_member_required,
    permission_required,
)
from qbsync.quickbooks.errors import QboError
from qbsync.quickbooks.tax import TaxModel

from .engine.connection import is_usable
from .engine.errors import SyncRequestError
from .forms import IntegrationDefaultsForm
from .kinds.invoice_tax import connection_tax_model
from .models import BulkSyncPlan
from .selectors import (
    bulk_plan_context,
    connection_currency_status,
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
from .services.tax import (
    TaxMappingError,
    connection_tax_codes,
    tax_code_label,
    tax_mapping_rows,
    tax_mapping_save,
    tax_model_needs_mapping,
    tax_rate_taxes_text,
    untaxed_code_suggestion,
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


def _settings_page(
    request: HttpRequest, *, form=None, pick_lists=None, tax_codes: dict | None = None, status: int = 200
) -> HttpResponse:
    connection = connection_for_firm(firm=request.firm)
    pick_error = ""
    manager = can_manage_quickbooks(request.user)
    if form is None and manager:
        pick_lists, pick_error = _pick_lists(connection)
        if pick_lists is not None:
            form = IntegrationDefaultsForm(
                initial=IntegrationDefaultsForm.initial_for(connection), pick_lists=pick_lists
            )
    if tax_codes is None and manager:
        tax_codes = _tax_codes_block(connection)
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
            "tax_codes": tax_codes,
            "currency_status": connection_currency_status(connection=connection, firm=request.firm),
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


# Tax codes -----------------------------------------------------------------------------------------

TAX_MODEL_HOW = {
    TaxModel.GLOBAL: (
        "Every invoice line carries a tax code in QuickBooks. Choose for each tax rate the code that charges "
        "the same taxes (the same percentages, in the same order), so that QuickBooks books each invoice at "
        "the total the client was billed; only the codes that fit are offered."
    ),
    TaxModel.US_MANUAL: (
        "A US company applies one tax code (or tax group) to an invoice's taxable lines. Choose for each tax "
        "rate the code that charges the same percentage in all; only the codes that fit are offered."
    ),
}
TAX_NO_MAPPING = {
    TaxModel.US_NO_TAX: (
        "Nothing to map: the company has no sales tax set up, so invoices go to QuickBooks without tax. An "
        "invoice that charges tax here is not sent, and says why: turn sales tax on in QuickBooks Online to "
        "send it."
    ),
    TaxModel.US_AST: (
        "Nothing to map: QuickBooks works out the sales tax itself from each customer's address (automated "
        "sales tax). qbsync sends the tax billed here with each invoice, so QuickBooks books the total the "
        "client was billed."
    ),
}
TAX_MODEL_NOT_READ = (
    "The company's tax settings have not been read yet. qbsync reads them with the company's preferences "
    "before it sends the next invoice (reconnecting reads them at once); the tax codes show here then."
)

TAX_NONE_FITS = (
    "No QuickBooks tax code charges {taxes}: create one in QuickBooks Online, then read the tax codes again."
)


def _option(code_id: str, label: str, selected: str) -> tuple[str, str, bool]:
    return code_id, label, code_id == selected


def _tax_codes_block(
    connection, *, posted: dict[int, str] | None = None, untaxed_posted: str | None = None, errors=None
) -> dict:
    """The Tax codes block of the QuickBooks page: the company's tax model and, where codes are needed, a
    row per tax rate with the codes that fit it. The codes are read only when none are kept (or they are a
    day old); ``posted`` and ``errors`` re-show a refused save."""
    errors = dict(errors or {})
    block: dict = {"model": None, "needs_mapping": False, "rows": [], "untaxed": None, "general_errors": []}
    if not is_usable(connection):
        return block
    model = connection_tax_model(connection)
    block["model"] = model
    if model is None:
        block["explanation"] = TAX_MODEL_NOT_READ
        return block
    if not tax_model_needs_mapping(model):
        block["explanation"] = TAX_NO_MAPPING[model]
        return block
    block["needs_mapping"] = True
    block["explanation"] = TAX_MODEL_HOW[model]
    try:
        codes = connection_tax_codes(connection=connection)
    except QboError as exc:
        block["read_error"] = f"Could not read the tax codes from QuickBooks Online: {exc.message}"
        return block
    by_id = {code.id: code for code in codes}
    for row in tax_mapping_rows(connection=connection, codes=codes):
        taxes = tax_rate_taxes_text(row.rate)
        selected = posted.get(row.rate.pk, "") if posted is not None else row.chosen_id
        fitting = {code.id for code in row.codes}
        if selected not in fitting:
            selected = ""  # only the codes that fit are offered
        stale = ""
        if row.chosen_id and not row.suggested and row.chosen_id not in fitting:
            stale = (
                f"The code chosen before, “{by_id[row.chosen_id].name}”, no longer charges {taxes} in "
                "QuickBooks: choose another, or correct the code there."
            )
        options = [_option("", "Not mapped", selected)] + [
            _option(
                code.id,
                tax_code_label(code) + (" (suggested)" if row.suggested and code.id == row.chosen_id else ""),
                selected,
            )
            for code in row.codes
        ]
        block["rows"].append(
            {
                "rate": row.rate,
                "taxes": taxes,
                "field": f"code_{row.rate.pk}",
                "options": options,
                "none_fit": "" if row.codes else TAX_NONE_FITS.format(taxes=taxes),
                "stale": stale,
                "error": errors.pop(row.rate.pk, ""),
            }
        )
    if model == TaxModel.GLOBAL:
        suggestion = untaxed_code_suggestion(connection, codes)
        untaxed = [code for code in codes if not code.percent]
        selected = untaxed_posted if untaxed_posted is not None else suggestion
        if selected not in {code.id for code in untaxed}:
            selected = ""
        suggested = not connection.untaxed_tax_code_id
        block["untaxed"] = {
            "options": [_option("", "Not chosen", selected)]
            + [
                _option(
                    code.id,
                    tax_code_label(code) + (" (suggested)" if suggested and code.id == suggestion else ""),
                    selected,
                )
                for code in untaxed
            ],
            "error": errors.pop(0, ""),
        }
    block["general_errors"] = list(errors.values())
    return block


def _tax_connection(request: HttpRequest):
    """The firm's connection when its tax codes can be read or saved now; None (with a message) if not."""
    connection = connection_for_firm(firm=request.firm)
    if not is_usable(connection):
        messages.error(request, "Connect QuickBooks Online first.")
        return None
    if not tax_model_needs_mapping(connection_tax_model(connection)):
        messages.error(request, "This QuickBooks company needs no tax codes mapped (see Tax codes).")
        return None
    return connection


@permission_required(can_manage_quickbooks)
@require_POST
def quickbooks_tax_codes_save(request: HttpRequest) -> HttpResponse:
    """Save the QuickBooks tax code of each of the firm's tax rates (and of lines without one); the invoices
    that failed for want of them go again."""
    connection = _tax_connection(request)
    if connection is None:
        return redirect("quickbooks:settings")
    choices = {
        int(key.removeprefix("code_")): value
        for key, value in request.POST.items()
        if key.startswith("code_") and key.removeprefix("code_").isdigit()
    }
    untaxed = request.POST.get("untaxed_code", "")
    try:
        sent = tax_mapping_save(
            connection=connection, actor=request.user, choices=choices, untaxed_code_id=untaxed
        )
    except TaxMappingError as exc:
        messages.error(request, "The tax codes were not saved: see below.")
        block = _tax_codes_block(connection, posted=choices, untaxed_posted=untaxed, errors=exc.errors)
        return _settings_page(request, tax_codes=block, status=400)
    again = (
        f" {sent} invoice{'s' if sent != 1 else ''} that waited for a tax code went to QuickBooks again."
        if sent
        else ""
    )
    messages.success(request, f"Tax codes saved.{again}")
    return redirect(f"{reverse('quickbooks:settings')}#tax-codes")


@permission_required(can_manage_quickbooks)
@require_POST
def quickbooks_tax_codes_refresh(request: HttpRequest) -> HttpResponse:
    """Read the company's tax codes now (one added in QuickBooks a moment ago); two reads."""
    connection = _tax_connection(request)
    if connection is None:
        return redirect("quickbooks:settings")
    try:
        connection_tax_codes(connection=connection, fresh=True)
    except QboError as exc:
        messages.error(request, f"Could not read the tax codes from QuickBooks Online: {exc.message}")
    else:
        messages.success(request, "The tax codes were read again from QuickBooks Online.")
    return redirect(f"{reverse('quickbooks:settings')}#tax-codes")

"""Client account pages. Each view checks the role, reads through a selector or calls a service, renders."""

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from invoices.selectors import invoice_list, payment_list
from qbsync.core.forms import add_service_errors
from qbsync.firms.permissions import (
    can_edit_practice_data,
    can_manage_quickbooks,
    firm_member_required,
    permission_required,
)
from qbsync.health.selectors import LATEST_HISTORY, HistoryFilter, sync_history
from qbsync.quickbooks.errors import QboError
from qbsync.sync.engine.errors import SyncRequestError
from qbsync.sync.engine.states import SyncState
from qbsync.sync.kinds.accounts import UNSYNCED_MESSAGE, account_sync_request, account_sync_skip
from qbsync.sync.models import AccountSyncLink, QuickBooksConnection
from qbsync.sync.selectors import (
    account_sync_counts,
    connection_for_firm,
    qbo_customer_search,
)
from qbsync.sync.status import DISPLAY_ORDER, account_tooltip

from .forms import AccountForm, AccountSyncRequestForm
from .models import Account
from .selectors import account_list, account_sync_status_list
from .services import account_archive, account_create, account_restore, account_update

ACCOUNTS_PER_PAGE = 50
ACCOUNT_TABS = {"info": "Info"}
# The list polls at most a page of rows at once.
SYNC_STATUS_MAX_IDS = ACCOUNTS_PER_PAGE * 2
NOT_CONNECTED = "Not connected"
NOT_CONNECTED_TOOLTIP = "QuickBooks Online is not connected yet, so this account is not synced."


# QuickBooks status, as the list, the Info tab and the status poll show it ------------------------------


@dataclass(frozen=True)
class QuickBooksBadge:
    """One account's QuickBooks status: one of the five statuses (or "Not connected") and its tooltip."""

    label: str
    tooltip: str

    @property
    def slug(self) -> str:
        return slugify(self.label)


def _is_connected(connection: QuickBooksConnection | None) -> bool:
    """Statuses mean something while the firm has a connection, even one that needs reconnecting."""
    return connection is not None and connection.status != QuickBooksConnection.Status.DISCONNECTED


def _link_of(account: Account) -> AccountSyncLink | None:
    # Loaded with select_related("sync_link"): no query, and None when the account was never synced.
    return getattr(account, "sync_link", None)


def quickbooks_badge(account: Account, *, connected: bool) -> QuickBooksBadge:
    if not connected:
        return QuickBooksBadge(NOT_CONNECTED, NOT_CONNECTED_TOOLTIP)
    link = _link_of(account)
    if link is None:
        return QuickBooksBadge("Not synced", account_tooltip(SyncState.NOT_SYNCED))
    return QuickBooksBadge(link.display_status, link.tooltip)


def _quickbooks_section_context(
    account: Account, *, connection: QuickBooksConnection | None, history: HistoryFilter = LATEST_HISTORY
) -> dict:
    connected = _is_connected(connection)
    return {
        "account": account,
        "badge": quickbooks_badge(account, connected=connected),
        "link": _link_of(account),
        "connected": connected,
        "sync_events": sync_history(firm=account.firm_id, account=account, history=history)
        if connected
        else [],
        **history.context(),
    }


# Pages -------------------------------------------------------------------------------------------------


@firm_member_required
def account_list_view(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    archived = request.GET.get("status") == "archived"
    sync_status = request.GET.get("qb", "")
    if sync_status not in DISPLAY_ORDER:
        sync_status = ""
    connection = connection_for_firm(firm=request.firm)
    connected = _is_connected(connection)
    accounts = account_list(firm=request.firm, search=search, archived=archived, sync_status=sync_status)
    page = Paginator(accounts, ACCOUNTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/account_list.html",
        {
            "page": page,
            "rows": [(account, quickbooks_badge(account, connected=connected)) for account in page],
            "search": search,
            "archived": archived,
            "sync_status": sync_status,
            # The counts are of active accounts: shown next to the active list only.
            "sync_counts": account_sync_counts(firm=request.firm) if connected and not archived else {},
        },
    )


@firm_member_required
def account_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(account_list(firm=request.firm, archived=None), pk=pk)
    tab = request.GET.get("tab", "info")
    if tab not in ACCOUNT_TABS:
        tab = "info"
    return render(
        request,
        "accounts/account_detail.html",
        {
            "tab": tab,
            "tabs": ACCOUNT_TABS,
            "invoices": invoice_list(firm=request.firm, account=account),
            "payments": payment_list(firm=request.firm, account=account),
        }
        | _quickbooks_section_context(
            account,
            connection=connection_for_firm(firm=request.firm),
            history=HistoryFilter.from_query(request.GET),
        ),
    )


def _ids(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip().isdigit()][:SYNC_STATUS_MAX_IDS]


@require_GET
@firm_member_required
def account_sync_status_view(request: HttpRequest) -> JsonResponse:
    """The current QuickBooks status of the firm's accounts among ``?ids=``, for rows that are syncing.

    ``{"<id>": {"status": "Synced", "html": "<the status cell>"}}``; ids of other firms are simply absent.
    With ``&section=<id>`` that account's entry also carries its Info-tab QuickBooks section.
    """
    section_id = request.GET.get("section", "")
    connection = connection_for_firm(firm=request.firm)
    connected = _is_connected(connection)
    statuses = {}
    for account in account_sync_status_list(firm=request.firm, ids=_ids(request.GET.get("ids", ""))):
        badge = quickbooks_badge(account, connected=connected)
        entry = {
            "status": badge.label,
            "html": render_to_string("accounts/_quickbooks_cell.html", {"account": account, "badge": badge}),
        }
        if str(account.pk) == section_id:
            entry["section"] = render_to_string(
                "accounts/_quickbooks_section.html",
                # The page's history filter, passed along by the poll, so the refreshed section keeps it.
                _quickbooks_section_context(
                    account, connection=connection, history=HistoryFilter.from_query(request.GET)
                ),
                request=request,
            )
        statuses[str(account.pk)] = entry
    response = JsonResponse(statuses)
    response["Cache-Control"] = "no-store"
    return response


@permission_required(can_edit_practice_data)
def account_create_view(request: HttpRequest) -> HttpResponse:
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = account_create(firm=request.firm, data=form.to_data())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Account “{account.name}” created.")
            return redirect("accounts:detail", pk=account.pk)
    return render(request, "accounts/account_form.html", {"form": form, "account": None})


@permission_required(can_edit_practice_data)
def account_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(Account.objects.for_firm(request.firm), pk=pk)
    form = AccountForm(request.POST or None, initial=AccountForm.initial_for(account))
    if request.method == "POST" and form.is_valid():
        try:
            account = account_update(account=account, data=form.to_data())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Account “{account.name}” saved.")
            return redirect("accounts:detail", pk=account.pk)
    return render(request, "accounts/account_form.html", {"form": form, "account": account})


@require_POST
@permission_required(can_edit_practice_data)
def account_archive_view(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(Account.objects.for_firm(request.firm), pk=pk)
    account_archive(account=account)
    messages.success(request, f"Account “{account.name}” archived. Its invoices and payments are kept.")
    return redirect("accounts:detail", pk=account.pk)


@require_POST
@permission_required(can_edit_practice_data)
def account_restore_view(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(Account.objects.for_firm(request.firm), pk=pk)
    account_restore(account=account)
    messages.success(request, f"Account “{account.name}” restored.")
    return redirect("accounts:detail", pk=account.pk)


# Sync Account to QuickBooks -------------------------------------------------------------------------------


def _picker_page(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and int(raw) > 0 else 1


def _quickbooks_page(
    request: HttpRequest, account: Account, *, failed_form: AccountSyncRequestForm | None = None
) -> HttpResponse:
    """The sync page: sync by name, pick a customer from the company, or create a new one.

    ``failed_form`` is a POST the service refused; its errors are shown where they belong (status 400).
    """
    connection = connection_for_firm(firm=request.firm)
    term = request.GET.get("q", "").strip()
    page = _picker_page(request.GET.get("page"))
    customers, has_more, picker_error = [], False, ""
    if connection is not None and connection.is_usable:
        try:
            customers, has_more = qbo_customer_search(firm=request.firm, term=term, page=page)
        except QboError as exc:
            picker_error = exc.message
    refused = failed_form is not None
    failed_mode = failed_form.data.get("mode") if refused else None
    if failed_mode == AccountSyncLink.RequestMode.CREATE:
        create_form, failed_form = failed_form, None
    else:
        create_form = AccountSyncRequestForm.create_for(account)
    return render(
        request,
        "accounts/account_quickbooks.html",
        {
            "account": account,
            "link": _link_of(account),
            "badge": quickbooks_badge(account, connected=_is_connected(connection)),
            "connection": connection,
            "term": term,
            "picker_page": page,
            "customers": customers,
            "has_more": has_more,
            "picker_error": picker_error,
            "create_form": create_form,
            "failed_form": failed_form,
            "modes": AccountSyncLink.RequestMode,
        },
        status=400 if refused else 200,
    )


@permission_required(can_manage_quickbooks)
def account_quickbooks_view(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(Account.objects.for_firm(request.firm).select_related("sync_link"), pk=pk)
    return _quickbooks_page(request, account)


def _sync_requested_message(account: Account, mode: str, display_name: str) -> str:
    if mode == AccountSyncLink.RequestMode.PICK:
        return f"Syncing “{account.name}”: linking the QuickBooks customer you picked."
    if mode == AccountSyncLink.RequestMode.CREATE:
        return f"Syncing “{account.name}”: creating the QuickBooks customer “{display_name}”."
    return f"Syncing “{account.name}”: matching a QuickBooks customer by name, or creating one."


@require_POST
@permission_required(can_manage_quickbooks)
def account_quickbooks_sync_view(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(Account.objects.for_firm(request.firm).select_related("sync_link"), pk=pk)
    form = AccountSyncRequestForm(request.POST)
    if form.is_valid():
        try:
            link = account_sync_request(account=account, actor=request.user, **form.cleaned_data)
        except SyncRequestError as exc:
            messages.error(request, str(exc))
            return redirect("accounts:detail", pk=account.pk)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            name = link.requested_display_name
            messages.success(request, _sync_requested_message(account, form.cleaned_data["mode"], name))
            return redirect("accounts:detail", pk=account.pk)
    return _quickbooks_page(request, account, failed_form=form)


@require_POST
@permission_required(can_manage_quickbooks)
def account_quickbooks_skip_view(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Do not sync this account", or "Unsync" for a synced one: nothing is deleted in QuickBooks."""
    account = get_object_or_404(Account.objects.for_firm(request.firm).select_related("sync_link"), pk=pk)
    link = _link_of(account)
    was_synced = link is not None and link.state == SyncState.SYNCED
    try:
        account_sync_skip(account=account, actor=request.user)
    except SyncRequestError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            UNSYNCED_MESSAGE
            if was_synced
            else f"“{account.name}” will not sync to QuickBooks Online until you sync it again.",
        )
    return redirect("accounts:detail", pk=account.pk)

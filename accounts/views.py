"""Client account pages. Each view checks the role, reads through a selector or calls a service, renders."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from invoices.selectors import invoice_list, payment_list
from qbsync.core.forms import add_service_errors
from qbsync.firms.permissions import (
    can_edit_practice_data,
    can_manage_quickbooks,
    firm_member_required,
    permission_required,
)
from qbsync.quickbooks.errors import QboError
from qbsync.sync.display import DISPLAY_ORDER, account_badge, sync_link_of
from qbsync.sync.engine.connection import has_company
from qbsync.sync.engine.errors import SyncRequestError
from qbsync.sync.kinds.accounts import (
    UNSYNCED_MESSAGE,
    account_sync_request,
    account_sync_skip,
    account_sync_suggestion,
)
from qbsync.sync.models import AccountSyncLink
from qbsync.sync.selectors import (
    HistoryFilter,
    account_sync_counts,
    connection_for_firm,
    first_sync_due_count,
    qbo_customer_search,
)
from qbsync.sync.states import SyncState
from qbsync.sync.status_views import StatusPages

from .forms import AccountForm, AccountSyncRequestForm
from .models import Account
from .selectors import account_list, account_sync_status_list
from .services import account_archive, account_create, account_restore, account_update

ACCOUNTS_PER_PAGE = 50
ACCOUNT_TABS = {"info": "Info"}
# The list polls at most a page of rows at once.
SYNC_STATUS_MAX_IDS = ACCOUNTS_PER_PAGE * 2
ACCOUNT_STATUS_PAGES = StatusPages(
    kind="account",
    badge=account_badge,
    records=account_sync_status_list,
    cell_template="accounts/_quickbooks_cell.html",
    section_template="accounts/_quickbooks_section.html",
    max_ids=SYNC_STATUS_MAX_IDS,
)


# Pages -------------------------------------------------------------------------------------------------


@firm_member_required
def account_list_view(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    archived = request.GET.get("status") == "archived"
    sync_status = request.GET.get("qb", "")
    if sync_status not in DISPLAY_ORDER:
        sync_status = ""
    connected = has_company(connection_for_firm(firm=request.firm))
    accounts = account_list(firm=request.firm, search=search, archived=archived, sync_status=sync_status)
    page = Paginator(accounts, ACCOUNTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/account_list.html",
        {
            "page": page,
            "rows": [(account, account_badge(account, connected=connected)) for account in page],
            "search": search,
            "archived": archived,
            "sync_status": sync_status,
            # The counts are of active accounts: shown next to the active list only.
            "sync_counts": account_sync_counts(firm=request.firm, search=search)
            if connected and not archived
            else {},
            "first_sync_due": first_sync_due_count(firm=request.firm) if connected else 0,
        },
    )


@require_GET
@firm_member_required
def account_sync_counts_view(request: HttpRequest) -> JsonResponse:
    """The list's status counts for ``?q=`` (its search), which the page asks for while any account shows
    Syncing, so the counts follow rows that settle by themselves: ``{"Synced": 3, "Syncing": 0, ...}``."""
    counts = account_sync_counts(firm=request.firm, search=request.GET.get("q", ""))
    response = JsonResponse({str(status): count for status, count in counts.items()})
    response["Cache-Control"] = "no-store"
    return response


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
        | ACCOUNT_STATUS_PAGES.section_context(
            account,
            connected=has_company(connection_for_firm(firm=request.firm)),
            history=HistoryFilter.from_query(request.GET),
        ),
    )


# The QuickBooks status of the firm's accounts among ``?ids=``, with ``&section=`` the Info tab's section.
account_sync_status_view = ACCOUNT_STATUS_PAGES.poll_view()


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
    picker, picker_error = None, ""
    if connection is not None and connection.is_usable:
        try:
            picker = qbo_customer_search(firm=request.firm, term=term, page=page, account=account)
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
            "link": sync_link_of(account),
            "badge": account_badge(account, connected=has_company(connection)),
            "connection": connection,
            "term": term,
            "picker_page": page,
            "customers": picker.rows if picker else [],
            "has_more": picker.has_more if picker else False,
            "picker": picker,
            "suggestion": account_sync_suggestion(sync_link_of(account)),
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
            link = account_sync_request(
                account=account, actor=request.user, check_name_in_qbo=True, **form.cleaned_data
            )
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
    link = sync_link_of(account)
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

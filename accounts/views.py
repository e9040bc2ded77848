"""Client account pages. Each view checks the role, reads through a selector or calls a service, renders."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from invoices.selectors import invoice_list, payment_list
from qbsync.core.forms import add_service_errors
from qbsync.firms.permissions import can_edit_practice_data, firm_member_required, permission_required

from .forms import AccountForm
from .models import Account
from .selectors import account_list
from .services import account_archive, account_create, account_restore, account_update

ACCOUNTS_PER_PAGE = 50
ACCOUNT_TABS = {"info": "Info"}


@firm_member_required
def account_list_view(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    archived = request.GET.get("status") == "archived"
    accounts = account_list(firm=request.firm, search=search, archived=archived)
    page = Paginator(accounts, ACCOUNTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/account_list.html",
        {"page": page, "search": search, "archived": archived},
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
            "account": account,
            "tab": tab,
            "tabs": ACCOUNT_TABS,
            "invoices": invoice_list(firm=request.firm, account=account),
            "payments": payment_list(firm=request.firm, account=account),
        },
    )


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

"""Sync health pages for owners and admins: the QuickBooks errors page and its fixes, the reconciliation
report, and their notices. Each view checks the role, calls a selector or one service, renders."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Account
from invoices.models import Invoice, Payment
from qbsync.firms.permissions import can_manage_quickbooks, permission_required
from qbsync.sync.selectors import connection_for_firm

from .causes import CREATE, RELINK, RETRY, SKIP, guide_for
from .selectors import (
    ACCOUNT,
    INVOICE,
    PAYMENT,
    failure_groups,
    latest_reconciliation,
    notifications_for,
    reconciliation_history,
    user_notifications,
)
from .services.fixes import (
    FixRefused,
    account_create_under_name,
    account_retry,
    failed_group_retry,
    invoice_retry,
    payment_retry,
    record_skip,
)
from .services.notifications import notification_mark_read, notifications_mark_all_read
from .services.reconciliation import ReconciliationRefused, reconciliation_request

# The errors page --------------------------------------------------------------------------------------


@require_GET
@permission_required(can_manage_quickbooks)
def errors_page(request: HttpRequest) -> HttpResponse:
    groups = failure_groups(firm=request.firm)
    return render(
        request,
        "health/errors.html",
        {
            "groups": groups,
            "total": sum(g.count for g in groups),
            "connection": connection_for_firm(firm=request.firm),
            "actions": {"retry": RETRY, "relink": RELINK, "create": CREATE, "skip": SKIP},
        },
    )


def _back(request: HttpRequest, anchor: str = "") -> HttpResponse:
    response = redirect("health:errors")
    if anchor:
        response["Location"] += f"#{anchor}"
    return response


def _apply(request: HttpRequest, fix, success: str, **kwargs) -> HttpResponse:
    try:
        fix(**kwargs)
    except FixRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success)
    return _back(request)


@require_POST
@permission_required(can_manage_quickbooks)
def errors_retry_group(request: HttpRequest) -> HttpResponse:
    cause = request.POST.get("cause", "")
    title = guide_for(cause).title
    try:
        result = failed_group_retry(firm=request.firm, cause=cause, actor=request.user)
    except FixRefused as exc:
        messages.error(request, str(exc))
        return _back(request)
    if result.requested:
        messages.success(
            request,
            f"{title}: {result.requested} record{'s' if result.requested != 1 else ''} asked to sync again.",
        )
    for label, why in result.refused:
        messages.error(request, f"{label}: {why}")
    if not result.requested and not result.refused:
        messages.info(request, f"{title}: nothing is Failed for this cause any more.")
    return _back(request)


def _account(request: HttpRequest, pk: int) -> Account:
    return get_object_or_404(Account.objects.for_firm(request.firm), pk=pk)


def _invoice(request: HttpRequest, pk: int) -> Invoice:
    return get_object_or_404(Invoice.objects.for_firm(request.firm), pk=pk)


def _payment(request: HttpRequest, pk: int) -> Payment:
    return get_object_or_404(Payment.objects.for_firm(request.firm), pk=pk)


@require_POST
@permission_required(can_manage_quickbooks)
def errors_account_retry(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    return _apply(
        request, account_retry, f"“{account.name}” asked to sync again.", account=account, actor=request.user
    )


@require_POST
@permission_required(can_manage_quickbooks)
def errors_account_create(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    name = request.POST.get("display_name", "")
    return _apply(
        request,
        account_create_under_name,
        f"Syncing “{account.name}”: creating the QuickBooks customer “{' '.join(name.split())}”.",
        account=account,
        actor=request.user,
        display_name=name,
    )


@require_POST
@permission_required(can_manage_quickbooks)
def errors_account_skip(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    return _apply(
        request,
        record_skip,
        f"“{account.name}” will not sync until you sync it again.",
        kind=ACCOUNT,
        record=account,
        actor=request.user,
    )


@require_POST
@permission_required(can_manage_quickbooks)
def errors_invoice_retry(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = _invoice(request, pk)
    return _apply(
        request,
        invoice_retry,
        f"Invoice {invoice.number} asked to sync again.",
        invoice=invoice,
        actor=request.user,
    )


@require_POST
@permission_required(can_manage_quickbooks)
def errors_invoice_skip(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = _invoice(request, pk)
    return _apply(
        request,
        record_skip,
        f"Invoice {invoice.number} will not sync; nothing changes in QuickBooks.",
        kind=INVOICE,
        record=invoice,
        actor=request.user,
    )


@require_POST
@permission_required(can_manage_quickbooks)
def errors_payment_retry(request: HttpRequest, pk: int) -> HttpResponse:
    payment = _payment(request, pk)
    return _apply(
        request, payment_retry, "The payment was asked to sync again.", payment=payment, actor=request.user
    )


@require_POST
@permission_required(can_manage_quickbooks)
def errors_payment_skip(request: HttpRequest, pk: int) -> HttpResponse:
    payment = _payment(request, pk)
    return _apply(
        request,
        record_skip,
        "The payment will not sync; nothing changes in QuickBooks.",
        kind=PAYMENT,
        record=payment,
        actor=request.user,
    )


# Reconciliation ----------------------------------------------------------------------------------------


@require_GET
@permission_required(can_manage_quickbooks)
def reconciliation_page(request: HttpRequest) -> HttpResponse:
    report = latest_reconciliation(firm=request.firm)
    return render(
        request,
        "health/reconciliation.html",
        {
            "report": report,
            "history": reconciliation_history(firm=request.firm),
            # A report past its lease will not finish: no refreshing, and the button asks for a new one.
            "refresh": report is not None and report.is_open and not report.is_stalled,
            "stalled": report is not None and report.is_stalled,
            "full_days": settings.QBSYNC_RECONCILIATION_FULL_DAYS,
        },
    )


@require_POST
@permission_required(can_manage_quickbooks)
def reconciliation_start(request: HttpRequest) -> HttpResponse:
    try:
        reconciliation_request(firm=request.firm, actor=request.user)
    except ReconciliationRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Reconciliation started: QuickBooks totals are being compared.")
    return redirect("health:reconciliation")


# Notifications ---------------------------------------------------------------------------------------


@require_GET
@permission_required(can_manage_quickbooks)
def notification_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "health/notifications.html", {"notifications": notifications_for(user=request.user)}
    )


@require_POST
@permission_required(can_manage_quickbooks)
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    # Only the signed-in user's own notices are found: another's id is a 404, as in every firm page.
    notice = get_object_or_404(user_notifications(user=request.user), pk=pk)
    notification_mark_read(user=request.user, notification_id=pk)
    if notice.url and request.POST.get("open"):
        return redirect(notice.url)
    return redirect("health:notifications")


@require_POST
@permission_required(can_manage_quickbooks)
def notification_read_all(request: HttpRequest) -> HttpResponse:
    notifications_mark_all_read(user=request.user)
    return redirect("health:notifications")

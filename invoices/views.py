"""Invoice and payment pages. Each view checks the role, reads through a selector or calls a service,
renders or redirects. Payments live here with the invoices they pay."""

from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Account
from accounts.selectors import account_choices
from qbsync.firms.permissions import (
    can_edit_practice_data,
    can_manage_quickbooks,
    firm_member_required,
    permission_required,
)
from qbsync.sync.display import DISPLAY_ORDER, invoice_badge, payment_badge
from qbsync.sync.engine.connection import has_company
from qbsync.sync.engine.errors import SyncRequestError
from qbsync.sync.kinds.invoices import invoice_sync_again, invoice_sync_skip
from qbsync.sync.kinds.payments import payment_sync_again, payment_sync_skip
from qbsync.sync.selectors import HistoryFilter, connection_for_firm
from qbsync.sync.status_views import StatusPages, quickbooks_section_context

from .forms import (
    AllocationFormSet,
    InvoiceForm,
    InvoiceLineFormSet,
    PaymentForm,
    add_invoice_errors,
    add_payment_errors,
    invoice_data,
    invoice_lines_initial,
    payment_data,
)
from .models import Invoice, Payment
from .selectors import (
    invoice_allocation_list,
    invoice_line_list,
    invoice_list,
    invoice_sync_status_list,
    payment_allocation_candidates,
    payment_allocation_list,
    service_choices,
)
from .services import (
    invoice_create,
    invoice_delete,
    invoice_next_number,
    invoice_send,
    invoice_update,
    invoice_void,
    payment_create,
    payment_delete,
    payment_update,
)

INVOICES_PER_PAGE = 50
DEFAULT_PAYMENT_TERMS = timedelta(days=30)
# The list polls at most a page of rows at once.
SYNC_STATUS_MAX_IDS = INVOICES_PER_PAGE * 2
INVOICE_STATUS_PAGES = StatusPages(
    kind="invoice",
    badge=invoice_badge,
    records=invoice_sync_status_list,
    cell_template="invoices/_quickbooks_cell.html",
    section_template="invoices/_quickbooks_section.html",
    max_ids=SYNC_STATUS_MAX_IDS,
)


def _account_from_query(request: HttpRequest) -> Account | None:
    """The account named by ``?account=<pk>``: another firm's (or a malformed) id is a 404."""
    raw = request.GET.get("account", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404("No such account.")
    return get_object_or_404(Account.objects.for_firm(request.firm), pk=int(raw))


# Invoices ----------------------------------------------------------------------------------------


@firm_member_required
def invoice_list_view(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    if status not in Invoice.Status.values:
        status = ""
    connected = has_company(connection_for_firm(firm=request.firm))
    sync_status = request.GET.get("qb", "")
    if sync_status not in DISPLAY_ORDER or not connected:
        sync_status = ""
    invoices = invoice_list(firm=request.firm, search=search, status=status, sync_status=sync_status)
    page = Paginator(invoices, INVOICES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "invoices/invoice_list.html",
        {
            "page": page,
            "rows": [(invoice, invoice_badge(invoice, connected=connected)) for invoice in page],
            "search": search,
            "status": status,
            "statuses": Invoice.Status.choices,
            "connected": connected,
            "sync_status": sync_status,
            "sync_statuses": DISPLAY_ORDER,
        },
    )


@firm_member_required
def invoice_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(
        Invoice.objects.for_firm(request.firm).select_related("account", "sync_link"), pk=pk
    )
    return render(
        request,
        "invoices/invoice_detail.html",
        {
            "lines": invoice_line_list(invoice=invoice),
            "allocations": invoice_allocation_list(invoice=invoice),
        }
        | INVOICE_STATUS_PAGES.section_context(
            invoice,
            connected=has_company(connection_for_firm(firm=request.firm)),
            history=HistoryFilter.from_query(request.GET),
        ),
    )


# The QuickBooks status of the firm's invoices among ``?ids=``, with ``&section=`` the invoice page's section.
invoice_sync_status_view = INVOICE_STATUS_PAGES.poll_view()


def _invoice_form_page(
    request: HttpRequest, *, invoice: Invoice | None, initial: dict, lines_initial: list[dict]
) -> HttpResponse:
    """The create and edit pages share everything but the service they call."""
    firm = request.firm
    current_account = invoice.account if invoice else initial.get("account")
    used_services = tuple(line["service"] for line in lines_initial if line.get("service"))
    data = request.POST if request.method == "POST" else None
    form = InvoiceForm(data, initial=initial, accounts=account_choices(firm=firm, include=current_account))
    lines = InvoiceLineFormSet(
        data,
        initial=lines_initial,
        prefix="lines",
        form_kwargs={"services": service_choices(firm=firm, include_ids=used_services)},
    )
    if data is not None and form.is_valid() and lines.is_valid():
        try:
            if invoice is None:
                send_now = request.POST.get("action") == "send"
                status = Invoice.Status.SENT if send_now else Invoice.Status.DRAFT
                saved = invoice_create(firm=firm, data=invoice_data(form, lines), status=status)
                messages.success(request, f"Invoice {saved.number} created{' and sent' if send_now else ''}.")
            else:
                saved = invoice_update(invoice=invoice, data=invoice_data(form, lines))
                messages.success(request, f"Invoice {saved.number} saved.")
        except ValidationError as exc:
            add_invoice_errors(form, lines, exc)
        else:
            return redirect("invoices:detail", pk=saved.pk)
    return render(request, "invoices/invoice_form.html", {"form": form, "lines": lines, "invoice": invoice})


@permission_required(can_edit_practice_data)
def invoice_create_view(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    initial = {
        "account": _account_from_query(request),
        "number": invoice_next_number(firm=request.firm),
        "issue_date": today,
        "due_date": today + DEFAULT_PAYMENT_TERMS,
    }
    return _invoice_form_page(request, invoice=None, initial=initial, lines_initial=[])


@permission_required(can_edit_practice_data)
def invoice_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(Invoice.objects.for_firm(request.firm).select_related("account"), pk=pk)
    if invoice.status == Invoice.Status.VOID:
        messages.error(request, "A void invoice cannot be changed.")
        return redirect("invoices:detail", pk=invoice.pk)
    initial = {
        "account": invoice.account,
        "number": invoice.number,
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "memo": invoice.memo,
    }
    lines_initial = invoice_lines_initial(invoice_line_list(invoice=invoice))
    return _invoice_form_page(request, invoice=invoice, initial=initial, lines_initial=lines_initial)


def _invoice_action(request: HttpRequest, pk: int, action, done: str) -> HttpResponse:
    invoice = get_object_or_404(Invoice.objects.for_firm(request.firm), pk=pk)
    try:
        action(invoice=invoice)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, done.format(number=invoice.number))
    return redirect("invoices:detail", pk=invoice.pk)


@require_POST
@permission_required(can_edit_practice_data)
def invoice_send_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _invoice_action(request, pk, invoice_send, "Invoice {number} marked as sent.")


@require_POST
@permission_required(can_edit_practice_data)
def invoice_void_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _invoice_action(request, pk, invoice_void, "Invoice {number} voided.")


@require_POST
@permission_required(can_edit_practice_data)
def invoice_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(Invoice.objects.for_firm(request.firm), pk=pk)
    try:
        invoice_delete(invoice=invoice)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("invoices:detail", pk=invoice.pk)
    messages.success(request, f"Invoice {invoice.number} deleted.")
    return redirect("accounts:detail", pk=invoice.account_id)


# Payments ----------------------------------------------------------------------------------------


@firm_member_required
def payment_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    payment = get_object_or_404(
        Payment.objects.for_firm(request.firm).select_related("account", "sync_link"), pk=pk
    )
    connected = has_company(connection_for_firm(firm=request.firm))
    return render(
        request,
        "invoices/payment_detail.html",
        {"allocations": payment_allocation_list(payment=payment)}
        | quickbooks_section_context(
            payment,
            kind="payment",
            badge=payment_badge(payment, connected=connected),
            connected=connected,
            history=HistoryFilter.from_query(request.GET),
        ),
    )


def _payment_form_page(
    request: HttpRequest, *, account: Account, payment: Payment | None, initial: dict, prefill: dict
) -> HttpResponse:
    """Create and edit share the page. The account is fixed: its payable invoices are the rows."""
    candidates = payment_allocation_candidates(account=account, payment=payment)
    invoices = {invoice.pk: invoice for invoice in candidates}
    rows_initial = [
        {"invoice": inv.pk, "amount": prefill.get(inv.pk, inv.allocated_here or None)} for inv in candidates
    ]
    data = request.POST if request.method == "POST" else None
    form = PaymentForm(data, initial=initial)
    allocations = AllocationFormSet(
        data, initial=rows_initial, prefix="allocations", form_kwargs={"invoices": invoices}
    )
    if data is not None and form.is_valid() and allocations.is_valid():
        entered = payment_data(form, allocations, account=account)
        try:
            if payment is None:
                saved = payment_create(firm=request.firm, data=entered)
                messages.success(request, "Payment recorded.")
            else:
                saved = payment_update(payment=payment, data=entered)
                messages.success(request, "Payment saved.")
        except ValidationError as exc:
            add_payment_errors(form, allocations, exc)
        else:
            return redirect("invoices:payment_detail", pk=saved.pk)
    return render(
        request,
        "invoices/payment_form.html",
        {"form": form, "allocations": allocations, "account": account, "payment": payment},
    )


@permission_required(can_edit_practice_data)
def payment_create_view(request: HttpRequest) -> HttpResponse:
    account = _account_from_query(request)
    if account is None:
        # First step: choose whose payment it is; the allocation rows depend on it.
        return render(
            request,
            "invoices/payment_choose_account.html",
            {"accounts": account_choices(firm=request.firm)},
        )
    initial = {"date": timezone.localdate()}
    prefill = {}
    invoice_id = request.GET.get("invoice", "")
    if invoice_id.isdigit():
        # "Record payment" on an invoice: propose paying its whole balance.
        invoice = get_object_or_404(invoice_list(firm=request.firm, account=account), pk=int(invoice_id))
        prefill[invoice.pk] = invoice.balance
        initial["amount"] = invoice.balance
    return _payment_form_page(request, account=account, payment=None, initial=initial, prefill=prefill)


@permission_required(can_edit_practice_data)
def payment_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    payment = get_object_or_404(Payment.objects.for_firm(request.firm).select_related("account"), pk=pk)
    initial = {
        "date": payment.date,
        "amount": payment.amount,
        "method": payment.method,
        "reference": payment.reference,
        "memo": payment.memo,
    }
    return _payment_form_page(request, account=payment.account, payment=payment, initial=initial, prefill={})


@require_POST
@permission_required(can_edit_practice_data)
def payment_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    payment = get_object_or_404(Payment.objects.for_firm(request.firm), pk=pk)
    payment_delete(payment=payment)
    messages.success(request, "Payment deleted; the invoices it paid are open again.")
    return redirect("accounts:detail", pk=payment.account_id)


# QuickBooks: skip or sync one invoice or payment (owner or admin) -------------------------------------


def _quickbooks_action_view(
    *,
    model: type[Invoice] | type[Payment],
    kind: str,
    action: Callable[..., object],
    done: str,
    redirect_to: Callable[[int], str],
) -> Callable[..., HttpResponse]:
    """A POST view for owners and admins: ``action`` (a sync service taking ``actor`` and the record as
    ``kind``) on the firm's record ``pk``, then back to ``redirect_to(pk)`` saying ``done`` or why not."""

    @require_POST
    @permission_required(can_manage_quickbooks)
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        record = get_object_or_404(model.objects.for_firm(request.firm), pk=pk)
        try:
            action(actor=request.user, **{kind: record})
        except SyncRequestError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, done)
        return redirect(redirect_to(pk))

    return view


def _invoice_quickbooks_section_url(pk: int) -> str:
    return f"{reverse('invoices:detail', args=[pk])}#quickbooks"


def _payment_url(pk: int) -> str:
    return reverse("invoices:payment_detail", args=[pk])


invoice_quickbooks_sync_view = _quickbooks_action_view(
    model=Invoice,
    kind="invoice",
    action=invoice_sync_again,
    done="Syncing the invoice to QuickBooks.",
    redirect_to=_invoice_quickbooks_section_url,
)
invoice_quickbooks_skip_view = _quickbooks_action_view(
    model=Invoice,
    kind="invoice",
    action=invoice_sync_skip,
    done="This invoice will not be synced to QuickBooks.",
    redirect_to=_invoice_quickbooks_section_url,
)
payment_quickbooks_sync_view = _quickbooks_action_view(
    model=Payment,
    kind="payment",
    action=payment_sync_again,
    done="Syncing the payment to QuickBooks.",
    redirect_to=_payment_url,
)
payment_quickbooks_skip_view = _quickbooks_action_view(
    model=Payment,
    kind="payment",
    action=payment_sync_skip,
    done="This payment will not be synced to QuickBooks.",
    redirect_to=_payment_url,
)

"""Invoice and payment pages. Each view checks the role, reads through a selector or calls a service,
renders or redirects. Payments live here with the invoices they pay."""

from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Account
from accounts.selectors import account_choices
from qbsync.core.forms import add_service_errors
from qbsync.firms.permissions import (
    can_edit_practice_data,
    can_manage_firm_settings,
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
    FirmInvoicingForm,
    InvoiceForm,
    InvoiceLineFormSet,
    PaymentForm,
    TaxComponentFormSet,
    TaxRateForm,
    add_invoice_errors,
    add_payment_errors,
    add_tax_rate_errors,
    invoice_data,
    invoice_lines_initial,
    payment_data,
    tax_rate_data,
    tax_rate_initial,
)
from .models import Invoice, Payment, TaxRate
from .selectors import (
    firm_currency_locked,
    invoice_allocation_list,
    invoice_line_list,
    invoice_list,
    invoice_sync_status_list,
    invoice_tax_rows,
    payment_allocation_candidates,
    payment_allocation_list,
    service_choices,
    tax_rate_choices,
    tax_rate_invoice_count,
    tax_rate_list,
)
from .services import (
    firm_invoicing_update,
    invoice_create,
    invoice_delete,
    invoice_next_number,
    invoice_send,
    invoice_update,
    invoice_void,
    payment_create,
    payment_delete,
    payment_update,
    tax_rate_archive,
    tax_rate_create,
    tax_rate_delete,
    tax_rate_restore,
    tax_rate_update,
)

INVOICES_PER_PAGE = 50
TAXES_PREFIX = "taxes"
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
    lines = list(invoice_line_list(invoice=invoice))
    return render(
        request,
        "invoices/invoice_detail.html",
        {
            "lines": lines,
            "taxed": invoice.tax_total > 0 or any(line.tax_rate_id for line in lines),
            "tax_rows": invoice_tax_rows(invoice=invoice, lines=lines, currency=request.firm.currency),
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
    used_rates = tuple(line["tax_rate"] for line in lines_initial if line.get("tax_rate"))
    data = request.POST if request.method == "POST" else None
    form = InvoiceForm(
        data,
        initial=initial,
        accounts=account_choices(firm=firm, include=current_account),
        # Where the region allows it, or to untick on an invoice that has it.
        offer_amounts_include_tax=firm.allows_tax_inclusive_amounts
        or bool(initial.get("amounts_include_tax")),
    )
    lines = InvoiceLineFormSet(
        data,
        initial=lines_initial,
        prefix="lines",
        form_kwargs={
            "services": service_choices(firm=firm, include_ids=used_services),
            "tax_rates": tax_rate_choices(firm=firm, include_ids=used_rates),
        },
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
        "amounts_include_tax": invoice.amounts_include_tax,
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


# Settings: the firm's region and currency, its tax rates ----------------------------------------------


@permission_required(can_manage_firm_settings)
def firm_invoicing_settings_view(request: HttpRequest) -> HttpResponse:
    """The firm's region and currency (owners and admins). The currency stays once money is recorded."""
    firm = request.firm
    locked = firm_currency_locked(firm=firm)
    data = request.POST if request.method == "POST" else None
    form = FirmInvoicingForm(
        data, initial={"region": firm.region, "currency": firm.currency}, currency_locked=locked
    )
    if data is not None and form.is_valid():
        try:
            firm_invoicing_update(firm=firm, data=form.to_data())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Region and currency saved.")
            return redirect("settings")
    return render(request, "invoices/firm_invoicing_settings.html", {"form": form, "currency_locked": locked})


@require_GET
@firm_member_required
def tax_rate_list_view(request: HttpRequest) -> HttpResponse:
    """Every member sees the firm's tax rates; owners and admins change them."""
    return render(request, "invoices/tax_rate_list.html", {"tax_rates": tax_rate_list(firm=request.firm)})


def _tax_rate_form_page(request: HttpRequest, *, tax_rate: TaxRate | None) -> HttpResponse:
    """Create and edit share the page; staff see a rate read-only (a POST of theirs is 403). A rate in use
    shows its taxes without a form for them: only its name may change."""
    can_manage = can_manage_firm_settings(request.user)
    if request.method == "POST" and not can_manage:
        raise PermissionDenied("Only owners and admins change tax rates.")
    in_use = tax_rate_invoice_count(tax_rate=tax_rate) if tax_rate else 0
    header, rows = tax_rate_initial(tax_rate) if tax_rate else ({}, [])
    data = request.POST if request.method == "POST" else None
    form = TaxRateForm(data, initial=header)
    # A page opened before the rate came into use still sends its taxes: the service says why they stay.
    taxes_sent = data is not None and f"{TAXES_PREFIX}-TOTAL_FORMS" in data
    components = (
        TaxComponentFormSet(data, initial=rows, prefix=TAXES_PREFIX) if not in_use or taxes_sent else None
    )
    if data is not None and form.is_valid() and (components is None or components.is_valid()):
        try:
            if tax_rate is None:
                saved = tax_rate_create(firm=request.firm, data=tax_rate_data(form, components))
                messages.success(request, f"Tax rate “{saved.name}” created.")
            else:
                saved = tax_rate_update(tax_rate=tax_rate, data=tax_rate_data(form, components, rows=rows))
                messages.success(request, f"Tax rate “{saved.name}” saved.")
        except ValidationError as exc:
            add_tax_rate_errors(form, components, exc)
        else:
            return redirect("invoicing:tax_rates")
    return render(
        request,
        "invoices/tax_rate_form.html",
        {
            "form": form,
            "components": components,
            "tax_rate": tax_rate,
            "in_use": in_use,
            "read_only": not can_manage,
        },
    )


@permission_required(can_manage_firm_settings)
def tax_rate_create_view(request: HttpRequest) -> HttpResponse:
    return _tax_rate_form_page(request, tax_rate=None)


@firm_member_required
def tax_rate_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    tax_rate = get_object_or_404(TaxRate.objects.for_firm(request.firm), pk=pk)
    return _tax_rate_form_page(request, tax_rate=tax_rate)


def _tax_rate_action(request: HttpRequest, pk: int, action, done: str) -> HttpResponse:
    tax_rate = get_object_or_404(TaxRate.objects.for_firm(request.firm), pk=pk)
    try:
        action(tax_rate=tax_rate)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, done.format(name=tax_rate.name))
    return redirect("invoicing:tax_rates")


@require_POST
@permission_required(can_manage_firm_settings)
def tax_rate_archive_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _tax_rate_action(
        request, pk, tax_rate_archive, "Tax rate “{name}” archived: it is no longer offered for new lines."
    )


@require_POST
@permission_required(can_manage_firm_settings)
def tax_rate_restore_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _tax_rate_action(request, pk, tax_rate_restore, "Tax rate “{name}” restored.")


@require_POST
@permission_required(can_manage_firm_settings)
def tax_rate_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _tax_rate_action(request, pk, tax_rate_delete, "Tax rate “{name}” deleted.")


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

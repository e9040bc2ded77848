"""Reads of invoices and payments for pages. Every query starts from ``for_firm`` so tenants never mix."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Lower

from accounts.models import Account
from qbsync.core.money import MONEY_MAX_DIGITS, money_text
from qbsync.firms.models import Firm
from qbsync.sync.display import shown_as_filter

from . import tax
from .models import ZERO, Invoice, InvoiceLine, Payment, PaymentAllocation, Service, TaxRate

_MONEY = DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=2)


def invoice_list(
    *,
    firm: Firm,
    search: str = "",
    status: str = "",
    account: Account | None = None,
    sync_status: str = "",
) -> QuerySet[Invoice]:
    """Invoices with their account and QuickBooks ``sync_link`` (absent when never synced), newest first.

    ``search`` matches the number or the account's name. ``sync_status`` is one of the five statuses people
    see ("Not synced" includes invoices without a link). One query per page, whatever its size.
    """
    invoices = Invoice.objects.for_firm(firm).select_related("account", "sync_link")
    search = search.strip()
    if search:
        invoices = invoices.filter(Q(number__icontains=search) | Q(account__name__icontains=search))
    if status:
        invoices = invoices.filter(status=status)
    if account is not None:
        invoices = invoices.filter(account=account)
    if sync_status:
        invoices = invoices.filter(shown_as_filter(sync_status))
    return invoices.order_by("-issue_date", "-id")


def invoice_sync_status_list(*, firm: Firm, ids: list[int]) -> list[Invoice]:
    """The firm's invoices among ``ids`` with their sync links (one query); other firms' ids are left out."""
    return list(Invoice.objects.for_firm(firm).filter(pk__in=ids).select_related("sync_link").order_by("pk"))


def invoice_line_list(*, invoice: Invoice) -> QuerySet[InvoiceLine]:
    """The lines in order, with their service and tax rate (its taxes: one more query, when any line has
    a rate)."""
    return (
        invoice.lines.select_related("service", "tax_rate")
        .prefetch_related("tax_rate__components")
        .order_by("position", "id")
    )


def invoice_allocation_list(*, invoice: Invoice) -> QuerySet[PaymentAllocation]:
    """The payments applied to an invoice, oldest first."""
    return invoice.allocations.select_related("payment").order_by("payment__date", "payment_id")


def payment_list(*, firm: Firm, account: Account | None = None) -> QuerySet[Payment]:
    """Payments with their account and QuickBooks ``sync_link`` (absent when never synced), newest first."""
    payments = Payment.objects.for_firm(firm).select_related("account", "sync_link")
    if account is not None:
        payments = payments.filter(account=account)
    return payments.order_by("-date", "-id")


def payment_allocation_list(*, payment: Payment) -> QuerySet[PaymentAllocation]:
    return payment.allocations.select_related("invoice").order_by("invoice__issue_date", "invoice_id")


def payment_allocation_candidates(*, account: Account, payment: Payment | None = None) -> list[Invoice]:
    """The invoices a payment of ``account`` can be applied to, oldest first.

    Each carries ``allocated_here`` (what ``payment`` already puts on it) and ``open_for_payment``
    (its balance if ``payment`` did not exist): the most the payment may apply to it.
    """
    here = Value(Decimal("0.00"), output_field=_MONEY)
    invoices = Invoice.objects.for_firm(account.firm).filter(
        account=account, status__in=Invoice.PAYABLE_STATUSES
    )
    if payment is not None:
        here = Coalesce(
            Subquery(
                PaymentAllocation.objects.filter(payment=payment, invoice=OuterRef("pk")).values("amount"),
                output_field=_MONEY,
            ),
            here,
            output_field=_MONEY,
        )
    invoices = invoices.annotate(
        allocated_here=here,
        open_for_payment=F("total") - F("amount_paid") + here,
    )
    return list(invoices.filter(open_for_payment__gt=0).order_by("issue_date", "id"))


def service_choices(*, firm: Firm, include_ids: tuple[int, ...] = ()) -> QuerySet[Service]:
    """Services to pick on an invoice line: the active ones, plus those the invoice already uses."""
    return Service.objects.for_firm(firm).filter(Q(is_active=True) | Q(pk__in=include_ids)).order_by("name")


def tax_rate_list(*, firm: Firm) -> QuerySet[TaxRate]:
    """The firm's tax rates, active first then by name, with their taxes and ``invoice_count`` (how many
    invoices use each: a rate in use keeps its taxes and cannot be deleted). Two queries."""
    return (
        TaxRate.objects.for_firm(firm)
        .annotate(invoice_count=Count("invoice_lines__invoice", distinct=True))
        .prefetch_related("components")
        .order_by("-is_active", Lower("name"))
    )


def tax_rate_choices(*, firm: Firm, include_ids: tuple[int, ...] = ()) -> list[TaxRate]:
    """Rates to pick on an invoice line: the active ones, plus those the invoice already uses (archived
    ones included, so that editing an old invoice keeps them). One query."""
    return list(
        TaxRate.objects.for_firm(firm)
        .filter(Q(is_active=True) | Q(pk__in=include_ids))
        .order_by(Lower("name"))
    )


def tax_rate_invoice_count(*, tax_rate: TaxRate) -> int:
    """How many invoices use the rate (then it keeps its taxes and cannot be deleted)."""
    return Invoice.objects.filter(lines__tax_rate=tax_rate).distinct().count()


def firm_currency_locked(*, firm: Firm) -> bool:
    """Whether money is recorded in the firm's currency (an invoice or a payment): then it stays."""
    return Invoice.objects.filter(firm=firm).exists() or Payment.objects.filter(firm=firm).exists()


@dataclass(frozen=True)
class TaxRow:
    """One row of an invoice's tax as the page shows it: "VAT 20% on 100.00 GBP", 20.00."""

    label: str
    amount: Decimal


def invoice_tax_rows(*, invoice: Invoice, lines: list[InvoiceLine], currency: str) -> list[TaxRow]:
    """The invoice's tax, each tax once with what it is charged on, worked out from ``lines`` (from
    ``invoice_line_list``, which loads their rates and taxes): they add up to the stored tax_total. A rate
    without taxes ("Exempt") says so; lines without a rate are not listed."""
    summary = tax.invoice_tax((line.as_tax_line() for line in lines), invoice.amounts_include_tax)
    included = " (included)" if invoice.amounts_include_tax else ""
    rows = [
        TaxRow(f"{entry.component.label} on {money_text(entry.net, currency)}{included}", entry.tax)
        for entry in summary.by_component
    ]
    rows += [
        TaxRow(f"{entry.rate.name} on {money_text(entry.net, currency)}: no tax", ZERO)
        for entry in summary.by_rate
        if not entry.rate.components
    ]
    return rows

"""An invoice's tax as its QuickBooks company takes it (qbsync/quickbooks/tax.py has the body's shape), and
the check after every push that QuickBooks' total is the billed total.

The tax billed here (invoices/tax.py) is what goes: a VAT/GST company gets each line's mapped code and the
tax per QBO tax rate as billed; a US company with sales tax by hand gets TAX/NON lines and the mapped code
of the invoice's one rate; automated sales tax gets the billed tax as its override; a US company without
sales tax gets no tax, and an invoice that charges some is refused before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from invoices import tax as local_tax
from invoices.models import Invoice, InvoiceLine
from qbsync.core.money import money_text
from qbsync.quickbooks.records import CompanyPreferences
from qbsync.quickbooks.tax import (
    US_NOT_TAXABLE,
    US_TAXABLE,
    InvoiceTaxDraft,
    QboTaxCode,
    TaxLineDraft,
    TaxModel,
    tax_model_of,
)

from ..engine import explanations
from ..engine.causes import FailureCause
from ..engine.errors import SyncFailure
from ..models import QuickBooksConnection, TaxCodeMapping


def connection_tax_model(connection: QuickBooksConnection) -> TaxModel | None:
    """The company's tax model from its kept preferences; None until they were read (at connect)."""
    if not connection.company_preferences:
        return None
    return tax_model_of(CompanyPreferences.from_dict(connection.company_preferences))


def kept_tax_codes(connection: QuickBooksConnection) -> dict[str, QboTaxCode]:
    """The company's tax codes as last read, by id, without reading (what a push uses)."""
    return {str(code["id"]): QboTaxCode.from_dict(code) for code in connection.tax_codes or []}


def taxes_paired(components, code: QboTaxCode) -> list[tuple] | None:
    """Each tax of a rate here with the QBO tax rate of ``code`` that charges it, in order, or None when
    they differ (zero-rate taxes on either side aside: they charge nothing). ``components`` have
    ``percentage`` and ``compound`` (the model's or invoices/tax.py's)."""
    ours = [c for c in components if c.percentage or c.compound]
    theirs = [p for p in code.parts if p.percent or p.compound]
    if [(c.percentage, c.compound) for c in ours] != [(p.percent, p.compound) for p in theirs]:
        return None
    return list(zip(ours, theirs, strict=True))


@dataclass(frozen=True)
class LineTax:
    """What one line sends: its TaxCodeRef ("" none), and for tax-inclusive invoices its net and price."""

    code_id: str = ""
    net: Decimal | None = None
    gross: Decimal | None = None


def _unmapped(what: str) -> SyncFailure:
    return SyncFailure(FailureCause.TAX_UNMAPPED, explanations.TAX_UNMAPPED.format(what=what))


def _rate_label(rate: local_tax.Rate) -> str:
    return f'the tax rate "{rate.name}"'


def invoice_tax_draft(
    invoice: Invoice, lines: list[InvoiceLine], connection: QuickBooksConnection
) -> tuple[list[LineTax], InvoiceTaxDraft | None]:
    """Each line's tax and the invoice's header tax for ``connection``'s company; raises SyncFailure when
    the invoice cannot go as billed (nothing is sent then)."""
    tax_lines = [line.as_tax_line() for line in lines]
    summary = local_tax.invoice_tax(tax_lines, invoice.amounts_include_tax)
    currency = invoice.firm.currency
    model = connection_tax_model(connection) or TaxModel.US_NO_TAX
    if model == TaxModel.GLOBAL:
        return _global(invoice, tax_lines, summary, connection)
    if summary.tax_total and (model == TaxModel.US_NO_TAX or invoice.amounts_include_tax):
        raise SyncFailure(
            FailureCause.TAX_NOT_IN_COMPANY,
            explanations.TAX_NO_SALES_TAX_IN_COMPANY.format(
                tax=money_text(summary.tax_total, currency),
                without=money_text(summary.subtotal, currency),
                total=money_text(summary.total, currency),
            ),
        )
    if model == TaxModel.US_NO_TAX:
        return [LineTax() for _ in lines], None
    taxing = {}
    for line in tax_lines:
        if line.rate is not None and line.rate.percentage:
            taxing[line.rate.key] = line.rate
    if len(taxing) > 1:
        raise SyncFailure(
            FailureCause.TAX_NOT_IN_COMPANY,
            explanations.TAX_SEVERAL_RATES_US.format(rates=", ".join(r.name for r in taxing.values())),
        )
    codes = [
        LineTax(US_TAXABLE if line.rate is not None and line.rate.key in taxing else US_NOT_TAXABLE)
        for line in tax_lines
    ]
    if model == TaxModel.US_AST:
        return codes, InvoiceTaxDraft(model=model, total_tax=summary.tax_total)
    if not taxing:
        return codes, None
    (rate,) = taxing.values()
    mapping = _mappings(connection).get(rate.key)
    if mapping is None:
        raise _unmapped(_rate_label(rate))
    return codes, InvoiceTaxDraft(model=model, total_tax=summary.tax_total, txn_tax_code_id=mapping)


def _mappings(connection: QuickBooksConnection) -> dict[int, str]:
    return dict(
        TaxCodeMapping.objects.filter(firm_id=connection.firm_id, realm_id=connection.realm_id).values_list(
            "tax_rate_id", "qbo_tax_code_id"
        )
    )


def _global(invoice, tax_lines, summary, connection) -> tuple[list[LineTax], InvoiceTaxDraft]:
    mappings = _mappings(connection)
    codes = kept_tax_codes(connection)
    line_taxes = []
    for line in tax_lines:
        if line.rate is None:
            code_id = connection.untaxed_tax_code_id
            if not code_id:
                raise _unmapped(explanations.TAX_UNMAPPED_UNTAXED)
        else:
            code_id = mappings.get(line.rate.key, "")
            if not code_id or code_id not in codes:
                raise _unmapped(_rate_label(line.rate))
        if invoice.amounts_include_tax:
            line_taxes.append(LineTax(code_id, net=local_tax.line_net(line), gross=line.amount))
        else:
            line_taxes.append(LineTax(code_id))
    # Each of our taxes is one QBO tax rate of the mapped codes (the mapping checked their percentages match,
    # in order): the tax billed goes per rate, so QuickBooks' total is ours.
    qbo_rate_of = {}
    for rate in {line.rate.key: line.rate for line in tax_lines if line.rate is not None}.values():
        for component, part in taxes_paired(rate.components, codes[mappings[rate.key]]) or ():
            qbo_rate_of[(rate.key, component)] = part
    per_rate: dict[str, list] = {}
    for entry in summary.by_component:
        parts = {qbo_rate_of.get((rate.key, entry.component)) for rate in entry.rates}
        parts.discard(None)
        if len(parts) != 1:
            if entry.tax:
                per_rate = {}  # one tax here, several rates there: QuickBooks computes them itself
                break
            continue
        (part,) = parts
        net, amount, percent = per_rate.get(part.rate_id, [Decimal("0.00"), Decimal("0.00"), part.percent])
        per_rate[part.rate_id] = [net + entry.net, amount + entry.tax, percent]
    lines = tuple(
        TaxLineDraft(rate_id=rate_id, percent=percent, net=net, amount=amount)
        for rate_id, (net, amount, percent) in per_rate.items()
    )
    return line_taxes, InvoiceTaxDraft(
        model=TaxModel.GLOBAL,
        total_tax=summary.tax_total,
        amounts_include_tax=invoice.amounts_include_tax,
        tax_lines=lines,
    )


def invoice_total_differs(invoice: Invoice, qbo_total: Decimal, qbo_tax: Decimal, model: TaxModel | None):
    """The failure to report when QuickBooks booked another total than the client was billed, or None."""
    if qbo_total == invoice.total:
        return None
    currency = invoice.firm.currency
    cause = explanations.TAX_MISMATCH_CAUSES[(model or TaxModel.US_NO_TAX).value]
    return SyncFailure(
        FailureCause.TAX_TOTAL_MISMATCH,
        explanations.TAX_TOTAL_MISMATCH.format(
            theirs=money_text(qbo_total, currency),
            their_tax=money_text(qbo_tax, currency),
            ours=money_text(invoice.total, currency),
            our_tax=money_text(invoice.tax_total, currency),
            cause=cause,
        ),
    )

"""The firm's tax rates mapped to its QuickBooks company's tax codes (owners and admins, on the QuickBooks
page), and the codes as last read from the company.

A VAT/GST company (UK, CA, AU) needs a TaxCode on every invoice line, so every rate used on invoices maps
to a code whose rates are the rate's taxes (same percentages, in the same order: the totals check after
every push would otherwise fail the invoice by a cent), and lines without a rate carry the code chosen for
them ("No VAT", "Out of scope", "Exempt"). A US company with sales tax set up by hand takes one tax code
(or group) per invoice. A US company with automated sales tax, or without sales tax, needs no mapping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from invoices.models import TaxRate
from invoices.tax import percent_text
from qbsync.firms.models import User
from qbsync.quickbooks.tax import QboTaxCode, TaxModel, sales_tax_codes

from ..engine.causes import FailureCause
from ..engine.client import connection_client
from ..kinds.invoice_tax import connection_tax_model, kept_tax_codes, taxes_paired
from ..kinds.invoices import invoice_sync_again
from ..models import InvoiceSyncLink, QuickBooksConnection, TaxCodeMapping
from ..states import SyncState

logger = logging.getLogger(__name__)

# Failures a new mapping may cure: the invoices go again by themselves once it is saved.
TAX_CAUSES = (FailureCause.TAX_UNMAPPED, FailureCause.TAX_TOTAL_MISMATCH)


def tax_model_needs_mapping(model: TaxModel | None) -> bool:
    return model in (TaxModel.GLOBAL, TaxModel.US_MANUAL)


def connection_tax_codes(*, connection: QuickBooksConnection, fresh: bool = False) -> list[QboTaxCode]:
    """The company's sales tax codes: as kept on the connection (two metered reads each time they are read),
    read again when ``fresh``, none are kept, or they are older than QBSYNC_PICK_LISTS_MAX_AGE_SECONDS."""
    max_age = timedelta(seconds=float(settings.QBSYNC_PICK_LISTS_MAX_AGE_SECONDS))
    read_at = connection.tax_codes_read_at
    if not fresh and read_at is not None and timezone.now() - read_at <= max_age:
        return [QboTaxCode.from_dict(code) for code in connection.tax_codes]
    codes = sales_tax_codes(connection_client(connection))
    now = timezone.now()
    kept = [code.as_dict() for code in codes]
    QuickBooksConnection.objects.filter(pk=connection.pk).update(tax_codes=kept, tax_codes_read_at=now)
    connection.tax_codes, connection.tax_codes_read_at = kept, now
    return codes


def _parts_text(code: QboTaxCode) -> str:
    if not code.parts:
        return "no tax"
    return " + ".join(f"{p.name} {percent_text(p.percent)}%" for p in code.parts)


def tax_code_label(code: QboTaxCode) -> str:
    """A code as a pick list shows it: its name and its rates, "GST/PST BC (GST 5% + PST BC 7%)"."""
    return f"{code.name} ({_parts_text(code)})"


def tax_rate_taxes_text(rate: TaxRate) -> str:
    """A rate's taxes in words, "GST 5% + PST 7%" ("no tax" without any); its components prefetched."""
    labels = [component.as_tax_component().label for component in rate.components.all()]
    return " + ".join(labels) or "no tax"


def tax_code_mismatch(rate: TaxRate, code: QboTaxCode, model: TaxModel) -> str:
    """Why ``code`` cannot stand for ``rate`` (its taxes differ, so the totals would), or ""."""
    components = list(rate.components.all())
    if model == TaxModel.US_MANUAL:
        # QBO applies the code's rates to the TAX lines' total: only the total percentage must agree.
        if sum((c.percentage for c in components), 0) == code.percent:
            return ""
    elif taxes_paired(components, code) is not None:
        return ""
    return (
        f'QuickBooks\' tax code "{code.name}" charges {_parts_text(code)}, but "{rate.name}" here charges '
        f"{tax_rate_taxes_text(rate)}: invoices would have different totals there. Choose a code with the "
        "same taxes, or change the rate here."
    )


@dataclass(frozen=True)
class TaxMappingRow:
    rate: TaxRate
    chosen_id: str  # saved, or suggested when none is saved; "" when nothing fits
    suggested: bool
    codes: list[QboTaxCode]  # the codes that fit this rate


def _suggest(rate: TaxRate, fitting: list[QboTaxCode]) -> str:
    """The code whose name is the rate's, else one whose name the rate's name contains, else the only one
    that fits."""
    name = " ".join(rate.name.split()).casefold()
    for code in fitting:
        if " ".join(code.name.split()).casefold() == name:
            return code.id
    for code in fitting:
        if code.name.casefold() in name or name in code.name.casefold():
            return code.id
    return fitting[0].id if len(fitting) == 1 else ""


def tax_mapping_rows(*, connection: QuickBooksConnection, codes: list[QboTaxCode]) -> list[TaxMappingRow]:
    """Each active rate of the firm (and each archived one still mapped) with its code, saved or suggested."""
    model = connection_tax_model(connection)
    saved = dict(
        TaxCodeMapping.objects.filter(firm_id=connection.firm_id, realm_id=connection.realm_id).values_list(
            "tax_rate_id", "qbo_tax_code_id"
        )
    )
    by_id = {code.id: code for code in codes}
    rows = []
    rates = TaxRate.objects.filter(firm_id=connection.firm_id).prefetch_related("components").order_by("name")
    for rate in rates:
        if not rate.is_active and rate.pk not in saved:
            continue
        fitting = [code for code in codes if not tax_code_mismatch(rate, code, model)]
        chosen = saved.get(rate.pk, "")
        if chosen and chosen in by_id:
            rows.append(TaxMappingRow(rate, chosen, False, fitting))
        else:
            rows.append(TaxMappingRow(rate, _suggest(rate, fitting), True, fitting))
    return rows


def untaxed_code_suggestion(connection: QuickBooksConnection, codes: list[QboTaxCode]) -> str:
    """For lines without a rate in a VAT/GST company: the code chosen, else one without tax named as such."""
    if connection.untaxed_tax_code_id and any(c.id == connection.untaxed_tax_code_id for c in codes):
        return connection.untaxed_tax_code_id
    for wanted in ("no vat", "out of scope", "exempt", "gst free", "zero-rated", "0.0% z"):
        for code in codes:
            if code.name.casefold() == wanted and not code.percent:
                return code.id
    return ""


class TaxMappingError(ValueError):
    """A choice that cannot be saved; ``errors`` by tax rate id (0: lines without a rate)."""

    def __init__(self, errors: dict[int, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def tax_mapping_save(
    *,
    connection: QuickBooksConnection,
    actor: User | None,
    choices: dict[int, str],
    untaxed_code_id: str = "",
) -> int:
    """Save the codes chosen per rate (by rate id; "" clears one) and for lines without a rate; then send
    again the invoices that failed for want of them. Returns how many invoices went again."""
    model = connection_tax_model(connection)
    codes = kept_tax_codes(connection)
    rates = {
        r.pk: r
        for r in TaxRate.objects.filter(firm_id=connection.firm_id, pk__in=choices).prefetch_related(
            "components"
        )
    }
    errors: dict[int, str] = {}
    for rate_id, code_id in choices.items():
        rate = rates.get(rate_id)
        if rate is None:
            errors[rate_id] = "This tax rate is not one of the firm's."
        elif code_id and code_id not in codes:
            errors[rate_id] = "This tax code is not in the QuickBooks company (read its tax codes again)."
        elif code_id:
            mismatch = tax_code_mismatch(rate, codes[code_id], model)
            if mismatch:
                errors[rate_id] = mismatch
    if untaxed_code_id:
        untaxed = codes.get(untaxed_code_id)
        if untaxed is None:
            errors[0] = "This tax code is not in the QuickBooks company (read its tax codes again)."
        elif untaxed.percent:
            errors[0] = (
                f'"{untaxed.name}" charges {_parts_text(untaxed)}: lines without a tax rate here would be '
                "taxed in QuickBooks. Choose a code without tax."
            )
    if errors:
        raise TaxMappingError(errors)
    with transaction.atomic():
        for rate_id, code_id in choices.items():
            if not code_id:
                TaxCodeMapping.objects.filter(firm_id=connection.firm_id, tax_rate_id=rate_id).delete()
                continue
            TaxCodeMapping.objects.update_or_create(
                tax_rate_id=rate_id,
                defaults={
                    "firm_id": connection.firm_id,
                    "realm_id": connection.realm_id,
                    "qbo_tax_code_id": code_id,
                    "qbo_tax_code_name": codes[code_id].name[:100],
                },
            )
        untaxed_name = codes[untaxed_code_id].name[:100] if untaxed_code_id else ""
        QuickBooksConnection.objects.filter(pk=connection.pk).update(
            untaxed_tax_code_id=untaxed_code_id, untaxed_tax_code_name=untaxed_name
        )
    logger.info("Tax codes mapped for firm %s: %s rate(s)", connection.firm_id, len(choices))
    return _send_again_what_waited(connection, actor)


def _send_again_what_waited(connection: QuickBooksConnection, actor: User | None) -> int:
    waiting = InvoiceSyncLink.objects.filter(
        firm_id=connection.firm_id, state=SyncState.FAILED, error_cause__in=TAX_CAUSES
    ).select_related("invoice")
    sent = 0
    for link in waiting:
        if invoice_sync_again(invoice=link.invoice, actor=actor) is not None:
            sent += 1
    return sent

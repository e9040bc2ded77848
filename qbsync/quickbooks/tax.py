"""QuickBooks' tax as qbsync sends it: the company's tax model, its tax codes, and the tax parts of an
invoice body (qbo-api-facts §13).

A US company marks each line `TAX` or `NON` (pseudo-codes no TaxCode query returns) and either has no sales
tax, keeps it by hand (the invoice names a tax code or group in `TxnTaxDetail.TxnTaxCodeRef` and QBO taxes
the `TAX` lines at its rates), or has Automated Sales Tax (QBO computes the tax from the customer's address;
the tax the client was billed goes as `TxnTaxDetail.TotalTax`, an override since minor version 70). A UK,
Canadian or Australian company ("global" model) needs a TaxCode on every line and `GlobalTaxCalculation`;
qbsync also sends the tax it billed per QBO tax rate (`TxnTaxDetail.TaxLine`), so QBO's total is the
client's total to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import QboClient
    from .records import CompanyPreferences

US_TAXABLE = "TAX"
US_NOT_TAXABLE = "NON"
# CompanyInfo.Country of US companies (QBO writes "US"; older companies may say "USA").
US_COUNTRIES = frozenset({"US", "USA"})


class TaxModel(StrEnum):
    US_NO_TAX = "us_no_tax"
    US_MANUAL = "us_manual"
    US_AST = "us_ast"
    GLOBAL = "global"

    @property
    def label(self) -> str:
        return TAX_MODEL_LABELS[self]


TAX_MODEL_LABELS = {
    TaxModel.US_NO_TAX: "US, no sales tax",
    TaxModel.US_MANUAL: "US, sales tax set up by hand",
    TaxModel.US_AST: "US, automated sales tax",
    TaxModel.GLOBAL: "VAT/GST (a tax code on every line)",
}


def tax_model_of(preferences: CompanyPreferences) -> TaxModel:
    """The company's tax model. A company whose country is unknown is taken as a US one (QBO's default, and
    what every company read before countries were kept was treated as)."""
    country = (preferences.country or "US").upper()
    if country not in US_COUNTRIES:
        return TaxModel.GLOBAL
    if not preferences.using_sales_tax:
        return TaxModel.US_NO_TAX
    return TaxModel.US_AST if preferences.automated_sales_tax else TaxModel.US_MANUAL


@dataclass(frozen=True)
class QboTaxRatePart:
    """One TaxRate of a TaxCode, in the order QBO applies them."""

    rate_id: str
    name: str
    percent: Decimal
    # TaxOnAmountPlusTax: on the net plus the taxes of the code's earlier rates (Quebec's QST before 2013).
    compound: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate_id": self.rate_id,
            "name": self.name,
            "percent": str(self.percent),
            "compound": self.compound,
        }


@dataclass(frozen=True)
class QboTaxCode:
    id: str
    name: str
    description: str
    parts: tuple[QboTaxRatePart, ...]

    @property
    def percent(self) -> Decimal:
        return sum((p.percent for p in self.parts), Decimal("0"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "parts": [p.as_dict() for p in self.parts],
        }

    @classmethod
    def from_dict(cls, data: dict) -> QboTaxCode:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", "")),
            description=str(data.get("description", "")),
            parts=tuple(
                QboTaxRatePart(
                    rate_id=str(p["rate_id"]),
                    name=str(p.get("name", "")),
                    percent=Decimal(str(p.get("percent", "0"))),
                    compound=bool(p.get("compound", False)),
                )
                for p in data.get("parts") or []
            ),
        )


def sales_tax_codes(client: QboClient) -> list[QboTaxCode]:
    """The company's active tax codes that can go on a sale, with their sales rates: two reads (TaxCode and
    TaxRate), whatever their number up to a thousand each."""
    rates = {str(r["Id"]): r for r in client.query_all("TaxRate")}
    codes = []
    for row in client.query_all("TaxCode", where=("Active = true",), order_by="Name"):
        if str(row.get("Id")) in (US_TAXABLE, US_NOT_TAXABLE) or row.get("Hidden"):
            continue
        details = ((row.get("SalesTaxRateList") or {}).get("TaxRateDetail")) or []
        if not details and (row.get("PurchaseTaxRateList") or {}).get("TaxRateDetail"):
            continue  # a purchase-only code cannot go on an invoice
        parts = []
        for detail in sorted(details, key=lambda d: int(d.get("TaxOrder") or 0)):
            rate_id = str((detail.get("TaxRateRef") or {}).get("value", ""))
            rate = rates.get(rate_id, {})
            parts.append(
                QboTaxRatePart(
                    rate_id=rate_id,
                    name=str(rate.get("Name") or (detail.get("TaxRateRef") or {}).get("name") or ""),
                    percent=Decimal(str(rate.get("RateValue", "0"))),
                    compound=detail.get("TaxTypeApplicable") == "TaxOnAmountPlusTax",
                )
            )
        codes.append(
            QboTaxCode(
                id=str(row["Id"]),
                name=str(row.get("Name", "")),
                description=str(row.get("Description") or ""),
                parts=tuple(parts),
            )
        )
    return codes


@dataclass(frozen=True)
class TaxLineDraft:
    """The tax billed for one QBO tax rate: ``amount`` on ``net``."""

    rate_id: str
    percent: Decimal
    net: Decimal
    amount: Decimal

    def payload(self) -> dict[str, Any]:
        return {
            "Amount": self.amount,
            "DetailType": "TaxLineDetail",
            "TaxLineDetail": {
                "TaxRateRef": {"value": self.rate_id},
                "PercentBased": True,
                "TaxPercent": self.percent,
                "NetAmountTaxable": self.net,
            },
        }


@dataclass(frozen=True)
class InvoiceTaxDraft:
    """The header tax of an invoice body, by model (lines carry their own TaxCodeRef)."""

    model: TaxModel
    total_tax: Decimal = Decimal("0.00")
    # US by hand: the tax code (or group) whose rates QBO applies to the TAX lines.
    txn_tax_code_id: str = ""
    # Global: tax included in the line amounts, as billed.
    amounts_include_tax: bool = False
    tax_lines: tuple[TaxLineDraft, ...] = ()

    def payload(self) -> dict[str, Any]:
        if self.model == TaxModel.US_NO_TAX:
            return {}
        if self.model == TaxModel.US_MANUAL:
            return (
                {"TxnTaxDetail": {"TxnTaxCodeRef": {"value": self.txn_tax_code_id}}}
                if self.txn_tax_code_id
                else {}
            )
        if self.model == TaxModel.US_AST:
            # The override: QBO's computation from the customer's address may differ from what was billed.
            return {"TxnTaxDetail": {"TotalTax": self.total_tax}}
        return {
            "GlobalTaxCalculation": "TaxInclusive" if self.amounts_include_tax else "TaxExcluded",
            "TxnTaxDetail": {
                "TotalTax": self.total_tax,
                "TaxLine": [line.payload() for line in self.tax_lines],
            },
        }

"""Regions of an emulated company: its country, home currency, tax model, and the TaxAgency, TaxRate and
TaxCode records a new company of that region starts with.

A QBO company's country is fixed when it is made (qbo-api-facts §13). US companies use the US tax model
(lines marked TAX or NON; sales tax off, set up by hand, or automated: AST); UK, CA and AU companies use the
global one (every sales line names one of the company's TaxCodes). See docs/sandbox.md, "Regions, tax and
currency", for which seeds are Intuit's own examples and which are assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from .clock import fmt_datetime

if TYPE_CHECKING:
    from .store import Company


@dataclass(frozen=True)
class Region:
    code: str  # what the control API takes: US, UK, CA, AU
    country: str  # CompanyInfo.Country
    iso3: str  # the Country of addresses (ISO alpha-3 since 2025, qbo-api-facts §1)
    currency: str  # the default home currency
    tax_name: str | None  # what the missing-code message calls the rate; None: the US model
    address: dict

    @property
    def is_global(self) -> bool:
        return self.tax_name is not None

    def missing_tax_code(self) -> str:
        # The UK wording is QBO's (github.com/intuit/quickbooks-online-mcp-server/issues/94); the CA and
        # AU ones are modelled on it (UNCONFIRMED).
        return f"Make sure all your transactions have a {self.tax_name} rate before you save."


REGIONS = {
    "US": Region(
        "US",
        "US",
        "USA",
        "USD",
        None,
        {
            "Line1": "123 Sierra Way",
            "City": "San Pablo",
            "CountrySubDivisionCode": "CA",
            "PostalCode": "87999",
        },
    ),
    "UK": Region(
        "UK", "GB", "GBR", "GBP", "VAT", {"Line1": "1 Long Acre", "City": "London", "PostalCode": "WC2E 9LH"}
    ),
    "CA": Region(
        "CA",
        "CA",
        "CAN",
        "CAD",
        "GST/HST",
        {
            "Line1": "100 King St W",
            "City": "Toronto",
            "CountrySubDivisionCode": "ON",
            "PostalCode": "M5X 1A9",
        },
    ),
    "AU": Region(
        "AU",
        "AU",
        "AUS",
        "AUD",
        "GST",
        {"Line1": "1 Martin Pl", "City": "Sydney", "CountrySubDivisionCode": "NSW", "PostalCode": "2000"},
    ),
}
SALES_TAX = ("none", "manual", "ast")  # US only

# Named company kinds for the control API's "preset" and the consent page's new-company choice.
PRESETS: dict[str, dict] = {
    "us": {"region": "US"},
    "us-manual": {"region": "US", "sales_tax": "manual"},
    "us-ast": {"region": "US", "sales_tax": "ast"},
    "us-multicurrency": {"region": "US", "multicurrency": True},
    "uk": {"region": "UK"},
    "ca": {"region": "CA"},
    "au": {"region": "AU"},
}
PRESET_LABELS = {
    "us": "US, no sales tax",
    "us-manual": "US, sales tax set up by hand",
    "us-ast": "US, automated sales tax",
    "us-multicurrency": "US, multicurrency",
    "uk": "UK (VAT)",
    "ca": "Canada (GST/HST)",
    "au": "Australia (GST)",
}

# AST: the percentage charged by the customer's state (Intuit's engine is not emulated). "default" is every
# other state. The sandbox's own rates: QBO computes AST from its own data (UNCONFIRMED figures).
DEFAULT_AST_RATES = {"CA": "7.25", "NY": "8.875", "TX": "6.25", "WA": "6.5", "default": "0"}

# --- seeds: (Id, DisplayName) agencies; (Id, Name, RateValue, agency Id, SpecialTaxType) rates;
# (Id, Name, Description, [(rate Id, TaxTypeApplicable, TaxOrder)]) codes ---------------------------------

_AgencySeed = tuple[str, str]
_RateSeed = tuple[str, str, str, str, str]
_CodeSeed = tuple[str, str, str, list[tuple[str, str, int]]]
ON_AMOUNT = "TaxOnAmount"

SEEDS: dict[str, tuple[list[_AgencySeed], list[_RateSeed], list[_CodeSeed]]] = {
    # Intuit's TaxRate and TaxCode reference examples (AZ State tax, Tucson City, California with the same
    # Ids; California at 8 % as the recorded invoice in cdc/basic.yml shows), plus a NYC group.
    "US-manual": (
        [
            ("1", "Arizona Department of Revenue"),
            ("2", "California Department of Tax and Fee Administration"),
            ("3", "New York State Department of Taxation and Finance"),
        ],
        [
            ("1", "AZ State tax", "7.1", "1", "NONE"),
            ("2", "Tucson City", "2", "1", "NONE"),
            ("3", "California", "8", "2", "NONE"),
            ("4", "NY State", "4", "3", "NONE"),
            ("5", "New York City", "4.5", "3", "NONE"),
        ],
        [
            ("2", "California", "California", [("3", ON_AMOUNT, 0)]),
            ("3", "Tucson", "Tucson", [("1", ON_AMOUNT, 0), ("2", ON_AMOUNT, 0)]),
            ("4", "NYC", "New York City", [("4", ON_AMOUNT, 0), ("5", ON_AMOUNT, 0)]),
        ],
    ),
    "UK": (
        [("1", "HMRC")],
        [
            ("1", "20.0% S", "20", "1", "NONE"),
            ("2", "5.0% R", "5", "1", "NONE"),
            ("3", "0.0% Z", "0", "1", "ZERO_RATE"),
            ("4", "Exempt", "0", "1", "NONE"),
        ],
        [
            ("1", "20.0% S", "Standard", [("1", ON_AMOUNT, 0)]),
            ("2", "5.0% R", "Reduced", [("2", ON_AMOUNT, 0)]),
            ("3", "0.0% Z", "Zero-rated", [("3", ON_AMOUNT, 0)]),
            ("4", "Exempt", "Exempt", [("4", ON_AMOUNT, 0)]),
            ("5", "No VAT", "No VAT", []),
        ],
    ),
    "CA": (
        [("1", "Canada Revenue Agency"), ("2", "Minister of Finance (BC)"), ("3", "Revenu Québec")],
        [
            ("1", "GST", "5", "1", "NONE"),
            ("2", "HST ON", "13", "1", "NONE"),
            ("3", "PST BC", "7", "2", "NONE"),
            ("4", "QST", "9.975", "3", "NONE"),
            ("5", "Exempt", "0", "1", "NONE"),
            ("6", "Zero-rated", "0", "1", "ZERO_RATE"),
        ],
        [
            ("1", "GST", "GST", [("1", ON_AMOUNT, 0)]),
            ("2", "HST ON", "HST Ontario", [("2", ON_AMOUNT, 0)]),
            ("3", "GST/PST BC", "GST and PST British Columbia", [("1", ON_AMOUNT, 0), ("3", ON_AMOUNT, 1)]),
            ("4", "GST/QST QC", "GST and QST Quebec", [("1", ON_AMOUNT, 0), ("4", ON_AMOUNT, 1)]),
            ("5", "Exempt", "Exempt", [("5", ON_AMOUNT, 0)]),
            ("6", "Zero-rated", "Zero-rated", [("6", ON_AMOUNT, 0)]),
            ("7", "Out of Scope", "Out of Scope", []),
        ],
    ),
    "AU": (
        [("1", "Australian Taxation Office")],
        [
            ("1", "GST", "10", "1", "NONE"),
            ("2", "GST free", "0", "1", "ZERO_RATE"),
            ("3", "Input taxed", "0", "1", "NONE"),
        ],
        [
            ("1", "GST", "GST", [("1", ON_AMOUNT, 0)]),
            ("2", "GST free", "GST free", [("2", ON_AMOUNT, 0)]),
            ("3", "Input taxed", "Input taxed", [("3", ON_AMOUNT, 0)]),
            ("4", "Out of scope", "Out of scope", []),
        ],
    ),
}


def seed_key(region: str, sales_tax: str) -> str | None:
    if region == "US":
        return "US-manual" if sales_tax == "manual" else None
    return region


def put_record(co: Company, entity: str, record: dict, now: datetime, epoch: float) -> dict:
    """Store a seeded record as QBO would have it; no webhook (nobody made it through the API)."""
    stamp = fmt_datetime(now)
    rec = {
        **record,
        "domain": "QBO",
        "sparse": False,
        "SyncToken": "0",
        "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
    }
    co.bump_sequence(entity, rec["Id"])
    co.put(entity, rec, epoch)
    return rec


def agency_record(ident: str, name: str) -> dict:
    return {"Id": ident, "DisplayName": name, "TaxTrackedOnSales": True, "TaxTrackedOnPurchases": False}


def rate_record(ident: str, name: str, value: str, agency: str, special: str) -> dict:
    return {
        "Id": ident,
        "Name": name,
        "Description": name,
        "Active": True,
        "RateValue": number(Decimal(value)),
        "AgencyRef": {"value": agency},
        "SpecialTaxType": special,
        "DisplayType": "ReadOnly",
    }


def code_record(
    ident: str,
    name: str,
    description: str,
    rates: list[tuple[str, str, int]],
    names: dict[str, str],
    kind: str,
) -> dict:
    return {
        "Id": ident,
        "Name": name,
        "Description": description,
        "Active": True,
        "Hidden": False,
        "Taxable": True,  # Intuit: always true except for the pseudo code NON
        "TaxGroup": True,
        "TaxCodeConfigType": kind,
        "SalesTaxRateList": {
            "TaxRateDetail": [
                {
                    "TaxRateRef": {"value": rate, "name": names[rate]},
                    "TaxTypeApplicable": applicable,
                    "TaxOrder": order,
                }
                for rate, applicable, order in rates
            ]
        },
        "PurchaseTaxRateList": {"TaxRateDetail": []},
    }


def seed_tax(co: Company, region: str, sales_tax: str, now: datetime, epoch: float) -> None:
    key = seed_key(region, sales_tax)
    if key is None:
        return
    agencies, rates, codes = SEEDS[key]
    for ident, name in agencies:
        put_record(co, "TaxAgency", agency_record(ident, name), now, epoch)
    names = {}
    for ident, name, value, agency, special in rates:
        put_record(co, "TaxRate", rate_record(ident, name, value, agency, special), now, epoch)
        names[ident] = name
    for ident, name, description, details in codes:
        put_record(
            co, "TaxCode", code_record(ident, name, description, details, names, "USER_DEFINED"), now, epoch
        )


def number(value: Decimal) -> int | float:
    """A Decimal as QBO writes numbers in JSON (8, 7.1, 9.975)."""
    return int(value) if value == value.to_integral_value() else float(value)


def parse_percent(value: object, what: str) -> Decimal:
    try:
        pct = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{what}: {value!r} is not a number") from None
    if not pct.is_finite() or pct < 0 or pct >= 100:
        raise ValueError(f"{what}: {value!r} is not a percentage from 0 to under 100")
    return pct


def check_ast_rates(rates: object) -> dict[str, str]:
    """`{"CA": 7.25, ..., "default": 0}` -> the same with upper-case state codes and string percentages."""
    if not isinstance(rates, dict):
        raise ValueError("ast_rates must be an object of state code -> percentage (and 'default')")
    out = {}
    for state, pct in rates.items():
        key = "default" if str(state).lower() == "default" else str(state).strip().upper()
        if key != "default" and not (len(key) == 2 and key.isalpha()):
            raise ValueError(f"ast_rates: {state!r} is not a two-letter state code or 'default'")
        out[key] = str(parse_percent(pct, f"ast_rates[{state!r}]"))
    out.setdefault("default", "0")
    return out


def check_exchange_rates(rates: object) -> dict[str, str]:
    """`{"EUR": 1.08}`: units of home currency for one unit of each foreign currency."""
    if not isinstance(rates, dict):
        raise ValueError("exchange_rates must be an object of currency code -> rate to the home currency")
    out = {}
    for code, rate in rates.items():
        key = str(code).strip().upper()
        if not (len(key) == 3 and key.isalpha()):
            raise ValueError(f"exchange_rates: {code!r} is not a three-letter currency code")
        try:
            value = Decimal(str(rate))
        except (InvalidOperation, ValueError):
            raise ValueError(f"exchange_rates[{code!r}]: {rate!r} is not a number") from None
        if not value.is_finite() or value <= 0:
            raise ValueError(f"exchange_rates[{code!r}] must be greater than 0")
        out[key] = str(value)
    return out

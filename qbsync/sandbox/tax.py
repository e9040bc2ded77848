"""Sales tax, VAT and GST on invoices: QBO's validation of line tax codes and its computation of
`TxnTaxDetail`, in Decimal, for the three models (qbo-api-facts §13):

- global (UK, CA, AU): every sales line names a TaxCode; tax per TaxRate over the lines carrying it;
  `GlobalTaxCalculation` TaxExcluded (line amounts are net), TaxInclusive (they include tax) or
  NotApplicable (no tax);
- US: lines are TAX or NON; with sales tax set up by hand the transaction's `TxnTaxCodeRef` names the code
  whose rates apply to the TAX lines; with automated sales tax (AST) the rate follows the customer's state
  and a `TotalTax` sent with minor version 70 or more overrides it;
- US without sales tax: no tax, `TxnTaxDetail` is ignored.

Rounding (UNCONFIRMED in QBO): half up to the cent, once per rate per invoice (setting `tax_rounding`
"per_rate"), or per line and rate ("per_line"). See docs/sandbox.md, "Regions, tax and currency".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from . import errors as E
from .regions import REGIONS, Region, agency_record, code_record, number, put_record, rate_record
from .store import Company

CENT = Decimal("0.01")
ZERO = Decimal("0")
GLOBAL_MODES = ("TaxExcluded", "TaxInclusive", "NotApplicable")
PSEUDO_CODES = ("TAX", "NON")
AST_OVERRIDE_MINOR_VERSION = 70  # qbo-api-facts §13: the sales tax override needs minor version 70


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def dec(value: object) -> Decimal:
    return Decimal(str(value))


def money_out(value: Decimal) -> int | float:
    return number(cents(value))


def region_of(co: Company) -> Region:
    return REGIONS[co.setting("region")]


@dataclass(frozen=True)
class Rate:
    id: str
    name: str
    percent: Decimal
    applicable: str  # TaxOnAmount | TaxOnAmountPlusTax (compound) | TaxOnTax
    order: int


@dataclass
class Share:
    """What one rate contributes over one group of lines."""

    rate: Rate
    base: Decimal  # NetAmountTaxable (unrounded for compound rates)
    raw: Decimal  # unrounded tax
    amount: Decimal | None = None  # rounded, when the group fixes it (inclusive, per line)


def code_rates(co: Company, code: dict) -> list[Rate]:
    details = ((code.get("SalesTaxRateList") or {}).get("TaxRateDetail")) or []
    rates = []
    for detail in details:
        ident = str((detail.get("TaxRateRef") or {}).get("value"))
        record = co.get("TaxRate", ident) or {}
        rates.append(
            Rate(
                ident,
                record.get("Name", ident),
                dec(record.get("RateValue", 0)),
                detail.get("TaxTypeApplicable") or "TaxOnAmount",
                int(detail.get("TaxOrder") or 0),
            )
        )
    return sorted(rates, key=lambda r: r.order)  # stable: equal orders keep the code's order


def chain(rates: list[Rate], net: Decimal) -> list[tuple[Decimal, Decimal]]:
    """(base, unrounded tax) of each rate on `net`; a compound rate taxes the net plus the preceding taxes."""
    out: list[tuple[Decimal, Decimal]] = []
    for rate in rates:
        before = sum((tax for _, tax in out), ZERO)
        if rate.applicable == "TaxOnAmountPlusTax":
            base = net + before
        elif rate.applicable == "TaxOnTax":
            base = before
        else:
            base = net
        out.append((base, base * rate.percent / 100))
    return out


def group_shares(
    rates: list[Rate], amounts: list[Decimal], inclusive: bool
) -> tuple[list[Decimal], list[Share]]:
    """Net amounts of a group of lines with the same rates, and each rate's share of their tax.

    Exclusive: the amounts are net. Inclusive: each line's net is its amount divided by (1 + the code's
    total rate), to the cent; the group's tax is what is left of the amounts, split over the rates in
    proportion (the last taxing rate takes the rounding), so that net + tax is exactly what was charged."""
    if not inclusive:
        net = sum(amounts, ZERO)
        return amounts, [
            Share(rate, base, raw) for rate, (base, raw) in zip(rates, chain(rates, net), strict=True)
        ]
    factor = 1 + sum((raw for _, raw in chain(rates, Decimal(1))), ZERO)
    nets = [cents(amount / factor) for amount in amounts]
    net = sum(nets, ZERO)
    tax = sum(amounts, ZERO) - net
    shares = [
        Share(rate, base, raw, cents(raw)) for rate, (base, raw) in zip(rates, chain(rates, net), strict=True)
    ]
    taxing = [s for s in shares if s.rate.percent]
    if taxing:
        taxing[-1].amount += tax - sum((s.amount for s in shares), ZERO)
    return nets, shares


def tax_lines(shares: list[Share], rounding: str) -> list[dict]:
    """One TaxLine per rate, in the order the rates first appear; amounts rounded per rate (per_rate) or
    already rounded per group (per_line, and inclusive groups)."""
    by_rate: dict[str, list[Share]] = {}
    for share in shares:
        by_rate.setdefault(share.rate.id, []).append(share)
    out = []
    for group in by_rate.values():
        rate = group[0].rate
        if rounding == "per_rate" and all(s.amount is None for s in group):
            amount = cents(sum((s.raw for s in group), ZERO))
        else:
            amount = sum((s.amount if s.amount is not None else cents(s.raw) for s in group), ZERO)
        out.append(
            {
                "Amount": amount,
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": {"value": rate.id},  # as recorded (cdc/basic.yml): no name
                    "PercentBased": True,
                    "TaxPercent": number(rate.percent),
                    "NetAmountTaxable": cents(sum((s.base for s in group), ZERO)),
                },
            }
        )
    return out


def detail_out(lines: list[dict], code_ref: dict | None = None) -> dict:
    """TxnTaxDetail as JSON: Decimals become numbers."""
    total = sum((line["Amount"] for line in lines), ZERO)
    out: dict = {"TxnTaxCodeRef": code_ref} if code_ref else {}
    out["TotalTax"] = money_out(total)
    rendered = []
    for line in lines:
        detail = dict(line["TaxLineDetail"])
        detail["NetAmountTaxable"] = money_out(detail["NetAmountTaxable"])
        if "OverrideDeltaAmount" in detail:
            detail["OverrideDeltaAmount"] = money_out(detail["OverrideDeltaAmount"])
        rendered.append({**line, "Amount": money_out(line["Amount"]), "TaxLineDetail": detail})
    if rendered or code_ref:
        out["TaxLine"] = rendered
    return out


# --- requests ------------------------------------------------------------------------------------


def sales_lines(lines: list[dict]) -> list[dict]:
    return [ln for ln in lines if ln.get("DetailType") == "SalesItemLineDetail"]


def code_value(line: dict) -> str | None:
    ref = line["SalesItemLineDetail"].get("TaxCodeRef")
    value = ref.get("value") if isinstance(ref, dict) else ref
    if value is None or str(value).strip() == "":
        return None
    return str(value).strip()


def requested_amount(value: object, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise E.invalid_number(field, value)
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise E.invalid_number(field, value) from None
    if not amount.is_finite():
        raise E.invalid_number(field, value)
    return amount


def tax_code(co: Company, ident: str, element: str) -> dict:
    code = co.get("TaxCode", ident)
    if code is None:
        raise E.invalid_reference("TaxCode", ident, element)
    if code.get("Active") is False:
        raise E.object_not_found()
    return code


def inclusive(co: Company, record: dict) -> bool:
    return region_of(co).is_global and record.get("GlobalTaxCalculation") == "TaxInclusive"


def check_mode(co: Company, record: dict) -> None:
    """GlobalTaxCalculation: TaxExcluded by default in a global company; not applicable to US ones."""
    if not region_of(co).is_global:
        record.pop("GlobalTaxCalculation", None)
        return
    mode = record.get("GlobalTaxCalculation") or "TaxExcluded"
    if mode not in GLOBAL_MODES:
        raise E.invalid_enum("GlobalTaxCalculation", mode)
    record["GlobalTaxCalculation"] = mode


def apply(co: Company, record: dict, requested: dict | None, customer: dict, ctx) -> Decimal:
    """Validate the lines' tax codes and set `record["TxnTaxDetail"]` (and, for tax-inclusive lines, each
    line's net `Amount` and `TaxInclusiveAmt`); returns the total tax."""
    requested = requested if isinstance(requested, dict) else {}
    check_mode(co, record)
    region = region_of(co)
    if region.is_global:
        lines, detail = global_tax(co, region, record, requested)
    elif co.setting("sales_tax") == "none":
        lines, detail = us_without_sales_tax(co, record), {"TotalTax": 0}
    else:
        lines, detail = us_sales_tax(co, record, requested, customer, ctx)
    record["TxnTaxDetail"] = detail
    return sum((line["Amount"] for line in lines), ZERO)


# --- global --------------------------------------------------------------------------------------


def global_tax(co: Company, region: Region, record: dict, requested: dict) -> tuple[list[dict], dict]:
    incl = inclusive(co, record)
    groups: dict[str, tuple[dict, list[dict]]] = {}
    for line in sales_lines(record["Line"]):
        ident = code_value(line)
        if ident is None:
            raise E.business_validation(region.missing_tax_code())
        code = tax_code(co, ident, "TaxCodeRef")  # TAX and NON are no TaxCode here: 2500
        line["SalesItemLineDetail"]["TaxCodeRef"] = {"value": ident}
        key = ident if co.setting("tax_rounding") == "per_rate" else f"{ident}:{line['Id']}"
        groups.setdefault(key, (code, []))[1].append(line)
    shares: list[Share] = []
    for code, group in groups.values():
        rates = code_rates(co, code)
        if record["GlobalTaxCalculation"] == "NotApplicable" and any(r.percent for r in rates):
            raise E.business_validation(
                f"GlobalTaxCalculation NotApplicable cannot be used with the taxable code {code['Name']!r}."
            )
        amounts = [dec(line["Amount"]) for line in group]
        nets, group_shares_ = group_shares(rates, amounts, incl)
        if co.setting("tax_rounding") == "per_line" and not incl:
            for share in group_shares_:
                share.amount = cents(share.raw)
        shares += group_shares_
        for line, gross, net in zip(group, amounts, nets, strict=True):
            if incl:
                line["Amount"] = number(net)
                line["SalesItemLineDetail"]["TaxInclusiveAmt"] = number(gross)
            else:  # a price with tax left from a tax-inclusive version means nothing here
                line["SalesItemLineDetail"].pop("TaxInclusiveAmt", None)
    lines = tax_lines(shares, co.setting("tax_rounding"))
    if co.setting("global_tax_override") == "accept":
        override_tax_lines(lines, requested)
    return lines, detail_out(lines)


def override_tax_lines(lines: list[dict], requested: dict) -> None:
    """Tax amounts the request supplies per TaxRate replace QBO's ("you may supply it when adding a
    transaction", Intuit's Invoice reference); each rate must be one of the lines' codes' rates, once."""
    given = requested.get("TaxLine")
    if not isinstance(given, list):
        return
    by_rate = {line["TaxLineDetail"]["TaxRateRef"]["value"]: line for line in lines}
    seen = set()
    for item in given:
        if not isinstance(item, dict):
            continue
        ref = (item.get("TaxLineDetail") or {}).get("TaxRateRef") or {}
        ident = str(ref.get("value") if isinstance(ref, dict) else ref)
        amount = requested_amount(item.get("Amount"), "TxnTaxDetail.TaxLine.Amount")
        if ident in seen:
            raise E.business_validation(f"TaxRate {ident} is listed more than once in TxnTaxDetail.")
        seen.add(ident)
        if ident not in by_rate:
            raise E.business_validation(
                f"TaxRate {ident} in TxnTaxDetail is not a rate of the tax codes on this transaction's lines."
            )
        if amount is None:
            continue
        line = by_rate[ident]
        delta = cents(amount) - line["Amount"]
        line["Amount"] = cents(amount)
        if delta:
            line["TaxLineDetail"]["OverrideDeltaAmount"] = delta


# --- US ------------------------------------------------------------------------------------------


def us_line_codes(co: Company, record: dict) -> list[dict]:
    """Every sales line is TAX or NON; without a code, the item's Taxable flag decides (UNCONFIRMED)."""
    out = []
    for line in sales_lines(record["Line"]):
        ident = code_value(line)
        if ident is None:
            item = co.get("Item", line["SalesItemLineDetail"]["ItemRef"]["value"]) or {}
            ident = "TAX" if item.get("Taxable") is True and co.setting("sales_tax") != "none" else "NON"
        if ident not in PSEUDO_CODES:
            raise E.business_validation(
                f"A line's TaxCodeRef in a US company is TAX or NON, not {ident!r}; the tax code or group "
                "goes in TxnTaxDetail.TxnTaxCodeRef."
            )
        line["SalesItemLineDetail"]["TaxCodeRef"] = {"value": ident}
        out.append(line)
    return out


def us_without_sales_tax(co: Company, record: dict) -> list[dict]:
    for line in us_line_codes(co, record):
        if code_value(line) == "TAX" and co.setting("tax_line_without_sales_tax") == "reject":
            raise E.business_validation(
                "Sales tax is not set up for this company, so a line cannot be TAX. Send NON, or set up "
                "sales tax in QuickBooks first."
            )
    return []


def us_sales_tax(co: Company, record: dict, requested: dict, customer: dict, ctx) -> tuple[list[dict], dict]:
    taxed = [dec(line["Amount"]) for line in us_line_codes(co, record) if code_value(line) == "TAX"]
    if co.setting("sales_tax") == "ast":
        return ast_tax(co, record, requested, taxed, ctx)
    ref = requested.get("TxnTaxCodeRef")
    ident = ref.get("value") if isinstance(ref, dict) else ref
    ident = str(ident).strip() if ident not in (None, "") else co.setting("default_tax_code")
    if not ident:
        return [], {"TotalTax": 0}  # TAX lines without a tax code: no tax (UNCONFIRMED)
    code = tax_code(co, str(ident), "TxnTaxCodeRef")
    rates = code_rates(co, code)
    shares: list[Share] = []
    units = [[amount] for amount in taxed] if co.setting("tax_rounding") == "per_line" else [taxed]
    for unit in units:
        _, unit_shares = group_shares(rates, unit, inclusive=False)
        if co.setting("tax_rounding") == "per_line":
            for share in unit_shares:
                share.amount = cents(share.raw)
        shares += unit_shares
    lines = tax_lines(shares, co.setting("tax_rounding"))
    return lines, detail_out(lines, {"value": code["Id"]})


def customer_state(co: Company, record: dict) -> str:
    """Where AST taxes the sale: the ship-to state, else the bill-to state, else the company's own."""
    for addr in ("ShipAddr", "BillAddr"):
        state = (record.get(addr) or {}).get("CountrySubDivisionCode")
        if state and str(state).strip():
            return str(state).strip().upper()
    return region_of(co).address.get("CountrySubDivisionCode", "")


def ast_tax(co: Company, record: dict, requested: dict, taxed: list[Decimal], ctx) -> tuple[list[dict], dict]:
    """AST: the state's rate on the TAX lines, whatever TxnTaxCodeRef was sent (Intuit: "replaced by the
    automated sales tax engine recommendation"); TotalTax sent with minor version >= 70 overrides it, the
    difference going to the tax line (OverrideDeltaAmount)."""
    override = requested_amount(requested.get("TotalTax"), "TxnTaxDetail.TotalTax")
    if override is not None and override < 0:
        raise E.business_validation("TxnTaxDetail.TotalTax cannot be negative.")
    state = customer_state(co, record)
    rates = co.setting("ast_rates") or {}
    percent = dec(rates.get(state, rates.get("default", "0")))
    code, rate = ast_records(co, state, percent, ctx)
    net = sum(taxed, ZERO)
    lines = tax_lines([Share(rate, net, net * percent / 100)], "per_rate")
    if override is not None and ctx.minor_version >= AST_OVERRIDE_MINOR_VERSION:
        delta = cents(override) - lines[0]["Amount"]
        lines[0]["Amount"] = cents(override)
        if delta:
            lines[0]["TaxLineDetail"]["OverrideDeltaAmount"] = delta
    return lines, detail_out(lines, {"value": code["Id"]})


def ast_records(co: Company, state: str, percent: Decimal, ctx) -> tuple[dict, Rate]:
    """The AST engine's TaxRate and TaxCode for a state, made the first time the state is taxed (as AST
    adds jurisdictions as it meets them); the rate follows the `ast_rates` setting."""
    name = f"{state or 'Unknown'} State"
    code = next((c for c in co.table("TaxCode").values() if c.get("Name") == f"{name} (AST)"), None)
    if code is None:
        agency = put_record(
            co, "TaxAgency", agency_record(co.next_id("TaxAgency"), f"{name} tax agency"), ctx.now, ctx.epoch
        )
        rate_rec = rate_record(co.next_id("TaxRate"), name, str(percent), agency["Id"], "NONE")
        rate_rec = put_record(co, "TaxRate", rate_rec, ctx.now, ctx.epoch)
        code_rec = code_record(
            co.next_id("TaxCode"),
            f"{name} (AST)",
            f"{name} (AST)",
            [(rate_rec["Id"], "TaxOnAmount", 0)],
            {rate_rec["Id"]: name},
            "SYSTEM_GENERATED",
        )
        code = put_record(co, "TaxCode", code_rec, ctx.now, ctx.epoch)
    rate_id = code["SalesTaxRateList"]["TaxRateDetail"][0]["TaxRateRef"]["value"]
    stored = co.get("TaxRate", rate_id)
    if stored is not None and dec(stored.get("RateValue", 0)) != percent:
        stored["RateValue"] = number(percent)  # the setting changed since
    return code, Rate(rate_id, name, percent, "TaxOnAmount", 0)

"""The QBO v3 data API: entity create/read/update/delete/void, query, batch, CDC, preferences, companyinfo.

Every function here runs with `Store.lock` held and returns (HTTP status, JSON payload)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from . import errors as E
from .clock import fmt_datetime, parse_datetime
from .currency import given_currency
from .entities import BY_LOWER, BY_PATH, ENTITIES, ID_RE, NOT_IN_CDC, Ctx, check_lengths, is_namelist
from .query import Evaluator, parse, validate_fields
from .regions import REGIONS
from .store import NAME_LIST, Company
from .tax import PSEUDO_CODES, region_of


def classify(method: str, rest: str, params: dict, body: object) -> str:
    """The operation a request performs, for fault matching and the request log."""
    head = rest.split("/", 1)[0]
    if head == "query":
        return "query"
    if head in ("batch", "cdc", "preferences", "companyinfo"):
        return head if method == "GET" or head == "batch" else f"{head}_update"
    if method == "GET":
        return "read"
    op = (params.get("operation") or "").lower()
    if op == "delete":
        return "delete"
    if op == "void" or "void" in (params.get("include") or "").lower():
        return "void"
    if isinstance(body, dict) and body.get("Id") not in (None, ""):
        return "update"
    return "create"


# --- query ---------------------------------------------------------------------------------------


def run_query(co: Company, text: str) -> dict:
    q = parse(text)
    entity = BY_LOWER.get(q.entity.lower())
    if entity is None:
        raise E.query_invalid(f"invalid context declaration: {q.entity}")
    validate_fields(q, entity.known)
    ev = Evaluator(case_insensitive=bool(co.setting("query_case_insensitive")), tz=co.tz)
    conds = list(q.where)
    table = co.table(entity.name)
    candidates = None
    for cond in conds:  # fast paths: Id = / Id IN, DisplayName = on the name index
        if cond.field.lower() == "id" and cond.op in ("=", "in"):
            ids = cond.value if cond.op == "in" else [cond.value]
            found = {}
            for value in ids:
                key = str(int(value)) if isinstance(value, float) and value == int(value) else str(value)
                if key in table:
                    found[key] = table[key]
            candidates = list(found.values())
            break
        if (
            cond.field == "DisplayName"
            and cond.op == "="
            and entity.name in NAME_LIST
            and isinstance(cond.value, str)
            and co.setting("query_case_insensitive")
            and co.setting("name_case_insensitive")
            and cond.value == cond.value.strip()
        ):
            holder = co.names.get(co.name_key(cond.value))
            candidates = (
                [table[holder[1]]] if holder and holder[0] == entity.name and holder[1] in table else []
            )
            break
    rows = list(table.values()) if candidates is None else candidates
    if is_namelist(entity.name) and not any(c.field.lower() == "active" for c in conds):
        rows = [r for r in rows if r.get("Active", True) is not False]
    if conds:
        rows = [r for r in rows if all(ev.matches(r, c) for c in conds)]
    pseudo = pseudo_tax_codes(co) if entity.name == "TaxCode" else []
    pseudo = [r for r in pseudo if all(ev.matches(r, c) for c in conds)]
    if q.count:
        return {"QueryResponse": {"totalCount": len(pseudo) + len(rows)}}
    order = q.order or list(entity.default_order)
    for path, desc in reversed(order):
        rows.sort(key=lambda r, p=path: ev.sort_key(r, p), reverse=desc)
    rows = pseudo + rows
    page = rows[q.start - 1 : q.start - 1 + q.max_results]
    if not page:
        return {"QueryResponse": {}}
    return {"QueryResponse": {entity.name: page, "startPosition": q.start, "maxResults": len(page)}}


def pseudo_tax_codes(co: Company) -> list[dict]:
    """TAX and NON as Intuit's TaxCode reference example lists them in a query answer. A 2026 report says
    a query returns only the company's own codes (qbo-api-facts §13), which is the default; the setting
    taxcode_query_pseudo_codes (US companies) gives the reference's answer."""
    if not co.setting("taxcode_query_pseudo_codes") or region_of(co).is_global:
        return []
    stamp = fmt_datetime(parse_datetime_epoch(co))
    return [
        {
            "TaxGroup": False,
            "Name": code,
            "Taxable": code == "TAX",
            "Description": code,
            "Id": code,
            "Active": True,
            "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
        }
        for code in PSEUDO_CODES
    ]


# --- CDC -----------------------------------------------------------------------------------------

# How changedSince bounds the answer (setting cdc_boundary). QBO's timestamps are whole seconds and its docs
# do not say whether the changedSince second itself is in (UNCONFIRMED), so the sandbox can do either:
#   second_inclusive (default): a change in the same second as changedSince is returned, also one made
#       after that instant, so the next window repeats it (clients must drop what they already have);
#   second_exclusive: only changes from the next whole second on (clients must start a second earlier);
#   exact: changes at or after the instant, sub-second (the sandbox's former rule).
CDC_BOUNDARIES = ("second_inclusive", "second_exclusive", "exact")


def _cdc_includes(boundary: str, changed: float, since: float) -> bool:
    if boundary == "exact":
        return changed >= since
    if boundary == "second_inclusive":
        return math.floor(changed) >= math.floor(since)
    return math.floor(changed) > math.floor(since)


def run_cdc(co: Company, entities_param: str | None, since_param: str | None, ctx: Ctx) -> dict:
    if not entities_param:
        raise E.required_missing("entities")
    if not since_param:
        raise E.required_missing("changedSince")
    since = parse_datetime(since_param, co.tz)
    if since is None:
        raise E.QBOError(
            2010,
            "Request has invalid or unsupported property",
            f"Invalid changedSince value: {since_param}",
            element="changedSince",
        )
    max_days = co.setting("cdc_max_days")
    if max_days is not None and since < ctx.now - timedelta(days=float(max_days)):
        raise E.QBOError(
            500,
            "Unsupported Operation",
            f"Operation cdc with changedSince date {since_param} which is older than fixed days is "
            "not supported",
        )
    names = []
    for raw in entities_param.split(","):
        entity = BY_LOWER.get(raw.strip().lower())
        if entity is None:
            raise E.query_invalid(f"invalid context declaration: {raw.strip()}")
        if entity.name in NOT_IN_CDC:  # the sandbox's answer (UNCONFIRMED); Intuit only says it is not
            raise E.unsupported_operation(f"cdc for {entity.name}")
        if entity.name not in names:
            names.append(entity.name)
    boundary = co.setting("cdc_boundary")
    if boundary not in CDC_BOUNDARIES:
        raise E.QBOError(10000, "An application error has occurred", f"bad cdc_boundary setting {boundary!r}")
    cutoff = since.timestamp()
    found: list[tuple[float, str, dict]] = []
    for name in names:
        for ident, record in co.table(name).items():
            ts = co.ts.get((name, ident), 0.0)
            if _cdc_includes(boundary, ts, cutoff):
                found.append((ts, name, record))
        for ident, stub in co.deleted.get(name, {}).items():
            ts = co.ts.get((name, ident), 0.0)
            if _cdc_includes(boundary, ts, cutoff):
                found.append(
                    (
                        ts,
                        name,
                        {
                            "domain": "QBO",
                            "status": "Deleted",
                            "Id": ident,
                            "MetaData": {
                                "LastUpdatedTime": stub.get("MetaData", {}).get(
                                    "LastUpdatedTime", fmt_datetime(ctx.now)
                                )
                            },
                        },
                    )
                )
    found.sort(key=lambda t: t[0])
    found = found[: int(co.setting("cdc_max_objects"))]
    responses = []
    for name in names:
        rows = [rec for _, n, rec in found if n == name]
        responses.append({name: rows, "startPosition": 1, "maxResults": len(rows)} if rows else {})
    return {"CDCResponse": [{"QueryResponse": responses}]}


# --- preferences, company info -------------------------------------------------------------------


def preferences(co: Company) -> dict:
    meta = fmt_datetime(parse_datetime_epoch(co))
    return {
        "AccountingInfoPrefs": {
            "TrackDepartments": False,
            "ClassTrackingPerTxn": False,
            "CustomerTerminology": "Customers",
            "BookCloseDate": None,
            "FirstMonthOfFiscalYear": "January",
            "TaxYearMonth": "January",
            "UseAccountNumbers": False,
        },
        "ProductAndServicesPrefs": {
            "ForSales": True,
            "ForPurchase": True,
            "QuantityWithPriceAndRate": True,
            "QuantityOnHand": True,
        },
        "SalesFormsPrefs": {
            "CustomField": [],
            "AllowDeposit": True,
            "AllowDiscount": True,
            "AllowEstimates": True,
            "ETransactionEnabledStatus": "NotApplicable",
            "ETransactionAttachPDF": False,
            "ETransactionPaymentEnabled": False,
            "IPNSupportEnabled": False,
            "AllowServiceDate": True,
            "AllowShipping": False,
            "DefaultTerms": {"value": "3"},
            "DefaultDiscountAccount": "86",
            "CustomTxnNumbers": bool(co.setting("custom_txn_numbers")),
            "UsingPriceLevels": False,
            "UsingProgressInvoicing": False,
        },
        "EmailMessagesPrefs": {},
        "VendorAndPurchasesPrefs": {
            "TrackingByCustomer": True,
            "BillableExpenseTracking": True,
            "POCustomField": [],
        },
        "TimeTrackingPrefs": {
            "UseServices": True,
            "BillCustomers": True,
            "ShowBillRateToAll": False,
            "WorkWeekStartDate": "Monday",
            "MarkTimeEntriesBillable": True,
        },
        "TaxPrefs": tax_prefs(co),
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": bool(co.setting("multi_currency")),
            "HomeCurrency": {"value": co.setting("home_currency")},
        },
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {"NameValue": [{"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": ""}]},
        "domain": "QBO",
        "sparse": False,
        "Id": "1",
        "SyncToken": str(co.overrides.get("_prefs_sync_token", 0)),
        "MetaData": {"CreateTime": meta, "LastUpdatedTime": meta},
    }


def tax_prefs(co: Company) -> dict:
    """Global companies always use their VAT/GST codes; US ones as their sales_tax setting says."""
    sales_tax = "manual" if region_of(co).is_global else co.setting("sales_tax")
    prefs: dict = {"UsingSalesTax": sales_tax != "none", "PartnerTaxEnabled": sales_tax == "ast"}
    if sales_tax == "manual" and co.setting("default_tax_code"):
        prefs["TaxGroupCodeRef"] = {"value": str(co.setting("default_tax_code"))}
    return prefs


def update_preferences(co: Company, body: dict) -> None:
    """The writable preferences: SalesFormsPrefs.CustomTxnNumbers, and multicurrency (on only: QBO never
    turns it off, qbo-api-facts §13). Wordings and code 6000 are the sandbox's (UNCONFIRMED)."""
    sales = body.get("SalesFormsPrefs")
    currency = body.get("CurrencyPrefs")
    if isinstance(currency, dict):
        home = given_currency(currency.get("HomeCurrency"))
        if home is not None and home != co.setting("home_currency"):
            raise E.business_validation(
                f"The home currency cannot be changed: it is {co.setting('home_currency')}."
            )
        enabled = currency.get("MultiCurrencyEnabled")
        if enabled is False and co.setting("multi_currency"):
            raise E.business_validation("Multicurrency cannot be turned off once it is on.")
        if enabled is True:
            co.overrides["multi_currency"] = True
    if isinstance(sales, dict) and "CustomTxnNumbers" in sales:
        co.overrides["custom_txn_numbers"] = bool(sales["CustomTxnNumbers"])


def parse_datetime_epoch(co: Company) -> datetime:
    return datetime.fromtimestamp(co.created_epoch, co.tz)


# A company's country as its home currency suggests (a sandbox's country is fixed when it is made).
COUNTRY_OF_CURRENCY = {"USD": "US", "GBP": "GB", "CAD": "CA", "AUD": "AU", "EUR": "FR", "INR": "IN"}


def country(co: Company) -> str:
    """The region's country; a company made without a region follows its home currency (as before)."""
    if "region" in co.overrides:
        return REGIONS[co.setting("region")].country
    return COUNTRY_OF_CURRENCY.get(co.setting("home_currency"), "US")


def company_info(co: Company) -> dict:
    created = parse_datetime_epoch(co)
    region = region_of(co)
    addr = {"Id": "1", **region.address, "Country": region.iso3}
    return {
        "CompanyName": co.name,
        "LegalName": co.name,
        "CompanyAddr": addr,
        "CustomerCommunicationAddr": addr,
        "LegalAddr": addr,
        "PrimaryPhone": {},
        "CompanyStartDate": created.date().isoformat(),
        "FiscalYearStartMonth": "January",
        "Country": country(co),
        "Email": {"Address": "noreply@quickbooks.com"},
        "WebAddr": {},
        "SupportedLanguages": "en",
        "NameValue": [
            {"Name": "NeoEnabled", "Value": "true"},
            {"Name": "IsQbdtMigrated", "Value": "false"},
            {"Name": "SubscriptionStatus", "Value": "SUBSCRIBED"},
            {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
        ],
        "domain": "QBO",
        "sparse": False,
        "Id": "1",
        "SyncToken": "0",
        "MetaData": {"CreateTime": fmt_datetime(created), "LastUpdatedTime": fmt_datetime(created)},
    }


# --- dispatch ------------------------------------------------------------------------------------


def entity_write(co: Company, entity_path: str, params: dict, body: object, ctx: Ctx) -> tuple[str, dict]:
    entity = BY_PATH.get(entity_path)
    if entity is None:
        raise E.unsupported_operation(f"Could not find resource for relative : /{entity_path}")
    if not isinstance(body, dict):
        raise E.bad_request_body("The request body must be a JSON object")
    op = classify("POST", entity_path, params, body)
    if op == "delete":
        if not entity.deletable:
            raise E.unsupported_operation(f"delete for {entity.name}")
        return entity.name, entity.delete(co, body, ctx)
    if op == "void":
        if not entity.voidable:
            raise E.unsupported_operation(f"void for {entity.name}")
        return entity.name, entity.void(co, body, ctx)
    if op == "update":
        if not entity.updatable:
            raise E.unsupported_operation(f"update for {entity.name}")
        entity.check_known(body)
        check_lengths(body, entity.field_limits)
        return entity.name, entity.update(co, body, ctx)
    if not entity.creatable:
        raise E.unsupported_operation(f"create for {entity.name}")
    entity.check_known(body)
    check_lengths(body, entity.field_limits)
    return entity.name, entity.create(co, body, ctx)


def read_entity(co: Company, entity_path: str, ident: str) -> tuple[str, dict]:
    entity = BY_PATH.get(entity_path)
    if entity is None:
        raise E.unsupported_operation(f"Could not find resource for relative : /{entity_path}/{ident}")
    if not ID_RE.match(ident):
        raise E.invalid_id(ident)
    record = co.get(entity.name, ident)
    if record is None:
        raise E.object_not_found(
            "Object Not Found : Something you're trying to use has been made inactive. Check the fields with "
            f"accounts, customers, items, vendors or employees. ({entity.name} Id={ident})"
        )
    return entity.name, record


def batch(co: Company, body: object, ctx: Ctx, gate: Callable[[dict], None] | None = None) -> dict:
    """`gate(item)` runs before each item and may refuse it by raising a QBOError (the monthly read cap)."""
    if not isinstance(body, dict) or not isinstance(body.get("BatchItemRequest"), list):
        raise E.required_missing("BatchItemRequest")
    items = body["BatchItemRequest"]
    maximum = int(co.setting("max_batch_items"))
    if len(items) > maximum:
        raise E.batch_too_large(len(items), maximum)
    bids = [item.get("bId") for item in items if isinstance(item, dict)]
    if len(bids) != len(items) or any(not b for b in bids):
        raise E.required_missing("bId")
    if len(set(bids)) != len(bids):
        raise E.QBOError(2010, "Request has invalid or unsupported property", "bId values must be unique")
    out = []
    for item in items:
        result: dict
        try:
            if gate:
                gate(item)
            if "Query" in item:
                result = run_query(co, item["Query"])
            elif "CDCQuery" in item:
                cdc_q = item["CDCQuery"] or {}
                result = run_cdc(co, cdc_q.get("Entities"), cdc_q.get("ChangedSince"), ctx)
            else:
                names = [k for k in item if k in ENTITIES]
                if len(names) != 1:
                    raise E.bad_request_body(
                        "Each batch item needs exactly one entity, a Query or a CDCQuery"
                    )
                name = names[0]
                operation = (item.get("operation") or "create").lower()
                params: dict = {}
                payload = item[name]
                if operation == "delete":
                    params["operation"] = "delete"
                elif operation == "update" and str(item.get("optionsData") or "").lower() == "void":
                    params["include"] = "void"
                elif operation == "update":
                    if not isinstance(payload, dict) or payload.get("Id") in (None, ""):
                        raise E.required_missing("Id")
                elif operation == "create":
                    if isinstance(payload, dict) and payload.get("Id") not in (None, ""):
                        raise E.bad_request_body("A create must not carry an Id")
                else:
                    raise E.invalid_enum("operation", operation)
                key, record = entity_write(co, ENTITIES[name].path, params, payload, ctx)
                result = {key: record}
        except E.QBOError as err:
            result = {"Fault": err.fault()}
        result["bId"] = item["bId"]
        out.append(result)
    return {"BatchItemResponse": out}


def dispatch(
    co: Company,
    method: str,
    rest: str,
    params: dict,
    body: object,
    raw_body: bytes,
    ctx: Ctx,
    gate: Callable[[dict], None] | None = None,
) -> tuple[int, dict]:
    parts = [p for p in rest.split("/") if p != ""]
    if not parts:
        raise E.unsupported_operation("Could not find resource for relative : /")
    head = parts[0]
    if head == "query":
        text = params.get("query") if method == "GET" else raw_body.decode("utf-8", errors="replace")
        if not text:
            raise E.required_missing("query")
        return 200, run_query(co, text)
    if head == "batch" and method == "POST" and len(parts) == 1:
        return 200, batch(co, body, ctx, gate)
    if head == "cdc" and method == "GET" and len(parts) == 1:
        return 200, run_cdc(co, params.get("entities"), params.get("changedSince"), ctx)
    if head == "preferences" and len(parts) == 1:
        if method == "POST" and isinstance(body, dict):
            update_preferences(co, body)
            co.overrides["_prefs_sync_token"] = int(co.overrides.get("_prefs_sync_token", 0)) + 1
        return 200, {"Preferences": preferences(co)}
    if head == "companyinfo" and method == "GET" and len(parts) == 2:
        if not ID_RE.match(parts[1]):
            raise E.invalid_id(parts[1])
        return 200, {"CompanyInfo": company_info(co)}
    if method == "GET" and len(parts) == 2:
        key, record = read_entity(co, head, parts[1])
        return 200, {key: record}
    if method == "POST" and len(parts) == 1:
        key, record = entity_write(co, head, params, body, ctx)
        return 200, {key: record}
    raise E.unsupported_operation(f"Could not find resource for relative : /{rest}")

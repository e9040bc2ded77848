"""The control API under /_sandbox/ (JSON), for tests, benchmarks and the demo."""

from __future__ import annotations

import html
import json
from decimal import Decimal
from typing import TYPE_CHECKING

from . import errors as E
from . import regions
from .clock import fmt_datetime, fmt_time, parse_datetime
from .currency import currency_ref
from .entities import ENTITIES, merge_customers
from .faults import KINDS
from .store import DEFAULT_SETTINGS, FIXED_SETTINGS, Company, new_realm_id
from .tax import ast_records

if TYPE_CHECKING:
    from .server import Request, Response, Sandbox

DEFAULT_ACCOUNTS = [  # (Name, AccountType, AccountSubType, Classification); Undeposited Funds must be Id 4
    ("Services", "Income", "ServiceFeeIncome", "Revenue"),
    ("Sales of Product Income", "Income", "SalesOfProductIncome", "Revenue"),
    ("Checking", "Bank", "Checking", "Asset"),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds", "Asset"),
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset"),
    ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", "Liability"),
    ("Discounts given", "Income", "DiscountsRefundsGiven", "Revenue"),
    ("Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs", "Expense"),
    ("Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses", "Expense"),
]


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def raw_insert(sb: Sandbox, co: Company, entity: str, record: dict) -> dict:
    """Insert a record as given (tests and seeds): Id, SyncToken and MetaData are kept when present."""
    now = sb.clock.now(co.tz)
    rec = dict(record)
    ident = str(rec.get("Id") or co.next_id(entity))
    co.bump_sequence(entity, ident)
    rec.setdefault("domain", "QBO")
    rec.setdefault("sparse", False)
    rec["Id"] = ident
    rec["SyncToken"] = str(rec.get("SyncToken", "0"))
    meta = rec.setdefault("MetaData", {"CreateTime": fmt_datetime(now), "LastUpdatedTime": fmt_datetime(now)})
    updated = parse_datetime(meta.get("LastUpdatedTime", ""), co.tz)
    co.put(entity, rec, updated.timestamp() if updated else sb.clock.epoch())
    return rec


COMPANY_OPTIONS = frozenset(
    {
        "name",
        "realmId",
        "customer_types",
        "custom_txn_numbers",
        "settings",
        "preset",
        "region",
        "sales_tax",
        "ast_rates",
        "multicurrency",
        "home_currency",
        "exchange_rates",
    }
)


def region_settings(spec: dict, settings: dict) -> dict:
    """The settings a company's region options make: region, sales_tax, ast_rates, multicurrency,
    home_currency, exchange_rates (a preset names a set of them; explicit options win)."""
    preset = spec.get("preset")
    if preset not in (None, ""):
        if preset not in regions.PRESETS:
            raise ControlError(400, f"unknown preset {preset!r}; known: {sorted(regions.PRESETS)}")
        spec = {**regions.PRESETS[preset], **{k: v for k, v in spec.items() if k != "preset"}}
    out = dict(settings)
    for key, setting in (
        ("region", "region"),
        ("sales_tax", "sales_tax"),
        ("multicurrency", "multi_currency"),
    ):
        if spec.get(key) is not None:
            out[setting] = spec[key]
    for key in ("ast_rates", "home_currency", "exchange_rates"):
        if spec.get(key) is not None:
            out[key] = spec[key]
    region = str(out.get("region", "US")).upper()
    if region not in regions.REGIONS:
        raise ControlError(400, f"unknown region {region!r}; known: {sorted(regions.REGIONS)}")
    if "region" in out:
        out["region"] = region
        out.setdefault("home_currency", regions.REGIONS[region].currency)
    sales_tax = out.get("sales_tax", "none")
    if sales_tax not in regions.SALES_TAX:
        raise ControlError(400, f"sales_tax must be one of {list(regions.SALES_TAX)}")
    if region != "US" and "sales_tax" in out:
        raise ControlError(
            400, "sales_tax is for US companies; UK, CA and AU companies use their VAT/GST codes"
        )
    if "ast_rates" in out and sales_tax != "ast":
        raise ControlError(400, "ast_rates needs sales_tax 'ast'")
    if "multi_currency" in out:
        out["multi_currency"] = bool(out["multi_currency"])
    return check_values(out)


CHOICES = {
    "tax_rounding": ("per_rate", "per_line"),
    "global_tax_override": ("accept", "ignore"),
    "tax_line_without_sales_tax": ("reject", "ignore"),
}


def check_values(settings: dict) -> dict:
    """Check the region, tax and currency settings' values (and normalise them)."""
    for key, choices in CHOICES.items():
        if key in settings and settings[key] not in choices:
            raise ControlError(400, f"{key} must be one of {list(choices)}")
    floor = settings.get("minor_version_floor")
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, int) or floor < 0):
        raise ControlError(400, "minor_version_floor must be a whole number >= 0, or null")
    if settings.get("default_tax_code") is not None:
        settings["default_tax_code"] = str(settings["default_tax_code"])
    try:
        if "ast_rates" in settings:
            settings["ast_rates"] = regions.check_ast_rates(settings["ast_rates"])
        if "exchange_rates" in settings:
            settings["exchange_rates"] = regions.check_exchange_rates(settings["exchange_rates"])
    except ValueError as err:
        raise ControlError(400, str(err)) from None
    home = settings.get("home_currency")
    if home is not None:
        if not (isinstance(home, str) and len(home.strip()) == 3 and home.strip().isalpha()):
            raise ControlError(400, f"home_currency {home!r} is not a three-letter currency code")
        settings["home_currency"] = home.strip().upper()
    return settings


def create_company(sb: Sandbox, spec: dict) -> dict:
    unknown_options = set(spec) - COMPANY_OPTIONS
    if unknown_options:
        raise ControlError(
            400, f"unknown options: {sorted(unknown_options)}; known: {sorted(COMPANY_OPTIONS)}"
        )
    name = str(spec.get("name") or "Sandbox Company").strip()
    realm_id = str(spec.get("realmId") or new_realm_id())
    settings = dict(spec.get("settings") or {})
    for key in ("custom_txn_numbers",):
        if key in spec:
            settings[key] = bool(spec[key])
    unknown = set(settings) - set(DEFAULT_SETTINGS) - {"tz_offset_minutes"}
    if unknown:
        raise ControlError(400, f"unknown settings: {sorted(unknown)}")
    settings = region_settings(spec, settings)
    with sb.store.lock:
        if realm_id in sb.store.companies:
            raise ControlError(409, f"company {realm_id} already exists")
        co = Company(realm_id, name, sb.clock.epoch(), settings)
        sb.store.add(co)
        for acct_name, acct_type, sub_type, classification in DEFAULT_ACCOUNTS:
            raw_insert(
                sb,
                co,
                "Account",
                {
                    "Name": acct_name,
                    "SubAccount": False,
                    "FullyQualifiedName": acct_name,
                    "Active": True,
                    "Classification": classification,
                    "AccountType": acct_type,
                    "AccountSubType": sub_type,
                    "CurrentBalance": 0,
                    "CurrentBalanceWithSubAccounts": 0,
                    "CurrencyRef": currency_ref(co.setting("home_currency")),
                },
            )
        raw_insert(
            sb,
            co,
            "Item",
            {
                "Name": "Services",
                "Active": True,
                "FullyQualifiedName": "Services",
                "Taxable": False,
                "UnitPrice": 0,
                "Type": "Service",
                "IncomeAccountRef": {"value": "1", "name": "Services"},
                "PurchaseCost": 0,
                "TrackQtyOnHand": False,
            },
        )
        for type_name in spec.get("customer_types") or []:
            raw_insert(sb, co, "CustomerType", {"Name": str(type_name), "Active": True})
        raw_insert(sb, co, "Term", {"Name": "Net 30", "Active": True, "Type": "STANDARD", "DueDays": 30})
        ctx = sb.ctx(co)
        regions.seed_tax(co, co.setting("region"), co.setting("sales_tax"), ctx.now, ctx.epoch)
        if co.setting("sales_tax") == "ast":
            for state, percent in co.setting("ast_rates").items():
                if state != "default":
                    ast_records(co, state, Decimal(percent), ctx)
    return {"realmId": realm_id, "name": name}


def _company(sb: Sandbox, realm_id: str) -> Company:
    co = sb.store.get(realm_id)
    if co is None:
        raise ControlError(404, f"no company {realm_id}")
    return co


def _body(req: Request) -> dict:
    if not req.body:
        return {}
    try:
        data = json.loads(req.body)
    except ValueError:
        raise ControlError(400, "body must be JSON") from None
    if not isinstance(data, dict | list):
        raise ControlError(400, "body must be a JSON object")
    return data


def _settings_update(co: Company, changes: dict) -> dict:
    for key, value in changes.items():
        if key not in DEFAULT_SETTINGS and key != "tz_offset_minutes":
            raise ControlError(400, f"unknown setting {key!r}; known: {sorted(DEFAULT_SETTINGS)}")
        if key in FIXED_SETTINGS and value != co.setting(key):
            raise ControlError(
                400, f"{key} is fixed when the company is made (a QBO company's country never changes)"
            )
    changes = check_values(dict(changes))
    for key, value in changes.items():
        if key == "limits" and isinstance(value, dict):
            merged = dict(co.setting("limits") or DEFAULT_SETTINGS["limits"])
            merged.update(value)
            value = merged
        co.overrides[key] = value
    if "name_case_insensitive" in changes:
        co.rebuild_indexes()
    return co.settings()


def handle(sb: Sandbox, req: Request) -> Response:
    from .server import json_response

    try:
        status, payload = route(sb, req)
    except ControlError as err:
        status, payload = err.status, {"error": str(err)}
    except (ValueError, TypeError, KeyError) as err:
        status, payload = 400, {"error": f"{err.__class__.__name__}: {err}"}
    except E.QBOError as err:
        status, payload = err.status, {"Fault": err.fault()}
    return json_response(status, payload, "application/json")


def route(sb: Sandbox, req: Request) -> tuple[int, object]:
    path = req.path.rstrip("/")
    method = req.method
    parts = path.split("/")[2:]  # after "/_sandbox"
    params = req.params()
    if not parts:
        return 200, info(sb)
    head = parts[0]
    if head == "reset" and method == "POST":
        sb.reset()
        return 200, {"reset": True}
    if head == "requests":
        if method == "DELETE":
            sb.request_log.clear()
            return 200, {"cleared": True}
        entries = list(sb.request_log)
        if params.get("realm"):
            entries = [e for e in entries if e.get("realm") == params["realm"]]
        if params.get("kind"):
            entries = [e for e in entries if e.get("kind") == params["kind"]]
        limit = int(params.get("limit") or 0)
        if limit:
            entries = entries[-limit:]
        return 200, {"requests": entries, "count": len(entries)}
    if head == "meter":
        return 200, meter(sb, method, params, _body(req) if method == "POST" else {})
    if head == "clock":
        if method == "POST":
            body = _body(req)
            sb.clock.advance(float(body.get("advance", 0)))
            freeze = body.get("freeze")
            if freeze is False:
                sb.clock.unfreeze()
            elif freeze is not None:
                sb.clock.freeze(None if freeze is True else float(freeze))
        return 200, {
            "now": fmt_time(sb.clock.now()),
            "epoch": sb.clock.epoch(),
            "scale": sb.clock.scale,
            "frozen": sb.clock.frozen,
        }
    if head == "webhooks":
        if method == "POST":
            body = _body(req)
            sub = sb.webhooks.subscribe(
                body.get("url"),
                body.get("verifier_token"),
                body.get("format", "legacy"),
                body.get("realms"),
                body.get("entities"),
            )
            sb.store.mark_dirty()
            return 201, sub
        if method == "DELETE":
            sb.webhooks.unsubscribe(int(parts[1]) if len(parts) > 1 else None)
            sb.store.mark_dirty()
            return 200, {"deleted": True}
        return 200, {"subscriptions": sb.webhooks.dump(), "deliveries": list(sb.webhooks.deliveries)}
    if head == "clients":
        if method == "POST":
            body = _body(req)
            if not body.get("client_id"):
                raise ControlError(400, "client_id is required")
            sb.oauth.register_client(
                body["client_id"], body.get("client_secret", ""), body.get("redirect_uris")
            )
            sb.store.mark_dirty()
            return 201, {"client_id": body["client_id"]}
        if method == "DELETE":
            sb.oauth.clients.clear()
            return 200, {"deleted": True}
        return 200, {
            "clients": [
                {"client_id": k, "redirect_uris": v["redirect_uris"]} for k, v in sb.oauth.clients.items()
            ]
        }
    if head != "companies":
        raise ControlError(404, f"unknown control endpoint {path}")
    if len(parts) == 1:
        if method == "POST":
            return 201, create_company(sb, _body(req))
        with sb.store.lock:
            return 200, {
                "companies": [{"realmId": co.realm_id, "name": co.name} for co in sb.store.companies.values()]
            }
    realm_id = parts[1]
    co = _company(sb, realm_id)
    sub = parts[2] if len(parts) > 2 else None
    if sub is None:
        if method == "DELETE":
            with sb.store.lock:
                sb.store.companies.pop(realm_id, None)
                sb.store.mark_dirty()
            return 200, {"deleted": realm_id}
        with sb.store.lock:
            summary = co.summary()
        summary["limits_stats"] = sb.limiter.stats(realm_id)
        summary["oauth"] = sb.oauth.realm_stats(realm_id)
        summary["faults"] = sb.faults.list(realm_id)
        return 200, summary
    if sub == "settings":
        with sb.store.lock:
            if method in ("POST", "PATCH", "PUT"):
                result = _settings_update(co, _body(req))
                sb.store.mark_dirty()
                return 200, result
            return 200, co.settings()
    if sub == "tokens":
        if len(parts) > 3 and parts[3] == "expire":
            body = _body(req)
            return 200, {"expired": sb.oauth.expire_realm_tokens(realm_id, bool(body.get("refresh")))}
        body = _body(req)
        tokens = sb.oauth.issue_direct(realm_id, body.get("client_id") or None)
        sb.store.mark_dirty()
        return 201, tokens
    if sub == "entities":
        if len(parts) < 4:
            with sb.store.lock:
                return 200, {"entities": {e: len(t) for e, t in co.records.items()}}
        entity = parts[3]
        if entity not in ENTITIES:
            raise ControlError(404, f"unknown entity {entity!r}; known: {sorted(ENTITIES)}")
        with sb.store.lock:
            if method == "POST":
                body = _body(req)
                items = body if isinstance(body, list) else [body]
                inserted = [raw_insert(sb, co, entity, item) for item in items]
                co.rebuild_indexes()
                return 201, {"records": inserted, "count": len(inserted)}
            records = [dict(r) for r in co.table(entity).values()]
            records += [dict(r) for r in co.deleted.get(entity, {}).values()]
            return 200, {"entity": entity, "records": json.loads(json.dumps(records)), "count": len(records)}
    if sub == "faults":
        if method == "POST":
            body = _body(req)
            try:
                fault = sb.faults.arm(realm_id, body)
            except ValueError as err:
                raise ControlError(400, str(err)) from None
            return 201, {"id": fault.id, "kind": fault.kind, "count": fault.remaining}
        if method == "DELETE":
            sb.faults.clear(realm_id)
            return 200, {"cleared": True}
        return 200, {"faults": sb.faults.list(realm_id), "kinds": KINDS}
    if sub == "merge" and method == "POST":
        body = _body(req)
        if body.get("entity", "Customer") != "Customer":
            raise ControlError(400, "only Customer merges are supported")
        with sb.store.lock:
            merged = merge_customers(co, str(body.get("from")), str(body.get("into")), sb.ctx(co))
            return 200, {"Customer": merged}
    raise ControlError(404, f"unknown control endpoint {path}")


def meter(sb: Sandbox, method: str, params: dict, body: dict) -> dict:
    """GET: counts (filters realm, client_id, month); POST: set a read cap; DELETE: clear the counts."""
    if method == "DELETE":
        sb.meter.clear()
    elif method == "POST":
        unknown = set(body) - {"read_cap", "client_id", "answer"}
        if unknown or "read_cap" not in body:
            raise ControlError(
                400, f"expected read_cap and optionally client_id, answer; unknown: {sorted(unknown)}"
            )
        try:
            sb.meter.set_cap(body["read_cap"], body.get("client_id"), body.get("answer", "429"))
        except ValueError as err:
            raise ControlError(400, str(err)) from None
    return sb.meter.report(params.get("realm"), params.get("client_id"), params.get("month"))


def info(sb: Sandbox) -> dict:
    return {
        "service": "qbsync QuickBooks Online sandbox",
        "time_scale": sb.clock.scale,
        "latency_ms": sb.config.latency_ms,
        "limits": "on" if sb.config.limits else "off",
        "companies": len(sb.store.companies),
        "fault_kinds": KINDS,
        "settings": DEFAULT_SETTINGS,
        "meter": _meter_summary(sb),
    }


def _meter_summary(sb: Sandbox) -> dict:
    """This month's calls over every realm and client, and the read caps."""
    report = sb.meter.report(month=sb.meter.month())
    month = report["months"].get(report["month"], {})
    return {
        "month": report["month"],
        **month.get("total", {"Core": 0, "CorePlus": 0}),
        "read_caps": report["read_caps"],
    }


def index_page(sb: Sandbox) -> str:
    meter = _meter_summary(sb)
    caps = ", ".join(
        f"{html.escape(cap['client_id'] or 'every client')}: {cap['read_cap']}" for cap in meter["read_caps"]
    )
    rows = "".join(
        f"<li>{html.escape(co.name)} — realmId <code>{html.escape(co.realm_id)}</code></li>"
        for co in list(sb.store.companies.values())
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>QBO sandbox</title></head><body>"
        "<h1>QuickBooks Online sandbox</h1><p>Data API under <code>/v3/company/{realmId}/</code>, "
        "OAuth discovery at <code>/.well-known/openid_configuration</code>, control API under "
        f"<code>/_sandbox/</code>.</p><h2>Companies</h2><ul>{rows or '<li>none</li>'}</ul>"
        f"<p>API calls in {meter['month']} (UTC): {meter['Core']} Core, {meter['CorePlus']} CorePlus "
        f"(metered); monthly read caps: {caps or 'none'}. See <code>/_sandbox/meter</code>.</p></body></html>"
    )

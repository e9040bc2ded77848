"""State of every emulated company, and JSON persistence.

All mutation happens under `Store.lock` (one re-entrant lock): correctness over cleverness. Python runs one
thread at a time anyway, and handlers hold the lock for microseconds; hangs and latency sleep outside it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from .clock import Clock, fmt_datetime
from .regions import DEFAULT_AST_RATES

NAME_LIST = ("Customer", "Vendor", "Employee")  # DisplayName is unique across these three
DELETED_SUFFIX_RE = re.compile(r" \(deleted(?:-\d+)?\)$")

# Which id sequence each entity draws from (real QBO shares one sequence across the name lists and one
# across transactions, which is what the recorded ids suggest).
SEQUENCES = {
    "Customer": "names",
    "Vendor": "names",
    "Employee": "names",
    "Invoice": "txn",
    "Payment": "txn",
    "SalesReceipt": "txn",
    "Estimate": "txn",
    "CreditMemo": "txn",
    "Bill": "txn",
    "Purchase": "txn",
    "JournalEntry": "txn",
    "Deposit": "txn",
    "RefundReceipt": "txn",
}

DEFAULT_LIMITS = {"per_minute": 500, "concurrent": 10, "batch_per_minute": 40, "per_second": None}

DEFAULT_SETTINGS: dict = {
    "custom_txn_numbers": False,  # Preferences.SalesFormsPrefs.CustomTxnNumbers
    "idempotency": "replay",  # replay | off | error  (repeated requestid)
    "limits": DEFAULT_LIMITS,  # null = no limits
    "throttle_format": "json",  # json | xml: the body of a limit-triggered 429
    "max_batch_items": 30,
    "cdc_max_days": 30,  # null = unlimited look-back
    "cdc_max_objects": 1000,
    "cdc_boundary": "second_inclusive",  # second_inclusive | second_exclusive | exact (api.CDC_BOUNDARIES)
    "check_duplicate_doc_number": True,  # 6140 on a duplicate Invoice DocNumber
    "name_case_insensitive": True,  # 6240 check: casefold + trim (False: exact after trim)
    "query_case_insensitive": True,  # '=' and LIKE on strings
    "reactivate_strips_suffix": True,  # Active=true removes " (deleted)"
    "void_paid_invoice": "reject",  # reject | allow: voiding an invoice that has payments
    "access_token_lifetime": 3600,  # virtual seconds
    "refresh_token_lifetime": 8_640_000,  # 100 days, virtual seconds
    "refresh_grace_seconds": 60,  # a rotated refresh token still works this long (virtual)
    "refresh_token_hard_expires_at": None,  # epoch seconds; Intuit's 5-year limit
    "auth_code_lifetime": 300,
    "latency_ms": 0,  # per-company extra delay, on top of --latency-ms
    "default_terms_days": 30,
    "home_currency": "USD",  # Preferences.CurrencyPrefs.HomeCurrency (CompanyInfo.Country follows it
    # in a company made without a region)
    "multi_currency": False,  # Preferences.CurrencyPrefs.MultiCurrencyEnabled; on for good once on
    "exchange_rates": {},  # currency -> home-currency units per unit, when a transaction sends none
    # Regions, tax and currency (regions.py, tax.py, docs/sandbox.md). region and sales_tax are fixed when
    # the company is made.
    "region": "US",  # US | UK | CA | AU: the country and the tax model
    "sales_tax": "none",  # US only: none | manual | ast (Preferences.TaxPrefs)
    "ast_rates": DEFAULT_AST_RATES,  # AST: state -> percentage, and "default"
    "default_tax_code": None,  # US manual: TaxPrefs.TaxGroupCodeRef, used when an invoice names none
    "tax_rounding": "per_rate",  # per_rate | per_line (UNCONFIRMED in QBO)
    "global_tax_override": "accept",  # accept | ignore: TaxLine amounts sent in a UK/CA/AU company
    "tax_line_without_sales_tax": "reject",  # reject | ignore: a TAX line where sales tax is off
    "taxcode_query_pseudo_codes": False,  # True: TaxCode queries list TAX and NON too (US)
    "minor_version_floor": 75,  # a lower minorversion counts as this (Intuit, Aug 2025); null: as sent
}
FIXED_SETTINGS = frozenset({"region", "sales_tax"})  # a QBO company's country never changes


def new_realm_id() -> str:
    return "9130" + "".join(secrets.choice("0123456789") for _ in range(12))


def normalize_name(name: str, case_insensitive: bool = True) -> str:
    name = name.strip()
    return name.casefold() if case_insensitive else name


class Company:
    def __init__(self, realm_id: str, name: str, created_epoch: float, settings: dict | None = None):
        self.realm_id = realm_id
        self.name = name
        self.created_epoch = created_epoch
        self.overrides: dict = dict(settings or {})
        self.server_defaults: dict = {}
        self.records: dict[str, dict[str, dict]] = {}
        self.deleted: dict[str, dict[str, dict]] = {}
        self.ts: dict[tuple[str, str], float] = {}
        self.seq: dict[str, int] = {}
        self.names: dict[str, tuple[str, str]] = {}
        self.docnums: dict[str, str] = {}
        self.last_docnum: str | None = None
        self.applied: dict[str, dict[str, float]] = {}  # invoice id -> {payment id: amount}
        self.voided: set[tuple[str, str]] = set()
        self.on_change: Callable[..., None] | None = None

    # --- settings -------------------------------------------------------------------------------
    def setting(self, key: str):
        if key in self.overrides:
            return self.overrides[key]
        if key in self.server_defaults:
            return self.server_defaults[key]
        return DEFAULT_SETTINGS[key]

    def settings(self) -> dict:
        return {key: self.setting(key) for key in DEFAULT_SETTINGS}

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(minutes=int(self.overrides.get("tz_offset_minutes", -420))))

    # --- records --------------------------------------------------------------------------------
    def table(self, entity: str) -> dict[str, dict]:
        return self.records.setdefault(entity, {})

    def get(self, entity: str, ident: object) -> dict | None:
        return self.records.get(entity, {}).get(str(ident))

    def next_id(self, entity: str) -> str:
        seq = SEQUENCES.get(entity, entity)
        self.seq[seq] = self.seq.get(seq, 0) + 1
        return str(self.seq[seq])

    def bump_sequence(self, entity: str, ident: str) -> None:
        if ident.isdigit():
            seq = SEQUENCES.get(entity, entity)
            self.seq[seq] = max(self.seq.get(seq, 0), int(ident))

    def put(
        self,
        entity: str,
        record: dict,
        epoch: float,
        operation: str | None = None,
        deleted_id: str | None = None,
    ) -> None:
        self.table(entity)[record["Id"]] = record
        self.ts[(entity, record["Id"])] = epoch
        if operation and self.on_change:
            self.on_change(self.realm_id, entity, record["Id"], operation, deleted_id)

    def remove(
        self, entity: str, ident: str, epoch: float, now: datetime, operation: str | None = "Delete"
    ) -> dict:
        record = self.table(entity).pop(ident)
        stub = dict(record)
        stub["status"] = "Deleted"
        stub.setdefault("MetaData", {})["LastUpdatedTime"] = fmt_datetime(now)
        self.deleted.setdefault(entity, {})[ident] = stub
        self.ts[(entity, ident)] = epoch
        if self.on_change and operation:
            self.on_change(self.realm_id, entity, ident, operation, None)
        return record

    def touch(self, record: dict, now: datetime, bump: bool = True) -> None:
        if bump:
            record["SyncToken"] = str(int(record.get("SyncToken", "0")) + 1)
        record.setdefault("MetaData", {})["LastUpdatedTime"] = fmt_datetime(now)

    # --- indexes --------------------------------------------------------------------------------
    def name_key(self, name: str) -> str:
        return normalize_name(name, bool(self.setting("name_case_insensitive")))

    def rebuild_indexes(self) -> None:
        self.names = {}
        for entity in NAME_LIST:
            for ident, rec in self.records.get(entity, {}).items():
                if rec.get("DisplayName"):
                    self.names[self.name_key(rec["DisplayName"])] = (entity, ident)
        self.docnums = {}
        for ident, rec in self.records.get("Invoice", {}).items():
            if rec.get("DocNumber"):
                self.docnums.setdefault(rec["DocNumber"].strip().casefold(), ident)
        self.applied = {}
        for pid, pay in self.records.get("Payment", {}).items():
            for line in pay.get("Line") or []:
                for link in line.get("LinkedTxn") or []:
                    if link.get("TxnType") == "Invoice":
                        inv = self.applied.setdefault(str(link.get("TxnId")), {})
                        inv[pid] = inv.get(pid, 0.0) + float(line.get("Amount") or 0)
                        break
        for entity, table in self.records.items():
            for ident in table:
                self.bump_sequence(entity, ident)
        for entity, table in self.deleted.items():
            for ident in table:
                self.bump_sequence(entity, ident)

    # --- persistence ----------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "realm_id": self.realm_id,
            "name": self.name,
            "created_epoch": self.created_epoch,
            "settings": self.overrides,
            "records": self.records,
            "deleted": self.deleted,
            "ts": [[e, i, t] for (e, i), t in self.ts.items()],
            "seq": self.seq,
            "last_docnum": self.last_docnum,
            "voided": sorted(list(v) for v in self.voided),
        }

    @classmethod
    def from_json(cls, data: dict) -> Company:
        co = cls(data["realm_id"], data["name"], data.get("created_epoch", 0.0), data.get("settings"))
        co.records = data.get("records", {})
        co.deleted = data.get("deleted", {})
        co.ts = {(e, i): t for e, i, t in data.get("ts", [])}
        co.seq = data.get("seq", {})
        co.last_docnum = data.get("last_docnum")
        co.voided = {tuple(v) for v in data.get("voided", [])}
        co.rebuild_indexes()
        return co

    def summary(self) -> dict:
        return {
            "realmId": self.realm_id,
            "name": self.name,
            "counts": {entity: len(table) for entity, table in sorted(self.records.items())},
            "deleted": {entity: len(table) for entity, table in sorted(self.deleted.items()) if table},
            "settings": self.settings(),
        }


class Store:
    """Every company plus the persistence of the whole sandbox state."""

    def __init__(self, clock: Clock, data_path: str | None = None):
        self.clock = clock
        self.lock = threading.RLock()
        self.companies: dict[str, Company] = {}
        self.data_path = data_path
        self.server_defaults: dict = {}
        self.on_change: Callable[..., None] | None = None
        self.extra_state: dict[str, Callable[[], dict]] = {}  # name -> dump function (oauth, webhooks)
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._saver: threading.Thread | None = None

    def add(self, co: Company) -> Company:
        co.server_defaults = self.server_defaults
        co.on_change = self._changed
        self.companies[co.realm_id] = co
        self.mark_dirty()
        return co

    def get(self, realm_id: str) -> Company | None:
        return self.companies.get(realm_id)

    def _changed(self, *args) -> None:
        self.mark_dirty()
        if self.on_change:
            self.on_change(*args)

    def clear(self) -> None:
        with self.lock:
            self.companies.clear()
            self.mark_dirty()

    # --- persistence ----------------------------------------------------------------------------
    def mark_dirty(self) -> None:
        if self.data_path:
            self._dirty.set()

    def dump(self) -> dict:
        with self.lock:
            state = {"version": 1, "companies": [co.to_json() for co in self.companies.values()]}
            for name, fn in self.extra_state.items():
                state[name] = fn()
            return copy.deepcopy(state)

    def save(self) -> None:
        if not self.data_path:
            return
        state = self.dump()
        directory = os.path.dirname(os.path.abspath(self.data_path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sandbox-", suffix=".json", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(state, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.data_path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def load(self) -> dict | None:
        if not self.data_path or not os.path.exists(self.data_path):
            return None
        with open(self.data_path, encoding="utf-8") as fh:
            state = json.load(fh)
        with self.lock:
            for data in state.get("companies", []):
                self.add(Company.from_json(data))
        self._dirty.clear()
        return state

    def start_autosave(self, interval: float = 0.5) -> None:
        if not self.data_path or self._saver:
            return

        def run():
            while not self._stop.is_set():
                if self._dirty.wait(timeout=interval) and not self._stop.is_set():
                    self._stop.wait(interval)  # debounce bursts of writes
                    self._dirty.clear()
                    self.save()

        self._saver = threading.Thread(target=run, name="sandbox-autosave", daemon=True)
        self._saver.start()

    def stop_autosave(self) -> None:
        self._stop.set()
        self._dirty.set()
        if self._saver:
            self._saver.join(timeout=5)
            self._saver = None
        self.save()

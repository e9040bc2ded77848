"""The QBO transport: python-quickbooks for URLs, minorversion, requestid and Decimal parsing; our own
session for timeouts and bearer auth; every reply checked against the error tree before the library
parses it; every request through the realm's rate governor; one refresh-and-retry on a rejected token."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from quickbooks.client import QuickBooks

from qbsync.core.logging import bind_log_context

from .errors import (
    QboError,
    QboRateLimitError,
    QboTokenExpiredError,
    QboUnavailableError,
    error_from_response,
    intuit_tid_of,
)
from .metering import (
    DEFAULT_READ_REFUSAL_PATTERN,
    NOTHING,
    MeteredCall,
    QboReadsRefusedError,
    as_read_refusal,
    batch_items,
    classify,
)
from .queries import MAX_RESULTS, qbo_select
from .records import CompanyPreferences, CompanyProfile, NamedRef

MINOR_VERSION = 75


class TokenSource(Protocol):
    """Where the client gets bearer tokens. Implemented next to the stored connection."""

    def access_token(self) -> str:
        """A token that is valid now (refreshing first when it is about to expire)."""

    def refresh_after_rejection(self, rejected_token: str) -> str:
        """QBO rejected ``rejected_token``: refresh unless another worker already did; return the new one."""


class Governor(Protocol):
    def permit(self, realm_id: str, *, batch: bool = False, max_wait: float = 5.0): ...

    def pause(self, realm_id: str, seconds: float | None) -> None: ...


class _NoGovernor:
    class _Permit:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def permit(self, realm_id: str, *, batch: bool = False, max_wait: float = 5.0):
        return self._Permit()

    def pause(self, realm_id: str, seconds: float | None) -> None:
        return None


class Meter(Protocol):
    """Where the client reports what its calls cost (qbsync/quickbooks/metering.py)."""

    def before(self, realm_id: str, call: MeteredCall) -> None:
        """About to send ``call``: raise QboReadsPausedError to keep a read from being sent."""

    def counted(self, realm_id: str, call: MeteredCall) -> None:
        """QBO answered ``call`` with a success (only those are metered)."""

    def refused(self, realm_id: str, error: QboReadsRefusedError) -> None:
        """QBO refused a read for the workspace's monthly allowance."""


class _NoMeter:
    def before(self, realm_id: str, call: MeteredCall) -> None:
        return None

    def counted(self, realm_id: str, call: MeteredCall) -> None:
        return None

    def refused(self, realm_id: str, error: QboReadsRefusedError) -> None:
        return None


class _BearerSession(requests.Session):
    """What python-quickbooks needs from a session (``access_token`` and ``request``), with timeouts and
    plain HTTP allowed for the local sandbox; OAuth2Session would refuse http:// URLs."""

    def __init__(self, timeout: tuple[float, float]):
        super().__init__()
        self.access_token = ""
        self.timeout = timeout
        self.trust_env = False  # never route 127.0.0.1 through a CI proxy

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


def _company_path(realm_id: str, url: str) -> str:
    return urlsplit(url).path.split(f"/company/{realm_id}/", 1)[-1]


def _log_call(
    realm_id: str,
    method: str,
    url: str,
    status: int | str,
    intuit_tid: str,
    started: float,
    metered: MeteredCall = NOTHING,
) -> None:
    """One line per QBO call: method, path, status, intuit_tid, duration and what Intuit meters of it
    (reads, writes); never bodies or headers."""
    # The realm and intuit_tid stay in the log context, so what the caller logs next carries them too.
    bind_log_context(realm=realm_id, intuit_tid=intuit_tid or None)
    path = _company_path(realm_id, url)
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    level = logging.INFO if isinstance(status, int) and status < 400 else logging.WARNING
    logging.getLogger(__name__).log(
        level,
        "QBO %s %s -> %s in %.0f ms",
        method,
        path,
        status,
        duration_ms,
        extra={
            "qbo_method": method,
            "qbo_path": path,
            "qbo_status": status,
            "duration_ms": duration_ms,
            "qbo_reads": metered.reads,
            "qbo_writes": metered.writes,
        },
    )


def _decoded(data: object) -> object:
    if isinstance(data, bytes | str) and data:
        try:
            return json.loads(data)
        except ValueError:
            return None
    return data


class _Transport(QuickBooks):
    """python-quickbooks with replies checked by status first; its own parser only sees successes."""

    governor: Governor
    meter: Meter
    read_refusal: re.Pattern[str]
    last_intuit_tid = ""

    def process_request(self, request_type, url, headers="", params="", data=""):
        is_batch = url.rstrip("/").endswith("/batch")
        body = _decoded(data) if is_batch else None
        call = classify(request_type, _company_path(self.company_id, url), body)
        self.meter.before(self.company_id, call)
        with self.governor.permit(self.company_id, batch=is_batch):
            started = time.monotonic()
            try:
                response = super().process_request(
                    request_type, url, headers=headers, params=params, data=data
                )
            except requests.Timeout as exc:
                _log_call(self.company_id, request_type, url, "timeout", "", started)
                raise QboUnavailableError(
                    f"QuickBooks Online did not answer in time ({exc.__class__.__name__})"
                ) from exc
            except requests.ConnectionError as exc:
                _log_call(self.company_id, request_type, url, "connection failed", "", started)
                raise QboUnavailableError("Could not reach QuickBooks Online (connection failed)") from exc
        self.last_intuit_tid = intuit_tid_of(response.headers)
        error = error_from_response(response.status_code, response.text, response.headers)
        metered = NOTHING
        if error is None:
            # Only successes are metered; a batch only for the items QBO answered without a Fault.
            metered = batch_items(body, _decoded(response.text)) if is_batch else call
        _log_call(
            self.company_id, request_type, url, response.status_code, self.last_intuit_tid, started, metered
        )
        if error is None:
            self.meter.counted(self.company_id, metered)
            return response
        error = as_read_refusal(error, call, self.read_refusal)
        if isinstance(error, QboReadsRefusedError):
            # Writes still go: a refused read must not pause the company like a throttle would.
            self.meter.refused(self.company_id, error)
        elif isinstance(error, QboRateLimitError):
            self.governor.pause(self.company_id, error.retry_after)
        raise error


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        # JSON has one number type. Cents survive the float text form exactly; check rather than trust.
        as_float = float(value)
        if Decimal(repr(as_float)) != value.normalize():
            raise ValueError(f"{value} does not survive JSON number encoding")
        return as_float
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_body(body: dict) -> str:
    return json.dumps(body, default=_json_default, ensure_ascii=False)


class QboClient:
    """One company's API. Build one per task; construction makes no network call."""

    def __init__(
        self,
        *,
        realm_id: str,
        base_url: str,
        token_source: TokenSource,
        governor: Governor | None = None,
        meter: Meter | None = None,
        read_refusal_pattern: str = DEFAULT_READ_REFUSAL_PATTERN,
        timeout: tuple[float, float] = (5.0, 30.0),
        minor_version: int = MINOR_VERSION,
    ):
        self.realm_id = realm_id
        self._tokens = token_source
        self._session = _BearerSession(timeout)
        self._qb = _Transport(company_id=realm_id, minorversion=minor_version, use_decimal=True)
        self._qb.api_url_v3 = self._qb.sandbox_api_url_v3 = base_url.rstrip("/")
        self._qb.session = self._session
        self._qb.governor = governor or _NoGovernor()
        self._qb.meter = meter or _NoMeter()
        self._qb.read_refusal = re.compile(read_refusal_pattern)

    @property
    def last_intuit_tid(self) -> str:
        return self._qb.last_intuit_tid

    def _url(self, path: str) -> str:
        return f"{self._qb.api_url}/company/{self.realm_id}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict | str | None = None,
        params: dict[str, str] | None = None,
        request_id: str | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One API call; a rejected access token is refreshed once and the call retried once."""
        payload = encode_body(body) if isinstance(body, dict) else body

        def call() -> dict[str, Any]:
            return self._qb.make_request(
                method,
                self._url(path),
                request_body=payload,
                content_type=content_type,
                params=dict(params or {}),
                request_id=request_id,
            )

        self._session.access_token = self._tokens.access_token()
        try:
            return call()
        except QboTokenExpiredError:
            self._session.access_token = self._tokens.refresh_after_rejection(self._session.access_token)
            return call()

    # Endpoints -----------------------------------------------------------------------------------

    def query(self, sql: str) -> dict[str, Any]:
        """POST /query (as python-quickbooks sends it). Returns the QueryResponse object."""
        return self.request("POST", "query", body=sql, content_type="application/text").get(
            "QueryResponse", {}
        )

    def query_pages(
        self, entity: str, *, where: tuple[str, ...] = (), order_by: str = "Id", page_size: int = MAX_RESULTS
    ) -> Iterator[list[dict[str, Any]]]:
        """Every matching row, a page at a time (STARTPOSITION is 1-based)."""
        start = 1
        while True:
            page = self.query(
                qbo_select(
                    entity, where=where, order_by=order_by, start_position=start, max_results=page_size
                )
            ).get(entity, [])
            if page:
                yield page
            if len(page) < page_size:
                return
            start += page_size

    def query_all(
        self, entity: str, *, where: tuple[str, ...] = (), order_by: str = "Id"
    ) -> list[dict[str, Any]]:
        return [row for page in self.query_pages(entity, where=where, order_by=order_by) for row in page]

    def count(self, entity: str, *, where: tuple[str, ...] = ()) -> int:
        return int(self.query(qbo_select(entity, where=where, count=True)).get("totalCount", 0))

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        return self.request("GET", f"{entity.lower()}/{entity_id}")[entity]

    def create(self, entity: str, body: dict, *, request_id: str) -> dict[str, Any]:
        return self.request("POST", entity.lower(), body=body, request_id=request_id)[entity]

    def update(self, entity: str, body: dict, *, request_id: str) -> dict[str, Any]:
        """A sparse update: ``body`` holds Id, SyncToken and only the fields to change."""
        return self.request("POST", entity.lower(), body={**body, "sparse": True}, request_id=request_id)[
            entity
        ]

    def company_info(self) -> dict[str, Any]:
        return self.request("GET", f"companyinfo/{self.realm_id}")["CompanyInfo"]

    def preferences(self) -> dict[str, Any]:
        return self.request("GET", "preferences")["Preferences"]

    def company_preferences(self, country: str = "") -> CompanyPreferences:
        """One Preferences read: numbering, currency and sales tax. The country is CompanyInfo's (another
        read, made at connect: a company's country never changes), passed through when the caller kept it."""
        prefs = self.preferences()
        currency = prefs.get("CurrencyPrefs") or {}
        tax = prefs.get("TaxPrefs") or {}
        return CompanyPreferences(
            custom_txn_numbers=bool((prefs.get("SalesFormsPrefs") or {}).get("CustomTxnNumbers", False)),
            home_currency=str((currency.get("HomeCurrency") or {}).get("value") or "").upper(),
            multi_currency=bool(currency.get("MultiCurrencyEnabled", False)),
            using_sales_tax=bool(tax.get("UsingSalesTax", False)),
            automated_sales_tax=bool(tax.get("PartnerTaxEnabled", False)),
            country=country.upper(),
        )

    def company_profile(self) -> CompanyProfile:
        info = self.company_info()
        preferences = self.company_preferences(country=str(info.get("Country") or ""))
        return CompanyProfile(
            realm_id=self.realm_id,
            name=info.get("CompanyName") or info.get("LegalName") or "",
            custom_txn_numbers=preferences.custom_txn_numbers,
            home_currency=preferences.home_currency,
            preferences=preferences,
        )

    def customer_types(self) -> list[NamedRef]:
        rows = self.query_all("CustomerType", order_by="Name")
        return [NamedRef(id=str(r["Id"]), name=r.get("Name", "")) for r in rows if r.get("Active", True)]

    def active_items(self) -> list[NamedRef]:
        """Items an invoice line can carry: active, and not a category (QBO refuses those with 2500)."""
        rows = self.query_all("Item", where=("Active = true",), order_by="Name")
        return [
            NamedRef(id=str(r["Id"]), name=r.get("Name", "")) for r in rows if r.get("Type") != "Category"
        ]


__all__ = ["MINOR_VERSION", "Meter", "QboClient", "QboError", "TokenSource", "encode_body"]

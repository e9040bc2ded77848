"""Where the regional contract tests send their requests: a QBO company reached by base URL, realm and
bearer token, and nothing else.

By default each test gets a fresh company of the kind it asks for in the local sandbox (made through the
control API). With QBO_CONTRACT_BASE_URL set, the same tests run against real Intuit companies instead, one
per kind, named by QBO_CONTRACT_REALM_<KIND> with QBO_CONTRACT_ACCESS_TOKEN_<KIND> (or the shared
QBO_CONTRACT_ACCESS_TOKEN: an access token is good for one company only); a kind without its realm is
skipped with a reason naming the variable. See docs/sandbox.md, "Running the contract tests against QBO".
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import pytest
import requests

BASE_URL_VAR = "QBO_CONTRACT_BASE_URL"
TOKEN_VAR = "QBO_CONTRACT_ACCESS_TOKEN"
MINOR_VERSION = os.environ.get("QBO_CONTRACT_MINOR_VERSION", "75")

# The kinds of company the tests need: the sandbox preset each is made from locally, and its region.
KINDS = {
    "US": "us",
    "US_MANUAL": "us-manual",
    "US_AST": "us-ast",
    "UK": "uk",
    "CA": "ca",
    "AU": "au",
    "MULTICURRENCY": "us-multicurrency",
}
# The AST rates of the local companies; a real company's come from Intuit's engine and are not known here.
LOCAL_AST_RATES = {"CA": "7.25", "NY": "8.875", "default": "0"}
LOCAL_EXCHANGE_RATES = {"EUR": "1.10", "GBP": "1.25"}


def cents(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class QboError(AssertionError):
    pass


@dataclass
class Target:
    """One QBO company: base URL (…/v3), realm and token, plus what a test may know about it."""

    kind: str
    api_base: str
    realm: str
    token: str
    local: bool
    http: requests.Session = field(default_factory=requests.Session, repr=False)
    _item: str | None = field(default=None, repr=False)

    def __post_init__(self):
        self.http.trust_env = False
        self.http.headers.update(
            {
                "Accept": "application/json",
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.token}",
            }
        )

    # --- HTTP ---------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.api_base}/company/{self.realm}/{path.lstrip('/')}"

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(self.url(path), params={"minorversion": MINOR_VERSION, **params}, timeout=30)

    def post(self, path: str, body: object, **params) -> requests.Response:
        return self.http.post(
            self.url(path), json=body, params={"minorversion": MINOR_VERSION, **params}, timeout=30
        )

    def ok(self, resp: requests.Response, entity: str) -> dict:
        if resp.status_code != 200:
            raise QboError(f"{resp.status_code}: {resp.text}")
        return resp.json()[entity]

    def create(self, entity: str, body: dict, **params) -> dict:
        return self.ok(self.post(entity.lower(), body, **params), entity)

    def read(self, entity: str, ident: str) -> dict:
        return self.ok(self.get(f"{entity.lower()}/{ident}"), entity)

    def rows(self, query: str, entity: str) -> list[dict]:
        resp = self.get("query", query=query)
        if resp.status_code != 200:
            raise QboError(f"{resp.status_code}: {resp.text}")
        return resp.json()["QueryResponse"].get(entity, [])

    def preferences(self) -> dict:
        return self.ok(self.get("preferences"), "Preferences")

    def company_info(self) -> dict:
        return self.ok(self.get(f"companyinfo/{self.realm}"), "CompanyInfo")

    # --- what the tests build on --------------------------------------------------------------
    def customer(self, **extra) -> dict:
        return self.create("Customer", {"DisplayName": f"Contract {uuid.uuid4().hex[:10]}", **extra})

    def service_item(self) -> str:
        if self._item is None:
            named = self.rows("select * from Item where Name = 'Services'", "Item")
            items = named or self.rows("select * from Item where Type = 'Service' maxresults 1", "Item")
            if not items:
                pytest.skip(f"the {self.kind} company has no Service item to invoice")
            self._item = items[0]["Id"]
        return self._item

    def tax_code(self, name: str) -> dict:
        codes = self.rows(f"select * from TaxCode where Name = '{name}'", "TaxCode")
        if not codes:
            pytest.skip(f"the {self.kind} company has no TaxCode named {name!r}")
        return codes[0]

    def rates(self, code: dict) -> list[tuple[str, Decimal]]:
        """(TaxRate Id, percentage) of a code's sales rates, read from QBO."""
        details = code.get("SalesTaxRateList", {}).get("TaxRateDetail", [])
        out = []
        for detail in details:
            ident = detail["TaxRateRef"]["value"]
            out.append((ident, Decimal(str(self.read("TaxRate", ident)["RateValue"]))))
        return out

    def line(self, amount, code: str | None = None, **detail) -> dict:
        sales: dict = {"ItemRef": {"value": self.service_item()}, **detail}
        if code is not None:
            sales["TaxCodeRef"] = {"value": code}
        return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": sales}

    def ast_percent(self, state: str) -> Decimal | None:
        """The AST rate of a state, when the target knows it (the local sandbox; Intuit's engine: no)."""
        if not self.local:
            return None
        return Decimal(LOCAL_AST_RATES.get(state, LOCAL_AST_RATES["default"]))


def fault(resp: requests.Response) -> dict:
    assert resp.status_code == 400, resp.text
    return resp.json()["Fault"]["Error"][0]


def tax_line(invoice: dict, rate_id: str) -> dict:
    lines = [
        t
        for t in invoice["TxnTaxDetail"].get("TaxLine", [])
        if t["TaxLineDetail"]["TaxRateRef"]["value"] == rate_id
    ]
    assert len(lines) == 1, invoice["TxnTaxDetail"]
    return lines[0]


def local_target(sandbox, kind: str) -> Target:
    options: dict = {"preset": KINDS[kind]}
    if kind == "US_AST":
        options["ast_rates"] = LOCAL_AST_RATES
    if kind == "MULTICURRENCY":
        options["exchange_rates"] = LOCAL_EXCHANGE_RATES
    realm = sandbox.control.create_company(f"{kind} contract {uuid.uuid4().hex[:6]}", **options)
    return Target(kind, sandbox.api_base, realm, sandbox.control.tokens(realm)["access_token"], local=True)


def real_target(kind: str) -> Target:
    realm_var = f"QBO_CONTRACT_REALM_{kind}"
    realm = os.environ.get(realm_var)
    if not realm:
        pytest.skip(f"{realm_var} is not set: no real {kind} company to run this contract test against")
    token = os.environ.get(f"{TOKEN_VAR}_{kind}") or os.environ.get(TOKEN_VAR)
    if not token:
        pytest.skip(f"{TOKEN_VAR}_{kind} (or {TOKEN_VAR}) is not set: no access token for the {kind} company")
    base = os.environ[BASE_URL_VAR].rstrip("/")
    return Target(kind, base if base.endswith("/v3") else f"{base}/v3", realm, token, local=False)


def against_real_qbo() -> bool:
    return bool(os.environ.get(BASE_URL_VAR))

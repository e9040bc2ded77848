"""Fixtures for the QBO sandbox tests: one in-process sandbox per session, a fresh company per test."""

from __future__ import annotations

import uuid

import pytest
import requests

from qbsync.sandbox.testing import running_sandbox


@pytest.fixture(scope="session")
def sandbox():
    with running_sandbox() as sb:
        yield sb


def fault_code(resp: requests.Response) -> str:
    errors = resp.json()["Fault"]["Error"]
    assert isinstance(errors[0]["code"], str)
    return errors[0]["code"]


class QBO:
    """A thin `requests` client for one realm of the sandbox's data API."""

    code = staticmethod(fault_code)

    def __init__(self, sb, realm: str, tokens: dict):
        self.sb = sb
        self.realm = realm
        self.tokens = tokens
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers.update(
            {"Accept": "application/json", "Authorization": f"Bearer {tokens['access_token']}"}
        )

    @property
    def control(self):
        return self.sb.control

    def url(self, path: str) -> str:
        return f"{self.sb.api_base}/company/{self.realm}/{path.lstrip('/')}"

    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 10)
        return self.http.get(self.url(path), **kw)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        kw.setdefault("timeout", 10)
        return self.http.post(self.url(path), json=json, **kw)

    def query(self, text: str, post: bool = False) -> requests.Response:
        if post:
            return self.http.post(
                self.url("query"),
                data=text.encode(),
                headers={"Content-Type": "application/text"},
                timeout=10,
            )
        return self.http.get(self.url("query"), params={"query": text}, timeout=10)

    def rows(self, text: str, entity: str) -> list[dict]:
        resp = self.query(text)
        assert resp.status_code == 200, resp.text
        return resp.json()["QueryResponse"].get(entity, [])

    def create(self, entity: str, body: dict, **kw) -> dict:
        resp = self.post(entity.lower(), body, **kw)
        assert resp.status_code == 200, resp.text
        return resp.json()[entity]

    def read(self, entity: str, ident: str) -> dict:
        resp = self.get(f"{entity.lower()}/{ident}")
        assert resp.status_code == 200, resp.text
        return resp.json()[entity]

    def customer(self, name: str | None = None, **extra) -> dict:
        return self.create("Customer", {"DisplayName": name or f"Cust {uuid.uuid4().hex[:8]}", **extra})

    def invoice(self, customer_id: str, amount: float = 100.0, **extra) -> dict:
        body = {
            "CustomerRef": {"value": customer_id},
            "Line": [
                {
                    "Amount": amount,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}},
                }
            ],
            **extra,
        }
        return self.create("Invoice", body)


@pytest.fixture
def new_company(sandbox):
    def make(**kwargs) -> QBO:
        kwargs.setdefault("customer_types", ["Individual", "Business"])
        realm = sandbox.control.create_company(
            kwargs.pop("name", f"Test Co {uuid.uuid4().hex[:6]}"), **kwargs
        )
        return QBO(sandbox, realm, sandbox.control.tokens(realm))

    return make


@pytest.fixture
def qbo(new_company) -> QBO:
    return new_company()


@pytest.fixture
def target(request):
    """`target("UK")`: a company of that kind to run a contract test on; the local sandbox's, or with
    QBO_CONTRACT_BASE_URL set a real Intuit one (tests/qbsync/sandbox/qbo_target.py)."""
    from tests.qbsync.sandbox.qbo_target import against_real_qbo, local_target, real_target

    def make(kind: str):
        if against_real_qbo():
            return real_target(kind)
        return local_target(request.getfixturevalue("sandbox"), kind)

    return make

"""Drive the sandbox with python-quickbooks 0.9.12 and intuit-oauth 1.2.6, wrapped the way the app will be
(docs: qbo-python-libraries.md section 7: no auth_client, our own bearer session, our own process_request
that looks at the HTTP status first)."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import AuthorizationException, QuickbooksException, ValidationException
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment, PaymentLine

REDIRECT = "http://localhost:8000/qbo/callback"


class QBOThrottled(QuickbooksException):
    retry_after: str | None = None


class QBOServerError(QuickbooksException):
    pass


class BearerSession(requests.Session):
    def __init__(self, token: str, timeout=(5, 30)):
        super().__init__()
        self.access_token = token
        self.default_timeout = timeout
        self.trust_env = False

    def request(self, method, url, **kw):
        kw.setdefault("timeout", self.default_timeout)
        return super().request(method, url, **kw)


class AppQuickBooks(QuickBooks):
    last_intuit_tid = None

    def process_request(self, request_type, url, headers="", params="", data=""):
        resp = super().process_request(request_type, url, headers=headers, params=params, data=data)
        self.last_intuit_tid = resp.headers.get("intuit_tid")
        if resp.status_code == 429:
            exc = QBOThrottled("throttled", 429, resp.text[:200])
            exc.retry_after = resp.headers.get("Retry-After")
            raise exc
        if resp.status_code >= 500:
            raise QBOServerError(f"server error {resp.status_code}", resp.status_code, resp.text[:200])
        return resp


def make_client(sandbox, realm: str, token: str, cls=AppQuickBooks) -> QuickBooks:
    qb = cls(company_id=realm, minorversion=75, use_decimal=True)
    qb.api_url_v3 = qb.sandbox_api_url_v3 = sandbox.api_base
    qb.session = BearerSession(token)
    return qb


def blank(cls):
    obj = cls()
    for key in list(vars(obj)):
        if not key.startswith("_"):
            setattr(obj, key, None)
    return obj


@pytest.fixture
def realm(sandbox):
    return sandbox.control.create_company(f"Lib Co {uuid.uuid4().hex[:6]}", customer_types=["Individual"])


@pytest.fixture
def qb(sandbox, realm):
    return make_client(sandbox, realm, sandbox.control.tokens(realm)["access_token"])


def test_customer_create_and_duplicate_6240(qb, sandbox, realm):
    c = Customer()
    c.DisplayName = "New Co"
    saved = c.save(qb=qb, request_id="sync-cust-42-v1")
    assert saved.Id
    assert qb.last_intuit_tid
    log = sandbox.control.requests(realm, limit=1)[0]
    assert log["requestid"] == "sync-cust-42-v1"
    assert "minorversion=75" in log["query"]
    again = Customer()
    again.DisplayName = "new co "
    with pytest.raises(QuickbooksException) as exc:
        again.save(qb=qb)
    assert exc.value.error_code == 6240
    fetched = Customer.get(saved.Id, qb=qb)
    fetched.Notes = "full update through the library"
    updated = fetched.save(qb=qb)
    assert updated.SyncToken == "1"
    with pytest.raises(QuickbooksException) as stale:
        fetched.save(qb=qb)  # save() does not copy SyncToken back: a second save is stale
    assert stale.value.error_code == 5010


def test_sparse_update_with_blanked_object(qb):
    c = Customer()
    c.DisplayName = "Sparse Me"
    c.Notes = "keep"
    saved = c.save(qb=qb)
    patch = blank(Customer)
    patch.Id, patch.SyncToken, patch.sparse, patch.DisplayName = saved.Id, "0", True, "Only name"
    result = patch.save(qb=qb)
    assert result.DisplayName == "Only name"
    assert Customer.get(saved.Id, qb=qb).Notes == "keep"


def test_query_with_apostrophe_and_builders(qb):
    for name in ("O'Brien Ltd", "Plain Co", "Other Inc"):
        c = Customer()
        c.DisplayName = name
        c.save(qb=qb)
    found = Customer.filter(DisplayName="O'Brien Ltd", qb=qb)
    assert [c.DisplayName for c in found] == ["O'Brien Ltd"]
    assert len(Customer.filter(Active=True, qb=qb)) == 3
    assert len(Customer.all(qb=qb)) == 3  # ORDER BY ... MAXRESULTS 100
    assert len(Customer.where("Active = True", order_by="DisplayName", qb=qb)) == 3  # ORDERBY
    assert len(Customer.query("SELECT * FROM Customer WHERE Active = true MAXRESULTS 5", qb=qb)) == 3
    assert Customer.count("DisplayName LIKE '%Co'", qb=qb) == 1
    assert Customer.filter(DisplayName="Nobody", qb=qb) == []
    with pytest.raises(ValidationException) as exc:
        Customer.query("SELECT * FROM Customer WHERE Active = true OR Active = false", qb=qb)
    assert exc.value.error_code == 4000


def test_invoice_payment_void_through_library(qb):
    cust = Customer()
    cust.DisplayName = "Invoice Target"
    cust = cust.save(qb=qb)
    inv = Invoice()
    line = SalesItemLine()
    line.Amount = 150
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Ref()
    line.SalesItemLineDetail.ItemRef.value = "1"
    inv.Line = [line]
    inv.CustomerRef = cust.to_ref()
    inv.TxnDate = None
    inv.DueDate = None
    inv = inv.save(qb=qb, request_id="inv-1")
    assert inv.DocNumber == "1001"
    assert inv.Balance == 150
    pay = Payment()
    pay.TotalAmt = 100
    pay.CustomerRef = cust.to_ref()
    pline = PaymentLine()
    pline.Amount = 100
    link = LinkedTxn()
    link.TxnId, link.TxnType = inv.Id, "Invoice"
    pline.LinkedTxn = [link]
    pay.Line = [pline]
    pay = pay.save(qb=qb)
    assert Invoice.get(inv.Id, qb=qb).Balance == 50
    pay.void(qb=qb)
    assert Invoice.get(inv.Id, qb=qb).Balance == 150
    fresh = Invoice.get(inv.Id, qb=qb)
    fresh.void(qb=qb)
    assert Invoice.get(inv.Id, qb=qb).TotalAmt == 0


def test_batch_create_partial_failure(qb):
    Customer.filter(Active=True, qb=qb)
    existing = Customer()
    existing.DisplayName = "Taken"
    existing.save(qb=qb)
    batch = []
    for name in ("Batch One", "taken", "Batch Two"):
        c = Customer()
        c.DisplayName = name
        batch.append(c)
    result = batch_create(batch, qb=qb)
    assert sorted(c.DisplayName for c in result.successes) == ["Batch One", "Batch Two"]
    assert len(result.faults) == 1
    assert result.faults[0].Error[0].code == "6240"


def test_change_data_capture(qb, sandbox, realm):
    since = sandbox.app.clock.now().isoformat(timespec="seconds")
    c = Customer()
    c.DisplayName = "CDC Customer"
    c = c.save(qb=qb)
    resp = change_data_capture([Customer, Invoice], since, qb=qb)
    assert [x.Id for x in resp.Customer] == [c.Id]
    assert not hasattr(resp, "Invoice")


def test_token_refresh_rotation_and_revoke_with_intuit_oauth(sandbox, realm):
    sandbox.control.settings(realm, refresh_grace_seconds=0)
    ac = AuthClient("lib-client", "lib-secret", REDIRECT, sandbox.discovery_url)
    url = ac.get_authorization_url([Scopes.ACCOUNTING], state_token="csrf-1")
    assert url.startswith(sandbox.base_url + "/connect/oauth2?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    consent = requests.post(sandbox.base_url + "/connect/oauth2", data={**params, "realmId": realm,
                            "action": "connect"}, allow_redirects=False, timeout=5)  # fmt: skip
    callback = {k: v[0] for k, v in parse_qs(urlsplit(consent.headers["Location"]).query).items()}
    assert callback["state"] == "csrf-1"
    ac.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    assert ac.realm_id == realm
    assert ac.id_token is None
    first_refresh = ac.refresh_token
    qb = make_client(sandbox, realm, ac.access_token)
    assert Customer.all(qb=qb) == []
    ac.refresh()
    assert ac.refresh_token != first_refresh
    assert ac.expires_in == 3600
    stale = AuthClient(
        "lib-client", "lib-secret", REDIRECT, sandbox.discovery_url, refresh_token=first_refresh
    )
    with pytest.raises(AuthClientError) as exc:
        stale.refresh()
    assert exc.value.status_code == 400
    assert b"invalid_grant" in exc.value.content
    with pytest.raises(AuthClientError):
        ac.get_bearer_token(callback["code"], realm_id=realm)  # a code works once
    ac.revoke(token=ac.refresh_token)
    with pytest.raises(AuthorizationException):
        Customer.all(qb=make_client(sandbox, realm, ac.access_token))


def test_expired_token_raises_authorization_exception_then_refresh_recovers(sandbox, realm):
    tokens = sandbox.control.tokens(realm)
    qb = make_client(sandbox, realm, tokens["access_token"])
    sandbox.control.fault(realm, "expired_token")
    with pytest.raises(AuthorizationException):
        Customer.all(qb=qb)
    ac = AuthClient(
        "any-client", "any-secret", REDIRECT, sandbox.discovery_url, refresh_token=tokens["refresh_token"]
    )
    ac.refresh()
    qb.session = BearerSession(ac.access_token)
    assert Customer.all(qb=qb) == []


def test_throttling_surfaces_as_throttled_with_retry_after(sandbox, realm, qb):
    sandbox.control.settings(realm, limits={"per_minute": 1})
    Customer.all(qb=qb)
    with pytest.raises(QBOThrottled) as exc:
        Customer.all(qb=qb)
    assert int(exc.value.retry_after) >= 1
    sandbox.control.settings(realm, limits=None)
    sandbox.control.fault(realm, "throttle_xml", retry_after=7)
    with pytest.raises(QBOThrottled) as xml:
        Customer.all(qb=qb)
    assert xml.value.retry_after == "7"
    sandbox.control.fault(realm, "http_503")
    with pytest.raises(QBOServerError):
        Customer.all(qb=qb)
    # the unwrapped library: JSON 3001 is a ValidationException, XML is an unreadable body (code 10000)
    plain = make_client(sandbox, realm, sandbox.control.tokens(realm)["access_token"], cls=QuickBooks)
    sandbox.control.fault(realm, "throttle")
    with pytest.raises(ValidationException) as json_exc:
        Customer.all(qb=plain)
    assert json_exc.value.error_code == 3001
    sandbox.control.fault(realm, "throttle_xml")
    with pytest.raises(QuickbooksException) as xml_exc:
        Customer.all(qb=plain)
    assert xml_exc.value.error_code == 10000


def test_timeout_on_hang(sandbox, realm):
    qb = make_client(sandbox, realm, sandbox.control.tokens(realm)["access_token"])
    qb.session.default_timeout = (1, 0.3)
    sandbox.control.fault(realm, "hang", hang_seconds=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        Customer.all(qb=qb)

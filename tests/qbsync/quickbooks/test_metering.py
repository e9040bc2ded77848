"""The adapter classes every QBO call as Intuit meters it (Core writes, CorePlus reads), reports only
successes to its meter, and tells a read refused for the monthly cap from a throttle or a lost
authorisation."""

import ast
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from qbsync.quickbooks import customers, transactions
from qbsync.quickbooks.client import QboClient
from qbsync.quickbooks.errors import (
    QboError,
    QboRateLimitError,
    QboReconnectRequiredError,
    error_from_response,
)
from qbsync.quickbooks.metering import (
    DEFAULT_READ_REFUSAL_PATTERN,
    READ,
    WRITE,
    MeteredCall,
    QboReadsPausedError,
    QboReadsRefusedError,
    UnclassifiedCall,
    as_read_refusal,
    batch_items,
    classify,
)
from tests.qbsync.quickbooks.test_governor_over_http import FixedToken

ADAPTER = Path(__file__).resolve().parents[3] / "qbsync" / "quickbooks"
REFUSAL = re.compile(DEFAULT_READ_REFUSAL_PATTERN)


@pytest.mark.parametrize(
    ("method", "path", "cost"),
    [
        ("POST", "query", READ),
        ("GET", "query", READ),
        ("GET", "cdc", READ),
        ("GET", "companyinfo/9130", READ),
        ("GET", "preferences", READ),
        ("GET", "reports/ProfitAndLoss", READ),
        ("GET", "invoice/12", READ),
        ("GET", "invoice/12/pdf", READ),
        ("POST", "invoice", WRITE),
        ("POST", "customer", WRITE),
        ("POST", "payment?operation=delete", WRITE),
        ("POST", "invoice/12/send", WRITE),
        ("POST", "preferences", WRITE),
    ],
)
def test_each_endpoint_is_classed_as_intuit_meters_it(method, path, cost):
    assert classify(method, path) == cost


def test_a_call_no_rule_classes_is_refused_before_it_is_sent():
    with pytest.raises(UnclassifiedCall):
        classify("DELETE", "invoice/12")
    with pytest.raises(UnclassifiedCall):
        classify("POST", "batch", {"nothing": []})


def test_a_batch_counts_per_item_and_only_the_items_qbo_answered():
    body = {
        "BatchItemRequest": [
            {"bId": "1", "operation": "create", "Invoice": {}},
            {"bId": "2", "operation": "create", "Invoice": {}},
            {"bId": "3", "Query": "select * from Customer"},
        ]
    }
    assert classify("POST", "batch", body) == MeteredCall(reads=1, writes=2)
    answered = {"BatchItemResponse": [{"bId": "1", "Invoice": {}}, {"bId": "3", "QueryResponse": {}}]}
    assert batch_items(body, answered) == MeteredCall(reads=1, writes=1)
    refused = {"BatchItemResponse": [{"bId": "2", "Fault": {"Error": [{"code": "6140"}]}}]}
    assert batch_items(body, refused) == MeteredCall()


def _error(status: int, message: str, code: str = "3002") -> QboError:
    body = f'{{"Fault": {{"Error": [{{"Message": "{message}", "code": "{code}"}}], "type": "x"}}}}'
    return error_from_response(status, body, {})


@pytest.mark.parametrize("status", [429, 403])
def test_a_read_refused_for_the_monthly_allowance_is_told_apart(status):
    error = _error(status, "API read limit exceeded")
    assert isinstance(as_read_refusal(error, READ, REFUSAL), QboReadsRefusedError)
    # A write is never "reads refused"; a throttle or a lost authorisation stays what it is.
    assert as_read_refusal(error, WRITE, REFUSAL) is error
    throttle = _error(429, "message=ThrottleExceeded; errorCode=003001; statusCode=429", code="3001")
    assert isinstance(as_read_refusal(throttle, READ, REFUSAL), QboRateLimitError)
    assert not isinstance(as_read_refusal(throttle, READ, REFUSAL), QboReadsRefusedError)
    revoked = _error(403, "ApplicationAuthorizationFailed", code="3100")
    assert isinstance(as_read_refusal(revoked, READ, REFUSAL), QboReconnectRequiredError)


class Meter:
    """A meter that records what the client reports."""

    def __init__(self, *, paused: bool = False):
        self.calls: list[MeteredCall] = []
        self.refusals: list[QboError] = []
        self.paused = paused

    def before(self, realm_id, call):
        if self.paused and call.is_read:
            raise QboReadsPausedError("paused", code="reads_paused")

    def counted(self, realm_id, call):
        self.calls.append(call)

    def refused(self, realm_id, error):
        self.refusals.append(error)

    @property
    def total(self) -> MeteredCall:
        return sum(self.calls, MeteredCall())


@pytest.fixture
def metered(qbo_sandbox):
    realm = qbo_sandbox.control.create_company("Metered Co")
    token = qbo_sandbox.control.tokens(realm)["access_token"]
    meter = Meter()
    client = QboClient(
        realm_id=realm, base_url=qbo_sandbox.api_base, token_source=FixedToken(token), meter=meter
    )
    return client, meter


def test_the_client_reports_reads_and_writes_qbo_answered(metered):
    client, meter = metered
    created = customers.create_customer(
        client, customers.CustomerDraft(display_name="Metered Client"), request_id="m-1"
    )
    assert meter.total == MeteredCall(writes=1)
    customers.read_customer(client, created.id)
    client.company_info()
    assert meter.total == MeteredCall(reads=2, writes=1)
    # A failed call is not metered.
    with pytest.raises(QboError):
        client.read("Customer", "999999")
    assert meter.total == MeteredCall(reads=2, writes=1)


def test_a_paused_read_is_not_sent_while_writes_go_on(metered, qbo_sandbox):
    client, meter = metered
    meter.paused = True
    before = len(qbo_sandbox.control.requests(client.realm_id))
    with pytest.raises(QboReadsPausedError):
        client.company_info()
    assert len(qbo_sandbox.control.requests(client.realm_id)) == before
    customers.create_customer(client, customers.CustomerDraft(display_name="Still Written"), request_id="m-2")
    assert meter.total == MeteredCall(writes=1)


def _literal_call_sites() -> list[tuple[str, str, str]]:
    """Every ``.request("METHOD", path, ...)`` in the adapter, with f-string parts filled in."""
    sites = []
    for source in sorted(ADAPTER.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "request"):
                continue
            if len(node.args) < 2 or not isinstance(node.args[0], ast.Constant):
                continue
            method, path = node.args[0].value, node.args[1]
            if isinstance(path, ast.Constant):
                text = str(path.value)
            elif isinstance(path, ast.JoinedStr):
                text = "".join(str(v.value) if isinstance(v, ast.Constant) else "x" for v in path.values)
            else:
                continue
            sites.append((source.name, method, text))
    return sites


def test_every_call_site_in_the_adapter_is_classed():
    sites = _literal_call_sites()
    # The endpoints' own helpers plus every module that calls QBO directly.
    assert {name for name, _, _ in sites} >= {"client.py", "batch.py", "cdc.py", "transactions.py"}
    for name, method, path in sites:
        if name == "oauth.py":  # Intuit's OAuth endpoints are not the Accounting API and are free
            continue
        body = {"BatchItemRequest": []} if path == "batch" else None
        try:
            classify(method, path, body)
        except UnclassifiedCall as exc:  # pragma: no cover - the failure message names the site
            pytest.fail(f"{name}: {exc}")


def test_invoice_helpers_cost_what_intuit_meters(metered):
    client, meter = metered
    customer = customers.create_customer(
        client, customers.CustomerDraft(display_name="Invoice Owner"), request_id="m-3"
    )
    line = transactions.InvoiceLineDraft(
        amount=Decimal("10.00"),
        quantity=Decimal("1"),
        unit_price=Decimal("10.00"),
        description="Work",
        item_id="1",
    )
    draft = transactions.InvoiceDraft(
        customer_id=customer.id, txn_date=date(2026, 12, 1), due_date=date(2026, 12, 31), lines=(line,)
    )
    created = transactions.create_invoice(client, draft, request_id="m-4")
    transactions.void_invoice(client, created.id, created.sync_token, request_id="m-5")
    assert meter.total == MeteredCall(writes=3)

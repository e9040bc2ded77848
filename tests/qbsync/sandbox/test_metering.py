"""Read metering (Core and CorePlus calls per realm, per OAuth client, per month) and the monthly read cap."""

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from qbsync.sandbox.__main__ import parse_args
from qbsync.sandbox.metering import CORE, CORE_PLUS, call_class, item_class
from qbsync.sandbox.testing import ControlAPIError, running_sandbox

READ_CAP_DETAIL = (
    "This app has used its monthly allowance of CorePlus (read) API calls for its plan. Reads are blocked "
    "until the next calendar month or until the plan changes."
)
NONE = {CORE: 0, CORE_PLUS: 0}


@pytest.fixture
def sandbox():
    """A sandbox per test (read caps are server-wide), its wall clock stopped so that the month cannot turn
    in the middle of a test."""
    with running_sandbox() as sb:
        sb.control.freeze_clock()
        yield sb


@pytest.fixture
def company(new_company):
    """A company and a client for it whose token was issued to `client_id` (None: a token of no client)."""

    def make(client_id: str | None = None, **kwargs):
        qbo = new_company(**kwargs)
        if client_id:
            qbo.tokens = qbo.control.tokens(qbo.realm, client_id)
            qbo.http.headers["Authorization"] = f"Bearer {qbo.tokens['access_token']}"
        return qbo

    return make


def month_of(sb) -> dict:
    """This month's counts: {"realms": {...}, "clients": {...}, "total": {...}} (empty groups if none)."""
    report = sb.control.meter()
    return report["months"].get(report["month"], {"realms": {}, "clients": {}, "total": NONE})


def api_log(qbo) -> list[dict]:
    return [e for e in qbo.control.requests(qbo.realm) if e["kind"] == "api"]


def batch(qbo, *items: dict) -> requests.Response:
    return qbo.post("batch", {"BatchItemRequest": [{"bId": str(n), **item} for n, item in enumerate(items)]})


# --- classification ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "rest", "params", "body", "klass"),
    [
        ("GET", "customer/1", {}, None, CORE_PLUS),
        ("GET", "query", {"query": "select * from Customer"}, None, CORE_PLUS),
        ("POST", "query", {}, None, CORE_PLUS),
        ("GET", "cdc", {"entities": "Customer", "changedSince": "2026-01-01"}, None, CORE_PLUS),
        ("GET", "companyinfo/123", {}, None, CORE_PLUS),
        ("GET", "preferences", {}, None, CORE_PLUS),
        ("GET", "reports/ProfitAndLoss", {"date_macro": "This Month"}, None, CORE_PLUS),
        ("GET", "no/such/thing", {}, None, CORE_PLUS),  # unknown reads: conservatively metered
        ("POST", "customer", {}, {"DisplayName": "A"}, CORE),
        ("POST", "customer", {}, {"Id": "1", "SyncToken": "0", "sparse": True}, CORE),
        ("POST", "invoice", {"operation": "delete"}, {"Id": "1", "SyncToken": "0"}, CORE),
        ("POST", "invoice", {"operation": "void"}, {"Id": "1", "SyncToken": "0"}, CORE),
        ("POST", "payment", {"operation": "update", "include": "void"}, {"Id": "1", "SyncToken": "0"}, CORE),
        ("POST", "invoice/1/send", {"sendTo": "a@example.com"}, None, CORE),
        ("POST", "preferences", {}, {"SalesFormsPrefs": {"CustomTxnNumbers": True}}, CORE),
        ("POST", "no/such/thing", {}, None, CORE),
        ("POST", "batch", {}, {"BatchItemRequest": []}, None),  # the envelope: its items are classed
    ],
)
def test_call_class(method, rest, params, body, klass):
    assert call_class(method, rest, params, body) == klass


def test_batch_item_class():
    assert item_class({"bId": "1", "Query": "select * from Item"}) == CORE_PLUS
    assert (
        item_class({"bId": "1", "CDCQuery": {"Entities": "Item", "ChangedSince": "2026-01-01"}}) == CORE_PLUS
    )
    assert item_class({"bId": "1", "operation": "create", "Customer": {"DisplayName": "A"}}) == CORE
    assert item_class({"bId": "1", "operation": "delete", "Invoice": {"Id": "1", "SyncToken": "0"}}) == CORE


def test_every_endpoint_kind_is_metered_over_http(company):
    qbo = company("app-a")
    since = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    cust = qbo.customer()
    calls = [
        (CORE_PLUS, lambda: qbo.get(f"customer/{cust['Id']}")),
        (CORE_PLUS, lambda: qbo.query("select * from Customer")),
        (CORE_PLUS, lambda: qbo.query("select * from Customer", post=True)),
        (CORE_PLUS, lambda: qbo.get("cdc", params={"entities": "Customer", "changedSince": since})),
        (CORE_PLUS, lambda: qbo.get(f"companyinfo/{qbo.realm}")),
        (CORE_PLUS, lambda: qbo.get("preferences")),
        (CORE, lambda: qbo.post("preferences", {"SalesFormsPrefs": {"CustomTxnNumbers": False}})),
        (
            CORE,
            lambda: qbo.post("customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Notes": "n"}),
        ),
        (CORE, lambda: qbo.post("customer", {**qbo.read("Customer", cust["Id"]), "Notes": "full"})),
    ]
    for klass, call in calls:
        assert call().status_code == 200
        assert api_log(qbo)[-1]["metered"] == klass
    inv = qbo.invoice(cust["Id"])
    assert qbo.post("invoice", {"Id": inv["Id"], "SyncToken": "0"}, params={"operation": "void"}).ok
    other = qbo.invoice(cust["Id"])
    assert qbo.post("invoice", {"Id": other["Id"], "SyncToken": "0"}, params={"operation": "delete"}).ok
    log = api_log(qbo)
    assert [e["metered"] for e in log[-4:]] == [CORE] * 4  # invoice, void, invoice, delete
    assert all(e["client_id"] == "app-a" for e in log)
    # 1 create + 2 updates + preferences + 2 invoices + void + delete; 6 reads + the read before the update
    counted = {CORE: 8, CORE_PLUS: 7}
    assert month_of(qbo.sb)["realms"] == {qbo.realm: counted}
    assert month_of(qbo.sb)["clients"] == {"app-a": counted}


def test_batch_counts_its_items_not_itself(company):
    qbo = company("app-a")
    resp = batch(
        qbo,
        {"Query": "select * from Item"},
        {"Query": "select * from Customer"},
        {"Query": "select * fro Item"},  # 4000: not counted
        {"operation": "create", "Customer": {"DisplayName": "Batched"}},
        {"operation": "create", "Customer": {"DisplayName": "Batched"}},  # 6240: not counted
    )
    assert resp.status_code == 200
    assert ["Fault" in a for a in resp.json()["BatchItemResponse"]] == [False, False, True, False, True]
    entry = api_log(qbo)[-1]
    assert (entry["metered"], entry["metered_items"]) == (None, {CORE: 1, CORE_PLUS: 2})
    assert "read_refused" not in entry
    too_big = batch(qbo, *[{"Query": "select * from Item"}] * 31)
    assert too_big.status_code == 400
    assert api_log(qbo)[-1]["metered_items"] == NONE
    assert month_of(qbo.sb)["total"] == {CORE: 1, CORE_PLUS: 2}


def test_failed_calls_are_not_counted(company):
    qbo = company("app-a")
    qbo.customer("Taken")
    failed = [
        qbo.get("customer/424242"),  # 610
        qbo.query("select * fro Customer"),  # 4000
        qbo.post("customer", {"DisplayName": "Taken"}),  # 6240
        qbo.post("no/such/thing", {}),  # 400 Unsupported Operation
        requests.get(qbo.url("item/1"), headers={"Authorization": "Bearer nope"}, timeout=5),  # 401
    ]
    qbo.control.fault(qbo.realm, "throttle")
    failed.append(qbo.get("item/1"))
    qbo.control.fault(qbo.realm, "http_500")
    failed.append(qbo.post("customer", {"DisplayName": "Never"}))
    assert [r.status_code for r in failed] == [400, 400, 400, 400, 401, 429, 500]
    log = api_log(qbo)
    assert [e["metered"] for e in log[-7:]] == [None] * 7
    assert log[-3]["client_id"] is None  # a token nobody issued belongs to no client
    assert month_of(qbo.sb)["total"] == {CORE: 1, CORE_PLUS: 0}  # the first create only


def test_lost_replies_count_as_qbo_answered_them(company):
    qbo = company("app-a")
    qbo.control.fault(qbo.realm, "drop_after_commit", path="customer")
    with pytest.raises(requests.exceptions.ConnectionError):
        qbo.post("customer", {"DisplayName": "Committed"})
    qbo.control.fault(qbo.realm, "hang", path="item", apply=True, hang_seconds=0)
    with pytest.raises(requests.exceptions.ConnectionError):
        qbo.get("item/1")
    qbo.control.fault(qbo.realm, "drop", path="item")  # dropped before it is applied: not counted
    with pytest.raises(requests.exceptions.ConnectionError):
        qbo.get("item/1")
    assert [(e["dropped"], e["metered"]) for e in api_log(qbo)] == [
        (True, CORE),
        (True, CORE_PLUS),
        (True, None),
    ]
    assert month_of(qbo.sb)["total"] == {CORE: 1, CORE_PLUS: 1}


def test_counts_per_realm_and_per_client(company):
    a = company("app-a")
    b = company("app-b")
    b2 = company("app-b")  # a second company of app-b
    shared = company()  # a token no client has refreshed: no client id
    a.get("item/1")
    a.get("item/1")
    b.customer()
    b.get("item/1")
    b2.get("item/1")
    other_app = a.control.tokens(a.realm, "app-b")["access_token"]  # a's company is connected to app-b too
    requests.get(a.url("item/1"), headers={"Authorization": f"Bearer {other_app}"}, timeout=5)
    shared.get("item/1")
    assert api_log(shared)[-1]["client_id"] is None
    this = month_of(a.sb)
    assert this["realms"] == {
        a.realm: {CORE: 0, CORE_PLUS: 3},
        b.realm: {CORE: 1, CORE_PLUS: 1},
        b2.realm: {CORE: 0, CORE_PLUS: 1},
        shared.realm: {CORE: 0, CORE_PLUS: 1},
    }
    assert this["clients"] == {
        "app-a": {CORE: 0, CORE_PLUS: 2},
        "app-b": {CORE: 1, CORE_PLUS: 3},
        "(none)": {CORE: 0, CORE_PLUS: 1},
    }
    month = a.control.meter()["month"]
    by_b = a.control.meter(client_id="app-b")["months"][month]
    assert by_b["realms"] == {
        a.realm: {CORE: 0, CORE_PLUS: 1},
        b.realm: {CORE: 1, CORE_PLUS: 1},
        b2.realm: {CORE: 0, CORE_PLUS: 1},
    }
    a_by_b = a.control.meter(realm_id=a.realm, client_id="app-b")["months"][month]
    assert a_by_b["total"] == {CORE: 0, CORE_PLUS: 1}
    assert a.control.meter(month="1999-01")["months"] == {}
    assert a.control.meter(month=month)["months"][month]["total"] == {CORE: 1, CORE_PLUS: 6}


def test_a_control_api_token_counts_for_the_client_that_refreshes_it(company):
    qbo = company()
    qbo.get("item/1")
    form = {"grant_type": "refresh_token", "refresh_token": qbo.tokens["refresh_token"]}
    auth = ("app-c", "secret")
    refreshed = requests.post(qbo.sb.base_url + "/oauth2/v1/tokens/bearer", data=form, auth=auth, timeout=5)
    assert refreshed.status_code == 200
    qbo.http.headers["Authorization"] = f"Bearer {refreshed.json()['access_token']}"
    qbo.get("item/1")
    assert [e["client_id"] for e in api_log(qbo)] == [None, "app-c"]
    assert month_of(qbo.sb)["clients"] == {
        "(none)": {CORE: 0, CORE_PLUS: 1},
        "app-c": {CORE: 0, CORE_PLUS: 1},
    }


def test_a_new_month_starts_new_counts_and_lifts_the_cap(company):
    qbo = company("app-a", settings={"access_token_lifetime": 10**8})  # the token outlives the jump
    epoch = qbo.control.freeze_clock()["epoch"]
    now = datetime.fromtimestamp(epoch, UTC)
    next_month = (now.replace(day=28) + timedelta(days=4)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    qbo.control.advance_clock(next_month.timestamp() - epoch - 0.5)  # half a second before it turns
    first = qbo.control.meter()["month"]
    qbo.control.read_cap(1)
    assert qbo.get("item/1").status_code == 200
    assert qbo.get("item/1").status_code == 429
    qbo.control.advance_clock(1)
    second = qbo.control.meter()["month"]
    assert (first, second) == (now.strftime("%Y-%m"), next_month.strftime("%Y-%m"))
    assert qbo.get("item/1").status_code == 200
    months = qbo.control.meter()["months"]
    assert {m: c["total"] for m, c in months.items()} == {
        first: {CORE: 0, CORE_PLUS: 1},
        second: {CORE: 0, CORE_PLUS: 1},
    }


# --- the monthly read cap ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "fault_type"), [("429", "ThrottlingFault"), ("403", "AuthorizationFault")]
)
def test_read_cap_refuses_reads_and_lets_writes_through(company, answer, fault_type):
    qbo = company("app-a")
    caps = qbo.control.read_cap(2, answer=answer)["read_caps"]
    assert caps == [{"client_id": None, "read_cap": 2, "answer": answer}]
    assert qbo.get("item/1").status_code == 200
    assert qbo.query("select * from Item").status_code == 200
    for refused in (
        qbo.get("item/1", params={"requestid": "read-1"}),
        qbo.query("select * from Item"),
        qbo.query("select * from Item", post=True),
        qbo.get(f"companyinfo/{qbo.realm}"),
    ):
        assert refused.status_code == int(answer)
        assert "Retry-After" not in refused.headers
        body = refused.json()
        assert body["Fault"] == {
            "Error": [{"Message": "API read limit exceeded", "Detail": READ_CAP_DETAIL, "code": "3002"}],
            "type": fault_type,
        }
        assert body["time"]
    entry = api_log(qbo)[-1]
    assert (entry["read_refused"], entry["fault_code"], entry["metered"]) == (True, "3002", None)
    cust = qbo.customer()  # writes go on
    assert qbo.post("customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Notes": "n"}).ok
    assert month_of(qbo.sb)["total"] == {CORE: 2, CORE_PLUS: 2}  # refusals are not counted
    qbo.control.read_cap(None)
    again = qbo.get("item/1", params={"requestid": "read-1"})
    assert again.status_code == 200  # the refused read was not remembered either
    assert api_log(qbo)[-1]["replayed"] is False


def test_read_cap_holds_under_concurrent_reads(company):
    qbo = company("app-a")
    qbo.control.settings(qbo.realm, latency_ms=200)  # the reads overlap: the admitted ones hold their place
    qbo.control.read_cap(2)
    statuses = []

    def read():
        statuses.append(requests.get(qbo.url("item/1"), headers=qbo.http.headers, timeout=5).status_code)

    threads = [threading.Thread(target=read) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 429, 429, 429]
    assert month_of(qbo.sb)["total"] == {CORE: 0, CORE_PLUS: 2}


def test_read_cap_refuses_batch_query_items_one_by_one(company):
    qbo = company("app-a")
    qbo.control.read_cap(3)
    qbo.get("item/1")
    qbo.get("item/1")
    resp = batch(
        qbo,
        {"Query": "select * from Item"},  # the third read: allowed
        {"operation": "create", "Customer": {"DisplayName": "Written anyway"}},
        {"Query": "select * from Customer"},
        {"CDCQuery": {"Entities": "Customer", "ChangedSince": "2026-01-01"}},
    )
    assert resp.status_code == 200
    answers = resp.json()["BatchItemResponse"]
    assert answers[0]["QueryResponse"]["Item"]
    assert answers[1]["Customer"]["DisplayName"] == "Written anyway"
    for refused in answers[2:]:
        assert refused["Fault"]["type"] == "ThrottlingFault"
        assert refused["Fault"]["Error"][0]["code"] == "3002"
    assert [a["bId"] for a in answers] == ["0", "1", "2", "3"]
    entry = api_log(qbo)[-1]
    assert entry["metered_items"] == {CORE: 1, CORE_PLUS: 1}
    assert (entry["read_refused"], entry["refused_items"], entry["status"]) == (True, 2, 200)
    assert [c["DisplayName"] for c in qbo.control.entities(qbo.realm, "Customer")] == ["Written anyway"]
    assert month_of(qbo.sb)["total"] == {CORE: 1, CORE_PLUS: 3}


def test_read_cap_per_client(company):
    a = company("app-a")
    b = company("app-b")
    a.control.read_cap(0, client_id="app-a", answer="403")
    assert a.get("item/1").status_code == 403
    assert b.get("item/1").status_code == 200
    a.control.read_cap(1)  # every client: replaces the cap of app-a
    assert a.get("item/1").status_code == 200
    assert b.get("item/1").status_code == 429  # app-b has had its one read
    report = a.control.read_cap(None, client_id="app-b")  # no cap for app-b, under the cap for everyone
    assert report["read_caps"] == [
        {"client_id": None, "read_cap": 1, "answer": "429"},
        {"client_id": "app-b", "read_cap": None, "answer": "429"},
    ]
    assert b.get("item/1").status_code == 200
    assert a.get("item/1").status_code == 429
    assert a.control.read_cap(None)["read_caps"] == []
    assert a.get("item/1").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"read_cap": -1},
        {"read_cap": "10"},
        {"read_cap": True},
        {"read_cap": 5, "answer": "500"},
        {"answer": "429"},  # read_cap is required
        {"read_cap": 5, "client": "x"},
    ],
)
def test_read_cap_validation(sandbox, body):
    with pytest.raises(ControlAPIError) as exc:
        sandbox.control.call("POST", "/_sandbox/meter", body)
    assert exc.value.status == 400


# --- clearing, persistence, the CLI, the info page -----------------------------------------------


def test_delete_clears_counts_and_reset_clears_everything(company):
    qbo = company("app-a")
    qbo.get("item/1")
    qbo.control.read_cap(10)
    qbo.control.clear_meter()
    report = qbo.control.meter()
    assert report["months"] == {}
    assert report["read_caps"] == [{"client_id": None, "read_cap": 10, "answer": "429"}]  # caps stay
    qbo.get("item/1")
    qbo.control.reset()
    assert qbo.control.meter()["months"] == {}
    assert qbo.control.meter()["read_caps"] == []


def test_configured_cap_survives_reset():
    with running_sandbox(read_cap=1, read_cap_answer="403") as sb:
        expected = [{"client_id": None, "read_cap": 1, "answer": "403"}]
        assert sb.control.meter()["read_caps"] == expected
        sb.control.read_cap(None)
        sb.control.reset()
        assert sb.control.meter()["read_caps"] == expected


def test_cli_read_cap_options():
    config = parse_args(["--read-cap", "500000", "--read-cap-answer", "403"])
    assert (config.read_cap, config.read_cap_answer) == (500000, "403")
    assert (parse_args([]).read_cap, parse_args([]).read_cap_answer) == (None, "429")


def test_counts_and_caps_persist(tmp_path):
    data = tmp_path / "sandbox.json"
    with running_sandbox(data=str(data)) as sb:
        realm = sb.control.create_company("Metered")
        token = sb.control.tokens(realm, "app-a")["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{sb.api_base}/company/{realm}/item/1", headers=headers, timeout=5).ok
        sb.control.read_cap(1, client_id="app-a", answer="403")
        before = sb.control.meter()
    assert json.loads(data.read_text())["meter"]["caps"]
    with running_sandbox(data=str(data)) as sb:
        assert sb.control.meter() == {**before, "month": sb.control.meter()["month"]}
        refused = requests.get(f"{sb.api_base}/company/{realm}/item/1", headers=headers, timeout=5)
        assert refused.status_code == 403


def test_info_and_index_page_show_this_month(company):
    qbo = company("app-a")
    qbo.get("item/1")
    qbo.customer()
    qbo.control.read_cap(1000)
    info = qbo.control.call("GET", "/_sandbox")["meter"]
    month = qbo.control.meter()["month"]
    assert info == {
        "month": month,
        CORE: 1,
        CORE_PLUS: 1,
        "read_caps": [{"client_id": None, "read_cap": 1000, "answer": "429"}],
    }
    page = requests.get(qbo.sb.base_url + "/", timeout=5).text
    assert f"API calls in {month} (UTC): 1 Core, 1 CorePlus" in page
    assert "every client: 1000" in page

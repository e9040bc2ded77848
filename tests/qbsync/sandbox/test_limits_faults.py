"""Gateway errors, limits, armed faults and requestid idempotency."""

import threading
import time

import pytest
import requests


def test_every_response_has_intuit_tid(qbo, sandbox):
    for resp in (
        qbo.get("item/1"),
        qbo.get("item/999"),
        requests.get(sandbox.base_url + "/nothing", timeout=5),
    ):
        assert resp.headers["intuit_tid"].startswith("1-")


def test_gateway_401_and_403_shapes(qbo, new_company):
    bad = requests.get(qbo.url("customer/1"), headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad.status_code == 401
    assert "invalid_token" in bad.headers["WWW-Authenticate"]
    body = bad.json()
    assert body["fault"]["error"][0]["code"] == "3200"
    assert body["fault"]["type"] == "AUTHENTICATION"
    assert body["fault"]["error"][0]["element"] is None
    assert isinstance(body["time"], int)
    for key in ("warnings", "intuitObject", "report", "queryResponse", "batchItemResponse", "cdcresponse"):
        assert key in body
    other = new_company()
    wrong_realm = requests.get(
        qbo.url("customer/1"), headers={"Authorization": f"Bearer {other.tokens['access_token']}"}, timeout=5
    )
    assert wrong_realm.status_code == 403
    assert wrong_realm.json()["fault"]["error"][0]["code"] == "3100"
    assert wrong_realm.json()["fault"]["error"][0]["message"].startswith("message=AuthorizationFailed")


def test_per_minute_limit_is_429_3001_with_retry_after(qbo):
    qbo.control.settings(qbo.realm, limits={"per_minute": 3})
    assert [qbo.get("item/1").status_code for _ in range(3)] == [200, 200, 200]
    resp = qbo.get("item/1")
    assert resp.status_code == 429
    assert qbo.code(resp) == "3001"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    qbo.control.settings(qbo.realm, throttle_format="xml")
    xml = qbo.get("item/1")
    assert xml.status_code == 429
    assert xml.text.startswith("<?xml")
    assert 'code="3001"' in xml.text
    qbo.control.advance_clock(61)  # the window slides on the sandbox clock
    assert qbo.get("item/1").status_code == 200
    log = qbo.control.requests(qbo.realm)
    assert [e["fault_code"] for e in log if e["status"] == 429] == ["3001", "3001"]


def test_time_scale_shrinks_windows(new_company):
    from qbsync.sandbox.testing import running_sandbox

    with running_sandbox(time_scale=600) as fast:
        realm = fast.control.create_company("Fast")
        fast.control.settings(realm, limits={"per_minute": 2})
        tokens = fast.control.tokens(realm)
        assert tokens["expires_in"] == 6  # 3600 s / 600
        s = requests.Session()
        s.trust_env = False
        s.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        url = f"{fast.api_base}/company/{realm}/item/1"
        assert [s.get(url).status_code for _ in range(3)] == [200, 200, 429]
        time.sleep(0.15)  # the 60 s window lasts 0.1 s at scale 600
        assert s.get(url).status_code == 200


def test_concurrency_limit(qbo):
    qbo.control.settings(qbo.realm, limits={"concurrent": 2}, latency_ms=300)
    statuses = []

    def call():
        statuses.append(requests.get(qbo.url("item/1"), headers=qbo.http.headers, timeout=5).status_code)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 429, 429, 429]
    stats = qbo.control.company(qbo.realm)["limits_stats"]
    assert stats["max_in_flight"] == 2


def test_batch_rate_limit(qbo):
    qbo.control.settings(qbo.realm, limits={"batch_per_minute": 2})
    body = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Item"}]}
    codes = [qbo.post("batch", body).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert qbo.get("item/1").status_code == 200  # ordinary requests are not batch-limited


def test_http_500_503_and_throttle_faults(qbo):
    qbo.control.fault(qbo.realm, "http_500")
    resp = qbo.get("item/1")
    assert resp.status_code == 500
    assert qbo.code(resp) == "10000"
    qbo.control.fault(qbo.realm, "http_503", count=2)
    for _ in range(2):
        resp = qbo.get("item/1")
        assert resp.status_code == 503
        assert resp.headers["Content-Type"].startswith("text/html")
        assert "503 Service Temporarily Unavailable" in resp.text
    qbo.control.fault(qbo.realm, "throttle", retry_after=7)
    resp = qbo.get("item/1")
    assert (resp.status_code, resp.headers["Retry-After"], qbo.code(resp)) == (429, "7", "3001")
    qbo.control.fault(qbo.realm, "throttle_xml")
    resp = qbo.get("item/1")
    assert resp.status_code == 429
    assert '<Error code="3001">' in resp.text
    assert qbo.get("item/1").status_code == 200


def test_fault_matching_by_path_and_method(qbo):
    qbo.control.fault(qbo.realm, "http_500", path="customer", method="POST")
    assert qbo.get("item/1").status_code == 200
    assert qbo.query("select * from Customer").status_code == 200
    assert qbo.post("customer", {"DisplayName": "Nope"}).status_code == 500
    assert qbo.control.entities(qbo.realm, "Customer") == []  # nothing applied
    assert qbo.post("customer", {"DisplayName": "Nope"}).status_code == 200


def test_hang_outlasts_client_timeout_without_blocking_others(qbo):
    qbo.control.fault(qbo.realm, "hang", hang_seconds=1.5, path="customer")
    started = time.monotonic()
    errors = []

    def hung():
        try:
            qbo.http.post(qbo.url("customer"), json={"DisplayName": "Hung"}, timeout=0.5)
        except requests.exceptions.ReadTimeout as exc:
            errors.append(exc)

    t = threading.Thread(target=hung)
    t.start()
    # The hung request holds its connection once the sandbox has taken the fault.
    faults = f"/_sandbox/companies/{qbo.realm}/faults"
    while qbo.control.call("GET", faults)["faults"]:
        assert time.monotonic() - started < 5, "the hung request never reached the sandbox"
        time.sleep(0.01)
    asked = time.monotonic()
    other = requests.get(qbo.url("item/1"), headers=qbo.http.headers, timeout=2)  # a separate connection
    assert other.status_code == 200
    assert time.monotonic() - asked < 0.5
    t.join()
    assert errors
    assert qbo.control.entities(qbo.realm, "Customer") == []


def test_drop_after_commit_applies_then_replays_by_requestid(qbo):
    qbo.control.fault(qbo.realm, "drop_after_commit", path="customer")
    with pytest.raises(requests.exceptions.ConnectionError):
        qbo.post("customer", {"DisplayName": "Committed"}, params={"requestid": "op-1"})
    stored = qbo.control.entities(qbo.realm, "Customer")
    assert [c["DisplayName"] for c in stored] == ["Committed"]
    retry = qbo.post("customer", {"DisplayName": "Committed"}, params={"requestid": "op-1"})
    assert retry.status_code == 200
    assert retry.json()["Customer"]["Id"] == stored[0]["Id"]
    assert len(qbo.control.entities(qbo.realm, "Customer")) == 1
    log = qbo.control.requests(qbo.realm)
    assert log[-2]["dropped"] is True
    assert log[-2]["requestid"] == "op-1"
    assert log[-1]["replayed"] is True


def test_drop_before_commit_applies_nothing(qbo):
    qbo.control.fault(qbo.realm, "drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        qbo.post("customer", {"DisplayName": "Lost"})
    assert qbo.control.entities(qbo.realm, "Customer") == []


def test_expired_token_fault(qbo):
    qbo.control.fault(qbo.realm, "expired_token")
    resp = qbo.get("item/1")
    assert resp.status_code == 401
    assert resp.json()["fault"]["error"][0]["detail"].startswith("Token expired")
    assert qbo.get("item/1").status_code == 401  # the token really expired
    fresh = qbo.control.tokens(qbo.realm)
    resp = requests.get(
        qbo.url("item/1"), headers={"Authorization": f"Bearer {fresh['access_token']}"}, timeout=5
    )
    assert resp.status_code == 200


def test_unknown_fault_kind_is_rejected(qbo):
    from qbsync.sandbox.testing import ControlAPIError

    with pytest.raises(ControlAPIError) as exc:
        qbo.control.fault(qbo.realm, "gremlins")
    assert exc.value.status == 400


def test_idempotent_replay_and_switch(qbo):
    first = qbo.post("customer", {"DisplayName": "Once"}, params={"requestid": "r-1"})
    again = qbo.post("customer", {"DisplayName": "Once"}, params={"requestid": "r-1"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert len(qbo.control.entities(qbo.realm, "Customer")) == 1
    failed = qbo.post("customer", {"DisplayName": "Once"}, params={"requestid": "r-2"})
    assert qbo.code(failed) == "6240"
    assert qbo.post("customer", {"DisplayName": "Other"}, params={"requestid": "r-2"}).json() == failed.json()
    qbo.control.settings(qbo.realm, idempotency="off")
    cust = qbo.customer()
    pay = {"CustomerRef": {"value": cust["Id"]}, "TotalAmt": 5}
    ids = {qbo.post("payment", pay, params={"requestid": "p-1"}).json()["Payment"]["Id"] for _ in range(2)}
    assert len(ids) == 2  # real QBO is reported to create duplicates: test the app against that too
    qbo.control.settings(qbo.realm, idempotency="error")
    qbo.post("payment", pay, params={"requestid": "p-2"})
    dup = qbo.post("payment", pay, params={"requestid": "p-2"})
    assert qbo.code(dup) == "600"


def test_requestids_are_per_realm(qbo, new_company):
    other = new_company()
    a = qbo.post("customer", {"DisplayName": "Same"}, params={"requestid": "shared"}).json()["Customer"]
    b = other.post("customer", {"DisplayName": "Same"}, params={"requestid": "shared"}).json()["Customer"]
    assert qbo.realm != other.realm
    assert a["MetaData"] is not b["MetaData"]
    assert len(other.control.entities(other.realm, "Customer")) == 1


def test_request_log_fields(qbo):
    qbo.get("customer/424242", params={"minorversion": "75", "requestid": "look-1"})
    entry = qbo.control.requests(qbo.realm, limit=1)[0]
    for key in (
        "time",
        "realm",
        "method",
        "path",
        "query",
        "requestid",
        "status",
        "fault_code",
        "intuit_tid",
    ):
        assert key in entry
    assert (entry["method"], entry["status"], entry["fault_code"], entry["requestid"]) == (
        "GET",
        400,
        "610",
        "look-1",
    )
    assert "minorversion=75" in entry["query"]


def test_serves_at_least_ten_requests_at_once(qbo):
    qbo.control.settings(qbo.realm, limits=None, latency_ms=400)
    statuses = []

    def call():
        statuses.append(requests.get(qbo.url("item/1"), headers=qbo.http.headers, timeout=5).status_code)

    threads = [threading.Thread(target=call) for _ in range(12)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 12
    assert time.monotonic() - started < 1.5  # 12 x 400 ms in parallel, not 4.8 s in series
    assert qbo.control.company(qbo.realm)["limits_stats"]["max_in_flight"] >= 10


@pytest.mark.parametrize(("kind", "status", "code"), [("auth_3100", 403, "3100"), ("auth_120", 401, "120")])
def test_authorization_faults_have_qbos_shapes(qbo, kind, status, code):
    qbo.control.fault(qbo.realm, kind)
    resp = qbo.get(f"companyinfo/{qbo.realm}")
    assert resp.status_code == status
    body = resp.json()
    errors = (body.get("fault") or {}).get("error") or body["Fault"]["Error"]
    assert errors[0]["code"] == code
    assert qbo.get(f"companyinfo/{qbo.realm}").status_code == 200  # armed for one request only

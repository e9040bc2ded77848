"""Batch and change data capture."""

import datetime as dt

import pytest


@pytest.fixture
def mid_second(qbo):
    """The sandbox's wall clock stopped half-way through a second (its epoch), let go after the test."""
    with qbo.control.clock_frozen_mid_second() as epoch:
        yield epoch


def sandbox_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def test_batch_per_item_results_and_faults(qbo):
    cust = qbo.customer()
    inv = qbo.invoice(cust["Id"])
    qbo.create("Invoice", {"Id": inv["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "moved on"})
    body = {
        "BatchItemRequest": [
            {"bId": "bid1", "operation": "create", "Vendor": {"DisplayName": "Boraski Family Store"}},
            {"bId": "bid2", "operation": "delete", "Invoice": {"Id": "99999", "SyncToken": "0"}},
            {"bId": "bid3", "operation": "update",
             "Invoice": {"sparse": True, "Id": inv["Id"], "SyncToken": "0", "PrivateNote": "stale"}},
            {"bId": "bid4", "Query": "select * from Invoice where TotalAmt > '50.00'"},
            {"bId": "bid5", "operation": "create", "Customer": {"DisplayName": cust["DisplayName"]}},
        ]
    }  # fmt: skip
    resp = qbo.post("batch", body)
    assert resp.status_code == 200
    items = {item["bId"]: item for item in resp.json()["BatchItemResponse"]}
    assert items["bid1"]["Vendor"]["DisplayName"] == "Boraski Family Store"
    assert items["bid2"]["Fault"]["Error"][0]["code"] == "610"
    assert items["bid2"]["Fault"]["type"] == "ValidationFault"
    assert items["bid3"]["Fault"]["Error"][0]["code"] == "5010"
    assert items["bid4"]["QueryResponse"]["Invoice"][0]["Id"] == inv["Id"]
    assert items["bid5"]["Fault"]["Error"][0]["code"] == "6240"


def test_batch_void_and_size_limit(qbo):
    cust = qbo.customer()
    inv = qbo.invoice(cust["Id"])
    body = {"BatchItemRequest": [{"bId": "v", "operation": "update", "optionsData": "void",
                                  "Invoice": {"Id": inv["Id"], "SyncToken": "0"}}]}  # fmt: skip
    voided = qbo.post("batch", body).json()["BatchItemResponse"][0]["Invoice"]
    assert voided["TotalAmt"] == 0
    items = [{"bId": str(i), "Query": "select * from Item"} for i in range(31)]
    resp = qbo.post("batch", {"BatchItemRequest": items})
    assert resp.status_code == 400
    assert qbo.code(resp) == "1040"
    assert qbo.post("batch", {"BatchItemRequest": items[:30]}).status_code == 200


def test_cdc_returns_changes_and_deleted_stubs(qbo, mid_second):
    since = sandbox_time(mid_second - 60)
    cust = qbo.customer()
    inv = qbo.invoice(cust["Id"])
    doomed = qbo.invoice(cust["Id"])
    qbo.post("invoice", {"Id": doomed["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    # The answer's time is a second after the changes: the next window starts after them whatever QBO
    # does with changedSince's own second (that is the next test).
    qbo.control.advance_clock(1)
    resp = qbo.get("cdc", params={"entities": "Customer,Invoice,Payment", "changedSince": since})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"CDCResponse", "time"}
    customers, invoices, payments = body["CDCResponse"][0]["QueryResponse"]
    assert [c["Id"] for c in customers["Customer"]] == [cust["Id"]]
    by_id = {i["Id"]: i for i in invoices["Invoice"]}
    assert by_id[inv["Id"]]["TotalAmt"] == 100
    assert by_id[doomed["Id"]]["status"] == "Deleted"
    assert set(by_id[doomed["Id"]]) == {"domain", "status", "Id", "MetaData"}
    assert payments == {}
    later = qbo.get("cdc", params={"entities": "customer", "changedSince": body["time"]}).json()
    assert later["CDCResponse"][0]["QueryResponse"] == [{}]


@pytest.mark.parametrize(
    ("boundary", "from_the_answer_time", "from_the_start_of_the_second"),
    [("second_inclusive", True, True), ("second_exclusive", False, False), ("exact", False, True)],
)
def test_cdc_changed_since_within_the_second_of_a_change(
    qbo, mid_second, boundary, from_the_answer_time, from_the_start_of_the_second
):
    """A change at hh:mm:ss.5 and changedSince in that same second: whether it comes back is UNCONFIRMED in
    QBO (its timestamps are whole seconds), so the sandbox's cdc_boundary setting decides."""
    qbo.control.settings(qbo.realm, cdc_boundary=boundary)
    cust = qbo.customer()
    qbo.control.advance_clock(0.2)  # the answer comes at hh:mm:ss.7
    first = qbo.get("cdc", params={"entities": "Customer", "changedSince": sandbox_time(mid_second - 60)})
    assert [c["Id"] for c in first.json()["CDCResponse"][0]["QueryResponse"][0]["Customer"]] == [cust["Id"]]

    def returned(changed_since: str) -> bool:
        answer = qbo.get("cdc", params={"entities": "Customer", "changedSince": changed_since}).json()
        return answer["CDCResponse"][0]["QueryResponse"] != [{}]

    answer_time = first.json()["time"]
    assert dt.datetime.fromisoformat(answer_time).timestamp() == pytest.approx(mid_second + 0.2)
    assert returned(answer_time) is from_the_answer_time  # hh:mm:ss.700, after the change
    assert returned(sandbox_time(mid_second)) is from_the_start_of_the_second  # hh:mm:ss, before it


def test_cdc_limits(qbo):
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).date().isoformat()
    resp = qbo.get("cdc", params={"entities": "Customer", "changedSince": old})
    assert resp.status_code == 400
    assert "older than fixed days" in resp.json()["Fault"]["Error"][0]["Detail"]
    assert qbo.code(qbo.get("cdc", params={"entities": "Customer"})) == "2020"
    assert qbo.code(qbo.get("cdc", params={"entities": "Nope", "changedSince": "2024-01-01"})) in (
        "4001",
        "500",
    )
    qbo.control.settings(qbo.realm, cdc_max_objects=2, cdc_max_days=None)
    for _ in range(3):
        qbo.customer()
    capped = qbo.get("cdc", params={"entities": "Customer", "changedSince": old}).json()
    assert len(capped["CDCResponse"][0]["QueryResponse"][0]["Customer"]) == 2


def test_query_paging_count_and_ordering(qbo):
    for name in ("Charlie", "alpha", "Bravo", "delta"):
        qbo.customer(name)
    names = [c["DisplayName"] for c in qbo.rows("SELECT * FROM Customer", "Customer")]
    assert names == ["Bravo", "Charlie", "alpha", "delta"]  # case-sensitive, as the recordings show
    page = qbo.query("SELECT * FROM Customer ORDERBY DisplayName DESC STARTPOSITION 2 MAXRESULTS 2").json()
    assert page["QueryResponse"]["startPosition"] == 2
    assert page["QueryResponse"]["maxResults"] == 2
    assert [c["DisplayName"] for c in page["QueryResponse"]["Customer"]] == ["alpha", "Charlie"]
    empty = qbo.query("SELECT * FROM Customer STARTPOSITION 10").json()
    assert empty["QueryResponse"] == {}
    assert set(empty) == {"QueryResponse", "time"}
    post = qbo.query("select count(*) from Customer where DisplayName like '%a%'", post=True).json()
    assert post["QueryResponse"] == {"totalCount": 4}
    apostrophe = qbo.customer("O'Brien & Sons")
    found = qbo.rows(r"SELECT * FROM Customer WHERE DisplayName = 'O\'Brien & Sons'", "Customer")
    assert [c["Id"] for c in found] == [apostrophe["Id"]]
    assert qbo.code(qbo.query("SELECT * FROM Custmoer")) == "4001"
    assert qbo.code(qbo.query("SELECT * FROM Customer WHERE Active = true OR Active = false")) == "4000"
    assert qbo.code(qbo.query("SELECT * FROM Customer WHERE Nonsense = '1'")) == "4001"


def test_preferences_and_companyinfo(qbo):
    prefs = qbo.get("preferences").json()
    assert prefs["Preferences"]["SalesFormsPrefs"]["CustomTxnNumbers"] is False
    info = qbo.get(f"companyinfo/{qbo.realm}").json()["CompanyInfo"]
    assert info["CompanyName"].startswith("Test Co")
    assert info["CompanyAddr"]["Country"] == "USA"
    updated = qbo.post("preferences", {"SalesFormsPrefs": {"CustomTxnNumbers": True}, "sparse": True})
    assert updated.json()["Preferences"]["SalesFormsPrefs"]["CustomTxnNumbers"] is True

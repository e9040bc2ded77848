"""Customer, Vendor, Employee, CustomerType and Item rules over HTTP."""


def test_create_fills_recorded_defaults(qbo):
    resp = qbo.post("customer", {"DisplayName": "Doe5, Jane"}, params={"minorversion": "75"})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"Customer", "time"}
    c = body["Customer"]
    assert c["DisplayName"] == c["FullyQualifiedName"] == c["PrintOnCheckName"] == "Doe5, Jane"
    assert (c["Taxable"], c["Job"], c["BillWithParent"], c["Active"]) == (True, False, False, True)
    assert c["Balance"] == 0
    assert c["BalanceWithJobs"] == 0
    assert c["CurrencyRef"] == {"value": "USD", "name": "United States Dollar"}
    assert c["PreferredDeliveryMethod"] == "Print"
    assert c["DefaultTaxCodeRef"] == {"value": "2"}
    assert c["domain"] == "QBO"
    assert c["sparse"] is False
    assert isinstance(c["Id"], str)
    assert c["SyncToken"] == "0"
    assert c["MetaData"]["CreateTime"].endswith("-07:00")
    assert "CustomerTypeRef" not in c
    assert resp.headers["intuit_tid"]


def test_ids_increment_and_read_back(qbo):
    a, b = qbo.customer(), qbo.customer()
    assert int(b["Id"]) == int(a["Id"]) + 1
    assert qbo.read("Customer", a["Id"]) == a


def test_display_name_built_from_name_parts(qbo):
    c = qbo.create("Customer", {"GivenName": "Ada", "FamilyName": "Lovelace", "Title": ""})
    assert c["DisplayName"] == "Ada Lovelace"
    resp = qbo.post("customer", {"Notes": "no name at all"})
    assert resp.status_code == 400
    assert qbo.code(resp) == "6080"


def test_accepts_python_quickbooks_blank_fields(qbo):
    body = {
        "Active": True,
        "Balance": 0,
        "BalanceWithJobs": 0,
        "BillWithParent": False,
        "CompanyName": "",
        "DisplayName": "Blank Fields Ltd",
        "FamilyName": "",
        "FullyQualifiedName": "",
        "GivenName": "",
        "IsProject": False,
        "Job": False,
        "Level": 0,
        "MiddleName": "",
        "Notes": "",
        "OpenBalanceDate": "",
        "PreferredDeliveryMethod": "",
        "PrimaryTaxIdentifier": "",
        "PrintOnCheckName": "",
        "ResaleNum": "",
        "Suffix": "",
        "SyncToken": 0,
        "Taxable": True,
        "Title": "",
        "domain": "QBO",
        "sparse": False,
    }
    c = qbo.create("Customer", body)
    assert c["DisplayName"] == "Blank Fields Ltd"
    assert c["SyncToken"] == "0"
    assert "Title" not in c
    assert c["PreferredDeliveryMethod"] == "Print"


def test_full_update_clears_omitted_fields_and_sparse_keeps_them(qbo):
    c = qbo.customer("Doe2, Jane", PrimaryEmailAddr={"Address": "jane@example.com"}, Notes="vip")
    full = qbo.create(
        "Customer",
        {
            "DisplayName": "Jack Moe",
            "PrimaryPhone": {"FreeFormNumber": "(415) 444-1234"},
            "Id": c["Id"],
            "SyncToken": c["SyncToken"],
        },
    )
    assert full["SyncToken"] == "1"
    assert full["DisplayName"] == full["FullyQualifiedName"] == "Jack Moe"
    assert "PrimaryEmailAddr" not in full
    assert "Notes" not in full
    assert full["Taxable"] is True
    assert full["MetaData"]["CreateTime"] == c["MetaData"]["CreateTime"]
    sparse = qbo.create("Customer", {"Id": c["Id"], "SyncToken": "1", "sparse": True, "Notes": "again"})
    assert sparse["SyncToken"] == "2"
    assert sparse["Notes"] == "again"
    assert sparse["PrimaryPhone"] == {"FreeFormNumber": "(415) 444-1234"}


def test_stale_sync_token_is_5010(qbo):
    c = qbo.customer()
    qbo.create("Customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "first"})
    resp = qbo.post("customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "second"})
    assert resp.status_code == 400
    assert qbo.code(resp) == "5010"
    assert resp.json()["Fault"]["type"] == "ValidationFault"


def test_display_name_length_and_characters(qbo):
    assert qbo.customer("x" * 500)["DisplayName"] == "x" * 500
    resp = qbo.post("customer", {"DisplayName": "y" * 501})
    assert resp.status_code == 400
    assert qbo.code(resp) == "2050"
    for bad in ("Parent:Child", "Tab\there", "New\nline"):
        resp = qbo.post("customer", {"DisplayName": bad})
        assert resp.status_code == 400, bad
        assert qbo.code(resp) == "6000"


def test_duplicate_names_across_customer_vendor_employee(qbo):
    qbo.create("Vendor", {"DisplayName": "Staples"})
    qbo.create("Employee", {"GivenName": "David", "FamilyName": "Chen"})
    qbo.customer("Weiskopf Consulting")
    for name in ("Staples", "  STAPLES ", "david chen", "Weiskopf Consulting", "weiskopf consulting  "):
        resp = qbo.post("customer", {"DisplayName": name})
        assert resp.status_code == 400, name
        assert qbo.code(resp) == "6240"
        assert resp.json()["Fault"]["Error"][0]["Message"] == "Duplicate Name Exists Error"
    resp = qbo.post("vendor", {"DisplayName": "Weiskopf CONSULTING"})
    assert qbo.code(resp) == "6240"
    other = qbo.customer("Other")
    resp = qbo.post(
        "customer", {"Id": other["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "staples"}
    )
    assert qbo.code(resp) == "6240"


def test_case_sensitive_name_matching_is_a_company_setting(new_company):
    qbo = new_company(settings={"name_case_insensitive": False})
    qbo.customer("Acme")
    assert qbo.customer("ACME")["DisplayName"] == "ACME"
    assert qbo.code(qbo.post("customer", {"DisplayName": " Acme "})) == "6240"


def test_inactive_customer_gets_deleted_suffix_and_frees_the_name(qbo):
    c = qbo.customer("Old Mill Cafe")
    off = qbo.create(
        "Customer", {"Id": c["Id"], "SyncToken": c["SyncToken"], "sparse": True, "Active": False}
    )
    assert off["Active"] is False
    assert off["SyncToken"] == "1"
    assert off["DisplayName"] == off["FullyQualifiedName"] == "Old Mill Cafe (deleted)"
    assert off["PrintOnCheckName"] == "Old Mill Cafe"
    again = qbo.create("Customer", {"Id": c["Id"], "SyncToken": "1", "sparse": True, "Active": False})
    assert again["SyncToken"] == "1"  # no change, no new SyncToken (as recorded for an employee)
    fresh = qbo.customer("Old Mill Cafe")
    assert fresh["Id"] != c["Id"]
    plain = qbo.rows("SELECT * FROM Customer WHERE DisplayName LIKE 'Old Mill%'", "Customer")
    assert [r["Id"] for r in plain] == [fresh["Id"]]
    both = qbo.rows(
        "SELECT * FROM Customer WHERE Active IN (true, false) AND DisplayName LIKE 'Old Mill%'", "Customer"
    )
    assert {r["Id"] for r in both} == {c["Id"], fresh["Id"]}
    only = qbo.rows("SELECT * FROM Customer WHERE Active = false", "Customer")
    assert [r["Id"] for r in only] == [c["Id"]]
    assert qbo.read("Customer", c["Id"])["Active"] is False  # read by id works for inactive records
    # a second inactive record with the same base name
    qbo.create("Customer", {"Id": fresh["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert qbo.read("Customer", fresh["Id"])["DisplayName"] == "Old Mill Cafe (deleted-1)"
    # reactivation strips the suffix, unless the bare name was taken meanwhile
    qbo.customer("Old Mill Cafe")
    resp = qbo.post("customer", {"Id": c["Id"], "SyncToken": "1", "sparse": True, "Active": True})
    assert qbo.code(resp) == "6240"


def test_reactivation_restores_bare_name(qbo):
    c = qbo.customer("Phoenix")
    off = qbo.create("Customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    on = qbo.create(
        "Customer", {"Id": c["Id"], "SyncToken": off["SyncToken"], "sparse": True, "Active": True}
    )
    assert on["DisplayName"] == "Phoenix"
    assert on["Active"] is True


def test_customer_type_ref_is_honoured(qbo):
    types = qbo.rows("SELECT * FROM CustomerType", "CustomerType")
    assert [t["Name"] for t in types] == ["Business", "Individual"]
    individual = qbo.rows("SELECT * FROM CustomerType WHERE Name = 'Individual'", "CustomerType")[0]
    assert qbo.read("CustomerType", individual["Id"])["Name"] == "Individual"
    c = qbo.customer(CustomerTypeRef={"value": individual["Id"]})
    assert c["CustomerTypeRef"] == {"value": individual["Id"]}
    resp = qbo.post("customer", {"DisplayName": "Bad Type", "CustomerTypeRef": {"value": "999"}})
    assert qbo.code(resp) == "2500"
    resp = qbo.post("customertype", {"Name": "New Type"})
    assert resp.status_code == 400
    assert qbo.code(resp) == "500"


def test_sub_customer_fully_qualified_name(qbo):
    parent = qbo.customer("Freeman Sporting Goods")
    job = qbo.customer("55 Twin Lane", ParentRef={"value": parent["Id"]}, Job=True)
    assert job["FullyQualifiedName"] == "Freeman Sporting Goods:55 Twin Lane"
    assert job["Level"] == 1
    assert job["Job"] is True


def test_unknown_property_missing_and_invalid_ids(qbo):
    resp = qbo.post("customer", {"DisplayName": "X", "BadJson": True})
    assert resp.status_code == 400
    assert qbo.code(resp) == "2010"
    assert "BadJson" in resp.json()["Fault"]["Error"][0]["Detail"]
    resp = qbo.get("customer/1.5")
    assert resp.status_code == 400
    assert qbo.code(resp) == "2030"
    assert resp.json()["Fault"]["Error"][0]["element"] == "Id"
    resp = qbo.get("customer/99999")
    assert resp.status_code == 400
    assert qbo.code(resp) == "610"
    resp = qbo.get("customer/1/5")
    assert resp.status_code == 400
    assert qbo.code(resp) == "500"
    resp = qbo.post("customer", {"Id": "abc", "SyncToken": "0", "DisplayName": "X"})
    assert qbo.code(resp) == "2030"
    resp = qbo.post("customer", {"Id": qbo.customer()["Id"], "DisplayName": "No token"})
    assert resp.status_code == 400
    assert qbo.code(resp) == "2020"
    resp = qbo.post("customer", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert qbo.code(resp) == "2010"


def test_vendor_and_employee_queries_and_deactivation(qbo):
    v = qbo.create("Vendor", {"DisplayName": "Quill Office Supply"})
    assert v["Vendor1099"] is False
    assert v["Balance"] == 0
    e = qbo.create("Employee", {"GivenName": "Emily", "FamilyName": "Platt"})
    assert e["DisplayName"] == "Emily Platt"
    assert e["BillableTime"] is False
    off = qbo.create("Employee", {"Id": e["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert off["DisplayName"] == "Emily Platt (deleted)"
    assert off["PrintOnCheckName"] == "Emily Platt"
    assert qbo.rows("SELECT * FROM Employee", "Employee") == []
    assert len(qbo.rows("SELECT * FROM Employee WHERE Active IN (true, false)", "Employee")) == 1
    assert (
        qbo.rows("SELECT * FROM Vendor WHERE DisplayName = 'quill office supply'", "Vendor")[0]["Id"]
        == v["Id"]
    )
    count = qbo.query("SELECT COUNT(*) FROM Vendor").json()
    assert count["QueryResponse"] == {"totalCount": 1}


def test_items_read_query_and_references(qbo):
    services = qbo.rows("SELECT * FROM Item WHERE Name = 'Services'", "Item")[0]
    assert services["Id"] == "1"
    assert services["Type"] == "Service"
    assert qbo.read("Item", "1")["Name"] == "Services"
    item = qbo.create(
        "Item", {"Name": "Design", "Type": "Service", "IncomeAccountRef": {"value": "1"}, "UnitPrice": 75}
    )
    off = qbo.create("Item", {"Id": item["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert off["Name"] == "Design (deleted)"
    assert [i["Name"] for i in qbo.rows("SELECT * FROM Item", "Item")] == ["Services"]
    cust = qbo.customer()
    line = {
        "Amount": 75,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "x"}},
    }
    for ref, code in ((item["Id"], "610"), ("999", "2500")):
        line["SalesItemLineDetail"]["ItemRef"]["value"] = ref
        resp = qbo.post("invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [line]})
        assert resp.status_code == 400
        assert qbo.code(resp) == code
    assert qbo.code(qbo.post("item", {"Name": "services", "IncomeAccountRef": {"value": "1"}})) == "6240"

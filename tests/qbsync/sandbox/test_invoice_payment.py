"""Invoice and Payment rules over HTTP."""

import datetime as dt


def sales_line(amount, item="1", **detail):
    return {
        "Amount": amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": item}, **detail},
    }


def test_invoice_create_fills_defaults_like_the_recording(qbo):
    cust = qbo.customer("Amy's Bird Sanctuary", BillAddr={"Line1": "4581 Finch St.", "City": "Bayshore"})
    body = {
        "Line": [
            {
                "Amount": 100.0,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}},
            }
        ],
        "CustomerRef": {"value": cust["Id"]},
    }
    inv = qbo.create("Invoice", body)
    assert inv["DocNumber"] == "1001"
    assert inv["SyncToken"] == "0"
    assert inv["CustomerRef"] == {"value": cust["Id"], "name": "Amy's Bird Sanctuary"}
    assert inv["TotalAmt"] == 100
    assert inv["Balance"] == 100
    assert inv["LinkedTxn"] == []
    assert inv["TxnTaxDetail"] == {"TotalTax": 0}
    assert inv["BillAddr"] == cust["BillAddr"]
    assert inv["PrintStatus"] == "NeedToPrint"
    assert inv["EmailStatus"] == "NotSet"
    txn = dt.date.fromisoformat(inv["TxnDate"])
    assert dt.date.fromisoformat(inv["DueDate"]) - txn == dt.timedelta(days=30)
    first, subtotal = inv["Line"]
    assert first["Id"] == "1"
    assert first["LineNum"] == 1
    assert first["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}
    assert first["SalesItemLineDetail"]["ItemRef"] == {"value": "1", "name": "Services"}
    assert subtotal == {"Amount": 100, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    assert qbo.read("Customer", cust["Id"])["Balance"] == 100
    assert qbo.invoice(cust["Id"])["DocNumber"] == "1002"


def test_invoice_required_fields_and_amount_checks(qbo):
    cust = qbo.customer()
    resp = qbo.post("invoice", {"Line": [sales_line(10)]})
    assert resp.status_code == 400
    assert qbo.code(resp) == "2020"
    resp = qbo.post("invoice", {"CustomerRef": {"value": cust["Id"]}})
    assert qbo.code(resp) == "2020"
    resp = qbo.post(
        "invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(10, Qty=2, UnitPrice=3)]}
    )
    assert qbo.code(resp) == "6070"
    inv = qbo.create(
        "Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(None, Qty=2, UnitPrice=3)]}
    )
    assert inv["TotalAmt"] == 6
    resp = qbo.post("invoice", {"CustomerRef": {"value": "424242"}, "Line": [sales_line(10)]})
    assert qbo.code(resp) == "2500"
    resp = qbo.post("invoice", {"BadJson": True})
    assert qbo.code(resp) == "2010"


def test_python_quickbooks_style_invoice_body_is_accepted(qbo):
    cust = qbo.customer()
    body = {
        "AllowIPNPayment": True, "AllowOnlineACHPayment": False, "AllowOnlineCreditCardPayment": False,
        "ApplyTaxAfterDiscount": False, "Balance": 0, "CustomField": [], "Deposit": 0, "DueDate": "",
        "EmailStatus": "NotSet", "ExchangeRate": 1, "FreeFormAddress": False,
        "GlobalTaxCalculation": "TaxExcluded", "HomeBalance": 0, "HomeTotalAmt": 0, "InvoiceLink": "",
        "LinkedTxn": [], "PrintStatus": "NotSet", "PrivateNote": "", "ShipDate": "", "SyncToken": 0,
        "TotalAmt": "", "TrackingNum": "", "TxnDate": "", "domain": "QBO", "sparse": False,
        "CustomerRef": {"value": cust["Id"]},
        "Line": [{"Amount": "120.50", "CustomField": [], "DetailType": "SalesItemLineDetail", "LineNum": 0,
                  "LinkedTxn": [], "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 0,
                                                           "ServiceDate": "", "TaxInclusiveAmt": 0,
                                                           "UnitPrice": 0}}],
    }  # fmt: skip
    inv = qbo.create("Invoice", body)
    assert inv["TotalAmt"] == 120.5
    assert inv["Balance"] == 120.5
    assert inv["PrintStatus"] == "NotSet"


def test_doc_number_length_duplicates_and_override(qbo):
    cust = qbo.customer()
    resp = qbo.post(
        "invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(1)], "DocNumber": "X" * 22}
    )
    assert qbo.code(resp) == "2050"
    inv = qbo.invoice(cust["Id"], DocNumber="APP-0099")
    assert inv["DocNumber"] == "APP-0099"
    resp = qbo.post(
        "invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(1)], "DocNumber": "app-0099"}
    )
    assert resp.status_code == 400
    assert qbo.code(resp) == "6140"
    assert "TxnId=" + inv["Id"] in resp.json()["Fault"]["Error"][0]["Detail"]
    dup = qbo.post(
        "invoice",
        {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(1)], "DocNumber": "APP-0099"},
        params={"include": "allowduplicatedocnum"},
    )
    assert dup.status_code == 200
    assert qbo.invoice(cust["Id"])["DocNumber"] == "APP-0100"  # numbering continues from the last number


def test_custom_txn_numbers_preference(new_company):
    qbo = new_company(custom_txn_numbers=True)
    prefs = qbo.get("preferences").json()["Preferences"]
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    cust = qbo.customer()
    assert "DocNumber" not in qbo.invoice(cust["Id"])
    assert qbo.invoice(cust["Id"], DocNumber="AUTO_GENERATE")["DocNumber"] == "1001"
    qbo.control.settings(qbo.realm, check_duplicate_doc_number=False)
    qbo.invoice(cust["Id"], DocNumber="7")
    assert qbo.invoice(cust["Id"], DocNumber="7")["DocNumber"] == "7"


def test_invoice_sparse_update_and_stale_token(qbo):
    cust = qbo.customer()
    inv = qbo.invoice(cust["Id"], 50)
    upd = qbo.create("Invoice", {"Id": inv["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "hello"})
    assert upd["SyncToken"] == "1"
    assert upd["PrivateNote"] == "hello"
    assert upd["TotalAmt"] == 50
    lines = qbo.create(
        "Invoice", {"Id": inv["Id"], "SyncToken": "1", "sparse": True, "Line": [sales_line(80)]}
    )
    assert lines["TotalAmt"] == 80
    assert lines["Balance"] == 80
    assert qbo.read("Customer", cust["Id"])["Balance"] == 80
    resp = qbo.post("invoice", {"Id": inv["Id"], "SyncToken": "1", "sparse": True, "PrivateNote": "late"})
    assert resp.status_code == 400
    assert qbo.code(resp) == "5010"


def test_inactive_customer_reference_is_610(qbo):
    cust = qbo.customer()
    inv = qbo.invoice(cust["Id"])
    qbo.create("Customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    resp = qbo.post("invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(5)]})
    assert resp.status_code == 400
    assert qbo.code(resp) == "610"
    resp = qbo.post("invoice", {"Id": inv["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"})
    assert qbo.code(resp) == "610"


def test_void_and_delete_invoice(qbo):
    cust = qbo.customer()
    inv = qbo.invoice(cust["Id"], 100, PrivateNote="")
    voided = qbo.post("invoice", {"Id": inv["Id"], "SyncToken": "0"}, params={"operation": "void"}).json()[
        "Invoice"
    ]
    assert voided["SyncToken"] == "1"
    assert voided["TotalAmt"] == 0
    assert voided["Balance"] == 0
    assert voided["PrivateNote"] == "Voided"
    assert voided["DocNumber"] == inv["DocNumber"]
    assert all(line["Amount"] == 0 for line in voided["Line"])
    assert qbo.read("Customer", cust["Id"])["Balance"] == 0
    stale = qbo.post("invoice", {"Id": inv["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert qbo.code(stale) == "5010"
    resp = qbo.post("invoice", {"Id": inv["Id"], "SyncToken": "1"}, params={"operation": "delete"})
    assert resp.json()["Invoice"] == {"domain": "QBO", "status": "Deleted", "Id": inv["Id"]}
    assert qbo.code(qbo.get(f"invoice/{inv['Id']}")) == "610"
    again = qbo.post("invoice", {"Id": inv["Id"], "SyncToken": "1"}, params={"operation": "delete"})
    assert qbo.code(again) == "610"
    listed = qbo.control.entities(qbo.realm, "Invoice")
    assert [r["status"] for r in listed if r["Id"] == inv["Id"]] == ["Deleted"]


def test_payment_applied_lowers_invoice_balance(qbo):
    cust = qbo.customer()
    inv = qbo.invoice(cust["Id"], 100)
    pay = qbo.create(
        "Payment",
        {
            "CustomerRef": {"value": cust["Id"]},
            "TotalAmt": 55.0,
            "Line": [{"Amount": 55.0, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert pay["UnappliedAmt"] == 0
    assert pay["DepositToAccountRef"] == {"value": "4"}
    assert pay["ProcessPayment"] is False
    assert pay["Line"] == [{"Amount": 55, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]
    after = qbo.read("Invoice", inv["Id"])
    assert after["Balance"] == 45
    assert after["LinkedTxn"] == [{"TxnId": pay["Id"], "TxnType": "Payment"}]
    assert after["SyncToken"] == "1"
    assert qbo.read("Customer", cust["Id"])["Balance"] == 45
    too_much = qbo.post(
        "payment",
        {
            "CustomerRef": {"value": cust["Id"]},
            "TotalAmt": 50,
            "Line": [{"Amount": 50, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert qbo.code(too_much) == "6000"
    paid = qbo.post("invoice", {"Id": inv["Id"], "SyncToken": "1"}, params={"operation": "delete"})
    assert qbo.code(paid) == "6000"


def test_unapplied_payment_update_void_and_delete(qbo):
    cust = qbo.customer()
    inv = qbo.invoice(cust["Id"], 100)
    unapplied = qbo.create("Payment", {"TotalAmt": 25.0, "CustomerRef": {"value": cust["Id"]}})
    assert unapplied["Line"] == []
    assert unapplied["UnappliedAmt"] == 25
    assert qbo.read("Customer", cust["Id"])["Balance"] == 75
    link = [{"Amount": 25.0, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]
    applied = qbo.create("Payment", {"Id": unapplied["Id"], "SyncToken": "0", "sparse": True, "Line": link})
    assert applied["SyncToken"] == "1"
    assert applied["UnappliedAmt"] == 0
    assert qbo.read("Invoice", inv["Id"])["Balance"] == 75
    voided = qbo.post(
        "payment",
        {"Id": applied["Id"], "SyncToken": "1", "sparse": True},
        params={"operation": "update", "include": "void"},
    ).json()["Payment"]
    assert voided["TotalAmt"] == 0
    assert voided["Line"] == []
    assert voided["PrivateNote"] == "Voided"
    assert qbo.read("Invoice", inv["Id"])["Balance"] == 100
    assert qbo.read("Customer", cust["Id"])["Balance"] == 100
    second = qbo.create(
        "Payment",
        {
            "CustomerRef": {"value": cust["Id"]},
            "TotalAmt": 100,
            "Line": [{"Amount": 100, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert qbo.read("Invoice", inv["Id"])["Balance"] == 0
    deleted = qbo.post("payment", {"Id": second["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert deleted.json()["Payment"] == {"domain": "QBO", "status": "Deleted", "Id": second["Id"]}
    restored = qbo.read("Invoice", inv["Id"])
    assert restored["Balance"] == 100
    assert restored["LinkedTxn"] == []
    assert qbo.read("Customer", cust["Id"])["Balance"] == 100


def test_payment_required_fields(qbo):
    cust = qbo.customer()
    assert qbo.code(qbo.post("payment", {"CustomerRef": {"value": cust["Id"]}})) == "2020"
    assert qbo.code(qbo.post("payment", {"TotalAmt": 5})) == "2020"
    bad = qbo.post(
        "payment",
        {"CustomerRef": {"value": cust["Id"]}, "TotalAmt": 5, "Line": [{"Amount": 5, "LinkedTxn": [
            {"TxnId": "98765", "TxnType": "Invoice"}]}]},
    )  # fmt: skip
    assert qbo.code(bad) == "610"


def test_moving_a_paid_invoice_to_another_customer_is_refused_and_changes_nothing(qbo):
    """QBO keeps a payment and the invoices it pays under one customer: a paid invoice cannot change
    customer (6000, stored as it was); the payment moves unapplied first, then the invoice, then the
    payment is applied again; an inactive customer's transactions can move to an active one."""
    old, new = qbo.customer("Old Customer"), qbo.customer("New Customer")
    inv = qbo.invoice(old["Id"], 100)
    line = [{"Amount": 40.0, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]
    pay = qbo.create("Payment", {"CustomerRef": {"value": old["Id"]}, "TotalAmt": 40.0, "Line": line})
    inv = qbo.read("Invoice", inv["Id"])
    refused = qbo.post(
        "invoice",
        {"Id": inv["Id"], "SyncToken": inv["SyncToken"], "sparse": True, "CustomerRef": {"value": new["Id"]}},
    )
    assert (refused.status_code, qbo.code(refused)) == (400, "6000")
    assert qbo.read("Invoice", inv["Id"]) == inv  # nothing stored
    stuck = qbo.post(
        "payment",
        {"Id": pay["Id"], "SyncToken": pay["SyncToken"], "sparse": True, "CustomerRef": {"value": new["Id"]}},
    )
    assert qbo.code(stuck) == "6000"

    qbo.create("Customer", {"Id": old["Id"], "SyncToken": old["SyncToken"], "sparse": True, "Active": False})
    moved_pay = qbo.create(
        "Payment",
        {
            "Id": pay["Id"],
            "SyncToken": pay["SyncToken"],
            "sparse": True,
            "CustomerRef": {"value": new["Id"]},
            "Line": [],
        },
    )
    assert (moved_pay["CustomerRef"]["value"], moved_pay["UnappliedAmt"]) == (new["Id"], 40)
    inv = qbo.read("Invoice", inv["Id"])
    moved_inv = qbo.create(
        "Invoice",
        {"Id": inv["Id"], "SyncToken": inv["SyncToken"], "sparse": True, "CustomerRef": {"value": new["Id"]}},
    )
    assert (moved_inv["CustomerRef"]["value"], moved_inv["Balance"]) == (new["Id"], 100)
    again = qbo.create(
        "Payment",
        {"Id": pay["Id"], "SyncToken": moved_pay["SyncToken"], "sparse": True, "Line": line},
    )
    assert again["UnappliedAmt"] == 0
    assert qbo.read("Invoice", inv["Id"])["Balance"] == 60
    assert qbo.read("Customer", new["Id"])["Balance"] == 60

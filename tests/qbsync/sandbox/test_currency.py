"""Currency in the sandbox: the company's home currency in Preferences and CompanyInfo; without
multicurrency every customer and transaction is in it; with multicurrency a customer may have another
(fixed once set) and a transaction must be in its customer's currency."""

from .test_invoice_payment import sales_line


def test_a_usd_company_by_default_puts_everything_in_usd(qbo):
    prefs = qbo.get("preferences").json()["Preferences"]["CurrencyPrefs"]
    assert prefs == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}}
    assert qbo.get(f"companyinfo/{qbo.realm}").json()["CompanyInfo"]["Country"] == "US"
    cust = qbo.customer()
    assert cust["CurrencyRef"]["value"] == "USD"
    assert qbo.invoice(cust["Id"])["CurrencyRef"]["value"] == "USD"


def test_a_gbp_company_says_so_and_books_in_gbp(new_company):
    qbo = new_company(settings={"home_currency": "GBP"})
    prefs = qbo.get("preferences").json()["Preferences"]["CurrencyPrefs"]
    assert prefs["HomeCurrency"] == {"value": "GBP"}
    assert qbo.get(f"companyinfo/{qbo.realm}").json()["CompanyInfo"]["Country"] == "GB"
    cust = qbo.customer()
    assert cust["CurrencyRef"] == {"value": "GBP", "name": "British Pound Sterling"}
    invoice = qbo.invoice(cust["Id"])
    assert invoice["CurrencyRef"]["value"] == "GBP"
    payment = qbo.create("Payment", {"CustomerRef": {"value": cust["Id"]}, "TotalAmt": 10})
    assert payment["CurrencyRef"]["value"] == "GBP"


def test_without_multicurrency_another_currency_is_refused(qbo):
    resp = qbo.post("customer", {"DisplayName": "Euro Client", "CurrencyRef": {"value": "EUR"}})
    assert (resp.status_code, qbo.code(resp)) == (400, "6000")
    assert "Multicurrency is not turned on" in resp.json()["Fault"]["Error"][0]["Detail"]
    cust = qbo.customer()
    for entity, body in (
        ("invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(5)]}),
        ("payment", {"CustomerRef": {"value": cust["Id"]}, "TotalAmt": 5}),
    ):
        resp = qbo.post(entity, {**body, "CurrencyRef": {"value": "EUR"}})
        assert (resp.status_code, qbo.code(resp)) == (400, "6000"), entity
    assert qbo.control.entities(qbo.realm, "Invoice") == []
    assert qbo.control.entities(qbo.realm, "Payment") == []


def test_with_multicurrency_a_transaction_is_in_its_customers_currency(new_company):
    qbo = new_company(settings={"multi_currency": True})
    euro = qbo.customer("Euro Client", CurrencyRef={"value": "EUR"})
    assert euro["CurrencyRef"]["value"] == "EUR"
    assert qbo.invoice(euro["Id"])["CurrencyRef"]["value"] == "EUR"  # the customer's, when not given
    resp = qbo.post(
        "invoice",
        {"CustomerRef": {"value": euro["Id"]}, "Line": [sales_line(5)], "CurrencyRef": {"value": "USD"}},
    )
    assert (resp.status_code, qbo.code(resp)) == (400, "6000")
    assert "customer's currency (EUR)" in resp.json()["Fault"]["Error"][0]["Detail"]
    home = qbo.customer()
    assert qbo.invoice(home["Id"])["CurrencyRef"]["value"] == "USD"

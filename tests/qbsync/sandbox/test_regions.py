"""The sandbox's own side of regions: making companies of each kind through the control API, the seeds,
the settings that pick among QBO's unpublished behaviours, and what only the sandbox can show (the
contract tests beside this file check what QBO does)."""

import pytest
import requests

from qbsync.sandbox.testing import ControlAPIError

from .conftest import QBO
from .test_invoice_payment import sales_line


def company(sandbox, **options) -> QBO:
    realm = sandbox.control.create_company("Region Co", **options)
    return QBO(sandbox, realm, sandbox.control.tokens(realm))


def invoice(qbo: QBO, *lines, customer: dict | None = None, **extra) -> requests.Response:
    customer = customer or qbo.customer()
    return qbo.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": list(lines), **extra})


def taxed(amount, code, **detail):
    return sales_line(amount, TaxCodeRef={"value": code}, **detail)


def test_a_company_made_as_before_is_a_us_one_without_sales_tax(qbo):
    assert qbo.get(f"companyinfo/{qbo.realm}").json()["CompanyInfo"]["Country"] == "US"
    prefs = qbo.get("preferences").json()["Preferences"]
    assert prefs["TaxPrefs"] == {"UsingSalesTax": False, "PartnerTaxEnabled": False}
    assert qbo.rows("select * from TaxCode", "TaxCode") == []
    assert qbo.control.settings(qbo.realm)["region"] == "US"


@pytest.mark.parametrize(
    ("options", "country", "currency", "codes"),
    [
        ({"region": "UK"}, "GB", "GBP", 5),
        ({"region": "CA"}, "CA", "CAD", 7),
        ({"region": "AU"}, "AU", "AUD", 4),
        ({"preset": "uk"}, "GB", "GBP", 5),
        ({"region": "US", "sales_tax": "manual"}, "US", "USD", 3),
        ({"region": "US", "sales_tax": "ast", "ast_rates": {"ca": 7.25, "default": 0}}, "US", "USD", 1),
        ({"region": "UK", "home_currency": "EUR"}, "GB", "EUR", 5),
    ],
)
def test_companies_of_each_region(sandbox, options, country, currency, codes):
    qbo = company(sandbox, **options)
    info = qbo.get(f"companyinfo/{qbo.realm}").json()["CompanyInfo"]
    assert info["Country"] == country
    assert info["CompanyAddr"]["Country"] == {"US": "USA", "GB": "GBR", "CA": "CAN", "AU": "AUS"}[country]
    prefs = qbo.get("preferences").json()["Preferences"]
    assert prefs["CurrencyPrefs"]["HomeCurrency"] == {"value": currency}
    assert len(qbo.rows("select * from TaxCode", "TaxCode")) == codes
    customer = qbo.customer()
    assert customer["CurrencyRef"]["value"] == currency
    assert ("DefaultTaxCodeRef" in customer) == (country == "US")


def test_tax_entities_are_read_only_and_not_in_cdc(sandbox):
    qbo = company(sandbox, preset="ca")
    code = qbo.rows("select * from TaxCode where Name = 'GST/PST BC'", "TaxCode")[0]
    assert code["TaxGroup"] is True
    assert code["Taxable"] is True
    assert code["TaxCodeConfigType"] == "USER_DEFINED"
    details = code["SalesTaxRateList"]["TaxRateDetail"]
    assert [d["TaxRateRef"]["name"] for d in details] == ["GST", "PST BC"]
    assert {d["TaxTypeApplicable"] for d in details} == {"TaxOnAmount"}
    rate = qbo.read("TaxRate", details[1]["TaxRateRef"]["value"])
    assert (rate["RateValue"], rate["SpecialTaxType"], rate["DisplayType"]) == (7, "NONE", "ReadOnly")
    agency = qbo.read("TaxAgency", rate["AgencyRef"]["value"])
    assert agency["DisplayName"] == "Minister of Finance (BC)"
    for entity in ("taxcode", "taxrate", "taxagency"):
        resp = qbo.post(entity, {"Name": "Mine"})
        assert (resp.status_code, qbo.code(resp)) == (400, "500"), entity
        resp = qbo.post(entity, {"Id": "1", "SyncToken": "0", "Name": "Mine"})
        assert (resp.status_code, qbo.code(resp)) == (400, "500"), entity
    resp = qbo.get("cdc", params={"entities": "Customer,TaxCode", "changedSince": "2020-01-01"})
    assert resp.status_code == 400
    assert qbo.rows("select count(*) from TaxRate", "TaxRate") == []  # a count has no rows
    assert qbo.query("select count(*) from TaxRate").json()["QueryResponse"]["totalCount"] == 6


def test_tax_reads_are_metered_like_other_reads(sandbox):
    qbo = company(sandbox, preset="uk")
    sandbox.control.clear_meter()
    qbo.read("TaxCode", "1")
    qbo.rows("select * from TaxRate", "TaxRate")
    qbo.post("taxcode", {"Name": "refused"})
    month = sandbox.control.meter(realm_id=qbo.realm)
    assert month["months"][month["month"]]["realms"][qbo.realm] == {"Core": 0, "CorePlus": 2}


def test_bad_company_options_are_refused(sandbox):
    for options in (
        {"region": "FR"},
        {"region": "UK", "sales_tax": "manual"},
        {"region": "US", "sales_tax": "sometimes"},
        {"region": "US", "ast_rates": {"CA": 7}},
        {"region": "US", "sales_tax": "ast", "ast_rates": {"California": 7}},
        {"region": "US", "sales_tax": "ast", "ast_rates": {"CA": 120}},
        {"exchange_rates": {"EUR": 0}},
        {"home_currency": "euro"},
        {"preset": "mars"},
    ):
        with pytest.raises(ControlAPIError) as err:
            sandbox.control.create_company("Bad", **options)
        assert err.value.status == 400, options
    with pytest.raises(ControlAPIError):
        sandbox.control.call("POST", "/_sandbox/companies", {"name": "x", "colour": "blue"})


def test_region_and_sales_tax_are_fixed_but_rates_can_change(sandbox):
    qbo = company(sandbox, region="UK")
    for change in ({"region": "US"}, {"sales_tax": "ast"}):
        with pytest.raises(ControlAPIError) as err:
            sandbox.control.settings(qbo.realm, **change)
        assert err.value.status == 400
    assert sandbox.control.settings(qbo.realm, region="UK")["region"] == "UK"  # repeating it is fine
    settings = sandbox.control.settings(qbo.realm, exchange_rates={"eur": "1.17"}, tax_rounding="per_line")
    assert settings["exchange_rates"] == {"EUR": "1.17"}
    with pytest.raises(ControlAPIError):
        sandbox.control.settings(qbo.realm, tax_rounding="sometimes")


def test_the_consent_page_offers_the_kinds_of_company(sandbox):
    http = requests.Session()
    http.trust_env = False
    params = {"client_id": "app", "redirect_uri": "http://localhost/cb", "state": "s"}
    page = http.get(f"{sandbox.base_url}/connect/oauth2", params=params, timeout=10).text
    assert 'name="new_company_preset"' in page
    assert 'value="uk"' in page
    resp = http.post(
        f"{sandbox.base_url}/connect/oauth2",
        data={**params, "action": "connect", "new_company": "Consent UK Ltd", "new_company_preset": "uk"},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 302
    realm = resp.headers["Location"].split("realmId=")[1].split("&")[0]
    assert sandbox.control.settings(realm)["region"] == "UK"


def test_taxcode_queries_can_list_tax_and_non_as_intuits_reference_shows(sandbox):
    qbo = company(sandbox, preset="us-manual")
    assert "TAX" not in {c["Id"] for c in qbo.rows("select * from TaxCode", "TaxCode")}
    sandbox.control.settings(qbo.realm, taxcode_query_pseudo_codes=True)
    rows = qbo.rows("select * from TaxCode", "TaxCode")
    assert [c["Id"] for c in rows[:2]] == ["TAX", "NON"]
    assert rows[1]["Taxable"] is False
    assert rows[0]["TaxGroup"] is False
    assert [c["Id"] for c in qbo.rows("select * from TaxCode where Name = 'NON'", "TaxCode")] == ["NON"]


def test_a_tax_line_without_sales_tax_can_be_let_through(qbo):
    qbo.control.settings(qbo.realm, tax_line_without_sales_tax="ignore")
    resp = invoice(qbo, taxed(100, "TAX"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["Invoice"]["TotalAmt"] == 100


def test_manual_sales_tax_default_code_and_missing_code(sandbox):
    qbo = company(sandbox, preset="us-manual")
    body = invoice(qbo, taxed(100, "TAX")).json()["Invoice"]
    assert body["TxnTaxDetail"] == {"TotalTax": 0}  # no code named: no tax (UNCONFIRMED)
    sandbox.control.settings(qbo.realm, default_tax_code="2")
    assert qbo.get("preferences").json()["Preferences"]["TaxPrefs"]["TaxGroupCodeRef"] == {"value": "2"}
    body = invoice(qbo, taxed(100, "TAX")).json()["Invoice"]
    assert body["TxnTaxDetail"]["TxnTaxCodeRef"] == {"value": "2"}
    assert body["TotalAmt"] == 108
    # a line without a code follows its item's Taxable flag
    item = qbo.create("Item", {"Name": "Taxable Widget", "Taxable": True, "IncomeAccountRef": {"value": "1"}})
    body = invoice(qbo, sales_line(50, item=item["Id"]), sales_line(50)).json()["Invoice"]
    assert [ln["SalesItemLineDetail"]["TaxCodeRef"]["value"] for ln in body["Line"][:2]] == ["TAX", "NON"]
    assert body["TxnTaxDetail"]["TotalTax"] == 4


def test_ast_rates_by_state_ship_to_first_and_made_as_met(sandbox):
    qbo = company(sandbox, preset="us-ast", ast_rates={"CA": "7.25", "NY": "8.875", "default": "5"})
    ny = {"Line1": "1 Broadway", "City": "New York", "CountrySubDivisionCode": "NY", "PostalCode": "10004"}
    ca = {**ny, "CountrySubDivisionCode": "CA"}
    customer = qbo.customer(BillAddr=ca)
    body = invoice(qbo, taxed(100, "TAX"), customer=customer, ShipAddr=ny).json()["Invoice"]
    assert body["TxnTaxDetail"]["TotalTax"] == 8.88  # 8.875 half up
    assert body["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["TaxPercent"] == 8.875
    body = invoice(qbo, taxed(100, "TAX"), customer=customer).json()["Invoice"]
    assert body["TxnTaxDetail"]["TotalTax"] == 7.25
    oregon = qbo.customer(BillAddr={**ny, "CountrySubDivisionCode": "or"})
    body = invoice(qbo, taxed(100, "TAX"), customer=oregon).json()["Invoice"]
    assert body["TxnTaxDetail"]["TotalTax"] == 5
    code = qbo.read("TaxCode", body["TxnTaxDetail"]["TxnTaxCodeRef"]["value"])
    assert (code["Name"], code["TaxCodeConfigType"]) == ("OR State (AST)", "SYSTEM_GENERATED")
    nowhere = qbo.customer()  # no address: the company's own state (CA)
    assert (
        invoice(qbo, taxed(100, "TAX"), customer=nowhere).json()["Invoice"]["TxnTaxDetail"]["TotalTax"]
        == 7.25
    )


def test_ast_override_needs_minor_version_70_when_versions_are_honoured(sandbox):
    qbo = company(sandbox, preset="us-ast", ast_rates={"CA": "7.25"})
    customer = qbo.customer(BillAddr={"CountrySubDivisionCode": "CA"})
    body = {
        "CustomerRef": {"value": customer["Id"]},
        "Line": [taxed(100, "TAX")],
        "TxnTaxDetail": {"TotalTax": 5},
    }
    # Intuit answers every request as minor version 75 since August 2025: the override always applies
    resp = qbo.post("invoice", body, params={"minorversion": "65"})
    assert resp.json()["Invoice"]["TxnTaxDetail"]["TotalTax"] == 5
    line = resp.json()["Invoice"]["TxnTaxDetail"]["TaxLine"][0]
    assert (line["Amount"], line["TaxLineDetail"]["OverrideDeltaAmount"]) == (5, -2.25)
    sandbox.control.settings(qbo.realm, minor_version_floor=None)  # as QBO did before
    old = qbo.post("invoice", body, params={"minorversion": "65"}).json()["Invoice"]
    assert (old["TxnTaxDetail"]["TotalTax"], old["TotalAmt"]) == (7.25, 107.25)  # what the app sent is lost
    assert qbo.post("invoice", body).json()["Invoice"]["TxnTaxDetail"]["TotalTax"] == 7.25  # none sent: 0
    assert qbo.post("invoice", body, params={"minorversion": "70"}).json()["Invoice"]["TotalAmt"] == 105


def test_tax_rounding_per_line_and_ignored_overrides(sandbox):
    qbo = company(sandbox, region="UK")
    lines = [taxed(10.03, "1"), taxed(10.03, "1")]
    assert invoice(qbo, *lines).json()["Invoice"]["TxnTaxDetail"]["TotalTax"] == 4.01
    sandbox.control.settings(qbo.realm, tax_rounding="per_line")
    assert invoice(qbo, *lines).json()["Invoice"]["TxnTaxDetail"]["TotalTax"] == 4.02
    sent = {
        "TaxLine": [
            {"Amount": 1, "DetailType": "TaxLineDetail", "TaxLineDetail": {"TaxRateRef": {"value": "1"}}}
        ]
    }
    assert invoice(qbo, taxed(100, "1"), TxnTaxDetail=sent).json()["Invoice"]["TotalAmt"] == 101
    sandbox.control.settings(qbo.realm, global_tax_override="ignore")
    assert invoice(qbo, taxed(100, "1"), TxnTaxDetail=sent).json()["Invoice"]["TotalAmt"] == 120


def test_global_override_must_name_the_lines_rates_once(sandbox):
    qbo = company(sandbox, region="UK")

    def sent(*rates):
        return {"TaxLine": [{"Amount": 1, "TaxLineDetail": {"TaxRateRef": {"value": r}}} for r in rates]}

    for tax_detail in (sent("2"), sent("1", "1")):
        resp = invoice(qbo, taxed(100, "1"), TxnTaxDetail=tax_detail)
        assert (resp.status_code, qbo.code(resp)) == (400, "6000")


def test_compound_rates_tax_the_tax_before_them(sandbox):
    """TaxOnAmountPlusTax (as QST was before 2013: on the GST-inclusive amount), made by the control API."""
    qbo = company(sandbox, region="CA")
    qbo.control.insert(
        qbo.realm, "TaxRate", {"Id": "50", "Name": "QST (old)", "RateValue": 7.5, "Active": True}
    )
    details = [
        {"TaxRateRef": {"value": "1"}, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0},
        {"TaxRateRef": {"value": "50"}, "TaxTypeApplicable": "TaxOnAmountPlusTax", "TaxOrder": 1},
    ]
    code = {
        "Id": "50",
        "Name": "GST/QST old",
        "Active": True,
        "TaxGroup": True,
        "SalesTaxRateList": {"TaxRateDetail": details},
    }
    qbo.control.insert(qbo.realm, "TaxCode", code)
    body = invoice(qbo, taxed(100, "50")).json()["Invoice"]
    gst, qst = body["TxnTaxDetail"]["TaxLine"]
    assert (gst["Amount"], gst["TaxLineDetail"]["NetAmountTaxable"]) == (5, 100)
    assert (qst["Amount"], qst["TaxLineDetail"]["NetAmountTaxable"]) == (7.88, 105)  # 7.5 % of 105: 7.875
    assert body["TotalAmt"] == 112.88
    inclusive = invoice(qbo, taxed(112.88, "50"), GlobalTaxCalculation="TaxInclusive").json()["Invoice"]
    assert inclusive["Line"][0]["Amount"] == 100
    assert inclusive["TxnTaxDetail"]["TotalTax"] == 12.88
    assert inclusive["TotalAmt"] == 112.88


def test_inactive_tax_code_and_bad_mode(sandbox):
    qbo = company(sandbox, region="UK")
    qbo.control.insert(
        qbo.realm, "TaxCode", {"Id": "60", "Name": "Old rate", "Active": False, "TaxGroup": True}
    )
    assert qbo.code(invoice(qbo, taxed(10, "60"))) == "610"
    assert "60" not in {c["Id"] for c in qbo.rows("select * from TaxCode", "TaxCode")}
    assert "60" in {c["Id"] for c in qbo.rows("select * from TaxCode where Active = false", "TaxCode")}
    assert qbo.code(invoice(qbo, taxed(10, "1"), GlobalTaxCalculation="Sometimes")) == "2170"
    resp = invoice(qbo, taxed(10, "3"), taxed(5, "5"), GlobalTaxCalculation="NotApplicable")
    assert resp.status_code == 200, resp.text  # zero-rated and no-VAT lines only
    assert resp.json()["Invoice"]["TotalAmt"] == 15


def test_a_read_invoice_sent_back_keeps_its_totals(sandbox):
    """Tax-inclusive lines come back net with TaxInclusiveAmt; a full update of what was read keeps them."""
    qbo = company(sandbox, region="AU")
    first = invoice(qbo, taxed(100, "1", Qty=4, UnitPrice=25), GlobalTaxCalculation="TaxInclusive")
    read = first.json()["Invoice"]
    assert (read["Line"][0]["Amount"], read["TotalAmt"], read["TxnTaxDetail"]["TotalTax"]) == (
        90.91,
        100,
        9.09,
    )
    again = qbo.create("Invoice", {k: v for k, v in read.items() if k not in ("MetaData",)})
    assert (again["Line"][0]["Amount"], again["TotalAmt"], again["TxnTaxDetail"]["TotalTax"]) == (
        90.91,
        100,
        9.09,
    )
    voided = qbo.post(
        "invoice", {"Id": read["Id"], "SyncToken": again["SyncToken"]}, params={"operation": "void"}
    )
    assert voided.json()["Invoice"]["TxnTaxDetail"] == {"TotalTax": 0}


def test_multicurrency_turned_on_by_preferences_never_off(qbo):
    resp = qbo.post("preferences", {"CurrencyPrefs": {"MultiCurrencyEnabled": True}, "sparse": True})
    assert resp.json()["Preferences"]["CurrencyPrefs"]["MultiCurrencyEnabled"] is True
    assert qbo.customer("Euro GmbH", CurrencyRef={"value": "EUR"})["CurrencyRef"]["value"] == "EUR"
    resp = qbo.post("preferences", {"CurrencyPrefs": {"MultiCurrencyEnabled": False}, "sparse": True})
    assert (resp.status_code, qbo.code(resp)) == (400, "6000")
    resp = qbo.post("preferences", {"CurrencyPrefs": {"HomeCurrency": {"value": "EUR"}}, "sparse": True})
    assert (resp.status_code, qbo.code(resp)) == (400, "6000")
    assert qbo.get("preferences").json()["Preferences"]["CurrencyPrefs"]["MultiCurrencyEnabled"] is True


def test_exchange_rates_from_the_company_settings_and_home_amounts(sandbox):
    qbo = company(sandbox, preset="us-multicurrency", exchange_rates={"EUR": "1.10"})
    euro = qbo.customer(CurrencyRef={"value": "EUR"})
    body = invoice(qbo, sales_line(100), customer=euro).json()["Invoice"]
    assert (body["ExchangeRate"], body["HomeTotalAmt"], body["HomeBalance"]) == (1.1, 110, 110)
    qbo.create(
        "Payment",
        {
            "CustomerRef": {"value": euro["Id"]},
            "TotalAmt": 40,
            "Line": [{"Amount": 40, "LinkedTxn": [{"TxnId": body["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert qbo.read("Invoice", body["Id"])["HomeBalance"] == 66
    pound = qbo.customer(CurrencyRef={"value": "GBP"})
    assert invoice(qbo, sales_line(100), customer=pound).json()["Invoice"]["ExchangeRate"] == 1  # none known
    home = invoice(qbo, sales_line(100), ExchangeRate=3).json()["Invoice"]
    assert (home["ExchangeRate"], home["HomeTotalAmt"]) == (1, 100)
    assert qbo.code(invoice(qbo, sales_line(1), customer=euro, ExchangeRate=-1)) == "6000"


def test_without_multicurrency_no_exchange_rate_is_kept(qbo):
    body = invoice(qbo, sales_line(100), ExchangeRate=1).json()["Invoice"]
    assert "ExchangeRate" not in body
    assert "HomeTotalAmt" not in body


def test_a_tax_inclusive_price_means_nothing_on_a_tax_excluded_invoice(sandbox):
    qbo = company(sandbox, region="UK")
    body = invoice(qbo, taxed(100, "1", TaxInclusiveAmt=120)).json()["Invoice"]
    assert "TaxInclusiveAmt" not in body["Line"][0]["SalesItemLineDetail"]
    assert (body["Line"][0]["Amount"], body["TotalAmt"]) == (100, 120)


def test_a_vendors_currency_is_fixed_too(sandbox):
    qbo = company(sandbox, preset="us-multicurrency")
    vendor = qbo.create("Vendor", {"DisplayName": "Lieferant GmbH", "CurrencyRef": {"value": "EUR"}})
    resp = qbo.post(
        "vendor", {"Id": vendor["Id"], "SyncToken": "0", "sparse": True, "CurrencyRef": {"value": "USD"}}
    )
    assert (resp.status_code, qbo.code(resp)) == (400, "6000")
    assert "A vendor's currency cannot change" in resp.json()["Fault"]["Error"][0]["Detail"]

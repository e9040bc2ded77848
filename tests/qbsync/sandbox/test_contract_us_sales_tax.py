"""Contract: US companies without sales tax, with sales tax set up by hand, and with automated sales tax.

Run against the local sandbox by default, or real companies (qbo_target.py). ASSUMPTION marks the
sandbox's stated guesses (docs/sandbox.md, "Regions, tax and currency").
"""

from decimal import Decimal

from tests.qbsync.sandbox.qbo_target import cents, fault, tax_line

CALIFORNIA_ADDRESS = {
    "Line1": "4581 Finch St.",
    "City": "Bayshore",
    "CountrySubDivisionCode": "CA",
    "PostalCode": "94326",
}


def invoice_body(customer: dict, *lines, **extra) -> dict:
    return {"CustomerRef": {"value": customer["Id"]}, "Line": list(lines), **extra}


def test_without_sales_tax_lines_are_non_and_no_tax_is_kept(target):
    us = target("US")
    assert us.company_info()["Country"] == "US"
    prefs = us.preferences()
    assert prefs["TaxPrefs"]["UsingSalesTax"] is False
    assert prefs["CurrencyPrefs"]["HomeCurrency"]["value"] == "USD"
    sent = {"TotalTax": 9.99}  # "If sales tax is disabled ... TxnTaxDetail is ignored and not stored"
    invoice = us.create("Invoice", invoice_body(us.customer(), us.line(100.00), TxnTaxDetail=sent))
    assert invoice["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "NON"
    assert cents(invoice["TxnTaxDetail"].get("TotalTax", 0)) == 0
    assert cents(invoice["TotalAmt"]) == Decimal("100.00")


def test_without_sales_tax_a_tax_line_is_refused(target):
    us = target("US")
    error = fault(us.post("invoice", invoice_body(us.customer(), us.line(100.00, "TAX"))))
    assert error["code"] == "6000"  # ASSUMPTION: strict; QBO may instead ignore it


def test_manual_sales_tax_lists_the_companys_codes_not_tax_and_non(target):
    us = target("US_MANUAL")
    prefs = us.preferences()
    assert prefs["TaxPrefs"]["UsingSalesTax"] is True
    assert prefs["TaxPrefs"].get("PartnerTaxEnabled", False) is False
    codes = us.rows("select * from TaxCode", "TaxCode")
    assert codes
    assert not {"TAX", "NON"} & {c["Id"] for c in codes}  # qbo-api-facts §13
    assert us.rows("select * from TaxAgency", "TaxAgency")


def test_manual_sales_tax_applies_the_transaction_code_to_the_taxable_lines(target):
    """The recorded invoice (cdc/basic.yml): 325.75 of TAX lines with California at 8 % is 26.06."""
    us = target("US_MANUAL")
    california = us.tax_code("California")
    ((rate_id, percent),) = us.rates(california)
    invoice = us.create(
        "Invoice",
        invoice_body(
            us.customer(),
            us.line(325.75, "TAX"),
            us.line(100.00, "NON"),
            TxnTaxDetail={"TxnTaxCodeRef": {"value": california["Id"]}},
        ),
    )
    tax = cents(Decimal("325.75") * percent / 100)
    assert invoice["TxnTaxDetail"]["TxnTaxCodeRef"]["value"] == california["Id"]
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == tax
    line = tax_line(invoice, rate_id)
    assert cents(line["TaxLineDetail"]["NetAmountTaxable"]) == Decimal("325.75")
    assert cents(invoice["TotalAmt"]) == Decimal("425.75") + tax
    if us.local:
        assert tax == Decimal("26.06")


def test_manual_sales_tax_a_combined_code_charges_each_rate(target):
    us = target("US_MANUAL")
    nyc = us.tax_code("NYC")
    rates = us.rates(nyc)
    assert len(rates) == 2
    invoice = us.create(
        "Invoice",
        invoice_body(
            us.customer(), us.line(100.00, "TAX"), TxnTaxDetail={"TxnTaxCodeRef": {"value": nyc["Id"]}}
        ),
    )
    expected = Decimal(0)
    for rate_id, percent in rates:
        amount = cents(Decimal("100.00") * percent / 100)
        assert cents(tax_line(invoice, rate_id)["Amount"]) == amount
        expected += amount
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == expected
    assert cents(invoice["TotalAmt"]) == Decimal("100.00") + expected
    if us.local:
        assert expected == Decimal("8.50")


def test_manual_sales_tax_line_codes_are_tax_or_non(target):
    us = target("US_MANUAL")
    california = us.tax_code("California")
    customer = us.customer()
    error = fault(us.post("invoice", invoice_body(customer, us.line(10.00, california["Id"]))))
    assert error["code"] == "6000"  # ASSUMPTION
    body = invoice_body(customer, us.line(10.00, "TAX"), TxnTaxDetail={"TxnTaxCodeRef": {"value": "987654"}})
    assert fault(us.post("invoice", body))["code"] == "2500"  # ASSUMPTION


def test_automated_sales_tax_follows_the_customers_state(target):
    us = target("US_AST")
    assert us.preferences()["TaxPrefs"]["PartnerTaxEnabled"] is True
    customer = us.customer(BillAddr=CALIFORNIA_ADDRESS, ShipAddr=CALIFORNIA_ADDRESS)
    body = invoice_body(
        customer,
        us.line(100.00, "TAX"),
        us.line(50.00, "NON"),
        TxnTaxDetail={"TxnTaxCodeRef": {"value": "987654"}},  # "replaced by the AST engine recommendation"
    )
    invoice = us.create("Invoice", body)
    detail = invoice["TxnTaxDetail"]
    assert detail["TxnTaxCodeRef"]["value"] != "987654"
    lines = detail["TaxLine"]
    assert cents(detail["TotalTax"]) == sum(cents(t["Amount"]) for t in lines) > 0
    for line in lines:
        net, percent = (
            Decimal(str(line["TaxLineDetail"]["NetAmountTaxable"])),
            line["TaxLineDetail"]["TaxPercent"],
        )
        assert cents(net) == Decimal("100.00")
        assert cents(line["Amount"]) == cents(net * Decimal(str(percent)) / 100)
    assert cents(invoice["TotalAmt"]) == Decimal("150.00") + cents(detail["TotalTax"])
    known = us.ast_percent("CA")
    if known is not None:
        assert cents(detail["TotalTax"]) == cents(Decimal("100.00") * known / 100) == Decimal("7.25")


def test_automated_sales_tax_can_be_overridden_from_minor_version_70(target):
    us = target("US_AST")
    customer = us.customer(BillAddr=CALIFORNIA_ADDRESS, ShipAddr=CALIFORNIA_ADDRESS)
    body = invoice_body(customer, us.line(100.00, "TAX"), TxnTaxDetail={"TotalTax": 5.00})
    invoice = us.create("Invoice", body, minorversion="75")
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("5.00")
    assert cents(invoice["TotalAmt"]) == Decimal("105.00")
    assert cents(invoice["Balance"]) == Decimal("105.00")
    assert sum(cents(t["Amount"]) for t in invoice["TxnTaxDetail"]["TaxLine"]) == Decimal("5.00")

"""Contract: UK VAT, Canadian GST/HST and Australian GST on invoices, to the cent.

These talk to a QBO company only through base URL, realm and token (qbo_target.py): the local sandbox by
default, real Intuit companies with QBO_CONTRACT_BASE_URL set. Assertions marked ASSUMPTION check the
sandbox's stated guesses (docs/sandbox.md, "Regions, tax and currency"); a run against QBO settles them.
"""

from decimal import Decimal

from tests.qbsync.sandbox.qbo_target import cents, fault, tax_line


def invoice_body(customer: dict, *lines, **extra) -> dict:
    return {"CustomerRef": {"value": customer["Id"]}, "Line": list(lines), **extra}


def test_a_uk_company_is_gb_in_pounds_with_vat(target):
    uk = target("UK")
    assert uk.company_info()["Country"] == "GB"
    prefs = uk.preferences()
    assert prefs["CurrencyPrefs"]["HomeCurrency"]["value"] == "GBP"
    assert prefs["TaxPrefs"]["UsingSalesTax"] is True
    assert prefs["TaxPrefs"].get("PartnerTaxEnabled", False) is False


def test_uk_tax_codes_and_rates_are_read_and_queried_never_written(target):
    uk = target("UK")
    codes = uk.rows("select * from TaxCode", "TaxCode")
    names = {c["Name"] for c in codes}
    assert {"20.0% S", "5.0% R", "0.0% Z"} <= names
    assert not {"TAX", "NON"} & {c["Id"] for c in codes}  # qbo-api-facts §13
    standard = uk.tax_code("20.0% S")
    assert uk.read("TaxCode", standard["Id"])["Name"] == "20.0% S"
    assert [rate for _, rate in uk.rates(standard)] == [Decimal("20")]
    active = uk.rows("select * from TaxCode where Active = true", "TaxCode")
    assert {c["Id"] for c in active} == {c["Id"] for c in codes}
    assert uk.rows("select * from TaxRate", "TaxRate")
    resp = uk.post("taxcode", {"Name": "My VAT", "Active": True})
    assert fault(resp)["code"] == "500"  # ASSUMPTION: "Unsupported Operation", as for other read-only lists


def test_uk_standard_rated_and_zero_rated_lines(target):
    uk = target("UK")
    standard, zero = uk.tax_code("20.0% S"), uk.tax_code("0.0% Z")
    customer = uk.customer()
    invoice = uk.create(
        "Invoice", invoice_body(customer, uk.line(100.00, standard["Id"]), uk.line(50.00, zero["Id"]))
    )
    assert invoice["GlobalTaxCalculation"] == "TaxExcluded"
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("20.00")
    assert cents(invoice["TotalAmt"]) == Decimal("170.00")
    assert cents(invoice["Balance"]) == Decimal("170.00")
    ((rate_id, _),) = uk.rates(standard)
    vat = tax_line(invoice, rate_id)
    assert cents(vat["Amount"]) == Decimal("20.00")
    assert cents(vat["TaxLineDetail"]["NetAmountTaxable"]) == Decimal("100.00")
    assert Decimal(str(vat["TaxLineDetail"]["TaxPercent"])) == 20
    assert vat["TaxLineDetail"]["PercentBased"] is True
    total = sum(cents(t["Amount"]) for t in invoice["TxnTaxDetail"]["TaxLine"])
    assert total == Decimal("20.00")
    payment = uk.create(
        "Payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 170.00,
            "Line": [{"Amount": 170.00, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert cents(payment["UnappliedAmt"]) == 0
    assert cents(uk.read("Invoice", invoice["Id"])["Balance"]) == 0


def test_uk_a_line_without_a_vat_code_is_refused(target):
    uk = target("UK")
    customer = uk.customer()
    error = fault(uk.post("invoice", invoice_body(customer, uk.line(100.00))))
    assert error["code"] == "6000"
    assert "Make sure all your transactions have a VAT rate before you save" in error["Detail"]


def test_uk_tax_and_non_and_unknown_codes_are_refused(target):
    uk = target("UK")
    customer = uk.customer()
    for code in ("TAX", "NON", "987654"):
        error = fault(uk.post("invoice", invoice_body(customer, uk.line(10.00, code))))
        assert error["code"] == "2500", code  # ASSUMPTION: Invalid Reference Id, as for other references


def test_uk_vat_is_rounded_half_up_once_per_rate(target):
    uk = target("UK")
    reduced, standard = uk.tax_code("5.0% R"), uk.tax_code("20.0% S")
    customer = uk.customer()
    # 5 % of 10.10 is 0.505: half up gives 0.51 (half even would give 0.50)
    invoice = uk.create("Invoice", invoice_body(customer, uk.line(10.10, reduced["Id"])))
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("0.51")
    assert cents(invoice["TotalAmt"]) == Decimal("10.61")
    # 20 % of 10.03 twice: 4.012 over the rate is 4.01 (4.02 if each line were rounded; ASSUMPTION)
    invoice = uk.create(
        "Invoice", invoice_body(customer, uk.line(10.03, standard["Id"]), uk.line(10.03, standard["Id"]))
    )
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("4.01")
    assert cents(invoice["TotalAmt"]) == Decimal("24.07")


def test_uk_changing_the_lines_computes_the_vat_again(target):
    uk = target("UK")
    standard = uk.tax_code("20.0% S")
    customer = uk.customer()
    invoice = uk.create("Invoice", invoice_body(customer, uk.line(100.00, standard["Id"])))
    updated = uk.create(
        "Invoice",
        {
            "Id": invoice["Id"],
            "SyncToken": invoice["SyncToken"],
            "sparse": True,
            "Line": [uk.line(200.00, standard["Id"])],
        },
    )
    assert cents(updated["TxnTaxDetail"]["TotalTax"]) == Decimal("40.00")
    assert cents(updated["TotalAmt"]) == Decimal("240.00")
    memo = uk.create(
        "Invoice",
        {"Id": updated["Id"], "SyncToken": updated["SyncToken"], "sparse": True, "PrivateNote": "memo"},
    )
    assert cents(memo["TotalAmt"]) == Decimal("240.00")


def test_uk_tax_amounts_sent_with_the_invoice_are_kept(target):
    """Intuit's Invoice reference: TxnTaxDetail "can be calculated by QuickBooks ... or you may supply it"."""
    uk = target("UK")
    standard = uk.tax_code("20.0% S")
    ((rate_id, _),) = uk.rates(standard)
    customer = uk.customer()
    sent = {
        "TaxLine": [
            {
                "Amount": 19.99,
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {"TaxRateRef": {"value": rate_id}, "PercentBased": True, "TaxPercent": 20},
            }
        ]
    }
    invoice = uk.create("Invoice", invoice_body(customer, uk.line(100.00, standard["Id"]), TxnTaxDetail=sent))
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("19.99")
    assert cents(invoice["TotalAmt"]) == Decimal("119.99")


def test_uk_not_applicable_is_refused_with_a_taxable_code(target):
    uk = target("UK")
    standard = uk.tax_code("20.0% S")
    customer = uk.customer()
    body = invoice_body(customer, uk.line(100.00, standard["Id"]), GlobalTaxCalculation="NotApplicable")
    assert fault(uk.post("invoice", body))["code"] == "6000"  # ASSUMPTION


def test_uk_batch_items_are_checked_one_by_one(target):
    uk = target("UK")
    standard = uk.tax_code("20.0% S")
    customer = uk.customer()
    resp = uk.post(
        "batch",
        {
            "BatchItemRequest": [
                {
                    "bId": "good",
                    "operation": "create",
                    "Invoice": invoice_body(customer, uk.line(50.00, standard["Id"])),
                },
                {"bId": "bad", "operation": "create", "Invoice": invoice_body(customer, uk.line(50.00))},
            ]
        },
    )
    assert resp.status_code == 200
    answers = {item["bId"]: item for item in resp.json()["BatchItemResponse"]}
    assert cents(answers["good"]["Invoice"]["TotalAmt"]) == Decimal("60.00")
    assert answers["bad"]["Fault"]["Error"][0]["code"] == "6000"


def test_ontario_hst_is_13_percent(target):
    ca = target("CA")
    assert ca.company_info()["Country"] == "CA"
    assert ca.preferences()["CurrencyPrefs"]["HomeCurrency"]["value"] == "CAD"
    hst = ca.tax_code("HST ON")
    invoice = ca.create("Invoice", invoice_body(ca.customer(), ca.line(100.00, hst["Id"])))
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("13.00")
    assert cents(invoice["TotalAmt"]) == Decimal("113.00")


def test_british_columbia_charges_gst_and_pst_as_two_rates_of_one_code(target):
    ca = target("CA")
    code = ca.tax_code("GST/PST BC")
    rates = ca.rates(code)
    assert sorted(rate for _, rate in rates) == [Decimal("5"), Decimal("7")]
    invoice = ca.create(
        "Invoice", invoice_body(ca.customer(), ca.line(100.00, code["Id"]), ca.line(33.33, code["Id"]))
    )
    for rate_id, percent in rates:
        line = tax_line(invoice, rate_id)
        assert cents(line["TaxLineDetail"]["NetAmountTaxable"]) == Decimal("133.33")
        assert cents(line["Amount"]) == cents(Decimal("133.33") * percent / 100)  # 6.67 and 9.33
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("16.00")
    assert cents(invoice["TotalAmt"]) == Decimal("149.33")


def test_canada_a_line_without_a_code_is_refused(target):
    ca = target("CA")
    error = fault(ca.post("invoice", invoice_body(ca.customer(), ca.line(100.00))))
    assert error["code"] == "6000"
    assert "GST/HST rate" in error["Detail"]  # ASSUMPTION: the UK wording with Canada's tax name


def test_australian_gst_on_top_of_the_price(target):
    au = target("AU")
    assert au.company_info()["Country"] == "AU"
    gst, free = au.tax_code("GST"), au.tax_code("GST free")
    invoice = au.create(
        "Invoice", invoice_body(au.customer(), au.line(100.00, gst["Id"]), au.line(40.00, free["Id"]))
    )
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("10.00")
    assert cents(invoice["TotalAmt"]) == Decimal("150.00")


def test_australian_gst_included_in_the_price(target):
    """TaxInclusive: the amount charged includes the GST; the line's Amount is restated net (ASSUMPTION)."""
    au = target("AU")
    gst = au.tax_code("GST")
    customer = au.customer()
    invoice = au.create(
        "Invoice", invoice_body(customer, au.line(110.00, gst["Id"]), GlobalTaxCalculation="TaxInclusive")
    )
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("10.00")
    assert cents(invoice["TotalAmt"]) == Decimal("110.00")
    line = invoice["Line"][0]
    assert cents(line["Amount"]) == Decimal("100.00")
    assert cents(line["SalesItemLineDetail"]["TaxInclusiveAmt"]) == Decimal("110.00")
    # 100.00 with GST in it: 90.91 + 9.09
    invoice = au.create(
        "Invoice",
        invoice_body(
            customer, au.line(100.00, gst["Id"], TaxInclusiveAmt=100.00), GlobalTaxCalculation="TaxInclusive"
        ),
    )
    assert cents(invoice["TxnTaxDetail"]["TotalTax"]) == Decimal("9.09")
    assert cents(invoice["TotalAmt"]) == Decimal("100.00")
    assert cents(invoice["Line"][0]["Amount"]) == Decimal("90.91")


def test_australia_a_line_without_a_code_is_refused(target):
    au = target("AU")
    error = fault(au.post("invoice", invoice_body(au.customer(), au.line(100.00))))
    assert error["code"] == "6000"
    assert "GST rate" in error["Detail"]  # ASSUMPTION: the UK wording with Australia's tax name

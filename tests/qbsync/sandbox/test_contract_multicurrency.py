"""Contract: a company with multicurrency on (home USD) and a customer in euros.

A real company for this needs multicurrency turned on with EUR and GBP in its currency list
(docs/sandbox.md, "Running the contract tests against QBO"). ASSUMPTION marks the sandbox's guesses.
"""

from decimal import Decimal

from tests.qbsync.sandbox.qbo_target import cents, fault


def test_multicurrency_is_on_and_a_customer_can_be_in_euros(target):
    mc = target("MULTICURRENCY")
    currency = mc.preferences()["CurrencyPrefs"]
    assert currency["MultiCurrencyEnabled"] is True
    assert currency["HomeCurrency"]["value"] == "USD"
    euro = mc.customer(CurrencyRef={"value": "EUR"})
    assert euro["CurrencyRef"]["value"] == "EUR"
    assert mc.customer()["CurrencyRef"]["value"] == "USD"  # the home currency when none is given


def test_a_foreign_invoice_carries_its_exchange_rate_and_home_total(target):
    mc = target("MULTICURRENCY")
    euro = mc.customer(CurrencyRef={"value": "EUR"})
    invoice = mc.create(
        "Invoice",
        {
            "CustomerRef": {"value": euro["Id"]},
            "CurrencyRef": {"value": "EUR"},
            "ExchangeRate": 1.1,
            "Line": [mc.line(100.00)],
        },
    )
    assert invoice["CurrencyRef"]["value"] == "EUR"
    assert Decimal(str(invoice["ExchangeRate"])) == Decimal("1.1")
    assert cents(invoice["TotalAmt"]) == Decimal("100.00")
    assert cents(invoice["HomeTotalAmt"]) == Decimal("110.00")
    payment = mc.create(
        "Payment",
        {
            "CustomerRef": {"value": euro["Id"]},
            "CurrencyRef": {"value": "EUR"},
            "ExchangeRate": 1.2,
            "TotalAmt": 100.00,
            "Line": [{"Amount": 100.00, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert payment["CurrencyRef"]["value"] == "EUR"
    assert Decimal(str(payment["ExchangeRate"])) == Decimal("1.2")
    assert cents(mc.read("Invoice", invoice["Id"])["Balance"]) == 0


def test_a_transaction_in_another_foreign_currency_is_refused(target):
    mc = target("MULTICURRENCY")
    euro = mc.customer(CurrencyRef={"value": "EUR"})
    body = {"CustomerRef": {"value": euro["Id"]}, "CurrencyRef": {"value": "GBP"}, "Line": [mc.line(10.00)]}
    error = fault(mc.post("invoice", body))
    assert error["code"] == "6000"  # ASSUMPTION: the code; the sentence is QBO's (qbo-api-facts §13)
    assert "You can only use one foreign currency per transaction" in error["Detail"]
    assert mc.rows(f"select * from Invoice where CustomerRef = '{euro['Id']}'", "Invoice") == []


def test_a_customers_currency_is_fixed_once_set(target):
    mc = target("MULTICURRENCY")
    euro = mc.customer(CurrencyRef={"value": "EUR"})
    body = {"Id": euro["Id"], "SyncToken": euro["SyncToken"], "sparse": True, "CurrencyRef": {"value": "GBP"}}
    assert fault(mc.post("customer", body))["code"] == "6000"  # ASSUMPTION: QBO may ignore it instead
    assert mc.read("Customer", euro["Id"])["CurrencyRef"]["value"] == "EUR"

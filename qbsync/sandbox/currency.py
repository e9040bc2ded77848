"""Currencies: the home currency, multicurrency, a customer's currency, and exchange rates on transactions
(qbo-api-facts §13). Wordings and codes marked UNCONFIRMED are the sandbox's own; see docs/sandbox.md,
"Regions, tax and currency"."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from . import errors as E
from .regions import number
from .store import Company
from .tax import cents

USD = {"value": "USD", "name": "United States Dollar"}
CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "GBP": "British Pound Sterling",
    "CAD": "Canadian Dollar",
    "AUD": "Australian Dollar",
    "EUR": "Euro",
    "INR": "Indian Rupee",
}
# UNCONFIRMED wording and code: QBO refuses a currency other than the home one without multicurrency.
MULTICURRENCY_OFF = (
    "Multicurrency is not turned on for this company, so {given} cannot be used: everything is in the home "
    "currency, {home}."
)
# The first sentence is QBO's (qbo-api-facts §13); the code (6000) and the rest are the sandbox's.
CURRENCY_NOT_CUSTOMERS = (
    "You can only use one foreign currency per transaction. A transaction must be in its customer's "
    "currency ({theirs}); {given} was given."
)
CURRENCY_FIXED = "A {kind}'s currency cannot change once it is set: it is {theirs}; {given} was given."


def currency_ref(code: str) -> dict:
    return {"value": code, "name": CURRENCY_NAMES.get(code, code)}


def given_currency(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("value")
    if value is None or value == "":
        return None
    return str(value).strip().upper()


def allowed_currency(co: Company, given: str) -> str:
    home = co.setting("home_currency")
    if given != home and not co.setting("multi_currency"):
        raise E.business_validation(MULTICURRENCY_OFF.format(given=given, home=home))
    return given


def party_currency(co: Company, body: dict) -> dict:
    """A new customer's or vendor's CurrencyRef: the home currency unless multicurrency allows another
    (fixed once set)."""
    return currency_ref(
        allowed_currency(co, given_currency(body.get("CurrencyRef")) or co.setting("home_currency"))
    )


def check_currency_unchanged(record: dict, body: dict, kind: str) -> None:
    """An update may repeat a customer's or vendor's currency, never change it."""
    given = given_currency(body.get("CurrencyRef"))
    theirs = given_currency(record.get("CurrencyRef"))
    if given is not None and theirs is not None and given != theirs:
        raise E.business_validation(CURRENCY_FIXED.format(kind=kind, theirs=theirs, given=given))


def transaction_currency(co: Company, record: dict, customer: dict) -> dict:
    """A transaction is in its customer's currency, which is the home currency without multicurrency."""
    theirs = given_currency(customer.get("CurrencyRef")) or co.setting("home_currency")
    given = allowed_currency(co, given_currency(record.get("CurrencyRef")) or theirs)
    if given != theirs:
        raise E.business_validation(CURRENCY_NOT_CUSTOMERS.format(theirs=theirs, given=given))
    return currency_ref(given)


def exchange_rate(co: Company, record: dict) -> Decimal | None:
    """Set the transaction's ExchangeRate (home-currency units per unit of its currency) and return it; None
    without multicurrency, where QBO has no exchange rate (a given one is dropped).

    A foreign transaction keeps the rate it was sent; without one, the company's `exchange_rates` setting
    gives it, else 1 (QBO would use its own rate of the day, which the sandbox does not know). A
    home-currency transaction is always at 1."""
    given = record.pop("ExchangeRate", None)
    if not co.setting("multi_currency"):
        return None
    currency = given_currency(record.get("CurrencyRef")) or co.setting("home_currency")
    rate = Decimal(1)
    if currency != co.setting("home_currency"):
        configured = (co.setting("exchange_rates") or {}).get(currency)
        rate = Decimal(str(configured)) if configured else Decimal(1)
        if given not in (None, "", 0, "0"):
            try:
                rate = Decimal(str(given))
            except (InvalidOperation, ValueError):
                raise E.invalid_number("ExchangeRate", given) from None
            if not rate.is_finite() or rate <= 0:
                raise E.business_validation("ExchangeRate must be greater than 0.")
    record["ExchangeRate"] = number(rate)
    return rate


def home_amount(amount: object, rate: Decimal) -> int | float:
    """An amount in the home currency, to the cent (half up)."""
    return number(cents(Decimal(str(amount)) * rate))

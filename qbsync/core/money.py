"""Money is Decimal with two places in the firm's currency, never a float."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import models

CENT = Decimal("0.01")
MONEY_MAX_DIGITS = 14
# The largest amount the money columns hold (12 digits before the point): beyond it PostgreSQL raises
# DataError, so forms and services refuse it first.
MONEY_MAX = Decimal(10 ** (MONEY_MAX_DIGITS - 2)) - CENT
AMOUNT_LIMIT = f"QuickBooks and qbsync allow at most {MONEY_MAX:,}."
AMOUNT_TOO_LARGE = f"This amount is too large: {AMOUNT_LIMIT}"
AMOUNT_CENTS = "An amount goes to the cent: use at most two decimal places (for example 10.25)."


def to_money(value: Decimal | int | str) -> Decimal:
    """Quantize to cents, rounding half up as invoices do. Floats are refused: they are not exact."""
    if isinstance(value, float):
        raise TypeError("Money must not be a float; pass a Decimal, int or str.")
    try:
        return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValueError(f"Not an amount of money: {value!r}") from exc


def money_text(value: Decimal | int | str, currency: str = "") -> str:
    """An amount as people read it in a sentence: thousands grouped, two places, then the currency when
    given ("10,000,000,190.00 USD"). Every message that names an amount says it through this."""
    text = f"{to_money(value):,.2f}"
    return f"{text} {currency}" if currency else text


def money_sum(values) -> Decimal:
    return to_money(sum((Decimal(v) for v in values), Decimal("0")))


class MoneyField(models.DecimalField):
    """A DecimalField with our money shape (12 digits before the point, 2 after)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)

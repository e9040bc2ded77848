from decimal import Decimal

import pytest

from invoices.services import line_amount
from qbsync.core.money import money_sum, to_money


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.005", "1.01"), ("1.004", "1.00"), ("2.675", "2.68"), (3, "3.00"), ("-0.005", "-0.01")],
)
def test_to_money_rounds_half_up_to_the_cent(value, expected):
    assert to_money(value) == Decimal(expected)


def test_to_money_refuses_floats():
    with pytest.raises(TypeError):
        to_money(0.1)


def test_to_money_refuses_garbage():
    with pytest.raises(ValueError, match="Not an amount"):
        to_money("ten dollars")


def test_money_sum_is_exact_where_floats_are_not():
    assert money_sum(["0.10"] * 3) == Decimal("0.30")
    assert 0.1 * 3 != 0.3  # the reason money is never a float


@pytest.mark.parametrize(
    ("quantity", "rate", "amount"),
    [
        ("1", "100.00", "100.00"),
        ("1.5", "33.33", "50.00"),
        ("0.25", "150.10", "37.53"),
        ("3", "0.33", "0.99"),
    ],
)
def test_line_amount_is_quantity_times_rate_rounded_half_up(quantity, rate, amount):
    assert line_amount(quantity=Decimal(quantity), rate=Decimal(rate)) == Decimal(amount)

"""The tax arithmetic of qbsync/sandbox/tax.py on its own: Decimal, half up, per rate."""

from decimal import Decimal

from qbsync.sandbox.tax import Rate, cents, chain, group_shares, tax_lines

GST = Rate("1", "GST", Decimal("5"), "TaxOnAmount", 0)
PST = Rate("3", "PST BC", Decimal("7"), "TaxOnAmount", 1)
QST_COMPOUND = Rate("9", "QST", Decimal("7.5"), "TaxOnAmountPlusTax", 1)


def amounts(lines):
    return {line["TaxLineDetail"]["TaxRateRef"]["value"]: line["Amount"] for line in lines}


def test_half_up_not_half_even():
    assert cents(Decimal("0.505")) == Decimal("0.51")
    assert cents(Decimal("0.125")) == Decimal("0.13")
    assert cents(Decimal("-0.505")) == Decimal("-0.51")


def test_compound_rate_taxes_the_net_and_the_tax_before_it():
    (gst_base, gst), (qst_base, qst) = chain([GST, QST_COMPOUND], Decimal("100"))
    assert (gst_base, gst) == (Decimal("100"), Decimal("5"))
    assert (qst_base, qst) == (Decimal("105"), Decimal("7.875"))


def test_per_rate_rounding_sums_before_rounding():
    _, first = group_shares([GST], [Decimal("0.10")], inclusive=False)
    _, second = group_shares([GST], [Decimal("0.10")], inclusive=False)
    assert amounts(tax_lines(first + second, "per_rate")) == {"1": Decimal("0.01")}  # 0.005 + 0.005
    for share in first + second:
        share.amount = cents(share.raw)
    assert amounts(tax_lines(first + second, "per_line")) == {"1": Decimal("0.02")}


def test_inclusive_split_keeps_net_plus_tax_equal_to_the_price():
    nets, shares = group_shares([GST, PST], [Decimal("1.00")], inclusive=True)
    assert nets == [Decimal("0.89")]  # 1.00 / 1.12 = 0.8929
    split = amounts(tax_lines(shares, "per_rate"))
    assert split == {"1": Decimal("0.04"), "3": Decimal("0.07")}  # 0.0445 and 0.0623, PST takes the cent
    assert nets[0] + sum(split.values()) == Decimal("1.00")


def test_inclusive_lines_are_each_made_net():
    nets, shares = group_shares([GST, PST], [Decimal("100.00"), Decimal("33.33")], inclusive=True)
    assert nets == [Decimal("89.29"), Decimal("29.76")]
    split = amounts(tax_lines(shares, "per_rate"))
    assert sum(nets) + sum(split.values()) == Decimal("133.33")

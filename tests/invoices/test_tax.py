"""The tax of an invoice (invoices/tax.py), in worked examples to the cent: per invoice per tax, rounded
half up once; amounts that include tax taken apart per rate."""

from decimal import Decimal

import pytest

from invoices.tax import Component, Line, Rate, invoice_tax, percent_text

D = Decimal


def rate(key, name, *components: tuple) -> Rate:
    """``components``: (name, percentage) or (name, percentage, compound)."""
    return Rate(key=key, name=name, components=tuple(Component(c[0], D(c[1]), *c[2:]) for c in components))


VAT_20 = rate("vat", "VAT 20%", ("VAT", "20"))
ZERO_RATED = rate("zero", "Zero-rated 0%", ("VAT", "0"))
EXEMPT = rate("exempt", "Exempt")
GST_PST_BC = rate("bc", "GST/PST BC", ("GST", "5"), ("PST", "7"))
GST_CA = rate("gst", "GST", ("GST", "5"))
HST_ON = rate("hst", "HST ON", ("HST", "13"))
GST_AU = rate("au", "GST", ("GST", "10"))
NYC = rate("nyc", "New York City", ("Sales tax", "8.875"))
GST_QST_COMPOUND = rate("qc", "GST/QST (compound)", ("GST", "5"), ("QST", "8.5", True))


def taxes(summary) -> list[tuple[str, Decimal, Decimal]]:
    return [(entry.component.label, entry.net, entry.tax) for entry in summary.by_component]


def totals(summary) -> tuple[Decimal, Decimal, Decimal]:
    return summary.subtotal, summary.tax_total, summary.total


def test_uk_vat_20_on_100_and_a_zero_rated_line():
    summary = invoice_tax([Line(D("100.00"), VAT_20), Line(D("50.00"), ZERO_RATED)])

    assert taxes(summary) == [("VAT 20%", D("100.00"), D("20.00")), ("VAT 0%", D("50.00"), D("0.00"))]
    assert totals(summary) == (D("150.00"), D("20.00"), D("170.00"))


def test_canada_gst_and_pst_bc_on_99_99_each_rounded_on_its_own():
    summary = invoice_tax([Line(D("99.99"), GST_PST_BC)])

    # GST 4.9995 -> 5.00, PST 6.9993 -> 7.00
    assert taxes(summary) == [("GST 5%", D("99.99"), D("5.00")), ("PST 7%", D("99.99"), D("7.00"))]
    assert totals(summary) == (D("99.99"), D("12.00"), D("111.99"))
    assert GST_PST_BC.percentage == D("12")


def test_canada_hst_13():
    summary = invoice_tax([Line(D("99.99"), HST_ON)])

    # 12.9987 -> 13.00
    assert totals(summary) == (D("99.99"), D("13.00"), D("112.99"))


def test_australia_gst_10_included_in_110():
    summary = invoice_tax([Line(D("110.00"), GST_AU)], amounts_include_tax=True)

    assert taxes(summary) == [("GST 10%", D("100.00"), D("10.00"))]
    assert totals(summary) == (D("100.00"), D("10.00"), D("110.00"))
    assert [(r.amount, r.net) for r in summary.by_rate] == [(D("110.00"), D("100.00"))]


def test_australia_gst_10_included_in_99_99():
    summary = invoice_tax([Line(D("99.99"), GST_AU)], amounts_include_tax=True)

    # 99.99 / 1.1 = 90.90; tax = 99.99 - 90.90
    assert taxes(summary) == [("GST 10%", D("90.90"), D("9.09"))]
    assert totals(summary) == (D("90.90"), D("9.09"), D("99.99"))


def test_australia_inclusive_net_is_rounded_half_up_per_rate():
    summary = invoice_tax([Line(D("100.00"), GST_AU)], amounts_include_tax=True)

    # 100 / 1.1 = 90.909... -> 90.91; tax 9.09
    assert totals(summary) == (D("90.91"), D("9.09"), D("100.00"))


def test_us_sales_tax_8_875_rounds_half_up():
    summary = invoice_tax([Line(D("100.00"), NYC)])

    # 8.875 -> 8.88
    assert taxes(summary) == [("Sales tax 8.875%", D("100.00"), D("8.88"))]
    assert totals(summary) == (D("100.00"), D("8.88"), D("108.88"))


def test_compound_component_is_charged_on_the_net_plus_the_rounded_tax_before_it():
    summary = invoice_tax([Line(D("100.11"), GST_QST_COMPOUND)])

    # GST 5.0055 -> 5.01; QST on 100.11 + 5.01 = 105.12: 8.9352 -> 8.94
    # (on the unrounded 105.1155 it would be 8.934818 -> 8.93: the rounded tax is the one charged).
    assert taxes(summary) == [("GST 5%", D("100.11"), D("5.01")), ("QST 8.5%", D("105.12"), D("8.94"))]
    assert totals(summary) == (D("100.11"), D("13.95"), D("114.06"))


def test_three_lines_of_one_rate_are_taxed_once_on_their_sum_not_line_by_line():
    summary = invoice_tax([Line(D("10.01"), VAT_20)] * 3)

    # Per line: 2.002 -> 2.00, three times 6.00. Per invoice: 30.03 x 20% = 6.006 -> 6.01.
    assert taxes(summary) == [("VAT 20%", D("30.03"), D("6.01"))]
    assert totals(summary) == (D("30.03"), D("6.01"), D("36.04"))


def test_a_tax_shared_by_two_rates_is_charged_once_on_both_nets():
    summary = invoice_tax([Line(D("10.10"), GST_CA), Line(D("10.10"), GST_PST_BC)])

    # GST once on 20.20: 1.01 (per rate it would be 0.505 -> 0.51 twice, 1.02). PST on 10.10: 0.707 -> 0.71.
    assert taxes(summary) == [("GST 5%", D("20.20"), D("1.01")), ("PST 7%", D("10.10"), D("0.71"))]
    assert summary.by_component[0].rates == (GST_CA, GST_PST_BC)
    assert totals(summary) == (D("20.20"), D("1.72"), D("21.92"))


def test_same_tax_means_same_name_aside_from_case_and_spacing_and_same_percentage():
    other_spelling = rate("gst2", "GST services", (" gst ", "5.0000"))
    other_percentage = rate("gst6", "GST 6", ("GST", "6"))

    summary = invoice_tax(
        [Line(D("10.10"), GST_CA), Line(D("10.10"), other_spelling), Line(D("10.00"), other_percentage)]
    )

    assert [(e.component.percentage, e.net, e.tax) for e in summary.by_component] == [
        (D("5"), D("20.20"), D("1.01")),
        (D("6"), D("10.00"), D("0.60")),
    ]


def test_inclusive_tax_of_two_components_is_split_by_percentage_the_last_taking_the_rest():
    summary = invoice_tax([Line(D("99.99"), GST_PST_BC)], amounts_include_tax=True)

    # 99.99 / 1.12 = 89.2767... -> 89.28; tax 10.71; GST round(10.71 x 5/12 = 4.4625) = 4.46; PST the rest.
    assert taxes(summary) == [("GST 5%", D("89.28"), D("4.46")), ("PST 7%", D("89.28"), D("6.25"))]
    assert totals(summary) == (D("89.28"), D("10.71"), D("99.99"))


def test_inclusive_compound_rate_uses_the_compounded_factor():
    summary = invoice_tax([Line(D("113.93"), GST_QST_COMPOUND)], amounts_include_tax=True)

    # factor 1 + 0.05 + 0.085 x 1.05 = 1.13925; 113.93 / 1.13925 = 100.0043... -> 100.00; tax 13.93,
    # split 0.05 : 0.08925 -> GST 5.00, QST 8.93 (charged on 100.00 + 5.00).
    assert taxes(summary) == [("GST 5%", D("100.00"), D("5.00")), ("QST 8.5%", D("105.00"), D("8.93"))]
    assert totals(summary) == (D("100.00"), D("13.93"), D("113.93"))


def test_inclusive_lines_are_made_net_line_by_line_as_quickbooks_restates_them():
    summary = invoice_tax([Line(D("10.03"), GST_AU)] * 3, amounts_include_tax=True)

    # Each line: 10.03 / 1.1 = 9.1181... -> 9.12, three times: net 27.36 and tax 2.73 (taken together it
    # would be 27.35 and 2.74; QuickBooks restates each line's Amount as its net, so line by line it is).
    assert totals(summary) == (D("27.36"), D("2.73"), D("30.09"))


def test_inclusive_split_is_never_negative():
    three = rate("three", "Three ways", ("A", "5"), ("B", "5"), ("C", "0"))

    summary = invoice_tax([Line(D("0.11"), three)], amounts_include_tax=True)

    # 0.11 / 1.10 = 0.10; tax 0.01 split 5:5:0 by running shares: 0.01 (0.005 up), 0.00, 0.00.
    assert [e.tax for e in summary.by_component] == [D("0.01"), D("0.00"), D("0.00")]
    assert summary.tax_total == D("0.01")


def test_lines_without_a_rate_carry_no_tax_and_exempt_is_a_rate_without_tax():
    summary = invoice_tax([Line(D("40.00")), Line(D("60.00"), EXEMPT), Line(D("100.00"), VAT_20)])

    assert taxes(summary) == [("VAT 20%", D("100.00"), D("20.00"))]
    assert [(r.rate.name, r.net) for r in summary.by_rate] == [
        ("Exempt", D("60.00")),
        ("VAT 20%", D("100.00")),
    ]
    assert totals(summary) == (D("200.00"), D("20.00"), D("220.00"))


@pytest.mark.parametrize("inclusive", [False, True])
def test_an_invoice_without_rates_has_no_tax(inclusive):
    summary = invoice_tax([Line(D("50.99")), Line(D("0.01"))], amounts_include_tax=inclusive)

    assert totals(summary) == (D("51.00"), D("0.00"), D("51.00"))
    assert summary.by_component == summary.by_rate == ()


@pytest.mark.parametrize("inclusive", [False, True])
def test_subtotal_plus_tax_is_the_total_to_the_cent(inclusive):
    lines = [
        Line(D("0.01"), VAT_20),
        Line(D("1234.56"), GST_PST_BC),
        Line(D("99.99"), GST_QST_COMPOUND),
        Line(D("17.17"), NYC),
        Line(D("3.00")),
    ]

    summary = invoice_tax(lines, amounts_include_tax=inclusive)

    assert summary.subtotal + summary.tax_total == summary.total
    assert summary.tax_total == sum(e.tax for e in summary.by_component)
    assert all(value == value.quantize(D("0.01")) for value in totals(summary))


@pytest.mark.parametrize(
    ("value", "text"),
    [("20.0000", "20"), ("8.8750", "8.875"), ("9.975", "9.975"), ("0.0000", "0"), ("100", "100")],
)
def test_percent_text(value, text):
    assert percent_text(D(value)) == text

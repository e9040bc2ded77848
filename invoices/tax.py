"""Sales tax, VAT and GST of an invoice: pure arithmetic on Decimal, no database, no Django models.

The rules (one set for every region, US, UK, CA, AU and other; the QBO side is checked against them by a
totals check after every push, so they are written to be deterministic rather than clever):

* **Per invoice, not per line.** A line's amount is its quantity x rate rounded to the cent (as before);
  tax is then worked out once per tax over the sum of the net amounts of the invoice's lines that carry
  it, and rounded half up to the cent once. This is how QuickBooks Online computes an invoice's tax (per
  tax rate over the sum of the taxable net amounts, rounded to the cent per rate per invoice), and every
  region allows it: Canada's CRA and Australia's ATO round the tax of an invoice to the nearest cent (a
  half cent up); US states tax the invoice's taxable total; the UK's HMRC allows the VAT of an invoice
  to be worked out on its total net per rate (rounding it down is a permission there, not a duty). Per-line
  rounding would drift a cent or more from QuickBooks on invoices with several lines.
* **A tax is a component of a rate** (GST 5 % and PST 7 % of "GST/PST BC"). Components of different
  rates with the same name (case and spacing aside) and the same percentage are the *same tax*: the
  invoice charges it once, over the net of every line whose rate has it, as QuickBooks charges one tax
  rate shared by several tax codes once (GST on a "GST" line and on a "GST/PST BC" line: one GST line).
* **Compound components** are charged on the net plus the taxes of the components before them in their
  own rate, *rounded* to the cent: the tax on tax is levied on the tax actually charged, which is a
  whole number of cents (Quebec's QST before 2013 was charged on the price including the GST as
  invoiced). A compound component is never shared with another rate, since its base depends on its rate.
* **Amounts that include tax** (VAT and GST regions): each line's net is its gross divided by its rate's
  factor (1 + the sum of its percentages; a compound component adds its percentage of the factor so far),
  rounded half up to the cent, because QuickBooks restates every tax-inclusive line's Amount as its net to
  the cent (docs/sandbox.md); the tax of a rate's lines is their gross - their nets.
  That tax is split among the rate's components in proportion to their percentages: each takes the
  rounded running share minus the rounded running share before it, so the shares are never negative,
  add up exactly, and the last takes the remainder (with two components: the first is
  round(tax x p1 / (p1 + p2)), the second the rest). A tax shared by several rates adds up its shares.
* **Totals.** Amounts exclude tax: subtotal = sum of the line amounts, total = subtotal + tax.
  Amounts include tax: total = sum of the line amounts, subtotal = total - tax. Either way
  subtotal + tax_total = total, to the cent. Lines without a rate carry no tax; a rate without
  components ("Exempt") or at 0 % ("Zero-rated") is a rate all the same, with no tax.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from decimal import Decimal, localcontext

from qbsync.core.money import to_money

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
# Enough digits for a 12-digit amount divided by a factor with 4-place percentages, before rounding.
_PRECISION = 50


@dataclass(frozen=True)
class Component:
    """One tax of a rate: a name ("GST"), a percentage (5, 8.875, 9.975) and whether it is compound."""

    name: str
    percentage: Decimal
    compound: bool = False

    @property
    def label(self) -> str:
        """ "GST 5%", as an invoice names the tax."""
        return f"{self.name} {percent_text(self.percentage)}%"


@dataclass(frozen=True)
class Rate:
    """A tax rate as a line carries it. ``key`` tells rates apart (the TaxRate's id); the components are
    in their order (a compound one applies on what comes before it)."""

    key: Hashable
    name: str
    components: tuple[Component, ...] = ()

    @property
    def percentage(self) -> Decimal:
        """The sum of the components' percentages (GST 5 % + PST 7 %: 12)."""
        return sum((c.percentage for c in self.components), Decimal(0))


@dataclass(frozen=True)
class Line:
    """An invoice line as tax sees it: its amount (quantity x rate, to the cent) and its rate, if any."""

    amount: Decimal
    rate: Rate | None = None


@dataclass(frozen=True)
class RateTotal:
    """The lines of one rate on the invoice: ``amount`` as entered (with tax, when amounts include tax),
    ``net`` without tax."""

    rate: Rate
    amount: Decimal
    net: Decimal


@dataclass(frozen=True)
class ComponentTax:
    """One tax of the invoice: charged at ``component``'s percentage on ``net`` (for a compound component:
    the net plus the taxes before it), for the lines of ``rates``."""

    component: Component
    rates: tuple[Rate, ...]
    net: Decimal
    tax: Decimal

    @property
    def rate(self) -> Rate:
        """The (first) rate carrying this tax."""
        return self.rates[0]


@dataclass(frozen=True)
class TaxSummary:
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    amounts_include_tax: bool
    # Each tax once, in the order the invoice's lines first name it.
    by_component: tuple[ComponentTax, ...]
    # Each rate once, in the order of its first line (also the rates without components).
    by_rate: tuple[RateTotal, ...]


def percent_text(value: Decimal) -> str:
    """A percentage without trailing zeros: 20, 8.875, 9.975, 0."""
    text = f"{Decimal(value):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _tax_key(rate: Rate, position: int, component: Component) -> Hashable:
    """What makes two rates' components the same tax (charged once on the invoice)."""
    if component.compound:
        return ("compound", rate.key, position)
    return ("tax", " ".join(component.name.split()).casefold(), component.percentage)


def _weights(rate: Rate) -> list[Decimal]:
    """What each component adds to one unit of net: its percentage of 1, or for a compound component its
    percentage of 1 plus the weights before it."""
    weights: list[Decimal] = []
    for component in rate.components:
        base = 1 + sum(weights, Decimal(0)) if component.compound else Decimal(1)
        weights.append(component.percentage / HUNDRED * base)
    return weights


def _split(tax: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``tax`` shared in proportion to ``weights``: each share is the rounded running share minus the
    rounded running share before it, so the shares are not negative, add up to ``tax``, and the last
    takes the remainder."""
    whole = sum(weights, Decimal(0))
    if whole == 0:
        return [ZERO for _ in weights]
    shares, running, before = [], Decimal(0), ZERO
    for weight in weights:
        running += weight
        upto = to_money(tax * running / whole)
        shares.append(upto - before)
        before = upto
    return shares


class _Taxes:
    """The invoice's taxes as they are added up, each under its ``_tax_key``, in order of first use."""

    def __init__(self) -> None:
        self.component: dict[Hashable, Component] = {}
        self.rates: dict[Hashable, list[Rate]] = {}
        self.net: dict[Hashable, Decimal] = {}
        self.tax: dict[Hashable, Decimal] = {}

    def add(self, key: Hashable, component: Component, rate: Rate, net: Decimal, tax: Decimal = ZERO) -> None:
        self.component.setdefault(key, component)
        rates = self.rates.setdefault(key, [])
        if rate not in rates:
            rates.append(rate)
        self.net[key] = self.net.get(key, ZERO) + net
        self.tax[key] = self.tax.get(key, ZERO) + tax

    def summary(self, *, rounded_here: bool) -> tuple[ComponentTax, ...]:
        """Each tax; ``rounded_here``: its tax is its percentage of its whole net, rounded once."""
        return tuple(
            ComponentTax(
                component=component,
                rates=tuple(self.rates[key]),
                net=self.net[key],
                tax=to_money(self.net[key] * component.percentage / HUNDRED)
                if rounded_here
                else self.tax[key],
            )
            for key, component in self.component.items()
        )


def invoice_tax(lines: Iterable[Line], amounts_include_tax: bool = False) -> TaxSummary:
    """The subtotal, the tax of each tax and in all, and the total of an invoice's ``lines`` (see the
    module's docstring for the rules)."""
    lines = list(lines)
    groups: dict[Hashable, tuple[Rate, Decimal, Decimal]] = {}
    amounts = sum((to_money(line.amount) for line in lines), ZERO)
    taxes = _Taxes()
    by_rate = []
    with localcontext() as context:
        context.prec = _PRECISION
        for line in lines:
            if line.rate is not None:
                rate, amount, net = groups.get(line.rate.key, (line.rate, ZERO, ZERO))
                groups[line.rate.key] = (rate, amount + to_money(line.amount), net + line_net(line))
        for rate, amount, net in groups.values():
            if amounts_include_tax:
                by_rate.append(_inclusive(rate, amount, net, taxes))
            else:
                by_rate.append(_exclusive(rate, amount, taxes))
        by_component = taxes.summary(rounded_here=not amounts_include_tax)
    tax_total = sum((entry.tax for entry in by_component), ZERO)
    if amounts_include_tax:
        total, subtotal = amounts, amounts - tax_total
    else:
        subtotal, total = amounts, amounts + tax_total
    return TaxSummary(
        subtotal=subtotal,
        tax_total=tax_total,
        total=total,
        amounts_include_tax=amounts_include_tax,
        by_component=by_component,
        by_rate=tuple(by_rate),
    )


def _exclusive(rate: Rate, net: Decimal, taxes: _Taxes) -> RateTotal:
    """Adds the net of ``rate``'s lines to each of its taxes (the taxes are rounded on the whole net)."""
    own: list[Decimal] = []  # this rate's taxes on its own net, rounded: what a compound one is charged on
    for position, component in enumerate(rate.components):
        base = net + sum(own, ZERO) if component.compound else net
        own.append(to_money(base * component.percentage / HUNDRED))
        taxes.add(_tax_key(rate, position, component), component, rate, base)
    return RateTotal(rate=rate, amount=net, net=net)


def line_net(line: Line) -> Decimal:
    """A tax-inclusive line's amount without its tax, to the cent (a line without a rate: its amount)."""
    if line.rate is None:
        return to_money(line.amount)
    with localcontext() as context:
        context.prec = _PRECISION
        return to_money(to_money(line.amount) / (1 + sum(_weights(line.rate), Decimal(0))))


def _inclusive(rate: Rate, gross: Decimal, net: Decimal, taxes: _Taxes) -> RateTotal:
    """The tax in the gross of ``rate``'s lines (their nets taken line by line), shared among its
    components."""
    weights = _weights(rate)
    shares = _split(gross - net, weights)
    for position, (component, share) in enumerate(zip(rate.components, shares, strict=True)):
        base = net + sum(shares[:position], ZERO) if component.compound else net
        taxes.add(_tax_key(rate, position, component), component, rate, base, share)
    return RateTotal(rate=rate, amount=gross, net=net)

"""Invoice and payment forms. They parse input (amounts as Decimal, never float) and hand dataclasses
to the services, which own the rules; the views map the services' errors back onto fields and rows."""

import re
import secrets
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import Account
from qbsync.core.forms import add_service_errors
from qbsync.core.money import AMOUNT_CENTS, AMOUNT_TOO_LARGE, MONEY_MAX_DIGITS
from qbsync.firms.models import Firm
from qbsync.firms.services import FirmSettingsData

from .models import Invoice, InvoiceLine, Payment, Service, TaxRate
from .services import (
    AllocationData,
    InvoiceData,
    InvoiceLineData,
    PaymentData,
    TaxComponentData,
    TaxRateData,
)

# The column's length, which is also QuickBooks Online's limit on a line description (2050 beyond).
LINE_DESCRIPTION_MAX_LENGTH = InvoiceLine._meta.get_field("description").max_length
LINE_DESCRIPTION_TOO_LONG = (
    "A line description can have at most {limit:,} characters, the limit of QuickBooks Online; "
    "this one has {length:,}."
)

QUANTITY_TOO_LARGE = "This quantity is too large: qbsync allows at most 9,999,999,999.99."
QUANTITY_PLACES = "A quantity has at most two decimal places (for example 1.5 hours)."

# The services name the line or invoice an error is about at the start of its message.
_LINE_ERROR = re.compile(r"^Line (?P<position>\d+): (?P<message>.+)$", re.DOTALL)
# ... and the tax of a rate: "Tax 2: ...".
_TAX_ERROR = re.compile(r"^Tax (?P<position>\d+): (?P<message>.+)$", re.DOTALL)
NO_TAX_RATE = "No tax"


def _money_field(*, error_messages=None, **kwargs) -> forms.DecimalField:
    # Django's "no more than 14 digits" speaks of the column; people need to hear about the amount.
    too_large = {
        "max_digits": AMOUNT_TOO_LARGE,
        "max_whole_digits": AMOUNT_TOO_LARGE,
        "max_decimal_places": AMOUNT_CENTS,
    }
    return forms.DecimalField(
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=2,
        error_messages=too_large | (error_messages or {}),
        **kwargs,
    )


def new_submission_token() -> str:
    return secrets.token_urlsafe(24)


def _submission_token_field() -> forms.CharField:
    # A fresh token per page (a callable initial); a refused submit keeps the one it was sent with.
    return forms.CharField(
        required=False, max_length=64, widget=forms.HiddenInput, initial=new_submission_token
    )


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


# Invoices ----------------------------------------------------------------------------------------


class InvoiceForm(forms.Form):
    account = forms.ModelChoiceField(queryset=Account.objects.none(), empty_label="Choose an account")
    number = forms.CharField(max_length=30)
    issue_date = forms.DateField(widget=DateInput())
    due_date = forms.DateField(widget=DateInput())
    memo = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    amounts_include_tax = forms.BooleanField(
        required=False,
        label="Amounts include tax",
        help_text="The rates entered on the lines include the tax of their tax rate (VAT and GST regions).",
    )
    # One invoice per page however often it is submitted (used by invoice_create, ignored on edit).
    submission_token = _submission_token_field()

    def __init__(self, *args, accounts, offer_amounts_include_tax: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        if not offer_amounts_include_tax:
            # In the US tax is added on top; the service would refuse it anyway.
            del self.fields["amounts_include_tax"]


class InvoiceLineForm(forms.Form):
    service = forms.ModelChoiceField(queryset=Service.objects.none(), required=False, empty_label="—")
    # Not max_length: a browser's maxlength cuts a long paste short without a word; this says why.
    description = forms.CharField(required=False)
    quantity = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        initial=Decimal("1"),
        min_value=Decimal("0.01"),
        error_messages={
            "min_value": "Enter a quantity greater than zero.",
            # Django's "no more than 12 digits in total" speaks of the column, not of the quantity.
            "max_digits": QUANTITY_TOO_LARGE,
            "max_whole_digits": QUANTITY_TOO_LARGE,
            "max_decimal_places": QUANTITY_PLACES,
        },
    )
    rate = _money_field(
        required=False,
        min_value=Decimal("0"),
        error_messages={"min_value": "The rate cannot be negative."},
    )
    # A choice among the rates the formset offers (by id), so a row costs no query of its own.
    tax_rate = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        label="Tax",
        error_messages={"invalid_choice": "Choose one of the tax rates offered."},
    )

    def __init__(self, *args, services, service_options=None, tax_rates=None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["service"]
        field.queryset = services
        if service_options is not None:
            # Rendered from a list the formset built once, not one services query per row.
            field.choices = service_options
        self.tax_rates: dict[int, TaxRate] = {rate.pk: rate for rate in (tax_rates or ())}
        self.fields["tax_rate"].choices = [
            ("", NO_TAX_RATE),
            *((pk, str(r)) for pk, r in self.tax_rates.items()),
        ]

    def clean_description(self) -> str:
        description = self.cleaned_data["description"]
        if len(description) > LINE_DESCRIPTION_MAX_LENGTH:
            raise ValidationError(
                LINE_DESCRIPTION_TOO_LONG.format(limit=LINE_DESCRIPTION_MAX_LENGTH, length=len(description))
            )
        return description

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("rate") is None and "rate" not in self.errors:
            service = cleaned.get("service")
            if service is None:
                self.add_error("rate", "Enter a rate.")
            else:
                cleaned["rate"] = service.default_rate
        return cleaned

    def to_data(self) -> InvoiceLineData:
        tax_rate = self.cleaned_data.get("tax_rate")
        return InvoiceLineData(
            service=self.cleaned_data["service"],
            description=self.cleaned_data["description"],
            quantity=self.cleaned_data["quantity"],
            rate=self.cleaned_data["rate"],
            tax_rate=self.tax_rates[tax_rate] if tax_rate is not None else None,
        )


class BaseInvoiceLineFormSet(forms.BaseFormSet):
    def __init__(self, *args, form_kwargs=None, **kwargs):
        form_kwargs = dict(form_kwargs or {})
        services = form_kwargs.get("services")
        if services is not None:
            empty = InvoiceLineForm.base_fields["service"].empty_label
            form_kwargs["service_options"] = [("", empty), *((s.pk, str(s)) for s in services)]
        form_kwargs["tax_rates"] = list(form_kwargs.get("tax_rates") or ())
        # No tax column for a firm without tax rates.
        self.offers_tax_rates = bool(form_kwargs["tax_rates"])
        super().__init__(*args, form_kwargs=form_kwargs, **kwargs)

    def kept_forms(self) -> list[InvoiceLineForm]:
        """The filled-in lines the user did not mark for deletion, in page order."""
        # Lines already on the invoice count even when untouched; blank extra rows do not.
        return [
            form
            for i, form in enumerate(self.forms)
            if (i < self.initial_form_count() or form.has_changed())
            and not (self.can_delete and self._should_delete_form(form))
        ]

    def to_data(self) -> list[InvoiceLineData]:
        return [form.to_data() for form in self.kept_forms()]


InvoiceLineFormSet = forms.formset_factory(
    InvoiceLineForm, formset=BaseInvoiceLineFormSet, extra=2, can_delete=True
)


def invoice_data(form: InvoiceForm, lines: BaseInvoiceLineFormSet) -> InvoiceData:
    return InvoiceData(
        account=form.cleaned_data["account"],
        number=form.cleaned_data["number"],
        issue_date=form.cleaned_data["issue_date"],
        due_date=form.cleaned_data["due_date"],
        memo=form.cleaned_data["memo"],
        lines=lines.to_data(),
        submission_token=form.cleaned_data["submission_token"],
        amounts_include_tax=form.cleaned_data.get("amounts_include_tax", False),
    )


def invoice_lines_initial(lines: Iterable) -> list[dict]:
    return [
        {
            "service": ln.service_id,
            "description": ln.description,
            "quantity": ln.quantity,
            "rate": ln.rate,
            "tax_rate": ln.tax_rate_id,
        }
        for ln in lines
    ]


def add_invoice_errors(form: InvoiceForm, lines: BaseInvoiceLineFormSet, error: ValidationError) -> None:
    """Header errors go onto the invoice form; "Line N: ..." errors onto the Nth kept line's row."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    errors = dict(error.error_dict)
    kept = lines.kept_forms()
    for message in ValidationError(errors.pop("lines", [])).messages:
        match = _LINE_ERROR.match(message)
        position = int(match["position"]) if match else 0
        if 1 <= position <= len(kept):
            kept[position - 1].add_error(None, match["message"][:1].upper() + match["message"][1:])
        else:
            lines.non_form_errors().append(message)
    if errors:
        add_service_errors(form, ValidationError(errors))


# Settings: region, currency and tax rates ----------------------------------------------------------


class FirmInvoicingForm(forms.Form):
    region = forms.ChoiceField(
        choices=Firm.Region.choices,
        help_text="Where the firm bills: in the United States sales tax is added to the amounts; in VAT and "
        "GST regions invoices may also be written with amounts that include tax.",
    )
    currency = forms.CharField(
        max_length=3,
        help_text="The three-letter ISO 4217 code of every amount of the firm (USD, GBP, CAD, AUD, EUR...).",
    )

    def __init__(self, *args, currency_locked: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if currency_locked:
            # Shown, not sent: the page says why it stays.
            self.fields["currency"].disabled = True

    def to_data(self) -> FirmSettingsData:
        return FirmSettingsData(region=self.cleaned_data["region"], currency=self.cleaned_data["currency"])


class TaxRateForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="As the rate is picked on invoice lines, e.g. VAT 20% or GST/PST BC."
    )


class TaxComponentForm(forms.Form):
    name = forms.CharField(required=False, max_length=100, label="Tax")
    percentage = forms.DecimalField(
        required=False,
        max_digits=7,
        decimal_places=4,
        label="Percentage",
        error_messages={
            "max_digits": "A percentage is at most 100.",
            "max_whole_digits": "A percentage is at most 100.",
            "max_decimal_places": "Use at most four decimal places (for example 8.875).",
        },
    )
    compound = forms.BooleanField(
        required=False, label="Compound", help_text="Charged on the amount plus the taxes above it."
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("percentage") is None and "percentage" not in self.errors and self.has_changed():
            self.add_error("percentage", "Enter the percentage, for example 20 or 8.875.")
        return cleaned


class BaseTaxComponentFormSet(forms.BaseFormSet):
    def kept_forms(self) -> list[TaxComponentForm]:
        """The filled-in taxes not marked for deletion, in page order (blank extra rows are ignored)."""
        return [
            form
            for i, form in enumerate(self.forms)
            if (i < self.initial_form_count() or form.has_changed())
            and not (self.can_delete and self._should_delete_form(form))
        ]


TaxComponentFormSet = forms.formset_factory(
    TaxComponentForm, formset=BaseTaxComponentFormSet, extra=2, can_delete=True, max_num=10
)


def tax_rate_data(
    form: TaxRateForm, components: BaseTaxComponentFormSet | None, *, rows: Sequence[dict] = ()
) -> TaxRateData:
    """The rate as entered; without ``components`` (a rate in use: only its name is on the page) its taxes
    are ``rows``, as ``tax_rate_initial`` gave them."""
    if components is not None:
        rows = [row.cleaned_data for row in components.kept_forms()]
    return TaxRateData(
        name=form.cleaned_data["name"],
        components=[
            TaxComponentData(name=row["name"], percentage=row["percentage"], compound=row["compound"])
            for row in rows
        ],
    )


def tax_rate_initial(tax_rate: TaxRate) -> tuple[dict, list[dict]]:
    return {"name": tax_rate.name}, [
        {"name": c.name, "percentage": Decimal(c.percentage_text), "compound": c.compound}
        for c in tax_rate.components.all()
    ]


def add_tax_rate_errors(
    form: TaxRateForm, components: BaseTaxComponentFormSet | None, error: ValidationError
) -> None:
    """ "Tax N: ..." errors onto the Nth kept tax's row; the other tax errors above the taxes (or above the
    form, when the page has no form for them)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    errors = dict(error.error_dict)
    kept = components.kept_forms() if components is not None else []
    for message in ValidationError(errors.pop("components", [])).messages:
        match = _TAX_ERROR.match(message)
        position = int(match["position"]) if match else 0
        if 1 <= position <= len(kept):
            kept[position - 1].add_error(None, match["message"][:1].upper() + match["message"][1:])
        elif components is not None:
            components.non_form_errors().append(message)
        else:
            form.add_error(None, message)
    if errors:
        add_service_errors(form, ValidationError(errors))


# Payments ----------------------------------------------------------------------------------------


class PaymentForm(forms.Form):
    date = forms.DateField(widget=DateInput())
    # No minimum here: the service says why a payment must be positive, next to this field.
    amount = _money_field()
    method = forms.ChoiceField(choices=Payment.Method.choices, initial=Payment.Method.CHECK)
    reference = forms.CharField(required=False, max_length=100, help_text="Check number, transfer id, ...")
    memo = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # One payment per page however often it is submitted (used by payment_create, ignored on edit).
    submission_token = _submission_token_field()


class AllocationForm(forms.Form):
    """One row per payable invoice of the account. The invoice is carried as a hidden id, checked
    against the invoices offered, so a row can never point at another account's or firm's invoice."""

    invoice = forms.TypedChoiceField(coerce=int, widget=forms.HiddenInput)
    amount = _money_field(required=False, label="Amount to apply")

    def __init__(self, *args, invoices: dict[int, Invoice], **kwargs):
        super().__init__(*args, **kwargs)
        self.invoices = invoices
        self.fields["invoice"].choices = [(pk, str(inv)) for pk, inv in invoices.items()]

    @property
    def offered_invoice(self) -> Invoice | None:
        """The invoice of this row, for display, also when the form is bound and invalid."""
        raw = self["invoice"].value()
        try:
            return self.invoices.get(int(raw))
        except (TypeError, ValueError):
            return None


class BaseAllocationFormSet(forms.BaseFormSet):
    def to_data(self) -> list[AllocationData]:
        return [
            AllocationData(invoice=form.offered_invoice, amount=form.cleaned_data["amount"])
            for form in self.forms
            if form.cleaned_data.get("amount") is not None
        ]


AllocationFormSet = forms.formset_factory(AllocationForm, formset=BaseAllocationFormSet, extra=0)


def payment_data(form: PaymentForm, allocations: BaseAllocationFormSet, *, account: Account) -> PaymentData:
    return PaymentData(
        account=account,
        date=form.cleaned_data["date"],
        amount=form.cleaned_data["amount"],
        method=form.cleaned_data["method"],
        reference=form.cleaned_data["reference"],
        memo=form.cleaned_data["memo"],
        allocations=allocations.to_data(),
        submission_token=form.cleaned_data["submission_token"],
    )


def _names_invoice(message: str, invoice: Invoice) -> bool:
    return message.startswith((f"Invoice {invoice.number} ", f"Invoice {invoice.number}:"))


def add_payment_errors(form: PaymentForm, allocations: BaseAllocationFormSet, error: ValidationError) -> None:
    """Errors naming an invoice ("Invoice INV-00012 has ...") go onto that invoice's row; the rest of
    the allocation errors (e.g. more allocated than paid) above the allocations table."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    errors = dict(error.error_dict)
    rows = [f for f in allocations.forms if f.offered_invoice is not None]
    for message in ValidationError(errors.pop("allocations", [])).messages:
        row = next((f for f in rows if _names_invoice(message, f.offered_invoice)), None)
        if row is not None:
            row.add_error("amount", message)
        else:
            allocations.non_form_errors().append(message)
    if errors:
        add_service_errors(form, ValidationError(errors))

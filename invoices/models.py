from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from accounts.models import Account
from qbsync.core.money import MoneyField
from qbsync.firms.models import Firm
from qbsync.firms.querysets import FirmScopedQuerySet

from . import tax

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")
not_negative = MinValueValidator(ZERO, message="Enter an amount that is not negative.")
positive = MinValueValidator(CENT, message="Enter an amount greater than zero.")


class Service(models.Model):
    """Something the firm bills for (bookkeeping, payroll, tax return); invoice lines may name one."""

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=100)
    default_rate = MoneyField(default=ZERO, validators=[not_negative])
    is_active = models.BooleanField("active", default=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "firm",
                Lower("name"),
                name="service_name_unique_per_firm_ci",
                violation_error_message="Another service of this firm already has this name.",
            ),
            models.CheckConstraint(condition=models.Q(default_rate__gte=0), name="service_rate_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class TaxRate(models.Model):
    """A tax rate the firm charges on invoice lines: one or more components (VAT 20 %; GST 5 % + PST 7 %),
    or none ("Exempt"). A rate used on an invoice keeps its components (archive it and create another), so
    every invoice keeps the tax it was issued with; archived rates are not offered for new lines."""

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="tax_rates")
    name = models.CharField(max_length=100)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "firm",
                Lower("name"),
                name="tax_rate_name_unique_per_firm_ci",
                violation_error_message="Another tax rate of this firm already has this name.",
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="tax_rate_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name

    def as_tax_rate(self) -> tax.Rate:
        """The rate as invoices/tax.py computes with it (its components: prefetch them for many rates)."""
        return tax.Rate(
            key=self.pk,
            name=self.name,
            components=tuple(component.as_tax_component() for component in self.components.all()),
        )

    @property
    def percentage(self) -> Decimal:
        return self.as_tax_rate().percentage


class TaxRateComponent(models.Model):
    """One tax of a rate. ``compound``: charged on the net plus the taxes of the components before it."""

    tax_rate = models.ForeignKey(TaxRate, on_delete=models.CASCADE, related_name="components")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=100)
    percentage = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        validators=[
            MinValueValidator(ZERO, message="A percentage cannot be negative."),
            MaxValueValidator(Decimal(100), message="A percentage cannot be more than 100."),
        ],
    )
    compound = models.BooleanField(
        default=False, help_text="Charged on the amount plus the taxes of the components before it."
    )

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(percentage__gte=0) & models.Q(percentage__lte=100),
                name="tax_component_percentage_0_to_100",
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="tax_component_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.as_tax_component().label

    def as_tax_component(self) -> tax.Component:
        return tax.Component(name=self.name, percentage=self.percentage, compound=self.compound)

    @property
    def percentage_text(self) -> str:
        """20, 8.875: without the column's trailing zeros."""
        return tax.percent_text(self.percentage)


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent"
        PARTIALLY_PAID = "partially_paid", "Partially paid"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    # Issued invoices are the ones a client owes on; drafts and voids take no payment.
    PAYABLE_STATUSES = (Status.SENT, Status.PARTIALLY_PAID, Status.PAID)

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="invoices")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=30)
    issue_date = models.DateField()
    due_date = models.DateField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    memo = models.TextField(blank=True)
    # The lines' amounts include tax (VAT and GST regions; never in the US, where tax is added on top).
    amounts_include_tax = models.BooleanField("Amounts include tax", default=False)
    # Kept by the invoice services from the lines (invoices/tax.py), in the same transaction as the lines:
    # subtotal without tax, the tax, and the total the client owes; subtotal + tax_total = total.
    subtotal = MoneyField(default=ZERO, editable=False)
    tax_total = MoneyField(default=ZERO, editable=False)
    total = MoneyField(default=ZERO, editable=False)
    amount_paid = MoneyField(default=ZERO, editable=False)
    # Bumped by the invoice services whenever what QuickBooks shows of the invoice changes.
    content_version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                "firm",
                Lower("number"),
                name="invoice_number_unique_per_firm_ci",
                violation_error_message="Another invoice of this firm already has this number.",
            ),
            models.CheckConstraint(condition=~models.Q(number=""), name="invoice_number_not_empty"),
            models.CheckConstraint(
                condition=models.Q(due_date__gte=models.F("issue_date")),
                name="invoice_due_not_before_issue",
                violation_error_message="The due date cannot be before the issue date.",
            ),
            models.CheckConstraint(condition=models.Q(total__gte=0), name="invoice_total_not_negative"),
            models.CheckConstraint(
                condition=models.Q(amount_paid__gte=0) & models.Q(amount_paid__lte=models.F("total")),
                name="invoice_paid_within_total",
            ),
            models.CheckConstraint(condition=models.Q(subtotal__gte=0), name="invoice_subtotal_not_negative"),
            models.CheckConstraint(condition=models.Q(tax_total__gte=0), name="invoice_tax_not_negative"),
            # subtotal + tax_total = total, to the cent. Written as "within half a cent": the columns hold
            # cents, so in PostgreSQL it is equality; SQLite (the tests) stores decimals as floating point,
            # where an exact sum is not always equal.
            models.CheckConstraint(
                condition=models.Q(total__gt=models.F("subtotal") + models.F("tax_total") - HALF_CENT)
                & models.Q(total__lt=models.F("subtotal") + models.F("tax_total") + HALF_CENT),
                name="invoice_total_is_subtotal_plus_tax",
            ),
        ]
        indexes = [models.Index(fields=["firm", "status", "issue_date"], name="invoice_firm_status_date")]

    def __str__(self) -> str:
        return self.number

    @property
    def balance(self) -> Decimal:
        return self.total - self.amount_paid

    @property
    def is_payable(self) -> bool:
        return self.status in self.PAYABLE_STATUSES

    def computed_tax(self) -> tax.TaxSummary:
        """Subtotal, tax and total worked out again from the lines as they are stored."""
        lines = self.lines.select_related("tax_rate").prefetch_related("tax_rate__components")
        return tax.invoice_tax((line.as_tax_line() for line in lines), self.amounts_include_tax)

    def computed_total(self) -> Decimal:
        return self.computed_tax().total


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    description = models.CharField(max_length=4000, blank=True)
    quantity = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(CENT, message="Enter a quantity greater than zero.")],
    )
    rate = MoneyField(validators=[not_negative])
    # quantity x rate, rounded half up to the cent; set by the invoice services. With tax when the
    # invoice's amounts include tax.
    amount = MoneyField(editable=False)
    # None: no tax on this line (unlike a rate at 0 % or "Exempt", which are rates all the same).
    tax_rate = models.ForeignKey(
        TaxRate, on_delete=models.PROTECT, null=True, blank=True, related_name="invoice_lines"
    )

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="invoice_line_quantity_positive"),
            models.CheckConstraint(condition=models.Q(rate__gte=0), name="invoice_line_rate_not_negative"),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="invoice_line_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(service__isnull=False) | ~models.Q(description=""),
                name="invoice_line_has_service_or_description",
            ),
        ]

    def __str__(self) -> str:
        return self.description or str(self.service)

    def as_tax_line(self) -> tax.Line:
        return tax.Line(amount=self.amount, rate=self.tax_rate.as_tax_rate() if self.tax_rate else None)


class Payment(models.Model):
    class Method(models.TextChoices):
        CHECK = "check", "Check"
        CASH = "cash", "Cash"
        CREDIT_CARD = "credit_card", "Credit card"
        BANK_TRANSFER = "bank_transfer", "Bank transfer (ACH)"
        OTHER = "other", "Other"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="payments")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payments")
    date = models.DateField()
    amount = MoneyField(validators=[positive])
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.CHECK)
    reference = models.CharField(max_length=100, blank=True, help_text="Check number, transfer id, ...")
    memo = models.TextField(blank=True)
    # Sum of the allocations, kept by the payment services.
    amount_allocated = MoneyField(default=ZERO, editable=False)
    # Bumped by the payment services whenever what QuickBooks shows of the payment changes.
    content_version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(amount_allocated__gte=0)
                & models.Q(amount_allocated__lte=models.F("amount")),
                name="payment_allocated_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["firm", "date"], name="payment_firm_date")]

    def __str__(self) -> str:
        return f"{self.amount} on {self.date}"

    @property
    def unapplied(self) -> Decimal:
        return self.amount - self.amount_allocated


class PaymentAllocation(models.Model):
    """The part of a payment applied to one invoice of the same account."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = MoneyField(validators=[positive])

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                "payment",
                "invoice",
                name="allocation_one_per_payment_invoice",
                violation_error_message="This invoice is listed twice; put its whole amount on one line.",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="allocation_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} to {self.invoice}"


class FormSubmission(models.Model):
    """The one-time token of a new-invoice or new-payment page, used up by the submit that saved it.

    A second submit of the same page (a double click, a resend, two tabs) finds its token here and is
    answered with the record the first made, instead of making another: the unique constraint decides,
    also between two submits at once."""

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64)
    invoice = models.ForeignKey(Invoice, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    payment = models.ForeignKey(Payment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint("firm", "token", name="form_submission_token_once_per_firm")]

    def __str__(self) -> str:
        return f"{self.token} ({self.created_at:%Y-%m-%d})"

"""Writes to invoices and payments. Each change is one transaction: an invoice with its lines, a payment
with its allocations, and the totals and statuses they imply.

Rows are locked FOR NO KEY UPDATE (deletes too, until their DELETE): a sync worker that holds the account's
sync lock checks its history rows' foreign keys to these rows at commit (a KEY SHARE lock), and a FOR UPDATE
held here while this change waits for that sync lock would deadlock with it.

Tax rates live here too (the firm's rates, their components, archiving): an invoice's tax is worked out by
invoices/tax.py from its lines' rates, in the transaction that writes the lines, and a rate in use keeps
its components so that every invoice keeps the tax it was issued with."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Account
from qbsync.core.money import AMOUNT_LIMIT, AMOUNT_TOO_LARGE, MONEY_MAX, money_sum, to_money
from qbsync.firms.models import Firm
from qbsync.firms.services import FirmSettingsData, firm_settings_update, firm_settings_validate
from qbsync.sync.kinds.accounts import account_sync_auto_safely
from qbsync.sync.kinds.invoices import invoice_delete_in_qbo, invoice_sync_on_change
from qbsync.sync.kinds.payments import payment_delete_in_qbo, payment_sync_on_change

from . import tax
from .models import (
    ZERO,
    FormSubmission,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    Service,
    TaxRate,
    TaxRateComponent,
)
from .selectors import firm_currency_locked, tax_rate_invoice_count

INVOICE_NUMBER_TAKEN = 'Invoice number "{number}" is already used by another invoice of this firm.'
INVOICE_NEEDS_LINES = "Add at least one line to the invoice."
INVOICE_DUE_BEFORE_ISSUE = "The due date cannot be before the issue date."
INVOICE_VOID_LOCKED = "A void invoice cannot be changed."
INVOICE_HAS_PAYMENTS = "Invoice {number} has payments applied to it. Remove them from the payments first."
INVOICE_TOTAL_BELOW_PAID = "The new total {total} is less than the {paid} already paid on this invoice."
PAYMENT_OVER_ALLOCATED = "The allocations add up to {allocated}, more than the payment of {amount}."
ALLOCATION_OVER_BALANCE = "Invoice {number} has {balance} left to pay; {amount} is more than that."
ALLOCATION_WRONG_ACCOUNT = "Invoice {number} belongs to another account."
ALLOCATION_NOT_PAYABLE = "Invoice {number} is {status}; only sent invoices can take payments."
ALLOCATION_DUPLICATE = "Invoice {number} is listed twice; put its whole amount on one line."
AMOUNT_NOT_POSITIVE = "Enter an amount greater than zero."
ALLOCATION_GONE = "Invoice {number} no longer exists; reload the page."
FORM_ALREADY_SUBMITTED_GONE = (
    "This page was already submitted, and the {record} it created has since been deleted. "
    "Open a new page to create another."
)
INVOICE_TOTAL_TOO_LARGE = "The invoice total {total:,} is too large: " + AMOUNT_LIMIT
INVOICE_INCLUSIVE_IN_US = (
    "In the United States sales tax is added to the amounts, so they cannot include tax. Untick "
    "“Amounts include tax”, or change the firm's region in Settings if it bills VAT or GST."
)
INVOICE_US_ONE_TAX_RATE = (
    "In the United States an invoice charges one sales tax rate (QuickBooks applies one rate to all its "
    "taxable lines): this one uses {names}. Give the taxable lines the same rate."
)
LINE_TAX_RATE_OTHER_FIRM = "Line {position}: choose a tax rate of this firm."
LINE_TAX_RATE_ARCHIVED = (
    "Line {position}: the tax rate “{name}” is archived; choose an active rate "
    "(or restore it in Settings > Tax rates)."
)
LINE_TAX_RATE_GONE = "Line {position}: its tax rate no longer exists; choose another."

TAX_RATE_NAME_MISSING = "Enter a name for the tax rate."
TAX_RATE_NAME_TOO_LONG = "Keep the name of the tax rate to 100 characters or fewer."
TAX_RATE_NAME_TAKEN = "This firm already has a tax rate named “{name}”."
TAX_COMPONENT_NAME_MISSING = "Tax {position}: enter its name, for example VAT, GST or PST."
TAX_COMPONENT_NAME_TOO_LONG = "Tax {position}: keep its name to 100 characters or fewer."
TAX_COMPONENT_NAME_TWICE = "Two taxes of this rate are named {name}; give each its own name."
TAX_COMPONENT_PERCENTAGE_RANGE = "Tax {position}: the percentage must be between 0 and 100."
TAX_COMPONENT_PERCENTAGE_PLACES = "Tax {position}: use at most four decimal places (for example 8.875)."
TAX_COMPONENT_FIRST_COMPOUND = (
    "Tax 1 cannot be compound: a compound tax is charged on the amount plus the taxes before it, and the "
    "first has none before it."
)
TAX_COMPONENTS_TOO_MANY = "A tax rate has at most {limit} taxes."
TAX_RATE_IN_USE_FIXED = (
    "“{name}” is used on {count}, so its taxes cannot change: those invoices keep the tax they "
    "were made with. Archive it and create a new rate for the new taxes."
)
TAX_RATE_IN_USE_DELETE = (
    "“{name}” is used on {count}, so it cannot be deleted. Archive it instead: it stays on those "
    "invoices and is no longer offered for new lines."
)
FIRM_CURRENCY_IN_USE = (
    "The currency stays {currency}: this firm already has invoices or payments, and their amounts would "
    "silently change meaning (100.00 {currency} would read 100.00 {new})."
)
TAX_COMPONENTS_MAX = 5
_PERCENTAGE_PLACES = Decimal("0.0001")


@dataclass(frozen=True, kw_only=True)
class InvoiceLineData:
    rate: Decimal
    quantity: Decimal = Decimal("1")
    description: str = ""
    service: Service | None = None
    # None: no tax on the line (a rate at 0 % or "Exempt" is a rate).
    tax_rate: TaxRate | None = None


@dataclass(frozen=True, kw_only=True)
class InvoiceData:
    account: Account
    number: str
    issue_date: date
    due_date: date
    lines: Sequence[InvoiceLineData]
    memo: str = ""
    # The page's one-time token (FormSubmission); blank: no protection against a second submit.
    submission_token: str = ""
    # The lines' amounts include tax (not in the US).
    amounts_include_tax: bool = False


@dataclass(frozen=True, kw_only=True)
class TaxComponentData:
    name: str
    percentage: Decimal
    compound: bool = False


@dataclass(frozen=True, kw_only=True)
class TaxRateData:
    name: str
    # In order; none for a rate such as "Exempt".
    components: Sequence[TaxComponentData] = ()


@dataclass(frozen=True, kw_only=True)
class AllocationData:
    invoice: Invoice
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class PaymentData:
    account: Account
    date: date
    amount: Decimal
    method: str = Payment.Method.CHECK
    reference: str = ""
    memo: str = ""
    allocations: Sequence[AllocationData] = ()
    submission_token: str = ""  # as InvoiceData's


def line_amount(*, quantity: Decimal, rate: Decimal) -> Decimal:
    """quantity x rate, rounded half up to the cent, as the client sees it on the invoice."""
    return to_money(Decimal(quantity) * Decimal(rate))


def invoice_data_tax(*, data: InvoiceData, rates: dict[int, TaxRate] | None = None) -> tax.TaxSummary:
    """The subtotal, tax and total ``data`` comes to (invoices/tax.py). ``rates``: the lines' rates by id
    as loaded from the database (with their components); by default the lines' own rate objects."""
    rates = rates or {}
    return tax.invoice_tax(
        (
            tax.Line(
                amount=line_amount(quantity=line.quantity, rate=line.rate),
                rate=rates.get(line.tax_rate.pk, line.tax_rate).as_tax_rate() if line.tax_rate else None,
            )
            for line in data.lines
        ),
        data.amounts_include_tax,
    )


def invoice_next_number(*, firm: Firm) -> str:
    taken = {n.upper() for n in Invoice.objects.for_firm(firm).values_list("number", flat=True)}
    n = len(taken) + 1
    while f"INV-{n:05d}" in taken:
        n += 1
    return f"INV-{n:05d}"


def _already_submitted(*, firm: Firm, token: str, record: str) -> Invoice | Payment | None:
    """What an earlier submit of this page's token created (``record``: "invoice" or "payment"), or
    None when the token is unused. Raises ValidationError when that record has since been deleted."""
    if not token:
        return None
    used = FormSubmission.objects.filter(firm=firm, token=token).select_related(record).first()
    if used is None:
        return None
    made = getattr(used, record)
    if made is None:
        raise ValidationError(FORM_ALREADY_SUBMITTED_GONE.format(record=record))
    return made


def _submission_claim(*, firm: Firm, token: str) -> FormSubmission | None:
    """Use the token up, first thing in the caller's transaction. A second submit at the same time waits
    on the unique constraint until this one commits, then fails with IntegrityError (the caller answers
    with this one's record), or goes ahead if this one rolled back."""
    return FormSubmission.objects.create(firm=firm, token=token) if token else None


def _submission_made(submission: FormSubmission | None, **made: Invoice | Payment) -> None:
    if submission is not None:
        FormSubmission.objects.filter(pk=submission.pk).update(**made)


def _account_activity(account: Account) -> None:
    """An issued invoice or a payment is the activity that starts an account's sync (the firm's rule)."""
    account_sync_auto_safely(account=account, event="activity")


def _invoice_changed(invoice: Invoice) -> None:
    """An issued invoice was created or changed: it is due to reach QuickBooks (when the firm syncs)."""
    invoice_sync_on_change(invoice=invoice)


def _payment_changed(payment: Payment) -> None:
    payment_sync_on_change(payment=payment)


# Invoices ----------------------------------------------------------------------------------------


def _invoice_tax_rates(data: InvoiceData) -> dict[int, TaxRate]:
    """The lines' tax rates as they are now, with their components. Inside a transaction they are locked
    (FOR NO KEY UPDATE, which a rate's change also takes), so the components the tax is worked out with
    are the ones the rate has at commit."""
    ids = sorted({line.tax_rate.pk for line in data.lines if line.tax_rate is not None})
    if not ids:
        return {}
    rates = TaxRate.objects.filter(pk__in=ids).order_by("pk")
    if transaction.get_connection().in_atomic_block:
        rates = rates.select_for_update(no_key=True)
    return {rate.pk: rate for rate in rates.prefetch_related("components")}


def _invoice_tax_errors(
    *, firm: Firm, data: InvoiceData, rates: dict[int, TaxRate], invoice: Invoice | None
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    kept = set()
    if invoice is not None:
        # An archived rate stays allowed on the invoice that already has it (editing an old invoice).
        kept = set(invoice.lines.exclude(tax_rate=None).values_list("tax_rate_id", flat=True))
    for position, line in enumerate(data.lines, start=1):
        if line.tax_rate is None:
            continue
        current = rates.get(line.tax_rate.pk)
        if current is None:
            errors.setdefault("lines", []).append(LINE_TAX_RATE_GONE.format(position=position))
        elif current.firm_id != firm.pk:
            errors.setdefault("lines", []).append(LINE_TAX_RATE_OTHER_FIRM.format(position=position))
        elif not current.is_active and current.pk not in kept:
            errors.setdefault("lines", []).append(
                LINE_TAX_RATE_ARCHIVED.format(position=position, name=current.name)
            )
    if data.amounts_include_tax and not firm.allows_tax_inclusive_amounts:
        errors["amounts_include_tax"] = [INVOICE_INCLUSIVE_IN_US]
    if firm.region == Firm.Region.US and not errors:
        taxing = {}
        for line in data.lines:
            if line.tax_rate is not None and rates[line.tax_rate.pk].as_tax_rate().percentage > 0:
                taxing.setdefault(line.tax_rate.pk, rates[line.tax_rate.pk].name)
        if len(taxing) > 1:
            names = " and ".join(f"“{name}”" for name in taxing.values())
            errors["lines"] = [INVOICE_US_ONE_TAX_RATE.format(names=names)]
    return errors


def invoice_validate(*, firm: Firm, data: InvoiceData, invoice: Invoice | None = None) -> str:
    """Check an invoice's header, lines and tax; returns the cleaned number. Forms and admin call it too."""
    exclude_id = invoice.pk if invoice else None
    errors: dict[str, list[str]] = {}
    number = (data.number or "").strip()
    if not number:
        errors.setdefault("number", []).append("Enter an invoice number.")
    elif len(number) > Invoice._meta.get_field("number").max_length:
        errors.setdefault("number", []).append("Keep the invoice number to 30 characters or fewer.")
    elif Invoice.objects.for_firm(firm).exclude(pk=exclude_id).filter(number__iexact=number).exists():
        errors.setdefault("number", []).append(INVOICE_NUMBER_TAKEN.format(number=number))
    if data.account.firm_id != firm.pk:
        errors.setdefault("account", []).append("Choose an account of this firm.")
    if data.due_date < data.issue_date:
        errors.setdefault("due_date", []).append(INVOICE_DUE_BEFORE_ISSUE)
    if not data.lines:
        errors.setdefault("lines", []).append(INVOICE_NEEDS_LINES)
    for position, line in enumerate(data.lines, start=1):
        if line.service is not None and line.service.firm_id != firm.pk:
            errors.setdefault("lines", []).append(f"Line {position}: choose a service of this firm.")
        if line.service is None and not line.description.strip():
            errors.setdefault("lines", []).append(
                f"Line {position}: choose a service or write a description."
            )
        if Decimal(line.quantity) <= 0:
            errors.setdefault("lines", []).append(f"Line {position}: the quantity must be greater than zero.")
        if Decimal(line.rate) < 0:
            errors.setdefault("lines", []).append(f"Line {position}: the rate cannot be negative.")
        elif line_amount(quantity=line.quantity, rate=line.rate) > MONEY_MAX:
            errors.setdefault("lines", []).append(f"Line {position}: {AMOUNT_TOO_LARGE}")
    rates = _invoice_tax_rates(data)
    for field, messages in _invoice_tax_errors(firm=firm, data=data, rates=rates, invoice=invoice).items():
        errors.setdefault(field, []).extend(messages)
    if not errors:
        new_total = invoice_data_tax(data=data, rates=rates).total
        if new_total > MONEY_MAX:
            errors["lines"] = [INVOICE_TOTAL_TOO_LARGE.format(total=new_total)]
    if invoice is not None and not errors:
        if new_total < invoice.amount_paid:
            errors["lines"] = [INVOICE_TOTAL_BELOW_PAID.format(total=new_total, paid=invoice.amount_paid)]
        if data.account.pk != invoice.account_id and invoice.allocations.exists():
            errors["account"] = [INVOICE_HAS_PAYMENTS.format(number=invoice.number)]
    if errors:
        raise ValidationError(errors)
    return number


def _invoice_write_lines(invoice: Invoice, data: InvoiceData) -> None:
    """Replace the lines and set the invoice's subtotal, tax and total from them (not saved here)."""
    invoice.lines.all().delete()
    rows = [
        InvoiceLine(
            invoice=invoice,
            position=position,
            service=line.service,
            description=line.description.strip(),
            quantity=Decimal(line.quantity).quantize(Decimal("0.01")),
            rate=to_money(line.rate),
            amount=line_amount(quantity=line.quantity, rate=line.rate),
            tax_rate=line.tax_rate,
        )
        for position, line in enumerate(data.lines, start=1)
    ]
    InvoiceLine.objects.bulk_create(rows)
    summary = invoice_data_tax(data=data, rates=_invoice_tax_rates(data))
    invoice.amounts_include_tax = data.amounts_include_tax
    invoice.subtotal = summary.subtotal
    invoice.tax_total = summary.tax_total
    invoice.total = summary.total


def _number_taken(number: str) -> ValidationError:
    # Lost a race with another request taking the same number.
    return ValidationError({"number": INVOICE_NUMBER_TAKEN.format(number=number)})


def invoice_create(*, firm: Firm, data: InvoiceData, status: str = Invoice.Status.DRAFT) -> Invoice:
    """Create an invoice with its lines in one transaction. ``status`` is draft or sent.

    A second submit of the same page (``data.submission_token``) returns the invoice the first made."""
    if status not in (Invoice.Status.DRAFT, Invoice.Status.SENT):
        raise ValidationError({"status": "A new invoice is a draft or sent."})
    token = data.submission_token
    if (earlier := _already_submitted(firm=firm, token=token, record="invoice")) is not None:
        return earlier
    number = invoice_validate(firm=firm, data=data)
    try:
        with transaction.atomic():
            submission = _submission_claim(firm=firm, token=token)
            invoice = Invoice.objects.create(
                firm=firm,
                account=data.account,
                number=number,
                issue_date=data.issue_date,
                due_date=data.due_date,
                memo=data.memo,
                status=status,
            )
            _invoice_write_lines(invoice, data)
            invoice.save(
                update_fields=["amounts_include_tax", "subtotal", "tax_total", "total", "updated_at"]
            )
            if status == Invoice.Status.SENT:
                _account_activity(invoice.account)
                _invoice_changed(invoice)
            _submission_made(submission, invoice=invoice)
    except IntegrityError as exc:
        if (earlier := _already_submitted(firm=firm, token=token, record="invoice")) is not None:
            return earlier
        raise _number_taken(number) from exc
    return invoice


def invoice_update(*, invoice: Invoice, data: InvoiceData) -> Invoice:
    """Replace an invoice's header, lines and tax. A paid amount never ends up above the new total; the
    content version moves on (what QuickBooks shows of it, its tax included, may have changed)."""
    try:
        with transaction.atomic():
            locked = Invoice.objects.select_for_update(no_key=True).get(pk=invoice.pk)
            if locked.status == Invoice.Status.VOID:
                raise ValidationError(INVOICE_VOID_LOCKED)
            number = invoice_validate(firm=locked.firm, data=data, invoice=locked)
            locked.account = data.account
            locked.number = number
            locked.issue_date = data.issue_date
            locked.due_date = data.due_date
            locked.memo = data.memo
            _invoice_write_lines(locked, data)
            locked.content_version += 1
            _invoice_set_paid_status(locked)
            locked.save()
            _invoice_changed(locked)
    except IntegrityError as exc:
        raise _number_taken(number) from exc
    return locked


def invoice_send(*, invoice: Invoice) -> Invoice:
    """Issue a draft: from now on the client owes it (and it becomes due to sync). The status change and
    the sync hooks commit together, so a sent invoice always has its push on the way."""
    with transaction.atomic():
        updated = Invoice.objects.filter(pk=invoice.pk, status=Invoice.Status.DRAFT).update(
            status=Invoice.Status.SENT
        )
        if not updated:
            raise ValidationError("Only a draft invoice can be sent.")
        invoice.refresh_from_db()
        _account_activity(invoice.account)
        _invoice_changed(invoice)
    return invoice


def invoice_void(*, invoice: Invoice) -> Invoice:
    with transaction.atomic():
        locked = Invoice.objects.select_for_update(no_key=True).get(pk=invoice.pk)
        if locked.status == Invoice.Status.VOID:
            return locked
        if locked.allocations.exists():
            raise ValidationError(INVOICE_HAS_PAYMENTS.format(number=locked.number))
        locked.status = Invoice.Status.VOID
        locked.content_version += 1
        locked.save(update_fields=["status", "content_version", "updated_at"])
        _invoice_changed(locked)
    return locked


def invoice_delete(*, invoice: Invoice) -> None:
    """Delete an invoice; one QuickBooks has is deleted there too (or voided, if QBO refuses)."""
    with transaction.atomic():
        locked = Invoice.objects.select_for_update(no_key=True).get(pk=invoice.pk)
        if locked.allocations.exists():
            raise ValidationError(INVOICE_HAS_PAYMENTS.format(number=locked.number))
        invoice_delete_in_qbo(invoice=locked)
        locked.delete()


def _invoice_set_paid_status(invoice: Invoice) -> None:
    """Sent, partially paid and paid follow the money; draft and void are left alone."""
    if invoice.status not in Invoice.PAYABLE_STATUSES:
        return
    if invoice.amount_paid <= ZERO:
        invoice.status = Invoice.Status.SENT
    elif invoice.amount_paid >= invoice.total:
        invoice.status = Invoice.Status.PAID
    else:
        invoice.status = Invoice.Status.PARTIALLY_PAID


def _invoices_refresh_paid(invoice_ids: set[int]) -> None:
    for invoice in Invoice.objects.filter(pk__in=invoice_ids).order_by("pk"):
        invoice.amount_paid = money_sum(invoice.allocations.values_list("amount", flat=True))
        _invoice_set_paid_status(invoice)
        invoice.save(update_fields=["amount_paid", "status", "updated_at"])


# Payments ----------------------------------------------------------------------------------------


def payment_validate(
    *, firm: Firm, data: PaymentData, payment: Payment | None = None
) -> tuple[Decimal, list[AllocationData]]:
    """Check a payment and its allocations; returns the amount and the non-zero allocations.

    Inside a transaction the invoices are locked, so the balances checked stay true until commit.
    """
    payment_id = payment.pk if payment else None
    errors: dict[str, list[str]] = {}
    if data.account.firm_id != firm.pk:
        errors.setdefault("account", []).append("Choose an account of this firm.")
    amount = to_money(data.amount)
    if amount <= ZERO:
        errors.setdefault("amount", []).append(AMOUNT_NOT_POSITIVE)
    elif amount > MONEY_MAX:
        errors.setdefault("amount", []).append(AMOUNT_TOO_LARGE)
    allocations = [a for a in data.allocations if a.amount is not None and to_money(a.amount) != ZERO]
    invoice_ids = [a.invoice.pk for a in allocations]
    candidates = Invoice.objects.filter(pk__in=invoice_ids).order_by("pk")
    if transaction.get_connection().in_atomic_block:
        candidates = candidates.select_for_update(no_key=True)
    invoices = {inv.pk: inv for inv in candidates}
    already_paid_elsewhere = {
        inv_id: money_sum(
            PaymentAllocation.objects.filter(invoice_id=inv_id)
            .exclude(payment_id=payment_id)
            .values_list("amount", flat=True)
        )
        for inv_id in invoices
    }
    seen: set[int] = set()
    for allocation in allocations:
        share = to_money(allocation.amount)
        problems = errors.setdefault("allocations", [])
        invoice = invoices.get(allocation.invoice.pk)
        if invoice is None:
            problems.append(ALLOCATION_GONE.format(number=allocation.invoice.number))
            continue
        if invoice.pk in seen:
            problems.append(ALLOCATION_DUPLICATE.format(number=invoice.number))
        seen.add(invoice.pk)
        if invoice.firm_id != firm.pk or invoice.account_id != data.account.pk:
            problems.append(ALLOCATION_WRONG_ACCOUNT.format(number=invoice.number))
        elif not invoice.is_payable:
            problems.append(
                ALLOCATION_NOT_PAYABLE.format(
                    number=invoice.number, status=invoice.get_status_display().lower()
                )
            )
        if share < ZERO:
            problems.append(f"Invoice {invoice.number}: {AMOUNT_NOT_POSITIVE.lower()}")
        balance = invoice.total - already_paid_elsewhere[invoice.pk]
        if share > balance:
            problems.append(
                ALLOCATION_OVER_BALANCE.format(number=invoice.number, balance=balance, amount=share)
            )
    allocated = money_sum(to_money(a.amount) for a in allocations)
    if allocated > amount > ZERO:
        errors.setdefault("allocations", []).append(
            PAYMENT_OVER_ALLOCATED.format(allocated=allocated, amount=amount)
        )
    errors = {field: messages for field, messages in errors.items() if messages}
    if errors:
        raise ValidationError(errors)
    return amount, allocations


def _payment_write_allocations(payment: Payment, allocations: list) -> set[int]:
    touched = set(payment.allocations.values_list("invoice_id", flat=True))
    payment.allocations.all().delete()
    PaymentAllocation.objects.bulk_create(
        PaymentAllocation(payment=payment, invoice=a.invoice, amount=to_money(a.amount)) for a in allocations
    )
    payment.amount_allocated = money_sum(to_money(a.amount) for a in allocations)
    return touched | {a.invoice.pk for a in allocations}


def payment_create(*, firm: Firm, data: PaymentData) -> Payment:
    """Record a payment and apply it to invoices of the same account; any rest stays unapplied.

    A second submit of the same page (``data.submission_token``) returns the payment the first made."""
    token = data.submission_token
    if (earlier := _already_submitted(firm=firm, token=token, record="payment")) is not None:
        return earlier
    try:
        with transaction.atomic():
            submission = _submission_claim(firm=firm, token=token)
            amount, allocations = payment_validate(firm=firm, data=data)
            payment = Payment.objects.create(
                firm=firm,
                account=data.account,
                date=data.date,
                amount=amount,
                method=data.method,
                reference=data.reference.strip(),
                memo=data.memo,
            )
            touched = _payment_write_allocations(payment, allocations)
            payment.save(update_fields=["amount_allocated", "updated_at"])
            _invoices_refresh_paid(touched)
            _account_activity(payment.account)
            _payment_changed(payment)
            _submission_made(submission, payment=payment)
    except IntegrityError:
        if (earlier := _already_submitted(firm=firm, token=token, record="payment")) is not None:
            return earlier
        raise
    return payment


def payment_update(*, payment: Payment, data: PaymentData) -> Payment:
    with transaction.atomic():
        locked = Payment.objects.select_for_update(no_key=True).get(pk=payment.pk)
        amount, allocations = payment_validate(firm=locked.firm, data=data, payment=locked)
        locked.account = data.account
        locked.date = data.date
        locked.amount = amount
        locked.method = data.method
        locked.reference = data.reference.strip()
        locked.memo = data.memo
        touched = _payment_write_allocations(locked, allocations)
        locked.content_version += 1
        locked.save()
        _invoices_refresh_paid(touched)
        _payment_changed(locked)
    return locked


def payment_delete(*, payment: Payment) -> None:
    """Delete a payment; the invoices it paid get their balances back (in QuickBooks too)."""
    with transaction.atomic():
        locked = Payment.objects.select_for_update(no_key=True).get(pk=payment.pk)
        touched = set(locked.allocations.values_list("invoice_id", flat=True))
        list(Invoice.objects.select_for_update(no_key=True).filter(pk__in=touched).order_by("pk"))
        payment_delete_in_qbo(payment=locked)
        locked.delete()
        _invoices_refresh_paid(touched)


# Tax rates ---------------------------------------------------------------------------------------


def _plural_invoices(count: int) -> str:
    return "1 invoice" if count == 1 else f"{count:,} invoices"


def tax_rate_validate(*, firm: Firm, data: TaxRateData, tax_rate: TaxRate | None = None) -> str:
    """Check a rate's name and taxes; returns the cleaned name. ValidationError by field ("name",
    "components"), each message saying what to do."""
    errors: dict[str, list[str]] = {}
    name = " ".join((data.name or "").split())
    if not name:
        errors["name"] = [TAX_RATE_NAME_MISSING]
    elif len(name) > TaxRate._meta.get_field("name").max_length:
        errors["name"] = [TAX_RATE_NAME_TOO_LONG]
    elif (
        TaxRate.objects.for_firm(firm)
        .exclude(pk=tax_rate.pk if tax_rate else None)
        .filter(name__iexact=name)
        .exists()
    ):
        errors["name"] = [TAX_RATE_NAME_TAKEN.format(name=name)]
    problems: list[str] = []
    if len(data.components) > TAX_COMPONENTS_MAX:
        problems.append(TAX_COMPONENTS_TOO_MANY.format(limit=TAX_COMPONENTS_MAX))
    seen: set[str] = set()
    for position, component in enumerate(data.components, start=1):
        component_name = " ".join((component.name or "").split())
        if not component_name:
            problems.append(TAX_COMPONENT_NAME_MISSING.format(position=position))
        elif len(component_name) > TaxRateComponent._meta.get_field("name").max_length:
            problems.append(TAX_COMPONENT_NAME_TOO_LONG.format(position=position))
        elif component_name.casefold() in seen:
            problems.append(TAX_COMPONENT_NAME_TWICE.format(name=component_name))
        seen.add(component_name.casefold())
        percentage = Decimal(component.percentage)
        if not Decimal(0) <= percentage <= Decimal(100):
            problems.append(TAX_COMPONENT_PERCENTAGE_RANGE.format(position=position))
        elif percentage != percentage.quantize(_PERCENTAGE_PLACES):
            problems.append(TAX_COMPONENT_PERCENTAGE_PLACES.format(position=position))
        if position == 1 and component.compound:
            problems.append(TAX_COMPONENT_FIRST_COMPOUND)
    if problems:
        errors["components"] = problems
    if errors:
        raise ValidationError(errors)
    return name


def _components_of(data: TaxRateData) -> list[tax.Component]:
    return [
        tax.Component(
            name=" ".join(c.name.split()),
            percentage=Decimal(c.percentage).quantize(_PERCENTAGE_PLACES),
            compound=c.compound,
        )
        for c in data.components
    ]


def _tax_rate_write_components(tax_rate: TaxRate, data: TaxRateData) -> None:
    tax_rate.components.all().delete()
    TaxRateComponent.objects.bulk_create(
        TaxRateComponent(
            tax_rate=tax_rate,
            position=position,
            name=component.name,
            percentage=component.percentage,
            compound=component.compound,
        )
        for position, component in enumerate(_components_of(data), start=1)
    )


def _tax_rate_name_taken(name: str) -> ValidationError:
    # Lost a race with another request taking the same name.
    return ValidationError({"name": TAX_RATE_NAME_TAKEN.format(name=name)})


def tax_rate_create(*, firm: Firm, data: TaxRateData) -> TaxRate:
    """Create a tax rate of the firm with its taxes (none: a rate such as "Exempt"), active."""
    name = tax_rate_validate(firm=firm, data=data)
    try:
        with transaction.atomic():
            tax_rate = TaxRate.objects.create(firm=firm, name=name)
            _tax_rate_write_components(tax_rate, data)
    except IntegrityError as exc:
        raise _tax_rate_name_taken(name) from exc
    return tax_rate


def tax_rate_update(*, tax_rate: TaxRate, data: TaxRateData) -> TaxRate:
    """Rename a rate and replace its taxes. A rate used on an invoice keeps its taxes (names, percentages,
    compounding, order): only its name may change.

    The rate is locked first (FOR NO KEY UPDATE, as an invoice using it takes while it works out its tax),
    so no invoice can be saved with the old taxes after the check that none uses it."""
    try:
        with transaction.atomic():
            locked = TaxRate.objects.select_for_update(no_key=True).get(pk=tax_rate.pk)
            name = tax_rate_validate(firm=locked.firm, data=data, tax_rate=locked)
            now = locked.as_tax_rate().components
            changed = tuple(_components_of(data)) != now
            if changed and (count := tax_rate_invoice_count(tax_rate=locked)):
                raise ValidationError(
                    {
                        "components": [
                            TAX_RATE_IN_USE_FIXED.format(name=locked.name, count=_plural_invoices(count))
                        ]
                    }
                )
            locked.name = name
            locked.save(update_fields=["name", "updated_at"])
            if changed:
                _tax_rate_write_components(locked, data)
    except IntegrityError as exc:
        raise _tax_rate_name_taken(data.name.strip()) from exc
    return locked


def tax_rate_archive(*, tax_rate: TaxRate) -> TaxRate:
    """No longer offered for new lines; invoices that have it keep it (also when they are edited)."""
    TaxRate.objects.filter(pk=tax_rate.pk).update(is_active=False)
    tax_rate.refresh_from_db()
    return tax_rate


def tax_rate_restore(*, tax_rate: TaxRate) -> TaxRate:
    """Offered for new lines again."""
    TaxRate.objects.filter(pk=tax_rate.pk).update(is_active=True)
    tax_rate.refresh_from_db()
    return tax_rate


def tax_rate_delete(*, tax_rate: TaxRate) -> None:
    """Delete a rate no invoice uses; one in use can only be archived."""
    with transaction.atomic():
        locked = TaxRate.objects.select_for_update(no_key=True).get(pk=tax_rate.pk)
        if count := tax_rate_invoice_count(tax_rate=locked):
            raise ValidationError(
                TAX_RATE_IN_USE_DELETE.format(name=locked.name, count=_plural_invoices(count))
            )
        locked.delete()


# The firm's invoicing settings -------------------------------------------------------------------


def firm_invoicing_update(*, firm: Firm, data: FirmSettingsData) -> Firm:
    """Set the firm's region and currency. The currency may change only while the firm has no invoice
    and no payment: an amount recorded in it would silently mean another amount.

    The firm row is locked FOR UPDATE when the currency changes, which waits for an invoice or payment
    being created (its foreign key holds a KEY SHARE lock on the firm) and holds new ones back until
    commit, so the check and the change cannot miss one."""
    cleaned = firm_settings_validate(data=data)
    with transaction.atomic():
        if cleaned.currency != firm.currency:
            locked = Firm.objects.select_for_update().get(pk=firm.pk)
            if cleaned.currency != locked.currency and firm_currency_locked(firm=locked):
                raise ValidationError(
                    {
                        "currency": [
                            FIRM_CURRENCY_IN_USE.format(currency=locked.currency, new=cleaned.currency)
                        ]
                    }
                )
        return firm_settings_update(firm=firm, data=cleaned)

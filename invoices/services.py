"""Writes to invoices and payments. Each change is one transaction: an invoice with its lines, a payment
with its allocations, and the totals and statuses they imply.

Rows are locked FOR NO KEY UPDATE (deletes too, until their DELETE): a sync worker that holds the account's
sync lock checks its history rows' foreign keys to these rows at commit (a KEY SHARE lock), and a FOR UPDATE
held here while this change waits for that sync lock would deadlock with it."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Account
from qbsync.core.money import AMOUNT_LIMIT, AMOUNT_TOO_LARGE, MONEY_MAX, money_sum, to_money
from qbsync.firms.models import Firm
from qbsync.sync.kinds.accounts import account_sync_auto_safely
from qbsync.sync.kinds.invoices import invoice_delete_in_qbo, invoice_sync_on_change
from qbsync.sync.kinds.payments import payment_delete_in_qbo, payment_sync_on_change

from .models import ZERO, FormSubmission, Invoice, InvoiceLine, Payment, PaymentAllocation, Service

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


@dataclass(frozen=True, kw_only=True)
class InvoiceLineData:
    rate: Decimal
    quantity: Decimal = Decimal("1")
    description: str = ""
    service: Service | None = None


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


def invoice_validate(*, firm: Firm, data: InvoiceData, invoice: Invoice | None = None) -> str:
    """Check an invoice's header and lines; returns the cleaned number. Forms and admin call it too."""
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
    if not errors:
        new_total = money_sum(line_amount(quantity=ln.quantity, rate=ln.rate) for ln in data.lines)
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


def _invoice_write_lines(invoice: Invoice, lines: Sequence[InvoiceLineData]) -> Decimal:
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
        )
        for position, line in enumerate(lines, start=1)
    ]
    InvoiceLine.objects.bulk_create(rows)
    return money_sum(row.amount for row in rows)


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
            invoice.total = _invoice_write_lines(invoice, data.lines)
            invoice.save(update_fields=["total", "updated_at"])
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
    """Replace an invoice's header and lines. A paid amount never ends up above the new total."""
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
            locked.total = _invoice_write_lines(locked, data.lines)
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

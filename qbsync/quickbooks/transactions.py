"""QBO invoices and payments: the create bodies we send, the records we read back, and the calls that
create, read, sparse-update, void, delete and find them.

Money is Decimal rounded to cents here and nowhere a float; the client encodes it as exact JSON numbers
and parses QBO's numbers back as Decimal. Requestids come from the caller, who must look an object up by
its marker before creating it again under a new requestid (a lost reply may have hidden a success).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .batch import batch_write
from .client import QboClient
from .errors import QboError
from .queries import qbo_literal
from .tax import InvoiceTaxDraft

DOC_NUMBER_MAX_LENGTH = 21
PAYMENT_REF_NUM_MAX_LENGTH = 21
logger = logging.getLogger(__name__)

LINE_DESCRIPTION_MAX_LENGTH = 4000
TRIMMED_MARK = "…"
CENT = Decimal("0.01")


class DocNumberTooLong(ValueError):
    """QBO refuses a DocNumber longer than 21 characters (2050); the caller explains it as Failed."""

    def __init__(self, doc_number: str, limit: int = DOC_NUMBER_MAX_LENGTH):
        super().__init__(
            f"Invoice number {doc_number!r} has {len(doc_number)} characters; "
            f"QuickBooks Online allows at most {limit}"
        )
        self.doc_number = doc_number
        self.limit = limit


def money(value: Decimal | int | str) -> Decimal:
    """An amount in cents (half up). Floats are refused: they have already lost the exact value."""
    if isinstance(value, float):
        raise TypeError(f"Amounts must be Decimal, not float ({value!r})")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(value: object) -> Decimal:
    """A number from QBO's JSON (already Decimal through the client; str() covers int and str too)."""
    return Decimal(str(value)) if value not in (None, "") else Decimal("0")


def _number(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"Quantities and prices must be Decimal, not float ({value!r})")
    return Decimal(value)


def _date(value: object) -> date | None:
    return date.fromisoformat(str(value)[:10]) if value else None


def _marker_pattern(marker: str) -> re.Pattern[str]:
    # A whole marker only: "qbsync:inv:12" must not match inside "qbsync:inv:123".
    return re.compile(r"(?<![\w:\-])" + re.escape(marker) + r"(?![\w:\-])")


def doc_number_for(our_number: str, *, custom_txn_numbers: bool) -> str | None:
    """The DocNumber to send: ours when the company numbers its own transactions, else None.

    With CustomTxnNumbers off QBO numbers invoices itself, and Intuit advises not sending one (it can
    create duplicates of QBO's own sequence).
    """
    if not custom_txn_numbers:
        return None
    if len(our_number) > DOC_NUMBER_MAX_LENGTH:
        raise DocNumberTooLong(our_number)
    return our_number


# Invoices -----------------------------------------------------------------------------------------------


def line_description(description: str, rate: str = "") -> tuple[str, bool]:
    """The line Description to send, within QBO's 4,000 characters (2050 beyond), and whether ours was
    trimmed (ending in "…") to make room: ours, then " (rate)" when the amount goes without them."""
    tail = f" ({rate})" if rate and description else rate
    if len(description) + len(tail) <= LINE_DESCRIPTION_MAX_LENGTH:
        return description + tail, False
    keep = LINE_DESCRIPTION_MAX_LENGTH - len(tail) - len(TRIMMED_MARK)
    return description[:keep] + TRIMMED_MARK + tail, True


@dataclass(frozen=True)
class InvoiceLineDraft:
    amount: Decimal
    quantity: Decimal
    unit_price: Decimal
    description: str
    item_id: str
    # The line's TaxCodeRef: TAX/NON in a US company with sales tax, a TaxCode id in a global one.
    tax_code_id: str = ""
    # Tax-inclusive invoices of global companies: the price with tax (``amount`` is then the net).
    tax_inclusive_amount: Decimal | None = None

    def _sent_description(self) -> tuple[str, bool]:
        quantity, unit_price = _number(self.quantity), _number(self.unit_price)
        if quantity * unit_price == money(self.amount):
            return line_description(self.description)
        return line_description(self.description, f"{quantity.normalize():f} x {unit_price:f}")

    @property
    def description_trimmed(self) -> bool:
        """Whether the Description sent is shorter than ours (QBO's limit); the caller may say so."""
        return self._sent_description()[1]

    def payload(self) -> dict[str, Any]:
        quantity, unit_price = _number(self.quantity), _number(self.unit_price)
        detail: dict[str, Any] = {"ItemRef": {"value": self.item_id}}
        if quantity * unit_price == money(self.amount):
            detail.update(Qty=quantity, UnitPrice=unit_price)
        # Otherwise Qty x UnitPrice is not whole cents, and QBO's tolerance when it checks Amount against it
        # (6070) is unknown: the amount goes alone, with the quantity and rate readable in the description.
        if self.tax_code_id:
            detail["TaxCodeRef"] = {"value": self.tax_code_id}
        if self.tax_inclusive_amount is not None:
            detail["TaxInclusiveAmt"] = money(self.tax_inclusive_amount)
        return {
            "DetailType": "SalesItemLineDetail",
            "Amount": money(self.amount),
            "Description": self._sent_description()[0],
            "SalesItemLineDetail": detail,
        }


@dataclass(frozen=True)
class InvoiceDraft:
    customer_id: str
    txn_date: date
    due_date: date
    lines: tuple[InvoiceLineDraft, ...]
    private_note: str = ""
    doc_number: str | None = None
    tax: InvoiceTaxDraft | None = None
    # Multicurrency companies: the invoice's currency (the customer's); None leaves it to QBO (home).
    currency: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "lines", tuple(self.lines))
        if not self.lines:
            raise ValueError("An invoice needs at least one line")
        if self.doc_number is not None and len(self.doc_number) > DOC_NUMBER_MAX_LENGTH:
            raise DocNumberTooLong(self.doc_number)

    @property
    def total(self) -> Decimal:
        """What the client was billed: the lines (their prices with tax when tax-inclusive) and the tax."""
        if self.tax is not None and self.tax.amounts_include_tax:
            return sum(
                (money(line.tax_inclusive_amount or line.amount) for line in self.lines), Decimal("0.00")
            )
        lines = sum((money(line.amount) for line in self.lines), Decimal("0.00"))
        return lines + (money(self.tax.total_tax) if self.tax is not None else Decimal("0.00"))

    @property
    def trimmed_lines(self) -> tuple[int, ...]:
        """Positions (from 1) of the lines whose description is sent trimmed to QBO's 4,000 characters."""
        return tuple(n for n, line in enumerate(self.lines, start=1) if line.description_trimmed)

    def payload(self) -> dict[str, Any]:
        if self.trimmed_lines:
            # Every send path (create, sparse update, batch) builds its body here; no client text logged.
            logger.warning(
                "Invoice lines %s: description sent trimmed to QuickBooks' %s characters",
                ", ".join(map(str, self.trimmed_lines)),
                LINE_DESCRIPTION_MAX_LENGTH,
            )
        body: dict[str, Any] = {
            "CustomerRef": {"value": self.customer_id},
            "TxnDate": self.txn_date.isoformat(),
            "DueDate": self.due_date.isoformat(),
            "PrivateNote": self.private_note,
            "Line": [line.payload() for line in self.lines],
        }
        if self.doc_number:
            body["DocNumber"] = self.doc_number
        if self.tax is not None:
            body.update(self.tax.payload())
        if self.currency:
            body["CurrencyRef"] = {"value": self.currency}
        return body


@dataclass(frozen=True)
class QboInvoice:
    id: str
    sync_token: str
    doc_number: str | None
    total: Decimal
    balance: Decimal
    txn_date: date | None
    customer_id: str
    private_note: str
    voided: bool | None
    # TxnTaxDetail.TotalTax: the tax QBO booked (0 when it says none).
    total_tax: Decimal = Decimal("0.00")
    currency: str = ""


def _voided(total: Decimal, private_note: str) -> bool | None:
    # QBO has no void flag: a void zeroes the amounts and prepends "Voided" to PrivateNote. A non-zero
    # total is certainly not void; a zero total without the note cannot be told apart from a 0.00 invoice.
    if total != 0:
        return False
    return True if private_note.startswith("Voided") else None


def invoice_from_json(row: dict[str, Any]) -> QboInvoice:
    total = _decimal(row.get("TotalAmt"))
    note = row.get("PrivateNote") or ""
    return QboInvoice(
        id=str(row["Id"]),
        sync_token=str(row.get("SyncToken", "0")),
        doc_number=row.get("DocNumber") or None,
        total=total,
        balance=_decimal(row.get("Balance")),
        txn_date=_date(row.get("TxnDate")),
        customer_id=str((row.get("CustomerRef") or {}).get("value", "")),
        private_note=note,
        voided=_voided(total, note),
        total_tax=_decimal((row.get("TxnTaxDetail") or {}).get("TotalTax")),
        currency=str((row.get("CurrencyRef") or {}).get("value") or ""),
    )


def create_invoice(client: QboClient, draft: InvoiceDraft, *, request_id: str) -> QboInvoice:
    return invoice_from_json(client.create("Invoice", draft.payload(), request_id=request_id))


def read_invoice(client: QboClient, invoice_id: str) -> QboInvoice:
    return invoice_from_json(client.read("Invoice", invoice_id))


def update_invoice_sparse(
    client: QboClient, invoice_id: str, sync_token: str, draft: InvoiceDraft, *, request_id: str
) -> QboInvoice:
    """Replace the header fields and every line (QBO replaces a Line array all-or-nothing).

    A DocNumber of None leaves QBO's number as it is. A stale ``sync_token`` raises QboStaleObjectError.
    """
    body = {"Id": invoice_id, "SyncToken": sync_token, **draft.payload()}
    return invoice_from_json(client.update("Invoice", body, request_id=request_id))


def void_invoice(client: QboClient, invoice_id: str, sync_token: str, *, request_id: str) -> QboInvoice:
    """Zero the invoice and keep it (and its DocNumber). QBO refuses it while payments are applied."""
    response = client.request(
        "POST",
        "invoice",
        body={"Id": invoice_id, "SyncToken": sync_token},
        params={"operation": "void"},
        request_id=request_id,
    )
    return invoice_from_json(response["Invoice"])


def delete_invoice(client: QboClient, invoice_id: str, sync_token: str, *, request_id: str) -> None:
    """A hard delete: later reads raise QboNotFoundError. Unlink its payments first."""
    client.request(
        "POST",
        "invoice",
        body={"Id": invoice_id, "SyncToken": sync_token},
        params={"operation": "delete"},
        request_id=request_id,
    )


def find_invoices_by_doc_number(client: QboClient, doc_number: str) -> list[QboInvoice]:
    rows = client.query_all("Invoice", where=(f"DocNumber = {qbo_literal(doc_number)}",))
    return [invoice_from_json(r) for r in rows]


def carries_marker(private_note: str, marker: str) -> bool:
    """Whether a PrivateNote carries ``marker`` as a whole word."""
    return bool(_marker_pattern(marker).search(private_note or ""))


def invoices_of_customer(client: QboClient, customer_id: str) -> list[QboInvoice]:
    """Every invoice of the customer (active or not), oldest Id first."""
    rows = client.query_all("Invoice", where=(f"CustomerRef = {qbo_literal(customer_id)}",))
    return sorted((invoice_from_json(r) for r in rows), key=lambda inv: (len(inv.id), inv.id))


def find_invoices_by_marker(client: QboClient, customer_id: str, marker: str) -> list[QboInvoice]:
    """The customer's invoices whose PrivateNote carries ``marker`` as a whole word, oldest Id first.

    PrivateNote is not filterable in QBO queries, so this reads the customer's invoices (CustomerRef is)
    and matches in Python. More than one result means an earlier create was repeated.
    """
    return [
        inv for inv in invoices_of_customer(client, customer_id) if carries_marker(inv.private_note, marker)
    ]


def move_invoice(
    client: QboClient, invoice_id: str, sync_token: str, customer_id: str, *, request_id: str
) -> QboInvoice:
    """Put the invoice under another customer (a sparse update of CustomerRef). QBO refuses it while
    payments are applied to the invoice: move them unapplied first (`move_payment_unapplied`)."""
    body = {"Id": invoice_id, "SyncToken": sync_token, "CustomerRef": {"value": customer_id}}
    return invoice_from_json(client.update("Invoice", body, request_id=request_id))


# Payments -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentApplication:
    invoice_id: str
    amount: Decimal

    def payload(self) -> dict[str, Any]:
        return {"Amount": money(self.amount), "LinkedTxn": [{"TxnId": self.invoice_id, "TxnType": "Invoice"}]}


@dataclass(frozen=True)
class PaymentDraft:
    customer_id: str
    txn_date: date
    total: Decimal
    reference: str = ""
    method_note: str = ""
    applications: tuple[PaymentApplication, ...] = field(default_factory=tuple)
    private_note: str = ""
    # Multicurrency companies: the payment's currency (its customer's); None leaves it to QBO (home).
    currency: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "applications", tuple(self.applications))
        if money(self.total) < 0:
            raise ValueError(f"A payment total cannot be negative ({self.total})")
        for application in self.applications:
            if money(application.amount) <= 0:
                raise ValueError(
                    f"An application to invoice {application.invoice_id} must be positive "
                    f"({application.amount})"
                )
        if self.applied > money(self.total):
            raise ValueError(
                f"Applications of {self.applied} exceed the payment's total of {money(self.total)}"
            )

    @property
    def applied(self) -> Decimal:
        return sum((money(a.amount) for a in self.applications), Decimal("0.00"))

    @property
    def unapplied(self) -> Decimal:
        """What QBO will report as UnappliedAmt: a credit on the customer."""
        return money(self.total) - self.applied

    def note(self) -> str:
        """PrivateNote: ours first (it carries the marker), then the full reference and the method."""
        parts = [self.private_note]
        if self.reference:
            parts.append(f"Reference: {self.reference}")
        if self.method_note:
            parts.append(f"Method: {self.method_note}")
        return "\n".join(p for p in parts if p)

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "CustomerRef": {"value": self.customer_id},
            "TotalAmt": money(self.total),
            "TxnDate": self.txn_date.isoformat(),
            "PrivateNote": self.note(),
            "Line": [a.payload() for a in self.applications],
        }
        if self.reference:
            # PaymentRefNum holds at most 21 characters in QBO; the full reference is in PrivateNote.
            body["PaymentRefNum"] = self.reference[:PAYMENT_REF_NUM_MAX_LENGTH]
        if self.currency:
            body["CurrencyRef"] = {"value": self.currency}
        return body


@dataclass(frozen=True)
class QboPayment:
    id: str
    sync_token: str
    total: Decimal
    unapplied: Decimal
    applications: tuple[tuple[str, Decimal], ...]
    txn_date: date | None
    customer_id: str
    reference: str
    private_note: str


def payment_from_json(row: dict[str, Any]) -> QboPayment:
    applications = tuple(
        (str(linked["TxnId"]), _decimal(line.get("Amount")))
        for line in row.get("Line") or []
        for linked in line.get("LinkedTxn") or []
        if linked.get("TxnType") == "Invoice"
    )
    return QboPayment(
        id=str(row["Id"]),
        sync_token=str(row.get("SyncToken", "0")),
        total=_decimal(row.get("TotalAmt")),
        unapplied=_decimal(row.get("UnappliedAmt")),
        applications=applications,
        txn_date=_date(row.get("TxnDate")),
        customer_id=str((row.get("CustomerRef") or {}).get("value", "")),
        reference=row.get("PaymentRefNum") or "",
        private_note=row.get("PrivateNote") or "",
    )


def create_payment(client: QboClient, draft: PaymentDraft, *, request_id: str) -> QboPayment:
    return payment_from_json(client.create("Payment", draft.payload(), request_id=request_id))


def read_payment(client: QboClient, payment_id: str) -> QboPayment:
    return payment_from_json(client.read("Payment", payment_id))


def update_payment_sparse(
    client: QboClient, payment_id: str, sync_token: str, draft: PaymentDraft, *, request_id: str
) -> QboPayment:
    """Replace the header fields and every application (QBO replaces Line all-or-nothing; an empty list
    unapplies the whole payment)."""
    body = {"Id": payment_id, "SyncToken": sync_token, **draft.payload()}
    return payment_from_json(client.update("Payment", body, request_id=request_id))


def void_payment(client: QboClient, payment_id: str, sync_token: str, *, request_id: str) -> QboPayment:
    """Zero the payment and keep it; its invoices get their balance back.

    QBO voids a payment through an update with include=void (not operation=void as for invoices).
    """
    response = client.request(
        "POST",
        "payment",
        body={"Id": payment_id, "SyncToken": sync_token, "sparse": True},
        params={"operation": "update", "include": "void"},
        request_id=request_id,
    )
    return payment_from_json(response["Payment"])


def delete_payment(client: QboClient, payment_id: str, sync_token: str, *, request_id: str) -> None:
    """A hard delete; the invoices it paid get their balance back."""
    client.request(
        "POST",
        "payment",
        body={"Id": payment_id, "SyncToken": sync_token},
        params={"operation": "delete"},
        request_id=request_id,
    )


def payments_of_customer(client: QboClient, customer_id: str) -> list[QboPayment]:
    """Every payment of the customer, oldest Id first."""
    rows = client.query_all("Payment", where=(f"CustomerRef = {qbo_literal(customer_id)}",))
    return sorted((payment_from_json(r) for r in rows), key=lambda p: (len(p.id), p.id))


def find_payments_by_marker(client: QboClient, customer_id: str, marker: str) -> list[QboPayment]:
    """The customer's payments whose PrivateNote carries ``marker`` as a whole word, oldest Id first.

    Like Invoice, Payment cannot be filtered on PrivateNote, so the customer's payments are read.
    """
    return [p for p in payments_of_customer(client, customer_id) if carries_marker(p.private_note, marker)]


def move_payment_unapplied(
    client: QboClient, payment_id: str, sync_token: str, customer_id: str, *, request_id: str
) -> QboPayment:
    """Put the payment under another customer, unapplied (QBO keeps a payment and the invoices it pays
    under one customer); the next full update applies it again."""
    body = {"Id": payment_id, "SyncToken": sync_token, "CustomerRef": {"value": customer_id}, "Line": []}
    return payment_from_json(client.update("Payment", body, request_id=request_id))


# Batches --------------------------------------------------------------------------------------------------


def batch_create_transactions(
    client: QboClient, drafts: list[tuple[str, InvoiceDraft | PaymentDraft]], *, request_id: str
) -> dict[str, QboInvoice | QboPayment | QboError]:
    """Create up to 30 invoices and payments in one batch request; each item succeeds or fails alone.

    A bId missing from the result was not answered: whether QBO created it is unknown, so the caller looks
    it up by its marker before creating it again.
    """
    operations = [
        (bid, "create", "Invoice" if isinstance(draft, InvoiceDraft) else "Payment", draft.payload())
        for bid, draft in drafts
    ]
    answers = batch_write(client, operations, request_id=request_id)
    results: dict[str, QboInvoice | QboPayment | QboError] = {}
    for bid, _operation, entity, _body in operations:
        answer = answers.get(bid)
        if answer is None:
            continue
        if isinstance(answer, QboError):
            results[bid] = answer
        else:
            results[bid] = invoice_from_json(answer) if entity == "Invoice" else payment_from_json(answer)
    return results

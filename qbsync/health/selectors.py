"""Reads of the health app: failed records grouped by cause, a record's sync history, notices and
reconciliation reports. Every read is scoped to one firm."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.urls import reverse

from qbsync.core.money import money_text
from qbsync.firms.models import Firm, User
from qbsync.quickbooks.customers import alternative_customer_name
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState

from .causes import CREATE, RELINK, CauseGuide, guide_for
from .models import Notification, ReconciliationReport

# Record kinds as the errors page names them.
ACCOUNT, INVOICE, PAYMENT = "account", "invoice", "payment"
KIND_ORDER = {ACCOUNT: 0, INVOICE: 1, PAYMENT: 2}


@dataclass(frozen=True)
class FailedRecord:
    kind: str
    pk: int
    label: str
    account_name: str
    url: str
    explanation: str
    code: str
    intuit_tid: str
    failed_at: object
    # Accounts only: the name a "create under another name" starts from.
    proposed_name: str = ""


@dataclass
class FailureGroup:
    cause: str
    guide: CauseGuide
    records: list[FailedRecord] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.records)

    @property
    def has_accounts(self) -> bool:
        return any(r.kind == ACCOUNT for r in self.records)

    def offers(self, action: str) -> bool:
        """Re-link and create act on accounts only."""
        if action in (RELINK, CREATE) and not self.has_accounts:
            return False
        return action in self.guide.actions


def _proposed_name(link: AccountSyncLink) -> str:
    return link.error_proposed_name or alternative_customer_name(link.account.name)


def failed_records(*, firm: Firm, cause: str | None = None) -> list[tuple[str, FailedRecord]]:
    """Every Failed account, invoice and payment of the firm as (cause, record); three queries."""
    rows: list[tuple[str, FailedRecord]] = []
    accounts = AccountSyncLink.objects.for_firm(firm).filter(state=SyncState.FAILED).select_related("account")
    invoices = (
        InvoiceSyncLink.objects.for_firm(firm)
        .filter(state=SyncState.FAILED)
        .select_related("invoice", "invoice__account")
    )
    payments = (
        PaymentSyncLink.objects.for_firm(firm)
        .filter(state=SyncState.FAILED)
        .select_related("payment", "payment__account")
    )
    if cause is not None:
        accounts, invoices, payments = (q.filter(error_cause=cause) for q in (accounts, invoices, payments))
    for link in accounts:
        rows.append(
            (
                link.error_cause,
                FailedRecord(
                    kind=ACCOUNT,
                    pk=link.account_id,
                    label=link.account.name,
                    account_name=link.account.name,
                    url=reverse("accounts:detail", args=[link.account_id]),
                    explanation=link.error_explanation,
                    code=link.error_code,
                    intuit_tid=link.error_intuit_tid,
                    failed_at=link.state_changed_at,
                    proposed_name=_proposed_name(link),
                ),
            )
        )
    for link in invoices:
        rows.append(
            (
                link.error_cause,
                FailedRecord(
                    kind=INVOICE,
                    pk=link.invoice_id,
                    label=f"Invoice {link.invoice.number}",
                    account_name=link.invoice.account.name,
                    url=reverse("invoices:detail", args=[link.invoice_id]),
                    explanation=link.error_explanation,
                    code=link.error_code,
                    intuit_tid=link.error_intuit_tid,
                    failed_at=link.state_changed_at,
                ),
            )
        )
    for link in payments:
        payment = link.payment
        amount = money_text(payment.amount, firm.currency)
        rows.append(
            (
                link.error_cause,
                FailedRecord(
                    kind=PAYMENT,
                    pk=link.payment_id,
                    label=f"Payment of {amount} on {payment.date.isoformat()}",
                    account_name=payment.account.name,
                    url=reverse("invoices:payment_detail", args=[link.payment_id]),
                    explanation=link.error_explanation,
                    code=link.error_code,
                    intuit_tid=link.error_intuit_tid,
                    failed_at=link.state_changed_at,
                ),
            )
        )
    return rows


def failure_groups(*, firm: Firm) -> list[FailureGroup]:
    """The firm's Failed records grouped by cause, largest group first, each with its explanation."""
    groups: dict[str, FailureGroup] = {}
    for cause, record in failed_records(firm=firm):
        if cause not in groups:
            groups[cause] = FailureGroup(cause, guide_for(cause, fallback_explanation=record.explanation))
        groups[cause].records.append(record)
    for group in groups.values():
        group.records.sort(key=lambda r: (KIND_ORDER[r.kind], r.account_name.lower(), r.label.lower()))
    return sorted(groups.values(), key=lambda g: (-g.count, g.guide.title))


# Notifications ---------------------------------------------------------------------------------------


def user_notifications(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.for_firm(user.firm_id).filter(recipient=user)


def notifications_for(*, user: User, limit: int = 100) -> list[Notification]:
    return list(user_notifications(user=user)[:limit])


def unread_notification_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, firm_id=user.firm_id, read_at__isnull=True).count()


# Reconciliation --------------------------------------------------------------------------------------


def latest_reconciliation(*, firm: Firm) -> ReconciliationReport | None:
    return ReconciliationReport.objects.for_firm(firm).first()


def reconciliation_history(*, firm: Firm, limit: int = 10) -> list[ReconciliationReport]:
    return list(ReconciliationReport.objects.for_firm(firm).defer("results")[:limit])

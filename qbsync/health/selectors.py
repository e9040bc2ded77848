"""Reads of the health app: failed records grouped by cause, a record's sync history, notices and
reconciliation reports. Every read is scoped to one firm."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.urls import reverse

from qbsync.firms.models import Firm, User
from qbsync.sync.engine.states import SyncState
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncEvent

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
    return link.error_proposed_name or f"{link.account.name} (client)"


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
        rows.append(
            (
                link.error_cause,
                FailedRecord(
                    kind=PAYMENT,
                    pk=link.payment_id,
                    label=f"Payment of {payment.amount} on {payment.date.isoformat()}",
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


# History --------------------------------------------------------------------------------------------

HISTORY_OUTCOMES = tuple(SyncEvent.Outcome.values)
HISTORY_LIMIT = 10
HISTORY_ALL_LIMIT = 200


@dataclass(frozen=True)
class HistoryFilter:
    """Which events a record's page shows: one outcome or all, the latest ten or up to 200."""

    outcome: str = ""
    show_all: bool = False

    @classmethod
    def from_query(cls, params) -> HistoryFilter:
        raw = params.get("history")
        return cls(outcome=raw if raw in HISTORY_OUTCOMES else "", show_all=params.get("history_all") == "1")

    @property
    def limit(self) -> int:
        return HISTORY_ALL_LIMIT if self.show_all else HISTORY_LIMIT

    def context(self) -> dict:
        return {"history_outcome": self.outcome, "history_all": self.show_all}


# The latest events of every outcome: what a record's page shows without a filter.
LATEST_HISTORY = HistoryFilter()


# Keys never shown in the timeline, whatever a service put in sent/received.
_SECRET_MARKERS = ("token", "secret", "password", "authorization", "cookie")


def _without_secrets(value):
    if isinstance(value, dict):
        return {
            k: ("(hidden)" if any(m in str(k).lower() for m in _SECRET_MARKERS) else _without_secrets(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def sync_history(
    *,
    firm: Firm | int,
    account=None,
    invoice=None,
    payment=None,
    history: HistoryFilter = LATEST_HISTORY,
) -> list[SyncEvent]:
    """A record's sync events, newest first, optionally only one outcome (success, failure or info).

    An account's history holds its invoices' and payments' events too. ``sent`` and ``received`` come back
    with secret-looking keys hidden.
    """
    events: QuerySet[SyncEvent] = SyncEvent.objects.for_firm(firm).select_related("actor")
    if account is not None:
        events = events.filter(account=account)
    if invoice is not None:
        events = events.filter(invoice=invoice)
    if payment is not None:
        events = events.filter(payment=payment)
    if history.outcome:
        events = events.filter(outcome=history.outcome)
    found = list(events.order_by("-created_at", "-id")[: history.limit])
    for event in found:
        event.sent = _without_secrets(event.sent)
        event.received = _without_secrets(event.received)
    return found


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

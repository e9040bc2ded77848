from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import BooleanField, Count, ExpressionWrapper, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account
from invoices.models import Service
from qbsync.firms.models import Firm
from qbsync.quickbooks.customers import customers_containing
from qbsync.quickbooks.records import CompanyPreferences

from .display import DISPLAY_ORDER, display_status
from .engine import metering
from .engine.client import connection_client
from .engine.company import currency_refusal, foreign_currency
from .engine.connection import is_usable
from .kinds.account_records import ACCOUNT_UNSYNCED_EVENT
from .models import (
    AccountSyncLink,
    BulkSyncItem,
    BulkSyncPlan,
    QuickBooksConnection,
    ServiceItemMapping,
    SyncEvent,
)
from .states import SyncState
from .work.bulk import awaiting_first_sync


def connection_for_firm(*, firm: Firm | None) -> QuickBooksConnection | None:
    if firm is None:
        return None
    return QuickBooksConnection.objects.for_firm(firm).select_related("connected_by").first()


def connection_needs_attention(*, firm: Firm | None) -> QuickBooksConnection | None:
    """The firm's connection when an owner has to act on it (for the firm-wide banner)."""
    if firm is None:
        return None
    return (
        QuickBooksConnection.objects.for_firm(firm)
        .filter(status=QuickBooksConnection.Status.NEEDS_RECONNECT)
        .only("status", "status_reason", "company_name", "realm_id")
        .first()
    )


# Account sync --------------------------------------------------------------------------------------

PICKER_PAGE_SIZE = 25


@dataclass(frozen=True)
class PickerRow:
    customer_id: str
    display_name: str
    linked_account_id: int | None
    linked_account_name: str


def account_sync_counts(*, firm: Firm, search: str = "") -> dict[str, int]:
    """How many of the firm's active accounts matching ``search`` (the list's search box) show each of the
    five statuses (one query)."""
    by_state = dict(
        Account.objects.for_firm(firm)
        .filter(is_active=True)
        .matching(search)
        .annotate(sync_state=Coalesce("sync_link__state", Value(SyncState.NOT_SYNCED)))
        .values("sync_state")
        .annotate(n=Count("pk"))
        .values_list("sync_state", "n")
    )
    counts = dict.fromkeys(DISPLAY_ORDER, 0)
    for state, n in by_state.items():
        counts[display_status(state)] += n
    return counts


@dataclass(frozen=True)
class PickerPage:
    """A page of the Sync page's customer picker: ``rows``, and what the whole search found."""

    rows: list[PickerRow]
    has_more: bool
    matches: int  # active customers whose name contains the term
    linked_elsewhere: int  # of those, linked to another account of the firm (listed after the others)

    @property
    def linkable(self) -> int:
        return self.matches - self.linked_elsewhere


def qbo_customer_search(
    *, firm: Firm, term: str, page: int = 1, account: Account | None = None
) -> PickerPage:
    """Active QBO customers whose name contains ``term``, a page at a time: those that can be linked first,
    then those linked to another account of the firm (``account``'s own customer counts as linkable), each
    in name order and marked with the account it is linked to. Reads QBO; raises QboError when it cannot."""
    connection = connection_for_firm(firm=firm)
    if not is_usable(connection):
        return PickerPage(rows=[], has_more=False, matches=0, linked_elsewhere=0)
    found = customers_containing(connection_client(connection), term=term)
    linked = {
        link.qbo_customer_id: link
        for link in AccountSyncLink.objects.for_firm(firm)
        .filter(qbo_customer_id__in=[c.id for c in found])
        .select_related("account")
    }
    rows = [
        PickerRow(
            customer_id=c.id,
            display_name=c.display_name,
            linked_account_id=linked[c.id].account_id if c.id in linked else None,
            linked_account_name=linked[c.id].account.name if c.id in linked else "",
        )
        for c in found
    ]
    own = account.pk if account is not None else None
    elsewhere = [r for r in rows if r.linked_account_id not in (None, own)]
    ordered = [r for r in rows if r.linked_account_id in (None, own)] + elsewhere
    start = (page - 1) * PICKER_PAGE_SIZE
    return PickerPage(
        rows=ordered[start : start + PICKER_PAGE_SIZE],
        has_more=len(ordered) > start + PICKER_PAGE_SIZE,
        matches=len(ordered),
        linked_elsewhere=len(elsewhere),
    )


# The first bulk sync -------------------------------------------------------------------------------


def with_first_sync_wait(accounts: QuerySet[Account], *, firm: Firm) -> QuerySet[Account]:
    """``accounts`` each annotated with ``awaiting_first_sync``: due to sync by the firm's rule, waiting
    for its first sync (their badge's tooltip says so)."""
    condition = awaiting_first_sync(firm)
    if condition is None:
        return accounts.annotate(awaiting_first_sync=Value(False, output_field=BooleanField()))
    return accounts.annotate(awaiting_first_sync=ExpressionWrapper(condition, output_field=BooleanField()))


def first_sync_due_count(*, firm: Firm) -> int:
    """How many accounts wait for the firm's first sync (0 once it has started, or when not connected)."""
    condition = awaiting_first_sync(firm)
    return Account.objects.for_firm(firm).filter(condition).count() if condition is not None else 0


def latest_bulk_plan(*, firm: Firm) -> BulkSyncPlan | None:
    return BulkSyncPlan.objects.for_firm(firm).first()


def bulk_plan_context(*, plan: BulkSyncPlan) -> dict:
    """What the plan page shows: the decisions grouped, and, once started, where each account is now."""
    items = list(plan.items.select_related("account", "account__sync_link").order_by("account__name"))
    groups = {
        decision: [i for i in items if i.decision == decision] for decision in BulkSyncItem.Decision.values
    }
    progress = dict.fromkeys(DISPLAY_ORDER, 0)
    if plan.state in (BulkSyncPlan.State.RUNNING, BulkSyncPlan.State.DONE):
        for item in items:
            link = getattr(item.account, "sync_link", None)
            progress[display_status(link.state if link else SyncState.NOT_SYNCED)] += 1
    return {
        "plan": plan,
        "matches": groups["match"],
        "creates": groups["create"],
        "conflicts": groups["conflict"],
        "progress": progress,
        "refresh": plan.state in (BulkSyncPlan.State.PREVIEWING, BulkSyncPlan.State.RUNNING),
    }


def service_item_rows(*, firm: Firm) -> list[tuple]:
    """Each active service of the firm with the QBO item id its lines carry ("" for the default item)."""
    mapped = dict(ServiceItemMapping.objects.for_firm(firm).values_list("service_id", "qbo_item_id"))
    return [
        (service, mapped.get(service.pk, ""))
        for service in Service.objects.for_firm(firm).filter(is_active=True)
    ]


# A record's sync history -----------------------------------------------------------------------------

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
        if invoice is None and payment is None:
            # The account's own line says it was unsynced; its records' echoes of it are on their pages.
            events = events.exclude(kind=ACCOUNT_UNSYNCED_EVENT)
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


@dataclass(frozen=True)
class QboCallsThisMonth:
    """What the firm's company cost in QBO calls this calendar month (UTC), and whether reads are paused."""

    month: str  # "December 2026"
    reads: int
    writes: int
    reads_paused: bool
    paused_until: date | None
    pause_reason: str


def reads_pause_notice() -> QboCallsThisMonth | None:
    """The deployment's reads are paused (the banner's words), or None."""
    row = metering.reads_paused()
    if row is None:
        return None
    return _calls(firm_id=None, paused=row)


def _calls(*, firm_id: int | None, paused) -> QboCallsThisMonth:
    now = timezone.now()
    counts = metering.firm_calls(firm_id) if firm_id is not None else {"reads": 0, "writes": 0}
    return QboCallsThisMonth(
        month=f"{now:%B %Y}",
        reads=counts["reads"],
        writes=counts["writes"],
        reads_paused=paused is not None,
        paused_until=metering.next_month_start(now).date() if paused is not None else None,
        pause_reason=metering.pause_reason_in_words(paused) if paused is not None else "",
    )


def qbo_calls_this_month(*, firm: Firm) -> QboCallsThisMonth:
    return _calls(firm_id=firm.pk, paused=metering.reads_paused())


@dataclass(frozen=True)
class CurrencyStatus:
    """The firm's currency against the connected company's, in words for the QuickBooks page."""

    words: str
    # Invoices and payments cannot sync as things stand: said plainly, as an alert.
    blocked: bool


def connection_currency_status(*, connection, firm: Firm) -> CurrencyStatus | None:
    """None until the company's preferences were read (at connect)."""
    if connection is None or not connection.company_preferences:
        return None
    preferences = CompanyPreferences.from_dict(connection.company_preferences)
    ours, home = firm.currency.upper(), preferences.home_currency
    # The decisions are the push's own (engine/company.py); this only words them.
    if currency_refusal(preferences, ours) is not None:
        return CurrencyStatus(
            f"The company keeps its books in {home}, and this firm's amounts are in {ours}: invoices "
            f"and payments do not sync (QuickBooks would book them as {home}) until multicurrency is turned "
            "on in QuickBooks Online (its Advanced settings, Currency; it cannot be turned off again). "
            "Customers sync.",
            True,
        )
    if foreign_currency(preferences, ours):
        return CurrencyStatus(
            f"The company's home currency is {home} and multicurrency is on: this firm's customers, invoices "
            f"and payments go in {ours}, at QuickBooks' exchange rate.",
            False,
        )
    return CurrencyStatus(f"{ours}, the company's home currency: amounts go as they are.", False)

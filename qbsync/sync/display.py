"""How a record's QuickBooks status looks to people, for every record kind: the five statuses (and "Not
connected"), their order, the badge, and each kind's tooltip rule. Pure Python over loaded rows: no query.

Accounts, invoices and payments show their status through this module only; their pages and the
status poll (``qbsync.sync.status_views``) build badges here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.utils.text import slugify

from .states import SyncState

if TYPE_CHECKING:
    from accounts.models import Account
    from invoices.models import Invoice, Payment

    from .models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink


class DisplayStatus(StrEnum):
    """The five statuses people see."""

    SYNCED = "Synced"
    SYNCING = "Syncing"
    FAILED = "Failed"
    NOT_SYNCED = "Not synced"
    SKIPPED = "Skipped"


# Shown instead of the status while the firm has no connection: nothing syncs, whatever the link says.
NOT_CONNECTED = "Not connected"

# Internal states map onto the five statuses.
DISPLAY_STATUS = {
    SyncState.NOT_SYNCED: DisplayStatus.NOT_SYNCED,
    SyncState.QUEUED: DisplayStatus.SYNCING,
    SyncState.SYNCING: DisplayStatus.SYNCING,
    SyncState.SYNCED: DisplayStatus.SYNCED,
    SyncState.FAILED: DisplayStatus.FAILED,
    SyncState.SKIPPED: DisplayStatus.SKIPPED,
}
# The order of the filters and counts on the lists.
DISPLAY_ORDER = [
    DisplayStatus.SYNCED,
    DisplayStatus.SYNCING,
    DisplayStatus.FAILED,
    DisplayStatus.NOT_SYNCED,
    DisplayStatus.SKIPPED,
]


def display_status(state: str) -> DisplayStatus:
    return DISPLAY_STATUS[SyncState(state)]


def shown_as_filter(status: str) -> Q:
    """The records (of any kind with a ``sync_link``) shown as ``status``: "Syncing" covers queued and
    syncing, and "Not synced" includes records never synced, which have no link."""
    states = [state for state, shown in DISPLAY_STATUS.items() if shown == status]
    shown = Q(sync_link__state__in=states)
    if SyncState.NOT_SYNCED in states:
        shown |= Q(sync_link__isnull=True)
    return shown


def sync_link_of(
    record: Account | Invoice | Payment,
) -> AccountSyncLink | InvoiceSyncLink | PaymentSyncLink | None:
    # Loaded with select_related("sync_link"): no query, and None when the record was never synced.
    return getattr(record, "sync_link", None)


@dataclass(frozen=True)
class Badge:
    """A record's QuickBooks status: one of the five statuses (or "Not connected"), its tooltip, and for an
    invoice its QBO number once synced."""

    label: str
    tooltip: str
    qbo_doc_number: str = ""

    @property
    def slug(self) -> str:
        return slugify(self.label)


def _badge(
    link: AccountSyncLink | InvoiceSyncLink | PaymentSyncLink | None,
    *,
    connected: bool,
    tooltip: Callable[[Any], str],
    not_connected_tooltip: str,
    qbo_doc_number: str = "",
) -> Badge:
    """The badge of a record whose link is ``link`` (None: never synced); ``tooltip`` is its kind's rule."""
    if not connected:
        return Badge(NOT_CONNECTED, not_connected_tooltip)
    shown = display_status(link.state if link is not None else SyncState.NOT_SYNCED)
    return Badge(shown, tooltip(link), qbo_doc_number)


def _not_connected_tooltip(noun: str) -> str:
    return f"QuickBooks Online is not connected yet, so this {noun} is not synced."


# Accounts -------------------------------------------------------------------------------------------

ACCOUNT_NOT_CONNECTED_TOOLTIP = _not_connected_tooltip("account")
ACCOUNT_TOOLTIPS = {
    DisplayStatus.SYNCED: "This account is successfully synced.",
    DisplayStatus.NOT_SYNCED: (
        "This account is not synced. You can sync it from the Info tab. If it was Synced before, it may have "
        "been deleted from QuickBooks Online; sync it again to create a new customer."
    ),
    DisplayStatus.SKIPPED: "You skipped sync for this account. Resync it from the Info tab, if needed.",
    DisplayStatus.FAILED: "There is a sync issue with this account: {reason}",
    # As the help page words it.
    DisplayStatus.SYNCING: "This account is being synced. This process takes time.",
}


def account_tooltip(state: str, reason: str = "") -> str:
    shown = display_status(state)
    if shown == DisplayStatus.NOT_SYNCED and reason:
        # Lost in QBO (deleted, made inactive): the reason replaces the generic guess.
        return f"This account is not synced. {reason}"
    return ACCOUNT_TOOLTIPS[shown].format(reason=reason or "see the account's Info tab.")


WAITING_FOR_FIRST_SYNC = (
    "This account is not synced yet: it waits for the firm's first sync to QuickBooks, which an owner or "
    "admin starts from Settings > Integrations > QuickBooks after reviewing it."
)


def account_badge(account: Account, *, connected: bool) -> Badge:
    """``account`` may carry ``awaiting_first_sync`` (see selectors.with_first_sync_wait)."""
    badge = _badge(
        sync_link_of(account),
        connected=connected,
        tooltip=_account_link_tooltip,
        not_connected_tooltip=ACCOUNT_NOT_CONNECTED_TOOLTIP,
    )
    if (
        connected
        and getattr(account, "awaiting_first_sync", False)
        and badge.label == DisplayStatus.NOT_SYNCED
    ):
        return Badge(badge.label, WAITING_FOR_FIRST_SYNC)
    return badge


def _account_link_tooltip(link: AccountSyncLink | None) -> str:
    if link is None:
        return account_tooltip(SyncState.NOT_SYNCED)
    return account_tooltip(link.state, link.error_explanation)


# Invoices and payments: one rule, as they share their link's fields ---------------------------------


def _transaction_tooltips(noun: str) -> dict[DisplayStatus, str]:
    return {
        DisplayStatus.SYNCED: f"This {noun} is successfully synced.",
        DisplayStatus.NOT_SYNCED: (
            f"This {noun} is not synced. If it was Synced before, it may have been deleted from "
            "QuickBooks Online."
        ),
        DisplayStatus.SKIPPED: f"This {noun} is not synced: {{reason}}.",
        DisplayStatus.FAILED: f"There is a sync issue with this {noun}: {{reason}}",
        DisplayStatus.SYNCING: f"This {noun} is being synced. This takes a moment.",
    }


WAITS_FOR_ITS_ACCOUNT = (
    "This {noun} is not synced: its account is not synced. It goes to QuickBooks once the account does."
)
INVOICE_NOT_CONNECTED_TOOLTIP = _not_connected_tooltip("invoice")
INVOICE_TOOLTIPS = _transaction_tooltips("invoice")
# The payment page shows the reason beside the status as well as in its tooltip; the rule is the invoice's.
PAYMENT_NOT_CONNECTED_TOOLTIP = _not_connected_tooltip("payment")
PAYMENT_TOOLTIPS = _transaction_tooltips("payment")


def _transaction_tooltip(
    link: InvoiceSyncLink | PaymentSyncLink | None, *, noun: str, tooltips: dict[DisplayStatus, str]
) -> str:
    if link is None:
        return tooltips[DisplayStatus.NOT_SYNCED]
    shown = display_status(link.state)
    if link.waits_for_its_account:
        return WAITS_FOR_ITS_ACCOUNT.format(noun=noun)
    if shown == DisplayStatus.SKIPPED:
        reason = link.skip_reason.strip().rstrip(".")
        return tooltips[shown].format(reason=reason) if reason else f"This {noun} is not synced."
    if shown == DisplayStatus.FAILED:
        return tooltips[shown].format(reason=link.error_explanation or f"see the {noun}'s page.")
    if shown == DisplayStatus.SYNCING and link.waiting_reason:
        return f"{tooltips[shown]} ({link.waiting_reason})"
    return tooltips[shown]


def invoice_tooltip(link: InvoiceSyncLink | None) -> str:
    """The tooltip for an invoice's status; ``link`` None is an invoice never synced."""
    return _transaction_tooltip(link, noun="invoice", tooltips=INVOICE_TOOLTIPS)


def payment_tooltip(link: PaymentSyncLink | None) -> str:
    """The tooltip for a payment's status; ``link`` None is a payment never synced."""
    return _transaction_tooltip(link, noun="payment", tooltips=PAYMENT_TOOLTIPS)


def invoice_badge(invoice: Invoice, *, connected: bool) -> Badge:
    link = sync_link_of(invoice)
    synced = link is not None and link.state == SyncState.SYNCED
    return _badge(
        link,
        connected=connected,
        tooltip=invoice_tooltip,
        not_connected_tooltip=INVOICE_NOT_CONNECTED_TOOLTIP,
        qbo_doc_number=link.qbo_doc_number if synced else "",
    )


def payment_badge(payment: Payment, *, connected: bool) -> Badge:
    return _badge(
        sync_link_of(payment),
        connected=connected,
        tooltip=payment_tooltip,
        not_connected_tooltip=PAYMENT_NOT_CONNECTED_TOOLTIP,
    )

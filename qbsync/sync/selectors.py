from dataclasses import dataclass

from django.db.models import Count, Value
from django.db.models.functions import Coalesce

from accounts.models import Account
from invoices.models import Service
from qbsync.firms.models import Firm
from qbsync.quickbooks.customers import search_customers

from .display import DISPLAY_ORDER, display_status
from .engine.client import connection_client
from .engine.connection import is_usable
from .engine.states import SyncState
from .models import (
    AccountSyncLink,
    BulkSyncItem,
    BulkSyncPlan,
    QuickBooksConnection,
    ServiceItemMapping,
)


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


def account_sync_counts(*, firm: Firm) -> dict[str, int]:
    """How many of the firm's active accounts show each of the five statuses (one query)."""
    by_state = dict(
        Account.objects.for_firm(firm)
        .filter(is_active=True)
        .annotate(sync_state=Coalesce("sync_link__state", Value(SyncState.NOT_SYNCED)))
        .values("sync_state")
        .annotate(n=Count("pk"))
        .values_list("sync_state", "n")
    )
    counts = dict.fromkeys(DISPLAY_ORDER, 0)
    for state, n in by_state.items():
        counts[display_status(state)] += n
    return counts


def qbo_customer_search(*, firm: Firm, term: str, page: int = 1) -> tuple[list[PickerRow], bool]:
    """Active QBO customers whose name contains ``term``, a page at a time, each marked with the account
    it is already linked to (if any). Reads QBO; raises QboError when it cannot."""
    connection = connection_for_firm(firm=firm)
    if not is_usable(connection):
        return [], False
    found, has_more = search_customers(
        connection_client(connection),
        term=term,
        start_position=(page - 1) * PICKER_PAGE_SIZE + 1,
        page_size=PICKER_PAGE_SIZE,
    )
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
    return rows, has_more


# The first bulk sync -------------------------------------------------------------------------------


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

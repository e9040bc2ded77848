"""Every record's link to a QuickBooks object, forgotten at once when a firm starts over with another
company."""

from django.utils import timezone

from ..engine.transitions import error_fields_cleared, transition_all
from ..models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncEvent, SyncOutbox
from ..states import SyncAction, SyncState


def clear_all_links(*, firm_id: int) -> int:
    """Forget all of a firm's links to the old company (nothing is deleted in QuickBooks). Returns how many
    accounts were linked or on their way; they become Not synced, Skipped ones stay skipped."""
    now = timezone.now()
    affected = list(
        AccountSyncLink.objects.filter(firm_id=firm_id)
        .exclude(state__in=[SyncState.NOT_SYNCED, SyncState.SKIPPED], qbo_customer_id="")
        .values_list("pk", "account_id")
    )
    transition_all(
        AccountSyncLink.objects.filter(firm_id=firm_id).exclude(state=SyncState.SKIPPED),
        SyncAction.RESET,
        now=now,
        qbo_customer_id="",
        qbo_display_name="",
        qbo_current_name="",
        link_method="",
        linked_by=None,
        linked_at=None,
        previous_customer_id="",
        next_attempt_at=None,
        **error_fields_cleared(AccountSyncLink),
    )
    AccountSyncLink.objects.filter(firm_id=firm_id, state=SyncState.SKIPPED).update(
        qbo_customer_id="", previous_customer_id="", updated_at=now
    )
    # Invoices and payments of the old company are unknown to the new one: they sync afresh when their
    # accounts link there; pending deletes in the old company are dropped.
    for model, qbo_field in ((InvoiceSyncLink, "qbo_invoice_id"), (PaymentSyncLink, "qbo_payment_id")):
        transition_all(
            model.objects.filter(firm_id=firm_id),
            SyncAction.RESET,
            now=now,
            qbo_sync_token="",
            pushed_version=0,
            waiting_reason="",
            skip_reason="",
            next_attempt_at=None,
            **error_fields_cleared(model),
            **{qbo_field: ""},
        )
    SyncOutbox.objects.filter(firm_id=firm_id, state=SyncOutbox.State.PENDING).update(
        state=SyncOutbox.State.FAILED,
        result="Dropped: the firm started over with another QuickBooks company.",
    )
    SyncEvent.objects.bulk_create(
        SyncEvent(
            firm_id=firm_id,
            account_id=account_id,
            kind="links_cleared",
            trigger="user",
            message="The firm connected another QuickBooks company; the link to the old company was cleared.",
        )
        for _, account_id in affected
    )
    return len(affected)

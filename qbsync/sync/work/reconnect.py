"""After the owner reconnects the same company: what waited for the connection goes now. Records that
failed only for the connection ask again (as their explanation promised), accounts the firm's rule would
have synced meanwhile ask now, and what changed while calls could not go out is pushed."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from invoices.models import Invoice, Payment

from ..engine.causes import FailureCause
from ..engine.connection import firm_connection, is_usable
from ..engine.errors import SyncRequestError
from ..kinds.account_records import account_history_request
from ..kinds.accounts import account_sync_request
from ..kinds.invoices import invoice_sync_on_change
from ..kinds.payments import payment_sync_on_change
from ..models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from ..states import SyncState
from .bulk import NEVER_ASKED, bulk_sync_due_accounts, first_sync_has_run

logger = logging.getLogger(__name__)


def sync_resume_after_reconnect(*, firm_id: int) -> int:
    """Both, in one transaction; returns how many records were asked to sync."""
    with transaction.atomic():
        return (
            links_retry_after_reconnect(firm_id=firm_id)
            + accounts_request_missed_by_the_rule(firm_id=firm_id)
            + transactions_resume_after_reconnect(firm_id=firm_id)
        )


def links_retry_after_reconnect(*, firm_id: int) -> int:
    """Records that failed only because the connection needed reconnecting ask again by themselves, as
    their explanation promised: accounts repeat their last request, invoices and payments sync again."""
    retried = 0
    failed = {"firm_id": firm_id, "state": SyncState.FAILED, "error_cause": FailureCause.CONNECTION}
    for link in AccountSyncLink.objects.filter(**failed).select_related("account"):
        try:
            account_sync_request(
                account=link.account,
                mode=link.request_mode,
                customer_id=link.requested_customer_id,
                display_name=link.requested_display_name,
                trigger="reconnect",
            )
            retried += 1
        except (SyncRequestError, ValidationError) as exc:
            logger.info("Account link %s not retried after reconnecting: %s", link.pk, exc)
    for invoice in Invoice.objects.filter(sync_link__in=InvoiceSyncLink.objects.filter(**failed)):
        retried += invoice_sync_on_change(invoice=invoice) is not None
    for payment in Payment.objects.filter(sync_link__in=PaymentSyncLink.objects.filter(**failed)):
        retried += payment_sync_on_change(payment=payment) is not None
    return retried


def accounts_request_missed_by_the_rule(*, firm_id: int) -> int:
    """Accounts that got their first invoice or payment (or, when the rule is every account, were made)
    while calls could not go out found no usable connection, so the firm's rule never asked for them: it
    asks now. Before the firm's first sync has run, they are left to its preview, which lists them.
    Accounts a person decided about (skipped, or lost in QBO after a sync) are left alone."""
    connection = firm_connection(firm_id)
    if not is_usable(connection):
        return 0
    started = (
        first_sync_has_run(firm_id)
        or AccountSyncLink.objects.filter(firm_id=firm_id, state=SyncState.SYNCED).exists()
    )
    if not started:
        return 0
    asked = 0
    for account in bulk_sync_due_accounts(firm=connection.firm, connection=connection).filter(NEVER_ASKED):
        try:
            account_sync_request(account=account, trigger="auto")
            asked += 1
        except (SyncRequestError, ValidationError) as exc:
            logger.info("Account %s not requested after reconnecting: %s", account.pk, exc)
    return asked


def transactions_resume_after_reconnect(*, firm_id: int) -> int:
    """The firm reconnected: what changed while the connection did not work reaches QBO now. Issued
    invoices and payments of synced accounts that never asked to sync (the change found no usable
    connection) go as a first sync; synced ones changed meanwhile push their change. Returns how many."""

    count = 0
    synced_accounts = AccountSyncLink.objects.filter(firm_id=firm_id, state=SyncState.SYNCED)
    for account_id in synced_accounts.values_list("account_id", flat=True):
        count += account_history_request(account_id=account_id)
    stale_invoices = InvoiceSyncLink.objects.filter(firm_id=firm_id, state=SyncState.SYNCED).exclude(
        pushed_version=F("invoice__content_version")
    )
    for invoice in Invoice.objects.filter(sync_link__in=stale_invoices):
        invoice_sync_on_change(invoice=invoice)
        count += 1
    stale_payments = PaymentSyncLink.objects.filter(firm_id=firm_id, state=SyncState.SYNCED).exclude(
        pushed_version=F("payment__content_version")
    )
    for payment in Payment.objects.filter(sync_link__in=stale_payments):
        payment_sync_on_change(payment=payment)
        count += 1
    return count

"""The fixes the errors page offers, as calls of the sync services: retry one Failed record or a whole
cause, create an account's customer under another name, skip a record. The sync services own every
transition; these only choose what to ask them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from accounts.models import Account
from invoices.models import Invoice, Payment
from qbsync.firms.models import Firm, User
from qbsync.sync.engine.errors import SyncRequestError
from qbsync.sync.kinds.accounts import account_sync_request, account_sync_skip
from qbsync.sync.kinds.invoices import invoice_sync_again, invoice_sync_skip
from qbsync.sync.kinds.payments import payment_sync_again, payment_sync_skip
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState

from ..causes import RETRY, guide_for
from ..selectors import ACCOUNT, INVOICE, PAYMENT

logger = logging.getLogger(__name__)

NOT_FAILED = "This record is not Failed any more; reload the page to see where it is now."


class FixRefused(Exception):
    """The fix cannot be applied; the message says why, for the person who asked."""


@dataclass
class GroupRetryResult:
    requested: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (record, why)


def _failed_account_link(account: Account) -> AccountSyncLink:
    link = AccountSyncLink.objects.filter(account=account, state=SyncState.FAILED).first()
    if link is None:
        raise FixRefused(NOT_FAILED)
    return link


def account_retry(*, account: Account, actor: User | None, trigger: str = "user") -> AccountSyncLink:
    """Ask again exactly what the failed request asked (by name, the chosen customer, or the new name)."""
    link = _failed_account_link(account)
    try:
        return account_sync_request(
            account=account,
            actor=actor,
            mode=link.request_mode,
            customer_id=link.requested_customer_id,
            display_name=link.requested_display_name,
            trigger=trigger,
        )
    except (SyncRequestError, ValidationError) as exc:
        raise FixRefused(_reason(exc)) from exc


def account_create_under_name(*, account: Account, actor: User, display_name: str) -> AccountSyncLink:
    """Create the account's QuickBooks customer under ``display_name`` and link it."""
    _failed_account_link(account)
    try:
        return account_sync_request(
            account=account, actor=actor, mode=AccountSyncLink.RequestMode.CREATE, display_name=display_name
        )
    except (SyncRequestError, ValidationError) as exc:
        raise FixRefused(_reason(exc)) from exc


def invoice_retry(*, invoice: Invoice, actor: User | None) -> None:
    if not InvoiceSyncLink.objects.filter(invoice=invoice, state=SyncState.FAILED).exists():
        raise FixRefused(NOT_FAILED)
    try:
        invoice_sync_again(invoice=invoice, actor=actor)
    except SyncRequestError as exc:
        raise FixRefused(str(exc)) from exc


def payment_retry(*, payment: Payment, actor: User | None) -> None:
    if not PaymentSyncLink.objects.filter(payment=payment, state=SyncState.FAILED).exists():
        raise FixRefused(NOT_FAILED)
    try:
        payment_sync_again(payment=payment, actor=actor)
    except SyncRequestError as exc:
        raise FixRefused(str(exc)) from exc


def record_skip(*, kind: str, record, actor: User) -> None:
    """Stop syncing the Failed record; nothing changes in QuickBooks."""
    model, lookup = {
        ACCOUNT: (AccountSyncLink, "account"),
        INVOICE: (InvoiceSyncLink, "invoice"),
        PAYMENT: (PaymentSyncLink, "payment"),
    }[kind]
    if not model.objects.filter(**{lookup: record, "state": SyncState.FAILED}).exists():
        raise FixRefused(NOT_FAILED)
    skip = {ACCOUNT: account_sync_skip, INVOICE: invoice_sync_skip, PAYMENT: payment_sync_skip}[kind]
    try:
        skip(**{lookup: record, "actor": actor})
    except SyncRequestError as exc:
        raise FixRefused(str(exc)) from exc


def failed_group_retry(*, firm: Firm, cause: str, actor: User | None) -> GroupRetryResult:
    """Retry every Failed account, invoice and payment of the firm whose cause is ``cause``.

    Accounts go first so that their invoices and payments, retried after, wait for them rather than fail.
    A record that cannot be asked now is listed with the reason; the others are asked anyway.
    """
    if RETRY not in guide_for(cause).actions:
        raise FixRefused(f"{guide_for(cause).title}: retrying would fail the same way; use the fix offered.")
    result = GroupRetryResult()
    accounts = AccountSyncLink.objects.for_firm(firm).filter(state=SyncState.FAILED, error_cause=cause)
    invoices = InvoiceSyncLink.objects.for_firm(firm).filter(state=SyncState.FAILED, error_cause=cause)
    payments = PaymentSyncLink.objects.for_firm(firm).filter(state=SyncState.FAILED, error_cause=cause)
    attempts = (
        [
            (link.account.name, account_retry, {"account": link.account})
            for link in accounts.select_related("account")
        ]
        + [
            (f"Invoice {link.invoice.number}", invoice_retry, {"invoice": link.invoice})
            for link in invoices.select_related("invoice")
        ]
        + [
            (f"Payment of {link.payment.amount}", payment_retry, {"payment": link.payment})
            for link in payments.select_related("payment")
        ]
    )
    for label, retry, kwargs in attempts:
        try:
            retry(actor=actor, **kwargs)
        except FixRefused as exc:
            result.refused.append((label, str(exc)))
        else:
            result.requested += 1
    logger.info("Group retry of %s for firm %s: %s", cause, firm.pk, result)
    return result


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)

"""How a record's QuickBooks status looks to people: the five statuses, the badge and each kind's tooltip."""

import pytest

from invoices.models import Payment
from qbsync.sync.display import (
    ACCOUNT_TOOLTIPS,
    DISPLAY_STATUS,
    INVOICE_TOOLTIPS,
    NOT_CONNECTED,
    PAYMENT_NOT_CONNECTED_TOOLTIP,
    PAYMENT_TOOLTIPS,
    account_tooltip,
    display_status,
    invoice_tooltip,
    payment_badge,
    payment_tooltip,
)
from qbsync.sync.models import InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState

S = SyncState


def test_people_see_exactly_five_statuses():
    assert set(DISPLAY_STATUS.values()) == {"Synced", "Not synced", "Skipped", "Failed", "Syncing"}
    assert display_status(S.QUEUED) == display_status(S.SYNCING) == "Syncing"


def test_tooltips_are_the_product_texts_and_failed_names_the_reason():
    assert account_tooltip(S.SYNCED) == "This account is successfully synced."
    assert account_tooltip(S.SYNCING) == "This account is being synced. This process takes time."
    assert (
        account_tooltip(S.SKIPPED)
        == "You skipped sync for this account. Resync it from the Info tab, if needed."
    )
    assert account_tooltip(S.NOT_SYNCED).startswith(
        "This account is not synced. You can sync it from the Info tab."
    )
    assert account_tooltip(S.FAILED, "QBO has a vendor named Staples.") == (
        "There is a sync issue with this account: QBO has a vendor named Staples."
    )
    assert set(ACCOUNT_TOOLTIPS) == set(DISPLAY_STATUS.values())


@pytest.mark.parametrize(
    "fields",
    [
        {"state": S.SYNCED},
        {"state": S.NOT_SYNCED},
        {"state": S.SKIPPED, "skip_reason": "its account is not synced"},
        {"state": S.SKIPPED},
        {"state": S.FAILED, "error_explanation": "QBO refused the amount."},
        {"state": S.FAILED},
        {"state": S.QUEUED},
        {"state": S.QUEUED, "waiting_reason": "waiting for the account to sync"},
    ],
)
def test_a_payment_follows_the_invoice_rule_with_its_own_noun(fields):
    as_invoice = invoice_tooltip(InvoiceSyncLink(**fields))

    assert payment_tooltip(PaymentSyncLink(**fields)) == as_invoice.replace("invoice", "payment")


def test_payment_texts_and_a_payment_never_synced():
    assert set(PAYMENT_TOOLTIPS) == set(INVOICE_TOOLTIPS) == set(DISPLAY_STATUS.values())
    assert (
        payment_tooltip(None)
        == PAYMENT_TOOLTIPS["Not synced"]
        == (
            "This payment is not synced. If it was Synced before, it may have been deleted from "
            "QuickBooks Online."
        )
    )


def _payment(link: PaymentSyncLink | None = None) -> Payment:
    """A payment as the pages load it: with its ``sync_link`` already there, or none when never synced."""
    payment = Payment()
    if link is not None:
        payment.sync_link = link
    return payment


def test_payment_badge_shows_the_status_or_not_connected():
    skipped = payment_badge(_payment(PaymentSyncLink(state=S.SKIPPED, skip_reason="x")), connected=True)
    never = payment_badge(_payment(), connected=True)
    offline = payment_badge(_payment(PaymentSyncLink(state=S.SYNCED)), connected=False)

    assert (skipped.label, skipped.slug, skipped.tooltip) == (
        "Skipped",
        "skipped",
        "This payment is not synced: x.",
    )
    assert (never.label, never.slug) == ("Not synced", "not-synced")
    assert (offline.label, offline.tooltip) == (NOT_CONNECTED, PAYMENT_NOT_CONNECTED_TOOLTIP)
    assert skipped.qbo_doc_number == never.qbo_doc_number == ""

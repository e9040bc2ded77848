from decimal import Decimal

import pytest

from accounts.selectors import account_choices, account_list, account_sync_status_list
from invoices.models import Invoice
from qbsync.sync.models import AccountSyncLink
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db


def test_account_list_shows_only_the_firms_active_accounts(firm, other_firm):
    mine = AccountFactory(firm=firm, name="Acme")
    AccountFactory(firm=firm, name="Old Co", is_active=False)
    AccountFactory(firm=other_firm, name="Acme elsewhere")

    assert list(account_list(firm=firm)) == [mine]


def test_account_list_archived_lists_only_archived(firm):
    AccountFactory(firm=firm, name="Acme")
    old = AccountFactory(firm=firm, name="Old Co", is_active=False)

    assert list(account_list(firm=firm, archived=True)) == [old]
    assert {a.name for a in account_list(firm=firm, archived=None)} == {"Acme", "Old Co"}


@pytest.mark.parametrize("search", ["bright", "BRIGHT", "ledger@bright", "555-0199"])
def test_account_list_searches_name_email_and_phone(firm, search):
    hit = AccountFactory(firm=firm, name="Bright Ledger LLC", email="ledger@bright.test", phone="555-0199")
    AccountFactory(firm=firm, name="Acme", email="ap@acme.test", phone="555-0100")

    assert list(account_list(firm=firm, search=search)) == [hit]


def test_account_list_orders_by_name(firm):
    for name in ["Zeta", "Alpha", "Mid"]:
        AccountFactory(firm=firm, name=name)

    assert [a.name for a in account_list(firm=firm)] == ["Alpha", "Mid", "Zeta"]


def test_open_balance_sums_issued_invoices_minus_payments(firm):
    account = AccountFactory(firm=firm)
    sent = make_invoice(account=account, amounts=("100.00", "50.25"))
    make_invoice(account=account, amounts=("40.00",))
    make_invoice(account=account, amounts=("999.00",), status=Invoice.Status.DRAFT)
    make_payment(account=account, amount="60.00", allocations={sent: "60.00"})
    AccountFactory(firm=firm, name="No invoices")

    balances = {a.name: a.open_balance for a in account_list(firm=firm)}

    # 150.25 + 40.00 issued, 60.00 paid; drafts are not owed.
    assert balances[account.name] == Decimal("130.25")
    assert balances["No invoices"] == Decimal("0.00")


def test_open_balance_leaves_out_void_invoices(firm):
    account = AccountFactory(firm=firm)
    make_invoice(account=account, amounts=("70.00",), status=Invoice.Status.SENT)
    voided = make_invoice(account=account, amounts=("30.00",))
    Invoice.objects.filter(pk=voided.pk).update(status=Invoice.Status.VOID)

    assert account_list(firm=firm).get(pk=account.pk).open_balance == Decimal("70.00")


def test_account_choices_adds_the_archived_current_account(firm, other_firm):
    active = AccountFactory(firm=firm, name="Active")
    archived = AccountFactory(firm=firm, name="Archived", is_active=False)
    AccountFactory(firm=other_firm, name="Elsewhere")

    assert list(account_choices(firm=firm)) == [active]
    assert list(account_choices(firm=firm, include=archived)) == [active, archived]


def _link(account, state):
    return AccountSyncLink.objects.create(firm=account.firm, account=account, state=state)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Synced", ["Synced"]),
        ("Syncing", ["Queued", "Working"]),
        ("Failed", ["Failed"]),
        ("Not synced", ["Lost", "Never"]),
        ("Skipped", ["Skipped"]),
        ("", ["Failed", "Lost", "Never", "Queued", "Skipped", "Synced", "Working"]),
    ],
)
def test_account_list_filters_by_sync_status(firm, status, expected):
    AccountFactory(firm=firm, name="Never")
    for name, state in [
        ("Synced", SyncState.SYNCED),
        ("Queued", SyncState.QUEUED),
        ("Working", SyncState.SYNCING),
        ("Failed", SyncState.FAILED),
        ("Lost", SyncState.NOT_SYNCED),
        ("Skipped", SyncState.SKIPPED),
    ]:
        _link(AccountFactory(firm=firm, name=name), state)

    assert [a.name for a in account_list(firm=firm, sync_status=status)] == expected


def test_account_sync_status_list_leaves_out_other_firms(firm, other_firm, django_assert_num_queries):
    mine = AccountFactory(firm=firm)
    _link(mine, SyncState.QUEUED)
    bare = AccountFactory(firm=firm)
    theirs = AccountFactory(firm=other_firm)

    # Whether the firm's first sync is due (the rows' tooltips), then the accounts with their links.
    with django_assert_num_queries(2):
        found = account_sync_status_list(firm=firm, ids=[mine.pk, bare.pk, theirs.pk])
        states = [getattr(a, "sync_link", None) and a.sync_link.state for a in found]

    assert [a.pk for a in found] == [mine.pk, bare.pk]
    assert states == ["queued", None]

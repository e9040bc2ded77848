"""The spine's only writer of a link's state: compare-and-set by the table, one link or a set of links."""

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from qbsync.sync.engine.transitions import error_fields_cleared, transition, transition_all, transition_each
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncAction, SyncState
from tests.factories import AccountFactory, make_invoice, make_payment

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture
def links(firm):
    """An account, an invoice and a payment link of one firm, each Synced."""
    account = AccountFactory(firm=firm)
    invoice = make_invoice(account=account)
    payment = make_payment(account=account, allocations={invoice: "100.00"})
    return [
        AccountSyncLink.objects.create(firm=firm, account=account, state=SyncState.SYNCED),
        InvoiceSyncLink.objects.create(firm=firm, invoice=invoice, state=SyncState.SYNCED),
        PaymentSyncLink.objects.create(firm=firm, payment=payment, state=SyncState.SYNCED),
    ]


def test_a_move_the_table_allows_happens_with_its_fields(links):
    for link in links:
        assert transition(link, SyncAction.REQUEST, attempts=3)
        assert (link.state, link.attempts) == (SyncState.QUEUED, 3)  # the instance is refreshed


def test_a_move_keeps_the_record_it_belongs_to_but_not_a_relation_it_changed(
    links, owner, django_assert_num_queries
):
    account_link, invoice_link, _ = links
    invoice = invoice_link.invoice
    with django_assert_num_queries(2):  # the move and the refresh; the invoice is not read again
        assert transition(invoice_link, SyncAction.REQUEST)
        assert invoice_link.invoice is invoice
    assert account_link.linked_by is None  # read, so Django caches it
    assert transition(account_link, SyncAction.REQUEST, linked_by=owner)
    assert account_link.linked_by == owner


def test_a_move_from_a_state_the_table_does_not_list_changes_nothing(links):
    for link in links:
        before = link.state_changed_at
        assert not transition(link, SyncAction.START, attempts=5)
        link.refresh_from_db()
        assert (link.state, link.attempts, link.state_changed_at) == (SyncState.SYNCED, 0, before)


def test_a_second_worker_loses_the_race_for_the_same_link(links):
    invoice_link = links[1]
    transition(invoice_link, SyncAction.REQUEST)
    mine, theirs = (
        InvoiceSyncLink.objects.get(pk=invoice_link.pk),
        InvoiceSyncLink.objects.get(pk=invoice_link.pk),
    )
    assert transition(mine, SyncAction.START)
    assert not transition(theirs, SyncAction.START)


def test_a_set_moves_only_its_rows_in_a_source_state_stamped_with_the_given_time(links, firm):
    account_link, invoice_link, payment_link = links
    transition(payment_link, SyncAction.SKIP)
    now = timezone.now() - timedelta(seconds=5)

    moved = transition_all(
        InvoiceSyncLink.objects.filter(firm=firm), SyncAction.SKIP, now=now, skip_reason="why"
    )
    unskipped = transition_all(PaymentSyncLink.objects.filter(firm=firm), SyncAction.UNSKIP)

    assert (moved, unskipped) == (1, 1)
    invoice_link.refresh_from_db()
    assert (invoice_link.state, invoice_link.skip_reason, invoice_link.state_changed_at) == (
        SyncState.SKIPPED,
        "why",
        now,
    )
    payment_link.refresh_from_db()
    assert payment_link.state == SyncState.NOT_SYNCED
    # Another kind of link, and nothing already in the target state, is untouched.
    assert transition_all(InvoiceSyncLink.objects.filter(firm=firm), SyncAction.UNSKIP) == 1
    assert AccountSyncLink.objects.get(pk=account_link.pk).state == SyncState.SYNCED


def test_each_link_moves_with_its_own_fields_in_a_fixed_number_of_queries(firm, django_assert_num_queries):
    account = AccountFactory(firm=firm)
    links = [
        InvoiceSyncLink.objects.create(firm=firm, invoice=make_invoice(account=account), state=state)
        for state in (SyncState.SYNCING, SyncState.SYNCING, SyncState.QUEUED, SyncState.SYNCING)
    ]
    moves = [
        (link, {"qbo_invoice_id": f"Q{n}", "pushed_version": n, "qbo_customer_id": "C1"})
        for n, link in enumerate(links)
    ]
    # Which may move (locked); the fields each link has its own value of, in one update; the fields all
    # share, with the state, in another.
    with django_assert_num_queries(3):
        moved = transition_each(moves, SyncAction.SUCCEED)
    assert [link.pk for link in moved] == [links[0].pk, links[1].pk, links[3].pk]  # the Queued one stays
    stored = {link.pk: link for link in InvoiceSyncLink.objects.filter(firm=firm)}
    for n, link in enumerate(links):
        expected = (SyncState.QUEUED, "", 0, "") if n == 2 else (SyncState.SYNCED, f"Q{n}", n, "C1")
        row = stored[link.pk]
        assert (row.state, row.qbo_invoice_id, row.pushed_version, row.qbo_customer_id) == expected
    first = stored[links[0].pk]
    assert (moved[0].state, moved[0].state_changed_at) == (SyncState.SYNCED, first.state_changed_at)
    assert transition_each([], SyncAction.SUCCEED) == []


def test_one_link_moves_with_its_fields_in_one_query(links, django_assert_num_queries):
    invoice_link = links[1]
    transition(invoice_link, SyncAction.REQUEST)
    transition(invoice_link, SyncAction.START)
    with django_assert_num_queries(1):
        moved = transition_each([(invoice_link, {"qbo_invoice_id": "Q1"})], SyncAction.SUCCEED)
    assert moved == [invoice_link]
    assert invoice_link.state == SyncState.SYNCED
    stored = InvoiceSyncLink.objects.get(pk=invoice_link.pk)
    assert (stored.state, stored.qbo_invoice_id, stored.state_changed_at) == (
        SyncState.SYNCED,
        "Q1",
        invoice_link.state_changed_at,
    )
    # No longer Syncing: nothing moves.
    assert transition_each([(invoice_link, {"qbo_invoice_id": "Q2"})], SyncAction.SUCCEED) == []
    assert InvoiceSyncLink.objects.get(pk=invoice_link.pk).qbo_invoice_id == "Q1"


def test_flag_fails_a_synced_link_and_reset_forgets_any(links):
    account_link, invoice_link, _ = links
    assert transition(invoice_link, SyncAction.FLAG)
    assert invoice_link.state == SyncState.FAILED
    transition(account_link, SyncAction.SKIP)
    assert transition(account_link, SyncAction.RESET)
    assert account_link.state == SyncState.NOT_SYNCED


def test_cleared_error_fields_name_the_proposed_name_only_where_the_link_has_one():
    assert "error_proposed_name" in error_fields_cleared(AccountSyncLink)
    assert "error_proposed_name" not in error_fields_cleared(InvoiceSyncLink)
    assert set(error_fields_cleared(PaymentSyncLink)) == {
        "error_code",
        "error_message",
        "error_explanation",
        "error_cause",
        "error_intuit_tid",
    }


def _state_writes(path: Path, root: Path = ROOT) -> list[str]:
    """Where one file sets `state=SyncState.X` in a queryset update (a write that bypasses the table)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in ("update", "bulk_update", "update_or_create"):
            continue
        for keyword in node.keywords:
            value = keyword.value
            if (
                keyword.arg == "state"
                and isinstance(value, ast.Attribute)
                and isinstance(value.value, ast.Name)
                and value.value.id in ("SyncState", "S")
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_nothing_but_the_spine_writes_a_links_state():
    writer = ROOT / "qbsync" / "sync" / "engine" / "transitions.py"
    files = [
        path
        for top in ("qbsync", "accounts", "invoices")
        for path in sorted((ROOT / top).rglob("*.py"))
        if "migrations" not in path.parts and path != writer
    ]
    assert [where for path in files for where in _state_writes(path)] == []


def test_the_scan_finds_a_raw_state_write(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("Link.objects.filter(pk=1).update(state=SyncState.SYNCED, attempts=0)\n")
    assert _state_writes(sample, root=tmp_path) == ["sample.py:1"]

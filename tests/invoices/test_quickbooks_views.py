"""The invoices' QuickBooks UI: statuses with tooltips on the invoice list and the account's Info tab, the
invoice page's QuickBooks section and history, and the self-refreshing status poll. Links are created
directly in each state: no QBO is needed to show them."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from invoices.selectors import invoice_list
from qbsync.sync.display import (
    INVOICE_NOT_CONNECTED_TOOLTIP,
    INVOICE_TOOLTIPS,
    payment_tooltip,
)
from qbsync.sync.display import invoice_badge as invoice_quickbooks_badge
from qbsync.sync.display import invoice_tooltip as invoice_quickbooks_tooltip
from qbsync.sync.models import InvoiceSyncLink, PaymentSyncLink, QuickBooksConnection, SyncEvent
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db

LIST_URL = reverse("invoices:list")
STATUS_URL = reverse("invoices:sync_status")
SKIP_REASON = "dated before the firm's sync start date (2026-01-01)"
WAITING_REASON = "waiting for the account to sync"
EXPLANATION = "QuickBooks numbers invoices itself: turn off custom transaction numbers, then sync again."


@pytest.fixture
def account(firm):
    return AccountFactory(firm=firm, name="Acme Ltd")


@pytest.fixture
def invoices(account):
    """One sent invoice per status, made before the firm connects (so nothing syncs on its own)."""
    return {
        name: make_invoice(account=account, number=f"INV-{name.upper()}")
        for name in ("synced", "never", "unlinked", "skipped", "failed", "queued", "waiting")
    }


@pytest.fixture
def connection_row(firm, owner):
    """A connection that is never called: the pages only read our own database."""
    return QuickBooksConnection.objects.create(
        firm=firm,
        realm_id="9130000000000001",
        access_token="unused",
        refresh_token="unused",
        connected_by=owner,
    )


def set_link(invoice, state: str, **fields) -> InvoiceSyncLink:
    link, _ = InvoiceSyncLink.objects.update_or_create(
        invoice=invoice, defaults={"firm": invoice.firm, "state": state, **fields}
    )
    return link


@pytest.fixture
def links(invoices, connection_row):
    InvoiceSyncLink.objects.filter(invoice__in=invoices.values()).delete()
    return {
        "synced": set_link(
            invoices["synced"], SyncState.SYNCED, qbo_invoice_id="148", qbo_doc_number="QB-1042"
        ),
        "unlinked": set_link(invoices["unlinked"], SyncState.NOT_SYNCED),
        "skipped": set_link(invoices["skipped"], SyncState.SKIPPED, skip_reason=SKIP_REASON),
        "failed": set_link(
            invoices["failed"],
            SyncState.FAILED,
            error_code="6140",
            error_explanation=EXPLANATION,
            error_intuit_tid="1-abc-tid",
        ),
        "queued": set_link(invoices["queued"], SyncState.QUEUED),
        "waiting": set_link(invoices["waiting"], SyncState.QUEUED, waiting_reason=WAITING_REASON),
    }


def has_badge(html: str, status: str, tooltip: str) -> bool:
    """The status badge and its one tooltip (described by it; no title attribute)."""
    slug = status.lower().replace(" ", "-")
    return bool(
        re.search(
            rf'class="qb-status qb-status--{slug}" tabindex="0" aria-describedby="([^"]+)">'
            rf"{re.escape(status)}</span>"
            rf'<span class="qb-tooltip" role="tooltip" id="\1">{re.escape(escape(tooltip))}</span>',
            html,
        )
    )


def cell_of(html: str, invoice) -> str:
    """The QuickBooks cell of ``invoice`` in a page."""
    start = html.index(f'data-qb-invoice-cell="{invoice.pk}"')
    return html[start : html.index("</td>", start)]


FAILED_TOOLTIP = f"There is a sync issue with this invoice: {EXPLANATION}"
SKIPPED_TOOLTIP = f"This invoice is not synced: {SKIP_REASON}."
SYNCING_TOOLTIP = "This invoice is being synced. This takes a moment."
WAITING_TOOLTIP = f"{SYNCING_TOOLTIP} ({WAITING_REASON})"
EXPECTED = {
    "synced": ("Synced", "This invoice is successfully synced."),
    "never": ("Not synced", INVOICE_TOOLTIPS["Not synced"]),
    "unlinked": ("Not synced", INVOICE_TOOLTIPS["Not synced"]),
    "skipped": ("Skipped", SKIPPED_TOOLTIP),
    "failed": ("Failed", FAILED_TOOLTIP),
    "queued": ("Syncing", SYNCING_TOOLTIP),
    "waiting": ("Syncing", WAITING_TOOLTIP),
}


# The tooltip texts -----------------------------------------------------------------------------------


def test_tooltip_texts_are_the_product_texts():
    assert INVOICE_TOOLTIPS["Not synced"] == (
        "This invoice is not synced. If it was Synced before, it may have been deleted from "
        "QuickBooks Online."
    )
    assert invoice_quickbooks_tooltip(None) == INVOICE_TOOLTIPS["Not synced"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"state": SyncState.SYNCED}, "This invoice is successfully synced."),
        ({"state": SyncState.NOT_SYNCED}, INVOICE_TOOLTIPS["Not synced"]),
        (
            {"state": SyncState.SKIPPED, "skip_reason": "its account is not synced"},
            "This invoice is not synced: its account is not synced. It goes to QuickBooks once the account "
            "does.",
        ),
        ({"state": SyncState.SKIPPED, "skip_reason": SKIP_REASON}, SKIPPED_TOOLTIP),
        ({"state": SyncState.SKIPPED}, "This invoice is not synced."),
        ({"state": SyncState.FAILED, "error_explanation": EXPLANATION}, FAILED_TOOLTIP),
        ({"state": SyncState.FAILED}, "There is a sync issue with this invoice: see the invoice's page."),
        ({"state": SyncState.QUEUED}, SYNCING_TOOLTIP),
        ({"state": SyncState.SYNCING}, SYNCING_TOOLTIP),
        ({"state": SyncState.QUEUED, "waiting_reason": WAITING_REASON}, WAITING_TOOLTIP),
    ],
)
def test_tooltip_for_each_state(fields, expected):
    assert invoice_quickbooks_tooltip(InvoiceSyncLink(**fields)) == expected


def test_badge_carries_the_qbo_number_only_when_synced(invoices, links):
    rows = {invoice.pk: invoice for invoice in invoice_list(firm=invoices["synced"].firm)}

    synced = invoice_quickbooks_badge(rows[invoices["synced"].pk], connected=True)
    failed = invoice_quickbooks_badge(rows[invoices["failed"].pk], connected=True)
    never = invoice_quickbooks_badge(rows[invoices["never"].pk], connected=True)
    offline = invoice_quickbooks_badge(rows[invoices["synced"].pk], connected=False)

    assert (synced.label, synced.slug, synced.qbo_doc_number) == ("Synced", "synced", "QB-1042")
    assert (failed.label, failed.qbo_doc_number) == ("Failed", "")
    assert (never.label, never.slug) == ("Not synced", "not-synced")
    assert (offline.label, offline.tooltip, offline.qbo_doc_number) == (
        "Not connected",
        INVOICE_NOT_CONNECTED_TOOLTIP,
        "",
    )


# The invoice list ----------------------------------------------------------------------------------


def test_list_shows_each_status_with_its_tooltip(staff_client, invoices, links):
    html = staff_client.get(LIST_URL).content.decode()

    assert '<th scope="col">QuickBooks</th>' in html
    assert f'data-qb-invoice-status-url="{STATUS_URL}"' in html
    for name, (status, tooltip) in EXPECTED.items():
        cell = cell_of(html, invoices[name])
        assert has_badge(cell, status, tooltip), name
        # The tooltip is also a real element for keyboard focus, tied to the badge.
        pk = invoices[name].pk
        assert f'aria-describedby="qb-invoice-tip-{pk}"' in cell
        tip = f'<span class="qb-tooltip" role="tooltip" id="qb-invoice-tip-{pk}">{escape(tooltip)}</span>'
        assert tip in cell
    assert "QBO no. QB-1042" in cell_of(html, invoices["synced"])
    assert "QBO no." not in cell_of(html, invoices["failed"])


def test_list_without_a_connection_shows_not_connected(staff_client, invoices):
    html = staff_client.get(LIST_URL).content.decode()

    assert has_badge(cell_of(html, invoices["synced"]), "Not connected", INVOICE_NOT_CONNECTED_TOOLTIP)
    assert 'name="qb"' not in html  # no QuickBooks filter to offer


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Failed", {"failed"}),
        ("Syncing", {"queued", "waiting"}),
        ("Not synced", {"never", "unlinked"}),
        ("Synced", {"synced"}),
        ("Bogus", set(EXPECTED)),
    ],
)
def test_list_filters_by_quickbooks_status(staff_client, invoices, links, status, expected):
    response = staff_client.get(LIST_URL, {"qb": status})

    shown = {invoice.number for invoice, _ in response.context["rows"]}
    assert shown == {invoices[name].number for name in expected}


@pytest.mark.parametrize("count", [5, 50])
def test_list_query_count_does_not_grow_with_the_page(
    staff_client, account, connection_row, count, django_assert_num_queries
):
    states = [SyncState.SYNCED, SyncState.FAILED, SyncState.SKIPPED, SyncState.QUEUED, None]
    for n in range(count):
        invoice = make_invoice(account=account, number=f"Q-{n:03d}")
        InvoiceSyncLink.objects.filter(invoice=invoice).delete()
        if states[n % len(states)]:
            set_link(invoice, states[n % len(states)], qbo_doc_number=f"D{n}")
    staff_client.get(LIST_URL)

    # session, user, firm, the QuickBooks connection, count, one page of invoices with accounts and links
    with django_assert_num_queries(6):
        response = staff_client.get(LIST_URL)
    assert len(response.context["rows"]) == count


# The invoice page --------------------------------------------------------------------------------------


def detail(client, invoice) -> str:
    return client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()


def test_invoice_page_shows_a_synced_invoice_with_its_qbo_ids(staff_client, invoices, links):
    html = detail(staff_client, invoices["synced"])

    assert 'id="quickbooks"' in html
    assert has_badge(html, "Synced", "This invoice is successfully synced.")
    assert "No. QB-1042" in html
    assert "(Id 148)" in html


def test_invoice_page_explains_a_failure(staff_client, invoices, links):
    html = detail(staff_client, invoices["failed"])

    assert has_badge(html, "Failed", FAILED_TOOLTIP)
    assert f'<p class="qb-section__error">{escape(EXPLANATION)}</p>' in html
    # Issue 14: staff read the explanation only, never QBO's code or the intuit_tid.
    assert "6140" not in html
    assert "1-abc-tid" not in html


def test_owners_find_a_failures_intuit_tid_folded_away_but_no_code(owner_client, invoices, links):
    html = detail(owner_client, invoices["failed"])

    assert "<summary>For Intuit support</summary><p>intuit_tid: <code>1-abc-tid</code></p>" in html
    assert "QuickBooks error 6140" not in html


def test_invoice_page_gives_the_skip_and_waiting_reasons(staff_client, invoices, links):
    skipped = detail(staff_client, invoices["skipped"])
    waiting = detail(staff_client, invoices["waiting"])

    assert f"Not synced: {escape(SKIP_REASON)}." in skipped
    assert f"Waiting: {WAITING_REASON}." in waiting
    assert f'data-qb-invoice-section="{invoices["waiting"].pk}" data-qb-status="Syncing"' in waiting


def test_invoice_page_lists_the_last_ten_sync_events_newest_first(staff_client, firm, invoices, links):
    invoice = invoices["failed"]
    start = timezone.now() - timedelta(hours=1)
    for n in range(12):
        SyncEvent.objects.create(
            firm=firm,
            account=invoice.account,
            invoice=invoice,
            kind="invoice_push",
            outcome=SyncEvent.Outcome.FAILURE,
            message=f"Attempt number {n:02d}",
            trigger="worker" if n % 2 else "sweep",
            intuit_tid=f"tid-{n:02d}",
            created_at=start + timedelta(minutes=n),
        )
    SyncEvent.objects.create(
        firm=firm, invoice=invoices["synced"], kind="invoice_push", message="Someone else's event"
    )

    html = detail(staff_client, invoice)

    shown = [f"Attempt number {n:02d}" for n in range(11, 1, -1)]
    positions = [html.index(message) for message in shown]
    assert positions == sorted(positions)
    assert "Attempt number 01" not in html
    assert "Someone else&#x27;s event" not in html
    assert "tid-11" not in html  # staff: not their business (owners and admins see it folded away)
    assert "Sync worker" in html
    assert "Automatic retry" in html


def test_invoice_page_without_a_connection_says_so(staff_client, invoices):
    html = detail(staff_client, invoices["synced"])

    assert has_badge(html, "Not connected", INVOICE_NOT_CONNECTED_TOOLTIP)
    assert "QuickBooks Online is not connected, so invoices are not synced." in html
    assert "Sync history" not in html


@pytest.mark.parametrize("event_count", [1, 15])
def test_invoice_page_query_count_does_not_grow_with_the_history(
    staff_client, firm, invoices, links, event_count, django_assert_num_queries
):
    invoice = invoices["failed"]
    for n in range(event_count):
        SyncEvent.objects.create(firm=firm, invoice=invoice, kind="invoice_push", message=f"Event {n}")
    staff_client.get(reverse("invoices:detail", args=[invoice.pk]))

    # session, user, firm, invoice with account and link, lines, allocations, connection, events, and what
    # QuickBooks reported of it (a change made there, payments recorded there)
    with django_assert_num_queries(10):
        staff_client.get(reverse("invoices:detail", args=[invoice.pk]))


# The account's Info tab -------------------------------------------------------------------------------


def test_info_tab_shows_each_invoices_status(staff_client, account, invoices, links):
    html = staff_client.get(reverse("accounts:detail", args=[account.pk])).content.decode()

    assert f'data-qb-invoice-status-url="{STATUS_URL}"' in html
    for name, (status, tooltip) in EXPECTED.items():
        assert has_badge(cell_of(html, invoices[name]), status, tooltip), name
    assert "QBO no. QB-1042" in cell_of(html, invoices["synced"])


def test_info_tab_without_a_connection_shows_not_connected(staff_client, account, invoices):
    html = staff_client.get(reverse("accounts:detail", args=[account.pk])).content.decode()

    assert has_badge(cell_of(html, invoices["never"]), "Not connected", INVOICE_NOT_CONNECTED_TOOLTIP)


@pytest.mark.parametrize("count", [3, 20])
def test_info_tab_query_count_does_not_grow_with_the_invoices(
    staff_client, account, connection_row, count, django_assert_num_queries
):
    for n in range(count):
        invoice = make_invoice(account=account, number=f"I-{n:03d}")
        set_link(invoice, SyncState.FAILED if n % 2 else SyncState.SYNCED, error_explanation="Boom")
    url = reverse("accounts:detail", args=[account.pk])
    staff_client.get(url)

    # The same for 3 invoices and 20: their links come with them (no query per row); one more says
    # whether the account waits for the firm's first sync (its badge's tooltip).
    with django_assert_num_queries(9):
        html = staff_client.get(url).content.decode()
    assert html.count("data-qb-invoice-cell=") == count


# The status poll -------------------------------------------------------------------------------------


def test_sync_status_returns_the_cells_of_the_firms_invoices_only(staff_client, other_firm, invoices, links):
    theirs = make_invoice(account=AccountFactory(firm=other_firm), number="THEIR-1")
    set_link(theirs, SyncState.SYNCED, qbo_doc_number="THEIRS")
    ids = ",".join(str(pk) for pk in (invoices["synced"].pk, invoices["waiting"].pk, theirs.pk, 999999))

    response = staff_client.get(STATUS_URL, {"ids": ids})

    body = response.json()
    assert response["Cache-Control"] == "no-store"
    assert set(body) == {str(invoices["synced"].pk), str(invoices["waiting"].pk)}
    synced = body[str(invoices["synced"].pk)]
    assert synced["status"] == "Synced"
    assert has_badge(synced["html"], "Synced", "This invoice is successfully synced.")
    assert "QBO no. QB-1042" in synced["html"]
    assert "section" not in synced
    assert body[str(invoices["waiting"].pk)]["status"] == "Syncing"
    assert has_badge(body[str(invoices["waiting"].pk)]["html"], "Syncing", WAITING_TOOLTIP)


def test_sync_status_cell_matches_the_list_cell(staff_client, invoices, links):
    invoice = invoices["failed"]
    list_html = staff_client.get(LIST_URL).content.decode()

    polled = staff_client.get(STATUS_URL, {"ids": invoice.pk}).json()[str(invoice.pk)]["html"]

    assert polled.strip() in list_html


def test_sync_status_follows_a_syncing_invoice_to_its_end(staff_client, invoices, links):
    invoice = invoices["waiting"]
    before = staff_client.get(STATUS_URL, {"ids": invoice.pk, "section": invoice.pk}).json()
    set_link(invoice, SyncState.SYNCED, waiting_reason="", qbo_invoice_id="201", qbo_doc_number="QB-7")
    after = staff_client.get(STATUS_URL, {"ids": invoice.pk, "section": invoice.pk}).json()

    assert before[str(invoice.pk)]["status"] == "Syncing"
    assert f"Waiting: {WAITING_REASON}." in before[str(invoice.pk)]["section"]
    entry = after[str(invoice.pk)]
    assert entry["status"] == "Synced"
    assert 'data-qb-status="Synced"' in entry["section"]
    assert "(Id 201)" in entry["section"]


def test_sync_status_without_ids_is_empty_needs_sign_in_and_is_get_only(staff_client):
    assert staff_client.get(STATUS_URL).json() == {}
    assert staff_client.get(STATUS_URL, {"ids": "a,,-1"}).json() == {}
    assert Client().get(STATUS_URL, {"ids": "1"}).status_code == 302
    assert staff_client.post(STATUS_URL, {"ids": "1"}).status_code == 405


def test_sync_status_query_count_does_not_grow_with_the_ids(
    staff_client, account, connection_row, django_assert_num_queries
):
    created = [make_invoice(account=account, number=f"S-{n:02d}") for n in range(12)]
    for invoice in created:
        set_link(invoice, SyncState.QUEUED)
    ids = ",".join(str(invoice.pk) for invoice in created)
    staff_client.get(STATUS_URL, {"ids": ids})

    # session, user, firm, the connection, the invoices with their links
    with django_assert_num_queries(5):
        body = staff_client.get(STATUS_URL, {"ids": ids}).json()
    assert len(body) == 12


# The payment page -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "fields", "status", "told"),
    [
        (None, {}, "Not synced", ""),
        (SyncState.SYNCED, {"qbo_payment_id": "77"}, "Synced", "QuickBooks payment Id 77"),
        (SyncState.QUEUED, {"waiting_reason": WAITING_REASON}, "Syncing", f"Waiting: {WAITING_REASON}."),
        (SyncState.SKIPPED, {"skip_reason": SKIP_REASON}, "Skipped", f"Not synced: {escape(SKIP_REASON)}."),
        (SyncState.FAILED, {"error_explanation": EXPLANATION}, "Failed", EXPLANATION),
    ],
)
def test_payment_page_shows_its_status_and_why(
    staff_client, account, connection_row, state, fields, status, told
):
    payment = make_payment(account=account, amount="10.00")
    PaymentSyncLink.objects.filter(payment=payment).delete()
    if state is not None:
        PaymentSyncLink.objects.create(firm=payment.firm, payment=payment, state=state, **fields)

    html = staff_client.get(reverse("invoices:payment_detail", args=[payment.pk])).content.decode()

    assert has_badge(html, status, payment_tooltip(PaymentSyncLink.objects.filter(payment=payment).first()))
    assert told in html
    assert "Sync history" in html


def test_payment_page_without_a_connection_says_so(staff_client, account):
    payment = make_payment(account=account, amount="10.00")

    html = staff_client.get(reverse("invoices:payment_detail", args=[payment.pk])).content.decode()

    assert "QuickBooks Online is not connected, so payments are not synced." in html
    assert "qb-status" not in html
    assert "Sync history" not in html

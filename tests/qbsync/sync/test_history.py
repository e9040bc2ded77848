"""A record's sync history on its page: who or what triggered each step, what was sent and answered (never a
secret), the intuit_tid, and a server-side filter by outcome."""

import pytest
from django.urls import reverse

from qbsync.sync.models import QuickBooksConnection, SyncEvent
from qbsync.sync.selectors import HistoryFilter, sync_history
from tests.factories import AccountFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(firm, owner):
    return QuickBooksConnection.objects.create(
        firm=firm, realm_id="4620816365000000009", access_token="a", refresh_token="r", connected_by=owner
    )


@pytest.fixture
def account(connected, firm, owner):
    account = AccountFactory(firm=firm, name="Timeline Client")
    for message, outcome, trigger in (
        ("Sync requested by a person.", "info", "user"),
        ("QuickBooks said no.", "failure", "worker"),
        ("Created the customer.", "success", "worker"),
    ):
        SyncEvent.objects.create(
            firm=firm,
            account=account,
            kind="step",
            outcome=outcome,
            trigger=trigger,
            actor=owner if trigger == "user" else None,
            message=message,
            sent={"DisplayName": "Timeline Client", "access_token": "never-shown"},
            received={"Id": "58", "Fault": {"code": "6240"}},
            intuit_tid=f"tid-{outcome}",
        )
    return account


def test_the_filter_shows_one_outcome_and_keeps_it_in_the_links(account, staff_client):
    url = reverse("accounts:detail", args=[account.pk])

    every = staff_client.get(url).content.decode()
    failures = staff_client.get(url, {"history": "failure"}).content.decode()

    assert all(
        m in every for m in ("Sync requested by a person.", "QuickBooks said no.", "Created the customer.")
    )
    assert "QuickBooks said no." in failures
    assert "Created the customer." not in failures
    assert "Sync requested by a person." not in failures
    assert 'href="?history=failure#quickbooks" aria-current="true"' in failures
    assert "tid-failure" not in failures  # staff: owners and admins only
    assert "Sync worker" in failures


def test_an_unknown_filter_shows_everything(account, staff_client):
    html = staff_client.get(
        reverse("accounts:detail", args=[account.pk]), {"history": "bogus"}
    ).content.decode()
    assert "Created the customer." in html
    assert "QuickBooks said no." in html


def test_staff_do_not_see_what_was_sent_and_answered(account, staff_client):
    html = staff_client.get(reverse("accounts:detail", args=[account.pk])).content.decode()

    assert "DisplayName: Timeline Client" not in html
    assert "6240" not in html
    assert "tid-" not in html


def test_what_was_sent_and_answered_is_shown_to_owners_without_secrets(account, owner_client):
    html = owner_client.get(reverse("accounts:detail", args=[account.pk])).content.decode()

    assert "DisplayName: Timeline Client" in html
    assert "Fault: {&#x27;code&#x27;: &#x27;6240&#x27;}" in html
    assert "never-shown" not in html
    assert "access_token: (hidden)" in html


def test_invoice_and_payment_pages_show_their_own_history_filtered(connected, firm, staff_client):
    account = AccountFactory(firm=firm)
    invoice = make_invoice(account=account, number="H-1")
    payment = make_payment(account=account, amount="10.00", allocations={invoice: "10.00"})
    SyncEvent.objects.create(
        firm=firm, account=account, invoice=invoice, outcome="failure", message="Invoice no."
    )
    SyncEvent.objects.create(
        firm=firm, account=account, invoice=invoice, outcome="success", message="Invoice yes."
    )
    SyncEvent.objects.create(
        firm=firm, account=account, payment=payment, outcome="success", message="Paid yes."
    )

    invoice_html = staff_client.get(reverse("invoices:detail", args=[invoice.pk]), {"history": "success"})
    payment_html = staff_client.get(
        reverse("invoices:payment_detail", args=[payment.pk]), {"history": "success"}
    )

    assert "Invoice yes." in invoice_html.content.decode()
    assert "Invoice no." not in invoice_html.content.decode()
    assert "Paid yes." not in invoice_html.content.decode()
    assert "Paid yes." in payment_html.content.decode()
    assert "Invoice yes." not in payment_html.content.decode()


def test_the_selector_filters_limits_and_stays_in_the_firm(account, firm, other_firm):
    their_account = AccountFactory(firm=other_firm)
    SyncEvent.objects.create(firm=other_firm, account=their_account, outcome="failure", message="Theirs")
    for n in range(12):
        SyncEvent.objects.create(firm=firm, account=account, outcome="info", message=f"Note {n}")

    assert len(sync_history(firm=firm, account=account)) == 10
    assert len(sync_history(firm=firm, account=account, history=HistoryFilter(show_all=True))) == 15
    failures = sync_history(firm=firm, account=account, history=HistoryFilter(outcome="failure"))
    assert [e.message for e in failures] == ["QuickBooks said no."]
    assert sync_history(firm=firm, account=their_account) == []


@pytest.mark.parametrize("kind", ["account", "invoice"])
def test_the_polled_section_keeps_the_pages_history_filter(account, firm, staff_client, kind):
    """While Syncing, the page's QuickBooks section is refreshed from the status URL; the poll passes the
    page's ?history= along, and the section comes back filtered as the page was."""
    if kind == "invoice":
        record = make_invoice(account=account, number="POLLED-1")
        SyncEvent.objects.create(
            firm=firm, account=account, invoice=record, outcome="failure", message="Nope."
        )
        SyncEvent.objects.create(
            firm=firm, account=account, invoice=record, outcome="success", message="Yes."
        )
        failed, succeeded = "Nope.", "Yes."
    else:
        record, failed, succeeded = account, "QuickBooks said no.", "Created the customer."
    status_url = reverse("accounts:sync_status" if kind == "account" else "invoices:sync_status")
    query = {"ids": str(record.pk), "section": str(record.pk)}

    unfiltered = staff_client.get(status_url, query).json()[str(record.pk)]["section"]
    filtered = staff_client.get(status_url, query | {"history": "failure"}).json()[str(record.pk)]["section"]

    assert failed in unfiltered
    assert succeeded in unfiltered
    assert failed in filtered
    assert succeeded not in filtered
    assert 'href="?history=failure#quickbooks" aria-current="true"' in filtered

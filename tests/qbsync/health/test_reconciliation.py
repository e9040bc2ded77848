"""The reconciliation report against the sandbox over HTTP: a change planted directly in the sandbox company
is found and listed with a link, what matches is not; QBO is read per chunk of customers, not per record;
the report runs on demand (button, task, stored report) and nightly."""

from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from qbsync.health.models import (
    RECONCILIATION_PENDING_LEASE,
    ReconciliationReport,
    reconciliation_running_lease,
)
from qbsync.health.services.reconciliation import (
    NEVER_STARTED,
    STOPPED_RUNNING,
    ReconciliationRefused,
    reconciliation_nightly,
    reconciliation_release_stalled,
    reconciliation_request,
    reconciliation_run,
)
from qbsync.quickbooks.reconcile import transactions_of_customers
from qbsync.sync.engine.client import connection_client
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, QuickBooksConnection

from .conftest import plant_total, run_report

pytestmark = pytest.mark.django_db
D = Decimal


def test_a_planted_change_in_qbo_is_found_and_nothing_else(qbo, connected, firm, synced_books):
    bright = synced_books["Bright Ledger"]
    link = InvoiceSyncLink.objects.get(invoice=bright["second"])
    plant_total(qbo, connected.realm_id, link.qbo_invoice_id, add="25.00")

    report = run_report(firm)

    assert (report.state, report.accounts_checked, report.records_checked) == ("done", 2, 6)
    # Two customers, one IN query per entity: two queries in all, not one per record.
    assert report.qbo_queries == 2
    rows = {row["name"]: row for row in report.results}
    assert rows["Harbor Tax"]["mismatches"] == []
    assert (
        rows["Harbor Tax"]["local"]
        == rows["Harbor Tax"]["qbo"]
        == {
            "invoiced": "230.00",
            "paid": "60.00",
            "open": "170.00",
        }
    )
    bright_row = rows["Bright Ledger"]
    assert bright_row["local"] == {"invoiced": "230.00", "paid": "60.00", "open": "170.00"}
    assert bright_row["qbo"] == {"invoiced": "255.00", "paid": "60.00", "open": "195.00"}
    assert [(m["label"], m["what"], m["local"], m["qbo"]) for m in bright_row["mismatches"]] == [
        ("Invoice BR-2", "total", "80.00", "105.00"),
        ("Invoice BR-2", "open balance", "80.00", "105.00"),
    ]
    assert bright_row["mismatches"][0]["url"] == reverse("invoices:detail", args=[bright["second"].pk])
    assert report.mismatch_count == 2


def test_a_record_deleted_in_qbo_is_listed_as_missing(qbo, connected, firm, synced_books):
    harbor = synced_books["Harbor Tax"]
    link = PaymentSyncLink.objects.get(payment=harbor["payment"])
    token = qbo.control.tokens(connected.realm_id)["access_token"]
    deleted = requests.post(
        f"{qbo.api_base}/company/{connected.realm_id}/payment",
        params={"operation": "delete"},
        json={"Id": link.qbo_payment_id, "SyncToken": link.qbo_sync_token},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=10,
    )
    assert deleted.status_code == 200, deleted.text

    report = run_report(firm)

    harbor_row = next(row for row in report.results if row["name"] == "Harbor Tax")
    whats = [(m["kind"], m["what"]) for m in harbor_row["mismatches"]]
    # The payment is gone, and the invoice it paid has its balance back in QBO.
    assert ("payment", "missing") in whats
    assert ("invoice", "open balance") in whats
    assert "deleted there" in harbor_row["mismatches"][whats.index(("payment", "missing"))]["note"]


def test_many_customers_are_read_in_chunks_and_pages(qbo, connected, firm, synced_books):
    customers = [link.qbo_customer_id for link in AccountSyncLink.objects.filter(firm=firm)]
    client = connection_client(connected)

    everything = transactions_of_customers(client, customers)
    paged = transactions_of_customers(client, customers, chunk_size=1, page_size=1)

    assert set(everything.invoices) == set(paged.invoices)
    assert len(everything.invoices) == 4
    assert len(everything.payments) == 2
    # One customer per chunk, one row per page: 2 invoices + an empty page, 1 payment + an empty page.
    assert paged.queries == 2 * (3 + 2)
    assert everything.queries == 2


def test_the_button_starts_a_report_that_the_page_shows(
    qbo, connected, firm, firm_admin, firm_admin_client, synced_books
):
    bright = synced_books["Bright Ledger"]
    plant_total(
        qbo,
        connected.realm_id,
        InvoiceSyncLink.objects.get(invoice=bright["first"]).qbo_invoice_id,
        add="1.00",
    )

    response = firm_admin_client.post(reverse("health:reconciliation_start"))
    assert response["Location"] == reverse("health:reconciliation")
    report = ReconciliationReport.objects.get(firm=firm)
    assert (report.state, report.requested_by, report.trigger) == ("pending", firm_admin, "user")
    # A second click while it waits asks for nothing more.
    firm_admin_client.post(reverse("health:reconciliation_start"))
    assert ReconciliationReport.objects.filter(firm=firm).count() == 1
    waiting = firm_admin_client.get(reverse("health:reconciliation")).content.decode()
    assert 'http-equiv="refresh"' in waiting

    reconciliation_run(report_id=report.pk)  # what the qbo worker's task does

    html = firm_admin_client.get(reverse("health:reconciliation")).content.decode()
    assert "2 differences found" in html
    assert reverse("invoices:detail", args=[bright["first"].pk]) in html
    assert "The total is 150.00 here and 151.00 in QuickBooks Online." in html
    assert 'http-equiv="refresh"' not in html


def test_nightly_asks_a_report_of_every_connected_firm(connected, firm, other_firm):
    assert reconciliation_nightly() == 1
    report = ReconciliationReport.objects.get()
    assert (report.firm, report.trigger, report.requested_by) == (firm, "nightly", None)
    assert reconciliation_nightly() == 1  # still pending: the same report, no second one
    assert ReconciliationReport.objects.count() == 1


def test_without_a_working_connection_no_report_is_asked(connected, firm):
    QuickBooksConnection.objects.filter(pk=connected.pk).update(
        status=QuickBooksConnection.Status.NEEDS_RECONNECT
    )

    with pytest.raises(ReconciliationRefused, match="not connected"):
        reconciliation_request(firm=firm, actor=None)


def test_an_unreadable_company_fails_the_report_with_the_reason(qbo, connected, firm, synced_books):
    report = reconciliation_request(firm=firm, actor=None)
    qbo.control.fault(connected.realm_id, "http_500", count=50)
    try:
        assert reconciliation_run(report_id=report.pk) == "failed"
    finally:
        qbo.control.clear_faults(connected.realm_id)
    report.refresh_from_db()
    assert report.state == "failed"
    assert "could not be read" in report.error


def _age(report: ReconciliationReport, *, running: bool, by) -> None:
    """What the clock does to a report whose worker died: it stays as it was, ``by`` old."""
    fields = {"created_at": timezone.now() - by}
    if running:
        fields |= {"state": ReconciliationReport.State.RUNNING, "started_at": timezone.now() - by}
    ReconciliationReport.objects.filter(pk=report.pk).update(**fields)


def test_a_report_left_running_is_failed_past_its_lease_and_the_button_starts_a_new_one(
    qbo, connected, firm, firm_admin_client, synced_books
):
    stuck = reconciliation_request(firm=firm, actor=None)
    # Its worker died mid-comparison; within the lease it is still taken as running.
    _age(stuck, running=True, by=reconciliation_running_lease() - timedelta(seconds=30))
    assert reconciliation_request(firm=firm, actor=None) == stuck
    assert 'http-equiv="refresh"' in firm_admin_client.get(reverse("health:reconciliation")).content.decode()

    _age(stuck, running=True, by=reconciliation_running_lease() + timedelta(seconds=1))
    html = firm_admin_client.get(reverse("health:reconciliation")).content.decode()
    # The page says it stopped, stops refreshing, and lets the admin ask again.
    assert "This report stopped before it finished" in html
    assert 'http-equiv="refresh"' not in html
    assert "Run reconciliation now</button>" in html
    assert "disabled>Run reconciliation now" not in html

    firm_admin_client.post(reverse("health:reconciliation_start"))

    stuck.refresh_from_db()
    assert (stuck.state, stuck.error) == ("failed", STOPPED_RUNNING)
    fresh = ReconciliationReport.objects.for_firm(firm).exclude(pk=stuck.pk).get()
    assert fresh.state == "pending"
    assert reconciliation_run(report_id=fresh.pk) == "done"
    # The dead worker's task, redelivered late, leaves the released report alone.
    assert reconciliation_run(report_id=stuck.pk) == "not-pending"
    stuck.refresh_from_db()
    assert stuck.state == "failed"
    html = firm_admin_client.get(reverse("health:reconciliation")).content.decode()
    assert "Everything matches" in html
    assert "Could not finish" in html  # the released one, under earlier reports


def test_the_nightly_run_releases_a_report_no_worker_ever_started(connected, firm):
    lost = reconciliation_request(firm=firm, actor=None)
    _age(lost, running=False, by=RECONCILIATION_PENDING_LEASE - timedelta(minutes=1))
    assert reconciliation_nightly() == 1
    assert ReconciliationReport.objects.count() == 1  # still waiting within its lease

    _age(lost, running=False, by=RECONCILIATION_PENDING_LEASE + timedelta(minutes=1))
    assert reconciliation_nightly() == 1

    lost.refresh_from_db()
    assert (lost.state, lost.error) == ("failed", NEVER_STARTED)
    assert "workers are running" in lost.error
    assert ReconciliationReport.objects.filter(state="pending", trigger="nightly").count() == 1


def test_release_touches_only_stalled_reports(connected, firm, other_firm):
    done = ReconciliationReport.objects.create(firm=firm, state="done", finished_at=timezone.now())
    _age(done, running=False, by=timedelta(days=3))
    stalled_elsewhere = ReconciliationReport.objects.create(firm=other_firm, state="running")
    _age(stalled_elsewhere, running=True, by=timedelta(hours=2))

    assert reconciliation_release_stalled(firm=firm) == 0
    assert reconciliation_release_stalled() == 1
    done.refresh_from_db()
    stalled_elsewhere.refresh_from_db()
    assert (done.state, stalled_elsewhere.state) == ("done", "failed")

"""Reconciliation aware of its cost (issue 15): every report says how many QuickBooks reads it used; the
nightly report compares again only the accounts with changes since the previous report (what QBO reported
through the inbox, and what changed here) and carries the others over; everything is compared on demand,
when the last full comparison is older than QBSYNC_RECONCILIATION_FULL_DAYS, or when the inbox cannot vouch
for the time since the previous report."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from qbsync.changes.models import ChangePoll
from qbsync.changes.services.inbox import changes_poll_connection
from qbsync.health.models import ReconciliationReport
from qbsync.health.services.reconciliation import reconciliation_request, reconciliation_run
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.models import InvoiceSyncLink
from tests.factories import make_invoice

from .conftest import plant_total, run_report

pytestmark = pytest.mark.django_db


def nightly(firm) -> ReconciliationReport:
    report = reconciliation_request(firm=firm, actor=None, trigger="nightly")
    assert reconciliation_run(report_id=report.pk) == "done"
    report.refresh_from_db()
    return report


@pytest.fixture
def full_report(qbo, connected, firm, synced_books):
    """A full report of the synced books, with the inbox caught up before it (the echoes of our pushes are
    older than it) and after it (CDC has read QBO past its start)."""
    changes_poll_connection(connection_id=connected.pk)
    report = run_report(firm)
    assert (report.scope, report.accounts_checked, report.qbo_queries) == ("full", 2, 2)
    changes_poll_connection(connection_id=connected.pk)
    return report


def test_a_nightly_report_with_nothing_changed_reads_nothing(connected, firm, full_report):
    report = nightly(firm)

    assert (report.scope, report.changes_since) == ("changes", full_report.started_at)
    assert (report.accounts_checked, report.records_checked, report.qbo_queries) == (0, 0, 0)
    assert [row["name"] for row in report.results] == ["Bright Ledger", "Harbor Tax"]
    assert [row["local"] for row in report.results] == [row["local"] for row in full_report.results]
    assert report.accounts_carried == 2
    assert report.mismatch_count == 0


def test_a_change_in_qbo_is_compared_again_from_the_inbox_and_the_rest_carried(
    qbo, connected, firm, synced_books, full_report
):
    bright = synced_books["Bright Ledger"]
    plant_total(
        qbo,
        connected.realm_id,
        InvoiceSyncLink.objects.get(invoice=bright["second"]).qbo_invoice_id,
        add="25.00",
    )
    changes_poll_connection(connection_id=connected.pk)  # the inbox hears of it

    report = nightly(firm)

    assert report.scope == "changes"
    assert (report.accounts_checked, report.records_checked, report.qbo_queries) == (1, 3, 2)
    rows = {row["name"]: row for row in report.results}
    assert rows["Harbor Tax"].get("carried") is True
    assert not rows["Bright Ledger"].get("carried")
    assert [m["what"] for m in rows["Bright Ledger"]["mismatches"]] == ["total", "open balance"]
    assert report.mismatch_count == 2


def test_a_record_pushed_here_since_is_compared_again(qbo, connected, firm, synced_books, full_report):
    harbor = synced_books["Harbor Tax"]["account"]
    later = make_invoice(account=harbor, number="HA-3", amounts=("40.00",))
    invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=later).pk)

    report = nightly(firm)

    assert (report.scope, report.accounts_checked, report.qbo_queries) == ("changes", 1, 2)
    rows = {row["name"]: row for row in report.results}
    assert rows["Harbor Tax"]["local"]["invoiced"] == "270.00"
    assert rows["Harbor Tax"]["qbo"]["invoiced"] == "270.00"
    assert rows["Bright Ledger"].get("carried") is True


def test_everything_is_compared_when_the_last_full_comparison_is_too_old(
    settings, connected, firm, full_report
):
    settings.QBSYNC_RECONCILIATION_FULL_DAYS = 30
    assert nightly(firm).scope == "changes"  # a report of changes does not renew the full one
    ReconciliationReport.objects.filter(pk=full_report.pk).update(
        started_at=timezone.now() - timedelta(days=31)
    )

    report = nightly(firm)

    assert (report.scope, report.changes_since, report.accounts_checked, report.qbo_queries) == (
        "full",
        None,
        2,
        2,
    )


def test_everything_is_compared_when_the_inbox_has_not_read_qbo_since_the_previous_report(
    connected, firm, full_report
):
    ChangePoll.objects.filter(connection=connected).update(
        changed_since=full_report.started_at - timedelta(minutes=1)
    )

    assert nightly(firm).scope == "full"


def test_everything_is_compared_after_the_company_was_connected_again(connected, firm, full_report):
    connected.__class__.objects.filter(pk=connected.pk).update(connected_at=timezone.now())

    assert nightly(firm).scope == "full"


def test_the_button_always_compares_everything(connected, firm, full_report):
    report = run_report(firm)

    assert (report.scope, report.accounts_checked, report.qbo_queries) == ("full", 2, 2)


def test_the_page_says_what_a_report_read_and_compared(connected, firm, full_report, owner_client):
    nightly(firm)

    html = owner_client.get(reverse("health:reconciliation")).content.decode()

    assert "0 QuickBooks reads" in html
    assert "Only the accounts with changes since" in html
    assert "the other 2 accounts as the previous report found them" in html
    assert "(nightly, changes only)" not in html  # the latest is shown above, not in the history
    assert "every 30 days" in html

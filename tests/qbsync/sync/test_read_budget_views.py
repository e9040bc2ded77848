"""What firms and ops see of the read budget: the QuickBooks page's reads this month (pick lists kept, so a
visit costs no read), the banner while reads are paused, `qbsync_status`, `qbsync_reads` and /readyz."""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from qbsync.quickbooks.metering import MeteredCall
from qbsync.sync.engine import metering
from qbsync.sync.models import QuickBooksConnection, ReadBudgetMonth

pytestmark = pytest.mark.django_db


def reads_of(firm) -> int:
    return metering.firm_calls(firm.pk)["reads"]


def test_the_quickbooks_page_shows_the_months_reads_and_a_visit_costs_none(owner_client, connected, firm):
    first = owner_client.get(reverse("quickbooks:settings"))
    assert first.status_code == 200
    after_first = reads_of(firm)
    page = owner_client.get(reverse("quickbooks:settings")).content.decode()
    assert reads_of(firm) == after_first  # customer types and items are kept on the connection
    assert f'data-testid="qbo-reads">{after_first}<' in page
    assert "sending invoices, payments and edits is free" in page
    assert "QuickBooks reads are paused" not in page


def test_reading_the_pick_lists_again_costs_their_reads(owner_client, connected, firm):
    owner_client.get(reverse("quickbooks:settings"))
    before = reads_of(firm)
    response = owner_client.post(reverse("quickbooks:pick_lists_refresh"), follow=True)
    assert "read again from QuickBooks Online" in response.content.decode()
    assert reads_of(firm) == before + 2  # customer types, items
    assert QuickBooksConnection.objects.get(pk=connected.pk).pick_lists["items"]


def test_staff_cannot_read_the_pick_lists_again(staff_client, connected):
    assert staff_client.post(reverse("quickbooks:pick_lists_refresh")).status_code == 403


def test_while_reads_are_paused_a_banner_and_the_page_say_so(owner_client, connected, firm):
    metering.reads_pause(reason=ReadBudgetMonth.PauseReason.REFUSED, detail="API read limit exceeded")
    page = owner_client.get(reverse("quickbooks:settings")).content.decode()
    assert "QuickBooks reads are paused until" in page
    assert "New invoices, payments and edits still go to QuickBooks" in page
    assert "QuickBooks refused reads" in page
    accounts = owner_client.get(reverse("accounts:list")).content.decode()
    assert "QuickBooks reads are paused until" in accounts


def test_ops_see_the_reads_in_qbsync_status_readyz_and_qbsync_reads(client, settings, firm):
    settings.QBO_MONTHLY_READ_BUDGET = 1000
    metering.calls_count(firm_id=firm.pk, realm_id="123", call=MeteredCall(reads=250, writes=40))
    metering.read_budget_check()
    out = io.StringIO()
    call_command("qbsync_status", stdout=out)
    text = out.getvalue()
    assert "250 of 1,000 (25.0%)" in text
    assert "realm 123" in text
    out = io.StringIO()
    call_command("qbsync_status", "--json", stdout=out)
    assert json.loads(out.getvalue())["qbo_reads"]["reads"] == 250
    detail = client.get("/readyz").json()["detail"]["qbo_reads"]
    assert (detail["reads"], detail["budget"], detail["reads_paused"]) == (250, 1000, False)

    out = io.StringIO()
    call_command("qbsync_reads", "--pause", stdout=out)
    assert "paused" in out.getvalue()
    assert client.get("/readyz").json()["detail"]["qbo_reads"]["reads_paused"] is True
    out = io.StringIO()
    call_command("qbsync_reads", "--resume", stdout=out)
    assert "Reads resumed." in out.getvalue()
    assert metering.reads_paused() is None

"""The README's "Try VAT in the demo", end to end: the UK demo firm's owner signs in with the printed
credentials, connects a new "UK (VAT)" company made on the sandbox's consent page, saves the tax codes the
QuickBooks page suggests, runs the first sync with a real worker, and every invoice and the payment are in
QuickBooks once, at the billed totals and VAT to the cent."""

import re
import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from qbsync.demo.services import DEMO_UK_FIRM_SLUG
from qbsync.firms.models import Firm
from qbsync.sync.models import BulkSyncPlan, InvoiceSyncLink, PaymentSyncLink, QuickBooksConnection
from qbsync.sync.states import SyncState
from tests.qbsync.sync.test_connection_flow import follow_back, start_connect
from tests.workers import sandbox_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
D = Decimal


def consent_to_a_new_uk_company(sandbox, authorize_url: str, name: str) -> str:
    """On the sandbox's consent page: name a new company, choose the kind "UK (VAT)", Connect."""
    import requests

    http = requests.Session()
    http.trust_env = False
    page = http.get(authorize_url, timeout=10).text
    assert '<option value="uk">UK (VAT)</option>' in page
    form = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page))
    form |= {"action": "connect", "new_company": name, "new_company_preset": "uk"}
    back = http.post(f"{sandbox.base_url}/connect/oauth2", data=form, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    return back.headers["Location"]


def selected_value(html: str, field: str) -> str:
    select = re.search(rf'<select id="{field}" name="{field}"[^>]*>(.*?)</select>', html, re.S)
    assert select, field
    return re.search(r'<option value="([^"]*)" selected>', select.group(1)).group(1)


def wait_for(condition, timeout: float, what: str, worker) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{worker.log()}"
        time.sleep(0.25)


def test_the_uk_demo_firm_sends_its_vat_invoices_to_a_uk_company(client, qbo, capsys):
    call_command("seed_demo")
    assert "owner-uk / demo-owner-uk-2026" in capsys.readouterr().out
    firm = Firm.objects.get(slug=DEMO_UK_FIRM_SLUG)
    assert client.login(username="owner-uk", password="demo-owner-uk-2026")

    follow_back(client, consent_to_a_new_uk_company(qbo, start_connect(client), "Demo VAT Ltd"))
    connection = QuickBooksConnection.objects.get(firm=firm)
    assert connection.status == QuickBooksConnection.Status.CONNECTED
    assert qbo.control.settings(connection.realm_id)["region"] == "UK"

    # The QuickBooks page suggests "20.0% S" for VAT 20% and "No VAT" for the disbursement's line.
    page = client.get(reverse("quickbooks:settings")).content.decode()
    assert "VAT/GST (a tax code on every line)" in page
    rate = firm.tax_rates.get(name="VAT 20%")
    assert "20.0% S (20.0% S 20%) (suggested)</option>" in page
    choices = {
        f"code_{rate.pk}": selected_value(page, f"code_{rate.pk}"),
        "untaxed_code": selected_value(page, "untaxed_code"),
    }
    saved = client.post(reverse("quickbooks:tax_codes_save"), choices, follow=True)
    assert "Tax codes saved." in saved.content.decode()

    worker = sandbox_worker(qbo, name="demo-uk", concurrency=2)
    try:
        client.post(reverse("quickbooks:bulk_preview"))
        plan = BulkSyncPlan.objects.get(firm=firm)
        wait_for(lambda: BulkSyncPlan.objects.get(pk=plan.pk).state == "ready", 60, "the preview", worker)
        client.post(reverse("quickbooks:bulk_start", args=[plan.pk]))
        invoices = firm.invoices.count()

        def settled() -> bool:
            done = InvoiceSyncLink.objects.filter(firm=firm, state__in=[SyncState.SYNCED, SyncState.FAILED])
            paid = PaymentSyncLink.objects.filter(firm=firm, state__in=[SyncState.SYNCED, SyncState.FAILED])
            return done.count() == invoices and paid.count() == 1

        wait_for(settled, 180, "the first sync", worker)
    finally:
        log = worker.log()
        worker.stop()

    links = list(InvoiceSyncLink.objects.filter(firm=firm).select_related("invoice"))
    outcomes = [(link.state, link.error_explanation) for link in links]
    assert outcomes == [(SyncState.SYNCED, "")] * invoices, log
    sent = {i["Id"]: i for i in qbo.control.entities(connection.realm_id, "Invoice")}
    assert len(sent) == invoices == 5
    billed = {}
    for link in links:
        theirs = sent[link.qbo_invoice_id]
        assert D(str(theirs["TotalAmt"])) == link.invoice.total
        assert D(str(theirs["TxnTaxDetail"].get("TotalTax", 0))) == link.invoice.tax_total
        assert D(str(theirs["Balance"])) == link.invoice.balance
        billed[link.invoice.number] = (link.invoice.total, link.invoice.tax_total)
    assert billed == {
        "UK-00001": (D("540.00"), D("90.00")),
        "UK-00002": (D("420.00"), D("70.00")),
        "UK-00003": (D("340.00"), D("51.00")),  # 3 x 85.00 at 20 %, and a 34.00 disbursement without VAT
        "UK-00004": (D("1140.00"), D("190.00")),
        "UK-00005": (D("180.00"), D("30.00")),  # billed including VAT
    }
    [payment] = qbo.control.entities(connection.realm_id, "Payment")
    assert D(str(payment["TotalAmt"])) == D("540.00")
    assert PaymentSyncLink.objects.get(firm=firm).state == SyncState.SYNCED

"""Issue 16 in Chromium, with a real worker and the sandbox over HTTP: a UK firm's invoice at "VAT 20%" goes
Failed because the rate has no QuickBooks tax code yet, and says to map it; the admin follows the invoice's
link to the QuickBooks page, finds "20.0% S" suggested, saves, and the invoice goes again by itself and ends
Synced, in QuickBooks once, at the billed total with 20 % VAT of its net."""

import uuid
from decimal import Decimal

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from invoices.services import firm_invoicing_update
from qbsync.firms.services import FirmSettingsData
from qbsync.sync.engine.causes import FailureCause
from qbsync.sync.models import InvoiceSyncLink, TaxCodeMapping
from qbsync.sync.services.connections import connection_apply_first_defaults, connection_check
from tests.browser.conftest import sign_in, wait_for_url
from tests.factories import AccountFactory, connection_for_realm, make_invoice, make_tax_rate
from tests.workers import sandbox_worker

pytestmark = pytest.mark.django_db(transaction=True)

# Generous: the worker links the account first, then sends the invoice, each with its own reads.
SETTLE_SECONDS = 90


def shown_status(browser, url: str, wanted: str, timeout: float = SETTLE_SECONDS) -> str:
    """Reload the invoice's page until its QuickBooks section says ``wanted``; its status then."""

    def status(b):
        b.get(url)
        shown = b.find_element(By.CSS_SELECTOR, "[data-qb-invoice-section]").get_attribute("data-qb-status")
        return shown if shown == wanted else False

    return WebDriverWait(
        browser, timeout, poll_frequency=1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(status, f"the invoice never showed {wanted}")


@pytest.mark.worker
def test_an_unmapped_vat_rate_fails_the_invoice_until_the_admin_maps_it(
    browser, live_server, qbo, firm, owner, firm_admin
):
    firm_invoicing_update(firm=firm, data=FirmSettingsData(region="UK", currency="GBP"))
    realm = qbo.control.create_company(
        f"Brolly Books {uuid.uuid4().hex[:6]}", customer_types=["Individual"], preset="uk"
    )
    connection = connection_for_realm(firm=firm, user=owner, sandbox=qbo, realm_id=realm)
    connection_apply_first_defaults(connection=connection)
    connection_check(connection_id=connection.pk)  # as connecting does: the country (UK) is kept
    vat = make_tax_rate(firm, "VAT 20%", "20")
    account = AccountFactory(firm=firm, name="Brolly Ltd")
    worker = sandbox_worker(qbo, name="tax-mapping", concurrency=2)
    try:
        invoice = make_invoice(account=account, number="UK-100", amounts=("100.00", "33.33"), tax_rate=vat)
        assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
            Decimal("133.33"),
            Decimal("26.67"),
            Decimal("160.00"),
        )
        invoice_url = f"{live_server.url}/invoices/{invoice.pk}/"

        # 1. The worker links the account, then refuses to send the invoice: its rate has no code.
        sign_in(browser, live_server, firm_admin.username)
        assert shown_status(browser, invoice_url, "Failed") == "Failed", worker.log()
        link = InvoiceSyncLink.objects.get(invoice=invoice)
        assert link.error_cause == FailureCause.TAX_UNMAPPED
        explanation = browser.find_element(By.CSS_SELECTOR, ".qb-section__error").text
        assert 'needs a tax code for the tax rate "VAT 20%"' in explanation
        assert "Map this tax rate on the QuickBooks page (Tax codes)" in explanation
        tooltip = browser.find_element(By.ID, f"qb-invoice-tip-{invoice.pk}").get_attribute("textContent")
        assert tooltip.startswith("There is a sync issue with this invoice: The QuickBooks company needs")
        assert "Map this tax rate on the QuickBooks page" in tooltip
        assert qbo.control.entities(realm, "Invoice") == []  # nothing was sent
        browser.screenshot("1-invoice-failed")

        # 2. The invoice's page leads to the Tax codes block, where "20.0% S" is suggested.
        browser.find_element(By.LINK_TEXT, "Open the tax codes on the QuickBooks page").click()
        wait_for_url(browser, f"{live_server.url}/settings/integrations/quickbooks/")
        assert browser.current_url.endswith("#tax-codes")
        block = browser.find_element(By.CSS_SELECTOR, "[data-testid='tax-codes']")
        assert block.find_element(By.CSS_SELECTOR, "[data-testid='tax-model']").text == (
            "VAT/GST (a tax code on every line)"
        )
        code = Select(block.find_element(By.ID, f"code_{vat.pk}"))
        assert code.first_selected_option.text == "20.0% S (20.0% S 20%) (suggested)"
        untaxed = Select(block.find_element(By.ID, "untaxed_code"))
        assert untaxed.first_selected_option.text == "No VAT (no tax) (suggested)"
        browser.screenshot("2-tax-codes-suggested")

        # 3. Saved: the invoice that waited goes again by itself.
        block.find_element(By.XPATH, ".//button[normalize-space()='Save tax codes']").click()
        WebDriverWait(browser, 10).until(
            lambda b: "Tax codes saved." in b.find_element(By.CSS_SELECTOR, ".messages").text
        )
        assert (
            "1 invoice that waited for a tax code went to QuickBooks again."
            in browser.find_element(By.CSS_SELECTOR, ".messages").text
        )
        assert TaxCodeMapping.objects.get(tax_rate=vat).qbo_tax_code_name == "20.0% S"
        browser.screenshot("3-tax-codes-saved")

        # 4. The invoice ends Synced, with its QuickBooks number.
        assert shown_status(browser, invoice_url, "Synced") == "Synced", worker.log()
        browser.screenshot("4-invoice-synced")
    finally:
        worker.stop()

    link = InvoiceSyncLink.objects.get(invoice=invoice)
    [sent] = qbo.control.entities(realm, "Invoice")
    assert sent["Id"] == link.qbo_invoice_id
    assert Decimal(str(sent["TotalAmt"])) == invoice.total == Decimal("160.00")
    lines = [line for line in sent["Line"] if line.get("DetailType") == "SalesItemLineDetail"]
    net = sum((Decimal(str(line["Amount"])) for line in lines), Decimal("0"))
    assert net == Decimal("133.33")
    tax = Decimal(str(sent["TxnTaxDetail"]["TotalTax"]))
    assert tax == (net * Decimal("0.20")).quantize(Decimal("0.01")) == invoice.tax_total
    assert {line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in lines} == {
        TaxCodeMapping.objects.get(tax_rate=vat).qbo_tax_code_id
    }

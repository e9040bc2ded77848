"""Issue 14: an invoice issued for an account whose sync is off says at once that it waits for its account
(status, tooltip, section) and offers to sync the account instead of "Sync this invoice"; syncing the
account from there takes the invoice along. In Chromium, with a real worker and the sandbox over HTTP."""

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from qbsync.sync.display import WAITS_FOR_ITS_ACCOUNT
from qbsync.sync.kinds.accounts import account_sync_skip
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink
from qbsync.sync.states import SyncState
from tests.browser.conftest import sign_in, wait_for_url
from tests.factories import AccountFactory, make_invoice
from tests.faults.invariants import assert_invariants
from tests.workers import sandbox_worker


def invoice_status(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, "[data-qb-invoice-section]").get_attribute("data-qb-status")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_invoice_of_a_skipped_account_offers_to_sync_the_account(
    browser, live_server, qbo, connected, firm, firm_admin
):
    account = AccountFactory(firm=firm, name="Paused Client")
    account_sync_skip(account=account, actor=firm_admin)
    worker = sandbox_worker(qbo, name="unsynced-account", concurrency=1)
    try:
        invoice = make_invoice(account=account, amounts=("80.00",))
        link = InvoiceSyncLink.objects.get(invoice=invoice)
        assert (link.state, link.waits_for_its_account) == (SyncState.SKIPPED, True)  # at once, no wait

        sign_in(browser, live_server, firm_admin.username)
        browser.get(f"{live_server.url}/invoices/{invoice.pk}/")
        assert invoice_status(browser) == "Skipped"
        section = browser.find_element(By.CSS_SELECTOR, "[data-qb-invoice-section]")
        expected = WAITS_FOR_ITS_ACCOUNT.format(noun="invoice")
        assert expected in section.text
        assert not browser.find_elements(By.XPATH, "//button[normalize-space()='Sync this invoice']")
        badge = section.find_element(By.CSS_SELECTOR, ".qb-status")
        tooltip = browser.find_element(By.ID, badge.get_attribute("aria-describedby"))
        ActionChains(browser).move_to_element(badge).perform()
        WebDriverWait(browser, 5).until(lambda b: tooltip.is_displayed())
        assert tooltip.text == expected
        browser.screenshot("1-invoice-waits-for-its-account")

        browser.find_element(By.LINK_TEXT, "Sync the account to QuickBooks").click()
        wait_for_url(browser, f"{live_server.url}/clients/accounts/{account.pk}/quickbooks/")
        browser.find_element(By.XPATH, "//button[normalize-space()='Sync by name']").click()
        wait_for_url(browser, f"{live_server.url}/clients/accounts/{account.pk}/")
        # Once the account is Synced, its invoice asks again in the same transaction: the invoice page then
        # shows Syncing (and follows it) or Synced, never Skipped.
        WebDriverWait(browser, 30, poll_frequency=0.25).until(
            lambda b: AccountSyncLink.objects.get(account=account).state == SyncState.SYNCED,
            f"the account never synced; worker log:\n{worker.log()}",
        )
        browser.get(f"{live_server.url}/invoices/{invoice.pk}/")
        assert invoice_status(browser) in ("Syncing", "Synced")
        WebDriverWait(
            browser, 30, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,)
        ).until(lambda b: invoice_status(b) == "Synced", f"never Synced; worker log:\n{worker.log()}")
        browser.screenshot("2-synced-with-its-account")
    finally:
        worker.stop()
    assert AccountSyncLink.objects.get(account=account).state == SyncState.SYNCED
    assert_invariants(qbo, {firm: connected.realm_id})

"""Issue 14, the re-link flow in Chromium with a real worker: an admin links a synced account to another
QuickBooks customer from the Sync page; its invoice and payment show Syncing while their copies move, then
Synced, and in QBO they are under the new customer, once each."""

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState
from tests.browser.conftest import sign_in, wait_for_url
from tests.factories import AccountFactory, make_invoice, make_payment, sandbox_create
from tests.faults.invariants import assert_invariants, wait_settled
from tests.workers import sandbox_worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_admin_links_an_account_to_another_customer_and_its_records_follow(
    browser, live_server, qbo, connected, firm, firm_admin
):
    realm = connected.realm_id
    account = AccountFactory(firm=firm, name="Relinked Client")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    invoice = make_invoice(account=account, amounts=("250.00",))
    payment = make_payment(account=account, amount="100.00", allocations={invoice: "100.00"})
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=invoice).pk) == "synced"
    assert payment_push(link_id=PaymentSyncLink.objects.get(payment=payment).pk) == "synced"
    old = AccountSyncLink.objects.get(account=account).qbo_customer_id
    other = sandbox_create(qbo, realm, "Customer", {"DisplayName": "Relinked Client Holdings"})

    sign_in(browser, live_server, firm_admin.username)
    browser.get(f"{live_server.url}/clients/accounts/{account.pk}/quickbooks/")
    browser.screenshot("1-sync-page-pick-another-customer")
    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Link Relinked Client Holdings']").click()
    wait_for_url(browser, f"{live_server.url}/clients/accounts/{account.pk}/")
    worker = sandbox_worker(qbo, name="relink-ui", concurrency=2)
    try:
        WebDriverWait(browser, 30, poll_frequency=0.25).until(
            lambda b: AccountSyncLink.objects.get(account=account).qbo_customer_id == other["Id"],
            f"the account never linked; worker log:\n{worker.log()}",
        )
        browser.get(f"{live_server.url}/invoices/{invoice.pk}/")
        browser.screenshot("2-invoice-while-its-copy-moves")
        wait_settled([firm], 60)
        browser.get(f"{live_server.url}/invoices/{invoice.pk}/")
        WebDriverWait(
            browser, 15, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,)
        ).until(
            lambda b: (
                b.find_element(By.CSS_SELECTOR, "[data-qb-invoice-section]").get_attribute("data-qb-status")
                == "Synced"
            )
        )
        section = browser.find_element(By.CSS_SELECTOR, "[data-qb-invoice-section]").text
        assert "moving to the account's new QuickBooks customer" not in section
        browser.screenshot("3-invoice-synced-under-the-new-customer")
    finally:
        worker.stop()
    assert InvoiceSyncLink.objects.get(invoice=invoice).state == SyncState.SYNCED
    assert PaymentSyncLink.objects.get(payment=payment).state == SyncState.SYNCED
    under = {
        entity: {r["CustomerRef"]["value"] for r in qbo.control.entities(realm, entity)}
        for entity in ("Invoice", "Payment")
    }
    assert under == {"Invoice": {other["Id"]}, "Payment": {other["Id"]}}
    assert old != other["Id"]
    assert_invariants(qbo, {firm: realm}, strict=False)

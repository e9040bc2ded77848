"""Issue 14, in Chromium with a real worker: right after connecting, the Accounts list says how many
accounts wait for the firm's first sync and leads the owner to review and start it; once it has run, the
accounts are Synced and the call is gone."""

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from qbsync.sync.display import WAITING_FOR_FIRST_SYNC
from qbsync.sync.models import AccountSyncLink
from qbsync.sync.states import SyncState
from tests.browser.conftest import sign_in
from tests.faults.invariants import assert_invariants, wait_settled
from tests.qbsync.sync.test_first_sync_due import made_before_connecting
from tests.workers import sandbox_worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_after_connecting_the_owner_is_led_to_start_the_first_sync(
    browser, live_server, qbo, connected, firm, owner
):
    invoiced, paid, _ = made_before_connecting(connected, firm)
    sign_in(browser, live_server, owner.username)
    browser.get(f"{live_server.url}/clients/accounts/")
    notice = browser.find_element(By.CSS_SELECTOR, "[data-first-sync-due]")
    assert notice.get_attribute("data-first-sync-due") == "2"
    assert "2 accounts are due to sync to QuickBooks Online" in notice.text
    row = browser.find_element(By.XPATH, f"//tr[.//a[normalize-space()='{invoiced.name}']]")
    badge = row.find_element(By.CSS_SELECTOR, ".qb-status")
    tooltip = browser.find_element(By.ID, badge.get_attribute("aria-describedby"))
    ActionChains(browser).move_to_element(badge).perform()
    WebDriverWait(browser, 5).until(lambda b: tooltip.is_displayed())
    assert tooltip.text == WAITING_FOR_FIRST_SYNC
    browser.screenshot("1-accounts-list-first-sync-due")

    worker = sandbox_worker(qbo, name="first-sync", concurrency=2)
    try:
        notice.find_element(By.XPATH, ".//button[normalize-space()='Review the first sync']").click()
        start = WebDriverWait(browser, 30, poll_frequency=0.25).until(
            lambda b: b.find_elements(By.XPATH, "//button[normalize-space()='Start the sync']"),
            f"the preview never got ready; worker log:\n{worker.log()}",
        )
        browser.screenshot("2-first-sync-preview")
        start[0].click()
        WebDriverWait(browser, 60, poll_frequency=0.25).until(
            lambda b: (
                set(
                    AccountSyncLink.objects.filter(account__in=[invoiced, paid]).values_list(
                        "state", flat=True
                    )
                )
                == {SyncState.SYNCED}
            ),
            f"the accounts never synced; worker log:\n{worker.log()}",
        )
        wait_settled([firm], 60)  # their invoice and payment follow
    finally:
        worker.stop()
    browser.get(f"{live_server.url}/clients/accounts/")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-first-sync-due]")
    browser.screenshot("3-after-the-first-sync")
    assert_invariants(qbo, {firm: connected.realm_id}, strict=False)

"""An admin syncs accounts from the Info tab in Chromium, against a real worker process and the sandbox over
HTTP: pick a customer and watch Syncing turn into Synced without a reload, then see a vendor name clash fail
with its reason in the tooltip; staff see the statuses but not the menu."""

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from qbsync.sync.engine.explanations import said_on
from qbsync.sync.kinds.accounts import account_sync_request
from qbsync.sync.models import AccountSyncLink
from qbsync.sync.states import SyncState
from tests.browser.conftest import sign_in, wait_for_url
from tests.factories import AccountFactory, sandbox_create
from tests.workers import WorkerProcess, sandbox_worker

SETTLE_SECONDS = 30


def start_worker(qbo) -> WorkerProcess:
    return sandbox_worker(qbo, name="ui", concurrency=1)


def section_status(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, "[data-qb-section]").get_attribute("data-qb-status")


def wait_for_section_status(browser, status: str, worker: WorkerProcess) -> None:
    # The poll swaps the whole section when the status changes: a found element may go stale at once.
    WebDriverWait(
        browser, SETTLE_SECONDS, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,)
    ).until(
        lambda b: section_status(b) == status,
        f"the status never became {status}; worker log:\n{worker.log()}",
    )


def open_sync_page_from_the_menu(browser, live_server, account) -> None:
    browser.find_element(By.CSS_SELECTOR, "[data-qb-section] summary.menu__button").click()
    browser.find_element(By.LINK_TEXT, "Sync Account to QuickBooks").click()
    wait_for_url(browser, f"{live_server.url}/clients/accounts/{account.pk}/quickbooks/")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_admin_syncs_accounts_and_staff_only_watch(
    browser, live_server, qbo, qbo_connection, firm, firm_admin, staff_user
):
    realm = qbo_connection.realm_id
    customer = sandbox_create(qbo, realm, "Customer", {"DisplayName": "Acme Holdings"})
    sandbox_create(qbo, realm, "Vendor", {"DisplayName": "Staples"})
    acme = AccountFactory(firm=firm, name="Acme Corp")
    staples = AccountFactory(firm=firm, name="Staples")
    detail = f"{live_server.url}/clients/accounts/{{}}/"

    # 1. The admin opens the Info tab, then the "⋯" menu beside the status.
    sign_in(browser, live_server, firm_admin.username)
    browser.get(detail.format(acme.pk))
    assert section_status(browser) == "Not synced"
    browser.find_element(By.CSS_SELECTOR, "[data-qb-section] summary.menu__button").click()
    assert browser.find_element(By.LINK_TEXT, "Sync Account to QuickBooks").is_displayed()
    skip = browser.find_element(By.XPATH, "//button[normalize-space()='Do not sync this account']")
    assert skip.is_displayed()
    browser.screenshot("1-info-tab-menu")

    # 2. "Sync Account to QuickBooks" and "Link" the existing customer of another name.
    browser.find_element(By.LINK_TEXT, "Sync Account to QuickBooks").click()
    wait_for_url(browser, f"{live_server.url}/clients/accounts/{acme.pk}/quickbooks/")
    browser.screenshot("2-sync-page-picker")
    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Link Acme Holdings']").click()
    wait_for_url(browser, detail.format(acme.pk))
    assert section_status(browser) == "Syncing"
    message = browser.find_element(By.CSS_SELECTOR, ".messages").text
    assert "linking the QuickBooks customer you picked" in message
    browser.screenshot("3-syncing")
    # Marks this page load: a reload would lose it.
    browser.execute_script("window.qbSameLoad = true;")

    # 3. No worker has run yet, so the page shows Syncing until one does; it then refreshes by itself.
    worker = start_worker(qbo)
    try:
        wait_for_section_status(browser, "Synced", worker)
        assert browser.execute_script("return window.qbSameLoad === true;"), "the page was reloaded"
        section = browser.find_element(By.CSS_SELECTOR, "[data-qb-section]").text
        assert f"Acme Holdings (Id {customer['Id']})" in section
        assert f"Picked from the QuickBooks customers by {firm_admin.username}" in section
        assert 'Named "Acme Holdings" in QuickBooks Online; renaming here never renames' in section
        browser.screenshot("4-synced-without-reload")

        # 4. An account whose name a vendor holds: "Sync by name" fails and says why in the tooltip.
        browser.get(detail.format(staples.pk))
        open_sync_page_from_the_menu(browser, live_server, staples)
        browser.find_element(By.XPATH, "//button[normalize-space()='Sync by name']").click()
        wait_for_url(browser, detail.format(staples.pk))
        browser.execute_script("window.qbSameLoad = true;")
        wait_for_section_status(browser, "Failed", worker)
        assert browser.execute_script("return window.qbSameLoad === true;"), "the page was reloaded"
    finally:
        worker.stop()
    link = AccountSyncLink.objects.get(account=staples)
    assert link.state == SyncState.FAILED
    badge = browser.find_element(By.CSS_SELECTOR, "[data-qb-section] .qb-status")
    tooltip = browser.find_element(By.ID, badge.get_attribute("aria-describedby"))
    assert not tooltip.is_displayed()
    ActionChains(browser).move_to_element(badge).perform()
    WebDriverWait(browser, 5).until(lambda b: tooltip.is_displayed())
    # Worded for the Info tab it is read on (not "in the account's Info tab").
    on_info_tab = said_on(link.error_explanation, "info_tab")
    assert tooltip.text == f"There is a sync issue with this account: {on_info_tab}"
    assert "Info tab" not in tooltip.text
    assert "for a vendor" in tooltip.text
    assert badge.get_dom_attribute("title") is None  # one tooltip, not a native one as well
    browser.screenshot("5-failed-tooltip-on-hover")
    # The error sits beside the status, with the menu next to it.
    error = browser.find_element(By.CSS_SELECTOR, "[data-qb-section] .qb-section__error")
    assert "for a vendor" in error.text
    # Keyboard users get the same tooltip by tabbing to the badge.
    ActionChains(browser).move_to_element(browser.find_element(By.CSS_SELECTOR, "h1")).perform()
    browser.find_element(By.ID, "quickbooks-heading").click()
    WebDriverWait(browser, 5).until(lambda b: not tooltip.is_displayed())
    focus_order = []
    for _ in range(40):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.execute_script("return document.activeElement === arguments[0];", badge):
            break
        focus_order.append(browser.execute_script("return document.activeElement.outerHTML.slice(0, 80);"))
    else:
        raise AssertionError(f"the status badge is not reachable with the keyboard: {focus_order}")
    WebDriverWait(browser, 5).until(lambda b: tooltip.is_displayed())
    browser.screenshot("6-failed-tooltip-on-focus")

    # 5. Staff see the statuses (list and Info tab) but no "⋯" menu.
    browser.delete_all_cookies()
    sign_in(browser, live_server, staff_user.username)
    browser.get(f"{live_server.url}/clients/accounts/")
    rows = {
        row.find_element(By.CSS_SELECTOR, "th").text: row.find_element(By.CSS_SELECTOR, ".qb-status").text
        for row in browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    }
    assert rows == {"Acme Corp": "Synced", "Staples": "Failed"}
    chip = browser.find_element(By.CSS_SELECTOR, ".qb-filters a[href='?qb=Failed']")
    assert chip.text.split() == ["Failed", "1"]
    failed_badge = browser.find_element(By.CSS_SELECTOR, f"[data-qb-cell='{staples.pk}'] .qb-status")
    ActionChains(browser).move_to_element(failed_badge).perform()
    list_tooltip = browser.find_element(By.ID, f"qb-tip-{staples.pk}")
    WebDriverWait(browser, 5).until(lambda b: list_tooltip.is_displayed())
    assert "for a vendor" in list_tooltip.text
    browser.screenshot("7-staff-list-failed-tooltip")
    browser.get(detail.format(staples.pk))
    assert section_status(browser) == "Failed"
    browser.implicitly_wait(0)
    assert not browser.find_elements(By.CSS_SELECTOR, "details.menu")
    assert not browser.find_elements(By.LINK_TEXT, "Sync Account to QuickBooks")
    browser.screenshot("8-staff-info-tab-no-menu")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_syncing_rows_of_the_list_settle_without_reload(
    browser, live_server, qbo, qbo_connection, firm, staff_user
):
    sandbox_create(qbo, qbo_connection.realm_id, "Vendor", {"DisplayName": "Staples"})
    accounts = [AccountFactory(firm=firm, name=name) for name in ("Acme Corp", "Bright Ledger", "Staples")]
    for account in accounts:
        account_sync_request(account=account, trigger="auto")

    sign_in(browser, live_server, staff_user.username)
    browser.get(f"{live_server.url}/clients/accounts/")
    browser.execute_script("window.qbSameLoad = true;")

    def statuses(b) -> list[str]:
        return [
            b.find_element(By.CSS_SELECTOR, f"[data-qb-cell='{a.pk}']").get_attribute("data-qb-status")
            for a in accounts
        ]

    assert statuses(browser) == ["Syncing", "Syncing", "Syncing"]
    browser.screenshot("1-list-syncing")
    worker = start_worker(qbo)
    try:
        WebDriverWait(
            browser, SETTLE_SECONDS, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,)
        ).until(
            lambda b: statuses(b) == ["Synced", "Synced", "Failed"],
            f"the rows never settled; worker log:\n{worker.log()}",
        )
    finally:
        worker.stop()
    assert browser.execute_script("return window.qbSameLoad === true;"), "the page was reloaded"
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "tbody .qb-status")] == [
        "Synced",
        "Synced",
        "Failed",
    ]
    browser.screenshot("2-list-settled")

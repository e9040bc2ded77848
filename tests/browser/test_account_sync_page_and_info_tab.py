"""Issue 14 in Chromium, with a real worker and the sandbox over HTTP.

The Sync page fits the failure it follows: after a vendor name clash, creating under "Staples (client)" is
proposed and first, names QBO would refuse are caught on the form with their reason, and no text sends the
reader to the Info tab they came from. The Info tab shows its payments' QuickBooks status (badge and
tooltip), and its invoice and payment rows follow the account when its QuickBooks section settles."""

import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from qbsync.sync.display import payment_badge
from qbsync.sync.kinds.accounts import account_push, account_sync_request, account_sync_skip
from qbsync.sync.models import AccountSyncLink
from qbsync.sync.states import SyncState
from tests.browser.conftest import sign_in, wait_for_url
from tests.factories import AccountFactory, make_invoice, make_payment, sandbox_create
from tests.workers import sandbox_worker

SETTLE_SECONDS = 30
INFO_TAB_WORDS = "Info tab"
IGNORED = (StaleElementReferenceException,)


def create_field(browser):
    return browser.find_element(By.ID, "id_display_name")


def submit_create(browser, live_server, account, name: str) -> None:
    field = create_field(browser)
    browser.execute_script("arguments[0].value = arguments[1];", field, name)  # tabs and newlines as typed
    browser.find_element(By.XPATH, "//button[normalize-space()='Create customer and link']").click()
    # The refusal is the sync URL answering with the page again (status 400), the old field gone.
    WebDriverWait(browser, 10).until(lambda b: staleness(field))
    wait_for_url(browser, f"{live_server.url}/clients/accounts/{account.pk}/quickbooks/sync/")


def staleness(element) -> bool:
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        # Asked mid-navigation, Chromium can answer a gone node with this inspector error instead.
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def field_error(browser) -> str:
    section = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby='create-customer']")
    return section.find_element(By.CSS_SELECTOR, ".errorlist").text


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_sync_page_after_a_vendor_clash_proposes_a_name_and_catches_refused_ones(
    browser, live_server, qbo, connected, firm, firm_admin
):
    realm = connected.realm_id
    sandbox_create(qbo, realm, "Vendor", {"DisplayName": "Staples"})
    sandbox_create(qbo, realm, "Customer", {"DisplayName": "Staples Inc"})
    account = AccountFactory(firm=firm, name="Staples")
    link = account_sync_request(account=account, actor=firm_admin)
    account_push(link_id=link.pk)
    link.refresh_from_db()
    assert (link.state, link.error_cause) == (SyncState.FAILED, "name_used_by_other")

    # 1. The Info tab explains the clash without sending the reader to the Info tab.
    sign_in(browser, live_server, firm_admin.username)
    browser.get(f"{live_server.url}/clients/accounts/{account.pk}/")
    error = browser.find_element(By.CSS_SELECTOR, "[data-qb-section] .qb-section__error").text
    assert "for a vendor" in error
    assert INFO_TAB_WORDS not in error
    assert 'use "Sync Account to QuickBooks" in the "⋯" menu beside the status' in error
    badge = browser.find_element(By.CSS_SELECTOR, "[data-qb-section] .qb-status")
    tooltip = browser.find_element(By.ID, badge.get_attribute("aria-describedby"))
    ActionChains(browser).move_to_element(badge).perform()
    WebDriverWait(browser, 5).until(lambda b: tooltip.is_displayed())
    assert "for a vendor" in tooltip.text
    assert INFO_TAB_WORDS not in tooltip.text
    browser.screenshot("1-info-tab-vendor-clash")

    # 2. The Sync page: creating under "Staples (client)" comes first and is the main button.
    browser.find_element(By.CSS_SELECTOR, "[data-qb-section] summary.menu__button").click()
    browser.find_element(By.LINK_TEXT, "Sync Account to QuickBooks").click()
    wait_for_url(browser, f"{live_server.url}/clients/accounts/{account.pk}/quickbooks/")
    assert create_field(browser).get_attribute("value") == "Staples (client)"
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section.card h2")]
    assert headings == ["Create new customer in QuickBooks", "Link an existing customer", "Sync by name"]
    primary = browser.find_elements(By.CSS_SELECTOR, "button.button--primary")
    assert [b.text for b in primary] == ["Create customer and link"]
    alert = browser.find_element(By.CSS_SELECTOR, ".alert--error").text
    assert "use this page to pick an existing customer" in alert
    assert INFO_TAB_WORDS not in alert
    assert "1 active customer matches." in browser.find_element(By.ID, "picker-count").text
    browser.screenshot("2-sync-page-fits-the-clash")

    # 3. Names QBO would refuse are caught on the form, with the reason, and nothing is queued. (A text
    # input drops line breaks itself; the Django tests post one.)
    refused = [
        ("Staples", 'QuickBooks Online already uses the name "Staples" for a vendor'),
        ("staples inc", 'QuickBooks Online already has a customer named "Staples Inc"'),
        ("Staples: Client", "does not allow colons, tabs or line breaks"),
        ("Staples\tClient", "does not allow colons, tabs or line breaks"),
        ("x" * 501, "allows at most 500 characters (this has 501)"),
        ("   ", "Enter a name for the new customer."),
    ]
    for typed, reason in refused:
        submit_create(browser, live_server, account, typed)
        assert reason in field_error(browser), typed
        assert AccountSyncLink.objects.get(account=account).state == SyncState.FAILED
    browser.screenshot("3-refused-name-on-the-form")

    # 4. The proposed name goes through, and the worker creates it.
    browser.get(f"{live_server.url}/clients/accounts/{account.pk}/quickbooks/")
    browser.find_element(By.XPATH, "//button[normalize-space()='Create customer and link']").click()
    wait_for_url(browser, f"{live_server.url}/clients/accounts/{account.pk}/")
    worker = sandbox_worker(qbo, name="sync-page", concurrency=1)
    try:
        WebDriverWait(browser, SETTLE_SECONDS, poll_frequency=0.25, ignored_exceptions=IGNORED).until(
            lambda b: (
                b.find_element(By.CSS_SELECTOR, "[data-qb-section]").get_attribute("data-qb-status")
                == "Synced"
            ),
            f"never Synced; worker log:\n{worker.log()}",
        )
    finally:
        worker.stop()
    link.refresh_from_db()
    assert (link.state, link.qbo_display_name) == (SyncState.SYNCED, "Staples (client)")
    browser.screenshot("4-created-under-the-proposed-name")


def row_statuses(browser, kind: str) -> list[str]:
    return [
        cell.get_attribute("data-qb-status")
        for cell in browser.find_elements(By.CSS_SELECTOR, f"[data-qb-{kind}-cell]")
    ]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_info_tab_shows_payments_and_its_rows_follow_the_account(
    browser, live_server, qbo, connected, firm, firm_admin
):
    account = AccountFactory(firm=firm, name="Paused Client")
    account_sync_skip(account=account, actor=firm_admin)
    invoice = make_invoice(account=account, amounts=("80.00",))
    payment = make_payment(account=account, amount="50.00", allocations={invoice: "50.00"})

    sign_in(browser, live_server, firm_admin.username)
    browser.get(f"{live_server.url}/clients/accounts/{account.pk}/")
    browser.execute_script("window.qbSameLoad = true;")
    payments = browser.find_element(By.ID, "account-payment-rows")
    headers = [th.get_attribute("textContent") for th in payments.find_elements(By.CSS_SELECTOR, "thead th")]
    assert headers[-1] == "QuickBooks"
    assert row_statuses(browser, "invoice") == ["Skipped"]
    assert row_statuses(browser, "payment") == ["Skipped"]
    # The payment's badge and tooltip are payment_badge's.
    payment.refresh_from_db()
    expected = payment_badge(payment, connected=True)
    badge = payments.find_element(By.CSS_SELECTOR, f"[data-qb-payment-cell='{payment.pk}'] .qb-status")
    tooltip = browser.find_element(By.ID, badge.get_attribute("aria-describedby"))
    ActionChains(browser).move_to_element(badge).perform()
    WebDriverWait(browser, 5).until(lambda b: tooltip.is_displayed())
    assert (badge.text, tooltip.text) == (expected.label, expected.tooltip)
    assert badge.get_dom_attribute("title") is None  # one tooltip per badge
    browser.screenshot("1-info-tab-payment-status")

    # Sync the account; its invoice and payment come along, and their rows follow without a reload.
    browser.find_element(By.CSS_SELECTOR, "[data-qb-section] summary.menu__button").click()
    browser.find_element(By.LINK_TEXT, "Sync Account to QuickBooks").click()
    wait_for_url(browser, f"{live_server.url}/clients/accounts/{account.pk}/quickbooks/")
    browser.find_element(By.XPATH, "//button[normalize-space()='Sync by name']").click()
    # The Sync page's own URL starts with the Info tab's: wait for the Info tab itself, or the flag below
    # would be set on the page being left.
    info_tab = f"{live_server.url}/clients/accounts/{account.pk}/"
    WebDriverWait(browser, 10).until(lambda b: b.current_url.split("#")[0].split("?")[0] == info_tab)
    wait_for_url(browser, info_tab)
    browser.execute_script("window.qbSameLoad = true;")
    assert (
        browser.find_element(By.CSS_SELECTOR, "[data-qb-section]").get_attribute("data-qb-status")
        == "Syncing"
    )
    assert row_statuses(browser, "payment") == ["Skipped"]
    worker = sandbox_worker(qbo, name="info-tab-rows", concurrency=1)
    try:
        WebDriverWait(browser, SETTLE_SECONDS, poll_frequency=0.25, ignored_exceptions=IGNORED).until(
            lambda b: (row_statuses(b, "invoice"), row_statuses(b, "payment")) == (["Synced"], ["Synced"]),
            f"the rows never followed the account; worker log:\n{worker.log()}",
        )
    finally:
        worker.stop()
    assert browser.execute_script("return window.qbSameLoad === true;"), "the page was reloaded"
    assert (
        browser.find_element(By.CSS_SELECTOR, "[data-qb-section]").get_attribute("data-qb-status") == "Synced"
    )
    browser.screenshot("2-rows-followed-the-account")

"""In Chromium: an account's QuickBooks section refreshes itself while Syncing, and the sync history in it
keeps the outcome filter the page was opened with (the poll passes ?history= along), showing the new events
of that outcome only, without a reload."""

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from qbsync.sync.models import AccountSyncLink, QuickBooksConnection, SyncEvent
from qbsync.sync.states import SyncState
from tests.browser.conftest import sign_in
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)


def history_messages(browser) -> list[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, "[data-qb-section] .qb-event td:nth-child(2)")
    # Each message follows its outcome, which is there for screen readers only ("Failed: ...").
    return [row.text.splitlines()[-1] for row in rows]


def current_filter(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, "[data-qb-section] .qb-history-filter [aria-current]").text


def test_the_refreshed_section_keeps_the_history_filter(browser, live_server, firm, owner, staff_user):
    QuickBooksConnection.objects.create(
        firm=firm, realm_id="4620816365000000010", access_token="a", refresh_token="r", connected_by=owner
    )
    account = AccountFactory(firm=firm, name="Filtered Client")
    # A sync under way: the section shows Syncing and polls the status URL.
    AccountSyncLink.objects.create(firm=firm, account=account, state=SyncState.SYNCING)
    for outcome, message in (("failure", "First try refused."), ("success", "Earlier success.")):
        SyncEvent.objects.create(
            firm=firm, account=account, outcome=outcome, trigger="worker", message=message
        )

    sign_in(browser, live_server, staff_user.username)
    browser.get(f"{live_server.url}/clients/accounts/{account.pk}/?history=failure#quickbooks")
    browser.execute_script("window.qbSameLoad = true;")
    section = browser.find_element(By.CSS_SELECTOR, "[data-qb-section]")
    assert section.get_attribute("data-qb-status") == "Syncing"
    assert (current_filter(browser), history_messages(browser)) == ("Failed", ["First try refused."])

    # The worker finishes: a new failure and a new success are recorded, and the account ends Failed.
    SyncEvent.objects.create(
        firm=firm, account=account, outcome="failure", trigger="worker", message="Refused again."
    )
    SyncEvent.objects.create(
        firm=firm, account=account, outcome="success", trigger="worker", message="Half done."
    )
    AccountSyncLink.objects.filter(account=account).update(
        state=SyncState.FAILED, error_cause="refused", error_explanation="QuickBooks refused it."
    )

    WebDriverWait(
        browser, 15, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,)
    ).until(
        lambda b: (
            b.find_element(By.CSS_SELECTOR, "[data-qb-section]").get_attribute("data-qb-status") == "Failed"
        ),
        "the section never refreshed to Failed",
    )
    assert browser.execute_script("return window.qbSameLoad === true;"), "the page was reloaded"
    assert current_filter(browser) == "Failed"
    assert history_messages(browser) == ["Refused again.", "First try refused."]
    browser.screenshot("refreshed-filtered")

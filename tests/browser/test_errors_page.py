"""An admin fixes a duplicate-name failure from the QuickBooks errors page in Chromium: the account's name is
a vendor's in QBO, so the admin creates the customer under another name; a real worker process takes it to
the sandbox over HTTP, and the account ends Synced with the customer under the new name."""

import time

import pytest
from selenium.webdriver.common.by import By

from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.models import AccountSyncLink
from qbsync.sync.states import SyncState
from tests.browser.conftest import sign_in, wait_for_url
from tests.factories import AccountFactory, sandbox_create
from tests.workers import sandbox_worker

SETTLE_SECONDS = 30


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_admin_creates_the_customer_under_another_name_from_the_errors_page(
    browser, live_server, qbo, qbo_connection, firm, firm_admin
):
    realm = qbo_connection.realm_id
    sandbox_create(qbo, realm, "Vendor", {"DisplayName": "Staples"})
    staples = AccountFactory(firm=firm, name="Staples")
    assert account_push(link_id=account_sync_request(account=staples).pk) == "failed"
    assert AccountSyncLink.objects.get(account=staples).error_cause == "name_used_by_other"

    # 1. From any page, the nav leads the admin to the errors page: one group, its count, what to do.
    sign_in(browser, live_server, firm_admin.username)
    browser.find_element(By.LINK_TEXT, "QuickBooks errors").click()
    wait_for_url(browser, f"{live_server.url}/sync-health/errors/")
    group = browser.find_element(By.CSS_SELECTOR, "[data-cause='name_used_by_other']")
    heading = group.find_element(By.TAG_NAME, "h2").text
    assert heading.split() == ["Name", "used", "by", "a", "vendor", "or", "employee", "1"]
    assert "cannot share a name" in group.text
    row = group.find_element(By.CSS_SELECTOR, f"[data-record='account-{staples.pk}']")
    assert "for a vendor" in row.text
    assert row.find_element(By.LINK_TEXT, "Link another customer").is_displayed()
    browser.screenshot("1-errors-page")

    # 2. The proposed name is filled in; the admin adjusts it and creates the customer under it.
    name_field = row.find_element(By.CSS_SELECTOR, "input[name='display_name']")
    assert name_field.get_attribute("value") == "Staples (client)"
    name_field.clear()
    name_field.send_keys("Staples Client Account")
    row.find_element(By.CSS_SELECTOR, "button[aria-label='Create customer for Staples']").click()
    wait_for_url(browser, f"{live_server.url}/sync-health/errors/")
    assert (
        "creating the QuickBooks customer “Staples Client Account”"
        in browser.find_element(By.CSS_SELECTOR, ".messages").text
    )
    browser.screenshot("2-create-requested")

    # 3. A real worker takes the request to the sandbox.
    worker = sandbox_worker(qbo, name="errors-page", concurrency=1)
    try:
        deadline = time.monotonic() + SETTLE_SECONDS
        while AccountSyncLink.objects.get(account=staples).state != SyncState.SYNCED:
            assert time.monotonic() < deadline, f"never Synced; worker log:\n{worker.log()}"
            time.sleep(0.25)
    finally:
        worker.stop()
    link = AccountSyncLink.objects.get(account=staples)
    assert (link.link_method, link.qbo_display_name) == ("created", "Staples Client Account")
    customers = [c for c in qbo.control.entities(realm, "Customer") if c.get("Active", True)]
    assert [(c["Id"], c["DisplayName"]) for c in customers] == [
        (link.qbo_customer_id, "Staples Client Account")
    ]

    # 4. The errors page is empty now, and the account's page says Synced.
    browser.get(f"{live_server.url}/sync-health/errors/")
    assert "Nothing is Failed" in browser.find_element(By.ID, "no-errors").text
    browser.screenshot("3-no-errors")
    browser.get(f"{live_server.url}/clients/accounts/{staples.pk}/")
    status = browser.find_element(By.CSS_SELECTOR, "[data-qb-section]").get_attribute("data-qb-status")
    assert status == "Synced"
    browser.screenshot("4-account-synced")

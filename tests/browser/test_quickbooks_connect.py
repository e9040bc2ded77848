"""An owner connects the firm to the sandbox company through the real authorize flow, in Chromium."""

import pytest
from selenium.webdriver.common.by import By

from qbsync.sync.models import QuickBooksConnection
from tests.browser.conftest import sign_in, wait_for_url


@pytest.fixture
def live_qbo(settings, live_server, qbo):
    redirect_uri = f"{live_server.url}/settings/integrations/quickbooks/callback/"
    qbo.control.register_client("qbsync-browser", "qbsync-browser-secret", [redirect_uri])
    settings.QBO_CLIENT_ID = "qbsync-browser"
    settings.QBO_CLIENT_SECRET = "qbsync-browser-secret"
    settings.QBO_REDIRECT_URI = redirect_uri
    return qbo


@pytest.mark.django_db(transaction=True)
def test_owner_connects_in_the_browser(browser, live_server, live_qbo, qbo_realm, owner, firm):
    sign_in(browser, live_server, owner.username)
    browser.get(f"{live_server.url}/settings/integrations/quickbooks/")
    browser.screenshot("1-not-connected")
    browser.find_element(By.XPATH, "//button[contains(., 'Connect to QuickBooks')]").click()
    wait_for_url(browser, f"{live_qbo.base_url}/connect/oauth2")
    browser.find_element(By.CSS_SELECTOR, f"input[name=realmId][value='{qbo_realm}']").click()
    browser.screenshot("2-consent")
    browser.find_element(By.CSS_SELECTOR, "button.go").click()
    wait_for_url(browser, f"{live_server.url}/settings/integrations/quickbooks/")
    body = browser.find_element(By.TAG_NAME, "body").text
    browser.screenshot("3-connected")
    assert "Connected to QuickBooks Online company" in body
    assert qbo_realm in body
    connection = QuickBooksConnection.objects.get(firm=firm)
    assert connection.realm_id == qbo_realm
    assert connection.status == QuickBooksConnection.Status.CONNECTED


@pytest.mark.django_db(transaction=True)
def test_staff_sees_no_connect_button(browser, live_server, live_qbo, staff_user):
    sign_in(browser, live_server, staff_user.username)
    browser.get(f"{live_server.url}/settings/integrations/quickbooks/")
    assert "Only the firm's owner can connect" in browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.XPATH, "//button[contains(., 'Connect to QuickBooks')]")

"""Headless Chromium (Debian's chromium and chromium-driver packages) driving the live app.

Screenshots land in test-artifacts/ (kept by CI). Without Chromium the browser tests skip locally and
fail under CI=true.
"""

import shutil
from pathlib import Path

import pytest

from tests.conftest import _missing

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser(request):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        _missing("needs Chromium: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1300,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    ARTIFACTS.mkdir(exist_ok=True)
    driver.screenshot = lambda name: driver.save_screenshot(
        str(ARTIFACTS / f"{request.node.name}-{name}.png")
    )
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(browser, live_server, username: str, password: str | None = None) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.factories import TEST_PASSWORD

    browser.get(f"{live_server.url}/login/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password or TEST_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda b: "/login/" not in b.current_url)


def wait_for_url(browser, prefix: str, timeout: float = 10) -> None:
    """A click starts a navigation but does not wait for it; wait until the browser has arrived."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout).until(
        lambda b: b.current_url.startswith(prefix), f"never reached {prefix} (at {browser.current_url})"
    )
    WebDriverWait(browser, timeout).until(
        lambda b: b.execute_script("return document.readyState") == "complete"
    )

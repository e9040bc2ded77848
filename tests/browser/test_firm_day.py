"""Issue 14, a firm's day in Chromium without dead ends: the left menu bar (a menu button on a phone), the
Accounts list and the Info tab at 375 px wide and by touch, filter counts that follow the rows and the
search, tooltips (Escape, one per badge, the payment's), long unbroken names, and the reconciliation page's
own nav entry."""

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from qbsync.sync.display import payment_tooltip
from qbsync.sync.models import AccountSyncLink, PaymentSyncLink, QuickBooksConnection, SyncEvent
from qbsync.sync.states import SyncState
from tests.browser.conftest import sign_in
from tests.factories import AccountFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = (375, 812)
NAV_ITEMS = ["Accounts", "Invoices", "Settings", "QuickBooks errors", "Reconciliation", "Notifications"]
LONG_NAME = "Z" * 600


@pytest.fixture
def connection(firm, owner):
    # Connected as far as the pages are concerned; nothing here talks to QuickBooks.
    return QuickBooksConnection.objects.create(
        firm=firm, realm_id="4620816365000000014", access_token="a", refresh_token="r", connected_by=owner
    )


def link(account, state, **fields) -> AccountSyncLink:
    return AccountSyncLink.objects.create(firm=account.firm, account=account, state=state, **fields)


def tap(browser, element) -> None:
    """A touch tap (pointerType "touch"), as a phone sends it."""
    actions = ActionBuilder(browser, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
    actions.pointer_action.move_to(element).pointer_down().pointer_up()
    actions.perform()


def viewport_width(browser) -> int:
    return browser.execute_script("return document.documentElement.clientWidth;")


def page_width(browser) -> int:
    return browser.execute_script("return document.documentElement.scrollWidth;")


def overflowing(browser) -> list[str]:
    """The page's horizontal overflow, and every scrolling box (table frame) wider inside than outside."""
    return browser.execute_script(
        """
        var found = [];
        var root = document.documentElement;
        if (root.scrollWidth > root.clientWidth) {
          found.push("page " + root.scrollWidth + " > " + root.clientWidth);
        }
        document.querySelectorAll(".table-wrap").forEach(function (box) {
          if (box.scrollWidth > box.clientWidth) {
            found.push((box.querySelector("table").getAttribute("aria-labelledby") || "table") + " " +
              box.scrollWidth + " > " + box.clientWidth);
          }
        });
        return found;
        """
    )


def in_viewport(browser, element) -> bool:
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    return browser.execute_script(
        """
        var r = arguments[0].getBoundingClientRect();
        var root = document.documentElement;
        return r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 &&
          r.right <= root.clientWidth + 0.5 && r.bottom <= window.innerHeight + 0.5;
        """,
        element,
    )


def within_width(browser, element) -> bool:
    return browser.execute_script(
        "var r = arguments[0].getBoundingClientRect();"
        "return r.width > 0 && r.left >= 0 && r.right <= document.documentElement.clientWidth + 0.5;",
        element,
    )


def main_nav(browser):
    return browser.find_element(By.CSS_SELECTOR, "nav[aria-label='Main']")


def nav_link(browser, text):
    return main_nav(browser).find_element(By.XPATH, f".//a[normalize-space(text())='{text}']")


def log_out_button(browser):
    return main_nav(browser).find_element(By.XPATH, ".//button[normalize-space()='Log out']")


# 1. and 6. Navigation ------------------------------------------------------------------------------


def test_a_left_menu_bar_with_every_entry_and_the_current_page_marked(
    browser, live_server, firm_admin, connection
):
    sign_in(browser, live_server, firm_admin.username)
    browser.get(f"{live_server.url}/clients/accounts/")
    nav = main_nav(browser)
    menu_button = browser.find_element(By.CSS_SELECTOR, "[aria-controls='main-nav']")
    assert not menu_button.is_displayed(), "a wide screen needs no menu button"
    # A bar down the left edge, beside the page, its entries one under the other.
    bar = nav.rect
    page = browser.find_element(By.ID, "main").rect
    assert bar["x"] < 20, bar
    assert bar["width"] < 320, bar
    assert bar["x"] + bar["width"] <= page["x"] + 1, (bar, page)
    assert bar["height"] >= page["height"] or bar["height"] >= 700
    tops = [nav_link(browser, text).rect["y"] for text in NAV_ITEMS] + [log_out_button(browser).rect["y"]]
    assert tops == sorted(set(tops)), tops
    # Clients > Accounts: the group label sits above its entry.
    assert nav.find_element(By.ID, "nav-clients").get_attribute("textContent") == "Clients"
    assert nav.find_element(By.ID, "nav-clients").rect["y"] < tops[0]
    assert nav_link(browser, "Accounts").get_attribute("aria-current") == "page"
    browser.screenshot("desktop-accounts")

    for path, current in (
        ("/invoices/", "Invoices"),
        ("/sync-health/errors/", "QuickBooks errors"),
        ("/sync-health/reconciliation/", "Reconciliation"),
        ("/sync-health/notifications/", "Notifications"),
    ):
        browser.get(f"{live_server.url}{path}")
        marked = [
            a.text.split("\n")[0].strip()
            for a in main_nav(browser).find_elements(By.CSS_SELECTOR, "a[aria-current='page']")
        ]
        assert marked == [current], (path, marked)
    browser.screenshot("desktop-reconciliation")


def test_on_a_phone_the_menu_button_reaches_every_entry(browser, live_server, firm_admin, connection):
    browser.set_window_size(*PHONE)
    sign_in(browser, live_server, firm_admin.username)
    browser.get(f"{live_server.url}/clients/accounts/")
    assert viewport_width(browser) <= PHONE[0]
    menu_button = browser.find_element(By.CSS_SELECTOR, "[aria-controls='main-nav']")
    assert menu_button.is_displayed()
    assert in_viewport(browser, menu_button)
    assert menu_button.get_attribute("aria-expanded") == "false"
    assert not nav_link(browser, "Settings").is_displayed(), "the menu starts closed on a phone"

    tap(browser, menu_button)
    WebDriverWait(browser, 5).until(lambda b: nav_link(b, "Settings").is_displayed(), "the menu never opened")
    assert menu_button.get_attribute("aria-expanded") == "true"
    browser.screenshot("phone-menu-open")
    for text in NAV_ITEMS:
        entry = nav_link(browser, text)
        assert entry.is_displayed(), text
        assert in_viewport(browser, entry), text
    assert log_out_button(browser).is_displayed()
    assert in_viewport(browser, log_out_button(browser))
    assert page_width(browser) <= viewport_width(browser)

    tap(browser, nav_link(browser, "QuickBooks errors"))
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith("/sync-health/errors/"))
    # Escape closes the open menu too, and gives the focus back to its button.
    menu_button = browser.find_element(By.CSS_SELECTOR, "[aria-controls='main-nav']")
    menu_button.click()
    WebDriverWait(browser, 5).until(lambda b: nav_link(b, "Settings").is_displayed())
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    WebDriverWait(browser, 5).until(lambda b: not nav_link(b, "Settings").is_displayed())
    assert browser.execute_script("return document.activeElement === arguments[0];", menu_button)


# 2. The Accounts list and the Info tab on a phone ------------------------------------------------------


def test_accounts_list_and_info_tab_at_375_px_by_touch(browser, live_server, firm, firm_admin, connection):
    names = ["Acme Corp", "Bright Ledger Bookkeeping and Tax Advisory Services", "Chen & Daughters"]
    accounts = [
        AccountFactory(
            firm=firm, name=name, email=f"billing{i}@example-accounting-firm.com", phone="+1 555 0100"
        )
        for i, name in enumerate(names)
    ]
    link(accounts[0], SyncState.SYNCED, qbo_customer_id="58", qbo_display_name="Acme Corp")
    link(accounts[1], SyncState.FAILED, error_cause="duplicate_name", error_explanation="Another one has it.")
    browser.set_window_size(*PHONE)
    sign_in(browser, live_server, firm_admin.username)

    browser.get(f"{live_server.url}/clients/accounts/")
    assert viewport_width(browser) <= PHONE[0]
    browser.screenshot("accounts-list-375")
    assert overflowing(browser) == []
    for account in accounts:
        row = browser.find_element(By.XPATH, f"//tbody/tr[th//a[@href='/clients/accounts/{account.pk}/']]")
        name = row.find_element(By.CSS_SELECTOR, "th a")
        status = row.find_element(By.CSS_SELECTOR, ".qb-status")
        assert name.text == account.name
        assert in_viewport(browser, name), account.name
        assert in_viewport(browser, status), account.name

    tap(browser, browser.find_element(By.LINK_TEXT, "Acme Corp"))
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith(f"/clients/accounts/{accounts[0].pk}/"))
    assert overflowing(browser) == []
    assert page_width(browser) <= viewport_width(browser)
    menu_button = browser.find_element(By.CSS_SELECTOR, "[data-qb-section] summary.menu__button")
    assert in_viewport(browser, menu_button)
    tap(browser, menu_button)
    item = browser.find_element(By.LINK_TEXT, "Sync Account to QuickBooks")
    WebDriverWait(browser, 5).until(lambda b: item.is_displayed(), "tapping ⋯ did not open the menu")
    assert in_viewport(browser, item)
    assert in_viewport(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Unsync']"))
    assert page_width(browser) <= viewport_width(browser), "the open menu pushes the page sideways"
    browser.screenshot("info-tab-375-menu-open")
    # A tap elsewhere closes it.
    tap(browser, browser.find_element(By.ID, "quickbooks-heading"))
    WebDriverWait(browser, 5).until(lambda b: not item.is_displayed(), "the menu stayed open")
    browser.execute_script("window.scrollTo(0, 0);")
    browser.screenshot("info-tab-375")


# 3. Filter counts ---------------------------------------------------------------------------------


def counts(browser) -> dict[str, int]:
    chips = browser.find_elements(By.CSS_SELECTOR, ".qb-filters .qb-filter")
    found = {}
    for chip in chips:
        count = chip.find_elements(By.CSS_SELECTOR, ".qb-filter__count")
        if count:
            found[" ".join(chip.text.split()[:-1])] = int(count[0].text)
    return found


def test_filter_counts_follow_the_rows_as_they_settle_and_the_search(
    browser, live_server, firm, staff_user, connection
):
    syncing = [AccountFactory(firm=firm, name=f"Acme {n}") for n in ("North", "South", "West")]
    for account in syncing:
        link(account, SyncState.SYNCING)
    link(AccountFactory(firm=firm, name="Beacon Books"), SyncState.SYNCING)
    link(AccountFactory(firm=firm, name="Acme Failed"), SyncState.FAILED, error_explanation="No.")
    AccountFactory(firm=firm, name="Cobalt Tax")

    sign_in(browser, live_server, staff_user.username)
    browser.get(f"{live_server.url}/clients/accounts/")
    assert counts(browser) == {"Synced": 0, "Syncing": 4, "Failed": 1, "Not synced": 1, "Skipped": 0}

    # The search: the counts are of the accounts that match it.
    browser.get(f"{live_server.url}/clients/accounts/?q=acme")
    browser.execute_script("window.qbSameLoad = true;")
    assert counts(browser) == {"Synced": 0, "Syncing": 3, "Failed": 1, "Not synced": 0, "Skipped": 0}

    # The rows settle by themselves (a worker finished): the counts follow without a reload.
    AccountSyncLink.objects.filter(account__in=syncing[:2]).update(state=SyncState.SYNCED)
    AccountSyncLink.objects.filter(account=syncing[2]).update(
        state=SyncState.FAILED, error_explanation="Refused."
    )
    expected = {"Synced": 2, "Syncing": 0, "Failed": 2, "Not synced": 0, "Skipped": 0}
    WebDriverWait(
        browser, 15, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,)
    ).until(lambda b: counts(b) == expected, f"the counts stayed {counts(browser)}")
    assert browser.execute_script("return window.qbSameLoad === true;"), "the page was reloaded"
    statuses = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "tbody .qb-status")]
    assert sorted(statuses) == ["Failed", "Failed", "Synced", "Synced"]
    browser.screenshot("counts-settled")


# 4. Tooltips --------------------------------------------------------------------------------------


def tooltip_of(browser, badge):
    return browser.find_element(By.ID, badge.get_attribute("aria-describedby"))


def test_tooltips_one_per_badge_escape_dismisses_them_and_payments_have_theirs(
    browser, live_server, firm, staff_user, connection
):
    account = AccountFactory(firm=firm, name="Acme Corp")
    link(account, SyncState.SYNCING)
    payment = make_payment(account=account, amount="10.00")
    PaymentSyncLink.objects.filter(payment=payment).delete()
    PaymentSyncLink.objects.create(
        firm=firm,
        payment=payment,
        state=SyncState.FAILED,
        error_explanation="QuickBooks refused the payment.",
    )
    sign_in(browser, live_server, staff_user.username)

    for url in (
        f"/clients/accounts/{account.pk}/",
        "/clients/accounts/",
        "/settings/",
        f"/invoices/payments/{payment.pk}/",
    ):
        browser.get(f"{live_server.url}{url}")
        badges = browser.find_elements(By.CSS_SELECTOR, ".qb-status")
        assert badges, url
        for badge in badges:
            assert badge.get_dom_attribute("title") is None, f"{url}: a native title doubles the tooltip"
            assert tooltip_of(browser, badge).get_attribute("role") == "tooltip"

    # The payment's badge has its tooltip, on hover and on focus, like the others.
    badge = browser.find_element(By.CSS_SELECTOR, "#quickbooks .qb-status")
    tip = tooltip_of(browser, badge)
    assert not tip.is_displayed()
    ActionChains(browser).move_to_element(badge).perform()
    WebDriverWait(browser, 5).until(lambda b: tip.is_displayed(), "no tooltip on hover")
    assert tip.text == payment_tooltip(PaymentSyncLink.objects.get(payment=payment))
    assert tip.text == "There is a sync issue with this payment: QuickBooks refused the payment."
    browser.screenshot("payment-tooltip")

    # Escape dismisses a tooltip shown by hover, while the pointer stays on the badge...
    browser.get(f"{live_server.url}/clients/accounts/{account.pk}/")
    badge = browser.find_element(By.CSS_SELECTOR, "[data-qb-section] .qb-status")
    tip = tooltip_of(browser, badge)
    ActionChains(browser).move_to_element(badge).perform()
    WebDriverWait(browser, 5).until(lambda b: tip.is_displayed())
    assert tip.text == "This account is being synced. This process takes time."
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    WebDriverWait(browser, 5).until(lambda b: not tip.is_displayed(), "Escape left the hover tooltip")
    # ...and one shown by focus, which stays on the badge.
    # The pointer leaves the badge for the page's heading (an offset could leave the window).
    ActionChains(browser).move_to_element(browser.find_element(By.CSS_SELECTOR, "h1")).perform()
    browser.execute_script("arguments[0].focus();", badge)
    WebDriverWait(browser, 5).until(lambda b: tip.is_displayed(), "no tooltip on focus")
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    WebDriverWait(browser, 5).until(lambda b: not tip.is_displayed(), "Escape left the focus tooltip")
    assert browser.execute_script("return document.activeElement === arguments[0];", badge)
    # Leaving and coming back shows it again.
    browser.execute_script("arguments[0].blur();", badge)
    cell = badge.find_element(By.XPATH, "..")
    WebDriverWait(browser, 5).until(lambda b: "qb-cell--dismissed" not in cell.get_attribute("class"))
    browser.execute_script("arguments[0].focus();", badge)
    WebDriverWait(browser, 5).until(lambda b: tip.is_displayed(), "the tooltip never came back")


# 5. Long names ------------------------------------------------------------------------------------


def test_an_unbroken_600_character_name_wraps_everywhere(browser, live_server, firm, firm_admin, connection):
    account = AccountFactory(firm=firm, name=LONG_NAME, email="a@example.com")
    explanation = f'QuickBooks Online already has a vendor named "{LONG_NAME}".'
    link(account, SyncState.FAILED, error_cause="duplicate_name", error_explanation=explanation)
    SyncEvent.objects.create(
        firm=firm, account=account, outcome="failure", trigger="worker", message=explanation
    )
    make_invoice(account=account)
    sign_in(browser, live_server, firm_admin.username)

    browser.get(f"{live_server.url}/clients/accounts/{account.pk}/")
    assert browser.find_element(By.TAG_NAME, "h1").text.replace("\n", "").startswith(LONG_NAME)
    assert overflowing(browser) == []
    badge = browser.find_element(By.CSS_SELECTOR, "[data-qb-section] .qb-status")
    ActionChains(browser).move_to_element(badge).perform()
    tip = tooltip_of(browser, badge)
    WebDriverWait(browser, 5).until(lambda b: tip.is_displayed())
    assert within_width(browser, tip)
    assert overflowing(browser) == []
    browser.screenshot("info-tab")

    browser.get(f"{live_server.url}/clients/accounts/")
    assert overflowing(browser) == []
    badge = browser.find_element(By.CSS_SELECTOR, "tbody .qb-status")
    ActionChains(browser).move_to_element(badge).perform()
    tip = tooltip_of(browser, badge)
    WebDriverWait(browser, 5).until(lambda b: tip.is_displayed())
    assert within_width(browser, tip)
    browser.screenshot("accounts-list")

    browser.get(f"{live_server.url}/invoices/")
    assert overflowing(browser) == []
    browser.screenshot("invoice-list")

    browser.get(f"{live_server.url}/sync-health/errors/")
    assert browser.find_element(By.CSS_SELECTOR, f"[data-record='account-{account.pk}']")
    assert overflowing(browser) == []
    browser.screenshot("errors-page")

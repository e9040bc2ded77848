"""Issue 13, item 7: amounts go to QBO without a currency, so QBO books them in its home currency. A firm
keeping another currency has its invoices and payments refused before anything is sent, with the reason
(customers still sync: they carry no amounts). Against the sandbox over HTTP."""

import html

import pytest

from qbsync.health.causes import guide_for
from qbsync.quickbooks.records import CompanyPreferences
from qbsync.sync.engine.causes import FailureCause
from qbsync.sync.engine.company import currency_refusal
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice, make_payment

from .test_transaction_batches import api_requests, drain

pytestmark = pytest.mark.django_db


def _writes(qbo, realm) -> list[str]:
    return [r["operation"] for r in api_requests(qbo, realm) if r["method"] == "POST"]


@pytest.fixture
def gbp_company(qbo, connected):
    qbo.control.settings(connected.realm_id, home_currency="GBP")
    return connected


def test_a_usd_firm_on_a_gbp_company_sends_no_invoice_or_payment_and_says_why(qbo, gbp_company, firm):
    assert firm.currency == "USD"
    account = AccountFactory(firm=firm, name="Pound Client")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    assert AccountSyncLink.objects.get(account=account).qbo_customer_id  # customers carry no amounts
    writes_before = _writes(qbo, gbp_company.realm_id)

    invoice = make_invoice(account=account, amounts=("100.00",))
    payment = make_payment(account=account, amount="40.00", allocations={invoice: "40.00"})
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=invoice).pk) == "failed"
    assert payment_push(link_id=PaymentSyncLink.objects.get(payment=payment).pk) in ("failed", "waiting")

    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert (link.state, link.error_cause) == (SyncState.FAILED, FailureCause.CURRENCY_MISMATCH)
    assert link.error_explanation.startswith(
        "This firm keeps its amounts in USD, but the connected QuickBooks Online company's home currency is "
        "GBP: QuickBooks would book them as GBP, so nothing was sent."
    )
    assert _writes(qbo, gbp_company.realm_id) == writes_before
    assert qbo.control.entities(gbp_company.realm_id, "Invoice") == []
    assert qbo.control.entities(gbp_company.realm_id, "Payment") == []
    assert guide_for(FailureCause.CURRENCY_MISMATCH).title == "Currency differs from QuickBooks"


def test_a_payment_on_its_own_is_refused_too(qbo, gbp_company, firm):
    account = AccountFactory(firm=firm, name="Unapplied Client")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    payment = make_payment(account=account, amount="25.00")
    assert payment_push(link_id=PaymentSyncLink.objects.get(payment=payment).pk) == "failed"
    link = PaymentSyncLink.objects.get(payment=payment)
    assert link.error_cause == FailureCause.CURRENCY_MISMATCH
    assert qbo.control.entities(gbp_company.realm_id, "Payment") == []


def test_a_first_sync_in_batches_is_refused_before_any_batch_is_sent(qbo, gbp_company, firm):
    account = AccountFactory(firm=firm, name="Batch Pound Client")
    made = [make_invoice(account=account) for _ in range(3)]
    make_payment(account=account, amount="50.00", allocations={made[0]: "50.00"})
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    drain(firm)
    assert "batch" not in _writes(qbo, gbp_company.realm_id)
    causes = set(InvoiceSyncLink.objects.filter(firm=firm).values_list("state", "error_cause"))
    assert causes == {(SyncState.FAILED, FailureCause.CURRENCY_MISMATCH)}
    assert qbo.control.entities(gbp_company.realm_id, "Invoice") == []


def test_a_firm_in_the_companys_home_currency_syncs(qbo, firm, owner):
    # A UK company (home currency GBP, VAT codes on every line) and a firm keeping pounds.
    from invoices.services import firm_invoicing_update
    from qbsync.firms.services import FirmSettingsData
    from tests.factories import connect_to_company, map_tax_codes

    firm_invoicing_update(firm=firm, data=FirmSettingsData(region="UK", currency="GBP"))
    connection = connect_to_company(qbo, firm, owner, "uk")
    realm = connection.realm_id
    map_tax_codes(connection, owner, {}, untaxed="No VAT")
    account = AccountFactory(firm=firm, name="Pound Client")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    invoice = make_invoice(account=account, amounts=("100.00",))
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice=invoice).pk) == "synced"
    [created] = qbo.control.entities(realm, "Invoice")
    assert created["CurrencyRef"]["value"] == "GBP"


def test_currency_refusal_compares_codes_and_trusts_a_company_that_does_not_say():
    def prefs(home: str) -> CompanyPreferences:
        return CompanyPreferences(custom_txn_numbers=False, home_currency=home, multi_currency=False)

    assert currency_refusal(prefs("USD"), "usd") is None
    assert currency_refusal(prefs(""), "EUR") is None
    refusal = currency_refusal(prefs("CAD"), "USD")
    assert refusal is not None
    assert refusal.cause == FailureCause.CURRENCY_MISMATCH


@pytest.mark.parametrize(
    ("multi_currency", "said", "alert"),
    [
        (False, "do not sync (QuickBooks would book them as GBP) until multicurrency is turned on", True),
        (True, "multicurrency is on: this firm's customers, invoices and payments go in USD", False),
    ],
)
def test_the_quickbooks_page_says_what_the_currencies_mean(
    owner_client, connected, multi_currency, said, alert
):
    from django.urls import reverse

    from qbsync.sync.engine.company import preferences_keep

    preferences_keep(
        connected.pk,
        CompanyPreferences(
            custom_txn_numbers=False, home_currency="GBP", multi_currency=multi_currency, country="GB"
        ),
    )
    page = html.unescape(owner_client.get(reverse("quickbooks:settings")).content.decode())
    assert said in page
    assert ('class="alert" role="alert" data-testid="currency-status"' in page) is alert

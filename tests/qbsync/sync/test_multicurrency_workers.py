"""A firm keeping euros, connected to a US company with multicurrency on (issue 16), through a real worker:
customers are created in EUR, invoices and payments carry CurrencyRef and go once with their amounts, and
an existing customer of the same name in dollars is never linked (explained, with a name to create
under)."""

from decimal import Decimal

import pytest

from invoices.services import firm_invoicing_update
from qbsync.firms.services import FirmSettingsData
from qbsync.sync.engine.causes import FailureCause
from qbsync.sync.kinds.accounts import account_sync_request
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, connect_to_company, make_invoice, make_payment, sandbox_create
from tests.workers import sandbox_worker

from .test_tax_push_workers import settled

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def test_a_euro_firm_in_a_multicurrency_company(qbo, firm, owner):
    firm_invoicing_update(firm=firm, data=FirmSettingsData(region="OTHER", currency="EUR"))
    firm.refresh_from_db()
    connection = connect_to_company(qbo, firm, owner, "us-multicurrency")
    realm = connection.realm_id
    qbo.control.settings(realm, exchange_rates={"EUR": 1.10})
    sandbox_create(qbo, realm, "Customer", {"DisplayName": "Dollar Namesake LLC"})  # in USD, the home
    fresh = AccountFactory(firm=firm, name="Berlin Steuer GmbH")
    invoice = make_invoice(account=fresh, number="EU-1", amounts=("100.00", "20.50"))
    make_payment(account=fresh, amount="100.00", allocations={invoice: "100.00"})
    namesake = AccountFactory(firm=firm, name="Dollar Namesake LLC")
    make_invoice(account=namesake, number="EU-2", amounts=("10.00",))

    worker = sandbox_worker(qbo, name="eur", concurrency=2)
    try:
        _wait_linked(fresh)
        link = _wait_failed(namesake)
        assert link.error_cause == FailureCause.CUSTOMER_OTHER_CURRENCY
        assert "its currency is USD, and this firm's amounts are in EUR" in link.error_explanation
        assert link.error_proposed_name == "Dollar Namesake LLC (EUR)"
        # The admin creates the customer under the proposed name, as the Sync page offers.
        account_sync_request(
            account=namesake, mode="create", display_name=link.error_proposed_name, actor=owner
        )
        settled(firm)
    finally:
        worker.stop()

    customers = {c["DisplayName"]: c for c in qbo.control.entities(realm, "Customer")}
    assert customers["Berlin Steuer GmbH"]["CurrencyRef"]["value"] == "EUR"
    assert customers["Dollar Namesake LLC (EUR)"]["CurrencyRef"]["value"] == "EUR"
    assert customers["Dollar Namesake LLC"]["CurrencyRef"]["value"] == "USD"
    invoices = {i["Id"]: i for i in qbo.control.entities(realm, "Invoice")}
    links = list(InvoiceSyncLink.objects.filter(firm=firm).select_related("invoice"))
    assert {link.state for link in links} == {SyncState.SYNCED}
    assert len(invoices) == len(links) == 2
    for link in links:
        theirs = invoices[link.qbo_invoice_id]
        assert theirs["CurrencyRef"]["value"] == "EUR"
        assert D(str(theirs["TotalAmt"])) == link.invoice.total
        assert D(str(theirs["Balance"])) == link.invoice.balance
    (payment_link,) = PaymentSyncLink.objects.filter(firm=firm)
    (payment,) = qbo.control.entities(realm, "Payment")
    assert payment_link.state == SyncState.SYNCED
    assert payment["CurrencyRef"]["value"] == "EUR"
    assert D(str(payment["TotalAmt"])) == D("100.00")


def _wait_for(predicate, timeout: float = 60):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


def _wait_linked(account) -> AccountSyncLink:
    return _wait_for(lambda: AccountSyncLink.objects.filter(account=account, state=SyncState.SYNCED).first())


def _wait_failed(account) -> AccountSyncLink:
    return _wait_for(lambda: AccountSyncLink.objects.filter(account=account, state=SyncState.FAILED).first())

"""The adapter and the sandbox class QBO calls the same way (qbsync/quickbooks/metering.py against
qbsync/sandbox/metering.py), over HTTP, for every kind of call the app makes; and a read beyond the
sandbox's monthly cap reaches the app as "reads refused" in either of the answers Intuit might give."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from qbsync.quickbooks import batch, cdc, customers, transactions
from qbsync.quickbooks.client import QboClient
from qbsync.quickbooks.metering import MeteredCall, QboReadsRefusedError, classify
from tests.qbsync.quickbooks.test_governor_over_http import FixedToken
from tests.qbsync.quickbooks.test_metering import Meter

CLIENT_ID = "metering-contract"


@pytest.fixture
def company(qbo_sandbox):
    realm = qbo_sandbox.control.create_company("Contract Co")
    token = qbo_sandbox.control.tokens(realm, client_id=CLIENT_ID)["access_token"]
    meter = Meter()
    client = QboClient(
        realm_id=realm, base_url=qbo_sandbox.api_base, token_source=FixedToken(token), meter=meter
    )
    return client, meter


def _line() -> transactions.InvoiceLineDraft:
    return transactions.InvoiceLineDraft(
        amount=Decimal("25.00"),
        quantity=Decimal("1"),
        unit_price=Decimal("25.00"),
        description="Work",
        item_id="1",
    )


def _every_kind_of_call(client) -> None:
    customer = customers.create_customer(
        client, customers.CustomerDraft(display_name="Contract Ltd"), request_id="c-1"
    )
    customers.read_customer(client, customer.id)
    customers.find_customers_named(client, "Contract Ltd")
    client.company_info()
    client.company_preferences()
    cdc.changed_since(client, ["Customer", "Invoice"], datetime.now(UTC).replace(microsecond=0))
    draft = transactions.InvoiceDraft(
        customer_id=customer.id, txn_date=date(2026, 12, 1), due_date=date(2026, 12, 31), lines=(_line(),)
    )
    invoice = transactions.create_invoice(client, draft, request_id="c-2")
    invoice = transactions.read_invoice(client, invoice.id)
    invoice = transactions.update_invoice_sparse(
        client, invoice.id, invoice.sync_token, draft, request_id="c-3"
    )
    transactions.void_invoice(client, invoice.id, invoice.sync_token, request_id="c-4")
    second = transactions.create_invoice(client, draft, request_id="c-5")
    transactions.delete_invoice(client, second.id, second.sync_token, request_id="c-6")
    batch.batch_write(
        client,
        [("a", "create", "Invoice", draft.payload()), ("b", "create", "Invoice", {"Line": []})],
        request_id="c-7",
    )


def _company_path(entry: dict) -> str:
    return entry["path"].split("/company/", 1)[1].split("/", 1)[1]


def test_the_adapter_and_the_sandbox_class_every_call_alike(company, qbo_sandbox):
    client, meter = company
    _every_kind_of_call(client)
    log = [e for e in qbo_sandbox.control.requests(client.realm_id) if e.get("kind") == "api"]
    assert len(log) == 13
    for entry in log:
        if entry.get("metered_items") is not None:  # the batch: one write applied, one refused
            assert entry["metered_items"] == {"Core": 1, "CorePlus": 0}
            continue
        ours = classify(entry["method"], _company_path(entry))
        assert entry["metered"] == ("CorePlus" if ours.is_read else "Core"), entry["path"]
    # What the adapter counted is what the sandbox metered, call for call.
    metered = qbo_sandbox.control.meter(realm_id=client.realm_id)
    month = metered["months"][metered["month"]]["realms"][client.realm_id]
    assert meter.total == MeteredCall(reads=month["CorePlus"], writes=month["Core"])
    # Reads: the customer, the name query, company info, preferences, CDC, the invoice. Writes: the customer,
    # create, update, void, create, delete and the batch's applied item (the refused one counts for neither).
    assert meter.total == MeteredCall(reads=6, writes=7)


@pytest.mark.parametrize("answer", ["429", "403"])
def test_a_read_beyond_the_cap_is_refused_and_writes_go_on(company, qbo_sandbox, answer):
    client, meter = company
    client.company_info()
    meter_now = qbo_sandbox.control.meter(client_id=CLIENT_ID)
    used = meter_now["months"][meter_now["month"]]["clients"][CLIENT_ID]["CorePlus"]
    qbo_sandbox.control.read_cap(used, client_id=CLIENT_ID, answer=answer)
    try:
        with pytest.raises(QboReadsRefusedError):
            client.company_info()
        assert len(meter.refusals) == 1
        customers.create_customer(
            client, customers.CustomerDraft(display_name="Written Anyway"), request_id=f"w-{answer}"
        )
        assert meter.total == MeteredCall(reads=1, writes=1)
    finally:
        qbo_sandbox.control.read_cap(None, client_id=CLIENT_ID)

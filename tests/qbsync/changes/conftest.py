"""A firm with a synced account and invoice in its sandbox company, and a QBO user who edits that company
directly (as someone in QuickBooks Online would)."""

import time

import pytest
import requests

from qbsync.changes.services.inbox import changes_poll_connection, changes_process
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice


class QboUser:
    """Someone working directly in the sandbox company, through its data API."""

    def __init__(self, sandbox, realm_id: str):
        self.sandbox, self.realm_id = sandbox, realm_id

    def record(self, entity: str, qbo_id: str) -> dict:
        return next(r for r in self.sandbox.control.entities(self.realm_id, entity) if r["Id"] == qbo_id)

    def post(self, entity: str, body: dict, **params) -> dict:
        token = self.sandbox.control.tokens(self.realm_id)["access_token"]
        response = requests.post(
            f"{self.sandbox.api_base}/company/{self.realm_id}/{entity.lower()}",
            params=params,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def update(self, entity: str, qbo_id: str, **fields) -> dict:
        current = self.record(entity, qbo_id)
        body = {"Id": qbo_id, "SyncToken": current["SyncToken"], "sparse": True, **fields}
        return self.post(entity, body)[entity]

    def make_inactive(self, customer_id: str) -> dict:
        return self.update("Customer", customer_id, Active=False)

    def rename(self, customer_id: str, name: str) -> dict:
        return self.update("Customer", customer_id, DisplayName=name)

    def create_customer(self, name: str) -> dict:
        return self.post("Customer", {"DisplayName": name})["Customer"]

    def void_invoice(self, invoice_id: str) -> dict:
        token = self.record("Invoice", invoice_id)["SyncToken"]
        return self.post("Invoice", {"Id": invoice_id, "SyncToken": token}, operation="void")["Invoice"]

    def delete_invoice(self, invoice_id: str) -> None:
        token = self.record("Invoice", invoice_id)["SyncToken"]
        self.post("Invoice", {"Id": invoice_id, "SyncToken": token}, operation="delete")

    def receive_payment(self, customer_id: str, invoice_id: str, amount: str, **extra) -> dict:
        body = {
            "CustomerRef": {"value": customer_id},
            "TotalAmt": amount,
            "TxnDate": "2026-02-03",
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}],
            **extra,
        }
        return self.post("Payment", body)["Payment"]

    def void_payment(self, payment_id: str) -> dict:
        token = self.record("Payment", payment_id)["SyncToken"]
        body = {"Id": payment_id, "SyncToken": token, "sparse": True}
        return self.post("Payment", body, operation="update", include="void")["Payment"]

    def merge(self, from_id: str, into_id: str) -> dict:
        return self.sandbox.control.merge(self.realm_id, from_id, into_id)


@pytest.fixture
def connected(qbo_connection):
    from qbsync.sync.services.connections import connection_apply_first_defaults

    connection_apply_first_defaults(connection=qbo_connection)
    return qbo_connection


@pytest.fixture
def qbo_user(qbo, connected):
    return QboUser(qbo, connected.realm_id)


def _settled_synced(push, link):
    """Push ``link`` here; where a live worker (the end-to-end tests run one) took the committed request
    first, wait for its push to settle instead. Either way the record ends Synced."""
    if push(link_id=link.pk) != "synced":
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and link.state != SyncState.SYNCED:
            time.sleep(0.1)
            link.refresh_from_db()
    link.refresh_from_db()
    assert link.state == SyncState.SYNCED, (link.state, link.error_explanation)
    return link


def sync_account(account) -> AccountSyncLink:
    return _settled_synced(account_push, account_sync_request(account=account))


def push_invoice(invoice) -> InvoiceSyncLink:
    return _settled_synced(invoice_push, InvoiceSyncLink.objects.get(invoice=invoice))


@pytest.fixture
def synced_account(connected, firm):
    account = AccountFactory(firm=firm, name="Harbor Dental LLC")
    sync_account(account)
    return account


@pytest.fixture
def synced_invoice(synced_account):
    invoice = make_invoice(account=synced_account, number="CH-1", amounts=("300.00", "50.00"))
    push_invoice(invoice)
    return invoice


def catch_up(connection) -> dict:
    """What the beat does for one connection: a CDC poll, then the reacting (in this process)."""
    changes_poll_connection(connection_id=connection.pk)
    return changes_process(connection_id=connection.pk)

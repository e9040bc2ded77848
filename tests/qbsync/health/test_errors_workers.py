"""Bulk retry from the errors page through a real worker process and the sandbox over HTTP: one POST asks
every Failed invoice of a cause to sync again, and the worker brings each to QuickBooks once."""

import time
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.models import InvoiceSyncLink
from qbsync.sync.services.connections import connection_apply_first_defaults
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice
from tests.workers import sandbox_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_bulk_retry_reaches_the_sandbox_through_a_worker(qbo, qbo_connection, firm, firm_admin):
    account = AccountFactory(firm=firm, name="Bulk Retry Client")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    invoices = [make_invoice(account=account, number=f"BR-{n}", amounts=(f"{n}0.50",)) for n in (1, 2, 3)]
    for link in InvoiceSyncLink.objects.filter(firm=firm):
        invoice_push(link_id=link.pk)  # no item chosen yet: each fails
    assert set(InvoiceSyncLink.objects.filter(firm=firm).values_list("error_cause", flat=True)) == {"no_item"}
    connection_apply_first_defaults(connection=qbo_connection)  # the admin chooses an item

    admin = Client()
    admin.force_login(firm_admin)
    response = admin.post(reverse("health:errors_retry_group"), {"cause": "no_item"})
    assert response.status_code == 302

    worker = sandbox_worker(qbo, name="health-retry", concurrency=2)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = set(InvoiceSyncLink.objects.filter(firm=firm).values_list("state", flat=True))
            if states == {SyncState.SYNCED}:
                break
            time.sleep(0.25)
        assert states == {SyncState.SYNCED}, worker.log()
    finally:
        worker.stop()
    in_qbo = qbo.control.entities(qbo_connection.realm_id, "Invoice")
    assert sorted(Decimal(str(i["TotalAmt"])) for i in in_qbo) == [Decimal(i.total) for i in invoices]
    assert "Nothing is Failed" in admin.get(reverse("health:errors")).content.decode()

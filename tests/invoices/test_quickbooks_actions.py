"""Owners and admins skip or sync one invoice or payment; staff cannot."""

import pytest
from django.urls import reverse

from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.models import InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice, make_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced_account(qbo_connection, firm):
    from qbsync.sync.services.connections import connection_apply_first_defaults

    connection_apply_first_defaults(connection=qbo_connection)
    account = AccountFactory(firm=firm, name="Choosy Client")
    account_push(link_id=account_sync_request(account=account).pk)
    return account


def test_admin_skips_an_invoice_then_syncs_it_again(qbo, synced_account, firm_admin_client):
    invoice = make_invoice(account=synced_account)
    response = firm_admin_client.post(reverse("invoices:quickbooks_skip", args=[invoice.pk]))
    assert response.status_code == 302
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert link.state == SyncState.SKIPPED
    assert link.skip_reason.startswith("skipped by")
    page = firm_admin_client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
    assert "Sync this invoice" in page

    firm_admin_client.post(reverse("invoices:quickbooks_sync", args=[invoice.pk]))
    link.refresh_from_db()
    assert link.state == SyncState.QUEUED
    invoice_push(link_id=link.pk)
    link.refresh_from_db()
    assert link.state == SyncState.SYNCED
    assert len(qbo.control.entities(synced_account.firm.quickbooks_connection.realm_id, "Invoice")) == 1


def test_admin_skips_and_resyncs_a_payment(qbo, synced_account, firm_admin_client):
    payment = make_payment(account=synced_account, amount="10.00")
    firm_admin_client.post(reverse("invoices:payment_quickbooks_skip", args=[payment.pk]))
    assert PaymentSyncLink.objects.get(payment=payment).state == SyncState.SKIPPED
    page = firm_admin_client.get(reverse("invoices:payment_detail", args=[payment.pk])).content.decode()
    assert "Sync this payment" in page
    firm_admin_client.post(reverse("invoices:payment_quickbooks_sync", args=[payment.pk]))
    assert PaymentSyncLink.objects.get(payment=payment).state == SyncState.QUEUED


def test_staff_cannot_skip_or_sync(synced_account, staff_client):
    invoice = make_invoice(account=synced_account)
    payment = make_payment(account=synced_account, amount="10.00")
    for name, pk in [
        ("invoices:quickbooks_skip", invoice.pk),
        ("invoices:quickbooks_sync", invoice.pk),
        ("invoices:payment_quickbooks_skip", payment.pk),
        ("invoices:payment_quickbooks_sync", payment.pk),
    ]:
        assert staff_client.post(reverse(name, args=[pk])).status_code == 403
    assert InvoiceSyncLink.objects.get(invoice=invoice).state == SyncState.QUEUED
    page = staff_client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
    assert "Do not sync this invoice" not in page

"""The demo firm, synced end to end by a real worker against the sandbox: every account, invoice and
payment that can sync is in QBO exactly once and correct to the cent; what cannot says why."""

import time
from decimal import Decimal

import pytest
from django.db.models import Q

from invoices.models import Invoice, Payment
from qbsync.demo.services import demo_seed
from qbsync.sync.models import (
    AccountSyncLink,
    BulkSyncPlan,
    InvoiceSyncLink,
    PaymentSyncLink,
    QuickBooksConnection,
)
from qbsync.sync.services.connections import connection_apply_first_defaults
from qbsync.sync.states import SyncState
from qbsync.sync.work.bulk import bulk_sync_preview_start, bulk_sync_start
from tests.factories import connection_for_realm
from tests.workers import sandbox_worker

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def unsettled(firm) -> int:
    moving = Q(state=SyncState.SYNCING) | Q(state=SyncState.QUEUED, waiting_reason="")
    return (
        sum(
            model.objects.filter(firm=firm).filter(moving).count()
            for model in (InvoiceSyncLink, PaymentSyncLink)
        )
        + AccountSyncLink.objects.filter(firm=firm, state__in=[SyncState.SYNCING, SyncState.QUEUED]).count()
    )


def test_the_demo_firm_reaches_qbo_correct_to_the_cent(qbo, qbo_realm):
    firm = demo_seed().firm
    owner = firm.members.get(role="owner")
    connection = connection_for_realm(firm=firm, user=owner, sandbox=qbo, realm_id=qbo_realm)
    connection_apply_first_defaults(connection=connection)
    QuickBooksConnection.objects.filter(pk=connection.pk).update(auto_sync_scope="all")
    worker = sandbox_worker(qbo, name="full-sync", concurrency=2)
    try:
        plan = bulk_sync_preview_start(firm=firm, actor=owner)
        deadline = time.monotonic() + 60
        while BulkSyncPlan.objects.get(pk=plan.pk).state != "ready" and time.monotonic() < deadline:
            time.sleep(0.2)
        bulk_sync_start(plan=BulkSyncPlan.objects.get(pk=plan.pk), actor=owner)
        deadline = time.monotonic() + 240
        time.sleep(2)
        while unsettled(firm) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert unsettled(firm) == 0, worker.log()
    finally:
        worker.stop()

    qbo_invoices = {i["Id"]: i for i in qbo.control.entities(qbo_realm, "Invoice")}
    qbo_payments = {p["Id"]: p for p in qbo.control.entities(qbo_realm, "Payment")}
    invoice_links = list(
        InvoiceSyncLink.objects.filter(firm=firm, state=SyncState.SYNCED).select_related("invoice")
    )
    payment_links = list(
        PaymentSyncLink.objects.filter(firm=firm, state=SyncState.SYNCED).select_related("payment")
    )
    assert len(invoice_links) == len(qbo_invoices) > 40, "every QBO invoice is one of ours, once"
    assert len(payment_links) == len(qbo_payments) > 15
    for link in invoice_links:
        assert D(str(qbo_invoices[link.qbo_invoice_id]["TotalAmt"])) == link.invoice.total
    for link in payment_links:
        qbo_payment = qbo_payments[link.qbo_payment_id]
        assert D(str(qbo_payment["TotalAmt"])) == link.payment.amount
        assert D(str(qbo_payment["UnappliedAmt"])) == link.payment.unapplied
    # Every invoice balance in QBO equals ours, for invoices paid only through synced payments.
    for link in invoice_links:
        if all(
            PaymentSyncLink.objects.filter(payment=a.payment, state=SyncState.SYNCED).exists()
            for a in link.invoice.allocations.all()
        ):
            assert D(str(qbo_invoices[link.qbo_invoice_id]["Balance"])) == link.invoice.balance
    # What did not sync says why: failed accounts hold their invoices and payments as waiting.
    for account_link in AccountSyncLink.objects.filter(firm=firm, state=SyncState.FAILED):
        assert account_link.error_explanation
        waiting = InvoiceSyncLink.objects.filter(invoice__account=account_link.account).exclude(
            state=SyncState.SKIPPED
        )
        assert all(link.waiting_reason == "waiting for the account to sync" for link in waiting)
    # The history went out in batches of up to 30, not an invoice or payment at a time.
    calls = [r for r in qbo.control.requests(qbo_realm, limit=10_000) if r.get("kind", "api") == "api"]
    batches = [r for r in calls if r["operation"] == "batch"]
    singles = [
        r
        for r in calls
        if r["operation"] == "create" and r["path"].rsplit("/", 1)[-1] in ("invoice", "payment")
    ]
    assert len(batches) >= 2
    assert len(singles) <= 2, singles
    drafts = Invoice.objects.filter(firm=firm, status=Invoice.Status.DRAFT)
    assert not InvoiceSyncLink.objects.filter(invoice__in=drafts).exists()
    assert Payment.objects.filter(firm=firm).count() >= len(payment_links)

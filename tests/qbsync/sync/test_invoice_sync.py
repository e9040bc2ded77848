"""Invoices reach QBO once their account is synced: created once, edits follow as sparse updates, the
company's numbering preference decides DocNumber, and faults never create a second invoice."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from invoices.models import Invoice
from invoices.services import InvoiceData, InvoiceLineData, invoice_send, invoice_update
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.transactions import WAITING_FOR_ACCOUNT
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, QuickBooksConnection
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def synced_account(connected, firm):
    account = AccountFactory(firm=firm, name="Invoice Client Ltd")
    link = account_sync_request(account=account)
    assert account_push(link_id=link.pk) == "synced"
    return account


def push(invoice: Invoice) -> InvoiceSyncLink:
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    invoice_push(link_id=link.pk)
    link.refresh_from_db()
    return link


def qbo_invoices(qbo, realm):
    return qbo.control.entities(realm, "Invoice")


def test_an_issued_invoice_is_created_in_qbo_with_its_lines(qbo, connected, synced_account):
    invoice = make_invoice(account=synced_account, amounts=("450.00", "120.50"))
    link = push(invoice)
    assert (link.state, link.display_status) == (SyncState.SYNCED, "Synced")
    [created] = qbo_invoices(qbo, connected.realm_id)
    assert created["Id"] == link.qbo_invoice_id
    assert (
        created["CustomerRef"]["value"] == AccountSyncLink.objects.get(account=synced_account).qbo_customer_id
    )
    assert D(str(created["TotalAmt"])) == D("570.50")
    assert [
        D(str(line["Amount"])) for line in created["Line"] if line.get("DetailType") == "SalesItemLineDetail"
    ] == [D("450.00"), D("120.50")]
    assert created["TxnDate"] == invoice.issue_date.isoformat()
    assert created["DueDate"] == invoice.due_date.isoformat()
    assert f"qbsync:inv:{invoice.pk}" in created["PrivateNote"]
    # Custom numbers are off in this company: QBO numbered it, and we keep its number.
    assert link.qbo_doc_number == created["DocNumber"] != ""


def test_with_custom_numbers_our_number_is_sent_and_a_duplicate_fails_with_a_way_out(
    qbo, connected, synced_account
):
    qbo.control.settings(connected.realm_id, custom_txn_numbers=True)
    first = make_invoice(account=synced_account, number="INV-7")
    assert push(first).qbo_doc_number == "INV-7"
    other = AccountFactory(firm=synced_account.firm, name="Other Client")
    account_push(link_id=account_sync_request(account=other).pk)
    from tests.factories import sandbox_create

    customer = AccountSyncLink.objects.get(account=other).qbo_customer_id
    sandbox_create(
        qbo,
        connected.realm_id,
        "Invoice",
        {
            "CustomerRef": {"value": customer},
            "DocNumber": "INV-8",
            "Line": [
                {
                    "Amount": 1,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    clash = make_invoice(account=synced_account, number="INV-8")
    link = push(clash)
    assert (link.state, link.error_cause, link.error_code) == (
        SyncState.FAILED,
        "duplicate_doc_number",
        "6140",
    )
    assert "already has an invoice numbered INV-8" in link.error_explanation


def test_an_invoice_waits_for_its_account_and_goes_when_the_account_links(qbo, connected, firm):
    account = AccountFactory(firm=firm, name="Late Account")
    invoice = make_invoice(account=account)  # issued: the activity rule requests the account's sync too
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert (link.state, link.display_status, link.waiting_reason) == (
        SyncState.QUEUED,
        "Syncing",
        WAITING_FOR_ACCOUNT,
    )
    assert link.invoice.sync_events.filter(kind="waiting").exists()
    assert push(invoice).state == SyncState.QUEUED  # still waiting; never Failed for that alone
    account_push(link_id=AccountSyncLink.objects.get(account=account).pk)
    link.refresh_from_db()
    assert link.waiting_reason == ""
    assert push(invoice).state == SyncState.SYNCED


def test_drafts_never_sync(connected, synced_account):
    draft = make_invoice(account=synced_account, status=Invoice.Status.DRAFT)
    assert not InvoiceSyncLink.objects.filter(invoice=draft).exists()
    invoice_send(invoice=draft)
    assert InvoiceSyncLink.objects.get(invoice=draft).state == SyncState.QUEUED


def test_invoices_before_the_sync_start_date_are_skipped_with_the_reason(connected, synced_account):
    QuickBooksConnection.objects.filter(pk=connected.pk).update(sync_start_date=date(2026, 1, 1))
    old = make_invoice(account=synced_account, issue_date=date(2025, 12, 31))
    link = InvoiceSyncLink.objects.get(invoice=old)
    assert (link.state, link.skip_reason) == (
        SyncState.SKIPPED,
        "dated before the firm's sync start date (2026-01-01)",
    )


def test_an_edit_is_pushed_as_a_sparse_update_and_a_stale_token_is_retried_once(
    qbo, connected, synced_account
):
    invoice = make_invoice(account=synced_account, amounts=("100.00",))
    link = push(invoice)
    qbo_id = link.qbo_invoice_id
    # Someone touches the invoice in QBO, so our SyncToken goes stale.
    from tests.factories import sandbox_create

    current = next(i for i in qbo_invoices(qbo, connected.realm_id) if i["Id"] == qbo_id)
    sandbox_create(
        qbo,
        connected.realm_id,
        "Invoice",
        {"Id": qbo_id, "SyncToken": current["SyncToken"], "sparse": True, "CustomerMemo": {"value": "hi"}},
    )
    invoice_update(
        invoice=invoice,
        data=InvoiceData(
            account=synced_account,
            number=invoice.number,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            lines=[InvoiceLineData(description="Audit", quantity=D("2"), rate=D("75.25"))],
        ),
    )
    link = push(invoice)
    assert (link.state, link.qbo_invoice_id) == (SyncState.SYNCED, qbo_id)
    [updated] = qbo_invoices(qbo, connected.realm_id)
    assert D(str(updated["TotalAmt"])) == D("150.50")
    assert link.pushed_version == Invoice.objects.get(pk=invoice.pk).content_version


@pytest.mark.parametrize("idempotency", ["replay", "off"])
def test_a_lost_reply_after_qbo_created_the_invoice_makes_no_second_one(
    qbo, connected, synced_account, idempotency
):
    qbo.control.settings(connected.realm_id, idempotency=idempotency)
    qbo.control.fault(connected.realm_id, "drop_after_commit", count=1, path="invoice", method="POST")
    invoice = make_invoice(account=synced_account)
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert invoice_push(link_id=link.pk) == "deferred"
    assert len(qbo_invoices(qbo, connected.realm_id)) == 1
    InvoiceSyncLink.objects.filter(pk=link.pk).update(next_attempt_at=timezone.now())
    assert push(invoice).state == SyncState.SYNCED
    assert len(qbo_invoices(qbo, connected.realm_id)) == 1


def test_an_invoice_deleted_in_qbo_becomes_not_synced_and_is_never_recreated(qbo, connected, synced_account):
    invoice = make_invoice(account=synced_account)
    link = push(invoice)
    from qbsync.quickbooks import transactions as qbo_txn
    from qbsync.sync.engine.client import connection_client

    client = connection_client(connected)
    qbo_txn.delete_invoice(client, link.qbo_invoice_id, link.qbo_sync_token, request_id="test-delete")
    invoice_update(
        invoice=invoice,
        data=InvoiceData(
            account=synced_account,
            number=invoice.number,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            lines=[InvoiceLineData(description="More", rate=D("5"))],
        ),
    )
    link = push(invoice)
    assert (link.state, link.display_status, link.qbo_invoice_id) == (SyncState.NOT_SYNCED, "Not synced", "")
    assert invoice.sync_events.filter(kind="deleted_in_qbo").exists()
    # Only the deleted one exists: the edit did not re-create it.
    assert [i.get("status") for i in qbo_invoices(qbo, connected.realm_id)] == ["Deleted"]


def test_unsyncing_the_account_unsyncs_its_invoices_and_syncing_again_resumes_without_duplicates(
    qbo, connected, synced_account, owner
):
    from qbsync.sync.kinds.accounts import account_sync_skip

    invoice = make_invoice(account=synced_account)
    qbo_id = push(invoice).qbo_invoice_id
    account_sync_skip(account=synced_account, actor=owner)
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert (link.state, link.qbo_invoice_id, link.skip_reason) == (
        SyncState.SKIPPED,
        "",
        "its account is not synced",
    )
    assert len(qbo_invoices(qbo, connected.realm_id)) == 1  # nothing deleted in QBO

    account_push(link_id=account_sync_request(account=synced_account).pk)
    assert InvoiceSyncLink.objects.get(invoice=invoice).state == SyncState.QUEUED
    link = push(invoice)
    assert (link.state, link.qbo_invoice_id) == (SyncState.SYNCED, qbo_id)  # found by its marker
    assert len(qbo_invoices(qbo, connected.realm_id)) == 1


def test_voiding_a_synced_invoice_voids_it_in_qbo(qbo, connected, synced_account):
    from invoices.services import invoice_void

    invoice = make_invoice(account=synced_account, amounts=("80.00",))
    qbo_id = push(invoice).qbo_invoice_id
    invoice_void(invoice=invoice)
    link = push(invoice)
    assert link.state == SyncState.SYNCED
    [voided] = qbo_invoices(qbo, connected.realm_id)
    assert (voided["Id"], voided["TotalAmt"]) == (qbo_id, 0)
    assert invoice.sync_events.filter(kind="voided").exists()


def test_voiding_an_invoice_qbo_never_had_sends_nothing(qbo, connected, synced_account):
    from invoices.services import invoice_void

    QuickBooksConnection.objects.filter(pk=connected.pk).update(sync_start_date=date(2027, 1, 1))
    invoice = make_invoice(account=synced_account)
    invoice_void(invoice=invoice)
    assert InvoiceSyncLink.objects.get(invoice=invoice).state == SyncState.SKIPPED
    assert qbo_invoices(qbo, connected.realm_id) == []


def test_deleting_a_synced_invoice_deletes_it_in_qbo(qbo, connected, synced_account):
    from invoices.services import invoice_delete
    from qbsync.sync.models import SyncOutbox
    from qbsync.sync.work.outbox import outbox_process

    invoice = make_invoice(account=synced_account, number="DEL-1")
    push(invoice)
    invoice_delete(invoice=invoice)
    row = SyncOutbox.objects.get()
    assert (row.operation, row.local_label, row.state) == ("delete", "DEL-1", "pending")
    assert outbox_process(row_id=row.pk) == "done"
    assert outbox_process(row_id=row.pk) == "not-pending"
    assert [i.get("status") for i in qbo_invoices(qbo, connected.realm_id)] == ["Deleted"]
    assert synced_account.sync_events.filter(
        kind="deleted", message__contains="Deleted invoice DEL-1"
    ).exists()


def test_deleting_an_invoice_with_payments_in_qbo_voids_it_instead_and_says_so(
    qbo, connected, synced_account
):
    from invoices.services import invoice_delete
    from qbsync.sync.models import SyncOutbox
    from qbsync.sync.work.outbox import outbox_process
    from tests.factories import sandbox_create

    qbo.control.settings(connected.realm_id, void_paid_invoice="allow")
    invoice = make_invoice(account=synced_account, number="PAID-IN-QBO", amounts=("100.00",))
    link = push(invoice)
    customer = AccountSyncLink.objects.get(account=synced_account).qbo_customer_id
    sandbox_create(
        qbo,
        connected.realm_id,
        "Payment",
        {
            "CustomerRef": {"value": customer},
            "TotalAmt": 40,
            "Line": [{"Amount": 40, "LinkedTxn": [{"TxnId": link.qbo_invoice_id, "TxnType": "Invoice"}]}],
        },
    )
    invoice_delete(invoice=invoice)
    row = SyncOutbox.objects.get()
    assert outbox_process(row_id=row.pk) == "done"
    row.refresh_from_db()
    assert "voided instead" in row.result
    [kept] = [i for i in qbo_invoices(qbo, connected.realm_id) if i["Id"] == link.qbo_invoice_id]
    assert kept.get("status") != "Deleted"
    assert kept["TotalAmt"] == 0


def test_the_sweep_hands_over_an_outbox_row_nobody_processed(
    connected, firm, django_capture_on_commit_callbacks
):
    from qbsync.sync.models import SyncOutbox
    from qbsync.sync.work.sweep import sync_sweep

    SyncOutbox.objects.create(
        firm=firm,
        entity="Invoice",
        operation="delete",
        local_label="X",
        qbo_id="9",
        created_at=timezone.now() - timezone.timedelta(minutes=5),
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert sync_sweep()["outbox_reenqueued"] == 1
    assert len(callbacks) == 1


def test_a_service_mapped_to_an_item_carries_it_on_its_lines(
    qbo, connected, synced_account, firm_admin_client
):
    from django.urls import reverse

    from invoices.services import InvoiceData, InvoiceLineData, invoice_create
    from tests.factories import ServiceFactory

    [inserted] = qbo.control.insert(
        connected.realm_id, "Item", {"Name": "Tax Preparation", "Type": "Service", "Active": True}
    )
    other_item = inserted["Id"]
    # Items are kept on the connection: the admin reads them again after adding one in QuickBooks.
    firm_admin_client.post(reverse("quickbooks:pick_lists_refresh"))
    tax = ServiceFactory(firm=synced_account.firm, name="Tax return")
    plain = ServiceFactory(firm=synced_account.firm, name="Bookkeeping hours")
    page = firm_admin_client.get(reverse("quickbooks:settings")).content.decode()
    assert "Items for services" in page
    response = firm_admin_client.post(
        reverse("quickbooks:service_items"), {f"item_{tax.pk}": other_item, f"item_{plain.pk}": ""}
    )
    assert response.status_code == 302
    invoice = invoice_create(
        firm=synced_account.firm,
        status=Invoice.Status.SENT,
        data=InvoiceData(
            account=synced_account,
            number="MAP-1",
            issue_date=date(2026, 3, 1),
            due_date=date(2026, 3, 31),
            lines=[InvoiceLineData(service=tax, rate=D("300")), InvoiceLineData(service=plain, rate=D("50"))],
        ),
    )
    push(invoice)
    [created] = qbo_invoices(qbo, connected.realm_id)
    item_refs = [
        line["SalesItemLineDetail"]["ItemRef"]["value"]
        for line in created["Line"]
        if line.get("DetailType") == "SalesItemLineDetail"
    ]
    assert item_refs == [other_item, connected.default_item_id]


def test_a_long_throttling_storm_never_uses_up_the_invoices_attempts(qbo, connected, synced_account):
    from qbsync.quickbooks.governor import reset_governor
    from qbsync.sync.engine.retry import MAX_ATTEMPTS

    invoice = make_invoice(account=synced_account)
    qbo.control.fault(connected.realm_id, "throttle", count=MAX_ATTEMPTS + 2, retry_after=1)
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    outcomes = []
    for _ in range(MAX_ATTEMPTS + 3):
        reset_governor()  # the realm's pause after each 429, as if its Retry-After had passed
        InvoiceSyncLink.objects.filter(pk=link.pk).update(next_attempt_at=None)
        outcomes.append(invoice_push(link_id=link.pk))
        if outcomes[-1] == "synced":
            break
    link.refresh_from_db()
    assert outcomes[-1] == "synced", outcomes
    assert "failed" not in outcomes
    assert link.attempts == 0
    assert "asked us to slow down" in link.invoice.sync_events.filter(kind="retry_scheduled").first().message


def test_an_invoice_whose_item_is_inactive_in_qbo_fails_with_what_to_do(qbo, connected, synced_account):
    item = qbo.control.entities(connected.realm_id, "Item")
    [default] = [i for i in item if i["Id"] == connected.default_item_id]
    qbo.control.insert(connected.realm_id, "Item", {**default, "Active": False})
    invoice = make_invoice(account=synced_account)
    link = push(invoice)
    assert link.state == SyncState.FAILED
    assert link.error_cause == "item_inactive"
    assert "refused the invoice" in link.error_explanation
    assert "choose another item" in link.error_explanation
    assert not qbo_invoices(qbo, connected.realm_id)


def test_an_invoice_qbo_refuses_says_to_correct_the_invoice(qbo, connected, synced_account):
    from qbsync.quickbooks.errors import QboValidationError
    from qbsync.sync.kinds.transactions import attempt_push

    invoice = make_invoice(account=synced_account)
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    InvoiceSyncLink.objects.filter(pk=link.pk).update(state=SyncState.SYNCING)
    link.refresh_from_db()

    def refuse():
        raise QboValidationError("Invalid date", code="2020", detail="TxnDate")

    assert attempt_push(link, refuse, lost_message="", forget={"qbo_invoice_id": ""}, enqueue=print) == (
        "failed",
        None,
    )
    link.refresh_from_db()
    assert link.error_explanation.startswith("QuickBooks Online refused the invoice: Invalid date (TxnDate).")


def test_records_failed_for_the_connection_sync_again_by_themselves_after_reconnecting(
    qbo, connected, synced_account
):
    from qbsync.sync.work.reconnect import links_retry_after_reconnect

    invoice = make_invoice(account=synced_account)
    other = AccountFactory(firm=synced_account.firm, name="Waiting On Reconnect Ltd")
    account_link = account_sync_request(account=other)
    QuickBooksConnection.objects.filter(pk=connected.pk).update(status="needs_reconnect")
    assert push(invoice).state == SyncState.FAILED
    assert account_push(link_id=account_link.pk) == "failed"
    failed = InvoiceSyncLink.objects.get(invoice=invoice)
    assert failed.error_cause == "connection"
    assert "syncs again by itself after reconnecting" in failed.error_explanation
    QuickBooksConnection.objects.filter(pk=connected.pk).update(status="connected")

    assert links_retry_after_reconnect(firm_id=synced_account.firm_id) == 2
    assert push(invoice).state == SyncState.SYNCED
    assert account_push(link_id=account_link.pk) == "synced"


def _long_line_data(account, number: str, description: str) -> InvoiceData:
    # 1.5 x 0.33 is not whole cents: the quantity and rate ride in the description, past 4,000 characters.
    return InvoiceData(
        account=account,
        number=number,
        issue_date=date(2026, 1, 15),
        due_date=date(2026, 2, 14),
        lines=[
            InvoiceLineData(rate=D("100.00"), description="Bookkeeping"),
            InvoiceLineData(rate=D("0.33"), quantity=D("1.5"), description=description),
        ],
    )


def test_a_description_sent_shortened_is_said_in_the_history_once_a_version(qbo, connected, synced_account):
    """Issue 13, item 6: QBO gets a line's description trimmed to 4,000 characters, and the history says so
    (once for each version of the invoice, however many attempts it takes)."""
    from invoices.services import invoice_create

    invoice = invoice_create(
        firm=synced_account.firm,
        status=Invoice.Status.SENT,
        data=_long_line_data(synced_account, "LONG-1", "a" * 4000),
    )
    assert push(invoice).state == SyncState.SYNCED
    [created] = qbo_invoices(qbo, connected.realm_id)
    assert [len(line.get("Description", "")) for line in created["Line"] if line.get("Amount")][1] == 4000
    [said] = invoice.sync_events.filter(kind="sent_shortened")
    assert said.message == (
        "QuickBooks Online allows 4,000 characters in a line's description (with its quantity and rate), so "
        'the description of line 2 was sent shortened, ending in "…". The full text stays here.'
    )
    invoice_push(link_id=invoice.sync_link.pk)  # the same version again: nothing more to say
    assert invoice.sync_events.filter(kind="sent_shortened").count() == 1

    invoice_update(invoice=invoice, data=_long_line_data(synced_account, "LONG-1", "b" * 3999))
    assert push(invoice).state == SyncState.SYNCED
    assert invoice.sync_events.filter(kind="sent_shortened").count() == 2

    invoice_update(invoice=invoice, data=_long_line_data(synced_account, "LONG-1", "short"))
    assert push(invoice).state == SyncState.SYNCED
    assert invoice.sync_events.filter(kind="sent_shortened").count() == 2


def test_records_of_a_skipped_account_say_so_at_once_and_point_at_the_account(qbo, connected, firm, owner):
    """Issue 14: they never wait for an account that will not sync by itself."""
    from qbsync.sync.engine.errors import SyncRequestError
    from qbsync.sync.kinds.accounts import account_sync_skip
    from qbsync.sync.kinds.invoices import invoice_sync_again
    from qbsync.sync.kinds.payments import payment_sync_again
    from qbsync.sync.kinds.transactions import SYNC_THE_ACCOUNT_FIRST
    from qbsync.sync.models import PaymentSyncLink
    from tests.factories import make_payment

    account = AccountFactory(firm=firm, name="Skipped Account Ltd")
    account_sync_skip(account=account, actor=owner)
    invoice = make_invoice(account=account)
    payment = make_payment(account=account, amount="20.00")
    for link in (InvoiceSyncLink.objects.get(invoice=invoice), PaymentSyncLink.objects.get(payment=payment)):
        assert (link.state, link.waits_for_its_account, link.waiting_reason) == (SyncState.SKIPPED, True, "")
    with pytest.raises(SyncRequestError, match="Sync the account first"):
        invoice_sync_again(invoice=invoice, actor=owner)
    with pytest.raises(SyncRequestError) as refused:
        payment_sync_again(payment=payment, actor=owner)
    assert str(refused.value) == SYNC_THE_ACCOUNT_FIRST.format(noun="payment")
    assert InvoiceSyncLink.objects.get(invoice=invoice).state == SyncState.SKIPPED  # nothing half-done

    link = account_sync_request(account=account, actor=owner)
    assert account_push(link_id=link.pk) == "synced"
    assert push(invoice).state == SyncState.SYNCED
    assert len(qbo_invoices(qbo, connected.realm_id)) == 1


def test_a_queued_invoice_whose_account_is_lost_meanwhile_stops_instead_of_waiting(
    qbo, connected, synced_account
):
    invoice = make_invoice(account=synced_account)
    AccountSyncLink.objects.filter(account=synced_account).update(state=SyncState.NOT_SYNCED)  # lost in QBO
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert invoice_push(link_id=link.pk) == "not-synced"
    link.refresh_from_db()
    assert (link.state, link.waits_for_its_account) == (SyncState.SKIPPED, True)
    assert invoice.sync_events.filter(kind="skipped", message__contains="its account is not synced").exists()
    assert qbo_invoices(qbo, connected.realm_id) == []

"""Issue 14, words for a firm: a record's sync history says what happened in sentences staff can read:
amounts as money, no request ids, "found" rather than "Created" when QBO already had the record, and an
invoice's own line when its account's unsync unsynced it. Through the services with the sandbox."""

from decimal import Decimal

import pytest
from django.utils import timezone

from invoices.services import AllocationData, PaymentData, payment_create
from qbsync.sync.kinds.accounts import account_push, account_sync_request, account_sync_skip
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, SyncEvent
from qbsync.sync.selectors import sync_history
from qbsync.sync.states import SyncState
from qbsync.sync.work.batches import batch_work_left, transactions_batch_push
from tests.factories import AccountFactory, make_invoice

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def synced_account(connected, firm):
    account = AccountFactory(firm=firm, name="Words Client")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    return account


def push(invoice) -> InvoiceSyncLink:
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    invoice_push(link_id=link.pk)
    link.refresh_from_db()
    return link


def successes(record) -> list[SyncEvent]:
    return list(record.sync_events.filter(outcome=SyncEvent.Outcome.SUCCESS).order_by("created_at", "id"))


def test_a_created_invoice_says_its_total_as_money(qbo, connected, synced_account):
    invoice = make_invoice(account=synced_account, amounts=("10000000000.00", "190.00"))

    assert push(invoice).state == SyncState.SYNCED

    [created] = successes(invoice)
    assert created.kind == "created"
    assert "10,000,000,190.00 USD" in created.message
    assert "10000000190" not in created.message
    assert "Id " not in created.message


def test_an_updated_invoice_says_its_total_as_money(qbo, connected, synced_account):
    invoice = make_invoice(account=synced_account, amounts=("246.90",))
    push(invoice)
    from invoices.services import InvoiceData, InvoiceLineData, invoice_update

    invoice_update(
        invoice=invoice,
        data=InvoiceData(
            account=synced_account,
            number=invoice.number,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            lines=[InvoiceLineData(description="More", rate=D("1234.5"))],
        ),
    )
    push(invoice)

    updated = successes(invoice)[-1]
    assert updated.kind == "updated"
    assert "1,234.50 USD" in updated.message
    assert "total 1234.5" not in updated.message


@pytest.mark.parametrize("idempotency", ["replay", "off"])
def test_an_invoice_found_after_a_lost_reply_is_not_said_to_be_created(
    qbo, connected, synced_account, idempotency
):
    qbo.control.settings(connected.realm_id, idempotency=idempotency)
    qbo.control.fault(connected.realm_id, "drop_after_commit", count=1, path="invoice", method="POST")
    invoice = make_invoice(account=synced_account, amounts=("246.90",))
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    assert invoice_push(link_id=link.pk) == "deferred"
    InvoiceSyncLink.objects.filter(pk=link.pk).update(next_attempt_at=timezone.now())

    assert push(invoice).state == SyncState.SYNCED

    [synced] = successes(invoice)
    assert synced.kind == "found"
    assert not synced.message.startswith("Created")
    assert "already in QuickBooks Online" in synced.message
    assert "246.90 USD" in synced.message


def test_resyncing_an_account_finds_its_invoices_and_payments_instead_of_creating_them(
    qbo, connected, synced_account, owner
):
    invoice = make_invoice(account=synced_account, amounts=("100.00",))
    push(invoice)
    payment = payment_create(
        firm=synced_account.firm,
        data=PaymentData(
            account=synced_account,
            date=timezone.localdate(),
            amount=D("1500.00"),
            allocations=[AllocationData(invoice=invoice, amount=D("100.00"))],
        ),
    )
    payment_push(link_id=PaymentSyncLink.objects.get(payment=payment).pk)
    [paid] = successes(payment)
    assert paid.kind == "created"
    assert "1,500.00 USD" in paid.message
    assert "1,400.00 USD" in paid.message  # unapplied

    account_sync_skip(account=synced_account, actor=owner)
    account_push(link_id=account_sync_request(account=synced_account).pk)
    push(invoice)
    payment_push(link_id=PaymentSyncLink.objects.get(payment=payment).pk)

    assert [e.kind for e in successes(invoice)] == ["created", "found"]
    assert [e.kind for e in successes(payment)] == ["created", "found"]
    assert len(qbo.control.entities(connected.realm_id, "Invoice")) == 1


def test_an_accounts_unsync_is_said_in_its_invoices_and_payments_history(
    qbo, connected, synced_account, owner
):
    invoice = make_invoice(account=synced_account, amounts=("100.00",))
    push(invoice)
    payment = payment_create(
        firm=synced_account.firm,
        data=PaymentData(
            account=synced_account,
            date=timezone.localdate(),
            amount=D("100.00"),
            allocations=[AllocationData(invoice=invoice, amount=D("100.00"))],
        ),
    )

    account_sync_skip(account=synced_account, actor=owner)

    who = owner.get_full_name() or owner.username
    [line] = invoice.sync_events.filter(kind="account_unsynced")
    assert line.message.startswith(f"{who} unsynced its account, so this invoice is no longer synced")
    assert (line.actor, line.trigger) == (owner, "user")
    [paid_line] = payment.sync_events.filter(kind="account_unsynced")
    assert "this payment is no longer synced" in paid_line.message
    # The account's own history has its one line, not one more per invoice and payment.
    account_kinds = [e.kind for e in sync_history(firm=synced_account.firm, account=synced_account)]
    assert account_kinds.count("unsynced") == 1
    assert "account_unsynced" not in account_kinds


def test_a_batch_send_is_said_without_its_request_id(qbo, connected, firm):
    account = AccountFactory(firm=firm, name="Batch Words")
    invoices = [make_invoice(account=account, amounts=("12.50",)) for _ in range(3)]
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    for _ in range(5):
        transactions_batch_push(firm_id=firm.pk)
        if not batch_work_left(firm_id=firm.pk):
            break

    sent = SyncEvent.objects.get(invoice=invoices[0], kind="create_sent")
    assert sent.message == "Sent to QuickBooks Online in one request together with 2 other records."
    assert "txb-" not in sent.message
    assert "request" not in sent.message.replace("one request", "")
    assert sent.sent["request_id"].startswith("txb-")  # kept for support
    [created] = successes(invoices[0])
    assert created.kind == "created"
    assert "12.50 USD" in created.message


def account_successes(account) -> list[SyncEvent]:
    return list(
        SyncEvent.objects.filter(
            account=account, invoice=None, payment=None, outcome=SyncEvent.Outcome.SUCCESS
        ).order_by("created_at", "id")
    )


def test_syncing_a_linked_account_again_does_not_say_created_again(qbo, connected, synced_account):
    assert AccountSyncLink.objects.get(account=synced_account).link_method == "created"

    assert account_push(link_id=account_sync_request(account=synced_account).pk) == "synced"

    first, again = account_successes(synced_account)
    assert first.message == 'Created QuickBooks customer "Words Client" and linked the account to it.'
    assert again.message == 'Still linked to QuickBooks customer "Words Client", which is active there.'


@pytest.mark.parametrize("mode", ["auto", "create"])
@pytest.mark.parametrize("idempotency", ["replay", "off"])
def test_a_customer_found_after_a_lost_reply_is_not_said_to_be_created(
    qbo, connected, firm, idempotency, mode
):
    qbo.control.settings(connected.realm_id, idempotency=idempotency)
    qbo.control.fault(connected.realm_id, "drop_after_commit", count=1, path="customer", method="POST")
    account = AccountFactory(firm=firm, name="Lost Reply Ltd")
    name = "Lost Reply Ltd" if mode == "create" else ""
    link = account_sync_request(account=account, mode=mode, display_name=name)
    assert account_push(link_id=link.pk) == "deferred"
    AccountSyncLink.objects.filter(pk=link.pk).update(next_attempt_at=timezone.now())

    assert account_push(link_id=link.pk) == "synced"

    [linked] = account_successes(account)
    assert len(qbo.control.entities(connected.realm_id, "Customer")) == 1
    assert not linked.message.startswith("Created"), linked.message
    assert "nothing was created twice" in linked.message


# Duplicate lines: one happening, one line.


def edit(invoice, rate: str) -> None:
    from invoices.services import InvoiceData, InvoiceLineData, invoice_update

    invoice_update(
        invoice=invoice,
        data=InvoiceData(
            account=invoice.account,
            number=invoice.number,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            lines=[InvoiceLineData(description="Work", rate=D(rate))],
        ),
    )


def test_edits_while_an_invoice_waits_for_its_account_say_the_wait_once(qbo, connected, firm):
    account = AccountFactory(firm=firm, name="Waiting Words")
    invoice = make_invoice(account=account, amounts=("10.00",))
    account_sync_request(account=account)
    edit(invoice, "11.00")
    edit(invoice, "12.00")

    waits = invoice.sync_events.filter(kind="waiting")
    assert [e.message for e in waits] == ["Syncing: waiting for the account to sync."]


def test_a_throttling_storm_is_said_once_in_words_without_qbos_codes(qbo, connected, synced_account):
    from qbsync.quickbooks.governor import reset_governor

    invoice = make_invoice(account=synced_account)
    qbo.control.fault(connected.realm_id, "throttle", count=3, retry_after=1)
    link = InvoiceSyncLink.objects.get(invoice=invoice)
    for _ in range(4):
        reset_governor()
        InvoiceSyncLink.objects.filter(pk=link.pk).update(next_attempt_at=None)
        if invoice_push(link_id=link.pk) == "synced":
            break

    [slow] = invoice.sync_events.filter(kind="retry_scheduled")
    assert slow.message.startswith("QuickBooks Online asked us to slow down; the next try is in 1 second.")
    assert "3001" not in slow.message
    assert "ThrottleExceeded" not in slow.message
    assert slow.received["status"] == 429  # QBO's answer kept for support
    assert [e.kind for e in successes(invoice)] == ["created"]


def test_a_batch_throttled_twice_says_so_once_per_record(qbo, connected, firm):
    from qbsync.quickbooks.governor import reset_governor

    account = AccountFactory(firm=firm, name="Busy Batch")
    invoices = [make_invoice(account=account, amounts=("20.00",)) for _ in range(2)]
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    qbo.control.fault(connected.realm_id, "429", operation="batch", count=2, retry_after=1)
    for _ in range(4):
        reset_governor()
        InvoiceSyncLink.objects.update(next_attempt_at=None)
        transactions_batch_push(firm_id=firm.pk)
        if not batch_work_left(firm_id=firm.pk):
            break

    for invoice in invoices:
        kinds = [e.kind for e in invoice.sync_events.order_by("created_at", "id")]
        assert kinds == ["waiting", "send_throttled", "create_sent", "created"], kinds
        busy = invoice.sync_events.get(kind="send_throttled")
        assert (
            busy.message
            == "QuickBooks Online was busy, so nothing was sent; the batch goes out again shortly."
        )


def test_linking_a_picked_customer_names_it_and_not_its_id(qbo, connected, firm):
    from tests.factories import sandbox_create

    customer = sandbox_create(qbo, connected.realm_id, "Customer", {"DisplayName": "Picked Ltd"})
    account = AccountFactory(firm=firm, name="Picked Account")
    link = account_sync_request(account=account, mode="pick", customer_id=customer["Id"])
    assert account_push(link_id=link.pk) == "synced"

    messages = [
        e.message
        for e in SyncEvent.objects.filter(account=account, invoice=None, payment=None).order_by("id")
    ]
    assert messages == [
        "Sync requested: link the QuickBooks customer chosen from the list.",
        'Linked the account to the chosen QuickBooks customer "Picked Ltd".',
    ]

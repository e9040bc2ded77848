"""An account's first sync sends its invoices and payments in batches of 30 against the sandbox over HTTP:
each record exactly once with the right amounts, a failed item failing only its record, and an unknown
batch outcome finished by the single push without a second copy, whether or not QBO replays requestids."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from invoices.models import Invoice
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.kinds.payments import payment_push
from qbsync.sync.models import (
    AccountSyncLink,
    BatchPushSlot,
    InvoiceSyncLink,
    PaymentSyncLink,
    SyncEvent,
)
from qbsync.sync.states import SyncState
from qbsync.sync.work.batches import _claim, batch_push_resume, batch_work_left, transactions_batch_push
from qbsync.sync.work.sweep import sync_sweep
from tests.factories import AccountFactory, make_invoice, make_payment, sandbox_create

pytestmark = pytest.mark.django_db
D = Decimal


def history(firm, name: str, invoices: int, payments: int) -> tuple:
    """An account with issued invoices and payments (each paying one invoice in part), then synced."""
    account = AccountFactory(firm=firm, name=name)
    made = [make_invoice(account=account, amounts=(f"{100 + i}.25", "10.10")) for i in range(invoices)]
    for i in range(payments):
        make_payment(account=account, amount="60.00", allocations={made[i]: "50.00"})
    link = account_sync_request(account=account)
    assert account_push(link_id=link.pk) == "synced"
    return account, made


def api_requests(qbo, realm) -> list[dict]:
    return [r for r in qbo.control.requests(realm, limit=10_000) if r.get("kind", "api") == "api"]


def drain(firm) -> dict:
    totals: dict = {}
    for _ in range(20):
        counts = transactions_batch_push(firm_id=firm.pk)
        for key, n in counts.items():
            totals[key] = totals.get(key, 0) + n
        if not batch_work_left(firm_id=firm.pk):
            break
    return totals


def assert_exactly_once_and_correct(qbo, realm, firm) -> None:
    qbo_invoices = {i["Id"]: i for i in qbo.control.entities(realm, "Invoice")}
    qbo_payments = {p["Id"]: p for p in qbo.control.entities(realm, "Payment")}
    invoice_links = list(InvoiceSyncLink.objects.filter(firm=firm).select_related("invoice"))
    payment_links = list(PaymentSyncLink.objects.filter(firm=firm).select_related("payment"))
    assert all(link.state == SyncState.SYNCED for link in invoice_links + payment_links)
    assert sorted(link.qbo_invoice_id for link in invoice_links) == sorted(qbo_invoices)
    assert sorted(link.qbo_payment_id for link in payment_links) == sorted(qbo_payments)
    for link in invoice_links:
        qbo_invoice = qbo_invoices[link.qbo_invoice_id]
        assert D(str(qbo_invoice["TotalAmt"])) == link.invoice.total
        assert D(str(qbo_invoice["Balance"])) == link.invoice.balance
    for link in payment_links:
        qbo_payment = qbo_payments[link.qbo_payment_id]
        assert D(str(qbo_payment["TotalAmt"])) == link.payment.amount
        assert D(str(qbo_payment["UnappliedAmt"])) == link.payment.unapplied


def test_a_first_sync_goes_out_thirty_to_a_batch_in_account_order(qbo, connected, firm):
    history(firm, "Batch Client One", invoices=25, payments=10)
    history(firm, "Batch Client Two", invoices=20, payments=5)
    links = InvoiceSyncLink.objects.filter(firm=firm)
    assert links.count() == 45
    assert all(link.in_batch for link in links)
    assert all(
        link.waiting_reason.startswith("waiting for invoice") for link in PaymentSyncLink.objects.all()
    )
    before = len(api_requests(qbo, connected.realm_id))

    counts = drain(firm)

    sent = api_requests(qbo, connected.realm_id)[before:]
    batches = [r for r in sent if r["operation"] == "batch"]
    # 45 invoices and 15 payments in two full batches; the numbering preference is read once per pusher.
    assert len(batches) == 2, [r["operation"] for r in sent]
    assert not [r for r in sent if r["operation"] == "create"]
    assert len(sent) <= 4
    assert counts["synced"] == 60
    assert_exactly_once_and_correct(qbo, connected.realm_id, firm)
    # Every payment went in a batch after the invoices it pays.
    for link in PaymentSyncLink.objects.all():
        invoice = link.payment.allocations.get().invoice
        sent_at = SyncEvent.objects.get(payment=link.payment, kind="create_sent").created_at
        assert SyncEvent.objects.get(invoice=invoice, kind="created").created_at <= sent_at


def test_invoices_issued_while_the_account_waited_also_go_in_batches(qbo, connected, firm):
    account = AccountFactory(firm=firm, name="Waited Client")
    link = account_sync_request(account=account)
    made = [make_invoice(account=account) for _ in range(3)]
    assert {inv.sync_link.waiting_reason for inv in Invoice.objects.filter(pk__in=[i.pk for i in made])} == {
        "waiting for the account to sync"
    }
    assert account_push(link_id=link.pk) == "synced"
    assert all(link.in_batch and not link.waiting_reason for link in InvoiceSyncLink.objects.all())
    drain(firm)
    assert [r["operation"] for r in api_requests(qbo, connected.realm_id)].count("batch") == 1
    assert_exactly_once_and_correct(qbo, connected.realm_id, firm)


def test_a_failed_item_fails_only_its_record_and_says_why(qbo, connected, firm):
    qbo.control.settings(connected.realm_id, custom_txn_numbers=True)
    account, made = history(firm, "Numbered Client", invoices=4, payments=0)
    customer = AccountSyncLink.objects.get(account=account).qbo_customer_id
    sandbox_create(
        qbo,
        connected.realm_id,
        "Invoice",
        {
            "CustomerRef": {"value": customer},
            "DocNumber": made[2].number,
            "Line": [
                {
                    "Amount": 5,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": connected.default_item_id}},
                }
            ],
        },
    )
    drain(firm)
    failed = InvoiceSyncLink.objects.get(invoice=made[2])
    assert failed.state == SyncState.FAILED
    assert failed.error_cause == "duplicate_doc_number"
    assert made[2].number in failed.error_explanation
    assert "another number" in failed.error_explanation
    others = InvoiceSyncLink.objects.exclude(pk=failed.pk)
    assert [link.state for link in others] == [SyncState.SYNCED] * 3
    assert sorted(link.qbo_doc_number for link in others) == sorted(
        inv.number for i, inv in enumerate(made) if i != 2
    )


@pytest.mark.parametrize("idempotency", ["replay", "off"])
def test_a_lost_batch_reply_is_finished_by_the_single_push_without_a_second_copy(
    qbo, connected, firm, idempotency
):
    qbo.control.settings(connected.realm_id, idempotency=idempotency)
    history(firm, "Lost Reply Client", invoices=6, payments=2)
    qbo.control.fault(connected.realm_id, "drop_after_commit", operation="batch")
    counts = transactions_batch_push(firm_id=firm.pk)
    assert counts["handed_over"] == 6
    # The invoices exist in QBO, unknown to us; their links went to the single push.
    assert len(qbo.control.entities(connected.realm_id, "Invoice")) == 6
    handed = InvoiceSyncLink.objects.filter(firm=firm)
    assert all(link.state == SyncState.QUEUED and not link.in_batch for link in handed)
    assert all(SyncEvent.objects.filter(invoice=link.invoice, kind="handed_over").exists() for link in handed)
    for link in handed:
        assert invoice_push(link_id=link.pk) == "synced"
    # Their payments were waiting for them; now released, in the batch.
    drain(firm)
    for link in PaymentSyncLink.objects.filter(state=SyncState.QUEUED):
        payment_push(link_id=link.pk)
    assert_exactly_once_and_correct(qbo, connected.realm_id, firm)


def test_a_throttled_batch_is_sent_again_and_stays_a_batch(qbo, connected, firm):
    history(firm, "Throttled Client", invoices=5, payments=0)
    qbo.control.fault(connected.realm_id, "429", operation="batch", retry_after=1)
    counts = transactions_batch_push(firm_id=firm.pk)
    assert counts == {"requeued": 5, "paused": 1}
    links = InvoiceSyncLink.objects.filter(firm=firm)
    assert all(link.state == SyncState.QUEUED and link.in_batch for link in links)
    assert SyncEvent.objects.filter(kind="send_throttled").count() == 5
    assert not SyncEvent.objects.filter(kind="create_sent", invoice__isnull=False).exists()
    from qbsync.quickbooks.governor import reset_governor

    reset_governor()  # the realm's pause after the 429 would otherwise hold the retry back
    drain(firm)
    assert_exactly_once_and_correct(qbo, connected.realm_id, firm)
    assert [r["status"] for r in api_requests(qbo, connected.realm_id) if r["operation"] == "batch"] == [
        429,
        200,
    ]


def test_a_record_whose_create_was_ever_sent_is_never_batched_again(qbo, connected, firm):
    account, made = history(firm, "Sent Once Client", invoices=2, payments=0)
    link = InvoiceSyncLink.objects.get(invoice=made[0])
    SyncEvent.objects.create(firm=firm, account=account, invoice=made[0], kind="create_sent", message="x")
    claimed = _claim(InvoiceSyncLink, firm.pk, 30)
    assert [c.pk for c in claimed] == [InvoiceSyncLink.objects.get(invoice=made[1]).pk]
    assert InvoiceSyncLink.objects.get(pk=link.pk).state == SyncState.QUEUED


def test_two_pushers_never_claim_the_same_record(qbo, connected, firm):
    history(firm, "Claimed Client", invoices=40, payments=0)
    first = _claim(InvoiceSyncLink, firm.pk, 30)
    second = _claim(InvoiceSyncLink, firm.pk, 30)
    assert len(first) == 30
    assert len(second) == 10
    assert not {link.pk for link in first} & {link.pk for link in second}
    assert _claim(InvoiceSyncLink, firm.pk, 30) == []


def test_a_pusher_while_another_task_holds_the_firms_pusher_returns(qbo, connected, firm):
    history(firm, "Slot Client", invoices=2, payments=0)
    BatchPushSlot.objects.create(
        firm=firm, number=0, holder="live-task", held_until=timezone.now() + timedelta(minutes=1)
    )
    assert transactions_batch_push(firm_id=firm.pk, run_id="another-task") == {"busy": 1}
    BatchPushSlot.objects.update(held_until=timezone.now() - timedelta(seconds=1))
    assert transactions_batch_push(firm_id=firm.pk, run_id="another-task")["synced"] == 2
    slot = BatchPushSlot.objects.get()
    assert (slot.held_until, slot.holder, slot.claimed) == (None, "", {})


@pytest.mark.parametrize("lease_ended", [False, True])
def test_a_pusher_that_died_mid_batch_is_taken_over_and_its_batch_goes_again(
    qbo, connected, firm, lease_ended
):
    """Its own redelivered message (same task id) takes over at once; anyone does once the lease ended.
    The claimed records it never sent go in a batch again; the one it sent is looked up first, alone."""
    history(firm, "Orphan Client", invoices=3, payments=0)
    claimed = _claim(InvoiceSyncLink, firm.pk, 30)
    sent = claimed[0]
    SyncEvent.objects.create(firm=firm, invoice=sent.invoice, kind="create_sent", message="sent")
    held_until = timezone.now() + (timedelta(seconds=-1) if lease_ended else timedelta(minutes=3))
    BatchPushSlot.objects.create(
        firm=firm,
        number=0,
        holder="dead-task",
        held_until=held_until,
        claimed={"invoice": [link.pk for link in claimed]},
    )
    counts = transactions_batch_push(firm_id=firm.pk, run_id="someone-else" if lease_ended else "dead-task")
    assert counts["handed_over"] == 1
    assert counts["synced"] == 2
    handed = InvoiceSyncLink.objects.get(pk=sent.pk)
    assert (handed.state, handed.in_batch) == (SyncState.QUEUED, False)
    assert invoice_push(link_id=handed.pk) == "synced"
    assert_exactly_once_and_correct(qbo, connected.realm_id, firm)


def test_without_a_usable_connection_the_records_fail_with_the_reason(qbo, connected, firm):
    history(firm, "Disconnected Client", invoices=2, payments=0)
    connected.status = "needs_reconnect"
    connected.save(update_fields=["status"])
    transactions_batch_push(firm_id=firm.pk)
    links = InvoiceSyncLink.objects.filter(firm=firm)
    assert {link.state for link in links} == {SyncState.FAILED}
    assert {link.error_cause for link in links} == {"connection"}


def test_the_sweep_hands_a_batch_stuck_mid_request_to_the_single_push(
    qbo, connected, firm, django_capture_on_commit_callbacks
):
    history(firm, "Stuck Client", invoices=3, payments=0)
    claimed = _claim(InvoiceSyncLink, firm.pk, 30)
    for link in claimed:  # the pusher recorded its send, then its worker was killed
        SyncEvent.objects.create(firm=firm, invoice=link.invoice, kind="create_sent", message="sent")
    later = timezone.now() + timedelta(minutes=6)
    with django_capture_on_commit_callbacks() as callbacks:
        counts = sync_sweep(now=later)
    assert counts["requeued_stuck"] == 3
    links = InvoiceSyncLink.objects.filter(firm=firm)
    assert all(link.state == SyncState.QUEUED and not link.in_batch for link in links)
    # Single pushes, none of them a batch pusher.
    assert {cb.func.__self__.name for cb in callbacks} == {"qbsync.qbo.invoice_push"}
    assert {cb.args[0][0] for cb in callbacks} == {link.pk for link in links}
    for link in links:
        assert invoice_push(link_id=link.pk) == "synced"
    assert_exactly_once_and_correct(qbo, connected.realm_id, firm)


def test_the_sweep_wakes_the_pusher_for_waiting_first_syncs_once(qbo, connected, firm, monkeypatch):
    from qbsync.sync.engine import enqueue

    sent = []
    monkeypatch.setattr(enqueue.TaskMessage, "send", lambda self, args, countdown=None: sent.append(args))
    history(firm, "Forgotten Client", invoices=2, payments=0)
    later = timezone.now() + timedelta(minutes=2)
    assert batch_push_resume(now=later) == 1
    assert sent == [(firm.pk,)]
    # The message is on its way: no second one, however often asked.
    assert batch_push_resume(now=later) == 0
    BatchPushSlot.objects.update(wake_due_at=None, held_until=later + timedelta(minutes=1))
    assert batch_push_resume(now=later) == 0  # a live pusher takes them
    # One whose lease has ended by the sweep's clock died: it is taken over.
    BatchPushSlot.objects.update(held_until=later - timedelta(seconds=1))
    assert batch_push_resume(now=later) == 1
    BatchPushSlot.objects.update(held_until=None)
    # A message older than the grace was lost: the pusher is woken again.
    BatchPushSlot.objects.update(held_until=None, wake_due_at=timezone.now() - timedelta(minutes=2))
    assert batch_push_resume(now=later) == 1
    assert sent == [(firm.pk,), (firm.pk,), (firm.pk,)]


def test_the_sweep_releases_a_payment_left_waiting_for_an_invoice_already_synced(
    qbo, connected, firm, django_capture_on_commit_callbacks
):
    # Two invoices synced at once, each reading the other as unsynced, used to leave this behind.
    account, made = history(firm, "Lost Wakeup Client", invoices=2, payments=1)
    drain(firm)
    link = PaymentSyncLink.objects.get(payment__account=account)
    assert link.state == SyncState.SYNCED
    PaymentSyncLink.objects.filter(pk=link.pk).update(
        state=SyncState.QUEUED,
        qbo_payment_id="",
        waiting_reason=f"waiting for invoice {made[0].number} to sync",
    )
    InvoiceSyncLink.objects.filter(invoice=made[0]).update(state=SyncState.SYNCED)
    with django_capture_on_commit_callbacks():
        counts = sync_sweep(now=timezone.now() + timedelta(minutes=2))
    assert counts["waiters_released"] == 1
    link.refresh_from_db()
    assert link.waiting_reason == ""


def test_a_description_sent_shortened_in_a_batch_is_said_in_the_history(qbo, connected, firm):
    from invoices.services import InvoiceData, InvoiceLineData, invoice_create

    account = AccountFactory(firm=firm, name="Long Lines Client")
    long = invoice_create(
        firm=firm,
        status=Invoice.Status.SENT,
        data=InvoiceData(
            account=account,
            number="LONG-B",
            issue_date=timezone.localdate(),
            due_date=timezone.localdate() + timedelta(days=30),
            lines=[InvoiceLineData(rate=D("0.33"), quantity=D("1.5"), description="c" * 4000)],
        ),
    )
    short = make_invoice(account=account)
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    drain(firm)
    assert_exactly_once_and_correct(qbo, connected.realm_id, firm)
    assert [r["operation"] for r in api_requests(qbo, connected.realm_id)].count("batch") == 1
    assert long.sync_events.filter(kind="sent_shortened").count() == 1
    assert "description of line 1 was sent shortened" in long.sync_events.get(kind="sent_shortened").message
    assert not short.sync_events.filter(kind="sent_shortened").exists()


def test_while_the_minutes_batch_requests_are_spent_records_go_singly(qbo, connected, firm, settings):
    """QBO allows 40 batch requests a minute and 500 requests: with the batches spent, records that can go
    now use the minute's other requests, one each, instead of waiting for the next minute."""
    from qbsync.quickbooks.governor import reset_governor

    settings.QBO_MAX_BATCH_PER_MINUTE = 1
    settings.QBO_RATE_HEADROOM = 0.0
    reset_governor()
    try:
        history(firm, "Singles Client", invoices=45, payments=0)
        counts = transactions_batch_push(firm_id=firm.pk)
        assert (counts["batches"], counts["synced"], counts["sent_singly"]) == (1, 30, 15)
        singles = InvoiceSyncLink.objects.filter(firm=firm, state=SyncState.QUEUED, in_batch=False)
        assert singles.count() == 15
        event = SyncEvent.objects.filter(invoice=singles[0].invoice, kind="handed_over").get()
        assert (event.outcome, "batch requests for this minute are used up" in event.message) == (
            "info",
            True,
        )
        for link in singles:
            assert invoice_push(link_id=link.pk) == "synced"
    finally:
        reset_governor()
    operations = [r["operation"] for r in qbo.control.requests(connected.realm_id, limit=1000)]
    # One batch, then one create each: no look-up, since none of them was ever sent before.
    assert (operations.count("batch"), operations.count("create")) == (1, 15 + 1), operations
    assert_exactly_once_and_correct(qbo, connected.realm_id, firm)


def test_no_record_goes_singly_while_the_minutes_batch_requests_can_carry_them_all(qbo, connected, firm):
    history(firm, "Batches Only Client", invoices=45, payments=0)
    counts = transactions_batch_push(firm_id=firm.pk)
    assert (counts["batches"], counts["synced"], counts["sent_singly"]) == (2, 45, 0)
    assert_exactly_once_and_correct(qbo, connected.realm_id, firm)


def test_singles_go_at_the_pace_of_the_minutes_other_requests_and_within_its_room(
    qbo, connected, firm, settings
):
    """Beyond what the minute's batch requests carry, records go to the single push as many as the
    minute's other requests take in the time asked for at their even pace (here 59 a minute: 10 in 10 s),
    counting those handed over before and not sent yet, and never more than the window has room for."""
    from qbsync.quickbooks.governor import governor_from_settings, reset_governor
    from qbsync.sync.work.batches import _send_singly

    settings.QBO_MAX_BATCH_PER_MINUTE = 1
    settings.QBO_MAX_PER_MINUTE = 60
    settings.QBO_RATE_HEADROOM = 0.0
    reset_governor()
    try:
        history(firm, "Paced Client", invoices=80, payments=0)
        slot = BatchPushSlot.objects.create(firm=firm, number=0, holder="task", claimed={})
        # The minute's one batch takes 30 of the 80: the other 50 may go singly, 10 in 10 s.
        assert _send_singly(firm.pk, connected.realm_id, 10, slot) == 10
        assert _send_singly(firm.pk, connected.realm_id, 10, slot) == 0  # the 10 are still to go
        governor = governor_from_settings()
        with governor.permit(connected.realm_id, batch=True):
            pass
        while governor.state(connected.realm_id).requests_in_window < 45:
            with governor.permit(connected.realm_id):
                pass
        # 30 s at the pace would be 30, but the window has room for 15 more, of which the 10 are to go.
        assert _send_singly(firm.pk, connected.realm_id, 30, slot) == 5
    finally:
        reset_governor()
    singles = InvoiceSyncLink.objects.filter(firm=firm, state=SyncState.QUEUED, in_batch=False)
    assert singles.count() == 15
    assert [link.invoice.issue_date for link in singles.order_by("pk")] == sorted(
        link.invoice.issue_date for link in singles
    )


def test_with_the_minutes_batch_requests_spent_the_pusher_claims_no_batch_and_sends_singly(
    qbo, connected, firm, settings
):
    """The pusher asks the governor before it claims: no batch is drafted only to be put back, and the
    records that can go use the minute's other requests."""
    from qbsync.quickbooks.governor import governor_from_settings, reset_governor

    settings.QBO_MAX_BATCH_PER_MINUTE = 1
    settings.QBO_RATE_HEADROOM = 0.0
    reset_governor()
    try:
        history(firm, "Spent Client", invoices=10, payments=0)
        with governor_from_settings().permit(connected.realm_id, batch=True):
            pass
        counts = transactions_batch_push(firm_id=firm.pk)
    finally:
        reset_governor()
    assert (counts.get("batches", 0), counts.get("requeued", 0), counts["sent_singly"], counts["paused"]) == (
        0,
        0,
        10,
        1,
    )
    assert (
        not SyncEvent.objects.filter(firm=firm, kind__in=["send_throttled", "create_sent"])
        .exclude(invoice=None)
        .exists()
    )
    assert [r["operation"] for r in api_requests(qbo, connected.realm_id)].count("batch") == 0


def test_a_claim_is_noted_on_the_pusher_in_its_own_transaction(qbo, connected, firm):
    """Whoever takes over from a pusher killed right after a claim finds the claimed records."""
    history(firm, "Noted Client", invoices=3, payments=0)
    slot = BatchPushSlot.objects.create(firm=firm, number=0, holder="task", claimed={})
    first = _claim(InvoiceSyncLink, firm.pk, 2, slot)
    second = _claim(InvoiceSyncLink, firm.pk, 2, slot)
    assert BatchPushSlot.objects.get().claimed == {"invoice": [link.pk for link in first + second]}


def test_a_pusher_stopped_by_an_error_leaves_its_batch_for_the_next_one(qbo, connected, firm, monkeypatch):
    from qbsync.sync.work import batches

    history(firm, "Error Client", invoices=3, payments=0)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(batches, "_push_batch", broken)
    with pytest.raises(RuntimeError):
        transactions_batch_push(firm_id=firm.pk, run_id="first")
    slot = BatchPushSlot.objects.get()
    assert (slot.holder, len(slot.claimed["invoice"])) == ("", 3)
    assert InvoiceSyncLink.objects.filter(firm=firm, state=SyncState.SYNCING).count() == 3
    monkeypatch.undo()
    assert transactions_batch_push(firm_id=firm.pk, run_id="second")["synced"] == 3
    assert_exactly_once_and_correct(qbo, connected.realm_id, firm)

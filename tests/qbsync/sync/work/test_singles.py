"""First-sync records beyond what the minute's batch requests carry go one at a time, a few to a task
(`work/singles.py`) rather than a task each: each once, in order (a payment after the invoices it pays),
stopping for QBO's limits and at the end of a slice with the rest sent on in one message. Against the
sandbox over HTTP; the last test through a real worker."""

import re
import time

import pytest

from qbsync.quickbooks.governor import governor_from_settings, reset_governor
from qbsync.sync.engine.enqueue import INVOICE_PUSH, PAYMENT_PUSH, SINGLES_PUSH
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.models import InvoiceSyncLink, PaymentSyncLink, SyncEvent
from qbsync.sync.states import SyncState
from qbsync.sync.work.batches import SENT_SINGLY, transactions_batch_push
from qbsync.sync.work.singles import SINGLES_PER_TASK, send_singly, transactions_singles_push
from tests.factories import AccountFactory, make_invoice, make_payment
from tests.faults.invariants import assert_invariants, moving
from tests.workers import sandbox_worker


def history(firm, name: str, invoices: int, payments: int, *, push: bool = True):
    """An account with issued invoices and payments (the first ``payments`` invoices paid in part)."""
    account = AccountFactory(firm=firm, name=name)
    made = [make_invoice(account=account, amounts=(f"{100 + i}.25",)) for i in range(invoices)]
    for i in range(payments):
        make_payment(account=account, amount="60.00", allocations={made[i]: "50.00"})
    link = account_sync_request(account=account)
    if push:
        assert account_push(link_id=link.pk) == "synced"
    return account


def messages(sent, name: str) -> list[tuple]:
    """The (args, countdown) of the task messages ``name`` among the captured on-commit sends."""
    return [call.args for call in sent if call.func.__self__.name == name]


def operations(qbo, realm) -> list[str]:
    return [
        r["operation"] for r in qbo.control.requests(realm, limit=10_000) if r.get("kind", "api") == "api"
    ]


@pytest.fixture
def one_batch_a_minute(settings):
    settings.QBO_MAX_BATCH_PER_MINUTE = 1
    settings.QBO_RATE_HEADROOM = 0.0
    reset_governor()
    yield
    reset_governor()


@pytest.mark.django_db
def test_records_the_minutes_batches_cannot_carry_go_ten_to_a_task_each_once(
    qbo, connected, firm, one_batch_a_minute, django_capture_on_commit_callbacks
):
    history(firm, "Singles Client", invoices=45, payments=0)
    with django_capture_on_commit_callbacks() as sent:
        counts = transactions_batch_push(firm_id=firm.pk)
    assert (counts["batches"], counts["synced"], counts["sent_singly"]) == (1, 30, 15)
    assert messages(sent, INVOICE_PUSH) == []  # no task per record
    singles = messages(sent, SINGLES_PUSH)
    assert [len(link_ids["invoice"]) for (_, link_ids), _ in singles] == [SINGLES_PER_TASK, 5]
    handed = [pk for (_, link_ids), _ in singles for pk in link_ids["invoice"]]
    assert handed == sorted(handed)  # in the order they were claimed

    done = [transactions_singles_push(firm_id=firm.pk, link_ids=link_ids) for (_, link_ids), _ in singles]

    assert done == [{"synced": SINGLES_PER_TASK}, {"synced": 5}]
    # One batch, then one create each (none was ever sent before, so nothing is looked up).
    assert operations(qbo, connected.realm_id).count("batch") == 1
    assert operations(qbo, connected.realm_id).count("create") == 1 + 15  # the customer, then each
    assert_invariants(qbo, {firm: connected.realm_id}, strict=False)


@pytest.mark.django_db
def test_a_payment_in_the_same_task_as_the_invoice_it_pays_goes_after_it(
    qbo, connected, firm, django_capture_on_commit_callbacks
):
    account = history(firm, "Ordered Client", invoices=3, payments=3)
    InvoiceSyncLink.objects.filter(invoice__account=account).update(in_batch=False)
    PaymentSyncLink.objects.filter(payment__account=account).update(in_batch=False)
    links = [
        *InvoiceSyncLink.objects.filter(invoice__account=account).order_by("pk"),
        *PaymentSyncLink.objects.filter(payment__account=account).order_by("pk"),
    ]
    with django_capture_on_commit_callbacks() as sent:
        send_singly(firm.pk, links)
    [((firm_id, link_ids), countdown)] = messages(sent, SINGLES_PUSH)
    assert (firm_id, list(link_ids), countdown) == (firm.pk, ["invoice", "payment"], None)

    assert transactions_singles_push(firm_id=firm_id, link_ids=link_ids) == {"synced": 6}
    assert_invariants(qbo, {firm: connected.realm_id}, strict=False)


@pytest.mark.django_db
def test_a_task_looks_its_firms_connection_up_once_for_all_its_records(qbo, connected, firm, monkeypatch):
    from qbsync.sync.engine import client as engine_client

    account = history(firm, "Kept Client", invoices=3, payments=0)
    made = []
    real = engine_client.connection_client
    monkeypatch.setattr(
        engine_client, "connection_client", lambda c, **kw: made.append(c.pk) or real(c, **kw)
    )
    link_ids = {
        "invoice": list(
            InvoiceSyncLink.objects.filter(invoice__account=account)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    }
    assert transactions_singles_push(firm_id=firm.pk, link_ids=link_ids) == {"synced": 3}
    assert made == [connected.pk]
    assert_invariants(qbo, {firm: connected.realm_id}, strict=False)


@pytest.mark.django_db
def test_while_the_governor_holds_requests_back_the_rest_goes_on_in_one_message(
    qbo, connected, firm, settings, django_capture_on_commit_callbacks
):
    account = history(firm, "Held Client", invoices=4, payments=0)
    settings.QBO_MAX_PER_MINUTE = 3
    settings.QBO_RATE_HEADROOM = 0.0
    reset_governor()
    try:
        governor = governor_from_settings()
        while governor.holds_back(connected.realm_id) is None:
            with governor.permit(connected.realm_id):
                pass
        link_ids = {
            "invoice": list(
                InvoiceSyncLink.objects.filter(invoice__account=account)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        }
        before = operations(qbo, connected.realm_id)
        with django_capture_on_commit_callbacks() as sent:
            counts = transactions_singles_push(firm_id=firm.pk, link_ids=link_ids)
    finally:
        reset_governor()
    assert counts == {"handed_on": 4}
    [((_, rest), countdown)] = messages(sent, SINGLES_PUSH)
    assert rest == link_ids
    assert countdown > 1
    assert operations(qbo, connected.realm_id) == before  # nothing was sent
    assert set(InvoiceSyncLink.objects.filter(firm=firm).values_list("state", flat=True)) == {
        SyncState.QUEUED
    }


@pytest.mark.django_db
def test_at_the_end_of_its_slice_the_rest_goes_on_at_once(
    qbo, connected, firm, settings, django_capture_on_commit_callbacks
):
    account = history(firm, "Sliced Client", invoices=2, payments=1)
    settings.QBSYNC_SLICE_SECONDS = 0
    link_ids = {
        "invoice": list(
            InvoiceSyncLink.objects.filter(invoice__account=account).values_list("pk", flat=True)
        ),
        "payment": list(
            PaymentSyncLink.objects.filter(payment__account=account).values_list("pk", flat=True)
        ),
    }
    with django_capture_on_commit_callbacks() as sent:
        assert transactions_singles_push(firm_id=firm.pk, link_ids=link_ids) == {"handed_on": 3}
    assert messages(sent, SINGLES_PUSH) == [((firm.pk, link_ids), None)]
    assert messages(sent, PAYMENT_PUSH) == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_through_a_worker_what_batches_cannot_carry_goes_singly_a_few_to_a_task(qbo, connected, firm):
    """One batch request a minute: the first 30 invoices go in it, the other 10 and the 10 payments in a
    few singles tasks at once (not in the next minute's batch), each record once, with no sweep to help."""
    history(firm, "Worker Singles Client", invoices=40, payments=10, push=False)  # its messages wait
    process = sandbox_worker(
        qbo, name="singles", concurrency=2, env={"QBO_MAX_BATCH_PER_MINUTE": "1", "QBO_RATE_HEADROOM": "0"}
    )
    try:
        deadline = time.monotonic() + 45
        while moving([firm.pk]) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert moving([firm.pk]) == 0, process.log()
    finally:
        process.stop()
    log = process.log_path.read_text(errors="replace")
    handed = SyncEvent.objects.filter(firm=firm, kind="handed_over", message=SENT_SINGLY)
    pushed_singly = [
        int(n)
        for n in re.findall(
            r"transactions_singles_push\[[^]]+\] succeeded in [^:]+: \{'synced': (\d+)\}", log
        )
    ]
    assert handed.count() == sum(pushed_singly) == 20
    assert max(pushed_singly) <= SINGLES_PER_TASK
    assert operations(qbo, connected.realm_id).count("batch") == 1
    assert_invariants(qbo, {firm: connected.realm_id})

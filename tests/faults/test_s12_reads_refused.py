"""S12, reads refused mid-first-sync: the deployment's monthly allowance of QBO reads runs out (the sandbox's
read cap for our OAuth client, answered as Intuit might: 429 or 403) while a firm's first sync is under
way, with replies of creates lost meanwhile. Writes go on; what needs a read waits (new accounts'
name look-ups, the marker look-ups after the lost replies) and nothing is created a second time; once
reads return (ops resume them after a plan change) everything ends in QBO exactly once."""

import time

import pytest

from qbsync.sync.engine import metering
from qbsync.sync.kinds.accounts import account_sync_request
from qbsync.sync.models import InvoiceSyncLink, ReadBudgetMonth, SyncEvent
from qbsync.sync.states import SyncState
from tests.conftest import QBO_TEST_CLIENT_ID
from tests.factories import AccountFactory, make_invoice, make_payment
from tests.faults.conftest import make_work, worker
from tests.faults.invariants import RealmCopy, assert_invariants, wait_settled

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WAITING_FOR_READS = "Waiting for QuickBooks reads to resume"


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def reads_used(qbo) -> int:
    meter = qbo.control.meter(client_id=QBO_TEST_CLIENT_ID)
    return (
        meter["months"]
        .get(meter["month"], {})
        .get("clients", {})
        .get(QBO_TEST_CLIENT_ID, {})
        .get("CorePlus", 0)
    )


def held_for_reads(firm) -> int:
    return (
        SyncEvent.objects.filter(firm=firm, message__startswith=WAITING_FOR_READS)
        .values("account", "invoice", "payment")
        .distinct()
        .count()
    )


@pytest.mark.parametrize("answer", ["429", "403"])
def test_reads_refused_mid_first_sync_end_with_every_record_in_qbo_once(qbo, tenant, answer):
    realm, firm = tenant.realm, tenant.firm
    started = time.monotonic()
    env = {"QBSYNC_READS_PAUSED_RECHECK_SECONDS": "1"}
    try:
        with worker(qbo, name=f"s12-{answer}", env=env):
            make_work(firm, accounts=2, invoices=2, prefix="Early")
            wait_settled([firm], 60)
            synced = AccountFactory(firm=firm, name="Synced Before The Cap")
            account_sync_request(account=synced)
            wait_settled([firm], 30)

            # The allowance runs out now; the next creates' replies are lost.
            qbo.control.read_cap(reads_used(qbo), client_id=QBO_TEST_CLIENT_ID, answer=answer)
            for entity in ("invoice", "payment"):
                qbo.control.fault(realm, "drop_after_commit", method="POST", path=entity, operation="create")
            lost_invoice = make_invoice(account=synced, amounts=("410.00",))
            make_payment(account=synced, amount="410.00", allocations={lost_invoice: "410.00"})
            make_work(firm, accounts=2, invoices=2, prefix="Late")  # new accounts: their look-ups wait

            row = wait_for(metering.reads_paused, 30, "reads to be paused by QBO's refusal")
            assert row.pause_reason == ReadBudgetMonth.PauseReason.REFUSED
            # Held: the lost invoice and payment (a look-up by marker would be a read) and the new accounts.
            wait_for(lambda: held_for_reads(firm) >= 3, 60, "what needs a read to be held")
            # Writes went on: an invoice of a synced account goes to QBO while reads are paused.
            written = make_invoice(account=synced, amounts=("99.00",))
            link = InvoiceSyncLink.objects.filter(invoice=written)
            wait_for(lambda: link.filter(state=SyncState.SYNCED).exists(), 30, "a write during the pause")
            assert lost_invoice.sync_events.filter(message__startswith=WAITING_FOR_READS).exists()
            assert any(e.get("read_refused") for e in qbo.control.requests(realm)), "QBO refused a read"
            # Nothing was created twice while held.
            copy = RealmCopy.read(qbo, realm)
            assert all(len(rows) == 1 for rows in copy.by_marker.values()), "a duplicate while paused"

            # The plan changes: QBO answers reads again and ops resume them.
            qbo.control.read_cap(None, client_id=QBO_TEST_CLIENT_ID)
            assert metering.reads_resume()
            wait_settled([firm], 120)
    finally:
        qbo.control.read_cap(None, client_id=QBO_TEST_CLIENT_ID)
        qbo.control.clear_faults(realm)
    assert_invariants(qbo, {firm: realm})
    print(f"S12 {answer}: {time.monotonic() - started:.1f} s")

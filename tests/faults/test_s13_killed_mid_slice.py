"""S13, long work killed mid-slice: a firm's first sync (the bulk account run, then its batch pusher) on a
real worker, whose pool processes are SIGKILLed first while the bulk run holds its plan, then while the
pusher holds a batch. The worker's main process puts each killed task's message back at once (late ack,
reject on worker lost); the redelivered message carries the same task id and takes its run over at once:
the accounts and records the dead task had in hand go to the single sync, which looks each up in QBO
first. No lease is waited out: beat's sweep runs as it would, at the queued grace (it re-sends a message
lost between a commit and its send, as when a process dies right after committing a hand-over), never as
if a lease had ended; the sync finishes well inside the leases (a run's 210 s, a Syncing link's 5
minutes), every record in QBO once, with its amounts."""

import signal
import subprocess
import time

import pytest

from qbsync.sync.models import BatchPushSlot, BulkSyncPlan
from qbsync.sync.work.bulk import bulk_sync_preview_start, bulk_sync_start
from tests.factories import AccountFactory, make_invoice, make_payment
from tests.faults.conftest import connect_tenant, worker
from tests.faults.invariants import assert_invariants, wait_settled

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ACCOUNTS = 75  # three batches of new customers
INVOICES_PER_ACCOUNT = 3  # eight batches of invoices, then the payments
# Well inside every lease: finishing by then proves the redelivered tasks took over, not a lease or the sweep.
SETTLE_WITHIN_SECONDS = 150


def history(firm) -> None:
    for a in range(ACCOUNTS):
        account = AccountFactory(firm=firm, name=f"Sliced Client {a:03d}")
        for i in range(INVOICES_PER_ACCOUNT):
            invoice = make_invoice(account=account, amounts=(f"{100 + i}.25",))
            if i == 0:
                make_payment(account=account, amount=f"{100 + i}.25", allocations={invoice: f"{100 + i}.25"})


def wait_for(condition, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never saw: {what}"
        time.sleep(0.02)


def kill_pool_processes(process) -> list[int]:
    """SIGKILL every pool process of the worker (its main process lives on and starts new ones)."""
    found = subprocess.run(["pgrep", "-P", str(process.process.pid)], capture_output=True, text=True)
    pids = [int(pid) for pid in found.stdout.split()]
    assert pids, "the worker has no pool process"
    for pid in pids:
        subprocess.run(["kill", f"-{signal.SIGKILL.value}", str(pid)], check=False)
    return pids


def test_a_first_sync_killed_mid_slice_carries_on_exactly_once(require_redis, require_postgres, qbo):
    from tests.factories import FirmFactory

    firm = FirmFactory()
    history(firm)
    tenant = connect_tenant(qbo, firm=firm, latency_ms=150)
    env = {"QBSYNC_SLICE_SECONDS": "1.5"}
    with worker(qbo, name="s13", concurrency=2, env=env) as process:
        plan = bulk_sync_preview_start(firm=firm, actor=tenant.owner)
        wait_for(lambda: BulkSyncPlan.objects.get(pk=plan.pk).state == "ready", "the preview ready")
        bulk_sync_start(plan=BulkSyncPlan.objects.get(pk=plan.pk), actor=tenant.owner)

        # 1. The bulk run, mid-slice: it holds the plan and has linked some accounts, not all.
        def bulk_mid_slice() -> bool:
            held = BulkSyncPlan.objects.get(pk=plan.pk)
            done = held.items.exclude(outcome="pending").count()
            return bool(held.run_holder) and 0 < done < ACCOUNTS

        wait_for(bulk_mid_slice, "the bulk run mid-slice")
        kill_pool_processes(process)

        # 2. The batch pusher, mid-slice: it holds the firm's pusher with a batch in hand.
        def pusher_mid_batch() -> bool:
            slot = BatchPushSlot.objects.filter(firm=firm).first()
            return slot is not None and bool(slot.holder) and bool(slot.claimed)

        wait_for(pusher_mid_batch, "the pusher with a batch in hand")
        kill_pool_processes(process)

        wait_settled([firm], SETTLE_WITHIN_SECONDS)
        assert "WorkerLostError" in process.log_path.read_text(errors="replace")

    assert BulkSyncPlan.objects.get(pk=plan.pk).state == "done"
    slot = BatchPushSlot.objects.get(firm=firm)
    assert (slot.holder, slot.claimed, slot.held_until) == ("", {}, None)
    assert_invariants(qbo, {firm: tenant.realm})

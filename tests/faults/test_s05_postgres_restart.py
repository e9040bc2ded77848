"""S5, PostgreSQL restarts mid-run (`pg_ctlcluster ... restart -m fast`: every connection on the machine
is cut). The worker recovers without anyone touching it; a push that died with its connection is taken
back by the sweep once its lease has run out; every operation ends done, none twice.

This scenario restarts the machine's PostgreSQL server, so it runs last in any session (conftest), only
with CI's real PostgreSQL, and always leaves the server running."""

import os
import subprocess
import time

import pytest
from django.db import connection

from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState
from tests.faults.conftest import make_work, worker
from tests.faults.invariants import assert_invariants, wait_settled

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def pg(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, "-m", "fast"]
        if action == "restart"
        else ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
        timeout=60,
    )


def pg_ready(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0:
            return True
        time.sleep(0.5)
    return False


@pytest.fixture
def restartable_postgres(require_postgres):
    if not os.path.isdir("/etc/postgresql") or os.geteuid() != 0:
        pytest.fail("S5 restarts PostgreSQL: it needs the local cluster (pg_ctlcluster) and root")
    yield
    if not pg_ready(30):
        pg("start")
        assert pg_ready(30), "PostgreSQL did not come back after S5"
    connection.close()


def synced(firm) -> int:
    return sum(
        m.objects.filter(firm=firm, state=SyncState.SYNCED).count()
        for m in (AccountSyncLink, InvoiceSyncLink, PaymentSyncLink)
    )


def test_postgres_restarted_mid_run_loses_and_duplicates_nothing(restartable_postgres, qbo, tenant):
    realm, firm = tenant.realm, tenant.firm
    qbo.control.settings(realm, latency_ms=60)
    started = time.monotonic()
    with worker(qbo, name="s5", concurrency=2):
        ops = make_work(firm, accounts=4, invoices=5, prefix="Restart")
        deadline = time.monotonic() + 60
        while synced(firm) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        done_before = synced(firm)
        assert done_before < ops, "restarted mid-run"
        pg("restart")
        assert pg_ready(30)
        connection.close()  # this process's connection was cut too
        took = wait_settled([firm], 150, lease_after=5)
    assert_invariants(qbo, {firm: realm})
    print(
        f"S5: {ops} ops, {done_before} done at the restart, settled {took:.1f} s after; "
        f"{time.monotonic() - started:.1f} s"
    )

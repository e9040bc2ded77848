"""A reconciliation report through real worker processes and the sandbox over HTTP, when the worker does not
finish it: killed mid-comparison (SIGKILL, QBO's answer hanging), the report is left "running"; past its
lease the page says it stopped and starts a new one, which another worker finishes. A comparison that runs
into the soft time limit fails with the reason in words."""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from qbsync.health.models import ReconciliationReport, reconciliation_running_lease
from qbsync.health.services.reconciliation import STOPPED_RUNNING, TOO_LONG
from qbsync.sync.kinds.accounts import account_push, account_sync_request
from qbsync.sync.kinds.invoices import invoice_push
from qbsync.sync.models import InvoiceSyncLink
from qbsync.sync.services.connections import connection_apply_first_defaults
from tests.factories import AccountFactory, make_invoice
from tests.workers import WorkerProcess, sandbox_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def synced(qbo_connection, firm):
    connection_apply_first_defaults(connection=qbo_connection)
    account = AccountFactory(firm=firm, name="Reconciled Client")
    assert account_push(link_id=account_sync_request(account=account).pk) == "synced"
    make_invoice(account=account, number="RW-1", amounts=("120.00",))
    assert invoice_push(link_id=InvoiceSyncLink.objects.get(invoice__account=account).pk) == "synced"
    return account


@pytest.fixture
def admin(firm_admin) -> Client:
    client = Client()
    client.force_login(firm_admin)
    return client


def wait_for_state(report_id: int, states: set[str], worker: WorkerProcess, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = ReconciliationReport.objects.get(pk=report_id).state
        if state in states:
            return state
        time.sleep(0.2)
    raise AssertionError(f"report {report_id} never reached {states}; worker log:\n{worker.log()}")


def test_a_report_whose_worker_is_killed_is_released_and_run_again(qbo, qbo_connection, firm, synced, admin):
    qbo.control.fault(qbo_connection.realm_id, "hang", count=1, hang_seconds=30)
    admin.post(reverse("health:reconciliation_start"))
    stuck = ReconciliationReport.objects.get(firm=firm)

    first = sandbox_worker(qbo, name="recon-killed", concurrency=1)
    try:
        wait_for_state(stuck.pk, {"running"}, first)
        # The worker is in the middle of reading QBO once the sandbox has taken the fault (the answer hangs).
        faults = f"/_sandbox/companies/{qbo_connection.realm_id}/faults"
        deadline = time.monotonic() + 30
        while qbo.control.call("GET", faults)["faults"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert qbo.control.call("GET", faults)["faults"] == [], first.log()
        first.kill()
    finally:
        first.stop()
    qbo.control.clear_faults(qbo_connection.realm_id)
    stuck.refresh_from_db()
    assert stuck.state == "running"
    assert 'http-equiv="refresh"' in admin.get(reverse("health:reconciliation")).content.decode()

    # Nobody is comparing any more. Rather than wait out the lease (the task's hard time limit and a
    # minute), move the report's start back past it: what the clock would have done.
    ReconciliationReport.objects.filter(pk=stuck.pk).update(
        started_at=timezone.now() - reconciliation_running_lease() - timedelta(seconds=1)
    )
    page = admin.get(reverse("health:reconciliation")).content.decode()
    assert "This report stopped before it finished" in page
    assert 'http-equiv="refresh"' not in page

    admin.post(reverse("health:reconciliation_start"))
    fresh = ReconciliationReport.objects.for_firm(firm).exclude(pk=stuck.pk).get()
    second = sandbox_worker(qbo, name="recon-second", concurrency=1)
    try:
        assert wait_for_state(fresh.pk, {"done", "failed"}, second) == "done", fresh.error
    finally:
        second.stop()
    stuck.refresh_from_db()
    assert (stuck.state, stuck.error) == ("failed", STOPPED_RUNNING)
    fresh.refresh_from_db()
    assert (fresh.accounts_checked, fresh.records_checked, fresh.mismatch_count) == (1, 1, 0)
    assert "Everything matches" in admin.get(reverse("health:reconciliation")).content.decode()


def test_a_report_past_the_soft_time_limit_fails_in_words(
    qbo, qbo_connection, firm, synced, admin, monkeypatch
):
    from qbsync.health.tasks import reconciliation_run

    # Celery puts the task's time limits in the message, from the sender's settings: the web process's
    # limit is the one the worker applies. A 2-second soft limit against an answer that hangs for 8.
    monkeypatch.setattr(reconciliation_run, "soft_time_limit", 2)
    monkeypatch.setattr(reconciliation_run, "_exec_options", None)  # Celery's cache of the options above
    qbo.control.fault(qbo_connection.realm_id, "hang", count=1, hang_seconds=8)
    admin.post(reverse("health:reconciliation_start"))
    report = ReconciliationReport.objects.get(firm=firm)
    worker = sandbox_worker(qbo, name="recon-slow", concurrency=1)
    try:
        assert wait_for_state(report.pk, {"done", "failed"}, worker) == "failed"
    finally:
        worker.stop()
        qbo.control.clear_faults(qbo_connection.realm_id)
    report.refresh_from_db()
    assert report.error == TOO_LONG
    assert report.finished_at is not None
    assert (
        "took longer than a worker task may run"
        in admin.get(reverse("health:reconciliation")).content.decode()
    )

"""Token refresh across real Celery worker processes: one refresh however many find the token expired."""

import re
from datetime import timedelta

import pytest
from celery import group
from django.utils import timezone

from qbsync.sync.models import QuickBooksConnection
from qbsync.sync.tasks import connection_check
from tests.workers import sandbox_worker


@pytest.fixture
def qbo_workers(transactional_db, qbo):
    """Four worker processes (prefork) that talk to the test sandbox."""
    process = sandbox_worker(qbo, name="qbo", concurrency=4)
    try:
        yield process
    finally:
        process.stop()


def test_ten_tasks_in_four_worker_processes_refresh_once(qbo_workers, qbo, qbo_connection):
    QuickBooksConnection.objects.filter(pk=qbo_connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(seconds=5)
    )
    results = group(connection_check.s(qbo_connection.pk) for _ in range(10)).apply_async().get(timeout=90)
    assert [r["realm_id"] for r in results] == [qbo_connection.realm_id] * 10
    refreshes = [
        r
        for r in qbo.control.requests(qbo_connection.realm_id)
        if r.get("kind") == "oauth" and r.get("operation") == "refresh_token"
    ]
    assert len(refreshes) == 1, qbo_workers.log()
    stored = QuickBooksConnection.objects.get(pk=qbo_connection.pk)
    assert stored.token_version == qbo_connection.token_version + 1
    assert stored.access_token_expires_at > timezone.now()
    # More than one process did the work.
    assert len(set(re.findall(r"ForkPoolWorker-\d+", qbo_workers.log()))) > 1

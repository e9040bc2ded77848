"""A real worker process, on the configured broker (Redis in CI, the filesystem queue otherwise)."""

import pytest
from django.conf import settings
from django.db import connection

from qbsync.core.tasks import ping
from tests.workers import WorkerProcess


@pytest.fixture
def worker(transactional_db):
    process = WorkerProcess(name="smoke")
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def test_a_worker_process_runs_a_task_end_to_end(worker, request):
    if settings.REDIS_URL:
        request.getfixturevalue("require_redis")
    result = ping.delay().get(timeout=60)
    # The worker answered from the very database this test run uses.
    assert result == {
        "pong": True,
        "vendor": connection.vendor,
        "database": str(connection.settings_dict["NAME"]),
    }
    assert "qbsync.core.ping" in worker.log()

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
    result.pop("session")
    # The worker answered from the very database this test run uses.
    assert result == {
        "pong": True,
        "vendor": connection.vendor,
        "database": str(connection.settings_dict["NAME"]),
    }
    assert "qbsync.core.ping" in worker.log()


def _sessions_of_pings(count: int) -> list:
    return [ping.delay().get(timeout=60)["session"] for _ in range(count)]


def test_a_worker_reuses_its_database_connection_across_tasks(request):
    """Celery's Django fix-up would open a PostgreSQL connection per task; CELERY_DB_REUSE_MAX and
    close_old_connections (qbsync/celery.py) keep one for as long as CONN_MAX_AGE allows."""
    request.getfixturevalue("require_postgres")
    request.getfixturevalue("transactional_db")
    for max_age, expect_one_session in (("600", True), ("0", False)):
        process = WorkerProcess(name=f"reuse-{max_age}", env={"DJANGO_CONN_MAX_AGE": max_age})
        try:
            process.wait_ready()
            sessions = _sessions_of_pings(5)
        finally:
            process.stop()
        assert None not in sessions
        # With CONN_MAX_AGE=0 every task gets a fresh session, as Django's requests do.
        assert (len(set(sessions)) == 1) is expect_one_session, (max_age, sessions)

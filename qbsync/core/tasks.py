"""Tasks that check the plumbing itself: the broker, a worker process and its database connection."""

from celery import shared_task
from django.db import connection


@shared_task(name="qbsync.core.ping", ignore_result=False)
def ping() -> dict:
    """Answer from a worker, after touching the database it is configured with."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (one,) = cursor.fetchone()
        # Which database session answered: the same one task after task when connections are reused.
        session = None
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_backend_pid()")
            (session,) = cursor.fetchone()
    return {
        "pong": one == 1,
        "vendor": connection.vendor,
        "database": str(connection.settings_dict["NAME"]),
        "session": session,
    }

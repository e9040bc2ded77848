"""The Celery application. Configuration lives in Django settings under the CELERY_ namespace."""

import os

from celery import Celery
from celery.signals import (
    heartbeat_sent,
    task_postrun,
    task_prerun,
    worker_init,
    worker_ready,
    worker_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qbsync.settings.base")

app = Celery("qbsync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# The handlers below import what they call inside their bodies: this module is imported with the `qbsync`
# package, before Django's apps are loaded, so it may import no app code at the top.


@worker_init.connect
def _require_secrets(**kwargs) -> None:
    from qbsync.core.startup import require_runtime_secrets

    require_runtime_secrets()


# Log context: every line a task logs names its task, firm, realm and record (qbsync.core.logging).
# Database connections are reused across a worker's tasks. Celery's Django fix-up would close every
# connection around every task (a fresh PostgreSQL connection per task, whatever CONN_MAX_AGE says) unless
# CELERY_DB_REUSE_MAX is set; with it set, this does what Django does around each request: a connection
# past CONN_MAX_AGE, or left unusable by an error, is closed and the next query opens a fresh one.
@task_prerun.connect
def _close_old_connections_before(**extra) -> None:
    from django.db import close_old_connections

    close_old_connections()


@task_postrun.connect
def _close_old_connections_after(**extra) -> None:
    from django.db import close_old_connections

    close_old_connections()


@task_prerun.connect
def _bind_task_log_context(task_id=None, task=None, args=None, kwargs=None, **extra) -> None:
    import logging

    from qbsync.core.logging import bind_log_context, clear_log_context

    clear_log_context()
    bind_log_context(task=task.name, task_id=task_id)
    try:
        from qbsync.sync.log_context import task_log_context

        bind_log_context(**task_log_context(task.name, args or (), kwargs or {}))
    except Exception:  # a log label must never stop the task
        logging.getLogger(__name__).warning("Could not read the log context of %s", task.name, exc_info=True)


@task_postrun.connect
def _clear_task_log_context(**extra) -> None:
    from qbsync.core.logging import clear_log_context

    clear_log_context()


# Heartbeats for /readyz, qbsync_status and the container healthchecks (qbsync.core.heartbeat).
@worker_ready.connect
def _start_heartbeat(sender=None, **kwargs) -> None:
    from qbsync.core.heartbeat import on_worker_ready

    on_worker_ready(sender=sender, **kwargs)


@heartbeat_sent.connect
def _celery_heartbeat(sender=None, **kwargs) -> None:
    from qbsync.core.heartbeat import on_celery_heartbeat

    on_celery_heartbeat(sender=sender, **kwargs)


@worker_shutdown.connect
def _stop_heartbeat(sender=None, **kwargs) -> None:
    from qbsync.core.heartbeat import on_worker_shutdown

    on_worker_shutdown(sender=sender, **kwargs)

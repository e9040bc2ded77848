"""Worker and beat heartbeats: each process says it is alive every QBSYNC_HEARTBEAT_SECONDS by updating its
row in the database (read by /readyz and qbsync_status) and, when QBSYNC_HEARTBEAT_FILE is set, by touching
that file (read by the container's healthcheck, `python -m qbsync.core.probe file ...`).

A worker beats only while its consumer does: Celery's own heartbeat timer, which stops when the consumer
loses the broker or wedges, feeds ours; a thread does the database write, so a slow database never stalls
the consumer. Beat beats from its scheduler's tick. Connected in qbsync/celery.py.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

from celery.beat import PersistentScheduler
from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)


def heartbeat_seconds() -> float:
    return float(settings.QBSYNC_HEARTBEAT_SECONDS)


def stale_after() -> timedelta:
    return timedelta(seconds=float(settings.QBSYNC_HEARTBEAT_STALE_SECONDS))


def record_heartbeat(*, kind: str, name: str, queues: str = "", started_at=None) -> None:
    """Upsert this process's row, then touch the heartbeat file. Never raises: a missed beat is the signal."""
    # Models inside: celery.py's signal handlers import this module before Django's apps may be ready.
    from .models import ProcessHeartbeat

    now = timezone.now()
    try:
        ProcessHeartbeat.objects.update_or_create(
            kind=kind,
            name=name,
            defaults={"pid": os.getpid(), "queues": queues, "beat_at": now},
            create_defaults={
                "pid": os.getpid(),
                "queues": queues,
                "beat_at": now,
                "started_at": started_at or now,
            },
        )
        touch_heartbeat_file()
    except Exception:  # logged; the stale heartbeat is what ops will see
        logger.warning("Could not record the %s heartbeat of %s", kind, name, exc_info=True)


def forget_heartbeat(*, kind: str, name: str) -> None:
    """A process that stops cleanly removes its row, so it is not mistaken for a dead one."""
    from .models import ProcessHeartbeat  # inside, as in record_heartbeat

    try:
        ProcessHeartbeat.objects.filter(kind=kind, name=name).delete()
    except Exception:  # shutting down; the row goes stale instead
        logger.warning("Could not remove the %s heartbeat of %s", kind, name, exc_info=True)


def touch_heartbeat_file() -> None:
    path = settings.QBSYNC_HEARTBEAT_FILE
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(f"{time.time():.3f}\n")


# Workers ---------------------------------------------------------------------------------------------


class WorkerHeartbeat:
    """One per worker main process: a daemon thread that writes while Celery's heartbeat timer is alive."""

    def __init__(self, *, name: str, queues: str):
        self.name = name
        self.queues = queues
        self.started_at = timezone.now()
        self._last_celery_heartbeat = time.monotonic()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qbsync-heartbeat", daemon=True)

    def start(self) -> None:
        self._write()
        self._thread.start()

    def celery_heartbeat(self) -> None:
        self._last_celery_heartbeat = time.monotonic()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        forget_heartbeat(kind="worker", name=self.name)
        connection.close()

    def _consumer_alive(self) -> bool:
        # Celery beats every 2 s (worker_heartbeat); three missed beats mean the consumer is not running.
        return time.monotonic() - self._last_celery_heartbeat < max(3 * heartbeat_seconds(), 10.0)

    def _write(self) -> None:
        record_heartbeat(kind="worker", name=self.name, queues=self.queues, started_at=self.started_at)
        # Hold no connection between beats: the prefork pool forks new children from this process.
        connection.close()

    def _run(self) -> None:
        while not self._stopped.wait(heartbeat_seconds()):
            if self._consumer_alive():
                self._write()
            else:
                logger.warning("No Celery heartbeat from the consumer of %s: not reporting alive", self.name)


_worker_heartbeat: WorkerHeartbeat | None = None


def on_worker_ready(sender=None, **kwargs) -> None:
    global _worker_heartbeat
    from celery import current_app  # the worker's app, known only once the worker is up

    consumer_from = getattr(current_app.amqp.queues, "consume_from", None) or current_app.amqp.queues
    queues = ",".join(sorted(consumer_from))
    _worker_heartbeat = WorkerHeartbeat(name=sender.hostname, queues=queues)
    _worker_heartbeat.start()


def on_celery_heartbeat(sender=None, **kwargs) -> None:
    if _worker_heartbeat is not None:
        _worker_heartbeat.celery_heartbeat()


def on_worker_shutdown(sender=None, **kwargs) -> None:
    global _worker_heartbeat
    if _worker_heartbeat is not None:
        _worker_heartbeat.stop()
        _worker_heartbeat = None


# Beat ------------------------------------------------------------------------------------------------


class HeartbeatScheduler(PersistentScheduler):
    """Celery's file-backed scheduler that beats on every tick (at most every QBSYNC_HEARTBEAT_SECONDS).

    Celery ticks at least every time an entry is due (the sweep: every QBSYNC_SWEEP_SECONDS), so the
    beat's heartbeat stays fresh as long as its loop runs."""

    _next_beat = 0.0

    def tick(self, *args, **kwargs):
        now = time.monotonic()
        if now >= self._next_beat:
            self._next_beat = now + heartbeat_seconds()
            record_heartbeat(kind="beat", name=f"beat@{socket.gethostname()}")
        interval = super().tick(*args, **kwargs)
        # Wake up in time for the next beat even when nothing is due before it.
        return min(interval, heartbeat_seconds()) if interval else interval

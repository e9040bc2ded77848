"""Celery tasks for changes made in QuickBooks Online. Each takes ids and calls one service; the names are
the ones the services send (qbsync/sync/engine/enqueue.py)."""

from celery import shared_task

from qbsync.sync.engine import enqueue as names

from .services.inbox import changes_poll_all as poll_all
from .services.inbox import changes_poll_connection
from .services.inbox import changes_process as process


@shared_task(name=names.CHANGES_PROCESS)
def changes_process(connection_id: int) -> dict:
    return process(connection_id=connection_id)


@shared_task(name=names.CHANGES_POLL)
def changes_poll(connection_id: int) -> str:
    return changes_poll_connection(connection_id=connection_id)


@shared_task(name=names.CHANGES_POLL_ALL)
def changes_poll_all() -> int:
    return poll_all()

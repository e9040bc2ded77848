"""Celery tasks for changes made in QuickBooks Online. Each takes ids and calls one service."""

from celery import shared_task


@shared_task(name="qbsync.qbo.changes_process")
def changes_process(connection_id: int) -> dict:
    from qbsync.changes.services.inbox import changes_process as process

    return process(connection_id=connection_id)


@shared_task(name="qbsync.qbo.changes_poll")
def changes_poll(connection_id: int) -> str:
    from qbsync.changes.services.inbox import changes_poll_connection

    return changes_poll_connection(connection_id=connection_id)


@shared_task(name="qbsync.changes_poll_all")
def changes_poll_all() -> int:
    from qbsync.changes.services.inbox import changes_poll_all as poll_all

    return poll_all()

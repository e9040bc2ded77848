"""Celery tasks of the health app: each takes ids and calls one service. The report reads QBO, so it runs
on the qbo queue; the beat tasks only decide what to do. The names are the ones the services send
(qbsync/sync/engine/enqueue.py)."""

from celery import shared_task

from qbsync.sync.engine import enqueue as names

from .services.notifications import notifications_check as check
from .services.reconciliation import reconciliation_nightly as nightly
from .services.reconciliation import reconciliation_run as run


@shared_task(name=names.RECONCILIATION_RUN)
def reconciliation_run(report_id: int) -> str:
    return run(report_id=report_id)


@shared_task(name=names.RECONCILIATION_NIGHTLY)
def reconciliation_nightly() -> int:
    return nightly()


@shared_task(name=names.NOTIFICATIONS_CHECK)
def notifications_check() -> dict:
    return check()

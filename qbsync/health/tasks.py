"""Celery tasks of the health app: each takes ids and calls one service. The report reads QBO, so it runs
on the qbo queue; the beat tasks only decide what to do."""

from celery import shared_task


@shared_task(name="qbsync.qbo.reconciliation_run")
def reconciliation_run(report_id: int) -> str:
    from qbsync.health.services.reconciliation import reconciliation_run as run

    return run(report_id=report_id)


@shared_task(name="qbsync.reconciliation_nightly")
def reconciliation_nightly() -> int:
    from qbsync.health.services.reconciliation import reconciliation_nightly as nightly

    return nightly()


@shared_task(name="qbsync.notifications_check")
def notifications_check() -> dict:
    from qbsync.health.services.notifications import notifications_check as check

    return check()

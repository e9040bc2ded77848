"""How long work may hold a record before it is presumed lost, and how long queued work may wait before
it is enqueued again. The sweep (`qbsync/sync/work/sweep.py`) acts on these."""

import time
from datetime import timedelta

from django.conf import settings

# A worker holding a link longer than this is presumed dead; the sweep puts the link back in the queue.
SYNCING_LEASE = timedelta(minutes=5)
# A queued link nobody picked up for this long is enqueued again (the broker may have lost it).
QUEUED_GRACE = timedelta(seconds=60)
# A delete in QBO (an outbox row) held longer than this is taken again.
OUTBOX_LEASE = timedelta(minutes=5)
# A running bulk first sync whose plan has not moved for this long is resumed.
BULK_HOLD = timedelta(minutes=10)


def slice_deadline() -> float:
    """When the slice of a long task started now ends (on time.monotonic()). The bulk first sync and the
    batch pusher work in slices of QBSYNC_SLICE_SECONDS and send a message for the rest themselves, so none
    of them runs near Celery's soft time limit and a worker killed mid-slice loses one slice at most."""
    seconds = float(settings.QBSYNC_SLICE_SECONDS)
    return time.monotonic() + min(seconds, float(settings.CELERY_TASK_SOFT_TIME_LIMIT) / 3)


def run_lease() -> timedelta:
    """How long a slice's hold on its run (a bulk plan, a firm's pusher) lasts unless renewed: past the
    task's hard time limit, so a live task never loses it. A task that died is taken over at once by its
    redelivered message (same task id), else by anyone once the lease ends."""
    return timedelta(seconds=float(settings.CELERY_TASK_TIME_LIMIT) + 30)

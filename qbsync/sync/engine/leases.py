"""How long work may hold a record before it is presumed lost, and how long queued work may wait before
it is enqueued again. The sweep (`qbsync/sync/work/sweep.py`) acts on these."""

from datetime import timedelta

# A worker holding a link longer than this is presumed dead; the sweep puts the link back in the queue.
SYNCING_LEASE = timedelta(minutes=5)
# A queued link nobody picked up for this long is enqueued again (the broker may have lost it).
QUEUED_GRACE = timedelta(seconds=60)
# A delete in QBO (an outbox row) held longer than this is taken again.
OUTBOX_LEASE = timedelta(minutes=5)
# A running bulk first sync whose plan has not moved for this long is resumed.
BULK_HOLD = timedelta(minutes=10)

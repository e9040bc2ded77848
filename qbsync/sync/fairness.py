"""Fair scheduling across QBO companies ("realms"): one slow or throttled company never holds every worker.

Sync tasks share one FIFO queue, so without this a company with a long backlog, or a slow one (each request
taking seconds), fills every worker slot and the tasks of every other company wait behind it. Before a sync
task does its work, `run_fairly` asks two things about the task's realm:

1. Would the rate governor make it wait more than a moment (a 429 pause, a minute's budget spent)? Then the
   task steps aside for that long with a countdown. Its worker goes on to other companies' tasks, and the
   sync link is not touched: waiting for our own limiter spends none of the record's attempts.
2. Does the realm already hold its share of worker slots: `QBSYNC_MAX_WORKERS_PER_REALM` of this worker
   process's pool (default half of it, but at least 2), and across every worker no more than the
   governor's in-flight limit? Then the task steps aside for a short, growing countdown, and the free
   slots go on down the queue to other companies' tasks. A company on its own still gets its whole share
   of every worker process, so more processes mean more throughput for it too, up to QBO's limits.

Slots are leases in Redis (each realm's keys share a hash tag, like the governor's) that expire after the
task time limit, so a worker killed mid-task frees its slots by itself. Without REDIS_URL (the one-machine
demo) there are no shared slots and only step 1 applies.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

import redis
from celery.signals import worker_init
from django.conf import settings

from qbsync.quickbooks.governor import GOVERNOR_BACKEND_ERRORS, governor_from_settings

from .engine.retry import jittered_doubling
from .log_context import TASK_RECORDS
from .models import QuickBooksConnection

if TYPE_CHECKING:
    from celery import Task
    from redis import Redis

logger = logging.getLogger(__name__)
T = TypeVar("T")

# A governor wait shorter than this is spent inside permit(); a longer one frees the worker.
STEP_ASIDE_AFTER_SECONDS = 1.0
# A task whose realm holds its share comes back after this, doubling each time it steps aside, up to the
# maximum: short enough that the realm's own slots are refilled at once, long enough not to spin the queue.
SHARE_RETRY_FIRST_SECONDS = 0.5
SHARE_RETRY_MAX_SECONDS = 5.0
# A slot outlives its task only when the worker died holding it.
SLOT_LEASE_MARGIN_SECONDS = 30.0

Verdict = Literal["ok", "node", "realm"]


# --- Worker slots per realm --------------------------------------------------------------------------------

# KEYS: this worker process's slots for the realm, the realm's slots on every worker.
# ARGV: slot id, cap per worker process, cap across workers, lease (microseconds).
_TAKE_SLOT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 'node' end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 'realm' end
local lease_us = tonumber(ARGV[4])
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease_us, ARGV[1])
  redis.call('PEXPIRE', key, math.ceil(lease_us / 1000))
end
return 'ok'
"""

# KEYS: the realm's slots on every worker. Returns how many are held now.
_COUNT_SLOTS_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


class RealmSlots:
    """Leases on worker slots per realm, per worker process (node) and across all of them."""

    def __init__(self, redis_client: Redis, *, key_prefix: str = "qbsync:fair", lease_seconds: float) -> None:
        self._redis = redis_client
        self._key_prefix = key_prefix
        self._lease_us = max(1, round(lease_seconds * 1_000_000))
        self._take = redis_client.register_script(_TAKE_SLOT_LUA)
        self._count = redis_client.register_script(_COUNT_SLOTS_LUA)

    def keys_for(self, realm_id: str, node: str) -> list[str]:
        base = f"{self._key_prefix}:{{{realm_id}}}"
        # Braces in a node name would move the key out of the realm's hash slot.
        safe_node = node.replace("{", "(").replace("}", ")")
        return [f"{base}:node:{safe_node}", f"{base}:all"]

    def take(self, realm_id: str, *, node: str, node_cap: int, realm_cap: int) -> tuple[Verdict, str]:
        """("ok", slot id) when a slot was taken; ("node" or "realm", "") when that cap is reached."""
        slot_id = uuid.uuid4().hex
        verdict = self._take(
            keys=self.keys_for(realm_id, node), args=[slot_id, node_cap, realm_cap, self._lease_us]
        )
        verdict = verdict.decode() if isinstance(verdict, bytes) else verdict
        return verdict, slot_id if verdict == "ok" else ""

    def give_back(self, realm_id: str, *, node: str, slot_id: str) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for key in self.keys_for(realm_id, node):
            pipe.zrem(key, slot_id)
        pipe.execute()

    def held(self, realm_id: str) -> int:
        """Slots the realm holds now on every worker process."""
        return int(self._count(keys=self.keys_for(realm_id, "-")[1:]))


_slots: RealmSlots | None = None
_slots_lock = threading.Lock()


def slots_from_settings() -> RealmSlots | None:
    """The process-wide slot registry: None without REDIS_URL."""
    global _slots
    if not settings.REDIS_URL:
        return None
    with _slots_lock:
        if _slots is None:
            # Timeouts, for the same reason as the governor's: a dead Redis must fail the check, not hang it.
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
            lease = float(settings.CELERY_TASK_TIME_LIMIT) + SLOT_LEASE_MARGIN_SECONDS
            _slots = RealmSlots(client, lease_seconds=lease)
        return _slots


def reset_slots() -> None:
    """Forget the process-wide slot registry, so the next call reads the settings again (tests)."""
    global _slots
    with _slots_lock:
        _slots = None


# --- Caps ---------------------------------------------------------------------------------------------------

_pool_size: int | None = None


@worker_init.connect
def _remember_pool_size(sender=None, **kwargs) -> None:
    # Sent in the worker's main process before the pool forks, so every pool process inherits the number.
    global _pool_size
    concurrency = getattr(sender, "concurrency", None)
    _pool_size = concurrency if isinstance(concurrency, int) and concurrency > 0 else None


# A company's own work needs two slots at once: a batch pusher tops its batch up while the company's
# accounts link. With one, they take turns and the pusher's wait for more records is wasted.
MIN_DEFAULT_NODE_CAP = 2


def node_cap(pool_size: int | None = None) -> int:
    """How many of one worker process's slots one realm may hold: the setting, or half the pool (at least
    2, so a pool of 2 or 3 keeps slots for other companies only when the setting says 1)."""
    configured = int(getattr(settings, "QBSYNC_MAX_WORKERS_PER_REALM", 0) or 0)
    if configured > 0:
        return configured
    size = pool_size if pool_size is not None else (_pool_size or 4)
    return max(MIN_DEFAULT_NODE_CAP, size // 2)


def realm_cap() -> int:
    """How many slots one realm may hold across every worker: the governor's in-flight limit, so no task
    ever waits in permit() for an in-flight slot whatever the number of workers."""
    limits = governor_from_settings().limits
    return limits.usable(limits.max_in_flight)


# --- Which realm --------------------------------------------------------------------------------------------


def realm_of_task(task_name: str, record_id: int) -> str | None:
    """The realm a sync task's record belongs to, in one small query; None without a connection."""
    if task_name == "qbsync.qbo.transactions_batch_push":
        return (
            QuickBooksConnection.objects.filter(firm_id=record_id).values_list("realm_id", flat=True).first()
        )
    model, firm, _label, _record = TASK_RECORDS[task_name]
    return (
        model.objects.filter(pk=record_id)
        .values_list(f"{firm}__quickbooks_connection__realm_id", flat=True)
        .first()
    ) or None


# --- Running a task fairly ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepAside:
    """Why a task was put back on the queue, and for how long."""

    reason: str
    countdown: float


def share_retry_countdown(times_aside: int) -> float:
    """Doubling from SHARE_RETRY_FIRST_SECONDS up to SHARE_RETRY_MAX_SECONDS, with jitter so that a
    realm's set-aside tasks do not all come back at once."""
    return jittered_doubling(times_aside, first=SHARE_RETRY_FIRST_SECONDS, ceiling=SHARE_RETRY_MAX_SECONDS)


def governor_step_aside(realm_id: str, *, batch: bool) -> StepAside | None:
    """A StepAside when the realm's governor would hold a request back for more than a moment."""
    wait = governor_from_settings().wait_before_permit(realm_id, batch=batch)
    if wait is None:
        return None
    reason, seconds = wait
    if reason == "in_flight" or seconds <= STEP_ASIDE_AFTER_SECONDS:
        return None
    # A little jitter, so the tasks of a paused realm do not all come back in the same instant.
    return StepAside(f"governor: {reason}", seconds + random.uniform(0, min(1.0, seconds / 4)))


def run_fairly(task: Task, realm_id: str | None, work: Callable[[], T], *, batch: bool = False) -> T | str:
    """Run `work` (the task's one service call) if the realm has room now; otherwise put the task back on
    the queue with a countdown and return "set-aside". Called directly (not by a worker), it just runs."""
    request = task.request
    if realm_id is None or request.called_directly:
        return work()
    try:
        aside = governor_step_aside(realm_id, batch=batch)
    except GOVERNOR_BACKEND_ERRORS:
        # The permit will find the same fault and the service defers the record; fairness never blocks it.
        logger.warning("Fair scheduling skipped for realm %s: Redis unreachable", realm_id, exc_info=True)
        return work()
    if aside is not None:
        return _step_aside(task, realm_id, aside)
    slots = slots_from_settings()
    if slots is None:
        return work()
    node = request.hostname or "unknown"
    try:
        verdict, slot_id = slots.take(realm_id, node=node, node_cap=node_cap(), realm_cap=realm_cap())
    except GOVERNOR_BACKEND_ERRORS:
        logger.warning("Fair scheduling skipped for realm %s: Redis unreachable", realm_id, exc_info=True)
        return work()
    if verdict != "ok":
        share = f"share: {'this worker' if verdict == 'node' else 'all workers'}"
        return _step_aside(task, realm_id, StepAside(share, share_retry_countdown(request.retries or 0)))
    try:
        return work()
    finally:
        try:
            slots.give_back(realm_id, node=node, slot_id=slot_id)
        except GOVERNOR_BACKEND_ERRORS:
            logger.warning("Could not give back a worker slot of realm %s; its lease expires", realm_id)


def _step_aside(task: Task, realm_id: str, aside: StepAside) -> str:
    request = task.request
    # A new message before this one is acknowledged (late ack): a worker lost in between leaves two,
    # and the services' compare-and-set runs the record once.
    task.apply_async(
        args=request.args,
        kwargs=request.kwargs,
        countdown=aside.countdown,
        retries=(request.retries or 0) + 1,
    )
    logger.info(
        "Task set aside for %.1f s: realm %s (%s)",
        aside.countdown,
        realm_id,
        aside.reason,
        extra={"fair_reason": aside.reason, "countdown": round(aside.countdown, 2)},
    )
    return "set-aside"

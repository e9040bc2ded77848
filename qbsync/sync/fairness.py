"""Fair scheduling across QBO companies ("realms"): one slow or throttled company never holds every worker.

Sync tasks share one FIFO queue, so without this a company with a long backlog, or a slow one (each request
taking seconds), fills every worker slot and the tasks of every other company wait behind it. Before a sync
task does its work, `run_fairly` asks two things about the task's realm:

1. Would the rate governor make it wait more than a moment (a 429 pause, a minute's budget spent)? Then the
   task steps aside for that long with a countdown. Its worker goes on to other companies' tasks, and the
   sync link is not touched: waiting for our own limiter spends none of the record's attempts.
2. Does the realm already hold its share of worker slots: `QBSYNC_MAX_WORKERS_PER_REALM` of this worker
   process's pool (default half of it, but at least 2), and across every worker no more than the
   governor's in-flight limit? Then the task is parked: its message waits in Redis, in the realm's list,
   and the free slots go on down the queue to other companies' tasks. The next task of the realm to give
   its slot back sends the first parked message again, so a task waits once, exactly as long as it must,
   instead of coming back on a timer to find the slots still held. A company on its own still gets its
   whole share of every worker process, so more processes mean more throughput for it too, up to QBO's
   limits.

Every set-aside is counted per realm and reason (`set_asides`), for `qbsync_status`.

Slots are leases in Redis (each realm's keys share a hash tag, like the governor's) that expire after the
task time limit, so a worker killed mid-task frees its slots by itself. Without REDIS_URL (the one-machine
demo) there are no shared slots and only step 1 applies.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

import redis
from celery import current_app
from celery.signals import worker_init
from django.conf import settings

from qbsync.quickbooks.governor import GOVERNOR_BACKEND_ERRORS, governor_from_settings

from .engine.enqueue import BATCH_PUSH, SINGLES_PUSH
from .log_context import TASK_RECORDS, realm_read_at_start
from .models import QuickBooksConnection

if TYPE_CHECKING:
    from celery import Task
    from redis import Redis

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The sync tasks whose id is their firm's (a firm's batch pusher, its records pushed singly).
FIRM_TASKS = (BATCH_PUSH, SINGLES_PUSH)

# A slot outlives its task only when the worker died holding it.
SLOT_LEASE_MARGIN_SECONDS = 30.0

Verdict = Literal["ok", "node", "realm"]


# --- Worker slots per realm --------------------------------------------------------------------------------

# KEYS: this worker process's slots for the realm, the realm's slots on every worker, the realm's parked
# messages, the realm's set-aside counts.
# ARGV: slot id, cap per worker process, cap across workers, lease (microseconds), the message to park
# when a cap is reached ("" parks nothing).
# Taking a slot and parking are one step: a slot given back in between would find nothing to send.
_TAKE_SLOT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local lease_us = tonumber(ARGV[4])
local verdict = 'ok'
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then verdict = 'node'
elseif redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then verdict = 'realm' end
if verdict ~= 'ok' then
  if ARGV[5] ~= '' then
    redis.call('RPUSH', KEYS[3], ARGV[5])
    redis.call('PEXPIRE', KEYS[3], math.ceil(lease_us / 1000))
    redis.call('HINCRBY', KEYS[4], 'share', 1)
    redis.call('EXPIRE', KEYS[4], 86400)
  end
  return verdict
end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now + lease_us, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], math.ceil(lease_us / 1000))
end
return 'ok'
"""

# KEYS: this worker process's slots for the realm, the realm's slots on every worker, its parked messages.
# ARGV: slot id. Returns the parked message to send again, if any.
_GIVE_BACK_LUA = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('LPOP', KEYS[3])
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
        self._give_back = redis_client.register_script(_GIVE_BACK_LUA)
        self._count = redis_client.register_script(_COUNT_SLOTS_LUA)

    def _base(self, realm_id: str) -> str:
        return f"{self._key_prefix}:{{{realm_id}}}"

    def keys_for(self, realm_id: str, node: str) -> list[str]:
        """This node's slots, every node's slots, the parked messages, the set-aside counts."""
        base = self._base(realm_id)
        # Braces in a node name would move the key out of the realm's hash slot.
        safe_node = node.replace("{", "(").replace("}", ")")
        return [f"{base}:node:{safe_node}", f"{base}:all", f"{base}:parked", f"{base}:asides"]

    def take(
        self, realm_id: str, *, node: str, node_cap: int, realm_cap: int, park: str = ""
    ) -> tuple[Verdict, str]:
        """("ok", slot id) when a slot was taken; ("node" or "realm", "") when that cap is reached, and
        then the message ``park`` waits in the realm's list for the next slot given back."""
        # The taking process's id first: slots of a pool process that died are found by it (reap_dead).
        slot_id = f"{os.getpid()}:{uuid.uuid4().hex}"
        verdict = self._take(
            keys=self.keys_for(realm_id, node), args=[slot_id, node_cap, realm_cap, self._lease_us, park]
        )
        verdict = verdict.decode() if isinstance(verdict, bytes) else verdict
        return verdict, slot_id if verdict == "ok" else ""

    def give_back(self, realm_id: str, *, node: str, slot_id: str) -> str | None:
        """Give the slot back; returns the first parked message of the realm, now the caller's to send."""
        parked = self._give_back(keys=self.keys_for(realm_id, node)[:3], args=[slot_id])
        return parked.decode() if isinstance(parked, bytes) else parked

    def reap_dead(self, realm_id: str, node: str) -> list[str]:
        """Free the realm's slots on this node held by pool processes that no longer exist (killed: the OOM
        killer, a hard time limit), rather than wait out their lease. A node is one worker on one host, so
        its slots' process ids are this host's. A dead holder never gives its slot back, so for each slot
        freed one parked message is handed out instead: returns them, now the caller's to send."""
        node_key, all_key, parked_key = self.keys_for(realm_id, node)[:3]
        dead = [m for m in self._redis.zrange(node_key, 0, -1) if not _process_alive(m)]
        if not dead:
            return []
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrem(node_key, *dead)
        pipe.zrem(all_key, *dead)
        for _ in dead:
            pipe.lpop(parked_key)
        popped = pipe.execute()[2:]
        return [m.decode() if isinstance(m, bytes) else m for m in popped if m]

    def held(self, realm_id: str) -> int:
        """Slots the realm holds now on every worker process."""
        return int(self._count(keys=self.keys_for(realm_id, "-")[1:2]))

    def count_aside(self, realm_id: str, reason: str) -> None:
        key = f"{self._base(realm_id)}:asides"
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(key, reason, 1)
        pipe.expire(key, 86400)
        pipe.execute()

    def set_asides(self, realm_id: str) -> dict[str, int]:
        """The realm's set-asides by reason ("share": parked for a slot, "governor": QBO's limits) since
        the realm was last idle a whole day, and how many messages are parked now."""
        base = self._base(realm_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(f"{base}:asides")
        pipe.llen(f"{base}:parked")
        counts, parked = pipe.execute()
        out = {"share": 0, "governor": 0} | {k.decode(): int(v) for k, v in counts.items()}
        return out | {"parked_now": int(parked)}


def _process_alive(slot_id: bytes | str) -> bool:
    slot_id = slot_id.decode() if isinstance(slot_id, bytes) else slot_id
    pid, _, _ = slot_id.partition(":")
    if not pid.isdigit():
        return True  # not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    if task_name in FIRM_TASKS:
        return (
            QuickBooksConnection.objects.filter(firm_id=record_id).values_list("realm_id", flat=True).first()
        )
    read, realm_id = realm_read_at_start(task_name, record_id)
    if read:
        return realm_id or None
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


def governor_step_aside(realm_id: str, *, batch: bool) -> StepAside | None:
    """A StepAside when the realm's governor would hold a request back for more than a moment."""
    held = governor_from_settings().holds_back(realm_id, batch=batch)
    if held is None:
        return None
    reason, seconds = held
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
    slots = slots_from_settings()
    if aside is not None:
        _count_aside(slots, realm_id, "governor")
        return _step_aside(task, realm_id, aside)
    if slots is None:
        return work()
    node = request.hostname or "unknown"
    caps = {"node": node, "node_cap": node_cap(), "realm_cap": realm_cap()}
    try:
        verdict, slot_id = slots.take(realm_id, **caps)
        if verdict != "ok":
            # Slots of a killed pool process are freed now (with the messages parked behind them), then
            # the task takes one or is parked.
            for parked in slots.reap_dead(realm_id, node):
                send_parked(parked)
            verdict, slot_id = slots.take(realm_id, **caps, park=_parked_message(task))
    except GOVERNOR_BACKEND_ERRORS:
        logger.warning("Fair scheduling skipped for realm %s: Redis unreachable", realm_id, exc_info=True)
        return work()
    if verdict != "ok":
        logger.info(
            "Task parked until realm %s gives a worker slot back (its share of %s is taken)",
            realm_id,
            "this worker" if verdict == "node" else "all workers",
            extra={"fair_reason": f"share: {verdict}"},
        )
        return "set-aside"
    try:
        return work()
    finally:
        try:
            parked = slots.give_back(realm_id, node=node, slot_id=slot_id)
        except GOVERNOR_BACKEND_ERRORS:
            logger.warning("Could not give back a worker slot of realm %s; its lease expires", realm_id)
        else:
            if parked:
                send_parked(parked)


def _parked_message(task: Task) -> str:
    request = task.request
    return json.dumps(
        {
            "task": task.name,
            "args": list(request.args or ()),
            "kwargs": dict(request.kwargs or {}),
            "retries": (request.retries or 0) + 1,
        }
    )


def send_parked(message: str) -> None:
    """Send a parked task's message again, now that its realm gave a slot back. Lost between the pop and
    here (a worker killed), its record is found by the sweep like any lost message."""
    parked = json.loads(message)
    current_app.send_task(
        parked["task"], args=parked["args"], kwargs=parked["kwargs"], retries=parked["retries"]
    )


def _count_aside(slots: RealmSlots | None, realm_id: str, reason: str) -> None:
    if slots is None:
        return
    try:
        slots.count_aside(realm_id, reason)
    except GOVERNOR_BACKEND_ERRORS:
        logger.warning("Could not count a set-aside of realm %s", realm_id)


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

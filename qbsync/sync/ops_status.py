"""What the deployment is doing, for ops (`manage.py qbsync_status`): queue lengths in the broker, worker and
beat heartbeats, stuck sync work, each realm's throttle state in the rate governor, and failures by cause
per firm; and the sections the floors above add (`register_section`: the change inbox of qbsync/changes).
Reads only; every number is one query or one broker command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import redis
from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from kombu.transport.redis import Channel

from qbsync.core.heartbeat import stale_after
from qbsync.core.models import ProcessHeartbeat
from qbsync.quickbooks.governor import RedisRateGovernor, governor_from_settings
from qbsync.sync import fairness
from qbsync.sync.engine import metering
from qbsync.sync.engine.connection import usable_connections
from qbsync.sync.engine.leases import BULK_HOLD, QUEUED_GRACE, SYNCING_LEASE
from qbsync.sync.models import (
    AccountSyncLink,
    BulkSyncPlan,
    InvoiceSyncLink,
    PaymentSyncLink,
    QboCallMonth,
    SyncOutbox,
)
from qbsync.sync.states import SyncState

LINK_MODELS = {"account": AccountSyncLink, "invoice": InvoiceSyncLink, "payment": PaymentSyncLink}


# Sections from above -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """A part of the report that an app above the engine owns: ``build(now)`` gives its JSON, ``text(data)``
    its lines for people."""

    build: Callable
    text: Callable


_SECTIONS: dict[str, Section] = {}


def register_section(name: str, *, build: Callable, text: Callable) -> None:
    """Add ``name`` to the report (called from an app's ``ready()``; the engine imports nothing above)."""
    _SECTIONS[name] = Section(build=build, text=text)


def section_lines(report: dict) -> list[str]:
    lines: list[str] = []
    for name, section in _SECTIONS.items():
        if name in report:
            lines += ["", *section.text(report[name])]
    return lines


# Queues ----------------------------------------------------------------------------------------------


def queue_lengths() -> dict[str, dict]:
    """Messages waiting in each queue, and (Redis) those a worker holds without having acknowledged them."""
    queues = list(settings.CELERY_TASK_QUEUES)
    if settings.REDIS_URL:
        return _redis_queue_lengths(queues)
    return _filesystem_queue_lengths(queues)


def _redis_queue_lengths(queues: list[str]) -> dict[str, dict]:
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    prefix = options.get("global_keyprefix", "")
    steps = options.get("priority_steps", Channel.priority_steps)
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    # Kombu keeps one list per queue and priority step: "name" for 0, "name\x06\x16<step>" for others.
    out = {}
    for queue in queues:
        keys = [f"{prefix}{queue}" if step == 0 else f"{prefix}{queue}{Channel.sep}{step}" for step in steps]
        out[queue] = {"waiting": sum(client.llen(key) for key in keys)}
    unacked = client.hlen(f"{prefix}{Channel.unacked_key}")
    return {**out, "_unacked": {"waiting": unacked}}


def _filesystem_queue_lengths(queues: list[str]) -> dict[str, dict]:
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    # Kombu's filesystem transport writes one file per message, named <time>_<uuid>.<queue>.msg.
    names = [p.name for p in folder.glob("*.msg")] if folder.is_dir() else []
    return {queue: {"waiting": sum(1 for n in names if n.endswith(f".{queue}.msg"))} for queue in queues}


# Processes -------------------------------------------------------------------------------------------


def processes(now=None) -> list[dict]:
    now = now or timezone.now()
    limit = stale_after()
    return [
        {
            "kind": beat.kind,
            "name": beat.name,
            "queues": beat.queues,
            "seconds_since_heartbeat": round((now - beat.beat_at).total_seconds(), 1),
            "alive": now - beat.beat_at <= limit,
        }
        for beat in ProcessHeartbeat.objects.order_by("kind", "name")
    ]


# Stuck work ------------------------------------------------------------------------------------------


def _oldest_age(value, now) -> float | None:
    return round((now - value).total_seconds()) if value else None


def stuck_work(now=None) -> dict[str, dict]:
    """Work the sweep should have moved on: Syncing past the lease, queued past the grace, outbox rows
    pending past the grace or failed, bulk runs that stopped beating."""
    now = now or timezone.now()
    out: dict[str, dict] = {}
    for label, model in LINK_MODELS.items():
        syncing = model.objects.filter(state=SyncState.SYNCING, state_changed_at__lt=now - SYNCING_LEASE)
        queued = model.objects.filter(
            state=SyncState.QUEUED, state_changed_at__lt=now - QUEUED_GRACE
        ).exclude(next_attempt_at__gt=now)
        if model is not AccountSyncLink:
            # Waiting for the account or an invoice is not stuck: it is released when that syncs.
            syncing = syncing.filter(waiting_reason="")
            queued = queued.filter(waiting_reason="")
        for name, queryset, field in (
            ("syncing_past_lease", syncing, "state_changed_at"),
            ("queued_past_grace", queued, "state_changed_at"),
        ):
            row = queryset.aggregate(count=Count("pk"), oldest=Min(field))
            out[f"{label}_{name}"] = {
                "count": row["count"],
                "oldest_seconds": _oldest_age(row["oldest"], now),
            }
    pending = SyncOutbox.objects.filter(state=SyncOutbox.State.PENDING, created_at__lt=now - QUEUED_GRACE)
    row = pending.aggregate(count=Count("pk"), oldest=Min("created_at"))
    out["outbox_pending_past_grace"] = {
        "count": row["count"],
        "oldest_seconds": _oldest_age(row["oldest"], now),
    }
    row = SyncOutbox.objects.filter(state=SyncOutbox.State.FAILED).aggregate(
        count=Count("pk"), oldest=Min("updated_at")
    )
    out["outbox_failed"] = {"count": row["count"], "oldest_seconds": _oldest_age(row["oldest"], now)}
    row = BulkSyncPlan.objects.filter(
        state=BulkSyncPlan.State.RUNNING, updated_at__lt=now - BULK_HOLD
    ).aggregate(count=Count("pk"), oldest=Min("updated_at"))
    out["bulk_runs_without_heartbeat"] = {
        "count": row["count"],
        "oldest_seconds": _oldest_age(row["oldest"], now),
    }
    return out


# Throttling ------------------------------------------------------------------------------------------


def throttle_state() -> dict:
    """Each connected realm's state in the shared rate governor and in fair scheduling. Without Redis each
    worker process counts for itself, so there is nothing shared to read."""
    governor = governor_from_settings()
    realms = usable_connections().order_by("firm_id").values_list("firm_id", "realm_id")
    if not isinstance(governor, RedisRateGovernor):
        return {"shared": False, "realms": []}
    limits = governor.limits
    slots = fairness.slots_from_settings()
    rows = []
    for firm_id, realm_id in realms:
        state = governor.state(realm_id)
        asides = slots.set_asides(realm_id) if slots else {}
        rows.append(
            {
                "firm": firm_id,
                "realm": realm_id,
                "in_flight": state.in_flight,
                "max_in_flight": limits.usable(limits.max_in_flight),
                "requests_in_window": state.requests_in_window,
                "max_per_window": limits.usable(limits.per_minute),
                "batch_in_window": state.batch_in_window,
                "paused_for_seconds": round(state.paused_for_seconds, 1),
                # Fair scheduling (qbsync/sync/fairness.py): worker slots the company holds, and its tasks
                # set aside for its share of the slots (parked) or for QBO's limits.
                "slots_held": slots.held(realm_id) if slots else 0,
                "set_aside_share": asides.get("share", 0),
                "set_aside_governor": asides.get("governor", 0),
                "parked_now": asides.get("parked_now", 0),
            }
        )
    return {"shared": True, "window_seconds": limits.window_seconds, "realms": rows}


# Failures --------------------------------------------------------------------------------------------


def failures_by_cause() -> list[dict]:
    """Failed links per firm and cause (the explanation's key), most first."""
    counts: dict[tuple[int, str, str], int] = {}
    for label, model in LINK_MODELS.items():
        rows = (
            model.objects.filter(state=SyncState.FAILED)
            .values("firm_id", "error_cause", "error_code")
            .annotate(count=Count("pk"))
        )
        for row in rows:
            cause = row["error_cause"] or (f"qbo_{row['error_code']}" if row["error_code"] else "unknown")
            key = (row["firm_id"], label, cause)
            counts[key] = counts.get(key, 0) + row["count"]
    return [
        {"firm": firm, "record": record, "cause": cause, "count": count}
        for (firm, record, cause), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def qbo_reads(now=None, *, top: int = 10) -> dict:
    """The month's QBO reads against the budget (Intuit meters them over the whole deployment), whether
    reads are paused, and the firms that read most."""
    summary = metering.read_budget_summary(now)
    summary["top_firms"] = list(
        QboCallMonth.objects.filter(month=summary["month"])
        .order_by("-reads")
        .values("firm_id", "realm_id", "reads", "writes")[:top]
    )
    return summary


def status_report(now=None) -> dict:
    now = now or timezone.now()
    return {
        "at": now.isoformat(timespec="seconds"),
        "broker": "redis" if settings.REDIS_URL else "filesystem",
        "queues": queue_lengths(),
        "processes": processes(now),
        "stuck": stuck_work(now),
        "throttle": throttle_state(),
        "failures": failures_by_cause(),
        "qbo_reads": qbo_reads(now),
        **{name: section.build(now) for name, section in _SECTIONS.items()},
        "thresholds": {
            "syncing_lease_seconds": SYNCING_LEASE / timedelta(seconds=1),
            "queued_grace_seconds": QUEUED_GRACE / timedelta(seconds=1),
            "bulk_hold_seconds": BULK_HOLD / timedelta(seconds=1),
            "heartbeat_stale_seconds": stale_after() / timedelta(seconds=1),
        },
    }

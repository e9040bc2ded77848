"""The two probes. /healthz (liveness) only says the web process is up; /readyz (readiness: can this
deployment do its work now?) also reaches the database and the broker, and finds a live worker for every
queue. The worker's own heartbeat check is the CLI in qbsync.core.probe.

The answer names what failed in words ops can act on, and never a host name, URL or credential: the
endpoint is unauthenticated (load balancers and orchestrators probe it)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .heartbeat import stale_after
from .models import ProcessHeartbeat

PROBE_TIMEOUT_SECONDS = 2.0


@dataclass
class Check:
    ok: bool
    detail: str
    data: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, **self.data}


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the class name says which
        return Check(False, f"the database does not answer ({exc.__class__.__name__})")
    return Check(True, "the database answers", {"vendor": connection.vendor})


def check_broker() -> Check:
    if settings.REDIS_URL:
        try:
            redis.Redis.from_url(
                settings.REDIS_URL,
                socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
                socket_timeout=PROBE_TIMEOUT_SECONDS,
            ).ping()
        except redis.RedisError as exc:
            return Check(
                False, f"the Redis broker does not answer ({exc.__class__.__name__})", {"transport": "redis"}
            )
        return Check(True, "the Redis broker answers", {"transport": "redis"})
    folder = settings.CELERY_FILESYSTEM_BROKER_DIR / "queue"
    if not (folder.is_dir() and os.access(folder, os.W_OK)):
        return Check(
            False, "the filesystem queue folder is missing or not writable", {"transport": "filesystem"}
        )
    return Check(True, "the filesystem queue is writable", {"transport": "filesystem"})


def check_workers(now=None) -> Check:
    """At least one worker beat within the stale limit for every queue tasks are routed to."""
    now = now or timezone.now()
    try:
        fresh = list(
            ProcessHeartbeat.objects.filter(
                kind=ProcessHeartbeat.Kind.WORKER, beat_at__gte=now - stale_after()
            ).values_list("queues", "beat_at")
        )
    except Exception as exc:  # noqa: BLE001 - reported as its own failure
        return Check(False, f"worker heartbeats cannot be read ({exc.__class__.__name__})")
    served = {queue for queues, _ in fresh for queue in queues.split(",") if queue}
    unserved = sorted(set(settings.CELERY_TASK_QUEUES) - served)
    data = {
        "alive": len(fresh),
        "newest_seconds_ago": round(min((now - beat_at).total_seconds() for _, beat_at in fresh), 1)
        if fresh
        else None,
    }
    if not fresh:
        limit = int(stale_after().total_seconds())
        return Check(False, f"no worker has sent a heartbeat in the last {limit} s", data)
    if unserved:
        return Check(False, f"no live worker consumes the queue(s) {', '.join(unserved)}", data)
    return Check(True, f"{len(fresh)} worker(s) alive", data)


def check_beat(now=None) -> Check:
    """Informational: readiness of the web does not depend on beat, but ops want to see it."""
    now = now or timezone.now()
    newest = (
        ProcessHeartbeat.objects.filter(kind=ProcessHeartbeat.Kind.BEAT)
        .order_by("-beat_at")
        .values_list("beat_at", flat=True)
        .first()
    )
    if newest is None:
        return Check(False, "beat has never sent a heartbeat")
    age = (now - newest).total_seconds()
    return Check(age <= stale_after().total_seconds(), f"beat's last heartbeat was {age:.0f} s ago")


READINESS_CHECKS = {"database": check_database, "broker": check_broker, "workers": check_workers}
# Informational details that apps above add to /readyz (never a reason to be not ready): name -> build().
READINESS_DETAILS: dict[str, Callable[[], dict]] = {}


def register_readiness_detail(name: str, build: Callable[[], dict]) -> None:
    READINESS_DETAILS[name] = build


def _details() -> dict:
    details = {}
    for name, build in READINESS_DETAILS.items():
        try:
            details[name] = build()
        except Exception as exc:  # noqa: BLE001 - informational only
            details[name] = {"error": exc.__class__.__name__}
    return details


def readiness() -> tuple[bool, dict]:
    results = {name: check() for name, check in READINESS_CHECKS.items()}
    database_ok = results["database"].ok
    if database_ok:
        try:
            results["beat"] = check_beat()
        except Exception as exc:  # noqa: BLE001 - informational only
            results["beat"] = Check(False, f"beat heartbeat cannot be read ({exc.__class__.__name__})")
    failed = [name for name in READINESS_CHECKS if not results[name].ok]
    body = {
        "status": "ready" if not failed else "not ready",
        "failed": [f"{name}: {results[name].detail}" for name in failed],
        "checks": {name: result.as_json() for name, result in results.items()},
    }
    if database_ok:
        body["detail"] = _details()
    return not failed, body


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; it touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker and a worker for every queue are there; 503 naming what is not."""
    ready, body = readiness()
    return JsonResponse(body, status=200 if ready else 503)

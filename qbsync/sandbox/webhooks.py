"""Signed change notifications, delivered from a background thread (never from the request thread).

Both payload formats are supported: Intuit's legacy `eventNotifications` object and the CloudEvents array.
The `intuit-signature` header is base64(HMAC-SHA256(verifier token, raw body)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from datetime import datetime

from .clock import Clock, fmt_cloudevent_time, fmt_webhook_time

OPERATION_VERBS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Void": "voided",
    "Merge": "merged",
    "Emailed": "emailed",
}


def sign(verifier_token: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


def legacy_payload(events: list[dict]) -> dict:
    by_realm: dict[str, list[dict]] = {}
    for ev in events:
        entity = {
            "name": ev["entity"],
            "id": ev["id"],
            "operation": ev["operation"],
            "lastUpdated": fmt_webhook_time(ev["time"]),
        }
        if ev.get("deleted_id"):
            entity["deletedId"] = ev["deleted_id"]
        by_realm.setdefault(ev["realm_id"], []).append(entity)
    return {
        "eventNotifications": [
            {"realmId": realm, "dataChangeEvent": {"entities": ents}} for realm, ents in by_realm.items()
        ]
    }


def cloudevents_payload(events: list[dict]) -> list[dict]:
    out = []
    for ev in events:
        verb = OPERATION_VERBS.get(ev["operation"], ev["operation"].lower())
        item = {
            "specversion": "1.0",
            "id": ev["event_id"],
            "source": "intuit.sandbox.qbsync",
            "type": f"qbo.{ev['entity'].lower()}.{verb}.v1",
            "datacontenttype": "application/json",
            "time": fmt_cloudevent_time(ev["time"]),
            "intuitentityid": ev["id"],
            "intuitaccountid": ev["realm_id"],
            "data": {},
        }
        if ev.get("deleted_id"):
            item["data"] = {"deletedId": ev["deleted_id"]}
        out.append(item)
    return out


class Webhooks:
    def __init__(
        self,
        clock: Clock,
        batch_delay: float = 0.05,
        max_events_per_post: int = 100,
        retry_delays: tuple[float, ...] = (0.5, 2.0, 5.0),
        timeout: float = 3.0,
    ):
        self.clock = clock
        self.batch_delay = batch_delay
        self.max_events = max_events_per_post
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.lock = threading.Lock()
        self.subscriptions: dict[int, dict] = {}
        self._ids = itertools.count(1)
        self.queue: queue.Queue = queue.Queue()
        self.deliveries: deque = deque(maxlen=500)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- subscriptions --------------------------------------------------------------------------
    def subscribe(
        self,
        url: str,
        verifier_token: str,
        fmt: str = "legacy",
        realms: list[str] | None = None,
        entities: list[str] | None = None,
    ) -> dict:
        if fmt not in ("legacy", "cloudevents"):
            raise ValueError("format must be 'legacy' or 'cloudevents'")
        if not url or not verifier_token:
            raise ValueError("url and verifier_token are required")
        with self.lock:
            sub = {
                "id": next(self._ids),
                "url": url,
                "verifier_token": verifier_token,
                "format": fmt,
                "realms": realms or None,
                "entities": entities or None,
            }
            self.subscriptions[sub["id"]] = sub
        self.start()
        return sub

    def unsubscribe(self, sub_id: int | None = None) -> None:
        with self.lock:
            if sub_id is None:
                self.subscriptions.clear()
            else:
                self.subscriptions.pop(sub_id, None)

    def dump(self) -> list[dict]:
        with self.lock:
            return list(self.subscriptions.values())

    def restore(self, subs: list[dict] | None) -> None:
        for sub in subs or []:
            self.subscribe(
                sub["url"],
                sub["verifier_token"],
                sub.get("format", "legacy"),
                sub.get("realms"),
                sub.get("entities"),
            )

    # --- events ---------------------------------------------------------------------------------
    def emit(
        self,
        realm_id: str,
        entity: str,
        ident: str,
        operation: str,
        when: datetime,
        deleted_id: str | None = None,
    ) -> None:
        if not self.subscriptions:
            return
        self.queue.put(
            {
                "realm_id": realm_id,
                "entity": entity,
                "id": ident,
                "operation": operation,
                "time": when,
                "deleted_id": deleted_id,
                "event_id": str(uuid.uuid4()),
            }
        )

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.queue.put(None)
        if self._thread:
            self._thread.join(timeout=2)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            first = self.queue.get()
            if first is None:
                continue
            batch = [first]
            deadline = time.monotonic() + self.batch_delay
            while len(batch) < self.max_events:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    ev = self.queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if ev is None:
                    break
                batch.append(ev)
            with self.lock:
                subs = list(self.subscriptions.values())
            for sub in subs:
                events = [
                    ev
                    for ev in batch
                    if (not sub["realms"] or ev["realm_id"] in sub["realms"])
                    and (not sub["entities"] or ev["entity"] in sub["entities"])
                ]
                if events:
                    self._deliver(sub, events)

    def _deliver(self, sub: dict, events: list[dict]) -> None:
        payload = legacy_payload(events) if sub["format"] == "legacy" else cloudevents_payload(events)
        body = json.dumps(payload, separators=(",", ":")).encode()
        content_type = "application/json" if sub["format"] == "legacy" else "application/cloudevents+json"
        headers = {
            "Content-Type": content_type,
            "intuit-signature": sign(sub["verifier_token"], body),
            "User-Agent": "qbsync-sandbox-webhooks",
        }
        for attempts, delay in enumerate((0.0, *self.retry_delays), start=1):
            if delay and self._stop.wait(delay):
                return
            status: int | str
            try:
                req = urllib.request.Request(sub["url"], data=body, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (OSError, ValueError) as exc:
                status = f"error: {exc.__class__.__name__}"
            ok = isinstance(status, int) and 200 <= status < 300
            self.deliveries.append(
                {
                    "subscription": sub["id"],
                    "url": sub["url"],
                    "events": len(events),
                    "attempt": attempts,
                    "status": status,
                    "ok": ok,
                    "time": fmt_cloudevent_time(self.clock.now()),
                }
            )
            if ok:
                return

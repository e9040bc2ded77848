"""Faults armed through the control API for the next N matching requests of a realm."""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass

KINDS = {
    "http_500": "HTTP 500 with a SystemFault JSON body (code 10000); nothing is applied",
    "http_502": "HTTP 502 with an HTML body; nothing is applied",
    "http_503": "HTTP 503 with an HTML body (nginx style); nothing is applied",
    "throttle": "HTTP 429, JSON Fault code 3001, Retry-After header; nothing is applied",
    "throttle_xml": "HTTP 429 with an XML body (as QBO sometimes sends), Retry-After header",
    "hang": "hold the connection for hang_seconds, then close it without a reply (apply=true: process first)",
    "drop": "close the connection without a reply; nothing is applied",
    "drop_after_commit": "apply the request (and remember its requestid), then close the connection "
    "unanswered",
    "expired_token": "expire the presented access token and answer the gateway 401 (3200)",
    "auth_3100": "answer the gateway 403 (3100 AuthorizationFailed): app revoked, wrong scope or environment",
    "auth_120": "answer 401 with Fault 120 (the connecting user is no longer a company admin)",
}
ALIASES = {
    "500": "http_500",
    "503": "http_503",
    "502": "http_502",
    "429": "throttle",
    "throttle_json": "throttle",
    "timeout": "hang",
    "expire_token": "expired_token",
}


@dataclass
class Fault:
    id: int
    kind: str
    remaining: int
    method: str | None = None  # GET / POST
    path: str | None = None  # substring of the path after /v3/company/{realm}/, e.g. "customer", "query"
    operation: str | None = None  # create | update | delete | void | read | query | batch | cdc
    hang_seconds: float = 30.0
    retry_after: int = 60
    apply: bool = False  # hang only: process the request after the hang
    status: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str, operation: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if self.path and self.path.lower() not in path.lower():
            return False
        return not (self.operation and self.operation.lower() != operation)


class FaultBook:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_realm: dict[str, list[Fault]] = {}
        self._ids = itertools.count(1)

    def arm(self, realm_id: str, spec: dict) -> Fault:
        kind = ALIASES.get(str(spec.get("kind", "")), str(spec.get("kind", "")))
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {spec.get('kind')!r}; known: {sorted(KINDS)}")
        count = int(spec.get("count", 1))
        if count < 1:
            raise ValueError("count must be at least 1")
        fault = Fault(
            id=next(self._ids),
            kind=kind,
            remaining=count,
            method=spec.get("method"),
            path=spec.get("path"),
            operation=spec.get("operation"),
            hang_seconds=float(spec.get("hang_seconds", 30.0)),
            retry_after=int(spec.get("retry_after", 60)),
            apply=bool(spec.get("apply", False)),
        )
        with self.lock:
            self.by_realm.setdefault(realm_id, []).append(fault)
        return fault

    def take(self, realm_id: str, method: str, path: str, operation: str) -> Fault | None:
        if realm_id not in self.by_realm:
            return None
        with self.lock:
            faults = self.by_realm.get(realm_id, [])
            for fault in faults:
                if fault.remaining > 0 and fault.matches(method, path, operation):
                    fault.remaining -= 1
                    fault.hits += 1
                    if fault.remaining == 0:
                        faults.remove(fault)
                        if not faults:
                            self.by_realm.pop(realm_id, None)
                    return fault
        return None

    def list(self, realm_id: str) -> list[dict]:
        with self.lock:
            return [asdict(f) for f in self.by_realm.get(realm_id, [])]

    def clear(self, realm_id: str | None = None) -> None:
        with self.lock:
            if realm_id is None:
                self.by_realm.clear()
            else:
                self.by_realm.pop(realm_id, None)

"""QBO change notifications (webhooks): the `intuit-signature` check and both payload formats.

Intuit signs the raw body: base64(HMAC-SHA256(verifier token, body)). The legacy format is one object
(`eventNotifications`, grouped by realm); the CloudEvents format is an array of events, possibly mixing
realms, each with its own `id`. Legacy events carry no id, so a stable one is derived from what they say.
Neither carries field values: the reader fetches the entity (or relies on CDC) afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

MAX_BODY_BYTES = 1024 * 1024
# Intuit's bodies nest five levels deep; json.loads recurses once per level, so a signed `[` x 200,000
# would end in RecursionError. Bodies deeper than this are refused before parsing.
MAX_NESTING_DEPTH = 32
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")
# CloudEvents deliveries may say so in their content type; frameworks that only take application/json
# answer those with 415, and Intuit then retries for days.
ACCEPTED_CONTENT_TYPES = frozenset(
    {"application/json", "application/cloudevents+json", "application/cloudevents-batch+json", "text/json"}
)
_CLOUDEVENT_VERBS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "voided": "Void",
    "merged": "Merge",
    "emailed": "Emailed",
}
_ENTITY_NAMES = {"customer": "Customer", "invoice": "Invoice", "payment": "Payment"}


class MalformedNotification(ValueError):
    """The body is not a change notification in either format; the message says what is wrong."""


@dataclass(frozen=True)
class ChangeNotice:
    """One entity change in one company, as a notification reports it (no field values)."""

    event_id: str
    realm_id: str
    entity: str  # "Customer", "Invoice", "Payment", ...
    entity_id: str
    operation: str  # Create | Update | Delete | Void | Merge | Emailed
    occurred_at: str  # as sent: lastUpdated (legacy) or time (CloudEvents)
    deleted_id: str = ""  # a Merge names the record that disappeared


def signature_for(body: bytes, verifier_token: str) -> str:
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


def signature_valid(body: bytes, signature: str | None, verifier_token: str) -> bool:
    """Whether ``signature`` (the `intuit-signature` header) signs ``body``; compared in constant time."""
    if not signature or not verifier_token:
        return False
    return hmac.compare_digest(signature.strip().encode(), signature_for(body, verifier_token).encode())


def content_type_accepted(content_type: str) -> bool:
    media_type = (content_type or "application/json").split(";")[0].strip().lower()
    return media_type in ACCEPTED_CONTENT_TYPES


def legacy_event_id(realm_id: str, entity: str, entity_id: str, operation: str, last_updated: str) -> str:
    """A stable id for a legacy event: Intuit's retries resend the same fields, so they get the same id."""
    key = "|".join((realm_id, entity, entity_id, operation, last_updated))
    return "legacy-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _text(value: object, what: str) -> str:
    if value is None or isinstance(value, dict | list) or str(value).strip() == "":
        raise MalformedNotification(f"{what} is missing")
    return str(value).strip()


def _entity_name(raw: str) -> str:
    return _ENTITY_NAMES.get(raw.lower(), raw[:1].upper() + raw[1:])


def _legacy(payload: dict) -> list[ChangeNotice]:
    notifications = payload.get("eventNotifications")
    if not isinstance(notifications, list):
        raise MalformedNotification("eventNotifications must be a list")
    notices = []
    for notification in notifications:
        if not isinstance(notification, dict):
            raise MalformedNotification("each event notification must be an object")
        realm_id = _text(notification.get("realmId"), "realmId")
        entities = (notification.get("dataChangeEvent") or {}).get("entities")
        if not isinstance(entities, list):
            raise MalformedNotification("dataChangeEvent.entities must be a list")
        for change in entities:
            if not isinstance(change, dict):
                raise MalformedNotification("each entity change must be an object")
            entity = _entity_name(_text(change.get("name"), "entity name"))
            entity_id = _text(change.get("id"), "entity id")
            operation = _text(change.get("operation"), "operation")
            last_updated = str(change.get("lastUpdated") or "")
            notices.append(
                ChangeNotice(
                    event_id=legacy_event_id(realm_id, entity, entity_id, operation, last_updated),
                    realm_id=realm_id,
                    entity=entity,
                    entity_id=entity_id,
                    operation=operation,
                    occurred_at=last_updated,
                    deleted_id=str(change.get("deletedId") or ""),
                )
            )
    return notices


def _cloudevents(events: list) -> list[ChangeNotice]:
    notices = []
    for event in events:
        if not isinstance(event, dict):
            raise MalformedNotification("each CloudEvent must be an object")
        kind = _text(event.get("type"), "type").split(".")
        if len(kind) < 3 or kind[0] != "qbo":
            raise MalformedNotification(f"unknown event type {event.get('type')!r}")
        verb = kind[2].lower()
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        notices.append(
            ChangeNotice(
                event_id=_text(event.get("id"), "id"),
                realm_id=_text(event.get("intuitaccountid"), "intuitaccountid"),
                entity=_entity_name(kind[1]),
                entity_id=_text(event.get("intuitentityid"), "intuitentityid"),
                operation=_CLOUDEVENT_VERBS.get(verb, verb.capitalize()),
                occurred_at=str(event.get("time") or ""),
                deleted_id=str(data.get("deletedId") or ""),
            )
        )
    return notices


def _nesting_within(body: bytes, limit: int) -> bool:
    """Whether no bracket in ``body`` (outside strings) opens deeper than ``limit``; stops at the first."""
    depth = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', body)):
        if bracket.group() in b"[{":
            depth += 1
            if depth > limit:
                return False
        else:
            depth -= 1
    return True


def parse_notifications(body: bytes) -> list[ChangeNotice]:
    """Every change a webhook body reports, in the order sent. Raises MalformedNotification."""
    if not _nesting_within(body, MAX_NESTING_DEPTH):
        raise MalformedNotification(f"the body is nested more than {MAX_NESTING_DEPTH} levels deep")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedNotification(f"the body is not JSON ({exc.__class__.__name__})") from exc
    if isinstance(payload, list):
        return _cloudevents(payload)
    if isinstance(payload, dict) and "eventNotifications" in payload:
        return _legacy(payload)
    if isinstance(payload, dict) and payload.get("specversion"):
        return _cloudevents([payload])  # a single (non-batched) CloudEvent
    raise MalformedNotification("neither eventNotifications nor a CloudEvents array")

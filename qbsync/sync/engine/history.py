"""The sync history: one row per thing that happened to a record's sync, shown on its page."""

from typing import Any

from qbsync.firms.models import User

from ..models import SyncEvent


def _owner_fields(link) -> dict:
    # An invoice's or payment's events belong to it and to its account's history.
    invoice = getattr(link, "invoice", None)
    payment = getattr(link, "payment", None)
    owner = invoice or payment
    return {
        "firm_id": link.firm_id,
        "account_id": owner.account_id if owner is not None else link.account_id,
        "invoice": invoice,
        "payment": payment,
    }


def record_event(
    *,
    link,
    kind: str,
    message: str,
    outcome: str = SyncEvent.Outcome.INFO,
    actor: User | None = None,
    trigger: str = "worker",
    sent: dict | None = None,
    received: dict | None = None,
    intuit_tid: str = "",
) -> SyncEvent:
    return SyncEvent.objects.create(
        **_owner_fields(link),
        kind=kind,
        outcome=outcome,
        message=message,
        actor=actor,
        trigger=trigger,
        sent=sent or {},
        received=received or {},
        intuit_tid=intuit_tid,
    )


def record_events(
    *,
    links,
    kind: str,
    message: str,
    outcome: str = SyncEvent.Outcome.INFO,
    actor: User | None = None,
    trigger: str = "worker",
    sent: dict | None = None,
) -> list[SyncEvent]:
    """The same line in the history of each of ``links`` (one insert for all): what one happening did to
    many records, such as an account's unsync to its invoices, or one batch request sending them."""
    line = {"kind": kind, "outcome": outcome, "message": message, "actor": actor, "trigger": trigger}
    return record_events_each([(link, line | {"sent": sent or {}}) for link in links])


def record_events_each(events: list[tuple[Any, dict]]) -> list[SyncEvent]:
    """A line of its own in the history of each link of ``events`` (``(link, fields)``, the fields as
    `record_event` takes them), in one insert."""
    return SyncEvent.objects.bulk_create(
        [SyncEvent(**_owner_fields(link), **fields) for link, fields in events], batch_size=500
    )


def last_event(link) -> SyncEvent | None:
    """The newest line of the link's record's own history (an account's: not its invoices' or payments')."""
    owner = _owner_fields(link)
    if owner["invoice"] is not None:
        events = SyncEvent.objects.filter(invoice=owner["invoice"])
    elif owner["payment"] is not None:
        events = SyncEvent.objects.filter(payment=owner["payment"])
    else:
        events = SyncEvent.objects.filter(account_id=owner["account_id"], invoice=None, payment=None)
    return events.order_by("-created_at", "-id").first()

"""Reads for the pages (what changed in QuickBooks Online about one invoice) and for ops (the inbox's
backlog per connection)."""

from django.db.models import Count, Min, Q

from invoices.models import Invoice
from qbsync.sync.engine.connection import linked_connections
from qbsync.sync.models import InvoiceSyncLink
from qbsync.sync.states import SyncState

from . import causes
from .models import ChangePoll, InvoiceChangeInQbo, QboChange, QboPaymentOnInvoice


def invoice_open_change(*, invoice: Invoice) -> InvoiceChangeInQbo | None:
    """The deletion or void in QBO still waiting for a decision, if any (a sync asked meanwhile, by a
    person or by an edit, has decided it)."""
    waiting = InvoiceSyncLink.objects.filter(
        invoice=invoice, state=SyncState.FAILED, error_cause=causes.CHANGED_IN_QBO
    ).exists()
    if not waiting:
        return None
    return InvoiceChangeInQbo.objects.filter(
        invoice=invoice, resolution=InvoiceChangeInQbo.Resolution.OPEN
    ).first()


def invoice_paid_in_qbo(*, invoice: Invoice) -> list[QboPaymentOnInvoice]:
    """Payments recorded directly in QBO against this invoice (still standing there)."""
    return list(QboPaymentOnInvoice.objects.filter(invoice=invoice, removed_at__isnull=True))


UNPROCESSED = (QboChange.State.PENDING, QboChange.State.PROCESSING)


def _seconds_since(value, now) -> float | None:
    return round((now - value).total_seconds()) if value else None


def changes_inbox_backlog(now) -> list[dict]:
    """Per linked connection: changes not yet reacted to, the age of the oldest, whether a run holds the
    processing turn, and how long a webhook's hint has waited for its CDC poll."""
    connections = list(linked_connections().order_by("firm_id").values("pk", "firm_id", "realm_id", "status"))
    backlog = {
        (row["firm_id"], row["realm_id"]): row
        for row in QboChange.objects.filter(state__in=UNPROCESSED)
        .values("firm_id", "realm_id")
        .annotate(
            count=Count("pk"),
            oldest=Min("received_at"),
            failing=Count("pk", filter=Q(attempts__gt=0)),
        )
    }
    polls = {
        row["connection_id"]: row
        for row in ChangePoll.objects.values(
            "connection_id", "hinted_at", "processing_until", "last_polled_at"
        )
    }
    rows = []
    for connection in connections:
        waiting = backlog.get((connection["firm_id"], connection["realm_id"]), {})
        poll = polls.get(connection["pk"], {})
        turn = poll.get("processing_until")
        rows.append(
            {
                "firm": connection["firm_id"],
                "realm": connection["realm_id"],
                "connection": connection["pk"],
                "status": connection["status"],
                "unprocessed": waiting.get("count", 0),
                "oldest_unprocessed_seconds": _seconds_since(waiting.get("oldest"), now),
                "retrying": waiting.get("failing", 0),
                "being_processed": bool(turn and turn > now),
                "hint_waiting_seconds": _seconds_since(poll.get("hinted_at"), now),
                "seconds_since_poll": _seconds_since(poll.get("last_polled_at"), now),
            }
        )
    return rows


def changes_inbox_lines(rows: list[dict]) -> list[str]:
    lines = ["Changes from QuickBooks (inbox)"]
    if not rows:
        lines.append("  no connected company")
    for row in rows:
        notes = []
        if row["oldest_unprocessed_seconds"] is not None:
            notes.append(f"oldest {row['oldest_unprocessed_seconds']} s")
        if row["being_processed"]:
            notes.append("being processed")
        if row["hint_waiting_seconds"] is not None:
            notes.append(f"webhook hint waiting {row['hint_waiting_seconds']} s")
        lines.append(
            f"  firm {row['firm']:<6} realm {row['realm']:<20} unprocessed {row['unprocessed']:>7}  "
            + "  ".join(notes)
        )
    return lines

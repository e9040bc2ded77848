"""Reads for the pages (what changed in QuickBooks Online about one invoice; how changes come back from a
company, and what that costs in metered reads) and for ops (the inbox's backlog per connection, webhook
health and CDC polling per connection); and the one decision of whether a company's webhooks are healthy,
which sets how often beat polls it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone

from invoices.models import Invoice
from qbsync.sync.engine.connection import linked_connections, usable_connections
from qbsync.sync.models import InvoiceSyncLink, QuickBooksConnection
from qbsync.sync.states import SyncState

from . import causes
from .models import ChangePoll, InvoiceChangeInQbo, QboChange, QboPaymentOnInvoice, WebhookEndpoint


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


# Webhook health and CDC polling --------------------------------------------------------------------------

# Reads in a month of polls at a fixed interval (a month taken as 30 days).
MONTH = timedelta(days=30)


def webhooks_configured() -> bool:
    """The deployment takes webhooks: the verifier token is set (without it every delivery is refused)."""
    return bool(settings.QBO_WEBHOOK_VERIFIER_TOKEN)


def webhook_trust() -> timedelta:
    return timedelta(seconds=float(settings.QBSYNC_WEBHOOK_TRUST_SECONDS))


def webhook_endpoint_delivery() -> datetime | None:
    """When a delivery to the deployment's endpoint last passed its signature check (any company)."""
    return (
        WebhookEndpoint.objects.filter(pk=WebhookEndpoint.SINGLETON)
        .values_list("last_verified_delivery_at", flat=True)
        .first()
    )


@dataclass(frozen=True)
class WebhookHealth:
    configured: bool
    healthy: bool
    company_delivery_at: datetime | None  # the last verified delivery that named this company
    endpoint_delivery_at: datetime | None  # the last verified delivery to the endpoint, any company

    @property
    def silent_since(self) -> datetime | None:
        """Configured but not healthy: the last verified delivery anywhere (None: never one)."""
        known = [at for at in (self.company_delivery_at, self.endpoint_delivery_at) if at]
        return max(known) if known else None


def webhooks_health(
    *, company_delivery_at: datetime | None, endpoint_delivery_at: datetime | None, now: datetime
) -> WebhookHealth:
    """Whether a company's webhooks can be trusted to announce its changes: configured, and a verified
    delivery within QBSYNC_WEBHOOK_TRUST_SECONDS, to this company or to the endpoint. Intuit sends every
    company's notices for the app to the app's one endpoint URL, so a delivery for another company shows
    that the endpoint is reachable and that Intuit is sending: a company that sent nothing lately has simply
    changed nothing. When no company's delivery arrives within that time the endpoint itself is in doubt
    (moved, refused, Intuit stopped after failures), and every company is polled often again."""
    configured = webhooks_configured()
    since = now - webhook_trust()
    recent = any(at is not None and at >= since for at in (company_delivery_at, endpoint_delivery_at))
    return WebhookHealth(
        configured=configured,
        healthy=configured and recent,
        company_delivery_at=company_delivery_at,
        endpoint_delivery_at=endpoint_delivery_at,
    )


def cdc_poll_seconds(health: WebhookHealth) -> float:
    """How often beat polls a company: the safety net's interval when its webhooks are healthy, else every
    tick of beat."""
    if health.healthy:
        return float(settings.QBSYNC_CDC_SAFETY_POLL_SECONDS)
    return float(settings.QBSYNC_CDC_POLL_SECONDS)


def cdc_poll_due(*, last_polled_at: datetime | None, every: float, now: datetime) -> bool:
    """A poll of any kind (beat's, or one a webhook asked for) counts. Beat ticks every
    QBSYNC_CDC_POLL_SECONDS and a poll is stamped a moment after the tick that asked for it, so a company is
    due half a tick early: "every 5 minutes" must not become every 10."""
    if last_polled_at is None:
        return True
    slack = float(settings.QBSYNC_CDC_POLL_SECONDS) / 2
    return (now - last_polled_at).total_seconds() >= every - slack


def reads_a_month(every: float) -> int:
    """The reads polling every ``every`` seconds costs in a month (one CDC request a poll)."""
    return round(MONTH.total_seconds() / max(every, 1.0))


def month_of(moment: datetime) -> date:
    """The metering month a moment falls in (calendar month, UTC), as its first day."""
    return moment.astimezone(UTC).date().replace(day=1)


@dataclass(frozen=True)
class ChangesPolling:
    """How changes come back from one company now, and what it costs in metered reads."""

    health: WebhookHealth
    every: float  # seconds between beat's polls
    reads_a_month: int  # what polling at that interval costs
    last_polled_at: datetime | None
    polls_this_month: int
    reads_this_month: int


def _polling(poll: dict | None, endpoint: datetime | None, now: datetime) -> ChangesPolling:
    health = webhooks_health(
        company_delivery_at=poll["last_verified_delivery_at"] if poll else None,
        endpoint_delivery_at=endpoint,
        now=now,
    )
    every = cdc_poll_seconds(health)
    this_month = bool(poll) and poll["month"] == month_of(now)
    return ChangesPolling(
        health=health,
        every=every,
        reads_a_month=reads_a_month(every),
        last_polled_at=poll["last_polled_at"] if poll else None,
        polls_this_month=poll["polls_this_month"] if this_month else 0,
        reads_this_month=poll["reads_this_month"] if this_month else 0,
    )


POLL_FIELDS = (
    "connection_id",
    "realm_id",
    "last_polled_at",
    "last_verified_delivery_at",
    "month",
    "polls_this_month",
    "reads_this_month",
)


def _polls_of(connections: list[tuple[int, str]]) -> dict[int, dict]:
    """The poll rows of (connection id, realm id) pairs, left out where the row is an earlier company's (a
    firm that started over with another company keeps its row, whose times were the old company's)."""
    realms = dict(connections)
    return {
        row["connection_id"]: row
        for row in ChangePoll.objects.filter(connection_id__in=list(realms)).values(*POLL_FIELDS)
        if row["realm_id"] == realms[row["connection_id"]]
    }


def changes_polling(connection: QuickBooksConnection, now: datetime | None = None) -> ChangesPolling:
    now = now or timezone.now()
    poll = _polls_of([(connection.pk, connection.realm_id)]).get(connection.pk)
    return _polling(poll, webhook_endpoint_delivery(), now)


def webhooks_healthy(connection: QuickBooksConnection, now: datetime) -> bool:
    return changes_polling(connection, now).health.healthy


def cdc_polls_due(now: datetime) -> list[int]:
    """The usable connections whose CDC poll is due now (beat's question), in three queries."""
    connections = list(usable_connections().values_list("pk", "realm_id"))
    polls = _polls_of(connections)
    endpoint = webhook_endpoint_delivery()
    due = []
    for pk, _realm in connections:
        polling = _polling(polls.get(pk), endpoint, now)
        if cdc_poll_due(last_polled_at=polling.last_polled_at, every=polling.every, now=now):
            due.append(pk)
    return due


def changes_polling_report(now: datetime) -> dict:
    """For ops: the endpoint's last verified delivery, and per linked connection its webhook health, the
    CDC interval in force and this month's polls and reads."""
    connections = list(linked_connections().order_by("firm_id").values("pk", "firm_id", "realm_id"))
    polls = _polls_of([(c["pk"], c["realm_id"]) for c in connections])
    endpoint = webhook_endpoint_delivery()
    rows = []
    for connection in connections:
        polling = _polling(polls.get(connection["pk"]), endpoint, now)
        health = polling.health
        rows.append(
            {
                "firm": connection["firm_id"],
                "realm": connection["realm_id"],
                "connection": connection["pk"],
                "webhooks": _health_word(health),
                "last_verified_delivery": _iso(health.company_delivery_at),
                "cdc_every_seconds": polling.every,
                "cdc_reads_a_month_at_that_interval": polling.reads_a_month,
                "last_polled": _iso(polling.last_polled_at),
                "polls_this_month": polling.polls_this_month,
                "cdc_reads_this_month": polling.reads_this_month,
            }
        )
    return {
        "webhooks_configured": webhooks_configured(),
        "endpoint_last_verified_delivery": _iso(endpoint),
        "trust_seconds": webhook_trust().total_seconds(),
        "connections": rows,
    }


def _health_word(health: WebhookHealth) -> str:
    if not health.configured:
        return "not configured"
    return "healthy" if health.healthy else "silent"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _every_words(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def changes_polling_lines(report: dict) -> list[str]:
    configured = "configured" if report["webhooks_configured"] else "NOT configured (no verifier token)"
    lines = [
        "Changes from QuickBooks (webhooks and CDC polling)",
        f"  webhooks {configured}; endpoint's last verified delivery "
        f"{report['endpoint_last_verified_delivery'] or 'never'}; trusted for "
        f"{_every_words(report['trust_seconds'])}",
    ]
    if not report["connections"]:
        lines.append("  no connected company")
    for row in report["connections"]:
        lines.append(
            f"  firm {row['firm']:<6} realm {row['realm']:<20} webhooks {row['webhooks']:<14} "
            f"last delivery {row['last_verified_delivery'] or 'never':<25} "
            f"CDC every {_every_words(row['cdc_every_seconds'])} "
            f"(~{row['cdc_reads_a_month_at_that_interval']:,} reads/month)  "
            f"this month {row['polls_this_month']} polls, {row['cdc_reads_this_month']} reads"
        )
    return lines

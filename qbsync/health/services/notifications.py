"""Telling owners and admins, in the app and by email, what needs them: new sync failures (a digest at
most once an hour per firm), a connection that needs reconnecting, and Intuit's hard end of the
authorization 30 and 7 days ahead. A beat task runs notifications_check every few minutes."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from qbsync.firms.models import Firm, User
from qbsync.sync.engine.connection import linked_connections
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink, QuickBooksConnection
from qbsync.sync.states import SyncState

from ..causes import guide_for
from ..models import Notification

logger = logging.getLogger(__name__)

DIGEST_INTERVAL = timedelta(hours=1)
EXPIRY_WARNINGS = (7, 30)  # days before the hard expiry, most urgent first


@dataclass(frozen=True)
class Notice:
    kind: str
    key: str
    title: str
    body: str
    url: str


def _managers(firm_id: int) -> list[User]:
    return list(
        User.objects.filter(firm_id=firm_id, is_active=True, role__in=[User.Role.OWNER, User.Role.ADMIN])
    )


def _absolute(path: str) -> str:
    base = getattr(settings, "QBSYNC_SITE_URL", "").rstrip("/")
    return f"{base}{path}" if base else path


def notify(*, firm_id: int, notice: Notice, now: datetime) -> list[Notification]:
    """Record ``notice`` for every owner and admin of the firm and email them. A notice with a key is sent
    once: a second call with the same key does nothing."""
    with transaction.atomic():
        if notice.key and Notification.objects.filter(firm_id=firm_id, key=notice.key).exists():
            return []
        created = _create_only(firm_id, notice, now)
    for note in created:
        if note.recipient.email:
            _email(note)
    return created


def _email(note: Notification) -> None:
    body = note.body + (f"\n\nOpen it in qbsync: {_absolute(note.url)}" if note.url else "")
    try:
        send_mail(
            subject=f"qbsync: {note.title}",
            message=body,
            from_email=None,
            recipient_list=[note.recipient.email],
        )
    except Exception:
        # The in-app notice stands; a mail server that is down must not stop the next notices.
        logger.exception("Could not email notification %s to %s", note.pk, note.recipient.email)
        return
    Notification.objects.filter(pk=note.pk).update(emailed=True)


# The checks ---------------------------------------------------------------------------------------


def notifications_check(*, now: datetime | None = None) -> dict[str, int]:
    """Run every check for every firm with a QuickBooks connection. Returns how many notices went out."""
    now = now or timezone.now()
    counts = {"failures": 0, "reconnect": 0, "expiry": 0}
    for connection in linked_connections():
        firm = Firm.objects.get(pk=connection.firm_id)
        counts["failures"] += bool(failures_digest(firm=firm, now=now))
        counts["reconnect"] += bool(reconnect_notice(connection=connection, now=now))
        counts["expiry"] += bool(expiry_notice(connection=connection, now=now))
    return counts


def _failed_since(firm_id: int, since: datetime | None, until: datetime) -> Counter:
    causes: Counter = Counter()
    for model in (AccountSyncLink, InvoiceSyncLink, PaymentSyncLink):
        links = model.objects.filter(firm_id=firm_id, state=SyncState.FAILED, state_changed_at__lte=until)
        if since is not None:
            links = links.filter(state_changed_at__gt=since)
        causes.update(links.values_list("error_cause", flat=True))
    return causes


def failures_digest(*, firm: Firm, now: datetime) -> list[Notification]:
    """One notice listing the records that became Failed since the last digest, if the last one is an hour
    old or more. Failures of the hour in between wait for the next digest; none are lost."""
    with transaction.atomic():
        # One digest at a time per firm, even if two checks overlap.
        Firm.objects.select_for_update().filter(pk=firm.pk).first()
        last = (
            Notification.objects.filter(firm=firm, kind=Notification.Kind.FAILURES)
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if last is not None and now - last < DIGEST_INTERVAL:
            return []
        causes = _failed_since(firm.pk, last, now)
        total = sum(causes.values())
        if not total:
            return []
        ordered = sorted(causes.items(), key=lambda c: -c[1])
        url = reverse("health:errors")
        if len(ordered) == 1:
            url += f"#cause-{ordered[0][0] or 'other'}"  # straight to its group
        notice = Notice(
            kind=Notification.Kind.FAILURES,
            key="",
            title=f"{_records(total)} failed to sync to QuickBooks",
            body=digest_body(total, ordered),
            url=url,
        )
        created = _create_only(firm.pk, notice, now)
    for note in created:
        if note.recipient.email:
            _email(note)
    return created


def _records(n: int) -> str:
    return f"{n} record{'s' if n != 1 else ''}"


DIGEST_OPENING = "Since the last summary, {records} could not be synced to QuickBooks Online."
DIGEST_CLOSING = "The QuickBooks errors page lists each record, explains each cause and offers the fixes."


def digest_body(total: int, causes: list[tuple[str, int]]) -> str:
    """The digest in sentences, one a cause: how many records, and why in the errors page's words."""

    def how_many(n: int) -> str:
        if len(causes) == 1:
            return "Why"
        return "One of them" if n == 1 else f"{n} of them"

    why = [f"{how_many(n)}: {guide_for(cause).what}" for cause, n in causes]
    return "\n".join([DIGEST_OPENING.format(records=_records(total)), *why, DIGEST_CLOSING])


def _create_only(firm_id: int, notice: Notice, now: datetime) -> list[Notification]:
    return [
        Notification.objects.create(
            firm_id=firm_id,
            recipient=user,
            kind=notice.kind,
            key=notice.key,
            title=notice.title,
            body=notice.body,
            url=notice.url,
            created_at=now,
        )
        for user in _managers(firm_id)
    ]


def reconnect_notice(*, connection: QuickBooksConnection, now: datetime) -> list[Notification]:
    """Once each time the connection comes to need reconnecting."""
    if connection.status != QuickBooksConnection.Status.NEEDS_RECONNECT:
        return []
    reason = connection.status_reason or "The connection to QuickBooks Online stopped working."
    return notify(
        firm_id=connection.firm_id,
        now=now,
        notice=Notice(
            kind=Notification.Kind.RECONNECT,
            key=f"reconnect:{connection.pk}:{connection.status_changed_at.isoformat()}",
            title="QuickBooks Online needs to be reconnected",
            body=f"{reason} Nothing syncs until the firm's owner reconnects on the QuickBooks settings page; "
            "no data is lost meanwhile.",
            url=reverse("quickbooks:settings"),
        ),
    )


def expiry_notice(*, connection: QuickBooksConnection, now: datetime) -> list[Notification]:
    """Once 30 days and once 7 days before Intuit's hard end of the authorization (only the more urgent
    one when both are due at once)."""
    ends = connection.refresh_token_hard_expires_at
    if ends is None or ends <= now:
        return []
    days_left = (ends - now).total_seconds() / 86400
    due = next((days for days in EXPIRY_WARNINGS if days_left <= days), None)
    if due is None:
        return []
    key_of = {days: f"expiry:{connection.pk}:{ends.date().isoformat()}:{days}" for days in EXPIRY_WARNINGS}
    # Once the 7-day notice went out, the 30-day one is not sent late.
    if any(
        Notification.objects.filter(firm_id=connection.firm_id, key=key_of[days]).exists()
        for days in EXPIRY_WARNINGS
        if days < due
    ):
        return []
    return notify(
        firm_id=connection.firm_id,
        now=now,
        notice=Notice(
            kind=Notification.Kind.EXPIRY,
            key=key_of[due],
            title=f"QuickBooks authorization ends in {max(1, round(days_left))} days",
            body=f"Intuit ends this app's authorization for {connection.company_name or 'the company'} on "
            f"{ends.date().isoformat()}. The firm's owner must reconnect QuickBooks Online before then, or "
            "syncing stops.",
            url=reverse("quickbooks:settings"),
        ),
    )


# A person reading ----------------------------------------------------------------------------------


def notification_mark_read(*, user: User, notification_id: int) -> bool:
    return bool(
        Notification.objects.filter(pk=notification_id, recipient=user, read_at__isnull=True).update(
            read_at=timezone.now()
        )
    )


def notifications_mark_all_read(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())

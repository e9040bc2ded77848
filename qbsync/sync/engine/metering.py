"""The deployment's QBO read budget: every call QBO answered counted per firm and month, alerts to ops as
the month's reads approach QBO_MONTHLY_READ_BUDGET, and the write-only mode while reads are paused.

Intuit meters reads (CorePlus) over the whole developer workspace, that is over every firm this deployment
serves, and blocks them for the rest of the month beyond the tier's allowance. While reads are paused, a
read is not sent (QboReadsPausedError, raised by the client before the request): pushes go on (they need
no read), and whatever needed a read waits (the retry policy holds it without spending attempts) until the
month turns, ops resume reads (``manage.py qbsync_reads --resume`` after a plan change), or a probe finds
reads answered again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from qbsync.quickbooks.metering import MeteredCall, QboReadsPausedError, QboReadsRefusedError

from ..models import QboCallMonth, ReadBudgetMonth

logger = logging.getLogger(__name__)

ALERT_THRESHOLDS = (50, 80, 95)  # percent of QBO_MONTHLY_READ_BUDGET
READS_PAUSED = (
    "QuickBooks reads are paused for this month ({reason}); what needs a read waits until they resume."
)


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def next_month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def read_budget() -> int:
    return int(settings.QBO_MONTHLY_READ_BUDGET)


# Counting ------------------------------------------------------------------------------------------


def calls_count(*, firm_id: int | None, realm_id: str, call: MeteredCall, at: datetime | None = None) -> None:
    """Add what QBO answered to the firm's month. Autocommit when outside a transaction, so the count
    stays even when the caller's work rolls back (the call was made)."""
    if not (call.reads or call.writes):
        return
    month = month_of(at or timezone.now())
    added = {"reads": F("reads") + call.reads, "writes": F("writes") + call.writes}
    rows = QboCallMonth.objects.filter(firm_id=firm_id, realm_id=realm_id, month=month)
    if rows.update(**added, updated_at=timezone.now()):
        return
    try:
        with transaction.atomic():
            QboCallMonth.objects.create(
                firm_id=firm_id, realm_id=realm_id, month=month, reads=call.reads, writes=call.writes
            )
    except IntegrityError:  # another worker created the month's row first
        rows.update(**added, updated_at=timezone.now())


def workspace_reads(month: str | None = None) -> int:
    month = month or month_of(timezone.now())
    return int(QboCallMonth.objects.filter(month=month).aggregate(n=Sum("reads"))["n"] or 0)


def firm_calls(firm_id: int, month: str | None = None) -> dict[str, int]:
    month = month or month_of(timezone.now())
    totals = QboCallMonth.objects.filter(firm_id=firm_id, month=month).aggregate(
        reads=Sum("reads"), writes=Sum("writes")
    )
    return {"reads": int(totals["reads"] or 0), "writes": int(totals["writes"] or 0)}


# Pausing -------------------------------------------------------------------------------------------


def _month_row(month: str) -> ReadBudgetMonth:
    row, _ = ReadBudgetMonth.objects.get_or_create(month=month)
    return row


def budget_month(now: datetime | None = None) -> ReadBudgetMonth | None:
    return ReadBudgetMonth.objects.filter(month=month_of(now or timezone.now())).first()


def reads_paused(now: datetime | None = None) -> ReadBudgetMonth | None:
    """This month's row when reads are paused now, else None. A new month starts unpaused."""
    row = budget_month(now)
    return row if row is not None and row.reads_paused else None


def pause_reason_in_words(row: ReadBudgetMonth) -> str:
    if row.pause_reason == ReadBudgetMonth.PauseReason.REFUSED:
        return "QuickBooks refused reads: this deployment used its plan's monthly allowance"
    return f"this deployment used its budget of {read_budget():,} reads"


def reads_pause(*, reason: str, detail: str = "", now: datetime | None = None) -> bool:
    """Pause reads for the rest of the month. Returns whether this call paused them (once per pause)."""
    now = now or timezone.now()
    row = _month_row(month_of(now))
    paused = ReadBudgetMonth.objects.filter(pk=row.pk)
    if row.reads_paused:
        return False
    if not paused.filter(paused_at=row.paused_at).update(
        paused_at=now, pause_reason=reason, pause_detail=detail[:2000], probed_at=now
    ):
        return False
    logger.error(
        "QuickBooks reads paused until %s: %s. Pushes go on; look-ups, inbound changes and "
        "reconciliation wait.",
        next_month_start(now).date().isoformat(),
        detail or reason,
        extra={"read_budget_month": row.month, "reads_paused": True},
    )
    _mail_ops(
        f"qbsync: QuickBooks reads paused for {row.month}",
        f"Reads are paused until {next_month_start(now):%Y-%m-%d} ({detail or reason}). Writes go on. "
        "After a plan change run `manage.py qbsync_reads --resume`.",
    )
    return True


def reads_resume(*, now: datetime | None = None) -> bool:
    """Ops (after a plan change) or a successful probe: reads go out again this month."""
    now = now or timezone.now()
    row = reads_paused(now)
    if row is None:
        return False
    ReadBudgetMonth.objects.filter(pk=row.pk).update(resumed_at=now)
    logger.warning("QuickBooks reads resumed for %s", row.month, extra={"read_budget_month": row.month})
    return True


def resume_wait_seconds(now: datetime | None = None) -> float:
    """How long what needs a read waits before it looks again: until the month turns, at most
    QBSYNC_READS_PAUSED_RECHECK_SECONDS (ops may resume reads sooner)."""
    now = now or timezone.now()
    until_month = (next_month_start(now) - now).total_seconds()
    return max(1.0, min(until_month, float(settings.QBSYNC_READS_PAUSED_RECHECK_SECONDS)))


class FirmMeter:
    """The adapter's meter for one firm's client (qbsync/quickbooks/client.py: Meter)."""

    def __init__(self, firm_id: int | None, *, past_read_pause: bool = False):
        self.firm_id = firm_id
        self.past_read_pause = past_read_pause

    def before(self, realm_id: str, call: MeteredCall) -> None:
        if not call.is_read or self.past_read_pause:
            return
        row = reads_paused()
        if row is not None:
            raise QboReadsPausedError(
                READS_PAUSED.format(reason=pause_reason_in_words(row)),
                retry_after=resume_wait_seconds(),
                code="reads_paused",
            )

    def counted(self, realm_id: str, call: MeteredCall) -> None:
        calls_count(firm_id=self.firm_id, realm_id=realm_id, call=call)

    def refused(self, realm_id: str, error: QboReadsRefusedError) -> None:
        error.retry_after = resume_wait_seconds()
        reads_pause(reason=ReadBudgetMonth.PauseReason.REFUSED, detail=error.message)


# Ops: alerts and the budget ---------------------------------------------------------------------


def _mail_ops(subject: str, body: str) -> None:
    address = getattr(settings, "QBSYNC_OPS_EMAIL", "")
    if not address:
        return
    try:
        send_mail(subject, body, None, [address], fail_silently=False)
    except Exception:  # an alert that cannot be mailed is still logged
        logger.exception("Could not mail the read-budget alert to %s", address)


def read_budget_check(*, now: datetime | None = None) -> dict[str, object]:
    """Beat: the month's reads against the budget; each of ALERT_THRESHOLDS alerted once a month (log,
    and mail to QBSYNC_OPS_EMAIL); at the budget itself reads pause unless ops resumed them this month."""
    now = now or timezone.now()
    month = month_of(now)
    used = workspace_reads(month)
    budget = read_budget()
    share = used * 100.0 / budget if budget else 0.0
    row = _month_row(month)
    crossed = [t for t in ALERT_THRESHOLDS if share >= t and t not in (row.alerts_sent or [])]
    if crossed:
        with transaction.atomic():
            row = ReadBudgetMonth.objects.select_for_update().get(pk=row.pk)
            crossed = [t for t in crossed if t not in (row.alerts_sent or [])]
            row.alerts_sent = sorted({*(row.alerts_sent or []), *crossed})
            row.save(update_fields=["alerts_sent", "updated_at"])
        for threshold in crossed:
            level = logging.WARNING if threshold < 80 else logging.ERROR
            message = (
                f"QuickBooks reads this month passed {threshold}% of the budget: {used:,} of {budget:,} "
                "(QBO_MONTHLY_READ_BUDGET); beyond it Intuit blocks reads until "
                f"{next_month_start(now):%Y-%m-%d}."
            )
            extra = {"read_budget_month": month, "read_budget_share": round(share, 1)}
            logger.log(level, message, extra=extra)
            _mail_ops(f"qbsync: {threshold}% of the QuickBooks read budget used", message)
    if (
        budget
        and used >= budget
        and settings.QBO_PAUSE_READS_AT_BUDGET
        and not row.reads_paused
        and row.resumed_at is None
    ):
        detail = f"{used:,} of {budget:,} reads"
        reads_pause(reason=ReadBudgetMonth.PauseReason.BUDGET, detail=detail, now=now)
    return {"month": month, "reads": used, "budget": budget, "share": round(share, 1), "alerted": crossed}


def read_budget_summary(now: datetime | None = None) -> dict[str, object]:
    """For ops (qbsync_status, /readyz): the month's reads, the budget, and whether reads are paused."""
    now = now or timezone.now()
    month = month_of(now)
    used = workspace_reads(month)
    budget = read_budget()
    row = budget_month(now)
    paused = row is not None and row.reads_paused
    return {
        "month": month,
        "reads": used,
        "budget": budget,
        "share": round(used * 100.0 / budget, 1) if budget else 0.0,
        "reads_paused": paused,
        "pause_reason": row.pause_reason if paused else "",
        "paused_until": next_month_start(now).date().isoformat() if paused else "",
        "alerts_sent": list(row.alerts_sent) if row is not None else [],
    }


def probe_due(row: ReadBudgetMonth, now: datetime) -> bool:
    """Paused by QBO's refusal: one read an hour tells whether the plan changed (refused calls are free)."""
    if row.pause_reason != ReadBudgetMonth.PauseReason.REFUSED:
        return False
    return row.probed_at is None or now - row.probed_at >= timedelta(
        seconds=float(settings.QBSYNC_READS_PROBE_SECONDS)
    )

"""What the firm is told about the health of its QuickBooks integration: notices for owners and admins,
and the reconciliation reports that compare local totals with QuickBooks Online."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from qbsync.firms.models import Firm
from qbsync.firms.querysets import FirmScopedQuerySet


class Notification(models.Model):
    """One in-app notice for one owner or admin (each reads their own). Written only by the health
    services; ``key`` marks notices that are sent once per occurrence (an expiry warning, a reconnect)."""

    class Kind(models.TextChoices):
        FAILURES = "failures", "New sync failures"
        RECONNECT = "reconnect", "QuickBooks needs reconnecting"
        EXPIRY = "expiry", "QuickBooks authorization ends soon"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="notifications")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=120, blank=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    url = models.CharField(max_length=300, blank=True)
    emailed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notification_unread"),
            models.Index(fields=["firm", "kind", "-created_at"], name="notification_firm_kind"),
        ]
        constraints = [
            models.UniqueConstraint(
                "recipient", "key", condition=~models.Q(key=""), name="notification_once_per_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id}: {self.title}"


# A report still waiting this long lost its task message (or no worker takes the qbo queue).
RECONCILIATION_PENDING_LEASE = timedelta(hours=1)


def reconciliation_running_lease() -> timedelta:
    """Past the task's hard time limit no worker is comparing any more: the limit kills the task, and a
    worker that died took it along. A minute's margin for the kill itself."""
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


def reconciliation_stalled_q(now: datetime) -> models.Q:
    """Reports that will not finish by themselves: waiting or running past their lease."""
    return models.Q(
        state=ReconciliationReport.State.PENDING, created_at__lt=now - RECONCILIATION_PENDING_LEASE
    ) | models.Q(
        state=ReconciliationReport.State.RUNNING, started_at__lt=now - reconciliation_running_lease()
    )


class ReconciliationReport(models.Model):
    """Local against QuickBooks totals (invoiced, paid, open balance) of every synced record, per account,
    with the records that differ. Asked for by a person or by the nightly run; filled in by a worker."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Comparing"
        DONE = "done", "Finished"
        FAILED = "failed", "Could not finish"

    class Scope(models.TextChoices):
        FULL = "full", "Every synced record"
        CHANGES = "changes", "What changed since the previous report"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="reconciliation_reports")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    trigger = models.CharField(max_length=10, default="user")  # user | nightly
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True)
    accounts_checked = models.PositiveIntegerField(default=0)
    records_checked = models.PositiveIntegerField(default=0)
    mismatch_count = models.PositiveIntegerField(default=0)
    # Every query is a read Intuit meters (CorePlus): what this report cost.
    qbo_queries = models.PositiveIntegerField("QuickBooks reads", default=0)
    # A nightly report compares again only the accounts with changes since the previous report
    # (``changes_since``: that report's start) and carries the others' rows over from it.
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.FULL)
    changes_since = models.DateTimeField(null=True, blank=True)
    # One entry per account: {"account_id", "name", "local": {...}, "qbo": {...}, "mismatches": [...]};
    # amounts are decimal strings. A report of changes holds every account, carried over or compared again.
    results = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Reconciliation {self.pk} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in (self.State.PENDING, self.State.RUNNING)

    @property
    def is_stalled(self) -> bool:
        """Waiting or running past its lease: no worker will finish it (the next request or nightly run
        marks it failed)."""
        now = timezone.now()
        if self.state == self.State.PENDING:
            return self.created_at < now - RECONCILIATION_PENDING_LEASE
        if self.state == self.State.RUNNING:
            return (self.started_at or self.created_at) < now - reconciliation_running_lease()
        return False

    @property
    def accounts_carried(self) -> int:
        """Accounts whose rows a report of changes took over from the previous report."""
        return max(0, len(self.results) - self.accounts_checked)

    @property
    def accounts_with_mismatches(self) -> list[dict]:
        return [row for row in self.results if row.get("mismatches")]

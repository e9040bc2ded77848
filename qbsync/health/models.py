"""What the firm is told about the health of its QuickBooks integration: notices for owners and admins,
and the reconciliation reports that compare local totals with QuickBooks Online."""

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


class ReconciliationReport(models.Model):
    """Local against QuickBooks totals (invoiced, paid, open balance) of every synced record, per account,
    with the records that differ. Asked for by a person or by the nightly run; filled in by a worker."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Comparing"
        DONE = "done", "Finished"
        FAILED = "failed", "Could not finish"

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
    qbo_queries = models.PositiveIntegerField(default=0)
    # One entry per account: {"account_id", "name", "local": {...}, "qbo": {...}, "mismatches": [...]};
    # amounts are decimal strings.
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
    def accounts_with_mismatches(self) -> list[dict]:
        return [row for row in self.results if row.get("mismatches")]

"""What happened in QuickBooks Online: the inbox of reported changes, the CDC watermark per connection,
invoices changed there under our feet, and payments recorded there against our invoices."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from qbsync.firms.models import Firm
from qbsync.firms.querysets import FirmScopedQuerySet


class QboChange(models.Model):
    """One change QBO reported (by webhook or CDC), kept until a worker has reacted to it.

    Unique per company and event id: Intuit's retries and overlapping CDC windows are recorded once.
    """

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        CDC = "cdc", "Change data capture"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Reacted"
        IGNORED = "ignored", "Nothing to do"
        FAILED = "failed", "Could not be handled"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="qbo_changes")
    realm_id = models.CharField(max_length=32)
    event_id = models.CharField(max_length=100)
    source = models.CharField(max_length=10, choices=Source.choices)
    entity = models.CharField(max_length=40)
    entity_id = models.CharField(max_length=32)
    operation = models.CharField(max_length=20, blank=True)  # Create | Update | Delete | Void | Merge
    deleted_id = models.CharField(max_length=32, blank=True)  # a Merge: the record that disappeared
    occurred_at = models.CharField(max_length=40, blank=True)  # as QBO wrote it
    # CDC's full object (webhooks carry none). QBO's amounts arrive as Decimals: stored as exact strings.
    payload = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    outcome = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint("realm_id", "event_id", name="qbo_change_once_per_event")]
        indexes = [models.Index(fields=["firm", "state", "id"], name="qbo_change_firm_state")]

    def __str__(self) -> str:
        return f"{self.operation or 'change'} {self.entity} {self.entity_id} ({self.state})"


class ChangePoll(models.Model):
    """Where the CDC poller of one connection has read up to (QBO's clock), and how the last poll went."""

    connection = models.OneToOneField(
        "sync.QuickBooksConnection", on_delete=models.CASCADE, related_name="change_poll"
    )
    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="+")
    # The company the watermark belongs to: connecting another company starts over.
    realm_id = models.CharField(max_length=32)
    changed_since = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.TextField(blank=True)
    requests_last_poll = models.PositiveIntegerField(default=0)
    changes_last_poll = models.PositiveIntegerField(default=0)
    # Intuit meters reads: the CDC requests that got an answer this calendar month (UTC), and the polls.
    month = models.DateField(null=True, blank=True)  # the first day of the month counted
    polls_this_month = models.PositiveIntegerField(default=0)
    reads_this_month = models.PositiveIntegerField(default=0)
    # Webhooks are hints: the first one since the last poll sets hinted_at and schedules one CDC poll a
    # little later; the hints that follow join it; the poll clears it when it starts reading.
    hinted_at = models.DateTimeField(null=True, blank=True)
    # The last webhook delivery whose intuit-signature was verified and that named this company.
    last_verified_delivery_at = models.DateTimeField(null=True, blank=True)
    hints_received = models.PositiveBigIntegerField(default=0)
    # One processing run at a time per connection, so the inbox is reacted to in order; a run that dies
    # holding its turn gives it up when this passes.
    processing_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FirmScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"CDC of {self.realm_id} since {self.changed_since}"


class WebhookEndpoint(models.Model):
    """The deployment's one webhook endpoint (a single row): when a delivery last passed its signature
    check, whatever companies it named. Intuit sends every company's notices to the app's one URL, so a
    recent delivery shows the endpoint is reachable and Intuit is sending."""

    SINGLETON = 1

    last_verified_delivery_at = models.DateTimeField(null=True, blank=True)
    verified_deliveries = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"webhook endpoint, last verified delivery {self.last_verified_delivery_at}"


class InvoiceChangeInQbo(models.Model):
    """Our active invoice was deleted or voided directly in QBO: what happened, and what the firm chose."""

    class Kind(models.TextChoices):
        DELETED = "deleted", "Deleted in QuickBooks Online"
        VOIDED = "voided", "Voided in QuickBooks Online"

    class Resolution(models.TextChoices):
        OPEN = "open", "Waiting for a decision"
        REPUSHED = "repushed", "Pushed again"
        ACCEPTED = "accepted", "Change accepted"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="+")
    invoice = models.OneToOneField("invoices.Invoice", on_delete=models.CASCADE, related_name="qbo_change")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    qbo_invoice_id = models.CharField(max_length=32)
    qbo_doc_number = models.CharField(max_length=30, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)
    resolution = models.CharField(max_length=10, choices=Resolution.choices, default=Resolution.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = FirmScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"invoice {self.invoice_id} {self.kind} in QBO ({self.resolution})"


class QboPaymentOnInvoice(models.Model):
    """A payment someone recorded directly in QBO against one of our synced invoices: shown on the invoice
    as "paid in QuickBooks", never pushed back."""

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey("invoices.Invoice", on_delete=models.CASCADE, related_name="qbo_payments")
    qbo_payment_id = models.CharField(max_length=32)
    qbo_invoice_id = models.CharField(max_length=32)
    amount = models.DecimalField(max_digits=14, decimal_places=2)  # applied to this invoice
    payment_total = models.DecimalField(max_digits=14, decimal_places=2)
    paid_on = models.DateField(null=True, blank=True)
    reference = models.CharField(max_length=100, blank=True)
    # Voided or deleted in QBO since: kept for the history, no longer shown as paid.
    removed_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        ordering = ["paid_on", "id"]
        constraints = [
            models.UniqueConstraint("invoice", "qbo_payment_id", name="qbo_payment_once_per_invoice"),
        ]

    def __str__(self) -> str:
        return f"QBO payment {self.qbo_payment_id} on invoice {self.invoice_id}: {self.amount}"

from django.conf import settings
from django.db import models
from django.utils import timezone

from qbsync.core.crypto import EncryptedTextField
from qbsync.firms.models import Firm
from qbsync.firms.querysets import FirmScopedQuerySet


class QuickBooksConnection(models.Model):
    """A firm's link to one QuickBooks Online company (realm). Tokens are encrypted at rest and change
    only through the connection services, under a row lock."""

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        DISCONNECTED = "disconnected", "Disconnected"

    class AutoSyncScope(models.TextChoices):
        WITH_ACTIVITY = "with_activity", "Accounts with invoices or payments"
        ALL = "all", "All accounts"

    firm = models.OneToOneField(Firm, on_delete=models.CASCADE, related_name="quickbooks_connection")
    realm_id = models.CharField("company id (realm)", max_length=32)
    company_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONNECTED)
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)

    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField()
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    # Intuit's 5-year limit from the original authorization, when Intuit reports it.
    refresh_token_hard_expires_at = models.DateTimeField(null=True, blank=True)
    # Bumped at every token change: lets a worker tell whether someone else already refreshed.
    token_version = models.PositiveIntegerField(default=0)

    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connected_at = models.DateTimeField(null=True, blank=True)

    # Integration defaults (pick lists are read from the connected company).
    auto_sync_scope = models.CharField(
        max_length=20, choices=AutoSyncScope.choices, default=AutoSyncScope.WITH_ACTIVITY
    )
    default_customer_type_id = models.CharField(max_length=32, blank=True)
    default_customer_type_name = models.CharField(max_length=100, blank=True)
    default_item_id = models.CharField(max_length=32, blank=True)
    default_item_name = models.CharField(max_length=100, blank=True)
    sync_start_date = models.DateField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            # One firm per QuickBooks company: webhooks are routed by realm, so a realm shared by two
            # firms would leak one firm's changes into the other.
            models.UniqueConstraint(
                "realm_id",
                condition=~models.Q(status="disconnected"),
                name="connection_realm_unique_while_active",
                violation_error_message="This QuickBooks company is already connected to another firm.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company_name or self.realm_id} ({self.get_status_display()})"

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.CONNECTED

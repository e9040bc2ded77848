from django.contrib import admin

from .models import (
    AccountSyncLink,
    BatchPushSlot,
    BulkSyncItem,
    BulkSyncPlan,
    InvoiceSyncLink,
    PaymentSyncLink,
    QboCallMonth,
    QuickBooksConnection,
    ReadBudgetMonth,
    SyncEvent,
    SyncOutbox,
    TaxCodeMapping,
)


@admin.register(QuickBooksConnection)
class QuickBooksConnectionAdmin(admin.ModelAdmin):
    """Read-only: connections change through the owner's connect flow. Tokens are never shown."""

    list_display = [
        "firm",
        "company_name",
        "realm_id",
        "status",
        "connected_by",
        "connected_at",
        "updated_at",
    ]
    list_filter = ["status", "auto_sync_scope"]
    list_select_related = ["firm", "connected_by"]
    search_fields = ["firm__name", "company_name", "realm_id"]
    fields = [
        "firm",
        "company_name",
        "realm_id",
        "status",
        "status_reason",
        "status_changed_at",
        "access_token_expires_at",
        "refresh_token_expires_at",
        "refresh_token_hard_expires_at",
        "token_version",
        "connected_by",
        "connected_at",
        "auto_sync_scope",
        "default_customer_type_name",
        "default_item_name",
        "sync_start_date",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AccountSyncLink)
class AccountSyncLinkAdmin(admin.ModelAdmin):
    """Read-only: links change only through the sync services (and the account's Info tab)."""

    list_display = [
        "account",
        "firm",
        "state",
        "qbo_customer_id",
        "qbo_display_name",
        "link_method",
        "error_cause",
        "state_changed_at",
    ]
    list_filter = ["state", "link_method", "error_cause", "firm"]
    list_select_related = ["account", "firm"]
    search_fields = ["account__name", "qbo_customer_id", "qbo_display_name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SyncEvent)
class SyncEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "firm", "account", "kind", "outcome", "trigger", "intuit_tid"]
    list_filter = ["outcome", "kind", "trigger", "firm"]
    list_select_related = ["account", "firm"]
    search_fields = ["account__name", "message", "intuit_tid"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class BulkSyncItemInline(admin.TabularInline):
    model = BulkSyncItem
    fields = ["account", "decision", "customer_id", "customer_name", "cause", "outcome"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(BulkSyncPlan)
class BulkSyncPlanAdmin(admin.ModelAdmin):
    list_display = ["pk", "firm", "state", "created_by", "created_at", "started_at", "finished_at"]
    list_filter = ["state", "firm"]
    list_select_related = ["firm", "created_by"]
    search_fields = ["firm__name"]
    inlines = [BulkSyncItemInline]
    readonly_fields = [
        "firm",
        "state",
        "error",
        "customers_read",
        "created_by",
        "started_by",
        "started_at",
        "finished_at",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(InvoiceSyncLink)
class InvoiceSyncLinkAdmin(admin.ModelAdmin):
    """Read-only: invoice links change only through the sync services."""

    list_display = [
        "invoice",
        "firm",
        "state",
        "in_batch",
        "qbo_invoice_id",
        "qbo_doc_number",
        "pushed_version",
        "error_cause",
    ]
    list_filter = ["state", "in_batch", "error_cause", "firm"]
    list_select_related = ["invoice", "firm"]
    search_fields = ["invoice__number", "qbo_invoice_id", "qbo_doc_number"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SyncOutbox)
class SyncOutboxAdmin(admin.ModelAdmin):
    list_display = ["created_at", "firm", "entity", "operation", "local_label", "qbo_id", "state", "attempts"]
    list_filter = ["state", "entity", "operation", "firm"]
    list_select_related = ["firm"]
    search_fields = ["local_label", "qbo_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PaymentSyncLink)
class PaymentSyncLinkAdmin(admin.ModelAdmin):
    """Read-only: payment links change only through the sync services."""

    list_display = [
        "payment",
        "firm",
        "state",
        "in_batch",
        "qbo_payment_id",
        "pushed_version",
        "waiting_reason",
        "error_cause",
    ]
    list_filter = ["state", "in_batch", "error_cause", "firm"]
    list_select_related = ["payment", "firm"]
    search_fields = ["qbo_payment_id", "payment__reference"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BatchPushSlot)
class BatchPushSlotAdmin(admin.ModelAdmin):
    """Read-only: which of a firm's batch pushers hold a lease, and how many batches each has sent."""

    list_display = ["firm", "number", "held_until", "batches_sent"]
    list_filter = ["firm"]
    list_select_related = ["firm"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(QboCallMonth)
class QboCallMonthAdmin(admin.ModelAdmin):
    """Read-only: the QBO calls each firm's company answered per month (engine/metering.py counts them)."""

    list_display = ["month", "firm", "realm_id", "reads", "writes", "updated_at"]
    list_filter = ["month"]
    list_select_related = ["firm"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReadBudgetMonth)
class ReadBudgetMonthAdmin(admin.ModelAdmin):
    """Read-only: pause and resume reads with `manage.py qbsync_reads`."""

    list_display = ["month", "alerts_sent", "paused_at", "pause_reason", "resumed_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TaxCodeMapping)
class TaxCodeMappingAdmin(admin.ModelAdmin):
    """Read-only: which QuickBooks tax code each firm's tax rate goes with (owners and admins map them on
    the QuickBooks page)."""

    list_display = ["firm", "tax_rate", "realm_id", "qbo_tax_code_id", "qbo_tax_code_name", "updated_at"]
    list_filter = ["firm"]
    list_select_related = ["firm", "tax_rate"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

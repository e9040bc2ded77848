from django.contrib import admin

from .models import QuickBooksConnection


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

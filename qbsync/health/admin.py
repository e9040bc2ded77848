from django.contrib import admin

from .models import Notification, ReconciliationReport


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "firm", "recipient", "kind", "title", "emailed", "read_at"]
    list_filter = ["kind", "emailed", "firm"]
    list_select_related = ["firm", "recipient"]
    search_fields = ["title", "recipient__username"]
    readonly_fields = [f.name for f in Notification._meta.fields]


@admin.register(ReconciliationReport)
class ReconciliationReportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "firm", "trigger", "state", "accounts_checked", "mismatch_count"]
    list_filter = ["state", "trigger", "firm"]
    list_select_related = ["firm"]
    readonly_fields = [f.name for f in ReconciliationReport._meta.fields]

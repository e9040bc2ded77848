from django.contrib import admin

from .models import ChangePoll, InvoiceChangeInQbo, QboChange, QboPaymentOnInvoice


@admin.register(QboChange)
class QboChangeAdmin(admin.ModelAdmin):
    list_display = ("id", "firm", "source", "entity", "entity_id", "operation", "state", "received_at")
    list_filter = ("source", "state", "entity")
    search_fields = ("realm_id", "entity_id", "event_id")
    readonly_fields = [f.name for f in QboChange._meta.fields]


@admin.register(ChangePoll)
class ChangePollAdmin(admin.ModelAdmin):
    list_display = ("connection", "realm_id", "changed_since", "last_polled_at", "changes_last_poll")
    readonly_fields = [f.name for f in ChangePoll._meta.fields]


@admin.register(InvoiceChangeInQbo)
class InvoiceChangeInQboAdmin(admin.ModelAdmin):
    list_display = ("invoice", "kind", "qbo_invoice_id", "resolution", "detected_at")
    list_filter = ("kind", "resolution")


@admin.register(QboPaymentOnInvoice)
class QboPaymentOnInvoiceAdmin(admin.ModelAdmin):
    list_display = ("invoice", "qbo_payment_id", "amount", "paid_on", "removed_at")

from django.urls import path

from . import views

app_name = "changes"
urlpatterns = [
    path("webhooks/quickbooks/", views.qbo_webhook_view, name="qbo_webhook"),
    path("invoices/<int:pk>/quickbooks/repush/", views.invoice_repush_view, name="invoice_repush"),
    path("invoices/<int:pk>/quickbooks/accept/", views.invoice_accept_view, name="invoice_accept"),
]

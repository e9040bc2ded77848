from django.urls import path

from . import views

app_name = "invoices"
urlpatterns = [
    path("", views.invoice_list_view, name="list"),
    path("new/", views.invoice_create_view, name="create"),
    path("sync-status/", views.invoice_sync_status_view, name="sync_status"),
    path("<int:pk>/", views.invoice_detail_view, name="detail"),
    path("<int:pk>/edit/", views.invoice_edit_view, name="edit"),
    path("<int:pk>/send/", views.invoice_send_view, name="send"),
    path("<int:pk>/void/", views.invoice_void_view, name="void"),
    path("<int:pk>/delete/", views.invoice_delete_view, name="delete"),
    path("<int:pk>/quickbooks/sync/", views.invoice_quickbooks_sync_view, name="quickbooks_sync"),
    path("<int:pk>/quickbooks/skip/", views.invoice_quickbooks_skip_view, name="quickbooks_skip"),
    path("payments/new/", views.payment_create_view, name="payment_create"),
    path("payments/<int:pk>/", views.payment_detail_view, name="payment_detail"),
    path("payments/<int:pk>/edit/", views.payment_edit_view, name="payment_edit"),
    path("payments/<int:pk>/delete/", views.payment_delete_view, name="payment_delete"),
    path(
        "payments/<int:pk>/quickbooks/sync/",
        views.payment_quickbooks_sync_view,
        name="payment_quickbooks_sync",
    ),
    path(
        "payments/<int:pk>/quickbooks/skip/",
        views.payment_quickbooks_skip_view,
        name="payment_quickbooks_skip",
    ),
]

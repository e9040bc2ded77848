from django.urls import path

from . import views

app_name = "health"
urlpatterns = [
    path("errors/", views.errors_page, name="errors"),
    path("errors/retry/", views.errors_retry_group, name="errors_retry_group"),
    path("errors/accounts/<int:pk>/retry/", views.errors_account_retry, name="errors_account_retry"),
    path("errors/accounts/<int:pk>/create/", views.errors_account_create, name="errors_account_create"),
    path("errors/accounts/<int:pk>/skip/", views.errors_account_skip, name="errors_account_skip"),
    path("errors/invoices/<int:pk>/retry/", views.errors_invoice_retry, name="errors_invoice_retry"),
    path("errors/invoices/<int:pk>/skip/", views.errors_invoice_skip, name="errors_invoice_skip"),
    path("errors/payments/<int:pk>/retry/", views.errors_payment_retry, name="errors_payment_retry"),
    path("errors/payments/<int:pk>/skip/", views.errors_payment_skip, name="errors_payment_skip"),
    path("reconciliation/", views.reconciliation_page, name="reconciliation"),
    path("reconciliation/run/", views.reconciliation_start, name="reconciliation_start"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification_read"),
    path("notifications/read-all/", views.notification_read_all, name="notifications_read_all"),
]

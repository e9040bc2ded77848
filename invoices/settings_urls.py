"""Settings pages the invoices own: the firm's region and currency, and its tax rates (under /settings/)."""

from django.urls import path

from . import views

app_name = "invoicing"
urlpatterns = [
    path("invoicing/", views.firm_invoicing_settings_view, name="settings"),
    path("tax-rates/", views.tax_rate_list_view, name="tax_rates"),
    path("tax-rates/new/", views.tax_rate_create_view, name="tax_rate_create"),
    path("tax-rates/<int:pk>/", views.tax_rate_detail_view, name="tax_rate_detail"),
    path("tax-rates/<int:pk>/archive/", views.tax_rate_archive_view, name="tax_rate_archive"),
    path("tax-rates/<int:pk>/restore/", views.tax_rate_restore_view, name="tax_rate_restore"),
    path("tax-rates/<int:pk>/delete/", views.tax_rate_delete_view, name="tax_rate_delete"),
]

from django.urls import path

from . import views

app_name = "quickbooks"
urlpatterns = [
    path("", views.quickbooks_settings, name="settings"),
    path("connect/", views.quickbooks_connect, name="connect"),
    path("callback/", views.quickbooks_callback, name="callback"),
    path("disconnect/", views.quickbooks_disconnect, name="disconnect"),
    path("defaults/", views.quickbooks_defaults, name="defaults"),
    path("service-items/", views.quickbooks_service_items, name="service_items"),
    path("pick-lists/refresh/", views.quickbooks_pick_lists_refresh, name="pick_lists_refresh"),
    path("tax-codes/", views.quickbooks_tax_codes_save, name="tax_codes_save"),
    path("tax-codes/refresh/", views.quickbooks_tax_codes_refresh, name="tax_codes_refresh"),
    path("first-sync/preview/", views.bulk_preview, name="bulk_preview"),
    path("first-sync/<int:pk>/", views.bulk_plan, name="bulk_plan"),
    path("first-sync/<int:pk>/start/", views.bulk_start, name="bulk_start"),
]

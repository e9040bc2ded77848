from django.urls import path

from . import views

app_name = "quickbooks"
urlpatterns = [
    path("", views.quickbooks_settings, name="settings"),
    path("connect/", views.quickbooks_connect, name="connect"),
    path("callback/", views.quickbooks_callback, name="callback"),
    path("disconnect/", views.quickbooks_disconnect, name="disconnect"),
    path("defaults/", views.quickbooks_defaults, name="defaults"),
]

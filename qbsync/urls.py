from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from qbsync.core import health
from qbsync.firms import views as firm_views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="accounts:list", permanent=False)),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("clients/accounts/", include("accounts.urls")),
    path("invoices/", include("invoices.urls")),
    path("settings/", firm_views.settings_view, name="settings"),
    path("settings/", include("invoices.settings_urls")),
    path("settings/integrations/quickbooks/", include("qbsync.sync.urls")),
    path("sync-health/", include("qbsync.health.urls")),
    path("integrations/", include("qbsync.changes.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]

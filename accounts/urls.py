from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("", views.account_list_view, name="list"),
    path("new/", views.account_create_view, name="create"),
    path("<int:pk>/", views.account_detail_view, name="detail"),
    path("<int:pk>/edit/", views.account_edit_view, name="edit"),
    path("<int:pk>/archive/", views.account_archive_view, name="archive"),
    path("<int:pk>/restore/", views.account_restore_view, name="restore"),
    path("sync-status/", views.account_sync_status_view, name="sync_status"),
    path("sync-counts/", views.account_sync_counts_view, name="sync_counts"),
    path("<int:pk>/quickbooks/", views.account_quickbooks_view, name="quickbooks"),
    path("<int:pk>/quickbooks/sync/", views.account_quickbooks_sync_view, name="quickbooks_sync"),
    path("<int:pk>/quickbooks/skip/", views.account_quickbooks_skip_view, name="quickbooks_skip"),
]

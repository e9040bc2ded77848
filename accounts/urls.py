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
]

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import Firm, User


@admin.register(Firm)
class FirmAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "member_count", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="Members")
    def member_count(self, obj: Firm) -> int:
        return obj.members.count()


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "firm", "role", "is_active", "is_staff", "last_login"]
    list_filter = ["role", "firm", "is_active", "is_staff", "is_superuser"]
    list_select_related = ["firm"]
    search_fields = ["username", "email", "first_name", "last_name", "firm__name"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Firm", {"fields": ["firm", "role"]}),
    ]
    add_fieldsets = [
        *DjangoUserAdmin.add_fieldsets,
        ("Firm", {"fields": ["email", "firm", "role"]}),
    ]

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from .models import Account
from .services import (
    AccountData,
    account_archive,
    account_create,
    account_name_check_unique,
    account_name_clean,
    account_restore,
    account_update,
)

ACCOUNT_DATA_FIELDS = [f for f in AccountData.__dataclass_fields__]


class AccountAdminForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["firm", *ACCOUNT_DATA_FIELDS, "is_active"]

    def clean(self):
        cleaned = super().clean()
        firm = cleaned.get("firm")
        name = cleaned.get("name")
        if firm is not None and name is not None:
            try:
                cleaned["name"] = account_name_clean(name)
                account_name_check_unique(firm=firm, name=cleaned["name"], exclude_id=self.instance.pk)
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned

    def validate_constraints(self, exclude=None):
        # The name rules above say it better than the raw constraint message would.
        return super().validate_constraints(exclude={*(exclude or ()), "name"})


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["name", "firm", "kind", "email", "phone", "is_active", "updated_at"]
    list_filter = ["is_active", "kind", "firm"]
    list_select_related = ["firm"]
    search_fields = ["name", "email", "phone", "city"]
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        # An account never moves between firms: its invoices and sync link belong to the firm.
        return [*self.readonly_fields, "firm"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = AccountData(**{name: form.cleaned_data[name] for name in ACCOUNT_DATA_FIELDS})
        if change:
            saved = account_update(account=Account.objects.get(pk=obj.pk), data=data)
        else:
            saved = account_create(firm=form.cleaned_data["firm"], data=data)
        if form.cleaned_data["is_active"] != saved.is_active:
            (account_restore if form.cleaned_data["is_active"] else account_archive)(account=saved)
        obj.pk = saved.pk
        obj._state.adding = False

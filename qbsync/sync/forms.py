from django import forms

from .models import QuickBooksConnection
from .services.connections import PickLists


class IntegrationDefaultsForm(forms.Form):
    auto_sync_scope = forms.ChoiceField(
        label="Which accounts sync automatically",
        choices=QuickBooksConnection.AutoSyncScope.choices,
        widget=forms.RadioSelect,
    )
    default_customer_type = forms.ChoiceField(
        label="Customer type for new QuickBooks customers", required=False
    )
    default_item = forms.ChoiceField(label="Item for invoice lines", required=False)
    sync_start_date = forms.DateField(
        label="Sync start date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Invoices and payments dated before this day are left alone.",
    )
    first_sync_without_preview = forms.BooleanField(
        label="Start the first sync without a preview",
        required=False,
        help_text="Every account due to sync is synced at once, matched to a QuickBooks customer of the same "
        "name or given a new one, without a person reviewing the plan first.",
    )

    def __init__(self, *args, pick_lists: PickLists, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_customer_type"].choices = [("", "None (leave empty)")] + [
            (t.id, t.name) for t in pick_lists.customer_types
        ]
        self.fields["default_item"].choices = [("", "Choose an item")] + [
            (i.id, i.name) for i in pick_lists.items
        ]

    @classmethod
    def initial_for(cls, connection: QuickBooksConnection) -> dict:
        return {
            "auto_sync_scope": connection.auto_sync_scope,
            "default_customer_type": connection.default_customer_type_id,
            "default_item": connection.default_item_id,
            "sync_start_date": connection.sync_start_date,
            "first_sync_without_preview": connection.first_sync_without_preview,
        }

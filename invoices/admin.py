"""Admin for invoices and payments. Every save goes through the services, so totals, balances and
allocation limits hold here exactly as in the app; the formsets validate with the same rules first."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import (
    FormSubmission,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    Service,
    TaxRate,
    TaxRateComponent,
)
from .services import (
    AllocationData,
    InvoiceData,
    InvoiceLineData,
    PaymentData,
    invoice_create,
    invoice_delete,
    invoice_send,
    invoice_update,
    invoice_validate,
    invoice_void,
    payment_create,
    payment_delete,
    payment_update,
    payment_validate,
)


def _kept_rows(formset) -> list[dict]:
    # Untouched extra rows have empty cleaned_data.
    return [f.cleaned_data for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [m for field_messages in exc.message_dict.values() for m in field_messages]
    return exc.messages


class ServiceBackedAdmin(admin.ModelAdmin):
    """Hands the parent form to the inline formsets (so they can validate the whole record with the
    service rules) and leaves the saving of parent and inlines to ``save_related``."""

    def save_form(self, request, form, change):
        request.qbsync_admin_form = form
        return super().save_form(request, form, change)

    def _create_formsets(self, request, obj, change):
        formsets, inline_instances = super()._create_formsets(request, obj, change)
        for formset in formsets:
            # The formsets are built before the parent form is validated and validated after it.
            formset.admin_request = request
        return formsets, inline_instances

    def save_model(self, request, obj, form, change):
        """Saved in save_related, together with the inlines, through the services."""

    def save_related(self, request, form, formsets, change):
        saved = self.save_through_services(form, formsets, change)
        form.instance.pk = saved.pk
        form.instance._state.adding = False
        for formset in formsets:
            # The change message reads what formset.save() would have recorded; the rows were
            # written by the service, so the history says "changed" without a per-row breakdown.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def save_through_services(self, form, formsets, change):
        raise NotImplementedError

    def get_readonly_fields(self, request, obj=None):
        # A record never moves between firms.
        return [*self.readonly_fields, "firm"] if obj else self.readonly_fields


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "firm", "default_rate", "is_active"]
    list_filter = ["is_active", "firm"]
    list_select_related = ["firm"]
    search_fields = ["name"]


class TaxRateComponentInline(admin.TabularInline):
    model = TaxRateComponent
    fields = ["position", "name", "percentage", "compound"]
    extra = 0


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    """Read-only: firms keep their rates on Settings > Tax rates, where the services guard the rates that
    invoices use."""

    inlines = [TaxRateComponentInline]
    list_display = ["name", "firm", "is_active", "created_at"]
    list_filter = ["is_active", "firm"]
    list_select_related = ["firm"]
    search_fields = ["name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Invoices ----------------------------------------------------------------------------------------


def _invoice_data(form, formset) -> InvoiceData:
    return InvoiceData(
        account=form.cleaned_data["account"],
        number=form.cleaned_data["number"],
        issue_date=form.cleaned_data["issue_date"],
        due_date=form.cleaned_data["due_date"],
        memo=form.cleaned_data.get("memo", ""),
        amounts_include_tax=form.cleaned_data.get("amounts_include_tax", False),
        lines=[
            InvoiceLineData(
                service=row.get("service"),
                description=row.get("description", ""),
                quantity=row["quantity"],
                rate=row["rate"],
                tax_rate=row.get("tax_rate"),
            )
            for row in _kept_rows(formset)
        ],
    )


class ParentAwareFormSet(forms.BaseInlineFormSet):
    admin_request = None  # set by ServiceBackedAdmin._create_formsets

    @property
    def parent_form(self):
        return getattr(self.admin_request, "qbsync_admin_form", None)


class InvoiceLineFormSet(ParentAwareFormSet):
    def clean(self):
        super().clean()
        if any(self.errors) or self.parent_form is None or not self.parent_form.is_valid():
            return
        form = self.parent_form
        try:
            invoice_validate(
                firm=form.cleaned_data.get("firm", form.instance.firm),
                data=_invoice_data(form, self),
                invoice=form.instance if form.instance.pk else None,
            )
        except ValidationError as exc:
            raise ValidationError(_messages(exc)) from exc


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    formset = InvoiceLineFormSet
    fields = ["position", "service", "description", "quantity", "rate", "tax_rate", "amount"]
    readonly_fields = ["amount"]
    extra = 1
    min_num = 1


class InvoiceAdminForm(forms.ModelForm):
    class Meta:
        model = Invoice
        fields = [
            "firm",
            "account",
            "number",
            "issue_date",
            "due_date",
            "status",
            "memo",
            "amounts_include_tax",
        ]

    def clean(self):
        cleaned = super().clean()
        firm = cleaned.get("firm") or (self.instance.firm if self.instance.pk else None)
        account = cleaned.get("account")
        if firm and account and account.firm_id != firm.pk:
            self.add_error("account", "Choose an account of this invoice's firm.")
        if not self.instance.pk and cleaned.get("status") not in (Invoice.Status.DRAFT, Invoice.Status.SENT):
            self.add_error("status", "A new invoice is a draft or sent; payments mark it paid.")
        return cleaned


@admin.register(Invoice)
class InvoiceAdmin(ServiceBackedAdmin):
    form = InvoiceAdminForm
    inlines = [InvoiceLineInline]
    list_display = ["number", "account", "firm", "issue_date", "due_date", "status", "total", "amount_paid"]
    list_filter = ["status", "firm", "issue_date"]
    list_select_related = ["account", "firm"]
    search_fields = ["number", "account__name"]
    autocomplete_fields = ["account"]
    readonly_fields = ["subtotal", "tax_total", "total", "amount_paid", "created_at", "updated_at"]
    date_hierarchy = "issue_date"
    actions = ["send_invoices", "void_invoices"]

    def get_readonly_fields(self, request, obj=None):
        # Status moves only through the actions (send, void) and payments.
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "status"] if obj else fields

    def save_through_services(self, form, formsets, change):
        data = _invoice_data(form, formsets[0])
        if change:
            return invoice_update(invoice=Invoice.objects.get(pk=form.instance.pk), data=data)
        return invoice_create(firm=form.cleaned_data["firm"], data=data, status=form.cleaned_data["status"])

    def delete_model(self, request, obj):
        invoice_delete(invoice=obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for invoice in queryset:
                invoice_delete(invoice=invoice)

    def _run(self, request, queryset, service, verb: str):
        done = 0
        for invoice in queryset:
            try:
                service(invoice=invoice)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{invoice.number}: {' '.join(exc.messages)}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} invoice(s).", messages.SUCCESS)

    @admin.action(description="Send selected draft invoices")
    def send_invoices(self, request, queryset):
        self._run(request, queryset, invoice_send, "Sent")

    @admin.action(description="Void selected invoices")
    def void_invoices(self, request, queryset):
        self._run(request, queryset, invoice_void, "Voided")


# Payments ----------------------------------------------------------------------------------------


def _payment_data(form, formset) -> PaymentData:
    return PaymentData(
        account=form.cleaned_data["account"],
        date=form.cleaned_data["date"],
        amount=form.cleaned_data["amount"],
        method=form.cleaned_data["method"],
        reference=form.cleaned_data.get("reference", ""),
        memo=form.cleaned_data.get("memo", ""),
        allocations=[
            AllocationData(invoice=row["invoice"], amount=row["amount"]) for row in _kept_rows(formset)
        ],
    )


class AllocationFormSet(ParentAwareFormSet):
    def clean(self):
        super().clean()
        if any(self.errors) or self.parent_form is None or not self.parent_form.is_valid():
            return
        form = self.parent_form
        firm = form.cleaned_data.get("firm") or form.instance.firm
        try:
            payment_validate(
                firm=firm, data=_payment_data(form, self), payment=form.instance if form.instance.pk else None
            )
        except ValidationError as exc:
            raise ValidationError(_messages(exc)) from exc


class PaymentAllocationInline(admin.TabularInline):
    model = PaymentAllocation
    formset = AllocationFormSet
    fields = ["invoice", "amount"]
    autocomplete_fields = ["invoice"]
    extra = 1


class PaymentAdminForm(forms.ModelForm):
    class Meta:
        model = Payment
        fields = ["firm", "account", "date", "amount", "method", "reference", "memo"]

    def clean(self):
        cleaned = super().clean()
        firm = cleaned.get("firm") or (self.instance.firm if self.instance.pk else None)
        account = cleaned.get("account")
        if firm and account and account.firm_id != firm.pk:
            self.add_error("account", "Choose an account of this payment's firm.")
        return cleaned


@admin.register(Payment)
class PaymentAdmin(ServiceBackedAdmin):
    form = PaymentAdminForm
    inlines = [PaymentAllocationInline]
    list_display = ["date", "account", "firm", "amount", "amount_allocated", "method", "reference"]
    list_filter = ["method", "firm", "date"]
    list_select_related = ["account", "firm"]
    search_fields = ["reference", "account__name"]
    autocomplete_fields = ["account"]
    readonly_fields = ["amount_allocated", "created_at", "updated_at"]
    date_hierarchy = "date"

    def save_through_services(self, form, formsets, change):
        data = _payment_data(form, formsets[0])
        if change:
            return payment_update(payment=Payment.objects.get(pk=form.instance.pk), data=data)
        return payment_create(firm=form.cleaned_data["firm"], data=data)

    def delete_model(self, request, obj):
        payment_delete(payment=obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for payment in queryset:
                payment_delete(payment=payment)


@admin.register(FormSubmission)
class FormSubmissionAdmin(admin.ModelAdmin):
    """Read-only: the used-up tokens of new-invoice and new-payment pages, and what each made."""

    list_display = ["created_at", "firm", "invoice", "payment"]
    list_filter = ["firm"]
    list_select_related = ["firm", "invoice", "payment"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

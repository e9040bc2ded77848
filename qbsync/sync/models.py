from django.conf import settings
from django.db import models
from django.utils import timezone

from qbsync.core.crypto import EncryptedTextField
from qbsync.firms.models import Firm
from qbsync.firms.querysets import FirmScopedQuerySet
from qbsync.quickbooks.customers import normalize_name

from .display import account_tooltip, display_status
from .states import SyncState


class QuickBooksConnection(models.Model):
    """A firm's link to one QuickBooks Online company (realm). Tokens are encrypted at rest and change
    only through the connection services, under a row lock."""

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        DISCONNECTED = "disconnected", "Disconnected"

    class AutoSyncScope(models.TextChoices):
        WITH_ACTIVITY = "with_activity", "Accounts with invoices or payments"
        ALL = "all", "All accounts"

    firm = models.OneToOneField(Firm, on_delete=models.CASCADE, related_name="quickbooks_connection")
    realm_id = models.CharField("company id (realm)", max_length=32)
    company_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONNECTED)
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)

    access_token = EncryptedTextField()
    refresh_token = EncryptedTextField()
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    # Intuit's 5-year limit from the original authorization, when Intuit reports it.
    refresh_token_hard_expires_at = models.DateTimeField(null=True, blank=True)
    # Bumped at every token change: lets a worker tell whether someone else already refreshed.
    token_version = models.PositiveIntegerField(default=0)

    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connected_at = models.DateTimeField(null=True, blank=True)

    # Integration defaults (pick lists are read from the connected company).
    auto_sync_scope = models.CharField(
        max_length=20, choices=AutoSyncScope.choices, default=AutoSyncScope.WITH_ACTIVITY
    )
    default_customer_type_id = models.CharField(max_length=32, blank=True)
    default_customer_type_name = models.CharField(max_length=100, blank=True)
    default_item_id = models.CharField(max_length=32, blank=True)
    default_item_name = models.CharField(max_length=100, blank=True)
    sync_start_date = models.DateField(null=True, blank=True)
    # The help page's behaviour: the first sync of every due account starts without a person reviewing
    # its preview first.
    first_sync_without_preview = models.BooleanField(default=False)
    # The company's Preferences as last read (engine/company.py): pushes use them without a read.
    company_preferences = models.JSONField(default=dict, blank=True)
    preferences_read_at = models.DateTimeField(null=True, blank=True)
    # Customer types and items as last read, for the defaults form (services/connections.py).
    pick_lists = models.JSONField(default=dict, blank=True)
    pick_lists_read_at = models.DateTimeField(null=True, blank=True)
    # The company's sales tax codes as last read (services/tax.py), and, in a VAT/GST company, the code
    # lines without a tax rate carry (QBO needs one on every line there).
    tax_codes = models.JSONField(default=list, blank=True)
    tax_codes_read_at = models.DateTimeField(null=True, blank=True)
    untaxed_tax_code_id = models.CharField(max_length=32, blank=True)
    untaxed_tax_code_name = models.CharField(max_length=100, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            # One firm per QuickBooks company: webhooks are routed by realm, so a realm shared by two
            # firms would leak one firm's changes into the other.
            models.UniqueConstraint(
                "realm_id",
                condition=~models.Q(status="disconnected"),
                name="connection_realm_unique_while_active",
                violation_error_message="This QuickBooks company is already connected to another firm.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company_name or self.realm_id} ({self.get_status_display()})"

    # The two meanings of "connected", defined once (qbsync/sync/engine/connection.py queries by them).
    @property
    def has_company(self) -> bool:
        """A company is linked (connected, or needing reconnect): sync requests are taken and wait."""
        return self.status != self.Status.DISCONNECTED

    @property
    def is_usable(self) -> bool:
        """Calls to QBO may go out on it now."""
        return self.status == self.Status.CONNECTED


class SyncLink(models.Model):
    """What every record's link to QBO has: its state (changed only by `engine/transitions.py`), the
    request it is working on, its retries and its last failure."""

    state = models.CharField(max_length=12, choices=SyncState.choices, default=SyncState.NOT_SYNCED)
    state_changed_at = models.DateTimeField(default=timezone.now)
    # Bumped by every request: part of the QBO requestid, so retries of one request reuse it.
    request_epoch = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField("QBO's message", blank=True)
    error_explanation = models.TextField("what it means and what to do", blank=True)
    error_cause = models.CharField(max_length=40, blank=True)
    error_intuit_tid = models.CharField(max_length=100, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def display_status(self) -> str:
        return display_status(self.state)


class AccountSyncLink(SyncLink):
    """One per client account: its QBO customer, or why it has none. Changed only by the sync services."""

    class Method(models.TextChoices):
        MATCHED = "matched", "Matched by name"
        PICKED = "picked", "Picked"
        CREATED = "created", "Created"

    class RequestMode(models.TextChoices):
        AUTO = "auto", "Match by name, or create"
        PICK = "pick", "Link a chosen customer"
        CREATE = "create", "Create a new customer"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="account_links")
    account = models.OneToOneField("accounts.Account", on_delete=models.CASCADE, related_name="sync_link")

    qbo_customer_id = models.CharField(max_length=32, blank=True)
    qbo_display_name = models.CharField("QBO name when linked", max_length=600, blank=True)
    qbo_current_name = models.CharField("QBO name last seen", max_length=600, blank=True)
    link_method = models.CharField(max_length=10, choices=Method.choices, blank=True)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    linked_at = models.DateTimeField(null=True, blank=True)
    # The customer of an earlier link (before an unsync), tried first when syncing again.
    previous_customer_id = models.CharField(max_length=32, blank=True)

    # What the last request asked for.
    request_mode = models.CharField(max_length=8, choices=RequestMode.choices, default=RequestMode.AUTO)
    requested_customer_id = models.CharField(max_length=32, blank=True)
    requested_display_name = models.CharField(max_length=600, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    error_proposed_name = models.CharField(max_length=600, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["firm", "state"], name="account_link_firm_state"),
            models.Index(fields=["state", "state_changed_at"], name="account_link_state_age"),
        ]
        constraints = [
            # One account per QBO customer within a firm: never two accounts posting to one customer.
            models.UniqueConstraint(
                "firm",
                "qbo_customer_id",
                condition=~models.Q(qbo_customer_id=""),
                name="account_link_one_account_per_customer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} → {self.qbo_customer_id or '-'} ({self.state})"

    @property
    def tooltip(self) -> str:
        return account_tooltip(self.state, self.error_explanation)

    @property
    def name_differs(self) -> bool:
        """The local account was renamed, or the customer was renamed in QBO, since linking."""
        if self.state != SyncState.SYNCED or not self.qbo_current_name:
            return False
        return normalize_name(self.qbo_current_name) != normalize_name(self.account.name)


class SyncEvent(models.Model):
    """The history of every sync step for a record: who or what triggered it and what QBO answered."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Succeeded"
        FAILURE = "failure", "Failed"
        INFO = "info", "Info"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="sync_events")
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, null=True, blank=True, related_name="sync_events"
    )
    invoice = models.ForeignKey(
        "invoices.Invoice", on_delete=models.SET_NULL, null=True, blank=True, related_name="sync_events"
    )
    payment = models.ForeignKey(
        "invoices.Payment", on_delete=models.SET_NULL, null=True, blank=True, related_name="sync_events"
    )
    kind = models.CharField(max_length=40)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.INFO)
    message = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    trigger = models.CharField(max_length=20, default="user")  # user | auto | worker | sweep | bulk | qbo
    sent = models.JSONField(default=dict, blank=True)  # what we sent (never secrets)
    received = models.JSONField(default=dict, blank=True)  # what QBO answered
    intuit_tid = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"], name="sync_event_account_recent")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:60]}"


class BulkSyncPlan(models.Model):
    """A dry run over every account due to sync, and then the real run that does what it said."""

    class State(models.TextChoices):
        PREVIEWING = "previewing", "Preparing the preview"
        READY = "ready", "Ready to start"
        RUNNING = "running", "Syncing"
        DONE = "done", "Finished"
        FAILED = "failed", "Could not be prepared"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="bulk_sync_plans")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.PREVIEWING)
    error = models.TextField(blank=True)
    customers_read = models.PositiveIntegerField(default=0)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The run carrying the plan out now, a slice at a time: its task id, until its lease ends. A message
    # redelivered after its worker died carries the same id and takes the run over at once.
    run_holder = models.CharField(max_length=64, blank=True)
    run_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Bulk sync {self.pk} ({self.state})"


class BulkSyncItem(models.Model):
    class Decision(models.TextChoices):
        MATCH = "match", "Match an existing customer"
        CREATE = "create", "Create a customer"
        CONFLICT = "conflict", "Needs a decision"

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        HANDED_OVER = "handed_over", "Handed to the single-account sync"

    plan = models.ForeignKey(BulkSyncPlan, on_delete=models.CASCADE, related_name="items")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    customer_id = models.CharField(max_length=32, blank=True)
    customer_name = models.CharField(max_length=600, blank=True)
    cause = models.CharField(max_length=40, blank=True)
    explanation = models.TextField(blank=True)
    proposed_name = models.CharField(max_length=600, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.PENDING)

    class Meta:
        ordering = ["decision", "id"]
        constraints = [models.UniqueConstraint("plan", "account", name="bulk_item_one_per_account")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.decision}"


class TransactionSyncLink(SyncLink):
    """What an invoice's and a payment's link share: the state, why it waits or was skipped, retries, and
    the last error. Changed only by the sync services."""

    qbo_sync_token = models.CharField(max_length=32, blank=True)
    # The QBO customer its copy in QBO is under, kept when an unsync forgets the copy's Id: when the
    # account is linked to another customer, the copy is moved there rather than created a second time.
    qbo_customer_id = models.CharField(max_length=32, blank=True)
    # The record's content_version that QBO has; behind it means an update is due.
    pushed_version = models.PositiveIntegerField(default=0)
    waiting_reason = models.CharField(max_length=200, blank=True)
    skip_reason = models.CharField(max_length=200, blank=True)
    # Part of a first sync (an account's history): a batch pusher creates it, 30 to a request, instead of a
    # push of its own. Cleared whenever the record goes back to the one-at-a-time push.
    in_batch = models.BooleanField(default=False)

    # What the link links, named in each subclass: its record's field ("invoice") and QBO id's field.
    RECORD_FIELD = ""
    QBO_ID_FIELD = ""
    # Why a record is not synced while its account is not: it goes once the account syncs.
    ACCOUNT_NOT_SYNCED = "its account is not synced"

    class Meta:
        abstract = True

    def __str__(self) -> str:
        record_id = getattr(self, f"{self.RECORD_FIELD}_id")
        return f"{self.RECORD_FIELD} {record_id} → {self.qbo_id or '-'} ({self.state})"

    @property
    def qbo_id(self) -> str:
        return getattr(self, self.QBO_ID_FIELD)

    @property
    def waits_for_its_account(self) -> bool:
        """Not synced only because its account is not: the way out is syncing the account."""
        return self.state == SyncState.SKIPPED and self.skip_reason == self.ACCOUNT_NOT_SYNCED


def transaction_link_indexes(record: str) -> list[models.Index]:
    """A transaction link's indexes, named as their migrations created them."""
    return [
        models.Index(fields=["firm", "state"], name=f"{record}_link_firm_state"),
        models.Index(fields=["state", "state_changed_at"], name=f"{record}_link_state_age"),
    ]


def one_link_per_qbo_record(record: str) -> models.UniqueConstraint:
    """Within a firm, never two local records linked to one QBO record."""
    qbo_id_field = f"qbo_{record}_id"
    return models.UniqueConstraint(
        "firm",
        qbo_id_field,
        condition=~models.Q(**{qbo_id_field: ""}),
        name=f"{record}_link_one_per_qbo_{record}",
    )


class InvoiceSyncLink(TransactionSyncLink):
    """One per issued invoice: its QBO invoice, or why it has none yet."""

    RECORD_FIELD = "invoice"
    QBO_ID_FIELD = "qbo_invoice_id"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="invoice_links")
    invoice = models.OneToOneField("invoices.Invoice", on_delete=models.CASCADE, related_name="sync_link")
    qbo_invoice_id = models.CharField(max_length=32, blank=True)
    qbo_doc_number = models.CharField(max_length=30, blank=True)

    class Meta:
        indexes = transaction_link_indexes("invoice")
        constraints = [one_link_per_qbo_record("invoice")]


class SyncOutbox(models.Model):
    """A change QBO must still hear about that outlives the local record: deleting an invoice or payment.

    Written in the same transaction as the local delete, so the intent survives a lost broker message or
    a dead worker; the sweep hands over rows nobody processed.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="sync_outbox")
    account = models.ForeignKey("accounts.Account", on_delete=models.SET_NULL, null=True, related_name="+")
    entity = models.CharField(max_length=20)  # Invoice | Payment
    operation = models.CharField(max_length=20)  # delete
    local_label = models.CharField(max_length=100)  # e.g. the invoice number, for the history
    # Empty when the record was deleted here while its create's outcome was unknown (sent, reply lost,
    # or still under way): the row then finds it by its marker under the customer, until ``look_until``.
    qbo_id = models.CharField(max_length=32, blank=True)
    qbo_sync_token = models.CharField(max_length=32, blank=True)
    marker = models.CharField(max_length=60, blank=True)
    qbo_customer_id = models.CharField(max_length=32, blank=True)
    look_until = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    result = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["state", "created_at"], name="outbox_state_age")]

    def __str__(self) -> str:
        return f"{self.operation} {self.entity} {self.qbo_id} ({self.state})"


class PaymentSyncLink(TransactionSyncLink):
    """One per payment of a syncing account: its QBO payment, or why it has none yet."""

    RECORD_FIELD = "payment"
    QBO_ID_FIELD = "qbo_payment_id"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="payment_links")
    payment = models.OneToOneField("invoices.Payment", on_delete=models.CASCADE, related_name="sync_link")
    qbo_payment_id = models.CharField(max_length=32, blank=True)

    class Meta:
        indexes = transaction_link_indexes("payment")
        constraints = [one_link_per_qbo_record("payment")]


class ServiceItemMapping(models.Model):
    """Invoice lines for this service carry this QBO item instead of the firm's default item."""

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="service_item_mappings")
    service = models.OneToOneField(
        "invoices.Service", on_delete=models.CASCADE, related_name="qbo_item_mapping"
    )
    qbo_item_id = models.CharField(max_length=32)
    qbo_item_name = models.CharField(max_length=100, blank=True)

    objects = FirmScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.service_id} → item {self.qbo_item_id}"


class TaxCodeMapping(models.Model):
    """Invoice lines with this tax rate go to the firm's QuickBooks company with this tax code (a VAT/GST
    company: the line's TaxCodeRef; a US company with sales tax by hand: the invoice's TxnTaxCodeRef)."""

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="tax_code_mappings")
    tax_rate = models.OneToOneField(
        "invoices.TaxRate", on_delete=models.CASCADE, related_name="qbo_tax_code_mapping"
    )
    # The company the code is of: a mapping means nothing in another company (the firm started over).
    realm_id = models.CharField(max_length=32)
    qbo_tax_code_id = models.CharField(max_length=32)
    qbo_tax_code_name = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FirmScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.tax_rate_id} → tax code {self.qbo_tax_code_id}"


class BatchPushSlot(models.Model):
    """A firm's batch pusher (one per firm): the task that holds it (until ``held_until``) sends the firm's
    first-sync invoices and payments, a slice at a time; ``wake_due_at`` says a message to start it is on
    its way, so new work wakes it once rather than starting a task per record."""

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="batch_push_slots")
    number = models.PositiveSmallIntegerField()
    held_until = models.DateTimeField(null=True, blank=True)
    # The holding task's id: a message redelivered after its worker died takes the pusher over at once.
    holder = models.CharField(max_length=64, blank=True)
    # The records of the batch in hand ({"invoice": [link ids], "payment": [...]}), for whoever takes the
    # pusher over from a task that died with them.
    claimed = models.JSONField(default=dict, blank=True)
    wake_due_at = models.DateTimeField(null=True, blank=True)
    batches_sent = models.PositiveIntegerField(default=0)

    objects = FirmScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint("firm", "number", name="batch_push_slot_one_per_number")]

    def __str__(self) -> str:
        return f"batch pusher of firm {self.firm_id}"


class QboCallMonth(models.Model):
    """The calls QBO answered with a success for one firm's company in one calendar month (UTC). Reads
    (CorePlus) are what Intuit meters, summed over every firm of the deployment (engine/metering.py)."""

    firm = models.ForeignKey(Firm, null=True, on_delete=models.SET_NULL, related_name="qbo_call_months")
    realm_id = models.CharField("company id (realm)", max_length=32)
    month = models.CharField(max_length=7)  # "2026-12"
    reads = models.PositiveBigIntegerField(default=0)
    writes = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("firm", "realm_id", "month", name="qbo_call_month_unique"),
        ]
        indexes = [models.Index(fields=["month"], name="qbo_call_month_month")]

    def __str__(self) -> str:
        return f"{self.realm_id} {self.month}: {self.reads} reads, {self.writes} writes"


class ReadBudgetMonth(models.Model):
    """The deployment's (Intuit workspace's) month of reads: which budget alerts went out, and whether reads
    are paused (QBO refused one, or our own count reached the budget) or were resumed by ops."""

    class PauseReason(models.TextChoices):
        REFUSED = "refused", "QuickBooks refused reads"
        BUDGET = "budget", "the monthly read budget was used up"

    month = models.CharField(max_length=7, unique=True)
    alerts_sent = models.JSONField(default=list, blank=True)  # thresholds in percent: [50, 80]
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=10, choices=PauseReason.choices, blank=True)
    pause_detail = models.TextField(blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    probed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"reads in {self.month}"

    @property
    def reads_paused(self) -> bool:
        return self.paused_at is not None and (self.resumed_at is None or self.resumed_at < self.paused_at)

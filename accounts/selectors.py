"""Reads of client accounts for pages. Every query starts from ``for_firm`` so tenants never mix."""

from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from invoices.models import Invoice
from qbsync.core.money import MONEY_MAX_DIGITS
from qbsync.firms.models import Firm
from qbsync.quickbooks.customers import normalize_name
from qbsync.sync.display import shown_as_filter
from qbsync.sync.selectors import with_first_sync_wait

from .models import Account

_MONEY = DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=2)


def _open_balance() -> Coalesce:
    """What the client still owes: issued invoices' total minus what was paid on them."""
    owed = (
        Invoice.objects.filter(account=OuterRef("pk"), status__in=Invoice.PAYABLE_STATUSES)
        .order_by()
        .values("account")
        .annotate(owed=Sum(F("total") - F("amount_paid"), output_field=_MONEY))
        .values("owed")
    )
    return Coalesce(Subquery(owed, output_field=_MONEY), Value(Decimal("0.00")), output_field=_MONEY)


def account_list(
    *, firm: Firm, search: str = "", archived: bool | None = False, sync_status: str = ""
) -> QuerySet[Account]:
    """Accounts matching ``search`` on name, email or phone, each annotated with ``open_balance`` and
    carrying its QuickBooks ``sync_link`` (absent for an account never synced).

    ``archived`` False lists the active accounts, True the archived ones, None both (the account page).
    ``sync_status`` is one of the five statuses people see ("Not synced" includes accounts without a link).
    One query per page of the list, whatever its size.
    """
    accounts = Account.objects.for_firm(firm)
    if archived is not None:
        accounts = accounts.filter(is_active=not archived)
    accounts = accounts.matching(search)
    if sync_status:
        accounts = accounts.filter(shown_as_filter(sync_status))
    accounts = with_first_sync_wait(accounts, firm=firm)
    return accounts.select_related("sync_link").annotate(open_balance=_open_balance()).order_by("name", "id")


def account_sync_status_list(*, firm: Firm, ids: list[int]) -> list[Account]:
    """The firm's accounts among ``ids`` with their sync links (one query); other firms' ids are left out."""
    accounts = with_first_sync_wait(Account.objects.for_firm(firm).filter(pk__in=ids), firm=firm)
    return list(accounts.select_related("sync_link").order_by("pk"))


def account_choices(*, firm: Firm, include: Account | None = None) -> QuerySet[Account]:
    """Accounts to pick on an invoice: the active ones, plus ``include`` even when it is archived."""
    condition = Q(is_active=True)
    if include is not None:
        condition |= Q(pk=include.pk)
    return Account.objects.for_firm(firm).filter(condition).order_by("name", "id")


def accounts_named_alike(*, account: Account) -> list[Account]:
    """The firm's other active accounts whose name is the same as QuickBooks compares names (case, spacing
    and invisible characters aside): "Smith & Co" and "Smith  &  Co" are one customer name there."""
    key = normalize_name(account.name)
    words = account.name.split()
    if not key or not words:
        return []
    # Narrowed by the longest word in the database, compared exactly here.
    candidates = (
        Account.objects.filter(firm_id=account.firm_id)
        .filter(is_active=True, name__icontains=max(words, key=len))
        .exclude(pk=account.pk)
        .order_by("name", "pk")
    )
    return [other for other in candidates if normalize_name(other.name) == key]

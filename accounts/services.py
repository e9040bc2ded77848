"""Writes to client accounts. Views and admin call these; nothing else saves an Account."""

import re
import unicodedata
from dataclasses import dataclass, fields

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from qbsync.firms.models import Firm
from qbsync.sync.kinds.accounts import account_sync_auto_safely

from .models import ACCOUNT_NAME_MAX_LENGTH, Account

ACCOUNT_NAME_EMPTY = "Enter a name for the account."
ACCOUNT_NAME_TAKEN = 'Another account of this firm is already called "{existing}" (names ignore case).'
ACCOUNT_NAME_TOO_LONG = "Keep the name to {limit} characters or fewer (it has {length})."
ACCOUNT_NAME_INVISIBLE = (
    "The name contains an invisible character, {character} {where}. Remove it: invisible characters make "
    "a name look like another one, in qbsync and in QuickBooks Online."
)

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, kw_only=True)
class AccountData:
    name: str
    kind: str = Account.Kind.COMPANY
    email: str = ""
    phone: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


def _invisible_character(name: str) -> str | None:
    """ACCOUNT_NAME_INVISIBLE for the first format character (Unicode Cf: zero-width spaces, joiners,
    bidi controls, soft hyphens) in ``name``, or None. Refused rather than stripped: a few scripts need
    a zero-width (non-)joiner, and the person who typed the name should decide what it becomes."""
    for index, ch in enumerate(name):
        if unicodedata.category(ch) == "Cf":
            before = name[:index].rstrip()[-20:]
            return ACCOUNT_NAME_INVISIBLE.format(
                character=f"U+{ord(ch):04X} {unicodedata.name(ch, 'FORMAT CHARACTER')}",
                where=f'after "{before}"' if before else "at the start",
            )
    return None


def account_name_clean(name: str) -> str:
    """Trim the name and check it is usable. Inner spacing is kept as typed: it is the firm's name.

    Stored composed (NFC): "Cafe\u0301" pasted from macOS is the same name as "Café", here and in QBO."""
    cleaned = unicodedata.normalize("NFC", name or "").strip()
    if not cleaned:
        raise ValidationError({"name": ACCOUNT_NAME_EMPTY})
    if _CONTROL_CHARS.search(cleaned):
        raise ValidationError({"name": "Remove control characters from the name."})
    if invisible := _invisible_character(cleaned):
        raise ValidationError({"name": invisible})
    if len(cleaned) > ACCOUNT_NAME_MAX_LENGTH:
        raise ValidationError(
            {"name": ACCOUNT_NAME_TOO_LONG.format(limit=ACCOUNT_NAME_MAX_LENGTH, length=len(cleaned))}
        )
    return cleaned


def account_name_check_unique(*, firm: Firm, name: str, exclude_id: int | None = None) -> None:
    folded = unicodedata.normalize("NFC", name).casefold()
    others = Account.objects.for_firm(firm).exclude(pk=exclude_id)
    if name.isascii():
        others = others.filter(name__iexact=name)
    # Non-ASCII names are compared in Python: SQLite's LOWER() folds ASCII only, and names saved before
    # they were composed may be decomposed.
    clash = next(
        (
            a.name
            for a in others.only("name").iterator()
            if unicodedata.normalize("NFC", a.name).casefold() == folded
        ),
        None,
    )
    if clash is not None:
        raise ValidationError({"name": ACCOUNT_NAME_TAKEN.format(existing=clash)})


def _save(account: Account, *, update_fields: list[str] | None = None) -> Account:
    try:
        with transaction.atomic():
            account.full_clean(exclude=["firm"], validate_unique=False, validate_constraints=False)
            account.save(update_fields=update_fields)
    except IntegrityError as exc:
        # Lost a race with another request creating the same name.
        raise ValidationError({"name": ACCOUNT_NAME_TAKEN.format(existing=account.name)}) from exc
    return account


def account_create(*, firm: Firm, data: AccountData) -> Account:
    """Create an account; with the firm's "All accounts" rule it starts syncing to QuickBooks."""
    name = account_name_clean(data.name)
    account_name_check_unique(firm=firm, name=name)
    values = {f.name: getattr(data, f.name) for f in fields(data)} | {"name": name}
    with transaction.atomic():
        account = _save(Account(firm=firm, **values))
        account_sync_auto_safely(account=account, event="created")
    return account


def account_update(*, account: Account, data: AccountData) -> Account:
    name = account_name_clean(data.name)
    account_name_check_unique(firm=account.firm, name=name, exclude_id=account.pk)
    changed = []
    for f in fields(data):
        value = name if f.name == "name" else getattr(data, f.name)
        if getattr(account, f.name) != value:
            setattr(account, f.name, value)
            changed.append(f.name)
    if not changed:
        return account
    return _save(account, update_fields=[*changed, "updated_at"])


def account_archive(*, account: Account) -> Account:
    Account.objects.filter(pk=account.pk).update(is_active=False)
    account.refresh_from_db(fields=["is_active", "updated_at"])
    return account


def account_restore(*, account: Account) -> Account:
    Account.objects.filter(pk=account.pk).update(is_active=True)
    account.refresh_from_db(fields=["is_active", "updated_at"])
    return account

"""Company preferences as the engine uses them: kept on the connection, so a push needs no read.

Intuit meters every read (engine/metering.py), and preferences rarely change. They are read when the firm
connects (connection_check), when none are kept, when QBO answers in a way a numbering change would explain
(a 6140 duplicate number: ``preferences_forget``), and at most every QBSYNC_PREFERENCES_MAX_AGE_SECONDS
otherwise (a change nothing told us about). A company's home currency never changes.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from qbsync.quickbooks.records import CompanyPreferences

from ..models import QuickBooksConnection
from . import explanations
from .causes import FailureCause
from .errors import SyncFailure


def preferences_keep(connection_id: int, preferences: CompanyPreferences) -> None:
    QuickBooksConnection.objects.filter(pk=connection_id).update(
        company_preferences=preferences.as_dict(), preferences_read_at=timezone.now()
    )


def preferences_forget(connection_id: int) -> None:
    """QBO answered as if the preferences changed: the next push reads them again (one read)."""
    QuickBooksConnection.objects.filter(pk=connection_id).update(preferences_read_at=None)


def _kept(connection: QuickBooksConnection) -> CompanyPreferences | None:
    if connection.preferences_read_at is None or not connection.company_preferences:
        return None
    max_age = timedelta(seconds=float(settings.QBSYNC_PREFERENCES_MAX_AGE_SECONDS))
    if timezone.now() - connection.preferences_read_at > max_age:
        return None
    return CompanyPreferences.from_dict(connection.company_preferences)


def preferences_of(client, connection: QuickBooksConnection) -> CompanyPreferences:
    """The company's preferences: those kept on ``connection`` (the row the push already loaded), read
    (and kept) only when there are none or they are too old."""
    kept = _kept(connection)
    if kept is not None and kept.country:
        return kept
    # The country never changes: kept from the last read, read once more (CompanyInfo) only if missing.
    country = str((connection.company_preferences or {}).get("country") or "")
    if not country:
        country = str(client.company_info().get("Country") or "")
    value = client.company_preferences(country=country)
    preferences_keep(connection.pk, value)
    connection.company_preferences = value.as_dict()  # the draft built next reads them from the row
    return value


def foreign_currency(preferences: CompanyPreferences | None, firm_currency: str) -> str:
    """The currency records of this firm carry in this company (CurrencyRef): the firm's, when it is not
    the company's home currency and the company keeps several currencies; "" when they go in the home
    currency (QBO's default, sent without a CurrencyRef)."""
    if preferences is None or not preferences.multi_currency:
        return ""
    currency = firm_currency.upper()
    return currency if preferences.home_currency and currency != preferences.home_currency else ""


def kept_foreign_currency(connection: QuickBooksConnection, firm_currency: str) -> str:
    """foreign_currency from the preferences kept on ``connection`` (no read)."""
    kept = connection.company_preferences
    return foreign_currency(CompanyPreferences.from_dict(kept) if kept else None, firm_currency)


def currency_refusal(preferences: CompanyPreferences, firm_currency: str) -> SyncFailure | None:
    """Why amounts in the firm's currency cannot go to this company, or None when they can.

    Without multicurrency, QBO books every amount in its home currency: a firm keeping another currency
    would see 100.00 EUR become 100.00 USD, so such records are refused before anything is sent. With
    multicurrency on they go in the firm's currency (foreign_currency). A company that does not say its
    home currency is not second-guessed."""
    home = preferences.home_currency
    if not home or home == firm_currency.upper() or preferences.multi_currency:
        return None
    return SyncFailure(
        FailureCause.CURRENCY_MISMATCH,
        explanations.CURRENCY_MISMATCH.format(firm_currency=firm_currency.upper(), home_currency=home),
    )

"""Company preferences as the engine reads them: through a short per-process cache per company (realm),
since QBO meters reads and preferences rarely change."""

from __future__ import annotations

import time

from qbsync.quickbooks.records import CompanyPreferences

from . import explanations
from .causes import FailureCause
from .errors import SyncFailure

# Preferences are read at most this often per company. A numbering change shows up at once as a 6140 or a
# QBO-assigned number, both handled; a company's home currency never changes.
PREFERENCES_TTL = 300.0
_preferences: dict[str, tuple[float, CompanyPreferences]] = {}


def preferences_of(client) -> CompanyPreferences:
    """The company's preferences, read through the cache."""
    now = time.monotonic()
    cached = _preferences.get(client.realm_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    value = client.company_preferences()
    _preferences[client.realm_id] = (now + PREFERENCES_TTL, value)
    return value


def currency_refusal(preferences: CompanyPreferences, firm_currency: str) -> SyncFailure | None:
    """Why amounts in the firm's currency cannot go to this company, or None when they can.

    Amounts are sent without a currency, so QBO books them in its home currency: a firm keeping another
    currency would see 100.00 EUR become 100.00 USD. Until currencies are handled, such records are refused
    before anything is sent. A company that does not say its home currency is not second-guessed."""
    home = preferences.home_currency
    if not home or home == firm_currency.upper():
        return None
    return SyncFailure(
        FailureCause.CURRENCY_MISMATCH,
        explanations.CURRENCY_MISMATCH.format(firm_currency=firm_currency.upper(), home_currency=home),
    )

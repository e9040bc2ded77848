"""Writes to the firm itself: its settings. What else a change must respect is decided by the apps above
before they call these (invoices: a currency that money is already recorded in stays)."""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from .models import Firm, Region

FIRM_REGION_UNKNOWN = "Choose the firm's region among those offered."
FIRM_CURRENCY_FORMAT = (
    "Enter the currency as its three-letter ISO 4217 code, for example USD, GBP, CAD, AUD or EUR."
)
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, kw_only=True)
class FirmSettingsData:
    region: str
    currency: str


def firm_settings_validate(*, data: FirmSettingsData) -> FirmSettingsData:
    """The settings as they will be kept (the currency code in capitals); ValidationError by field."""
    errors: dict[str, list[str]] = {}
    region = (data.region or "").strip()
    currency = (data.currency or "").strip().upper()
    if region not in Region.values:
        errors["region"] = [FIRM_REGION_UNKNOWN]
    if not _CURRENCY_CODE.match(currency):
        errors["currency"] = [FIRM_CURRENCY_FORMAT]
    if errors:
        raise ValidationError(errors)
    return FirmSettingsData(region=region, currency=currency)


def firm_settings_update(*, firm: Firm, data: FirmSettingsData) -> Firm:
    """Set the firm's region and currency. Callers check first that the currency may change."""
    cleaned = firm_settings_validate(data=data)
    firm.region = cleaned.region
    firm.currency = cleaned.currency
    firm.save(update_fields=["region", "currency", "updated_at"])
    return firm

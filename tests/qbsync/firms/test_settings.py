"""The firm's own settings: its region (with a default from the default currency) and currency."""

import pytest
from django.core.exceptions import ValidationError

from qbsync.firms.models import Firm, default_region, region_for_currency
from qbsync.firms.permissions import can_manage_firm_settings
from qbsync.firms.services import FirmSettingsData, firm_settings_update
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("currency", "region"),
    [("USD", "US"), ("gbp", "UK"), ("CAD", "CA"), ("AUD", "AU"), ("EUR", "OTHER"), ("", "OTHER")],
)
def test_the_region_a_currency_suggests(currency, region):
    assert region_for_currency(currency) == region


def test_a_new_firm_takes_the_region_of_the_default_currency(settings, firm):
    assert firm.region == Firm.Region.US
    settings.DEFAULT_FIRM_CURRENCY = "AUD"

    assert default_region() == Firm.Region.AU


def test_firm_settings_update_writes_region_and_currency_in_capitals(firm):
    firm_settings_update(firm=firm, data=FirmSettingsData(region="CA", currency="cad"))

    firm.refresh_from_db()
    assert (firm.region, firm.currency) == ("CA", "CAD")


def test_firm_settings_update_refuses_an_unknown_region_and_a_malformed_currency(firm):
    with pytest.raises(ValidationError) as exc:
        firm_settings_update(firm=firm, data=FirmSettingsData(region="FR", currency="EURO"))

    assert set(exc.value.message_dict) == {"region", "currency"}
    firm.refresh_from_db()
    assert (firm.region, firm.currency) == ("US", "USD")


@pytest.mark.parametrize(("role", "allowed"), [("owner", True), ("admin", True), ("staff", False)])
def test_owners_and_admins_manage_the_firms_settings(firm, role, allowed):
    assert can_manage_firm_settings(UserFactory(firm=firm, role=role)) is allowed
    assert can_manage_firm_settings(UserFactory(firm=None, role="owner")) is False

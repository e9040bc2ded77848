"""The database itself enforces the name rules, whatever code writes the row (run on PostgreSQL in CI)."""

import pytest
from django.db import IntegrityError, transaction

from accounts.models import Account
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_database_rejects_a_case_variant_of_a_name_in_the_same_firm(firm):
    AccountFactory(firm=firm, name="Acme LLC")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(firm=firm, name="ACME LLC")


def test_database_allows_the_same_name_in_two_firms(firm, other_firm):
    Account.objects.create(firm=firm, name="Acme LLC")
    Account.objects.create(firm=other_firm, name="Acme LLC")
    assert Account.objects.filter(name="Acme LLC").count() == 2


@pytest.mark.parametrize("name", ["", " Padded", "Padded "])
def test_database_rejects_empty_or_untrimmed_names(firm, name):
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(firm=firm, name=name)


def test_database_folds_unicode_case_on_postgres(firm, require_postgres):
    Account.objects.create(firm=firm, name="Zoë Müller")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(firm=firm, name="ZOË MÜLLER")


def test_address_lines_skip_blank_parts():
    account = Account(address_line1="1 Main St", city="Springfield", region="IL", postal_code="62701")
    assert account.address_lines == ["1 Main St", "Springfield IL 62701"]

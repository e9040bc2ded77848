import pytest

from tests.factories import AccountFactory


@pytest.mark.django_db
def test_factories_build_a_firm_account():
    account = AccountFactory()
    assert account.firm.pk

import pytest
from django.core.exceptions import ValidationError

from accounts.forms import AccountForm
from accounts.models import Account
from accounts.services import ACCOUNT_NAME_EMPTY, AccountData
from qbsync.core.forms import add_service_errors
from tests.factories import AccountFactory


def test_account_form_builds_the_service_data():
    form = AccountForm(
        {"name": " Acme ", "kind": "individual", "email": "a@acme.test", "city": "Springfield"}
    )

    assert form.is_valid(), form.errors
    data = form.to_data()
    assert isinstance(data, AccountData)
    # The service trims; the form passes the name as typed.
    assert (data.name, data.kind, data.email, data.city) == (
        " Acme ",
        "individual",
        "a@acme.test",
        "Springfield",
    )


def test_account_form_requires_a_name_in_the_services_words():
    form = AccountForm({"name": "", "kind": "company"})

    assert form.errors["name"] == [ACCOUNT_NAME_EMPTY]


def test_account_form_rejects_an_unknown_kind_and_a_bad_email():
    form = AccountForm({"name": "Acme", "kind": "robot", "email": "nope"})

    assert set(form.errors) == {"kind", "email"}


@pytest.mark.django_db
def test_account_form_initial_for_an_account():
    account = AccountFactory(name="Acme", phone="555")

    initial = AccountForm.initial_for(account)

    assert initial["name"] == "Acme"
    assert initial["phone"] == "555"
    assert set(initial) == set(AccountForm.base_fields)


def test_add_service_errors_puts_keys_on_fields_and_the_rest_on_top():
    form = AccountForm({"name": "Acme", "kind": Account.Kind.COMPANY})
    assert form.is_valid()

    add_service_errors(form, ValidationError({"name": "Taken.", "firm": "Wrong firm."}))

    assert form.errors["name"] == ["Taken."]
    assert form.non_field_errors() == ["Wrong firm."]


def test_add_service_errors_takes_a_plain_message():
    form = AccountForm({"name": "Acme", "kind": Account.Kind.COMPANY})
    assert form.is_valid()

    add_service_errors(form, ValidationError("Something went wrong."))

    assert form.non_field_errors() == ["Something went wrong."]

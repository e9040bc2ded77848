import pytest
from django.core.exceptions import ValidationError

from accounts.models import Account
from accounts.services import (
    ACCOUNT_NAME_EMPTY,
    AccountData,
    account_archive,
    account_create,
    account_restore,
    account_update,
)
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_account_create_trims_the_name_and_keeps_inner_spacing(firm):
    account = account_create(firm=firm, data=AccountData(name="  Smith  &  Co  ", email="a@b.test"))
    assert account.name == "Smith  &  Co"
    assert Account.objects.get(pk=account.pk).email == "a@b.test"


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_account_create_rejects_an_empty_name(firm, name):
    with pytest.raises(ValidationError) as exc:
        account_create(firm=firm, data=AccountData(name=name))
    assert exc.value.message_dict == {"name": [ACCOUNT_NAME_EMPTY]}
    assert not Account.objects.exists()


def test_account_create_rejects_a_control_character(firm):
    with pytest.raises(ValidationError) as exc:
        account_create(firm=firm, data=AccountData(name="Bad\x00Name"))
    assert "control characters" in exc.value.message_dict["name"][0]


@pytest.mark.parametrize(
    ("existing", "new"),
    [("Acme LLC", "ACME llc"), ("Zoë Müller", "ZOË MÜLLER"), ("O'Brien & Sons", "o'brien & sons ")],
)
def test_account_names_are_unique_per_firm_ignoring_case(firm, existing, new):
    AccountFactory(firm=firm, name=existing)
    with pytest.raises(ValidationError) as exc:
        account_create(firm=firm, data=AccountData(name=new))
    assert existing in exc.value.message_dict["name"][0]
    assert Account.objects.for_firm(firm).count() == 1


def test_the_same_name_is_fine_in_another_firm(firm, other_firm):
    AccountFactory(firm=other_firm, name="Acme LLC")
    assert account_create(firm=firm, data=AccountData(name="Acme LLC")).pk


def test_names_differing_only_in_inner_spacing_are_distinct_accounts(firm):
    account_create(firm=firm, data=AccountData(name="Smith & Co"))
    assert account_create(firm=firm, data=AccountData(name="Smith  & Co")).pk


def test_account_update_may_keep_its_own_name_with_another_case(firm):
    account = AccountFactory(firm=firm, name="Acme LLC")
    updated = account_update(account=account, data=AccountData(name="ACME LLC", kind=Account.Kind.COMPANY))
    assert updated.name == "ACME LLC"


def test_account_update_rejects_another_accounts_name(firm):
    AccountFactory(firm=firm, name="Taken Ltd")
    account = AccountFactory(firm=firm, name="Free Ltd")
    with pytest.raises(ValidationError):
        account_update(account=account, data=AccountData(name="taken ltd"))
    account.refresh_from_db()
    assert account.name == "Free Ltd"


def test_account_update_rejects_a_bad_email(firm):
    account = AccountFactory(firm=firm)
    with pytest.raises(ValidationError) as exc:
        account_update(account=account, data=AccountData(name=account.name, email="not-an-email"))
    assert "email" in exc.value.message_dict


def test_archive_and_restore(firm):
    account = AccountFactory(firm=firm)
    assert account_archive(account=account).is_active is False
    assert account_restore(account=account).is_active is True


# Issue 13, items 4 and 5: one spelling per name. Decomposed letters are stored composed (NFC), and
# invisible format characters (Unicode Cf) are refused, naming the character.


def test_a_decomposed_name_is_stored_composed(firm):
    account = account_create(firm=firm, data=AccountData(name="Cafe\u0301 Bleu"))
    assert account.name == "Café Bleu"
    assert Account.objects.get(pk=account.pk).name == "Café Bleu"
    updated = account_update(account=account, data=AccountData(name="Cafe\u0301 Rouge"))
    assert Account.objects.get(pk=updated.pk).name == "Café Rouge"


@pytest.mark.parametrize(("existing", "new"), [("Café", "CAFE\u0301"), ("Cafe\u0301", "café")])
def test_a_name_in_the_other_unicode_form_is_the_same_name(firm, existing, new):
    AccountFactory(firm=firm, name=existing)  # a name saved before names were composed, too
    with pytest.raises(ValidationError) as exc:
        account_create(firm=firm, data=AccountData(name=new))
    assert "already called" in exc.value.message_dict["name"][0]
    assert Account.objects.filter(firm=firm).count() == 1


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("Acme\u200bCorp", 'U+200B ZERO WIDTH SPACE after "Acme"'),
        ("\u202eAcme", "U+202E RIGHT-TO-LEFT OVERRIDE at the start"),
        ("Acme\u00ad Corp", 'U+00AD SOFT HYPHEN after "Acme"'),
        ("Acme\ufeff", 'U+FEFF ZERO WIDTH NO-BREAK SPACE after "Acme"'),
    ],
)
def test_an_invisible_format_character_is_refused_naming_it(firm, name, named):
    with pytest.raises(ValidationError) as exc:
        account_create(firm=firm, data=AccountData(name=name))
    [message] = exc.value.message_dict["name"]
    assert named in message
    assert "invisible" in message
    assert not Account.objects.exists()

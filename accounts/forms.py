"""Forms parse and shape input; the services decide what is allowed and raise the errors we show."""

from django import forms

from qbsync.sync.kinds.accounts import account_create_name_proposal
from qbsync.sync.models import AccountSyncLink

from .models import ACCOUNT_NAME_MAX_LENGTH, Account
from .services import ACCOUNT_NAME_EMPTY, AccountData


class AccountForm(forms.Form):
    # Not stripped here: the service trims and explains an empty name in its own words.
    name = forms.CharField(strip=False, error_messages={"required": ACCOUNT_NAME_EMPTY})
    kind = forms.ChoiceField(choices=Account.Kind.choices, initial=Account.Kind.COMPANY)
    email = forms.EmailField(required=False)
    phone = forms.CharField(required=False, max_length=40)
    address_line1 = forms.CharField(label="Address", required=False, max_length=200)
    address_line2 = forms.CharField(label="Address line 2", required=False, max_length=200)
    city = forms.CharField(required=False, max_length=100)
    region = forms.CharField(label="State or region", required=False, max_length=100)
    postal_code = forms.CharField(required=False, max_length=20)
    country = forms.CharField(required=False, max_length=100)

    @classmethod
    def initial_for(cls, account: Account) -> dict:
        return {name: getattr(account, name) for name in cls.base_fields}

    def to_data(self) -> AccountData:
        return AccountData(**self.cleaned_data)


class AccountSyncRequestForm(forms.Form):
    """One form behind the three ways of syncing an account: by name, a picked customer, or a new one.

    The sync service checks the choice and the name and explains what is wrong in its own words."""

    mode = forms.ChoiceField(choices=AccountSyncLink.RequestMode.choices, widget=forms.HiddenInput)
    customer_id = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput)
    display_name = forms.CharField(
        label="Customer name in QuickBooks Online",
        required=False,
        strip=False,
        max_length=ACCOUNT_NAME_MAX_LENGTH,
        help_text="Colons, tabs and line breaks are not allowed; at most 500 characters.",
    )

    @classmethod
    def create_for(cls, account: Account) -> "AccountSyncRequestForm":
        """The "create a new customer" form, named as the last failure proposed or else as the account."""
        return cls(
            initial={
                "mode": AccountSyncLink.RequestMode.CREATE,
                "display_name": account_create_name_proposal(account),
            }
        )

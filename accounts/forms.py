"""Forms parse and shape input; the services decide what is allowed and raise the errors we show."""

from django import forms

from .models import Account
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

"""``{% same_name_accounts account link %}``: when an account failed to sync because another account has
the same name as QuickBooks compares names, the other accounts, linked, with their spacing shown (names
that differ only in spacing look identical in HTML). Renders nothing otherwise; a query only then."""

from django import template

from accounts.models import Account
from accounts.selectors import accounts_named_alike
from qbsync.sync.engine.causes import FailureCause

register = template.Library()


@register.inclusion_tag("accounts/_same_name_accounts.html")
def same_name_accounts(account: Account, link) -> dict:
    shows = link is not None and link.error_cause == FailureCause.TWO_ACCOUNTS_ONE_NAME
    return {"account": account, "others": accounts_named_alike(account=account) if shows else []}

"""Plain-language explanations of sync failures, each with what the firm admin can do about it."""

from qbsync.quickbooks.customers import DISPLAY_NAME_MAX_LENGTH, alternative_customer_name

SYNC_MENU = 'Use "Sync Account to QuickBooks" in the account\'s Info tab'
SYNC_MENU_MID = 'use "Sync Account to QuickBooks" in the account\'s Info tab'

# The menu phrase fits where a text is read away from the account (a list, the errors page). On the account's
# own pages the same explanation is said their way (``said_on``), so each text keeps one home.
SYNC_MENU_ON = {
    "info_tab": (
        'Use "Sync Account to QuickBooks" in the "⋯" menu beside the status',
        'use "Sync Account to QuickBooks" in the "⋯" menu beside the status',
    ),
    "sync_page": ("Use this page", "use this page"),
}

NAME_USED_BY_OTHER = (
    'QuickBooks Online already uses the name "{name}" for a {entity}. A customer cannot share a name with a '
    "vendor or employee. Rename the account, or {menu} to pick an existing customer or to create one under "
    'another name (for example "{proposed}").'
)
NAME_LINKED_ELSEWHERE = (
    'The QuickBooks customer "{name}" is already linked to the account "{other}". {menu} to pick another '
    "customer or to create a new one under another name."
)
SEVERAL_CUSTOMERS = (
    'QuickBooks Online has {count} customers named like "{name}" ({names}). {menu} to pick the right one.'
)
BAD_CHARACTERS = (
    "QuickBooks Online does not allow colons, tabs or line breaks in customer names. {menu} and create the "
    'customer as "{proposed}", or rename the account.'
)
TOO_LONG = (
    "QuickBooks Online allows at most {limit} characters in a customer name; this one has {length}. "
    '{menu} and create the customer under a shorter name (suggested: "{proposed}"), or rename the account.'
)
PICKED_INACTIVE = (
    'The chosen QuickBooks customer "{name}" is inactive (deleted) in QuickBooks Online. '
    "Make it active there, or pick or create another customer."
)
PICKED_MISSING = "The chosen QuickBooks customer no longer exists. Pick or create another customer."
CREATE_WOULD_DUPLICATE = (
    'A QuickBooks customer named "{name}" already exists. Pick it instead of creating a second one, or '
    "create the new customer under another name."
)
CONNECTION = (
    "QuickBooks Online needs to be reconnected by the firm's owner (Settings > Integrations > QuickBooks). "
    "It syncs again by itself after reconnecting."
)
NOT_CONNECTED = "QuickBooks Online is not connected. The firm's owner can connect it in Settings."
GAVE_UP = (
    "QuickBooks Online did not answer successfully after {attempts} tries, so qbsync stopped trying for now. "
    "Nothing was duplicated. Try again later: Retry on the QuickBooks errors page, or sync it again from "
    "its page."
)
REFUSED = {
    "customer": "QuickBooks Online refused the customer: {message}{detail}. Correct the account's details "
    "and sync again.",
    "invoice": "QuickBooks Online refused the invoice: {message}{detail}. Correct the invoice (its lines, "
    "dates or items) and sync it again.",
    "payment": "QuickBooks Online refused the payment: {message}{detail}. Correct the payment (its amount, "
    "date or allocations) and sync it again.",
}
DELETED_IN_QBO = "The linked customer was deleted or made inactive in QuickBooks Online."


def name_used_by_other(*, name: str, entity: str) -> str:
    return NAME_USED_BY_OTHER.format(
        name=name, entity=entity.lower(), menu=SYNC_MENU_MID, proposed=alternative_customer_name(name)
    )


def name_linked_elsewhere(*, name: str, other: str) -> str:
    return NAME_LINKED_ELSEWHERE.format(name=name, other=other, menu=SYNC_MENU)


def several_customers(*, name: str, names: list[str]) -> str:
    return SEVERAL_CUSTOMERS.format(
        count=len(names), name=name, names=", ".join(f'"{n}"' for n in names[:5]), menu=SYNC_MENU
    )


def bad_characters(*, proposed: str) -> str:
    return BAD_CHARACTERS.format(proposed=proposed, menu=SYNC_MENU)


def too_long(*, length: int, proposed: str) -> str:
    return TOO_LONG.format(limit=DISPLAY_NAME_MAX_LENGTH, length=length, proposed=proposed, menu=SYNC_MENU)


def refused(*, message: str, detail: str, record: str = "customer") -> str:
    """QBO's refusal in words, with what to correct: ``record`` is "customer", "invoice" or "payment"."""
    return REFUSED[record].format(message=message.rstrip("."), detail=f" ({detail})" if detail else "")


CURRENCY_MISMATCH = (
    "This firm keeps its amounts in {firm_currency}, but the connected QuickBooks Online company's home "
    "currency is {home_currency}: QuickBooks would book them as {home_currency}, so nothing was sent. "
    "Invoices and payments sync once the firm's currency and the company's home currency are the same, "
    "or once multicurrency is turned on in QuickBooks Online (its Advanced settings, Currency; it cannot be "
    "turned off again), when they go in {firm_currency}; then retry."
)
CUSTOMER_OTHER_CURRENCY = (
    'QuickBooks Online has a customer named "{name}", but its currency is {theirs}, and this firm\'s '
    "amounts are in {ours}: a customer's currency cannot change in QuickBooks, so it was not linked. "
    + SYNC_MENU
    + ' to create a new customer in {ours} under another name (for example "{proposed}"), or to pick '
    "another customer."
)


def said_on(text: str, place: str) -> str:
    """An explanation as read on the account's own pages (``place``: "info_tab" or "sync_page"): not
    "in the account's Info tab" where the reader already is. Works on texts stored before too."""
    menu, menu_mid = SYNC_MENU_ON[place]
    return text.replace(SYNC_MENU, menu).replace(SYNC_MENU_MID, menu_mid)


# Tax (issue 16): one home for what each tax failure says, whatever record kind meets it.
TAX_UNMAPPED = (
    "The QuickBooks company needs a tax code for {what}, and none is chosen, so nothing was sent. Map this "
    "tax rate on the QuickBooks page (Tax codes); the invoice goes again by itself once it is mapped."
)
TAX_UNMAPPED_UNTAXED = "the lines without a tax rate"
TAX_NO_SALES_TAX_IN_COMPANY = (
    "This invoice charges {tax} of tax, but the connected QuickBooks Online company has no sales tax set "
    "up, so QuickBooks would book it without the tax and its total would be {without} instead of {total}. "
    "Nothing was sent. Turn sales tax on in QuickBooks Online, or remove the tax rate from the invoice "
    "here; then retry."
)
TAX_SEVERAL_RATES_US = (
    "This invoice charges tax at more than one rate ({rates}), but a US QuickBooks company applies one tax "
    "code (or group) to all of an invoice's taxable lines, so nothing was sent. Use one rate on the "
    "invoice (a combined rate for several taxes), then retry."
)
TAX_TOTAL_MISMATCH = (
    "QuickBooks Online booked this invoice for {theirs} (tax {their_tax}), but the client was billed "
    "{ours} (tax {our_tax}). {cause} The invoice is in QuickBooks; once corrected, retry and it is updated "
    "there."
)
TAX_MISMATCH_CAUSES = {
    "us_ast": "QuickBooks computed the sales tax itself from the customer's address (automated sales tax) "
    "and did not take the tax billed here.",
    "us_manual": "The tax code mapped to the invoice's rate charges another percentage in QuickBooks: map "
    "a code with the same rate on the QuickBooks page, or correct the code there.",
    "global": "QuickBooks computed the tax differently (a tax code mapped to a rate with other "
    "percentages, or rounding): check the mapping on the QuickBooks page.",
    "us_no_tax": "QuickBooks added or left out an amount (a discount or a shipping line set up there).",
}

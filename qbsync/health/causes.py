"""What each cause of a Failed record means and how to fix it, in words a firm admin can act on, and which
fixes the errors page offers for it. Causes are the links' ``error_cause`` values (FailureCause); every
member has a guide here."""

from dataclasses import dataclass

from qbsync.sync.engine.causes import FailureCause

RETRY = "retry"
RELINK = "relink"  # pick another existing QuickBooks customer (accounts only)
CREATE = "create"  # create the customer under another name (accounts only)
SKIP = "skip"


@dataclass(frozen=True)
class CauseGuide:
    title: str
    what: str
    fix: str
    actions: tuple[str, ...]


NAME_FIX = (
    "Create the customer under another name (for example with “(client)” added), link an existing "
    "customer instead, or rename the account and try again."
)

GUIDES: dict[FailureCause, CauseGuide] = {
    FailureCause.NAME_USED_BY_OTHER: CauseGuide(
        "Name used by a vendor or employee",
        "QuickBooks Online already uses the account's name for a vendor or employee, and a customer cannot "
        "share a name with them.",
        NAME_FIX,
        (CREATE, RELINK, SKIP),
    ),
    FailureCause.DUPLICATE_NAME: CauseGuide(
        "Duplicate name in QuickBooks",
        "QuickBooks Online refused the customer because another record already has that name.",
        NAME_FIX,
        (CREATE, RELINK, RETRY, SKIP),
    ),
    FailureCause.CREATE_WOULD_DUPLICATE: CauseGuide(
        "A customer of that name exists",
        "You asked for a new customer, but QuickBooks Online already has an active customer of that name.",
        "Link the existing customer, or create the new one under another name.",
        (RELINK, CREATE, SKIP),
    ),
    FailureCause.LINKED_ELSEWHERE: CauseGuide(
        "Customer already linked to another account",
        "The matching QuickBooks customer is already linked to another account of the firm; two accounts "
        "never share one customer.",
        "Link another customer, or create a new one under another name.",
        (RELINK, CREATE, SKIP),
    ),
    FailureCause.SEVERAL_MATCHES: CauseGuide(
        "Several customers of that name",
        "QuickBooks Online has more than one active customer named like the account, so qbsync cannot tell "
        "which one is meant.",
        "Pick the right customer.",
        (RELINK, SKIP),
    ),
    FailureCause.BAD_CHARACTERS: CauseGuide(
        "Name has characters QuickBooks does not allow",
        "QuickBooks Online does not allow colons, tabs or line breaks in customer names.",
        "Create the customer under the suggested name, or rename the account.",
        (CREATE, RELINK, SKIP),
    ),
    FailureCause.TOO_LONG: CauseGuide(
        "Name too long for QuickBooks",
        "QuickBooks Online allows at most 500 characters in a customer name.",
        "Create the customer under the suggested shorter name, or rename the account.",
        (CREATE, RELINK, SKIP),
    ),
    FailureCause.PICKED_INACTIVE: CauseGuide(
        "Chosen customer is inactive",
        "The QuickBooks customer chosen for the account is inactive (deleted) in QuickBooks Online.",
        "Make it active in QuickBooks Online and retry, or link or create another customer.",
        (RETRY, RELINK, CREATE, SKIP),
    ),
    FailureCause.PICKED_MISSING: CauseGuide(
        "Chosen customer no longer exists",
        "The QuickBooks customer chosen for the account was not found in QuickBooks Online.",
        "Link or create another customer.",
        (RELINK, CREATE, SKIP),
    ),
    FailureCause.CUSTOMER_DELETED_IN_QBO: CauseGuide(
        "Customer deleted in QuickBooks",
        "The QuickBooks customer this account was linked to was deleted in QuickBooks Online.",
        "Sync the account again to create a new customer, or link another one.",
        (RETRY, RELINK, CREATE, SKIP),
    ),
    FailureCause.CUSTOMER_INACTIVE_IN_QBO: CauseGuide(
        "Customer made inactive in QuickBooks",
        "The QuickBooks customer this account was linked to was made inactive in QuickBooks Online.",
        "Make it active in QuickBooks Online and sync the account again, or link or create another customer.",
        (RETRY, RELINK, CREATE, SKIP),
    ),
    FailureCause.TWO_ACCOUNTS_ONE_NAME: CauseGuide(
        "Two accounts with one name",
        "Another account of the firm has the same name as QuickBooks compares names, and QuickBooks "
        "Online allows one customer per name.",
        "Rename one of the accounts and retry, or create this account's customer under another name.",
        (CREATE, RELINK, RETRY, SKIP),
    ),
    FailureCause.CHANGED_SINCE_PREVIEW: CauseGuide(
        "Customer changed since the preview",
        "The bulk sync preview matched this account to a QuickBooks customer that was changed or made "
        "inactive in QuickBooks Online before the sync ran.",
        "Retry to decide afresh, or link or create another customer.",
        (RETRY, RELINK, CREATE, SKIP),
    ),
    FailureCause.MERGED_CUSTOMER_LINKED_ELSEWHERE: CauseGuide(
        "Customers merged in QuickBooks",
        "The account's customer was merged into another QuickBooks customer that is already linked to a "
        "different account.",
        "Link this account to another customer or create a new one; or unsync one of the two accounts.",
        (RELINK, CREATE, SKIP),
    ),
    FailureCause.CHANGED_IN_QBO: CauseGuide(
        "Changed in QuickBooks",
        "Someone deleted, voided or changed this record directly in QuickBooks Online while it is active "
        "here.",
        "Retry to push qbsync's version to QuickBooks again, or skip it to keep QuickBooks' version.",
        (RETRY, SKIP),
    ),
    FailureCause.DUPLICATE_DOC_NUMBER: CauseGuide(
        "Duplicate invoice number",
        "QuickBooks Online already has an invoice with this number.",
        "Give the invoice another number here (or let QuickBooks number invoices itself), then retry.",
        (RETRY, SKIP),
    ),
    FailureCause.DOC_NUMBER_TOO_LONG: CauseGuide(
        "Invoice number too long",
        "QuickBooks Online allows invoice numbers of at most 21 characters.",
        "Renumber the invoice, then retry.",
        (RETRY, SKIP),
    ),
    FailureCause.NO_ITEM: CauseGuide(
        "No QuickBooks item for invoice lines",
        "Invoice lines need a QuickBooks item, and none is chosen.",
        "Choose a default item (or an item per service) on the QuickBooks settings page, then retry.",
        (RETRY, SKIP),
    ),
    FailureCause.ITEM_INACTIVE: CauseGuide(
        "QuickBooks item inactive",
        "An item the invoice lines use is inactive or deleted in QuickBooks Online.",
        "Make the item active in QuickBooks Online or choose another on the QuickBooks settings page, "
        "then retry.",
        (RETRY, SKIP),
    ),
    FailureCause.REFERENCE_INACTIVE: CauseGuide(
        "Customer or invoice inactive in QuickBooks",
        "Something the payment uses — its customer or an invoice it pays — is inactive or deleted in "
        "QuickBooks Online.",
        "Make it active again in QuickBooks Online (or sync the account again to link another customer), "
        "then retry.",
        (RETRY, SKIP),
    ),
    FailureCause.MOVE_REFUSED: CauseGuide(
        "Could not follow the account to its new customer",
        "The account was linked to another QuickBooks customer, and QuickBooks Online refused to move this "
        "record's copy there, usually because a payment entered in QuickBooks is applied to it.",
        "Remove or move that payment in QuickBooks Online, then retry.",
        (RETRY, SKIP),
    ),
    FailureCause.CURRENCY_MISMATCH: CauseGuide(
        "Currency differs from QuickBooks",
        "The firm keeps its amounts in a currency other than the QuickBooks company's home currency, so "
        "QuickBooks would book them in the wrong currency. Nothing was sent.",
        "Connect the QuickBooks company kept in the firm's currency (or have the firm's currency corrected), "
        "then retry.",
        (RETRY, SKIP),
    ),
    FailureCause.CUSTOMER_OTHER_CURRENCY: CauseGuide(
        "Customer in another currency",
        "The QuickBooks customer of this name (or the one picked) keeps another currency than the firm, and "
        "a customer's currency cannot change in QuickBooks.",
        "Create a new customer under another name from the account's Sync page, or pick another customer.",
        (RETRY, SKIP),
    ),
    FailureCause.TAX_UNMAPPED: CauseGuide(
        "Tax rate not mapped",
        "The invoice uses a tax rate (or has lines without one) that has no QuickBooks tax code chosen, and "
        "QuickBooks needs one. Nothing was sent.",
        "Map the tax rate on the QuickBooks page; the invoices waiting for it go again by themselves.",
        (RETRY, SKIP),
    ),
    FailureCause.TAX_NOT_IN_COMPANY: CauseGuide(
        "Tax the QuickBooks company cannot take",
        "The invoice charges tax in a way the QuickBooks company is not set up for (no sales tax there, or "
        "more than one sales tax rate on one invoice of a US company). Nothing was sent.",
        "Set sales tax up in QuickBooks Online, or change the invoice's tax rates here, then retry.",
        (RETRY, SKIP),
    ),
    FailureCause.TAX_TOTAL_MISMATCH: CauseGuide(
        "Total differs in QuickBooks",
        "QuickBooks booked the invoice with another total than the client was billed, usually because it "
        "computed the tax itself (automated sales tax, another rate on the tax code, rounding).",
        "Map the tax rate to a code with the same rates (or correct the code in QuickBooks Online), then "
        "retry: the invoice is updated in QuickBooks.",
        (RETRY, SKIP),
    ),
    FailureCause.CONNECTION: CauseGuide(
        "QuickBooks connection",
        "QuickBooks Online was not connected, or the connection stopped working, when these records were "
        "sent.",
        "The firm's owner reconnects on the QuickBooks settings page; then retry the group.",
        (RETRY,),
    ),
    FailureCause.UNAVAILABLE: CauseGuide(
        "QuickBooks unavailable",
        "QuickBooks Online did not answer successfully after several tries. Nothing was duplicated.",
        "Retry later.",
        (RETRY, SKIP),
    ),
    FailureCause.REFUSED: CauseGuide(
        "Refused by QuickBooks",
        "QuickBooks Online refused the record; each record below says why.",
        "Correct what the message names, then retry.",
        (RETRY, SKIP),
    ),
}


def guide_for(cause: str, *, fallback_explanation: str = "") -> CauseGuide:
    """The guide of ``cause`` (a FailureCause or its stored string); a cause no release knows (an old row)
    is explained by the record's own explanation."""
    if cause in GUIDES:
        return GUIDES[cause]
    return CauseGuide(
        title=cause.replace("_", " ").capitalize() if cause else "Other problem",
        what=fallback_explanation or "The last sync of these records failed.",
        fix="Read each record's explanation below, fix what it names, then retry.",
        actions=(RETRY, SKIP),
    )

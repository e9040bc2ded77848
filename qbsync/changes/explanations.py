"""Plain words for what changed in QuickBooks Online and what the firm can do about it."""

CUSTOMER_DELETED = (
    'The linked QuickBooks customer "{name}" was deleted in QuickBooks Online. Sync the account again to '
    "create a new customer or to pick another one."
)
CUSTOMER_INACTIVE = (
    'The linked QuickBooks customer "{name}" was made inactive in QuickBooks Online. Make it active there '
    "and sync the account again, or sync the account to pick or create another customer."
)
CUSTOMER_RENAMED = 'Renamed in QuickBooks Online from "{old}" to "{new}"; the account here keeps its name.'
CUSTOMER_MERGED = (
    'In QuickBooks Online the customer "{old}" was merged into "{new}" (Id {new_id}); this account now '
    "syncs to it."
)
MERGED_LINKED_ELSEWHERE = (
    'In QuickBooks Online the customer "{old}" was merged into "{new}", which is already linked to the '
    'account "{other}". Two accounts cannot share one customer: unsync one of them, or use "Sync Account '
    "to QuickBooks\" in this account's Info tab to pick or create another customer."
)
INVOICE_DELETED = (
    "Changed in QuickBooks Online: invoice {number} was deleted there, but it is still active here. "
    "Re-push it to create it in QuickBooks Online again, or accept the change to stop syncing it."
)
INVOICE_VOIDED = (
    "Changed in QuickBooks Online: invoice {number} was voided there (its amounts are zero), but it is "
    "still active here. Re-push it to create it again in QuickBooks Online (the voided one stays there "
    "as a record), or accept the change to stop syncing it (void it here too if it should be void)."
)
INVOICE_CHANGE_ACCEPTED = "changed in QuickBooks Online ({what}); the change was accepted by {who}"
PAID_IN_QBO = (
    "Paid in QuickBooks Online: {amount} on {date} (QuickBooks payment Id {payment_id}), recorded there "
    "and not by qbsync. It is shown here and never sent back."
)
PAYMENT_REMOVED_IN_QBO = (
    "The payment of {amount} recorded in QuickBooks Online (Id {payment_id}) was voided or deleted there."
)
CDC_GAP = (
    "qbsync had not read changes from QuickBooks Online since {since}; QuickBooks keeps only 30 days of "
    "changes, so reading started at {start}. Changes made there before that were not seen."
)

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

# The QuickBooks page's "Changes from QuickBooks" block (templatetags/qbo_changes.py), for a firm's admin.
CHANGES_HEADING = "Changes from QuickBooks"
CHANGES_LABEL_NOTICES = "Change notices"
CHANGES_LABEL_LAST_NOTICE = "Last notice"
CHANGES_LABEL_CHECKS = "Asking QuickBooks for changes"
WEBHOOKS_HEALTHY = "Working: QuickBooks Online tells qbsync about changes as they are made there."
WEBHOOKS_NOT_CONFIGURED = (
    "Not set up for this installation of qbsync, so changes made in QuickBooks Online are found by asking "
    "it regularly."
)
WEBHOOKS_SILENT = "Silent since {since}: changes made in QuickBooks Online are found by asking it regularly."
WEBHOOKS_NEVER = "None received yet: changes made in QuickBooks Online are found by asking it regularly."
LAST_NOTICE_NONE = "None for this company yet"
POLLING_SAFETY_NET = (
    "Every {every} in case a notice was lost, about {reads} reads a month, plus one read after each burst "
    "of notices. QuickBooks counts reads against a monthly allowance."
)
POLLING_REGULAR = (
    "Every {every}, about {reads} reads a month. QuickBooks counts reads against a monthly allowance; with "
    "working notices this drops to about {safety_reads} a month."
)

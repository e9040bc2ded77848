"""Why a record failed to sync: the ``error_cause`` a link stores. The errors page groups failures by it and
keys its guidance by it (qbsync.health.causes), so every member needs a text there (a test checks).

The values are the strings stored in existing rows; renaming a value needs a data migration."""

from enum import StrEnum


class FailureCause(StrEnum):
    # Any record kind
    CONNECTION = "connection"  # not connected, or the connection stopped working
    UNAVAILABLE = "unavailable"  # QBO kept failing after every retry
    REFUSED = "refused"  # QBO refused the record for a reason of its own
    CHANGED_IN_QBO = "changed_in_qbo"  # deleted, voided or changed in QBO while active here

    # Accounts: the customer's name
    NAME_USED_BY_OTHER = "name_used_by_other"  # a vendor or employee has the name
    DUPLICATE_NAME = "duplicate_name"
    BAD_CHARACTERS = "bad_characters"
    TOO_LONG = "too_long"
    TWO_ACCOUNTS_ONE_NAME = "two_accounts_one_name"

    # Accounts: finding or picking the customer
    CREATE_WOULD_DUPLICATE = "create_would_duplicate"
    LINKED_ELSEWHERE = "linked_elsewhere"
    SEVERAL_MATCHES = "several_matches"
    PICKED_INACTIVE = "picked_inactive"
    PICKED_MISSING = "picked_missing"
    CHANGED_SINCE_PREVIEW = "changed_since_preview"

    # Accounts: the linked customer changed in QBO
    CUSTOMER_DELETED_IN_QBO = "customer_deleted_in_qbo"
    CUSTOMER_INACTIVE_IN_QBO = "customer_inactive_in_qbo"
    MERGED_CUSTOMER_LINKED_ELSEWHERE = "merged_customer_linked_elsewhere"

    # Invoices and payments
    DUPLICATE_DOC_NUMBER = "duplicate_doc_number"
    DOC_NUMBER_TOO_LONG = "doc_number_too_long"
    NO_ITEM = "no_item"
    ITEM_INACTIVE = "item_inactive"
    REFERENCE_INACTIVE = "reference_inactive"  # a payment's customer or invoice
    CURRENCY_MISMATCH = "currency_mismatch"  # the firm's currency is not the company's home currency
    MOVE_REFUSED = "move_refused"  # QBO would not move its copy to the account's new customer
    CUSTOMER_OTHER_CURRENCY = "customer_other_currency"  # a namesake (or the pick) in another currency
    TAX_UNMAPPED = "tax_unmapped"  # a tax rate (or lines without one) has no QuickBooks tax code
    TAX_NOT_IN_COMPANY = "tax_not_in_company"  # taxed here, but the company cannot take the tax as billed
    TAX_TOTAL_MISMATCH = "tax_total_mismatch"  # QBO's total after the push is not the billed total

"""Why a sync failed, as stored in a link's ``error_cause`` (placeholder: completed by the causes work)."""

from enum import StrEnum


class FailureCause(StrEnum):
    CONNECTION = "connection"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"
    CUSTOMER_DELETED = "customer_deleted_in_qbo"
    CUSTOMER_INACTIVE = "customer_inactive_in_qbo"
    MERGED_CUSTOMER_LINKED_ELSEWHERE = "merged_customer_linked_elsewhere"
    CHANGED_IN_QBO = "changed_in_qbo"

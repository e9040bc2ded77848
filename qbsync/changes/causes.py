"""error_cause values of failures caused by changes made directly in QuickBooks Online (the errors page
groups failures by these)."""

CUSTOMER_DELETED = "customer_deleted_in_qbo"
CUSTOMER_INACTIVE = "customer_inactive_in_qbo"
MERGED_CUSTOMER_LINKED_ELSEWHERE = "merged_customer_linked_elsewhere"
CHANGED_IN_QBO = "changed_in_qbo"

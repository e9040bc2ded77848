"""error_cause values of failures caused by changes made directly in QuickBooks Online (the errors page
groups failures by these). Names kept for the modules that use them; the causes themselves are
FailureCause members."""

from qbsync.sync.engine.causes import FailureCause

CUSTOMER_DELETED = FailureCause.CUSTOMER_DELETED_IN_QBO
CUSTOMER_INACTIVE = FailureCause.CUSTOMER_INACTIVE_IN_QBO
MERGED_CUSTOMER_LINKED_ELSEWHERE = FailureCause.MERGED_CUSTOMER_LINKED_ELSEWHERE
CHANGED_IN_QBO = FailureCause.CHANGED_IN_QBO

"""The engine's errors: a request that cannot be taken now, and a sync that cannot succeed without a
person."""


class SyncRequestError(Exception):
    """A sync action cannot be taken now; the message is for the person who asked."""


class SyncFailure(Exception):
    """A sync that cannot succeed without a person: why (``cause``, a FailureCause value), what it means
    and what to do (``explanation``), QBO's code, message and intuit_tid when QBO said it, and for an
    account a name QBO would accept (``proposed_name``)."""

    def __init__(
        self,
        cause: str,
        explanation: str,
        *,
        code: str = "",
        message: str = "",
        tid: str = "",
        proposed_name: str = "",
    ):
        super().__init__(explanation)
        self.cause = cause
        self.explanation = explanation
        self.code = code
        self.message = message
        self.tid = tid
        self.proposed_name = proposed_name

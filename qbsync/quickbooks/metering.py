"""Which QBO calls Intuit meters, and how a refused read looks.

Intuit's App Partner Program splits Accounting API calls in two (qbo-api-facts §12): **Core** calls write
(create, update, delete, void, send) and are free; **CorePlus** calls read (read by Id, query, CDC,
CompanyInfo, Preferences, reports) and are counted per app, summed over the developer workspace, 500,000 a
month on the free Builder tier, blocked beyond it until the month turns. Failed calls are not counted.

Every call the adapter makes is classed here before it is sent (``classify``); a call that matches no rule
raises ``UnclassifiedCall``, so a new call site cannot go out unmetered. The sandbox classes calls by the
same rules in its own module (qbsync/sandbox/metering.py); tests/qbsync/quickbooks/test_metering_contract.py
checks the two agree.

Assumptions (UNCONFIRMED, stated in README's "QuickBooks API costs"): a batch request is counted per item,
each Query item one CorePlus call and each write item one Core call, the envelope nothing; one CDC request
is one CorePlus call whatever number of entities it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import QboError, QboTransientError


class CallClass(StrEnum):
    CORE = "Core"  # writes: free
    COREPLUS = "CorePlus"  # reads: metered


@dataclass(frozen=True)
class MeteredCall:
    """What one HTTP request to QBO costs: metered reads and free writes (a batch can hold both)."""

    reads: int = 0
    writes: int = 0

    @property
    def is_read(self) -> bool:
        return self.reads > 0

    def __add__(self, other: MeteredCall) -> MeteredCall:
        return MeteredCall(self.reads + other.reads, self.writes + other.writes)


READ = MeteredCall(reads=1)
WRITE = MeteredCall(writes=1)
NOTHING = MeteredCall()


class UnclassifiedCall(Exception):
    """A call no rule classes: a programming error (add the rule to RULES before sending it)."""


# (method, path pattern after /company/{realm}/, class). First match wins. The batch envelope is classed
# item by item (``batch_items``).
RULES: tuple[tuple[str, re.Pattern[str], CallClass, str], ...] = tuple(
    (method, re.compile(pattern), call_class, what)
    for method, pattern, call_class, what in (
        ("POST", r"query", CallClass.COREPLUS, "query"),
        ("GET", r"query", CallClass.COREPLUS, "query"),
        ("GET", r"cdc", CallClass.COREPLUS, "change data capture"),
        ("GET", r"companyinfo/[^/]+", CallClass.COREPLUS, "company info"),
        ("GET", r"preferences", CallClass.COREPLUS, "preferences"),
        ("POST", r"preferences", CallClass.CORE, "preferences update"),
        ("GET", r"reports/[A-Za-z]+", CallClass.COREPLUS, "report"),
        ("GET", r"[a-z]+/[^/]+/pdf", CallClass.COREPLUS, "PDF of a record"),
        ("GET", r"[a-z]+/[^/]+", CallClass.COREPLUS, "read by Id"),
        ("POST", r"[a-z]+/[^/]+/send", CallClass.CORE, "send by email"),
        # create, sparse or full update, ?operation=delete, ?operation=void
        ("POST", r"[a-z]+", CallClass.CORE, "create, update, delete or void"),
    )
)

_CLASS_COST = {CallClass.CORE: WRITE, CallClass.COREPLUS: READ}


def classify(method: str, path: str, body: Any = None) -> MeteredCall:
    """What a request costs before it is sent. ``path`` is relative to the company (``invoice/12``,
    ``query``); ``body`` is the decoded JSON body (only a batch's is looked at)."""
    path = path.strip("/").split("?", 1)[0]
    method = method.upper()
    if method == "POST" and path == "batch":
        return batch_items(body)
    for rule_method, pattern, call_class, _what in RULES:
        if rule_method == method and pattern.fullmatch(path):
            return _CLASS_COST[call_class]
    raise UnclassifiedCall(f"{method} {path} matches no metering rule in qbsync/quickbooks/metering.py")


def batch_items(body: Any, answered: Any = None) -> MeteredCall:
    """A batch, per item: a Query item is a read, any other item a write. With ``answered`` (QBO's
    reply), only the items QBO answered without a Fault count, as failed calls are not metered."""
    items = (body or {}).get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise UnclassifiedCall("a batch request without BatchItemRequest")
    succeeded: set[str] | None = None
    if answered is not None:
        succeeded = {
            str(item.get("bId"))
            for item in (answered or {}).get("BatchItemResponse") or []
            if isinstance(item, dict) and "Fault" not in item
        }
    total = NOTHING
    for item in items:
        if succeeded is not None and str(item.get("bId")) not in succeeded:
            continue
        total = total + (READ if "Query" in item else WRITE)
    return total


class QboReadsUnavailableError(QboTransientError):
    """Reads cannot be made now; writes can. Waiting for it never uses up a record's attempts, and what
    needed the read waits (held, never created blindly) until reads resume."""


class QboReadsRefusedError(QboReadsUnavailableError):
    """QBO refused a read because the workspace used its monthly allowance of CorePlus calls."""


class QboReadsPausedError(QboReadsUnavailableError):
    """Not sent: reads are paused here (QBO refused one, or the deployment's own count reached its budget)."""


# How QBO answers a read beyond the monthly cap is unpublished (qbo-api-facts §12, UNCONFIRMED): a 429 or a
# 403 whose text speaks of the plan's limit is taken as a refusal of reads, never as a throttle to wait out
# or a revoked authorisation. The pattern can be changed in settings (QBO_READ_REFUSAL_PATTERN).
DEFAULT_READ_REFUSAL_PATTERN = (
    r"(?i)read limit|corePlus|monthly (allowance|limit|quota)|api (call )?limit exceeded|plan('s)? limit"
)


def as_read_refusal(error: QboError, call: MeteredCall, pattern: re.Pattern[str]) -> QboError:
    """``error`` as a QboReadsRefusedError when QBO refused a read for the monthly cap; else unchanged."""
    if not call.is_read or error.status not in (403, 429):
        return error
    text = " ".join([error.message, error.detail, *(f"{f.message} {f.detail}" for f in error.faults)])
    if not pattern.search(text):
        return error
    return QboReadsRefusedError(
        error.message,
        status=error.status,
        code=error.code,
        detail=error.detail,
        intuit_tid=error.intuit_tid,
        faults=error.faults,
    )

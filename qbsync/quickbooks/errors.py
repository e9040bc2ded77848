"""One error tree for everything QuickBooks Online can answer. Mapped on HTTP status first, then on the
Fault code, so callers decide by class (retry, refresh, reconnect, explain) and never parse bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultDetail:
    code: str
    message: str
    detail: str = ""
    element: str = ""


class QboError(Exception):
    """Base of every QBO failure. Keeps what a person or a log needs, never a token."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        detail: str = "",
        element: str = "",
        intuit_tid: str = "",
        faults: tuple[FaultDetail, ...] = (),
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.detail = detail
        self.element = element
        self.intuit_tid = intuit_tid
        self.faults = faults

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code {self.code}")
        if self.status:
            parts.append(f"HTTP {self.status}")
        if self.intuit_tid:
            parts.append(f"intuit_tid {self.intuit_tid}")
        return "; ".join(parts)


class QboTransientError(QboError):
    """Worth retrying later with the same requestid: throttling, outages, timeouts, lost connections."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class QboRateLimitError(QboTransientError):
    """HTTP 429 (Fault 3001 ThrottleExceeded): pause the realm for retry_after, or 60 s."""


class QboUnavailableError(QboTransientError):
    """5xx, an HTML or unreadable body, a timeout or a connection error."""


class QboAuthError(QboError):
    """The request was not authorised."""


class QboTokenExpiredError(QboAuthError):
    """401 / 3200: the access token expired or is malformed. Refresh once, then retry once."""


class QboReconnectRequiredError(QboAuthError):
    """3100, 120 or invalid_grant: only the firm's owner reconnecting the company fixes this."""


class QboNotFoundError(QboError):
    """610: the object does not exist, was deleted, or a referenced name-list object is inactive."""


class QboStaleObjectError(QboError):
    """5010: the SyncToken is stale. Re-read the object and retry once."""


class QboValidationError(QboError):
    """QBO refused the request as invalid; retrying the same request cannot help."""


class QboDuplicateNameError(QboValidationError):
    """6240: the DisplayName is used by another customer, vendor or employee."""


class QboDuplicateDocNumberError(QboValidationError):
    """6140: another transaction already has this document number."""


_BY_CODE: dict[str, type[QboError]] = {
    "610": QboNotFoundError,
    "5010": QboStaleObjectError,
    "6240": QboDuplicateNameError,
    "6140": QboDuplicateDocNumberError,
    "3001": QboRateLimitError,
    "3200": QboTokenExpiredError,
    "100": QboTokenExpiredError,
    "3100": QboReconnectRequiredError,
    "120": QboReconnectRequiredError,
}


def intuit_tid_of(headers: Mapping[str, str]) -> str:
    # QBO sends "intuit_tid"; recordings through proxies show "Intuit-Tid".
    return headers.get("intuit_tid") or headers.get("Intuit-Tid") or ""


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def parse_faults(body: object) -> tuple[tuple[FaultDetail, ...], str]:
    """Faults from QBO's data-service shape ({"Fault": {"Error": [...]}}) or the gateway's lower-case
    one ({"fault": {"error": [...]}}), plus the fault type."""
    if not isinstance(body, dict):
        return (), ""
    fault = body.get("Fault") or body.get("fault")
    if not isinstance(fault, dict):
        return (), ""
    errors = fault.get("Error") or fault.get("error") or []
    faults = tuple(
        FaultDetail(
            code=str(e.get("code") or e.get("Code") or ""),
            message=str(e.get("Message") or e.get("message") or ""),
            detail=str(e.get("Detail") or e.get("detail") or ""),
            element=str(e.get("element") or ""),
        )
        for e in errors
        if isinstance(e, dict)
    )
    return faults, str(fault.get("type") or "")


_XML_CODE = re.compile(r"<Error[^>]*\bcode=\"(\d+)\"", re.I)
_GATEWAY_CODE = re.compile(r"errorCode=0*(\d+)")


def _decode(text: str) -> object | None:
    try:
        return json.loads(text)
    except ValueError:
        return None


def error_from_fault(
    fault: FaultDetail, *, status: int | None, intuit_tid: str = "", faults: tuple[FaultDetail, ...] = ()
) -> QboError:
    # The gateway puts the real code inside the message ("errorCode=003200") on some replies.
    code = fault.code or next(iter(_GATEWAY_CODE.findall(fault.message)), "")
    cls = _BY_CODE.get(code, QboValidationError)
    return cls(
        fault.message or "QuickBooks Online refused the request",
        status=status,
        code=code,
        detail=fault.detail,
        element=fault.element,
        intuit_tid=intuit_tid,
        faults=faults or (fault,),
    )


def error_from_response(status: int, text: str, headers: Mapping[str, str]) -> QboError | None:
    """The error a QBO HTTP reply stands for, or None when it is a success.

    Status decides first (429, 401, 403, 5xx); then the Fault code; a body that is not JSON (XML or
    HTML pages from gateways) is an outage unless the status says otherwise.
    """
    tid = intuit_tid_of(headers)
    body = _decode(text) if text else None
    faults, _ = parse_faults(body)
    first = faults[0] if faults else FaultDetail(code="", message="")
    common = {"status": status, "intuit_tid": tid, "faults": faults}

    if status == 429:
        return QboRateLimitError(
            first.message or "QuickBooks Online throttled the request (too many requests for this company)",
            retry_after=parse_retry_after(headers.get("Retry-After")),
            code=first.code or "3001",
            detail=first.detail,
            **common,
        )
    if status == 401:
        if first.code == "120":
            return error_from_fault(first, **common)
        return QboTokenExpiredError(
            first.message or "The access token was not accepted",
            code=first.code or "3200",
            detail=first.detail,
            **common,
        )
    if status == 403:
        return QboReconnectRequiredError(
            first.message or "QuickBooks Online refused access to this company",
            code=first.code or "3100",
            detail=first.detail,
            **common,
        )
    if status >= 500:
        return QboUnavailableError(
            first.message or f"QuickBooks Online is unavailable (HTTP {status})",
            code=first.code,
            detail=first.detail or text[:200],
            **common,
        )
    if body is None and text.strip():
        xml_code = next(iter(_XML_CODE.findall(text)), "")
        if xml_code == "3001":
            return QboRateLimitError(
                "QuickBooks Online throttled the request",
                retry_after=parse_retry_after(headers.get("Retry-After")),
                code="3001",
                **common,
            )
        return QboUnavailableError(
            f"QuickBooks Online answered with an unreadable body (HTTP {status})", detail=text[:200], **common
        )
    if faults:
        return error_from_fault(first, **common)
    if status != 200:
        return QboValidationError(f"QuickBooks Online refused the request (HTTP {status})", **common)
    return None

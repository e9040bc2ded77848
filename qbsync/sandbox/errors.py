"""QBO faults: the data-service `Fault` JSON and the gateway's lower-case auth shape."""

from __future__ import annotations

import json


class QBOError(Exception):
    """A data-service fault. `code` is always sent as a string, as real QBO does."""

    def __init__(
        self,
        code: int | str,
        message: str,
        detail: str = "",
        element: str | None = None,
        status: int = 400,
        fault_type: str = "ValidationFault",
    ):
        super().__init__(f"{code} {message}: {detail}")
        self.code = str(code)
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def error_dict(self) -> dict:
        err = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element is not None:
            err["element"] = self.element
        return err

    def fault(self) -> dict:
        return {"Error": [self.error_dict()], "type": self.fault_type}


# --- constructors for the codes the sandbox uses -------------------------------------------------


def unsupported_property(entity: str, prop: str) -> QBOError:
    return QBOError(
        2010,
        "Request has invalid or unsupported property",
        f'Property Name:Unrecognized field "{prop}" (class com.intuit.schema.finance.v3.{entity}), '
        "not marked as ignorable specified is unsupported or invalid",
    )


def bad_request_body(detail: str) -> QBOError:
    return QBOError(2010, "Request has invalid or unsupported property", detail)


def required_missing(param: str) -> QBOError:
    return QBOError(
        2020,
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {param} is missing in the request",
        element=param,
    )


def invalid_id(value: object, element: str = "Id") -> QBOError:
    return QBOError(
        2030, "Invalid ID", f"Id should be a valid number. Supplied value:{value}", element=element
    )


def string_length(field: str, maximum: int, supplied: int) -> QBOError:
    return QBOError(
        2050,
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:0 Max:{maximum} supported. "
        f"Supplied length:{supplied}",
        element=field,
    )


def invalid_number(field: str, value: object) -> QBOError:
    return QBOError(
        2010, "Request has invalid or unsupported property", f"Invalid number {value!r} for {field}"
    )


def invalid_enum(field: str, value: object) -> QBOError:
    return QBOError(2170, "Invalid Enumeration", f"Invalid Enumeration : {value}", element=field)


def invalid_reference(kind: str, ref_id: object, element: str = "") -> QBOError:
    return QBOError(
        2500,
        "Invalid Reference Id",
        f"Invalid Reference Id : {kind} element id {ref_id} not found",
        element=element,
    )


def object_not_found(detail: str | None = None) -> QBOError:
    return QBOError(
        610,
        "Object Not Found",
        detail
        or "Object Not Found : Something you're trying to use has been made inactive. Check the fields with "
        "accounts, customers, items, vendors or employees.",
        element="",
    )


def stale_object() -> QBOError:
    return QBOError(
        5010,
        "Stale Object Error",
        "Stale Object Error : You and Sandbox User were working on this at the same time. Sandbox User "
        "finished before you did, so your work was not saved.",
        element="",
    )


def duplicate_name() -> QBOError:
    return QBOError(
        6240,
        "Duplicate Name Exists Error",
        "The name supplied already exists. : Another customer, vendor or employee is already using this "
        "name. Please use a different name.",
    )


def duplicate_item_name() -> QBOError:
    return QBOError(6240, "Duplicate Name Exists Error", "The name supplied already exists. : null")


def duplicate_doc_number(doc_number: str, txn_type: str, txn_id: str) -> QBOError:
    return QBOError(
        6140,
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : You must specify a different number. This number has already been "
        f"used. DocNumber={doc_number} is assigned to TxnType={txn_type} with TxnId={txn_id}",
        element="",
    )


def no_name_provided() -> QBOError:
    return QBOError(
        6080, "No Name Provided", "No Name Provided : Please provide a name (DisplayName or a name part)."
    )


def business_validation(detail: str) -> QBOError:
    return QBOError(
        6000,
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element="",
    )


def amount_mismatch() -> QBOError:
    return QBOError(
        6070,
        "Amount calculation incorrect",
        "Amount calculation incorrect : Amount is not equal to UnitPrice * Qty.",
        element="",
    )


def unsupported_operation(detail: str) -> QBOError:
    return QBOError(500, "Unsupported Operation", f"Operation {detail} is not supported.")


def query_parse_error(detail: str) -> QBOError:
    return QBOError(4000, "Error parsing query", f"QueryParserError: {detail}")


def query_invalid(detail: str) -> QBOError:
    return QBOError(4001, "Invalid query", f"QueryValidationError: {detail}")


def batch_too_large(size: int, maximum: int) -> QBOError:
    return QBOError(
        1040,
        "Batch size exceeds allowed limit",
        f"Batch size {size} exceeds the maximum of {maximum} items per request.",
    )


def system_fault() -> QBOError:
    return QBOError(
        10000,
        "An application error has occurred while processing your request",
        "System Failure Error: An unexpected error occurred while accessing or saving your data. "
        "Please wait a few minutes and try again.",
        status=500,
        fault_type="SystemFault",
    )


THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
THROTTLE_DETAIL = "The request limit was reached.  Try again later"


def throttle_json(time_text: str) -> bytes:
    body = {
        "Fault": {
            "Error": [{"Message": THROTTLE_MESSAGE, "Detail": THROTTLE_DETAIL, "code": "3001"}],
            "type": "SERVICE",
        },
        "time": time_text,
    }
    return json.dumps(body).encode()


def throttle_xml(time_text: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{time_text}">'
        '<Fault type="SERVICE"><Error code="3001">'
        f"<Message>{THROTTLE_MESSAGE}</Message><Detail>{THROTTLE_DETAIL}</Detail>"
        "</Error></Fault></IntuitResponse>"
    ).encode()


HTML_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def gateway_fault(status: int, code: str, detail: str | None, epoch_ms: int) -> bytes:
    """The lower-case JSON the Intuit gateway sends for 401 (3200) and 403 (3100), as recorded."""
    if status == 401:
        message = f"message=AuthenticationFailed; errorCode=00{code}; statusCode=401"
        fault_type = "AUTHENTICATION"
    else:
        message = f"message=AuthorizationFailed; errorCode=00{code}; statusCode={status}"
        fault_type = "SERVICE"
    body = {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [{"message": message, "detail": detail, "code": code, "element": None}],
            "type": fault_type,
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": epoch_ms,
        "status": None,
        "cdcresponse": [],
    }
    return json.dumps(body).encode()

import json

import pytest

from qbsync.quickbooks.errors import (
    QboDuplicateDocNumberError,
    QboDuplicateNameError,
    QboNotFoundError,
    QboRateLimitError,
    QboReconnectRequiredError,
    QboStaleObjectError,
    QboTokenExpiredError,
    QboTransientError,
    QboUnavailableError,
    QboValidationError,
    error_from_response,
)
from tests.qbo_recorded import recorded_interactions


def fault(code: str, message: str = "msg", detail: str = "detail", element: str = "") -> str:
    return json.dumps(
        {
            "Fault": {
                "Error": [{"Message": message, "Detail": detail, "code": code, "element": element}],
                "type": "ValidationFault",
            },
            "time": "2026-01-01T00:00:00.000-08:00",
        }
    )


GATEWAY_401 = json.dumps(
    {
        "warnings": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired: AB01",
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "time": 1601391072830,
    }
)
GATEWAY_403 = json.dumps(
    {
        "fault": {
            "error": [
                {
                    "message": "message=AuthorizationFailed; errorCode=003100; statusCode=403",
                    "detail": None,
                    "code": "3100",
                    "element": None,
                }
            ],
            "type": "SERVICE",
        }
    }
)
THROTTLE_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse><Fault type="SERVICE">'
    '<Error code="3001"><Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>'
    "<Detail>The request limit was reached.</Detail></Error></Fault></IntuitResponse>"
)
HTML_503 = "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>"


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "code"),
    [
        (429, fault("3001", "message=ThrottleExceeded"), {"Retry-After": "7"}, QboRateLimitError, "3001"),
        (429, THROTTLE_XML, {"Retry-After": "7"}, QboRateLimitError, "3001"),
        (429, HTML_503, {"Retry-After": "7"}, QboRateLimitError, "3001"),
        (429, "", {}, QboRateLimitError, "3001"),
        (500, fault("10000", "An application error has occurred"), {}, QboUnavailableError, "10000"),
        (503, HTML_503, {}, QboUnavailableError, ""),
        (502, "", {}, QboUnavailableError, ""),
        (200, HTML_503, {}, QboUnavailableError, ""),
        (401, GATEWAY_401, {}, QboTokenExpiredError, "3200"),
        (401, "", {}, QboTokenExpiredError, "3200"),
        (401, fault("120", "AuthorizationFailure"), {}, QboReconnectRequiredError, "120"),
        (403, GATEWAY_403, {}, QboReconnectRequiredError, "3100"),
        (400, fault("610", "Object Not Found"), {}, QboNotFoundError, "610"),
        (400, fault("5010", "Stale Object Error"), {}, QboStaleObjectError, "5010"),
        (400, fault("6240", "Duplicate Name Exists Error"), {}, QboDuplicateNameError, "6240"),
        (400, fault("6140", "Duplicate Document Number Error"), {}, QboDuplicateDocNumberError, "6140"),
        (400, fault("2020", "Required param missing"), {}, QboValidationError, "2020"),
        (200, fault("6000", "A business validation error"), {}, QboValidationError, "6000"),
    ],
)
def test_error_mapping_status_first_then_fault_code(status, body, headers, expected, code):
    error = error_from_response(status, body, {"intuit_tid": "1-abc"} | headers)
    assert type(error) is expected
    assert error.code == code
    assert error.status == status
    assert error.intuit_tid == "1-abc"


def test_throttle_keeps_retry_after_whatever_the_body():
    for body in (fault("3001"), THROTTLE_XML, HTML_503):
        error = error_from_response(429, body, {"Retry-After": "12"})
        assert isinstance(error, QboTransientError)
        assert error.retry_after == 12.0
    assert error_from_response(429, "", {}).retry_after is None


def test_error_keeps_code_message_detail_element():
    error = error_from_response(400, fault("2030", "Invalid ID", "Id should be a valid number", "Id"), {})
    assert (error.code, error.message, error.detail, error.element) == (
        "2030",
        "Invalid ID",
        "Id should be a valid number",
        "Id",
    )


def test_success_is_not_an_error():
    assert error_from_response(200, json.dumps({"Customer": {"Id": "1"}}), {}) is None


def test_error_text_never_includes_the_body_token():
    error = error_from_response(401, GATEWAY_401, {})
    assert "AB01" not in str(error)


@pytest.mark.parametrize(
    "interaction",
    [i for i in recorded_interactions("error") if i.status != 200],
    ids=lambda i: f"{i.cassette}:{i.uri.rsplit('/', 1)[-1][:30]}",
)
def test_recorded_qbo_errors_map_to_their_class(interaction):
    expected = {
        "4001": QboValidationError,
        "2010": QboValidationError,
        "500": QboValidationError,
        "2030": QboValidationError,
        "6240": QboDuplicateNameError,
        "3200": QboTokenExpiredError,
    }
    error = error_from_response(interaction.status, interaction.body, interaction.headers)
    assert error is not None
    assert type(error) is expected[error.code]
    assert error.intuit_tid == interaction.headers["Intuit-Tid"]
    assert error.message

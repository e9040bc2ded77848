"""Structured logs: the context (firm, realm, record, intuit_tid) on every line, and no secret in any line."""

import io
import json
import logging
import time

import pytest

from qbsync.core.logging import (
    JsonFormatter,
    LogContextFilter,
    RedactSecretsFilter,
    TextFormatter,
    bind_log_context,
    clear_log_context,
    log_context,
    logging_config,
    redact,
)
from qbsync.sync.kinds.accounts import account_sync_request
from qbsync.sync.log_context import task_log_context
from tests.factories import AccountFactory, make_invoice
from tests.workers import sandbox_worker


@pytest.fixture
def captured():
    """A logger writing JSON through the production filters into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LogContextFilter())
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("tests.structured")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    clear_log_context()
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    clear_log_context()


def test_a_line_carries_the_context_it_was_logged_in(captured):
    logger, lines = captured
    with log_context(firm=7, realm="9130", record="invoice:12"):
        bind_log_context(intuit_tid="1-abc")
        logger.info("pushed %s", "invoice", extra={"duration_ms": 12.5})
    logger.info("outside")

    inside, outside = lines()
    assert inside["message"] == "pushed invoice"
    assert (inside["firm"], inside["realm"], inside["record"], inside["intuit_tid"]) == (
        7,
        "9130",
        "invoice:12",
        "1-abc",
    )
    assert inside["duration_ms"] == 12.5
    assert {"time", "level", "logger", "process"} <= set(inside)
    assert "firm" not in outside


def test_secrets_never_reach_the_line(captured, settings):
    logger, lines = captured
    settings.QBO_CLIENT_SECRET = "client-secret-value-42"
    logger.info(
        "refreshing with %s, %s; header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig; "
        "form refresh_token=AB11xxxxxxxxxxxxxxxxxxxxxxxxxx&client_secret=client-secret-value-42",
        settings.SECRET_KEY,
        settings.QBSYNC_ENCRYPTION_KEYS[0],
        extra={"access_token": "AT-plain-value", "body": {"refresh_token": "RT-plain-value", "Id": "5"}},
    )
    try:
        raise ValueError(f"bad token {{'access_token': 'AT-in-exception'}} {settings.SECRET_KEY}")
    except ValueError:
        logger.exception("failed")

    text = "\n".join(json.dumps(line) for line in lines())
    for secret in (
        settings.SECRET_KEY,
        settings.QBSYNC_ENCRYPTION_KEYS[0],
        "client-secret-value-42",
        "eyJhbGciOiJIUzI1NiJ9",
        "AB11xxxxxxxxxxxxxxxxxxxxxxxxxx",
        "AT-plain-value",
        "RT-plain-value",
        "AT-in-exception",
    ):
        assert secret not in text
    first, second = lines()
    assert first["body"] == {"refresh_token": "[redacted]", "Id": "5"}
    assert "ValueError" in second["exception"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def", "Authorization: [redacted] [redacted]"),
        ('{"access_token": "x1y2z3"}', '{"access_token": "[redacted]"}'),
        ("password=hunter2 next", "password=[redacted] next"),
        ("customer 42 synced", "customer 42 synced"),
        (
            "GET /callback/?code=AB11abc&state=s-1&realmId=9341&x=1",
            "GET /callback/?code=[redacted]&state=[redacted]&realmId=[redacted]&x=1",
        ),
        (
            "<WSGIRequest: GET '/cb/?state=x%2Fy&code=c1'>",
            "<WSGIRequest: GET '/cb/?state=[redacted]&code=[redacted]'>",
        ),
        ("error_code=6240 sync_error_code=610", "error_code=6240 sync_error_code=610"),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_text_format_appends_the_context():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "synced", (), None)
    record.firm, record.record = 3, "account:4"

    assert TextFormatter().format(record).endswith("synced [firm=3 record=account:4]")


def test_the_format_is_chosen_by_setting():
    assert logging_config(log_format="json", level="INFO")["handlers"]["console"]["formatter"] == "json"
    with pytest.raises(ValueError, match="json or text"):
        logging_config(log_format="xml", level="INFO")


@pytest.mark.django_db
def test_a_task_is_labelled_with_its_firm_realm_and_record(firm, qbo_connection):
    from qbsync.sync.models import InvoiceSyncLink

    invoice = make_invoice(account=AccountFactory(firm=firm))
    # Issuing an invoice of a connected firm gives it its link.
    link = InvoiceSyncLink.objects.get(invoice=invoice)

    assert task_log_context("qbsync.qbo.invoice_push", (link.pk,), {}) == {
        "firm": firm.pk,
        "realm": qbo_connection.realm_id,
        "record": f"invoice:{invoice.pk}",
    }
    assert task_log_context("qbsync.qbo.invoice_push", (), {"link_id": 10**9}) == {}
    assert task_log_context("qbsync.sync_sweep", (), {}) == {}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_workers_lines_name_firm_realm_record_and_intuit_tid(qbo, qbo_connection, firm):
    account = AccountFactory(firm=firm, name="Structured Logs Client")
    worker = sandbox_worker(qbo, name="json-logs", concurrency=1)
    try:
        account_sync_request(account=account)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and '"qbo_status": 200' not in worker.log():
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        worker.stop()
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.startswith("{")]
    calls = [line for line in lines if line.get("qbo_path")]

    assert calls, worker.log()
    for call in calls:
        assert call["firm"] == firm.pk
        assert call["realm"] == qbo_connection.realm_id
        assert call["record"] == f"account:{account.pk}"
        assert call["task"] == "qbsync.qbo.account_push"
        assert call["intuit_tid"]
        assert call["qbo_method"] in ("GET", "POST")
        assert isinstance(call["duration_ms"], float)
    # The client's name travels in the request body, never into the log.
    assert "Structured Logs Client" not in worker.log_path.read_text()


# Issue 13, item 10: a callback refused for a bad state carried a live authorization code into the logs
# (Django's request logger attaches the request, whose repr is the full URL).


@pytest.mark.django_db
def test_a_refused_oauth_callback_logs_no_code_state_or_realm(owner_client, qbo, qbo_realm):
    from urllib.parse import parse_qs, urlsplit

    from django.urls import reverse

    from tests.qbsync.sync.test_connection_flow import consent, start_connect

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LogContextFilter())
    handler.addFilter(RedactSecretsFilter())
    logging.getLogger().addHandler(handler)
    try:
        callback = consent(qbo, start_connect(owner_client), realm_id=qbo_realm)
        params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        response = owner_client.get(reverse("quickbooks:callback"), {**params, "state": "forged-state-value"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert response.status_code == 403
    lines = stream.getvalue()
    assert "Forbidden" in lines  # Django's request logger did log the refusal
    for value in (params["code"], "forged-state-value", f"realmId={qbo_realm}"):
        assert value not in lines

"""Log lines ops can search and share: one JSON object per line (DJANGO_LOG_FORMAT=json, the production
default) carrying the firm, realm, record and intuit_tid of the work in hand, and never a token or secret.

The context lives in a contextvar: Celery's task signals set it for each task (qbsync.celery), a
middleware for each request, and the QBO client adds the realm and the intuit_tid of its last call. Code
anywhere may add to it with ``log_context(record="invoice:12")``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime

CONTEXT_FIELDS = ("firm", "realm", "record", "intuit_tid", "task", "task_id")
REDACTED = "[redacted]"

_context: ContextVar[dict[str, object]] = ContextVar("qbsync_log_context", default={})  # noqa: B039 - never mutated


# Context ---------------------------------------------------------------------------------------------


def bind_log_context(**fields: object) -> Token:
    """Add fields (None values are ignored) to the context of this thread or task; returns a reset token."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None and v != ""}}
    return _context.set(merged)


def reset_log_context(token: Token) -> None:
    _context.reset(token)


def clear_log_context() -> None:
    _context.set({})


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    token = bind_log_context(**fields)
    try:
        yield
    finally:
        reset_log_context(token)


class LogContextFilter(logging.Filter):
    """Copies the context onto each record (an explicit ``extra=`` value wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if getattr(record, name, None) in (None, ""):
                setattr(record, name, value)
        return True


class LogContextMiddleware:
    """Every log line of a request names the firm it was made for."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        firm = getattr(request, "firm", None)
        token = bind_log_context(firm=firm.pk if firm is not None else None)
        try:
            return self.get_response(request)
        finally:
            reset_log_context(token)


# Redaction -------------------------------------------------------------------------------------------

# Names of values that are secrets wherever they appear: dict keys, form fields, extra= attributes.
SECRET_NAME = re.compile(
    r"access_?token|refresh_?token|id_?token|authorization|client_?secret|secret_?key|encryption_?keys?"
    r"|password|passwd|api_?key|verifier_?token|code_?verifier|cookie|sessionid|csrfmiddlewaretoken",
    re.IGNORECASE,
)
_SECRET_PAIR = re.compile(
    r"""(?P<key>["']?(?:"""
    + SECRET_NAME.pattern
    + r""")["']?\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^"'\s,;&}\]]+)""",
    re.IGNORECASE,
)
# Values shaped like secrets whatever they are called: HTTP credentials, JWTs (Intuit's access tokens),
# Intuit refresh tokens (AB11...), Fernet keys.
_SECRET_SHAPES = (
    re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    re.compile(r"\bAB11[A-Za-z0-9_-]{20,}"),
)
# OAuth callback query values: the authorization code is exchangeable for minutes, the state guards the
# flow, and realmId ties the two to a company. Matched only as URL query parameters (`error_code=` stays).
_OAUTH_QUERY_VALUE = re.compile(r"(?P<key>[?&](?:code|state|realmId)=)(?P<value>[^&#\s'\"<>]+)")
_MIN_SECRET_LENGTH = 8


def configured_secrets() -> list[str]:
    """The secret values of this process's settings: never to be written to a log in any form."""
    try:
        # Inside: the logging setup imports this module while Django's settings are still being built.
        from django.conf import settings

        values = [
            getattr(settings, "SECRET_KEY", ""),
            *getattr(settings, "SECRET_KEY_FALLBACKS", []),
            getattr(settings, "QBO_CLIENT_SECRET", ""),
            *getattr(settings, "QBSYNC_ENCRYPTION_KEYS", []),
        ]
    except Exception:  # noqa: BLE001 - settings not configured (or broken): shapes still apply
        return []
    return [v for v in values if isinstance(v, str) and len(v.strip()) >= _MIN_SECRET_LENGTH]


def redact(text: str) -> str:
    """The text with secret values, secret-named pairs and secret-shaped strings replaced."""
    for secret in configured_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    # Shapes first: "Authorization: Bearer x" must lose x, not just the word Bearer.
    for shape in _SECRET_SHAPES:
        text = shape.sub(lambda m: f"{m[1]} {REDACTED}" if m.lastindex else REDACTED, text)
    text = _OAUTH_QUERY_VALUE.sub(lambda m: f"{m['key']}{REDACTED}", text)
    return _SECRET_PAIR.sub(lambda m: f"{m['key']}{m['quote']}{REDACTED}", text)


def redact_value(name: str, value: object) -> object:
    if SECRET_NAME.search(name):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(name, v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # Objects are rendered with str() by the formatter; Django's request logger attaches the request,
    # whose repr is the full URL. Keep the object unless its text needs redacting.
    text = str(value)
    redacted = redact(text)
    return value if redacted == text else redacted


_STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _extra_attributes(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES and not k.startswith("_")}


class RedactSecretsFilter(logging.Filter):
    """Last line of defence on the handler: whatever a caller logged, no secret leaves the process.

    The message is rendered and redacted once (args dropped), the exception text likewise, and extra
    attributes with secret names are blanked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_qbsync_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in _extra_attributes(record).items():
            setattr(record, name, redact_value(name, value))
        record._qbsync_redacted = True
        return True


# Formatters ------------------------------------------------------------------------------------------


def _json_safe(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process, message, the context, then any extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                line[name] = _json_safe(value)
        for name, value in _extra_attributes(record).items():
            if name not in line and name not in CONTEXT_FIELDS:
                line[name] = _json_safe(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic line for a terminal, with the context appended as key=value."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(processName)s %(name)s %(message)s")
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) not in (None, "")
        )
        if not context:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{context}]{newline}{rest}"


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING dict of the settings: one console handler with context, redaction and the format."""
    if log_format not in ("json", "text"):
        raise ValueError(f"DJANGO_LOG_FORMAT must be json or text, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "qbsync.core.logging.LogContextFilter"},
            "redact": {"()": "qbsync.core.logging.RedactSecretsFilter"},
        },
        "formatters": {
            "json": {"()": "qbsync.core.logging.JsonFormatter"},
            "text": {"()": "qbsync.core.logging.TextFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
    }

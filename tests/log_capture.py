"""No secrets in logs, verified on the logs of the whole test run (a pytest plugin, registered in conftest).

Every log record of the test process goes through the production handler chain (context, redaction, JSON)
into var/test-logs/<run>/test-process.jsonl; the real worker processes the tests start write theirs to
var/worker-*-<run>.log. At the end of the session both are scanned for the secrets the run used: every
token and authorization code the QBO sandbox issued (recorded as it issued them), the OAuth client secret,
SECRET_KEY and the encryption keys, the demo firm's client names, and any OAuth callback query value
(`code=`, `state=`, `realmId=` in a URL) left unredacted. A hit fails the run and names the file and line.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = os.environ.get("QBSYNC_TEST_RUN_ID", str(os.getpid()))
LOG_DIR = ROOT / "var" / "test-logs" / RUN_ID
# Loggers of the QBO emulator: it plays Intuit, whose side of the wire holds tokens and names by design.
EMULATOR_LOGGERS = ("qbsync.sandbox",)

_issued_tokens: set[str] = set()
_issued_codes: set[str] = set()
# An OAuth callback's query value in clear; the redaction filter leaves `code=[redacted]`.
OAUTH_QUERY_IN_CLEAR = re.compile(r"[?&](?:code|state|realmId)=(?!\[redacted\])[^&#\s'\"<>]")
_handler: logging.Handler | None = None
_started = time.time()


def issued_tokens() -> set[str]:
    return set(_issued_tokens)


def _record_sandbox_tokens() -> None:
    """Wrap the sandbox's token issuing so every access and refresh token it hands out is remembered."""
    from qbsync.sandbox.oauth import OAuth

    if getattr(OAuth.issue, "_records_tokens", False):
        return
    original = OAuth.issue

    def issue(self, *args, **kwargs):
        body = original(self, *args, **kwargs)
        for key in ("access_token", "refresh_token", "id_token"):
            if body.get(key):
                _issued_tokens.add(body[key])
        return body

    issue._records_tokens = True
    OAuth.issue = issue

    original_new_code = OAuth.new_code

    def new_code(self, *args, **kwargs):
        code = original_new_code(self, *args, **kwargs)
        _issued_codes.add(code)
        return code

    OAuth.new_code = new_code


class _NotFromTheEmulator(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(EMULATOR_LOGGERS)


def _capture_handler(path: Path) -> logging.Handler:
    from qbsync.core.logging import JsonFormatter, LogContextFilter, RedactSecretsFilter

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(JsonFormatter())
    for log_filter in (_NotFromTheEmulator(), LogContextFilter(), RedactSecretsFilter()):
        handler.addFilter(log_filter)
    return handler


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    global _handler
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    _record_sandbox_tokens()
    _handler = _capture_handler(LOG_DIR / "test-process.jsonl")
    logging.getLogger().addHandler(_handler)
    # Anything that configures logging again (django.setup() from Celery's Django fixup, a test's
    # dictConfig) replaces the root handlers; every new record puts ours back before it is handled.
    make_record = logging.getLogRecordFactory()

    def record_factory(*args, **kwargs):
        root = logging.getLogger()
        if _handler is not None and _handler not in root.handlers:
            root.addHandler(_handler)
        return make_record(*args, **kwargs)

    logging.setLogRecordFactory(record_factory)


def secrets_of_the_run() -> dict[str, str]:
    """What must never appear in a log line, each with a label for the report."""
    from django.conf import settings

    from tests.conftest import QBO_TEST_CLIENT_SECRET

    found = {token: "a token issued by the QBO sandbox" for token in _issued_tokens}
    found |= {code: "an authorization code issued by the QBO sandbox" for code in _issued_codes}
    found[QBO_TEST_CLIENT_SECRET] = "the QBO client secret"
    found[settings.SECRET_KEY] = "SECRET_KEY"
    for key in settings.QBSYNC_ENCRYPTION_KEYS:
        found[key] = "an encryption key (QBSYNC_ENCRYPTION_KEYS)"
    return found


def client_names() -> dict[str, str]:
    from qbsync.demo.services import AWKWARD_ACCOUNTS, DEMO_UK_ACCOUNTS, LONG_NAME, _plain_accounts

    names = {name for name, _ in [*AWKWARD_ACCOUNTS, *_plain_accounts()]} | {LONG_NAME}
    names |= {account[0] for account in DEMO_UK_ACCOUNTS}
    return {name: "a demo client's name" for name in names}


def scan(paths: list[Path], needles: dict[str, str]) -> list[str]:
    findings = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, 1):
                for needle, label in needles.items():
                    if needle and needle in line:
                        findings.append(f"{path.relative_to(ROOT)}:{number}: {label} ({needle[:6]}...)")
                for clear in OAUTH_QUERY_IN_CLEAR.finditer(line):
                    findings.append(
                        f"{path.relative_to(ROOT)}:{number}: an OAuth query value ({clear[0][:8]}...)"
                    )
    return findings


def log_files() -> list[Path]:
    workers = [p for p in (ROOT / "var").glob(f"worker-*-{RUN_ID}.log") if p.stat().st_mtime >= _started]
    return [LOG_DIR / "test-process.jsonl", *sorted(workers)]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if _handler is not None:
        _handler.flush()
        logging.getLogger().removeHandler(_handler)
        _handler.close()
    paths = [path for path in log_files() if path.exists()]
    findings = scan(paths, secrets_of_the_run() | client_names())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = (
        f"log scan: {len(paths)} log file(s), {sum(p.stat().st_size for p in paths)} bytes, "
        f"{len(_issued_tokens)} sandbox token(s), {len(_issued_codes)} authorization code(s) and "
        f"{len(client_names())} client names looked for"
    )
    (LOG_DIR / "scan.txt").write_text("\n".join([summary, *findings]) + "\n")
    if reporter:
        reporter.write_line(summary)
    if findings:
        if reporter:
            reporter.write_line("SECRETS OR CLIENT NAMES IN THE LOGS:", red=True)
            for finding in findings[:50]:
                reporter.write_line(f"  {finding}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

"""Security checks of issue 8 that are not the IDOR sweep (tests/test_tenant_isolation.py):

- CSRF on every state-changing view: every URL the resolver knows refuses a signed-in owner's POST without
  a token, and nothing is written. New URLs are found by themselves; a URL with an id is given one of the
  firm's own objects by the tenant-isolation test's cases, so a URL without a case fails there and here.
- Tokens encrypted at rest, read back from the raw database row.
- The log scan of the whole run (tests/log_capture.py) really sees the run's log records and the sandbox's
  tokens. `manage.py check --deploy` is tests/qbsync/settings/test_base.py.
"""

import json
import logging
import logging.config
import uuid

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection as db
from django.test import Client
from django.urls import resolve, reverse

from qbsync.firms.models import User
from qbsync.sync.models import QuickBooksConnection
from tests import log_capture
from tests.factories import UserFactory
from tests.test_tenant_isolation import (
    discover_urls,
    snapshot,
    their_object_for,
    theirs,  # noqa: F401 - a fixture, used through `objects`
)

# Views that must accept POSTs from outside a browser session, each with the proof of origin it checks
# instead; a forged POST to one must still be refused (401/403) and write nothing.
CSRF_EXEMPT: dict[str, str] = {
    "changes:qbo_webhook": "Intuit's servers post it; the intuit-signature HMAC of the body is checked",
}
CSRF_FAILURE = "CSRF verification failed"


def every_url() -> list[str]:
    return sorted(name for name, _ in discover_urls())


def url_for(name: str, arguments: list[str], objects: dict) -> str:
    if not arguments:
        return reverse(name)
    if arguments != ["pk"]:
        raise AssertionError(f"URL {name!r} takes {arguments}: add a case for it in tests/test_security.py")
    return reverse(name, kwargs={"pk": their_object_for(name, objects).pk})


@pytest.fixture
def objects(request):
    """A full set of practice data of one firm (the tenant-isolation test's `theirs`)."""
    return request.getfixturevalue("theirs")


@pytest.fixture
def owner_without_csrf_token(other_firm):
    """An owner of the firm the `objects` belong to, in a client that enforces CSRF as browsers do."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(firm=other_firm, role=User.Role.OWNER))
    return client


@pytest.mark.django_db
def test_the_sweep_covers_every_kind_of_url():
    names = every_url()
    assert {"login", "logout", "accounts:archive", "quickbooks:disconnect", "invoices:payment_delete"} <= set(
        names
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", every_url())
def test_a_post_without_a_csrf_token_is_refused_and_writes_nothing(owner_without_csrf_token, objects, name):
    arguments = dict(discover_urls())[name]
    url = url_for(name, arguments, objects)
    exempt = getattr(resolve(url).func, "csrf_exempt", False)
    assert not exempt or name in CSRF_EXEMPT, (
        f"URL {name!r} ({url}) is csrf_exempt: protect it, or list it in CSRF_EXEMPT with the proof of "
        "origin it checks instead"
    )
    before = snapshot()

    response = owner_without_csrf_token.post(url, {"name": "Forged", "mode": "auto", "confirm": "yes"})

    if exempt:
        assert response.status_code in (401, 403), f"{name} accepted a forged POST: {response.status_code}"
    else:
        assert response.status_code == 403, f"{name} ({url}) answered {response.status_code} to a forged POST"
        assert CSRF_FAILURE in response.content.decode()
    assert snapshot() == before


@pytest.mark.django_db
def test_a_post_with_the_token_gets_through_the_same_client(owner_without_csrf_token, objects):
    """The control: the 403 above is the CSRF check, not something else refusing the owner."""
    account = objects["account"]
    page = owner_without_csrf_token.get(reverse("accounts:edit", kwargs={"pk": account.pk}))
    token = page.cookies["csrftoken"].value

    response = owner_without_csrf_token.post(
        reverse("accounts:archive", kwargs={"pk": account.pk}), {"csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert not account.is_active


# Tokens at rest -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_tokens_are_encrypted_in_the_database_row(qbo_connection):
    access, refresh = qbo_connection.access_token, qbo_connection.refresh_token
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM sync_quickbooksconnection WHERE id = %s", [qbo_connection.pk])
        columns = [column[0] for column in cursor.description]
        row = dict(zip(columns, cursor.fetchone(), strict=True))

    whole_row = json.dumps(row, default=str)
    assert access not in whole_row
    assert refresh not in whole_row
    # A Fernet token under the first configured key, which decrypts to the token the sandbox issued.
    fernet = Fernet(settings.QBSYNC_ENCRYPTION_KEYS[0])
    for stored, token in ((row["access_token"], access), (row["refresh_token"], refresh)):
        scheme, _, ciphertext = stored.partition(":")
        assert scheme == "fernet"
        assert fernet.decrypt(ciphertext.encode()).decode() == token
    assert access in log_capture.issued_tokens()
    assert refresh in log_capture.issued_tokens()
    assert QuickBooksConnection.objects.get(pk=qbo_connection.pk).access_token == access


# The log scan -------------------------------------------------------------------------------------------


def test_the_run_captures_log_records_through_the_production_chain():
    # Celery's Django fixup (and anything else) may configure logging again: the capture survives it.
    logging.config.dictConfig(settings.LOGGING)
    marker = f"log-capture-{uuid.uuid4().hex}"
    logging.getLogger("qbsync.tests.security").warning("%s with %s", marker, settings.SECRET_KEY)
    for handler in logging.getLogger().handlers:
        handler.flush()

    lines = (log_capture.LOG_DIR / "test-process.jsonl").read_text(encoding="utf-8").splitlines()
    (line,) = [json.loads(text) for text in lines if marker in text]
    assert line["message"] == f"{marker} with [redacted]"


def test_the_scan_finds_secrets_and_client_names(tmp_path):
    path = log_capture.ROOT / "var" / f"scan-self-test-{uuid.uuid4().hex}.log"
    token = "AB11-a-token-from-the-sandbox"
    try:
        path.write_text(f'{{"message": "ok"}}\n{{"message": "token {token}"}}\n{{"message": "Cool Cars"}}\n')
        findings = log_capture.scan([path], {token: "a token"} | log_capture.client_names())
    finally:
        path.unlink()

    assert findings == [
        f"var/{path.name}:2: a token (AB11-a...)",
        f"var/{path.name}:3: a demo client's name (Cool C...)",
    ]


def test_the_scan_looks_for_every_secret_of_the_run(settings):
    secrets = log_capture.secrets_of_the_run()

    assert secrets[settings.SECRET_KEY] == "SECRET_KEY"
    assert all(key in secrets for key in settings.QBSYNC_ENCRYPTION_KEYS)
    assert "qbsync-tests-secret" in secrets
    assert "O'Brien & Sons" in log_capture.client_names()

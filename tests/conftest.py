"""Shared fixtures. Tests that need the real PostgreSQL or Redis ask for them through `require_*`:
locally they skip with a reason when the service is not configured; with CI=true they fail instead."""

import os
import shutil

import pytest

from qbsync.firms.models import User
from tests.factories import TEST_PASSWORD, FirmFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() == "true"
# Captures every log record of the run and fails it if a secret or a client name was logged.
pytest_plugins = ["tests.log_capture"]


def _missing(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: infrastructure tests may not skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _empty_task_queues():
    """Messages left in the broker by an earlier run (or a killed worker) must not feed this run's workers."""
    from qbsync.celery import app

    try:
        app.control.purge()
    except Exception as exc:  # noqa: BLE001 - a broker that is down is reported by the tests that need it
        print(f"could not purge the task queues: {exc}")
    yield
    from django.conf import settings

    if not settings.REDIS_URL:
        shutil.rmtree(settings.CELERY_FILESYSTEM_BROKER_DIR, ignore_errors=True)


@pytest.fixture
def require_postgres(settings):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL=postgres://...")


@pytest.fixture
def require_redis(settings):
    if not settings.REDIS_URL:
        _missing("needs Redis: set REDIS_URL=redis://...")
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"REDIS_URL is set but Redis does not answer: {exc}")
    return settings.REDIS_URL


@pytest.fixture
def firm(db):
    return FirmFactory()


@pytest.fixture
def other_firm(db):
    return FirmFactory()


@pytest.fixture
def owner(firm):
    return UserFactory(firm=firm, role=User.Role.OWNER)


@pytest.fixture
def firm_admin(firm):
    return UserFactory(firm=firm, role=User.Role.ADMIN)


@pytest.fixture
def staff_user(firm):
    return UserFactory(firm=firm, role=User.Role.STAFF)


def _client_for(client, user):
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


@pytest.fixture
def owner_client(client, owner):
    return _client_for(client, owner)


@pytest.fixture
def firm_admin_client(client, firm_admin):
    return _client_for(client, firm_admin)


@pytest.fixture
def staff_client(client, staff_user):
    return _client_for(client, staff_user)


# QuickBooks Online sandbox ---------------------------------------------------------------------------

QBO_TEST_CLIENT_ID = "qbsync-tests"
QBO_TEST_CLIENT_SECRET = "qbsync-tests-secret"
QBO_TEST_REDIRECT_URI = "http://testserver/settings/integrations/quickbooks/callback/"


@pytest.fixture(scope="session")
def qbo_sandbox():
    """One in-process QBO sandbox over real HTTP on a free loopback port, for the whole run."""
    from qbsync.sandbox.testing import running_sandbox

    with running_sandbox() as sandbox:
        sandbox.control.register_client(QBO_TEST_CLIENT_ID, QBO_TEST_CLIENT_SECRET, [QBO_TEST_REDIRECT_URI])
        yield sandbox


@pytest.fixture
def qbo(settings, qbo_sandbox, monkeypatch):
    """Point the app at the sandbox, as production points it at Intuit: by settings alone.

    The sandbox lives for the whole run; a test that moves its clock ahead has it moved back afterwards,
    so that QBO's clock and ours agree for the next test (a 29-day CDC window is 32 days on a clock three
    days ahead)."""
    settings.QBO_API_BASE_URL = qbo_sandbox.api_base
    settings.QBO_OAUTH_DISCOVERY_URL = qbo_sandbox.discovery_url
    settings.QBO_CLIENT_ID = QBO_TEST_CLIENT_ID
    settings.QBO_CLIENT_SECRET = QBO_TEST_CLIENT_SECRET
    settings.QBO_REDIRECT_URI = QBO_TEST_REDIRECT_URI
    settings.QBO_READ_TIMEOUT = 5.0
    advance = qbo_sandbox.control.advance_clock
    advanced: list[float] = []

    def advance_and_remember(seconds: float) -> dict:
        advanced.append(seconds)
        return advance(seconds)

    monkeypatch.setattr(qbo_sandbox.control, "advance_clock", advance_and_remember)
    yield qbo_sandbox
    if sum(advanced):
        advance(-sum(advanced))


@pytest.fixture
def qbo_realm(qbo):
    """A fresh sandbox company for one test."""
    import uuid

    return qbo.control.create_company(
        f"Test Company {uuid.uuid4().hex[:6]}", customer_types=["Individual", "Business"]
    )


@pytest.fixture
def qbo_connection(firm, owner, qbo, qbo_realm):
    """The firm connected to its sandbox company with a fresh token pair (no consent page)."""
    from tests.factories import connection_for_realm

    return connection_for_realm(firm=firm, user=owner, sandbox=qbo, realm_id=qbo_realm)


@pytest.fixture
def connected(qbo_connection):
    """The firm connected, with the first-connect defaults (customer type "Individual", default item)."""
    from qbsync.sync.services.connections import connection_apply_first_defaults

    connection_apply_first_defaults(connection=qbo_connection)
    return qbo_connection

"""Token refresh, rotation and revocation against the sandbox's real token endpoint."""

import threading
from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone

from qbsync.quickbooks.errors import (
    QboRateLimitError,
    QboReconnectRequiredError,
    QboUnavailableError,
)
from qbsync.sync.engine.client import connection_access_token, connection_client, connection_refresh_tokens
from qbsync.sync.models import QuickBooksConnection
from qbsync.sync.services.connections import connection_check

pytestmark = pytest.mark.django_db


def oauth_calls(sandbox, realm_id: str, grant_type: str = "refresh_token") -> list[dict]:
    return [
        r
        for r in sandbox.control.requests(realm_id)
        if r.get("kind") == "oauth" and r.get("operation") == grant_type
    ]


def data_calls(sandbox, realm_id: str) -> list[dict]:
    return [r for r in sandbox.control.requests(realm_id) if r.get("kind") != "oauth"]


def expire_locally(connection):
    QuickBooksConnection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_fresh_token_is_used_without_refreshing(qbo, qbo_connection):
    assert connection_access_token(connection_id=qbo_connection.pk) == qbo_connection.access_token
    assert oauth_calls(qbo, qbo_connection.realm_id) == []


def test_an_expiring_token_is_refreshed_and_the_rotated_refresh_token_stored_first(qbo, qbo_connection):
    expire_locally(qbo_connection)
    new_access = connection_access_token(connection_id=qbo_connection.pk)
    stored = QuickBooksConnection.objects.get(pk=qbo_connection.pk)
    assert new_access == stored.access_token != qbo_connection.access_token
    assert stored.refresh_token != qbo_connection.refresh_token
    assert stored.token_version == qbo_connection.token_version + 1
    assert stored.access_token_expires_at > timezone.now() + timedelta(minutes=50)
    assert len(oauth_calls(qbo, qbo_connection.realm_id)) == 1


def test_a_token_qbo_rejects_is_refreshed_once_and_the_call_retried(qbo, qbo_connection):
    qbo.control.expire_tokens(qbo_connection.realm_id)  # QBO now says 401 although we think it is valid
    profile = connection_check(connection_id=qbo_connection.pk)
    assert profile.name == qbo_connection.company_name
    assert len(oauth_calls(qbo, qbo_connection.realm_id)) == 1
    statuses = [r["status"] for r in data_calls(qbo, qbo_connection.realm_id)]
    assert statuses.count(401) == 1


def test_a_reused_refresh_token_means_reconnect_with_no_retry_loop(qbo, qbo_connection):
    expire_locally(qbo_connection)
    connection_access_token(connection_id=qbo_connection.pk)  # rotates; the old refresh token is spent
    qbo.control.advance_clock(3 * 24 * 3600)  # past the sandbox's grace for a superseded refresh token
    # Put the superseded refresh token back, as a worker holding a stale copy would use it.
    stale = QuickBooksConnection.objects.get(pk=qbo_connection.pk)
    stale.refresh_token = qbo_connection.refresh_token
    stale.access_token_expires_at = timezone.now() - timedelta(seconds=1)
    stale.save()
    with pytest.raises(QboReconnectRequiredError):
        connection_access_token(connection_id=qbo_connection.pk)
    stored = QuickBooksConnection.objects.get(pk=qbo_connection.pk)
    assert stored.status == QuickBooksConnection.Status.NEEDS_RECONNECT
    assert "reconnect" in stored.status_reason
    refreshes = len(oauth_calls(qbo, qbo_connection.realm_id))
    # Every later call stops before reaching Intuit: no retry loop.
    for _ in range(3):
        with pytest.raises(QboReconnectRequiredError):
            connection_check(connection_id=qbo_connection.pk)
    assert len(oauth_calls(qbo, qbo_connection.realm_id)) == refreshes


def test_qbo_refusing_access_marks_the_connection(qbo, qbo_connection):
    qbo.control.fault(qbo_connection.realm_id, "auth_3100", count=1)
    with pytest.raises(QboReconnectRequiredError):
        connection_check(connection_id=qbo_connection.pk)
    assert QuickBooksConnection.objects.get(pk=qbo_connection.pk).status == "needs_reconnect"


@pytest.mark.parametrize(
    ("fault", "spec", "expected"),
    [
        ("http_500", {}, QboUnavailableError),
        ("http_503", {}, QboUnavailableError),
        ("throttle_json", {"retry_after": 7}, QboRateLimitError),
        ("throttle_xml", {"retry_after": 7}, QboRateLimitError),
        ("hang", {"hang_seconds": 3}, QboUnavailableError),
    ],
)
def test_sandbox_faults_come_out_as_typed_errors(settings, qbo, qbo_connection, fault, spec, expected):
    settings.QBO_READ_TIMEOUT = 1.0
    qbo.control.fault(qbo_connection.realm_id, fault, count=1, **spec)
    with pytest.raises(expected) as exc:
        connection_client(qbo_connection).company_info()
    if expected is QboRateLimitError:
        assert exc.value.retry_after == 7.0
        assert exc.value.status == 429
    assert QuickBooksConnection.objects.get(pk=qbo_connection.pk).status == "connected"


def test_expired_token_fault_is_refreshed_transparently(qbo, qbo_connection):
    qbo.control.fault(qbo_connection.realm_id, "expired_token", count=1)
    assert connection_client(qbo_connection).company_info()["CompanyName"] == qbo_connection.company_name
    assert len(oauth_calls(qbo, qbo_connection.realm_id)) == 1


@pytest.mark.django_db(transaction=True)
def test_ten_workers_finding_an_expired_token_cause_one_refresh(require_postgres, qbo, qbo_connection):
    expire_locally(qbo_connection)
    barrier = threading.Barrier(10)
    results, errors = [], []

    def work():
        try:
            barrier.wait()
            results.append(
                connection_client(QuickBooksConnection.objects.get(pk=qbo_connection.pk)).company_info()
            )
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=work) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 10
    assert len(oauth_calls(qbo, qbo_connection.realm_id)) == 1


def test_refresh_after_rejection_returns_a_token_someone_else_already_got(qbo, qbo_connection):
    expire_locally(qbo_connection)
    fresh = connection_access_token(connection_id=qbo_connection.pk)
    # A worker that still holds the old token reports it rejected: no second refresh.
    assert (
        connection_refresh_tokens(connection_id=qbo_connection.pk, rejected_token=qbo_connection.access_token)
        == fresh
    )
    assert len(oauth_calls(qbo, qbo_connection.realm_id)) == 1


def test_a_removed_admin_marks_the_connection(qbo, qbo_connection):
    qbo.control.fault(qbo_connection.realm_id, "auth_120", count=1)
    with pytest.raises(QboReconnectRequiredError) as exc:
        connection_check(connection_id=qbo_connection.pk)
    assert exc.value.code == "120"
    stored = QuickBooksConnection.objects.get(pk=qbo_connection.pk)
    assert stored.status == "needs_reconnect"
    assert "admin" in stored.status_reason
    # Issue 14: the reason is read by the firm (banner, settings, notice): words, not QBO's code.
    assert "120" not in stored.status_reason
    assert "errorCode" not in stored.status_reason


def test_the_five_year_hard_expiry_is_stored_when_intuit_sends_it(qbo, qbo_connection):
    import time
    from datetime import datetime

    # The session's sandbox clock may run ahead of ours (other tests advance it); Intuit sends seconds left.
    sandbox_now = datetime.fromisoformat(qbo.control.advance_clock(0)["now"]).timestamp()
    hard_expiry = time.time() + 1000 * 24 * 3600
    qbo.control.settings(
        qbo_connection.realm_id, refresh_token_hard_expires_at=sandbox_now + 1000 * 24 * 3600
    )
    expire_locally(qbo_connection)
    connection_access_token(connection_id=qbo_connection.pk)
    stored = QuickBooksConnection.objects.get(pk=qbo_connection.pk)
    assert stored.refresh_token_hard_expires_at is not None
    assert abs(stored.refresh_token_hard_expires_at.timestamp() - hard_expiry) < 120

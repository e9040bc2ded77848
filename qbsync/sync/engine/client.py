"""The firm's QBO client and its tokens: a valid access token for every call, refreshed once per
connection at a time, and an authorisation QBO refuses for good marking the connection at once.

Tokens change only here and in the connect flow (`qbsync/sync/services/connections.py`), under a row lock
on the connection, and a rotated refresh token is committed in the same transaction that received it,
before anything uses the new access token.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from qbsync.quickbooks import oauth
from qbsync.quickbooks.client import QboClient
from qbsync.quickbooks.errors import QboReconnectRequiredError
from qbsync.quickbooks.governor import governor_from_settings

from ..models import QuickBooksConnection
from .connection import NOT_CONNECTED, usable_connection
from .metering import FirmMeter

logger = logging.getLogger(__name__)


def oauth_config() -> oauth.OAuthConfig:
    return oauth.OAuthConfig(
        client_id=settings.QBO_CLIENT_ID,
        client_secret=settings.QBO_CLIENT_SECRET,
        redirect_uri=settings.QBO_REDIRECT_URI,
        discovery_url=settings.QBO_OAUTH_DISCOVERY_URL,
        timeout=(settings.QBO_CONNECT_TIMEOUT, settings.QBO_READ_TIMEOUT),
    )


def _expiry(seconds: int | None):
    return timezone.now() + timedelta(seconds=seconds) if seconds else None


def store_grant(connection: QuickBooksConnection, grant: oauth.TokenGrant) -> list[str]:
    connection.access_token = grant.access_token
    connection.refresh_token = grant.refresh_token
    connection.access_token_expires_at = _expiry(grant.access_expires_in)
    connection.refresh_token_expires_at = _expiry(grant.refresh_expires_in)
    if grant.refresh_hard_expires_in:
        connection.refresh_token_hard_expires_at = _expiry(grant.refresh_hard_expires_in)
    connection.token_version += 1
    return [
        "access_token",
        "refresh_token",
        "access_token_expires_at",
        "refresh_token_expires_at",
        "refresh_token_hard_expires_at",
        "token_version",
        "updated_at",
    ]


ACCESS_REFUSED = (
    "QuickBooks Online refused access to the company: the user who connected it may have lost admin "
    "rights there, or the app's access was removed. The owner needs to reconnect."
)


def set_status(connection: QuickBooksConnection, status: str, reason: str = "") -> list[str]:
    connection.status = status
    connection.status_reason = reason
    connection.status_changed_at = timezone.now()
    return ["status", "status_reason", "status_changed_at", "updated_at"]


def connection_mark_needs_reconnect(*, connection_id: int, reason: str) -> None:
    """Stop all calls for the firm until the owner reconnects. Idempotent."""
    QuickBooksConnection.objects.filter(
        pk=connection_id, status=QuickBooksConnection.Status.CONNECTED
    ).update(
        status=QuickBooksConnection.Status.NEEDS_RECONNECT,
        status_reason=reason,
        status_changed_at=timezone.now(),
        updated_at=timezone.now(),
    )
    logger.warning("QuickBooks connection %s needs reconnect: %s", connection_id, reason)


def _needs_refresh(connection: QuickBooksConnection) -> bool:
    if not connection.access_token or connection.access_token_expires_at is None:
        return True
    margin = timedelta(seconds=settings.QBO_TOKEN_REFRESH_MARGIN)
    return connection.access_token_expires_at - margin <= timezone.now()


def _usable_or_raise(connection: QuickBooksConnection) -> None:
    if connection.status != QuickBooksConnection.Status.CONNECTED:
        raise QboReconnectRequiredError(connection.status_reason or NOT_CONNECTED, code="not_connected")


def connection_access_token(*, connection_id: int) -> str:
    """A valid access token: the stored one, or a fresh one when it has expired or is about to."""
    connection = QuickBooksConnection.objects.get(pk=connection_id)
    _usable_or_raise(connection)
    if not _needs_refresh(connection):
        return connection.access_token
    return connection_refresh_tokens(connection_id=connection_id)


def connection_refresh_tokens(*, connection_id: int, rejected_token: str | None = None) -> str:
    """Single-flight refresh: whoever holds the row lock refreshes; the others then find a fresh token.

    ``rejected_token`` is the token QBO just refused: if the stored token differs, someone else already
    refreshed and theirs is returned. invalid_grant marks the connection as needing reconnect.
    """
    reconnect_error: QboReconnectRequiredError | None = None
    with transaction.atomic():
        connection = QuickBooksConnection.objects.select_for_update().get(pk=connection_id)
        _usable_or_raise(connection)
        already_refreshed = rejected_token is not None and connection.access_token != rejected_token
        if not _needs_refresh(connection) and (rejected_token is None or already_refreshed):
            return connection.access_token
        try:
            grant = oauth.refresh_tokens(oauth_config(), refresh_token=connection.refresh_token)
        except QboReconnectRequiredError as exc:
            reconnect_error = exc
            connection.save(
                update_fields=set_status(
                    connection,
                    QuickBooksConnection.Status.NEEDS_RECONNECT,
                    "QuickBooks no longer accepts this connection (it was revoked, expired or replaced). "
                    "The owner needs to reconnect.",
                )
            )
        else:
            connection.save(update_fields=store_grant(connection, grant))
            return connection.access_token
    logger.warning("QuickBooks refresh refused for connection %s: connection needs reconnect", connection_id)
    raise reconnect_error


class ConnectionTokenSource:
    def __init__(self, connection_id: int):
        self.connection_id = connection_id

    def access_token(self) -> str:
        return connection_access_token(connection_id=self.connection_id)

    def refresh_after_rejection(self, rejected_token: str) -> str:
        return connection_refresh_tokens(connection_id=self.connection_id, rejected_token=rejected_token)


class ConnectionClient(QboClient):
    """A firm's client: an authorisation QBO refuses for good marks the connection at once."""

    def __init__(self, connection: QuickBooksConnection, *, past_read_pause: bool = False):
        super().__init__(
            realm_id=connection.realm_id,
            base_url=settings.QBO_API_BASE_URL,
            token_source=ConnectionTokenSource(connection.pk),
            governor=governor_from_settings(),
            meter=FirmMeter(connection.firm_id, past_read_pause=past_read_pause),
            read_refusal_pattern=settings.QBO_READ_REFUSAL_PATTERN,
            timeout=(settings.QBO_CONNECT_TIMEOUT, settings.QBO_READ_TIMEOUT),
            minor_version=settings.QBO_MINOR_VERSION,
        )
        self.connection_id = connection.pk

    def request(self, *args, **kwargs):
        try:
            return super().request(*args, **kwargs)
        except QboReconnectRequiredError as exc:
            if exc.code != "not_connected":
                # QBO's code and message go to the log (with the intuit_tid); people read words.
                logger.warning(
                    "QBO refused access to connection %s: code %s, %s",
                    self.connection_id,
                    exc.code or "authorization",
                    exc.message,
                )
                connection_mark_needs_reconnect(connection_id=self.connection_id, reason=ACCESS_REFUSED)
            raise


def client_for_token(*, realm_id: str, token_source, firm_id: int | None) -> QboClient:
    """A client on a token not stored yet (the connect flow reads the company's name with it)."""
    return QboClient(
        realm_id=realm_id,
        base_url=settings.QBO_API_BASE_URL,
        token_source=token_source,
        governor=governor_from_settings(),
        meter=FirmMeter(firm_id),
        read_refusal_pattern=settings.QBO_READ_REFUSAL_PATTERN,
        timeout=(settings.QBO_CONNECT_TIMEOUT, settings.QBO_READ_TIMEOUT),
        minor_version=settings.QBO_MINOR_VERSION,
    )


def connection_client(connection: QuickBooksConnection, *, past_read_pause: bool = False) -> ConnectionClient:
    """The firm's client. ``past_read_pause``: its reads go out while reads are paused (the probe only)."""
    return ConnectionClient(connection, past_read_pause=past_read_pause)


class FirmClients:
    """Each firm's usable connection and its client, looked up once for records pushed one after another
    in one task (`work/singles.py`): one query, and one HTTP session kept alive, for all of them."""

    def __init__(self) -> None:
        self._by_firm: dict[int, tuple[QuickBooksConnection | None, ConnectionClient | None]] = {}

    def of(self, firm_id: int) -> tuple[QuickBooksConnection | None, ConnectionClient | None]:
        """(the connection, its client), or (None, None) when calls may not go out on it."""
        if firm_id not in self._by_firm:
            connection = usable_connection(firm_id)
            self._by_firm[firm_id] = (connection, connection_client(connection) if connection else None)
        return self._by_firm[firm_id]

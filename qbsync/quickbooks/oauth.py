"""Intuit OAuth 2.0 through intuit-oauth's AuthClient, with timeouts, a cached discovery document, and
the refresh-token hard expiry asked for. Returns token grants; storing them is the caller's job."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from .errors import QboAuthError, QboReconnectRequiredError, QboUnavailableError

ACCOUNTING_SCOPES = [Scopes.ACCOUNTING]
DISCOVERY_CACHE_SECONDS = 24 * 60 * 60
HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"


@dataclass(frozen=True)
class OAuthConfig:
    client_id: str
    client_secret: str
    redirect_uri: str
    discovery_url: str
    timeout: tuple[float, float] = (5.0, 30.0)


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint returned. Lifetimes are seconds from now, as Intuit sends them."""

    # repr=False: tokens never reach logs or tracebacks.
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_in: int = 3600
    refresh_expires_in: int | None = None
    refresh_hard_expires_in: int | None = None


_discovery_cache: dict[str, tuple[float, requests.Response]] = {}
_discovery_lock = threading.Lock()


class _AuthClient(AuthClient):
    """AuthClient fetches the discovery document at every construction and never sets a timeout."""

    def __init__(self, config: OAuthConfig, **kwargs):
        self._timeout = config.timeout
        self._discovery_url = config.discovery_url
        super().__init__(
            config.client_id, config.client_secret, config.redirect_uri, config.discovery_url, **kwargs
        )

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self._timeout)
        if method.upper() == "GET" and url == self._discovery_url:
            return self._discovery(url, **kwargs)
        if method.upper() == "POST" and url == getattr(self, "token_endpoint", None):
            headers = dict(kwargs.pop("headers", None) or {})
            headers[HARD_EXPIRY_HEADER] = "true"
            kwargs["headers"] = headers
        return super().request(method, url, **kwargs)

    def _discovery(self, url, **kwargs) -> requests.Response:
        with _discovery_lock:
            cached = _discovery_cache.get(url)
            if cached and time.monotonic() - cached[0] < DISCOVERY_CACHE_SECONDS:
                return cached[1]
        response = super().request("GET", url, **kwargs)
        if response.status_code == 200:
            with _discovery_lock:
                _discovery_cache[url] = (time.monotonic(), response)
        return response


def _auth_client(config: OAuthConfig, **kwargs) -> _AuthClient:
    try:
        return _AuthClient(config, **kwargs)
    except AuthClientError as exc:
        raise QboUnavailableError(
            f"Intuit's OAuth discovery document could not be read (HTTP {exc.status_code})"
        ) from exc
    except requests.RequestException as exc:
        raise QboUnavailableError("Could not reach Intuit's OAuth service") from exc


def _grant_from(client: _AuthClient) -> TokenGrant:
    def seconds(name: str) -> int | None:
        value = getattr(client, name, None)
        return int(value) if value not in (None, "") else None

    return TokenGrant(
        access_token=client.access_token,
        refresh_token=client.refresh_token,
        access_expires_in=seconds("expires_in") or 3600,
        refresh_expires_in=seconds("x_refresh_token_expires_in"),
        refresh_hard_expires_in=seconds("x_refresh_token_hard_expires_in"),
    )


def _token_call(action: str, call) -> None:
    try:
        call()
    except AuthClientError as exc:
        body = {}
        try:
            body = exc.response.json() if exc.response is not None else {}
        except ValueError:
            body = {}
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        if exc.status_code >= 500:
            raise QboUnavailableError(
                f"Intuit's token service failed to {action} (HTTP {exc.status_code})",
                status=exc.status_code,
                intuit_tid=exc.intuit_tid or "",
            ) from exc
        if error == "invalid_grant":
            raise QboReconnectRequiredError(
                "Intuit no longer accepts this connection's authorization (invalid_grant): it was revoked, "
                "expired, or replaced",
                status=exc.status_code,
                code="invalid_grant",
                intuit_tid=exc.intuit_tid or "",
            ) from exc
        raise QboAuthError(
            f"Intuit refused to {action} ({error or 'HTTP ' + str(exc.status_code)})",
            status=exc.status_code,
            code=error,
            intuit_tid=exc.intuit_tid or "",
        ) from exc
    except requests.RequestException as exc:
        raise QboUnavailableError(f"Could not reach Intuit's token service to {action}") from exc


def authorization_url(config: OAuthConfig, *, state: str) -> str:
    return _auth_client(config).get_authorization_url(ACCOUNTING_SCOPES, state_token=state)


def exchange_code(config: OAuthConfig, *, code: str, realm_id: str) -> TokenGrant:
    """Trade the callback's authorization code for tokens. A code works once."""
    client = _auth_client(config)
    _token_call("connect", lambda: client.get_bearer_token(code, realm_id=realm_id))
    return _grant_from(client)


def refresh_tokens(config: OAuthConfig, *, refresh_token: str) -> TokenGrant:
    """A new access token and, usually, a rotated refresh token, which the caller must store first."""
    client = _auth_client(config, refresh_token=refresh_token)
    _token_call("refresh the access token", lambda: client.refresh(refresh_token=refresh_token))
    return _grant_from(client)


def revoke_token(config: OAuthConfig, *, token: str) -> None:
    client = _auth_client(config)
    _token_call("revoke the connection", lambda: client.revoke(token=token))

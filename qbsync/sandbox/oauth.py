"""Intuit OAuth 2.0 as the sandbox plays it: discovery, consent page, token, revoke.

Tokens are opaque random strings bound to a *grant* (one user authorization of one company by one client).
Refresh rotates the refresh token; the superseded one keeps working for `refresh_grace_seconds` (returning
the newest refresh token), then gives `invalid_grant`. Revoking either token of a grant revokes the grant.
"""

from __future__ import annotations

import base64
import binascii
import html
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from .clock import Clock
from .regions import PRESET_LABELS
from .store import Company, Store

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"


class AuthFailure(Exception):
    def __init__(self, status: int, code: str, detail: str | None):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass
class TokenError(Exception):
    status: int
    error: str
    description: str | None = None

    def body(self) -> dict:
        out = {"error": self.error}
        if self.description:
            out["error_description"] = self.description
        return out


def _token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(36)


class OAuth:
    def __init__(self, clock: Clock, store: Store):
        self.clock = clock
        self.store = store
        self.lock = threading.RLock()
        self.clients: dict[str, dict] = {}  # client_id -> {"client_secret", "redirect_uris"}; empty = any
        self.grants: dict[str, dict] = {}
        self.access: dict[str, dict] = {}
        self.refresh: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.token_requests = 0

    # --- persistence ----------------------------------------------------------------------------
    def dump(self) -> dict:
        with self.lock:
            return {
                "clients": self.clients,
                "grants": self.grants,
                "access": self.access,
                "refresh": self.refresh,
            }

    def restore(self, data: dict | None) -> None:
        if not data:
            return
        with self.lock:
            self.clients = data.get("clients", {})
            self.grants = data.get("grants", {})
            self.access = data.get("access", {})
            self.refresh = data.get("refresh", {})

    def clear(self) -> None:
        with self.lock:
            self.grants.clear()
            self.access.clear()
            self.refresh.clear()
            self.codes.clear()
            self.clients.clear()

    # --- clients --------------------------------------------------------------------------------
    def register_client(
        self, client_id: str, client_secret: str, redirect_uris: list[str] | None = None
    ) -> None:
        with self.lock:
            self.clients[client_id] = {
                "client_secret": client_secret,
                "redirect_uris": list(redirect_uris or []),
            }

    def check_client(self, client_id: str | None, client_secret: str | None) -> str:
        if not client_id:
            raise TokenError(401, "invalid_client", "Client authentication failed")
        if self.clients:
            known = self.clients.get(client_id)
            if known is None or not secrets.compare_digest(known["client_secret"], client_secret or ""):
                raise TokenError(401, "invalid_client", "Client authentication failed")
        return client_id

    @staticmethod
    def basic_credentials(header: str | None) -> tuple[str | None, str | None]:
        if not header or not header.lower().startswith("basic "):
            return None, None
        try:
            raw = base64.b64decode(header.split(" ", 1)[1].strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        client_id, _, secret = raw.partition(":")
        return client_id, secret

    # --- issuing --------------------------------------------------------------------------------
    def _company(self, realm_id: str) -> Company:
        co = self.store.get(realm_id)
        if co is None:
            raise TokenError(400, "invalid_grant", "The company no longer exists")
        return co

    def new_grant(self, realm_id: str, client_id: str, scope: str = ACCOUNTING_SCOPE) -> dict:
        grant = {
            "id": secrets.token_hex(8),
            "realm_id": realm_id,
            "client_id": client_id,
            "scope": scope,
            "created": self.clock.epoch(),
            "revoked": False,
        }
        self.grants[grant["id"]] = grant
        return grant

    def issue(self, grant: dict, include_hard_expiry: bool = False, refresh_token: str | None = None) -> dict:
        co = self._company(grant["realm_id"])
        now = self.clock.epoch()
        access_life = self.clock.real(float(co.setting("access_token_lifetime")))
        refresh_life = self.clock.real(float(co.setting("refresh_token_lifetime")))
        hard = co.setting("refresh_token_hard_expires_at")
        access = _token("AB11")
        self.access[access] = {"grant": grant["id"], "expires": now + access_life}
        if refresh_token is None:
            refresh_token = _token("AB11" + "RT")
            expires = now + refresh_life
            if hard is not None:
                expires = min(expires, float(hard))
            self.refresh[refresh_token] = {
                "grant": grant["id"],
                "expires": expires,
                "superseded": None,
                "successor": None,
            }
        rt = self.refresh[refresh_token]
        self._purge(now)
        body = {
            "token_type": "bearer",
            "access_token": access,
            "refresh_token": refresh_token,
            "expires_in": max(1, round(access_life)),
            "x_refresh_token_expires_in": max(0, round(rt["expires"] - now)),
        }
        if include_hard_expiry and hard is not None:
            body["x_refresh_token_hard_expires_in"] = max(0, round(float(hard) - now))
        return body

    def _purge(self, now: float) -> None:
        if len(self.access) > 20000:
            for token in [t for t, a in self.access.items() if a["expires"] < now]:
                del self.access[token]
        if len(self.refresh) > 20000:
            for token in [t for t, r in self.refresh.items() if r["expires"] < now]:
                del self.refresh[token]

    def issue_direct(self, realm_id: str, client_id: str | None = None) -> dict:
        """Control API: a fresh token pair without the consent page. Without a client id, the grant binds to
        the first client that refreshes it."""
        with self.lock:
            grant = self.new_grant(realm_id, client_id)
            body = self.issue(grant)
            body["realmId"] = realm_id
            return body

    def new_code(self, realm_id: str, client_id: str, redirect_uri: str, scope: str) -> str:
        with self.lock:
            co = self._company(realm_id)
            code = "AB11" + secrets.token_urlsafe(30)
            self.codes[code] = {
                "realm_id": realm_id,
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "used": False,
                "expires": self.clock.epoch() + self.clock.real(float(co.setting("auth_code_lifetime"))),
            }
            if len(self.codes) > 10000:
                now = self.clock.epoch()
                for old in [c for c, v in self.codes.items() if v["expires"] < now]:
                    del self.codes[old]
            return code

    # --- token endpoint -------------------------------------------------------------------------
    def token_endpoint(self, form: dict[str, str], headers) -> tuple[dict, str | None]:
        """Returns (response body, realm id) or raises TokenError."""
        with self.lock:
            self.token_requests += 1
            client_id, secret = self.basic_credentials(headers.get("Authorization"))
            if client_id is None:
                client_id, secret = form.get("client_id"), form.get("client_secret")
            client_id = self.check_client(client_id, secret)
            include_hard = str(headers.get("x-include-refresh-token-hard-expires-in", "")).lower() == "true"
            grant_type = form.get("grant_type")
            now = self.clock.epoch()
            if grant_type == "authorization_code":
                code = self.codes.get(form.get("code") or "")
                if code is None or code["used"] or code["expires"] < now or code["client_id"] != client_id:
                    raise TokenError(400, "invalid_grant")
                if form.get("redirect_uri") and form["redirect_uri"] != code["redirect_uri"]:
                    raise TokenError(400, "invalid_grant", "redirect_uri does not match")
                code["used"] = True
                grant = self.new_grant(code["realm_id"], client_id, code["scope"])
                return self.issue(grant, include_hard), grant["realm_id"]
            if grant_type == "refresh_token":
                token = form.get("refresh_token") or ""
                rt = self.refresh.get(token)
                if rt is None:
                    raise TokenError(400, "invalid_grant")
                grant = self.grants.get(rt["grant"])
                if grant is not None and grant["client_id"] is None:
                    grant["client_id"] = (
                        client_id  # control-API tokens bind to the first client that refreshes
                    )
                if grant is None or grant["revoked"] or grant["client_id"] != client_id:
                    raise TokenError(400, "invalid_grant")
                co = self.store.get(grant["realm_id"])
                if co is None:
                    raise TokenError(400, "invalid_grant")
                hard = co.setting("refresh_token_hard_expires_at")
                if rt["expires"] < now or (hard is not None and float(hard) <= now):
                    raise TokenError(400, "invalid_grant", "Token expired")
                if rt["superseded"] is not None:
                    grace = self.clock.real(float(co.setting("refresh_grace_seconds")))
                    successor = self.refresh.get(rt["successor"] or "")
                    if now > rt["superseded"] + grace or successor is None:
                        raise TokenError(400, "invalid_grant")
                    return self.issue(grant, include_hard, refresh_token=rt["successor"]), grant["realm_id"]
                body = self.issue(grant, include_hard)
                rt["superseded"] = now
                rt["successor"] = body["refresh_token"]
                return body, grant["realm_id"]
            if not grant_type:
                raise TokenError(400, "invalid_request", "grant_type is required")
            raise TokenError(400, "unsupported_grant_type")

    def revoke(self, token: str | None, headers, form: dict) -> str | None:
        with self.lock:
            client_id, secret = self.basic_credentials(headers.get("Authorization"))
            if client_id is None:
                client_id, secret = form.get("client_id"), form.get("client_secret")
            self.check_client(client_id, secret)
            if not token:
                raise TokenError(400, "invalid_request", "token is required")
            entry = self.refresh.get(token) or self.access.get(token)
            if entry is None:
                return None
            grant = self.grants.get(entry["grant"])
            if grant is not None:
                grant["revoked"] = True
                return grant["realm_id"]
            return None

    # --- API authentication ---------------------------------------------------------------------
    def authenticate(self, header: str | None, realm_id: str) -> str:
        """Returns the access token, or raises AuthFailure with the gateway's code."""
        if not header or not header.lower().startswith("bearer "):
            raise AuthFailure(401, "3200", "Token invalid")
        token = header.split(" ", 1)[1].strip()
        entry = self.access.get(token)
        if entry is None:
            raise AuthFailure(401, "3200", f"Token invalid: {token[:50]}")
        grant = self.grants.get(entry["grant"])
        if grant is None or grant["revoked"]:
            raise AuthFailure(401, "3200", f"Token revoked: {token[:50]}")
        if entry["expires"] <= self.clock.epoch():
            raise AuthFailure(401, "3200", f"Token expired: {token[:50]}")
        if grant["realm_id"] != realm_id:
            raise AuthFailure(403, "3100", None)
        if ACCOUNTING_SCOPE not in grant["scope"].split():
            raise AuthFailure(403, "3100", "The access token does not have sufficient scope")
        return token

    def client_of(self, token: str) -> str | None:
        """The OAuth client the token was issued to (None for a control-API grant no client has refreshed)."""
        with self.lock:
            entry = self.access.get(token)
            grant = self.grants.get(entry["grant"]) if entry else None
            return grant["client_id"] if grant else None

    def expire_access_token(self, token: str) -> None:
        with self.lock:
            if token in self.access:
                self.access[token]["expires"] = 0.0

    def expire_realm_tokens(self, realm_id: str, refresh: bool = False) -> int:
        with self.lock:
            grants = {g for g, v in self.grants.items() if v["realm_id"] == realm_id}
            n = 0
            for entry in self.access.values():
                if entry["grant"] in grants:
                    entry["expires"] = 0.0
                    n += 1
            if refresh:
                for entry in self.refresh.values():
                    if entry["grant"] in grants:
                        entry["expires"] = 0.0
            return n

    def realm_stats(self, realm_id: str) -> dict:
        with self.lock:
            grants = [g for g in self.grants.values() if g["realm_id"] == realm_id]
            return {"grants": len(grants), "revoked_grants": sum(1 for g in grants if g["revoked"])}


# --- discovery and consent page ------------------------------------------------------------------


def discovery_document(base: str) -> dict:
    return {
        "issuer": f"{base}/op/v1",
        "authorization_endpoint": f"{base}/connect/oauth2",
        "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
        "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke",
        "jwks_uri": f"{base}/op/v1/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": [
            "openid",
            "email",
            "profile",
            "address",
            "phone",
            ACCOUNTING_SCOPE,
            "com.intuit.quickbooks.payment",
        ],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
    }


def redirect_with(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = (
        parts.query
        + ("&" if parts.query else "")
        + urlencode({k: v for k, v in params.items() if v is not None})
    )
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def consent_page(params: dict[str, str], companies: list[Company]) -> str:
    esc = html.escape
    hidden = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(params.get(k, ""))}">'
        for k in ("client_id", "redirect_uri", "scope", "state", "response_type")
    )
    options = "".join(
        f'<label class="co"><input type="radio" name="realmId" value="{esc(co.realm_id)}"'
        f"{' checked' if i == 0 else ''}> {esc(co.name)} <small>({esc(co.realm_id)})</small></label>"
        for i, co in enumerate(companies)
    )
    if not companies:
        options = "<p>No sandbox company exists yet: name one below.</p>"
    preset_options = '<option value="">US, no sales tax (default)</option>' + "".join(
        f'<option value="{esc(key)}">{esc(label)}</option>'
        for key, label in PRESET_LABELS.items()
        if key != "us"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Connect to QuickBooks (sandbox)</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f4f5f8;margin:0;padding:3rem}}
main{{max-width:32rem;margin:auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 1px 4px #0002}}
h1{{font-size:1.3rem;color:#2ca01c}} label.co{{display:block;padding:.4rem 0}}
button{{padding:.6rem 1.2rem;border-radius:4px;border:0;font-size:1rem;cursor:pointer}}
.go{{background:#2ca01c;color:#fff}} .no{{background:#ddd;margin-left:.5rem}}
</style></head><body><main>
<h1>QuickBooks Online sandbox</h1>
<p><strong>{esc(params.get("client_id", ""))}</strong> wants to connect to one of your companies
(scope: {esc(params.get("scope", ""))}).</p>
<form method="post" action="/connect/oauth2">{hidden}
<fieldset><legend>Choose a company</legend>{options}
<label class="co">or create a new company: <input name="new_company" placeholder="Company name"></label>
<label class="co">of the kind <select name="new_company_preset">{preset_options}</select></label>
</fieldset>
<p><button class="go" name="action" value="connect">Connect</button>
<button class="no" name="action" value="deny">Cancel</button></p>
</form></main></body></html>"""


def error_page(message: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Sandbox OAuth error</title></head>"
        f"<body><h1>Cannot authorize</h1><p>{html.escape(message)}</p></body></html>"
    )

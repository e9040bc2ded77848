"""Intuit OAuth as emulated: discovery, consent page, code exchange, refresh rotation, expiry, revoke."""

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

REDIRECT = "http://localhost:9000/qbo/callback"


def basic(client_id="app-id", secret="app-secret"):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def token_call(sandbox, form, client=("app-id", "app-secret"), **headers):
    return requests.post(
        sandbox.base_url + "/oauth2/v1/tokens/bearer",
        data=form,
        headers={**basic(*client), "Accept": "application/json", **headers},
        timeout=5,
    )


def authorize(sandbox, realm, state="xyz", client_id="app-id"):
    params = {"client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT,
              "scope": "com.intuit.quickbooks.accounting", "state": state}  # fmt: skip
    page = requests.get(sandbox.base_url + "/connect/oauth2", params=params, timeout=5)
    assert page.status_code == 200
    assert realm in page.text
    assert "Connect" in page.text
    resp = requests.post(
        sandbox.base_url + "/connect/oauth2", data={**params, "realmId": realm, "action": "connect"},
        allow_redirects=False, timeout=5,
    )  # fmt: skip
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def api_status(sandbox, realm, access_token):
    url = f"{sandbox.api_base}/company/{realm}/companyinfo/{realm}"
    return requests.get(url, headers={"Authorization": f"Bearer {access_token}"}, timeout=5).status_code


def test_discovery_document_points_here(sandbox):
    doc = requests.get(sandbox.discovery_url, timeout=5).json()
    for key in ("authorization_endpoint", "token_endpoint", "revocation_endpoint", "issuer", "jwks_uri",
                "userinfo_endpoint"):  # fmt: skip
        assert doc[key].startswith(sandbox.base_url)
    assert doc["token_endpoint"] == sandbox.base_url + "/oauth2/v1/tokens/bearer"
    assert doc["revocation_endpoint"] == sandbox.base_url + "/v2/oauth2/tokens/revoke"


def test_consent_code_exchange_refresh_rotation_and_grace(sandbox, qbo):
    cb = authorize(sandbox, qbo.realm)
    assert cb["realmId"] == qbo.realm
    assert cb["state"] == "xyz"
    resp = token_call(
        sandbox, {"grant_type": "authorization_code", "code": cb["code"], "redirect_uri": REDIRECT}
    )
    assert resp.status_code == 200
    tokens = resp.json()
    assert set(tokens) == {
        "token_type",
        "access_token",
        "refresh_token",
        "expires_in",
        "x_refresh_token_expires_in",
    }
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["x_refresh_token_expires_in"] == 8_640_000
    assert api_status(sandbox, qbo.realm, tokens["access_token"]) == 200
    reused = token_call(
        sandbox, {"grant_type": "authorization_code", "code": cb["code"], "redirect_uri": REDIRECT}
    )
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    first = token_call(
        sandbox, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    ).json()
    assert first["refresh_token"] != tokens["refresh_token"]
    # within the grace period the superseded token still works and hands out the newest refresh token
    grace = token_call(
        sandbox, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    ).json()
    assert grace["refresh_token"] == first["refresh_token"]
    qbo.control.advance_clock(61)
    late = token_call(sandbox, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert late.status_code == 400
    assert late.json() == {"error": "invalid_grant"}
    newest = token_call(sandbox, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert newest.status_code == 200


def test_access_token_expiry_gives_recorded_401(qbo, sandbox):
    assert api_status(sandbox, qbo.realm, qbo.tokens["access_token"]) == 200
    qbo.control.advance_clock(3601)
    resp = qbo.get("item/1")
    assert resp.status_code == 401
    assert resp.json()["fault"]["error"][0]["detail"].startswith("Token expired: ")
    refreshed = token_call(
        sandbox, {"grant_type": "refresh_token", "refresh_token": qbo.tokens["refresh_token"]}
    )
    assert api_status(sandbox, qbo.realm, refreshed.json()["access_token"]) == 200


def test_zero_grace_and_hard_expiry_settings(qbo, sandbox):
    qbo.control.settings(qbo.realm, refresh_grace_seconds=0)
    rt = qbo.tokens["refresh_token"]
    assert token_call(sandbox, {"grant_type": "refresh_token", "refresh_token": rt}).status_code == 200
    assert (
        token_call(sandbox, {"grant_type": "refresh_token", "refresh_token": rt}).json()["error"]
        == "invalid_grant"
    )
    now = sandbox.app.clock.epoch()
    qbo.control.settings(qbo.realm, refresh_token_hard_expires_at=now + 1000)
    fresh = qbo.control.tokens(qbo.realm)
    resp = token_call(
        sandbox,
        {"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"]},
        **{"x-include-refresh-token-hard-expires-in": "true"},
    )
    body = resp.json()
    assert 990 <= body["x_refresh_token_hard_expires_in"] <= 1000
    assert body["x_refresh_token_expires_in"] <= 1000
    qbo.control.advance_clock(1001)
    expired = token_call(sandbox, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert expired.json()["error"] == "invalid_grant"


def test_revoke(qbo, sandbox):
    resp = requests.post(
        sandbox.base_url + "/v2/oauth2/tokens/revoke",
        json={"token": qbo.tokens["refresh_token"]},
        headers={**basic(), "Accept": "application/json"},
        timeout=5,
    )
    assert resp.status_code == 200
    assert qbo.get("item/1").status_code == 401
    assert qbo.get("item/1").json()["fault"]["error"][0]["code"] == "3200"
    again = token_call(sandbox, {"grant_type": "refresh_token", "refresh_token": qbo.tokens["refresh_token"]})
    assert again.json()["error"] == "invalid_grant"


def test_bad_requests_to_token_endpoint(sandbox):
    assert token_call(sandbox, {"grant_type": "password"}).json()["error"] == "unsupported_grant_type"
    assert (
        token_call(sandbox, {"grant_type": "authorization_code", "code": "nope"}).json()["error"]
        == "invalid_grant"
    )
    no_auth = requests.post(
        sandbox.base_url + "/oauth2/v1/tokens/bearer", data={"grant_type": "x"}, timeout=5
    )
    assert no_auth.status_code == 401
    assert no_auth.json()["error"] == "invalid_client"


def test_deny_redirects_with_access_denied(sandbox, qbo):
    resp = requests.post(
        sandbox.base_url + "/connect/oauth2",
        data={
            "client_id": "c",
            "redirect_uri": REDIRECT,
            "state": "s1",
            "response_type": "code",
            "action": "deny",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert resp.status_code == 302
    assert parse_qs(urlsplit(resp.headers["Location"]).query) == {"error": ["access_denied"], "state": ["s1"]}


def test_registered_client_is_enforced():
    from qbsync.sandbox.testing import running_sandbox

    with running_sandbox(client_id="demo-app", client_secret="s3cret", redirect_uris=[REDIRECT]) as sb:
        realm = sb.control.create_company("Strict Co")
        cb = authorize(sb, realm, client_id="demo-app")
        form = {"grant_type": "authorization_code", "code": cb["code"], "redirect_uri": REDIRECT}
        wrong = token_call(sb, form, client=("demo-app", "wrong"))
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"
        assert token_call(sb, form, client=("demo-app", "s3cret")).status_code == 200
        unknown = requests.get(
            sb.base_url + "/connect/oauth2",
            params={"client_id": "other", "redirect_uri": REDIRECT, "response_type": "code"},
            timeout=5,
        )
        assert unknown.status_code == 400


@pytest.mark.parametrize(
    "path", ["/.well-known/openid_configuration", "/.well-known/openid_sandbox_configuration/"]
)
def test_discovery_aliases(sandbox, path):
    assert (
        requests.get(sandbox.base_url + path, timeout=5).json()["token_endpoint"].endswith("/tokens/bearer")
    )

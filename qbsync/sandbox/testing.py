"""Run the sandbox in-process, for tests and scripts.

    from qbsync.sandbox.testing import running_sandbox

    with running_sandbox() as sb:
        realm = sb.control.create_company("Test Co", customer_types=["Individual"])
        tokens = sb.control.tokens(realm)
        # sb.api_base == "http://127.0.0.1:<port>/v3", sb.discovery_url, sb.base_url

Stdlib only (urllib), so it can be used where `requests` is not wanted.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .server import Sandbox, SandboxConfig, make_server


class ControlAPIError(Exception):
    def __init__(self, status: int, body: object):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class SandboxControl:
    """A small client for the /_sandbox/ control API."""

    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, path: str, body: object | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode("utf-8", "replace")
            raise ControlAPIError(exc.code, parsed) from None
        return json.loads(raw) if raw else None

    # --- conveniences ---------------------------------------------------------------------------
    def create_company(
        self,
        name: str = "Sandbox Company",
        customer_types: list[str] | None = None,
        custom_txn_numbers: bool = False,
        settings: dict | None = None,
        realm_id: str | None = None,
        *,
        preset: str | None = None,
        region: str | None = None,
        sales_tax: str | None = None,
        ast_rates: dict | None = None,
        multicurrency: bool | None = None,
        home_currency: str | None = None,
        exchange_rates: dict | None = None,
    ) -> str:
        """A new company; without region options a US company without sales tax, as before. `preset` names
        a kind ("us", "us-manual", "us-ast", "us-multicurrency", "uk", "ca", "au"; regions.PRESETS);
        `region` "US", "UK", "CA" or "AU"; `sales_tax` (US) "none", "manual" or "ast"; `ast_rates` {state:
        percent, "default": percent}; `exchange_rates` {currency: home units per unit}."""
        body: dict = {
            "name": name,
            "customer_types": customer_types or [],
            "custom_txn_numbers": custom_txn_numbers,
        }
        if settings:
            body["settings"] = settings
        if realm_id:
            body["realmId"] = realm_id
        options = {
            "preset": preset,
            "region": region,
            "sales_tax": sales_tax,
            "ast_rates": ast_rates,
            "multicurrency": multicurrency,
            "home_currency": home_currency,
            "exchange_rates": exchange_rates,
        }
        body.update({key: value for key, value in options.items() if value is not None})
        return self.call("POST", "/_sandbox/companies", body)["realmId"]

    def companies(self) -> list[dict]:
        return self.call("GET", "/_sandbox/companies")["companies"]

    def company(self, realm_id: str) -> dict:
        return self.call("GET", f"/_sandbox/companies/{realm_id}")

    def settings(self, realm_id: str, **changes) -> dict:
        if changes:
            return self.call("PATCH", f"/_sandbox/companies/{realm_id}/settings", changes)
        return self.call("GET", f"/_sandbox/companies/{realm_id}/settings")

    def tokens(self, realm_id: str, client_id: str | None = None) -> dict:
        return self.call(
            "POST", f"/_sandbox/companies/{realm_id}/tokens", {"client_id": client_id} if client_id else {}
        )

    def expire_tokens(self, realm_id: str, refresh: bool = False) -> int:
        return self.call("POST", f"/_sandbox/companies/{realm_id}/tokens/expire", {"refresh": refresh})[
            "expired"
        ]

    def entities(self, realm_id: str, entity: str) -> list[dict]:
        return self.call("GET", f"/_sandbox/companies/{realm_id}/entities/{entity}")["records"]

    def insert(self, realm_id: str, entity: str, records: dict | list[dict]) -> list[dict]:
        return self.call("POST", f"/_sandbox/companies/{realm_id}/entities/{entity}", records)["records"]

    def fault(self, realm_id: str, kind: str, count: int = 1, **spec) -> dict:
        return self.call(
            "POST", f"/_sandbox/companies/{realm_id}/faults", {"kind": kind, "count": count, **spec}
        )

    def clear_faults(self, realm_id: str) -> None:
        self.call("DELETE", f"/_sandbox/companies/{realm_id}/faults")

    def merge(self, realm_id: str, from_id: str, into_id: str, entity: str = "Customer") -> dict:
        return self.call(
            "POST",
            f"/_sandbox/companies/{realm_id}/merge",
            {"entity": entity, "from": from_id, "into": into_id},
        )

    def webhook(self, url: str, verifier_token: str, fmt: str = "legacy", **extra) -> dict:
        return self.call(
            "POST",
            "/_sandbox/webhooks",
            {"url": url, "verifier_token": verifier_token, "format": fmt, **extra},
        )

    def webhooks(self) -> dict:
        return self.call("GET", "/_sandbox/webhooks")

    def requests(self, realm_id: str | None = None, limit: int | None = None) -> list[dict]:
        query = []
        if realm_id:
            query.append(f"realm={realm_id}")
        if limit:
            query.append(f"limit={limit}")
        return self.call("GET", "/_sandbox/requests" + ("?" + "&".join(query) if query else ""))["requests"]

    def meter(
        self, realm_id: str | None = None, client_id: str | None = None, month: str | None = None
    ) -> dict:
        """Counts of Core and CorePlus calls per month, realm and client (`GET /_sandbox/meter`)."""
        query = urllib.parse.urlencode(
            {k: v for k, v in (("realm", realm_id), ("client_id", client_id), ("month", month)) if v}
        )
        return self.call("GET", "/_sandbox/meter" + ("?" + query if query else ""))

    def read_cap(self, cap: int | None, client_id: str | None = None, answer: str = "429") -> dict:
        """Cap the CorePlus calls a month of one client, or of every client; None lifts it."""
        body: dict = {"read_cap": cap, "answer": answer}
        if client_id:
            body["client_id"] = client_id
        return self.call("POST", "/_sandbox/meter", body)

    def clear_meter(self) -> None:
        self.call("DELETE", "/_sandbox/meter")

    def advance_clock(self, seconds: float) -> dict:
        return self.call("POST", "/_sandbox/clock", {"advance": seconds})

    def freeze_clock(self, at: float | None = None) -> dict:
        """Stop the sandbox's wall clock (at epoch ``at``, or now) until :meth:`unfreeze_clock`."""
        return self.call("POST", "/_sandbox/clock", {"freeze": True if at is None else at})

    def unfreeze_clock(self) -> dict:
        return self.call("POST", "/_sandbox/clock", {"freeze": False})

    @contextmanager
    def clock_frozen_mid_second(self) -> Iterator[float]:
        """The wall clock stopped half-way through a second (yields that epoch) and let go on exit: what
        falls in "the same second" no longer depends on when a test runs."""
        now = self.freeze_clock()["epoch"]
        try:
            yield self.freeze_clock(math.floor(now) + 1.5)["epoch"]
        finally:
            self.unfreeze_clock()

    def register_client(
        self, client_id: str, client_secret: str, redirect_uris: list[str] | None = None
    ) -> None:
        self.call(
            "POST",
            "/_sandbox/clients",
            {"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris or []},
        )

    def reset(self) -> None:
        self.call("POST", "/_sandbox/reset")


@dataclass
class RunningSandbox:
    base_url: str  # http://127.0.0.1:PORT
    api_base: str  # http://127.0.0.1:PORT/v3  (python-quickbooks' api_url_v3)
    discovery_url: str  # intuit-oauth AuthClient(environment=...)
    control: SandboxControl
    app: Sandbox  # the in-process application (its store, clock, oauth...)


@contextmanager
def running_sandbox(config: SandboxConfig | None = None, **options) -> Iterator[RunningSandbox]:
    """Serve a sandbox on a free loopback port for the duration of the `with` block.

    `options` are SandboxConfig fields (time_scale, latency_ms, limits, seed, data, client_id, ...).
    """
    cfg = config or SandboxConfig(**{"host": "127.0.0.1", "port": 0, **options})
    app = Sandbox(cfg)
    server = make_server(app)
    host, port = server.server_address[:2]
    app.config.port = port
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="qbo-sandbox", daemon=True
    )
    thread.start()
    base = f"http://{host}:{port}"
    try:
        yield RunningSandbox(
            base_url=base,
            api_base=f"{base}/v3",
            discovery_url=f"{base}/.well-known/openid_configuration",
            control=SandboxControl(base),
            app=app,
        )
    finally:
        app.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

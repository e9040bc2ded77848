"""The sandbox application (`Sandbox`) and its threaded HTTP server.

`Sandbox.handle()` turns a `Request` into a `Response` without touching sockets, so the same code serves
HTTP, tests and benchmarks. `serve()` wraps it in a ThreadingHTTPServer with HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import api, control, metering
from . import errors as E
from .clock import Clock, fmt_time
from .entities import Ctx
from .faults import FaultBook
from .limits import Limiter, Throttled
from .oauth import AuthFailure, OAuth, TokenError, consent_page, discovery_document, error_page, redirect_with
from .store import Store
from .webhooks import Webhooks

JSON_OK = "application/json;charset=utf-8"
JSON_ERR = "application/json"
DATA_PATH_RE = re.compile(r"^/v3/company/([^/]+)/?(.*)$")


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    data: str | None = None
    latency_ms: float = 0.0
    time_scale: float = 1.0
    seed: str | None = None
    limits: bool = True  # False: no rate or concurrency limits for any company by default
    client_id: str | None = None  # register one fixed OAuth client (else any client id/secret is accepted)
    client_secret: str | None = None
    redirect_uris: list[str] = field(default_factory=list)
    log_size: int = 10_000  # request-log entries kept
    idempotency_size: int = 10_000  # requestids remembered per realm
    idempotency_bytes: int = 32 << 20  # and at most this many bytes of stored responses per realm
    public_url: str | None = None  # base URL written into the discovery document (default: Host header)
    read_cap: int | None = None  # CorePlus calls a month for every OAuth client (None: no cap)
    read_cap_answer: str = "429"  # how reads over the cap are refused: "429" or "403" (metering.ANSWERS)
    verbose: bool = False


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: object  # anything with .get(name) that is case-insensitive (http.client.HTTPMessage)
    body: bytes = b""

    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.query, keep_blank_values=True).items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_OK
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False  # close the connection without answering


def json_response(status: int, payload: object, content_type: str | None = None) -> Response:
    ctype = content_type or (JSON_OK if status < 400 else JSON_ERR)
    return Response(status, json.dumps(payload).encode(), ctype)


def minor_version(co, given: str | None) -> int:
    """The minor version a request is answered in: since August 2025 Intuit answers anything below 75,
    or no minorversion at all, as 75 (qbo-api-facts §1); the company's minor_version_floor says so (null:
    the version sent, 0 when none, as QBO did before)."""
    sent = int(given) if given and given.strip().isdigit() else 0
    floor = co.setting("minor_version_floor")
    return sent if floor is None else max(sent, int(floor))


def new_tid() -> str:
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


class Sandbox:
    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self.clock = Clock(self.config.time_scale)
        self.store = Store(self.clock, self.config.data)
        if not self.config.limits:
            self.store.server_defaults["limits"] = None
        self.oauth = OAuth(self.clock, self.store)
        self.limiter = Limiter(self.clock)
        self.faults = FaultBook()
        self.webhooks = Webhooks(self.clock)
        self.meter = metering.Meter(self.clock, self.store.mark_dirty)
        self.request_log: deque = deque(maxlen=self.config.log_size)
        self.idempotency: dict[str, OrderedDict] = {}
        self.idempotency_bytes: dict[str, int] = {}
        self.stopping = threading.Event()
        self.store.on_change = self._on_change
        self.store.extra_state["oauth"] = self.oauth.dump
        self.store.extra_state["webhooks"] = self.webhooks.dump
        self.store.extra_state["clients"] = lambda: self.oauth.clients
        self.store.extra_state["meter"] = self.meter.dump
        self._register_configured_client()
        state = self.store.load()
        if state:
            self.oauth.restore(state.get("oauth"))
            self.webhooks.restore(state.get("webhooks"))
            self.meter.restore(state.get("meter"))
            self._register_configured_client()
        self._configure_read_cap()
        if self.config.seed:
            from .seed import seed

            seed(self, self.config.seed)
        self.store.start_autosave()

    def _register_configured_client(self) -> None:
        if self.config.client_id:
            self.oauth.register_client(
                self.config.client_id, self.config.client_secret or "", self.config.redirect_uris
            )

    def _configure_read_cap(self) -> None:
        if self.config.read_cap is not None:
            self.meter.set_cap(self.config.read_cap, answer=self.config.read_cap_answer)

    def close(self) -> None:
        self.stopping.set()
        self.webhooks.stop()
        self.store.stop_autosave()

    def _on_change(self, realm_id, entity, ident, operation, deleted_id) -> None:
        self.webhooks.emit(realm_id, entity, ident, operation, self.clock.now(), deleted_id)

    def ctx(self, co, params: dict | None = None) -> Ctx:
        include = frozenset(x.strip().lower() for x in ((params or {}).get("include") or "").split(",") if x)
        return Ctx(
            now=self.clock.now(co.tz),
            epoch=self.clock.epoch(),
            include=include,
            minor_version=minor_version(co, (params or {}).get("minorversion")),
        )

    def reset(self) -> None:
        with self.store.lock:
            self.store.clear()
            self.oauth.clear()
            self._register_configured_client()
            self.limiter.reset()
            self.faults.clear()
            self.webhooks.unsubscribe()
            self.webhooks.deliveries.clear()
            self.request_log.clear()
            self.idempotency.clear()
            self.idempotency_bytes.clear()
            self.meter.clear()
            self.meter.set_cap(None)
            self._configure_read_cap()

    # --- logging --------------------------------------------------------------------------------
    def log(self, **entry) -> None:
        entry.setdefault("time", fmt_time(self.clock.now()))
        self.request_log.append(entry)

    # --- entry point ----------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        tid = new_tid()
        try:
            path = req.path
            if path.startswith("/v3/"):
                resp = self.data_api(req, tid)
            elif path.startswith("/_sandbox"):
                resp = control.handle(self, req)
            elif path in (
                "/.well-known/openid_configuration",
                "/.well-known/openid_configuration/",
                "/.well-known/openid_sandbox_configuration",
                "/.well-known/openid_sandbox_configuration/",
            ):
                resp = json_response(200, discovery_document(self.base_url(req)), "application/json")
            elif path == "/connect/oauth2":
                resp = self.authorize(req)
            elif path == "/oauth2/v1/tokens/bearer":
                resp = self.token(req, tid)
            elif path == "/v2/oauth2/tokens/revoke":
                resp = self.revoke(req, tid)
            elif path == "/op/v1/jwks":
                resp = json_response(200, {"keys": []}, "application/json")
            elif path == "/v1/openid_connect/userinfo":
                resp = json_response(
                    200,
                    {
                        "sub": "sandbox-user",
                        "email": "sandbox@example.com",
                        "emailVerified": True,
                        "givenName": "Sandbox",
                        "familyName": "User",
                    },
                    "application/json",
                )
            elif path == "/":
                resp = Response(200, control.index_page(self).encode(), "text/html; charset=utf-8")
            else:
                resp = json_response(404, {"error": "not_found", "path": path}, "application/json")
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the connection silently
            fault = E.system_fault()
            fault.detail += f" ({exc.__class__.__name__}: {exc})"
            resp = json_response(500, {"Fault": fault.fault(), "time": fmt_time(self.clock.now())})
            if self.config.verbose:
                import traceback

                traceback.print_exc()
        resp.headers.append(("intuit_tid", tid))
        resp.headers.append(("Intuit-Tid", tid))
        return resp

    def base_url(self, req: Request) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        host = req.headers.get("Host") or f"{self.config.host}:{self.config.port}"
        return f"http://{host}"

    # --- data API -------------------------------------------------------------------------------
    def data_api(self, req: Request, tid: str) -> Response:
        started = time.monotonic()
        params = req.params()
        m = DATA_PATH_RE.match(req.path)
        entry = {
            "realm": None,
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "requestid": params.get("requestid") or None,
            "intuit_tid": tid,
            "kind": "api",
            "client_id": None,
            "metered": None,  # the class counted for this call, if it was
        }
        if not m:
            err = E.unsupported_operation(f"Could not find resource for relative : {req.path}")
            resp = json_response(400, {"Fault": err.fault(), "time": fmt_time(self.clock.now())})
            self.log(**entry, status=400, fault_code=err.code, operation=None)
            return resp
        realm_id, rest = m.group(1), m.group(2)
        entry["realm"] = realm_id
        body: object = None
        if req.method == "POST" and not rest.startswith("query") and req.body:
            try:
                body = json.loads(req.body)
            except (ValueError, UnicodeDecodeError):
                body = _INVALID_JSON
        operation = api.classify(req.method, rest, params, body)
        entry["operation"] = operation
        klass = metering.call_class(req.method, rest, params, body)
        if klass is None:
            entry["metered_items"] = {metering.CORE: 0, metering.CORE_PLUS: 0}

        def finish(resp: Response, fault_code: str | None = None, **extra) -> Response:
            entry.update(
                status=None if resp.drop else resp.status,
                fault_code=fault_code,
                duration_ms=round((time.monotonic() - started) * 1000, 2),
                **extra,
            )
            if resp.drop:
                entry["dropped"] = True
            self.log(**entry)
            return resp

        # 1. authentication (the gateway answers before the company is even looked at)
        token = None
        try:
            token = self.oauth.authenticate(req.headers.get("Authorization"), realm_id)
        except AuthFailure as failure:
            return finish(self.gateway(failure.status, failure.code, failure.detail), failure.code)
        client = entry["client_id"] = self.oauth.client_of(token)
        co = self.store.get(realm_id)
        if co is None:
            return finish(self.gateway(403, "3100", None), "3100")

        # 2. armed faults that fire before anything is applied
        fault = self.faults.take(realm_id, req.method, rest, operation)
        injected = fault.kind if fault else None
        if fault and fault.kind != "drop_after_commit" and not (fault.kind == "hang" and fault.apply):
            return finish(self.injected(fault, token, co), self._fault_code(fault), injected=injected)

        # 3. limits
        try:
            self.limiter.acquire(realm_id, co.setting("limits"), operation == "batch")
        except Throttled as thr:
            resp = self.throttle_response(co.setting("throttle_format"), thr.retry_after)
            return finish(resp, "3001", throttled=thr.reason)
        # 4. the monthly read cap, checked per call or (in a batch) per item; admitted reads hold a place
        ticket: metering.Ticket | None = None
        admitted: dict[str, metering.Ticket] = {}  # batch items by bId
        refused: list[str] = []  # bIds of batch items refused by the cap

        def gate(item: dict) -> None:
            try:
                admitted[item["bId"]] = self.meter.admit(realm_id, client, metering.item_class(item))
            except E.QBOError:
                refused.append(item["bId"])
                raise

        status = refusal = None
        try:
            if klass is not None:
                try:
                    ticket = self.meter.admit(realm_id, client, klass)
                except E.QBOError as err:
                    refusal = err
            if refusal is not None:  # answered at once, like the throttle
                payload = json.dumps({"Fault": refusal.fault(), "time": fmt_time(self.clock.now(co.tz))})
                status, payload, replayed, fault_code = refusal.status, payload.encode(), False, refusal.code
            else:
                delay = float(self.config.latency_ms) + float(co.setting("latency_ms") or 0)
                if delay > 0:
                    self.stopping.wait(delay / 1000.0)
                if fault and fault.kind == "hang" and not fault.apply:
                    self.stopping.wait(fault.hang_seconds)
                status, payload, replayed, fault_code = self.process(
                    co, req, rest, params, body, gate if klass is None else None
                )
            if fault and fault.kind == "hang" and fault.apply:
                # As documented: applied first, then the reply hangs (QBO committed; nobody hears it).
                self.stopping.wait(fault.hang_seconds)
        finally:
            self.limiter.release(realm_id)
            if status is None:  # a bug raised: free the reserved reads, count nothing
                for held in [ticket, *admitted.values()]:
                    if held:
                        self.meter.settle(held, False)
        # 5. metering: QBO counts what it answered successfully, also when the answer is then lost (faults)
        extra: dict = {}
        if refusal is not None:
            extra["read_refused"] = True
        elif klass is not None:
            entry["metered"] = klass if self.meter.settle(ticket, status < 400) else None
        else:
            items = body.get("BatchItemRequest") if status < 400 and isinstance(body, dict) else None
            answers = json.loads(payload).get("BatchItemResponse") if status < 400 else None
            entry["metered_items"] = self.meter.settle_batch(
                realm_id, client, items or [], answers or [], admitted
            )
            if refused:
                extra.update(read_refused=True, refused_items=len(refused))
        resp = Response(status, payload, JSON_OK if status < 400 else JSON_ERR)
        if fault:  # drop_after_commit, or hang with apply=true: applied, but nobody hears the answer
            resp.drop = True
        return finish(resp, fault_code, replayed=replayed, injected=injected, **extra)

    def process(
        self, co, req: Request, rest: str, params: dict, body: object, gate=None
    ) -> tuple[int, bytes, bool, str | None]:
        requestid = params.get("requestid") or None
        mode = co.setting("idempotency")
        if mode is True:
            mode = "replay"
        elif mode is False or mode is None:
            mode = "off"
        with self.store.lock:
            cache = self.idempotency.setdefault(co.realm_id, OrderedDict()) if requestid else None
            if requestid and mode != "off" and requestid in cache:
                if mode == "error":
                    err = E.QBOError(
                        600,
                        "Duplicate Request ID",
                        f"Duplicate Request ID : RequestId {requestid} already exists.",
                    )
                    payload = {"Fault": err.fault(), "time": fmt_time(self.clock.now(co.tz))}
                    return 400, json.dumps(payload).encode(), False, "600"
                status, data, fault_code = cache[requestid]
                cache.move_to_end(requestid)
                return status, data, True, fault_code
            ctx = self.ctx(co, params)
            fault_code = None
            try:
                if body is _INVALID_JSON:
                    raise E.bad_request_body("Unable to parse the request body as JSON")
                status, payload = api.dispatch(co, req.method, rest, params, body, req.body, ctx, gate)
            except E.QBOError as err:
                status, payload = err.status, {"Fault": err.fault()}
                fault_code = err.code
            payload["time"] = fmt_time(ctx.now)
            data = json.dumps(payload).encode()
            if requestid and mode != "off":
                cache[requestid] = (status, data, fault_code)
                sizes = self.idempotency_bytes
                sizes[co.realm_id] = sizes.get(co.realm_id, 0) + len(data)
                while (
                    len(cache) > self.config.idempotency_size
                    or sizes[co.realm_id] > self.config.idempotency_bytes
                ):
                    _, (_, old, _) = cache.popitem(last=False)
                    sizes[co.realm_id] -= len(old)
            return status, data, False, fault_code

    def gateway(self, status: int, code: str, detail: str | None) -> Response:
        body = E.gateway_fault(status, code, detail, int(self.clock.epoch() * 1000))
        resp = Response(status, body, "application/json")
        if status == 401:
            resp.headers.append(("WWW-Authenticate", 'Bearer realm="Intuit", error="invalid_token"'))
        return resp

    def throttle_response(self, fmt: str, retry_after: int) -> Response:
        now = fmt_time(self.clock.now())
        if fmt == "xml":
            resp = Response(429, E.throttle_xml(now), "application/xml")
        else:
            resp = Response(429, E.throttle_json(now), "application/json")
        resp.headers.append(("Retry-After", str(retry_after)))
        return resp

    @staticmethod
    def _fault_code(fault) -> str | None:
        return {
            "http_500": "10000",
            "throttle": "3001",
            "throttle_xml": "3001",
            "expired_token": "3200",
            "auth_3100": "3100",
            "auth_120": "120",
        }.get(fault.kind)

    def injected(self, fault, token: str | None, co) -> Response:
        kind = fault.kind
        if kind == "http_500":
            err = E.system_fault()
            return json_response(500, {"Fault": err.fault(), "time": fmt_time(self.clock.now(co.tz))})
        if kind in ("http_503", "http_502"):
            status = 503 if kind == "http_503" else 502
            body = (
                E.HTML_503
                if status == 503
                else E.HTML_503.replace(b"503 Service Temporarily Unavailable", b"502 Bad Gateway")
            )
            resp = Response(status, body, "text/html")
            if status == 503:
                resp.headers.append(("Retry-After", str(fault.retry_after)))
            return resp
        if kind in ("throttle", "throttle_xml"):
            return self.throttle_response("xml" if kind == "throttle_xml" else "json", fault.retry_after)
        if kind == "expired_token":
            if token:
                self.oauth.expire_access_token(token)
            return self.gateway(401, "3200", f"Token expired: {(token or '')[:50]}")
        if kind == "auth_3100":
            return self.gateway(403, "3100", "The access token does not have sufficient scope")
        if kind == "auth_120":
            body = {
                "Fault": {
                    "Error": [
                        {
                            "Message": "AuthorizationFailure",
                            "Detail": "-11014-You do not have access to use QuickBooks Online Plus",
                            "code": "120",
                            "element": "",
                        }
                    ],
                    "type": "AuthorizationFault",
                },
                "time": fmt_time(self.clock.now(co.tz)),
            }
            return json_response(401, body)
        if kind == "hang":
            self.stopping.wait(fault.hang_seconds)
            return Response(0, drop=True)
        if kind == "drop":
            return Response(0, drop=True)
        raise ValueError(kind)

    # --- OAuth ----------------------------------------------------------------------------------
    def authorize(self, req: Request) -> Response:
        if req.method == "GET":
            params = req.params()
        else:
            params = {
                k: v[0]
                for k, v in parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True).items()
            }
        client_id = params.get("client_id")
        redirect_uri = params.get("redirect_uri")
        if not client_id or not redirect_uri:
            return Response(400, error_page("client_id and redirect_uri are required.").encode(), "text/html")
        if params.get("response_type", "code") != "code":
            return Response(
                302,
                b"",
                None,
                [
                    (
                        "Location",
                        redirect_with(
                            redirect_uri, {"error": "unsupported_response_type", "state": params.get("state")}
                        ),
                    )
                ],
            )
        if self.oauth.clients:
            client = self.oauth.clients.get(client_id)
            if client is None:
                return Response(400, error_page(f"Unknown client_id {client_id!r}.").encode(), "text/html")
            if client["redirect_uris"] and redirect_uri not in client["redirect_uris"]:
                return Response(
                    400, error_page("redirect_uri is not registered for this app.").encode(), "text/html"
                )
        scope = params.get("scope") or "com.intuit.quickbooks.accounting"
        if req.method == "GET":
            with self.store.lock:
                companies = list(self.store.companies.values())
            return Response(
                200,
                consent_page(params, companies).encode(),
                "text/html; charset=utf-8",
                [("Cache-Control", "no-store")],
            )
        if params.get("action") == "deny":
            location = redirect_with(redirect_uri, {"error": "access_denied", "state": params.get("state")})
            return Response(302, b"", None, [("Location", location)])
        realm_id = params.get("realmId")
        new_name = (params.get("new_company") or "").strip()
        if new_name:
            spec = {"name": new_name}
            if params.get("new_company_preset"):  # a kind of company: regions.PRESETS (uk, us-ast, ...)
                spec["preset"] = params["new_company_preset"]
            try:
                realm_id = control.create_company(self, spec)["realmId"]
            except control.ControlError as err:
                return Response(400, error_page(str(err)).encode(), "text/html")
        if not realm_id or self.store.get(realm_id) is None:
            return Response(400, error_page("Choose a company.").encode(), "text/html")
        code = self.oauth.new_code(realm_id, client_id, redirect_uri, scope)
        self.log(
            kind="oauth",
            realm=realm_id,
            method=req.method,
            path=req.path,
            query="",
            requestid=None,
            status=302,
            fault_code=None,
            operation="authorize",
        )
        location = redirect_with(
            redirect_uri, {"code": code, "state": params.get("state"), "realmId": realm_id}
        )
        return Response(302, b"", None, [("Location", location)])

    def _form(self, req: Request) -> dict[str, str]:
        text = req.body.decode("utf-8", "replace")
        ctype = (req.headers.get("Content-Type") or "").lower()
        if "json" in ctype:
            try:
                data = json.loads(text or "{}")
                return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
            except ValueError:
                return {}
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def token(self, req: Request, tid: str) -> Response:
        if req.method != "POST":
            return json_response(405, {"error": "invalid_request"}, "application/json")
        form = self._form(req)
        realm = None
        try:
            body, realm = self.oauth.token_endpoint(form, req.headers)
            resp = json_response(200, body, "application/json")
            code = None
        except TokenError as err:
            resp = json_response(err.status, err.body(), "application/json")
            code = err.error
        resp.headers.append(("Cache-Control", "no-store"))
        self.log(
            kind="oauth",
            realm=realm,
            method=req.method,
            path=req.path,
            query="",
            requestid=None,
            status=resp.status,
            fault_code=code,
            operation=form.get("grant_type"),
            intuit_tid=tid,
        )
        return resp

    def revoke(self, req: Request, tid: str) -> Response:
        form = self._form(req)
        try:
            realm = self.oauth.revoke(form.get("token"), req.headers, form)
            resp = Response(200, b"", None)
            code = None
        except TokenError as err:
            realm, resp, code = None, json_response(err.status, err.body(), "application/json"), err.error
        self.log(
            kind="oauth",
            realm=realm,
            method=req.method,
            path=req.path,
            query="",
            requestid=None,
            status=resp.status,
            fault_code=code,
            operation="revoke",
            intuit_tid=tid,
        )
        return resp


_INVALID_JSON = object()


# --- HTTP server ---------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "QBOSandbox/1.0"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        sandbox: Sandbox = self.server.sandbox  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        resp = sandbox.handle(Request(self.command, split.path, split.query, self.headers, body))
        if resp.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(resp.status)
        if resp.content_type:
            self.send_header("Content-Type", resp.content_type)
        for key, value in resp.headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.body)))
        # One write for head and body: two small writes meet Nagle + delayed ACK (40 ms per request).
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(resp.body)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args) -> None:
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, sandbox: Sandbox):
        super().__init__(address, Handler)
        self.sandbox = sandbox
        self.verbose = sandbox.config.verbose

    def handle_error(self, request, client_address) -> None:
        if self.verbose:
            super().handle_error(request, client_address)


def make_server(sandbox: Sandbox) -> SandboxHTTPServer:
    return SandboxHTTPServer((sandbox.config.host, sandbox.config.port), sandbox)

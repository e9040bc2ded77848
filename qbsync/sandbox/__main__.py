"""python -m qbsync.sandbox --host 127.0.0.1 --port 8765 [--seed demo] [--data FILE] ..."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import Sandbox, SandboxConfig, make_server


def parse_args(argv: list[str] | None = None) -> SandboxConfig:
    p = argparse.ArgumentParser(
        prog="python -m qbsync.sandbox",
        description="A local, stateful emulator of the QuickBooks Online v3 API and Intuit OAuth.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--data", metavar="FILE", help="persist state in this JSON file across restarts")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added delay per API request (default 0)")
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="rate-limit windows and token lifetimes run N times faster (default 1)",
    )
    p.add_argument("--seed", choices=["demo"], help="create the demo company (realmId 9341453050071234)")
    p.add_argument("--no-limits", action="store_true", help="turn rate and concurrency limits off by default")
    p.add_argument("--client-id", help="accept only this OAuth client id (default: any)")
    p.add_argument("--client-secret", help="the secret of --client-id")
    p.add_argument("--redirect-uri", action="append", default=[], help="allowed redirect URI for --client-id")
    p.add_argument(
        "--public-url", help="base URL to advertise in the discovery document (default: Host header)"
    )
    p.add_argument(
        "--read-cap",
        type=int,
        metavar="N",
        help="refuse an OAuth client's CorePlus (read) calls after N in a calendar month (default: no cap)",
    )
    p.add_argument(
        "--read-cap-answer",
        choices=["429", "403"],
        default="429",
        help="how reads over --read-cap are refused (default 429; Intuit's answer is unpublished)",
    )
    p.add_argument("--log-size", type=int, default=10_000, help="request-log entries kept (default 10000)")
    p.add_argument("--verbose", action="store_true", help="log every HTTP request to stderr")
    a = p.parse_args(argv)
    if a.client_secret and not a.client_id:
        p.error("--client-secret needs --client-id")
    return SandboxConfig(
        host=a.host,
        port=a.port,
        data=a.data,
        latency_ms=a.latency_ms,
        time_scale=a.time_scale,
        seed=a.seed,
        limits=not a.no_limits,
        client_id=a.client_id,
        client_secret=a.client_secret,
        redirect_uris=a.redirect_uri,
        public_url=a.public_url,
        log_size=a.log_size,
        read_cap=a.read_cap,
        read_cap_answer=a.read_cap_answer,
        verbose=a.verbose,
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    sandbox = Sandbox(config)
    server = make_server(sandbox)
    host, port = server.server_address[:2]
    print(f"QBO sandbox listening on http://{host}:{port}", flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        sandbox.close()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

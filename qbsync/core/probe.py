"""Container healthchecks without Django (fast, and safe to run every few seconds):

    python -m qbsync.core.probe file /tmp/qbsync-worker.heartbeat --max-age 60
    python -m qbsync.core.probe http http://127.0.0.1:8000/healthz --host qbsync.example.com

Exit 0 when healthy, 1 with the reason on stderr otherwise."""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def file_is_fresh(path: str, max_age: float) -> str | None:
    """None when the heartbeat file was touched within max_age seconds, else why not."""
    heartbeat = Path(path)
    if not heartbeat.exists():
        return f"{path} does not exist: the process has not sent a heartbeat yet"
    age = time.time() - heartbeat.stat().st_mtime
    if age > max_age:
        return f"{path} is {age:.0f} s old (limit {max_age:.0f} s): the process stopped beating"
    return None


def http_answers(url: str, timeout: float, host: str = "") -> str | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    # Django answers 400 to a Host outside ALLOWED_HOSTS: send the site's name, as the proxy would.
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with opener.open(request, timeout=timeout) as response:
            if response.status >= 400:
                return f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except Exception as exc:  # noqa: BLE001 - any failure is unhealthy; say which
        return f"{url} did not answer: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qbsync.core.probe")
    sub = parser.add_subparsers(dest="kind", required=True)
    file_parser = sub.add_parser("file", help="a heartbeat file is fresh")
    file_parser.add_argument("path")
    file_parser.add_argument("--max-age", type=float, default=60.0)
    http_parser = sub.add_parser("http", help="a URL answers below 400")
    http_parser.add_argument("url")
    http_parser.add_argument("--timeout", type=float, default=3.0)
    http_parser.add_argument("--host", default="", help="the Host header (default: the URL's)")
    args = parser.parse_args(argv)
    problem = (
        file_is_fresh(args.path, args.max_age)
        if args.kind == "file"
        else http_answers(args.url, args.timeout, args.host)
    )
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

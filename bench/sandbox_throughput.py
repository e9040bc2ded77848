"""Throughput and memory benchmark of the QBO sandbox.

Starts `python -m qbsync.sandbox --no-limits` (no latency) in its own process, then drives it from several
client processes over keep-alive loopback connections with a mix of reads, queries and creates. Reports
requests per second and the server's resident memory before and after.

    .venv/bin/python bench/sandbox_throughput.py                       # 100,000 requests, default mix
    .venv/bin/python bench/sandbox_throughput.py --requests 20000 --clients 8 --mix read=1
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def call(conn: http.client.HTTPConnection, method: str, path: str, body: object = None, headers=None):
    data = None
    hdrs = {"Accept": "application/json", **(headers or {})}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    payload = resp.read()
    return resp.status, payload


def worker(args: tuple) -> dict:
    host, port, realm, token, count, mix, seed, customer_ids = args
    rnd = random.Random(seed)
    conn = http.client.HTTPConnection(host, port, timeout=30)
    auth = {"Authorization": f"Bearer {token}"}
    base = f"/v3/company/{realm}"
    kinds, weights = zip(*mix.items(), strict=True)
    statuses: dict[str, int] = {}
    created = 0
    for i in range(count):
        kind = rnd.choices(kinds, weights)[0]
        if kind == "read":
            status, _ = call(
                conn, "GET", f"{base}/customer/{rnd.choice(customer_ids)}?minorversion=75", headers=auth
            )
        elif kind == "query":
            a_id, b_id = rnd.choice(customer_ids), rnd.choice(customer_ids)
            q = f"SELECT * FROM Customer WHERE Id IN ('{a_id}', '{b_id}')"
            if rnd.random() < 0.5:
                q = f"SELECT * FROM Customer WHERE DisplayName = 'Bench Customer {rnd.randrange(200)}'"
            status, _ = call(conn, "GET", f"{base}/query?query={quote(q)}&minorversion=75", headers=auth)
        elif kind == "create":
            body = {"DisplayName": f"W{seed}-{i}"}
            status, _ = call(
                conn, "POST", f"{base}/customer?minorversion=75&requestid=w{seed}-{i}", body, auth
            )
            created += 1
        else:  # invoice
            body = {"CustomerRef": {"value": rnd.choice(customer_ids)},
                    "Line": [{"Amount": 10, "DetailType": "SalesItemLineDetail",
                              "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}  # fmt: skip
            status, _ = call(conn, "POST", f"{base}/invoice?minorversion=75", body, auth)
            created += 1
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    conn.close()
    return {"statuses": statuses, "created": created}


def run_phase(host, port, realm, token, total, clients, mix, customer_ids, seed_base) -> tuple[float, dict]:
    per = total // clients
    jobs = [(host, port, realm, token, per, mix, seed_base + n, customer_ids) for n in range(clients)]
    started = time.perf_counter()
    with mp.Pool(clients) as pool:
        results = pool.map(worker, jobs)
    elapsed = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for r in results:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    return per * clients / elapsed, {"statuses": statuses, "seconds": round(elapsed, 2),
                                     "requests": per * clients}  # fmt: skip


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        key, _, weight = part.partition("=")
        mix[key.strip()] = float(weight or 1)
    unknown = set(mix) - {"read", "query", "create", "invoice"}
    if unknown:
        raise SystemExit(f"unknown mix kinds {unknown}")
    return mix


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--clients", type=int, default=min(8, os.cpu_count() or 4))
    p.add_argument("--mix", default="read=5,query=3,create=1,invoice=1")
    p.add_argument("--warmup", type=int, default=12_000, help="fills the 10,000-entry request log first")
    p.add_argument("--json", action="store_true", help="print the result as JSON only")
    a = p.parse_args()
    mix = parse_mix(a.mix)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbsync.sandbox", "--host", "127.0.0.1", "--port", "0", "--no-limits"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline().strip()
        url = urlsplit(line.rsplit(" ", 1)[1])
        host, port = url.hostname, url.port
        conn = http.client.HTTPConnection(host, port, timeout=30)
        _, body = call(
            conn, "POST", "/_sandbox/companies", {"name": "Bench Co", "customer_types": ["Individual"]}
        )
        realm = json.loads(body)["realmId"]
        _, body = call(conn, "POST", f"/_sandbox/companies/{realm}/tokens", {})
        token = json.loads(body)["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        customer_ids = []
        for n in range(200):
            _, body = call(
                conn, "POST", f"/v3/company/{realm}/customer", {"DisplayName": f"Bench Customer {n}"}, auth
            )
            customer_ids.append(json.loads(body)["Customer"]["Id"])
        run_phase(host, port, realm, token, a.warmup, a.clients, mix, customer_ids, 10_000)
        rss_before = rss_kib(proc.pid)
        _, body = call(conn, "GET", f"/_sandbox/companies/{realm}")
        counts_before = json.loads(body)["counts"]
        rate, detail = run_phase(host, port, realm, token, a.requests, a.clients, mix, customer_ids, 0)
        rss_after = rss_kib(proc.pid)
        _, body = call(conn, "GET", f"/_sandbox/companies/{realm}")
        counts_after = json.loads(body)["counts"]
        _, body = call(conn, "GET", "/_sandbox/requests?limit=1")
        result = {
            "requests": detail["requests"], "clients": a.clients, "mix": mix, "seconds": detail["seconds"],
            "requests_per_second": round(rate, 1), "statuses": detail["statuses"],
            "rss_kib_before": rss_before, "rss_kib_after": rss_after,
            "rss_growth_kib": rss_after - rss_before,
            "records_before": counts_before, "records_after": counts_after,
            "python": sys.version.split()[0], "cpus": os.cpu_count(),
        }  # fmt: skip
        if a.json:
            print(json.dumps(result))
        else:
            print(json.dumps(result, indent=2))
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

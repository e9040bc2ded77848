"""What a permit costs: permits per second through RedisRateGovernor with the limits out of the way, from one
process and from several (on one realm, then one realm each), next to the in-process governor and a bare
Redis round trip. A permit is two round trips: the acquire script and the release.

    .venv/bin/python bench/governor_overhead.py [--redis-url redis://127.0.0.1:6379/0] [--seconds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qbsync.quickbooks.governor import LocalRateGovernor, RateLimits, RedisRateGovernor

# Limits nobody reaches, on QBO's real 60 s window: the window set grows far larger than a real realm's
# 450 entries, so the figures err on the slow side.
UNLIMITED = RateLimits(
    max_in_flight=1_000_000, per_minute=10**9, batch_per_minute=10**9, per_second=None, headroom=0
)


def _redis_permits(redis_url: str, key_prefix: str, realm_id: str, start_at: float, seconds: float) -> int:
    import redis

    governor = RedisRateGovernor(redis.Redis.from_url(redis_url), UNLIMITED, key_prefix=key_prefix)
    with governor.permit(realm_id, max_wait=0):  # loads the script and opens the connection
        pass
    time.sleep(max(0.0, start_at - time.time()))
    stop_at = start_at + seconds
    count = 0
    while time.time() < stop_at:
        with governor.permit(realm_id, max_wait=0):
            pass
        count += 1
    return count


def _local_permits(seconds: float) -> int:
    governor = LocalRateGovernor(UNLIMITED)
    stop_at = time.time() + seconds
    count = 0
    while time.time() < stop_at:
        with governor.permit("1", max_wait=0):
            pass
        count += 1
    return count


def _pings(redis_url: str, seconds: float) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.ping()
    stop_at = time.time() + seconds
    count = 0
    while time.time() < stop_at:
        client.ping()
        count += 1
    return count


def _run_processes(*, redis_url: str, processes: int, shared_realm: bool, seconds: float) -> float:
    key_prefix = f"bench:gov:{uuid.uuid4().hex}"
    start_at = time.time() + 1.5
    jobs = [
        (redis_url, key_prefix, "1" if shared_realm else str(n + 1), start_at, seconds)
        for n in range(processes)
    ]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        counts = pool.starmap(_redis_permits, jobs)
    import redis

    client = redis.Redis.from_url(redis_url)
    leftovers = list(client.scan_iter(f"{key_prefix}:*"))
    if leftovers:
        client.delete(*leftovers)
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    rows = [
        ("Redis PING round trips, 1 process", _pings(args.redis_url, args.seconds) / args.seconds),
        ("LocalRateGovernor, 1 process", _local_permits(args.seconds) / args.seconds),
    ]
    for processes, shared in ((1, True), (4, True), (4, False)):
        realms = "one realm" if shared else "a realm each"
        rate = _run_processes(
            redis_url=args.redis_url, processes=processes, shared_realm=shared, seconds=args.seconds
        )
        rows.append((f"RedisRateGovernor, {processes} process(es), {realms}", rate))

    print(f"{os.cpu_count()} CPUs; {args.seconds:.0f} s per run; Redis at {args.redis_url}")
    for label, rate in rows:
        print(f"  {label:<52} {rate:>10,.0f}/s   {1e6 / rate:>8.1f} us each")


if __name__ == "__main__":
    main()

"""S6, two worker processes on the same companies: two firms, each on its own company, 100 operations in
all, worked by two real workers (two processes each) sharing the Redis rate governor. The sandbox measures
how many requests each company had in flight at once: never more than the governor allows, whatever the
worker count. Every customer exists before its invoices and every invoice before its payments (QBO refuses
a reference to a record it does not have, and no request was refused), nothing twice, nothing crossed."""

import time

import pytest

from qbsync.quickbooks.governor import RateLimits
from tests.faults.conftest import connect_tenant, make_work, worker
from tests.faults.invariants import assert_invariants, wait_settled

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MAX_IN_FLIGHT = 3  # QBO_MAX_IN_FLIGHT for the workers; the governor keeps 5% headroom below it


def test_two_workers_keep_each_company_within_its_concurrency_limit(require_redis, qbo):
    tenants = [connect_tenant(qbo, latency_ms=40), connect_tenant(qbo, latency_ms=40)]
    allowed = RateLimits(max_in_flight=MAX_IN_FLIGHT).usable(MAX_IN_FLIGHT)
    env = {"QBO_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT)}
    started = time.monotonic()
    with worker(qbo, name="s6-a", concurrency=2, env=env), worker(qbo, name="s6-b", concurrency=2, env=env):
        ops = sum(make_work(t.firm, accounts=5, invoices=6, prefix=f"F{t.firm.pk}") for t in tenants)
        assert ops == 2 * (5 + 30 + 15)
        took = wait_settled([t.firm for t in tenants], 180)
    assert_invariants(qbo, {t.firm: t.realm for t in tenants})
    for tenant in tenants:
        stats = qbo.control.company(tenant.realm)["limits_stats"]
        assert 1 <= stats["max_in_flight"] <= allowed, f"{stats} with {allowed} allowed"
        refused = [r for r in qbo.control.requests(tenant.realm) if r.get("status") == 400]
        assert not refused, f"QBO refused requests (out of order?): {refused[:3]}"
    print(
        f"S6: {ops} ops on 2 companies, 2 workers x 2 processes: {took:.1f} s; "
        f"{time.monotonic() - started:.1f} s"
    )

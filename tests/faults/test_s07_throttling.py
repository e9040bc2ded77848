"""S7, throttling: one company answers 429 with Retry-After, then a burst of 5xx, while another company of
another firm syncs through the same worker. The throttled company gets no request before its pause ends
(read from the sandbox's request log), the other finishes while the first is still held back, and in the
end every operation of both is done, none failed for good, none twice, nothing crossed."""

import time
from datetime import datetime, timedelta

import pytest

from qbsync.sync.engine.retry import MAX_ATTEMPTS
from qbsync.sync.models import SyncEvent
from tests.faults.conftest import connect_tenant, make_work, worker
from tests.faults.invariants import assert_invariants, moving, wait_settled

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RETRY_AFTER = 6  # seconds; longer than a permit's wait, so the worker moves on to other companies
THROTTLES = 3
WORKER_SLOTS = 2


def test_a_throttled_company_waits_out_its_pause_while_another_keeps_syncing(require_redis, qbo):
    throttled, other = connect_tenant(qbo), connect_tenant(qbo)
    qbo.control.fault(throttled.realm, "throttle", count=THROTTLES, retry_after=RETRY_AFTER)
    qbo.control.fault(throttled.realm, "http_503", count=3)
    qbo.control.fault(throttled.realm, "http_500", count=3)
    started = time.monotonic()
    with worker(qbo, name="s7", concurrency=WORKER_SLOTS):
        ops = make_work(throttled.firm, accounts=3, invoices=4, prefix="Throttled")
        ops += make_work(other.firm, accounts=3, invoices=4, prefix="Flowing")
        other_took = wait_settled([other.firm], 60)
        assert moving([throttled.firm.pk]), "the throttled company was still held back"
        throttled_took = other_took + wait_settled([throttled.firm], 120)
    assert_invariants(qbo, {throttled.firm: throttled.realm, other.firm: other.realm})

    log = [r for r in qbo.control.requests(throttled.realm) if r.get("kind") == "api"]
    # The log is in order of answers; a request arrived its duration before its answer.
    answered = [datetime.fromisoformat(r["time"]) for r in log]
    arrived = [
        t - timedelta(milliseconds=r.get("duration_ms") or 0) for t, r in zip(answered, log, strict=True)
    ]
    pauses = [answered[i] for i, r in enumerate(log) if r.get("status") == 429]
    assert len(pauses) == THROTTLES
    for paused_at in pauses:
        # Only requests already under way when the 429 came back may arrive during the pause: with two
        # worker slots, at most the other slot's one (sent before the worker knew, it can reach the
        # sandbox a few milliseconds after the 429 left it on a busy machine). A governor that ignored the
        # pause would send the company's other records' requests all through it.
        early = [t for t in arrived if paused_at < t < paused_at + timedelta(seconds=RETRY_AFTER - 0.2)]
        assert len(early) <= WORKER_SLOTS - 1, (
            f"requests arrived {[(t - paused_at).total_seconds() for t in early]} s into a pause"
        )
    assert sum(1 for r in log if str(r.get("status")).startswith("5")) == 6
    retries = SyncEvent.objects.filter(firm=throttled.firm, kind="retry_scheduled")
    per_record = {}
    for event in retries:
        key = (
            event.invoice_id,
            event.payment_id,
            event.account_id if not (event.invoice_id or event.payment_id) else None,
        )
        per_record[key] = per_record.get(key, 0) + 1
    assert max(per_record.values(), default=0) < MAX_ATTEMPTS, "no record came near giving up"
    print(
        f"S7: {ops} ops; the other company done in {other_took:.1f} s, the throttled one in "
        f"{throttled_took:.1f} s; {time.monotonic() - started:.1f} s"
    )

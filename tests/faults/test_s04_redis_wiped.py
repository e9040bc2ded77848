"""S4, Redis wiped mid-run: with a worker busy on 60 operations, everything this run keeps in Redis (its
queues, unacknowledged messages, bindings, and its company's rate-governor state) is deleted, as a Redis
restart without persistence would. Other users of the same Redis server are left alone: only this run's
key prefix and this company's governor keys go. Beat's sweep rebuilds the queue from PostgreSQL: every
operation ends done, none twice, none lost."""

import time

import pytest
from django.conf import settings

from qbsync.quickbooks.governor import RedisRateGovernor, governor_from_settings
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, PaymentSyncLink
from qbsync.sync.states import SyncState
from tests.faults.conftest import make_work, worker
from tests.faults.invariants import assert_invariants, moving, wait_settled

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def synced(firm) -> int:
    return sum(
        m.objects.filter(firm=firm, state=SyncState.SYNCED).count()
        for m in (AccountSyncLink, InvoiceSyncLink, PaymentSyncLink)
    )


def test_redis_wiped_mid_run_loses_and_duplicates_nothing(require_redis, qbo, tenant):
    import redis

    realm, firm = tenant.realm, tenant.firm
    qbo.control.settings(realm, latency_ms=60)
    client = redis.Redis.from_url(require_redis)
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    governor = governor_from_settings()
    assert isinstance(governor, RedisRateGovernor)
    started = time.monotonic()
    with worker(qbo, name="s4", concurrency=2):
        ops = make_work(firm, accounts=6, invoices=6, prefix="Wiped")
        assert ops == 6 + 36 + 18
        deadline = time.monotonic() + 60
        while synced(firm) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert 5 <= synced(firm) < ops, "wiped mid-run: some work done, some not"
        keys = [*client.scan_iter(f"{prefix}*"), *governor.keys_for(realm)]
        client.delete(*keys)
        wiped_at = synced(firm)
        assert moving([firm.pk]), "work was still under way when Redis lost it"
        took = wait_settled([firm], 120)
    assert_invariants(qbo, {firm: realm})
    assert synced(firm) == ops
    print(
        f"S4: {ops} ops, {wiped_at} done when wiped, settled {took:.1f} s later; "
        f"{time.monotonic() - started:.1f} s"
    )

"""Fair scheduling across realms through real worker processes, Redis and the sandbox: a slow company with a
long backlog, or a throttled one, does not hold back another company's invoices; and however many worker
processes run, the sandbox never sees a company over the governor's limits. Each test ends with every
invoice in its own company exactly once, with the right amounts."""

import time
import uuid
from decimal import Decimal

import pytest

from qbsync.firms.models import User
from qbsync.sync.fairness import slots_from_settings
from qbsync.sync.models import InvoiceSyncLink
from qbsync.sync.states import SyncState
from tests.conftest import QBO_TEST_CLIENT_ID, QBO_TEST_CLIENT_SECRET, QBO_TEST_REDIRECT_URI
from tests.factories import AccountFactory, FirmFactory, UserFactory, connection_for_realm, make_invoice
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("require_redis")]
D = Decimal
# The other company's invoices must be in QBO this soon after they were saved, while the first is busy.
BOUND_SECONDS = 8.0


def fair_worker(qbo, *, name: str, concurrency: int, env: dict | None = None) -> WorkerProcess:
    process = WorkerProcess(
        name=name,
        concurrency=concurrency,
        env={
            "QBO_API_BASE_URL": qbo.api_base,
            "QBO_OAUTH_DISCOVERY_URL": qbo.discovery_url,
            "QBO_CLIENT_ID": QBO_TEST_CLIENT_ID,
            "QBO_CLIENT_SECRET": QBO_TEST_CLIENT_SECRET,
            "QBO_REDIRECT_URI": QBO_TEST_REDIRECT_URI,
            **(env or {}),
        },
    )
    try:
        process.wait_ready()
    except BaseException:
        process.stop()
        raise
    return process


class Company:
    """A firm connected to its own sandbox company, with accounts already linked to customers."""

    def __init__(self, qbo, label: str, *, accounts: int = 2, **company_settings):
        from qbsync.sync.kinds.accounts import account_push, account_sync_request
        from qbsync.sync.models import AccountSyncLink
        from qbsync.sync.services.connections import connection_apply_first_defaults

        self.qbo, self.label = qbo, label
        self.firm = FirmFactory()
        owner = UserFactory(firm=self.firm, role=User.Role.OWNER)
        self.realm = qbo.control.create_company(
            f"Fair {label} {uuid.uuid4().hex[:6]}", customer_types=["Individual"]
        )
        connection = connection_for_realm(firm=self.firm, user=owner, sandbox=qbo, realm_id=self.realm)
        connection_apply_first_defaults(connection=connection)
        self.accounts = []
        for i in range(accounts):
            account = AccountFactory(firm=self.firm, name=f"Fair {label} Client {i}")
            link = account_sync_request(account=account)
            account_push(link_id=link.pk)  # linked here, before the test's clock starts
            assert AccountSyncLink.objects.get(pk=link.pk).state == SyncState.SYNCED
            self.accounts.append(account)
        if company_settings:
            qbo.control.settings(self.realm, **company_settings)

    def invoices(self, count: int) -> None:
        for i in range(count):
            make_invoice(
                account=self.accounts[i % len(self.accounts)],
                number=f"{self.label}-{i:03d}",
                amounts=(f"{100 + i}.25", "12.50"),
            )

    def synced(self) -> int:
        return InvoiceSyncLink.objects.filter(firm=self.firm, state=SyncState.SYNCED).count()

    def total(self) -> int:
        return InvoiceSyncLink.objects.filter(firm=self.firm).count()

    def assert_once_and_correct(self) -> None:
        in_qbo = {i["Id"]: i for i in self.qbo.control.entities(self.realm, "Invoice")}
        links = list(InvoiceSyncLink.objects.filter(firm=self.firm).select_related("invoice"))
        assert [link.state for link in links] == [SyncState.SYNCED] * len(links)
        assert len(in_qbo) == len(links), f"{self.label}: a duplicate or a stray invoice in QBO"
        for link in links:
            assert D(str(in_qbo[link.qbo_invoice_id]["TotalAmt"])) == link.invoice.total


def wait_until(condition, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} not within {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_slow_company_with_a_long_backlog_does_not_hold_back_another(qbo):
    slow = Company(qbo, "SLOW", latency_ms=800)
    fast = Company(qbo, "FAST")
    slots = slots_from_settings()
    # Six slots; the slow company may hold three of them (the default: half the pool).
    worker = fair_worker(qbo, name="fair-slow", concurrency=6, env={"QBSYNC_MAX_WORKERS_PER_REALM": "0"})
    try:
        slow.invoices(60)  # about 50 s of QBO time (16 s on three slots), queued first
        fast.invoices(4)
        fast_took = wait_until(lambda: fast.synced() == 4, 30, "the fast company's invoices")
        slow_left = slow.total() - slow.synced()
        print(f"fast company done in {fast_took:.1f} s; the slow one still had {slow_left} of 60 to send")
        assert fast_took < BOUND_SECONDS
        assert slow_left > 20, "the slow company should still be busy: otherwise this proves nothing"
        held = []
        wait_until(
            lambda: held.append(slots.held(slow.realm)) or slow.synced() == 60,
            120,
            "the slow company's invoices",
        )
    finally:
        worker.stop()
    print(f"slots the slow company held, sampled every 0.1 s: at most {max(held)}")
    assert max(held) == 3, "the slow company should have held exactly its share: half of the 6 slots"
    slow.assert_once_and_correct()
    fast.assert_once_and_correct()


def test_a_throttled_company_does_not_hold_back_another_and_spends_no_attempts_waiting(qbo):
    throttled = Company(qbo, "THROTTLED")
    other = Company(qbo, "OTHER")
    # Every request of the first company is answered 429 for a while; each 429 pauses it for 2 s.
    qbo.control.fault(throttled.realm, "throttle", count=12, retry_after=2)
    worker = fair_worker(qbo, name="fair-429", concurrency=3)
    try:
        throttled.invoices(16)
        other.invoices(4)
        other_took = wait_until(lambda: other.synced() == 4, 30, "the other company's invoices")
        print(f"other company done in {other_took:.1f} s; throttled company at {throttled.synced()} of 16")
        assert other_took < BOUND_SECONDS
        wait_until(lambda: throttled.synced() == 16, 120, "the throttled company's invoices")
    finally:
        worker.stop()
    throttled.assert_once_and_correct()
    other.assert_once_and_correct()
    # While paused the company's tasks stepped aside instead of spending attempts on our own limiter: only
    # the 429s QBO sent count, so the retries scheduled are at most the 12 injected.
    from collections import Counter

    from qbsync.sync.models import SyncEvent

    retries = Counter(
        SyncEvent.objects.filter(invoice__firm=throttled.firm, kind="retry_scheduled").values_list(
            "invoice_id", flat=True
        )
    )
    print(f"retries scheduled: {sum(retries.values())} for {len(retries)} invoices")
    assert sum(retries.values()) <= 12, retries


def test_two_worker_processes_keep_one_company_under_its_limits(qbo):
    company = Company(qbo, "LIMITS", latency_ms=300)
    # QBO allows this company 4 requests in flight; the governor keeps 5% in reserve, so 3.
    qbo.control.settings(company.realm, limits={"concurrent": 4})
    env = {"QBO_MAX_IN_FLIGHT": "4", "QBSYNC_MAX_WORKERS_PER_REALM": "4"}
    workers = [fair_worker(qbo, name=f"fair-limits-{n}", concurrency=4, env=env) for n in range(2)]
    try:
        company.invoices(40)
        wait_until(lambda: company.synced() == 40, 120, "the company's invoices")
    finally:
        for worker in workers:
            worker.stop()
    stats = qbo.control.company(company.realm)["limits_stats"]
    print(f"8 worker slots on one company: sandbox saw {stats}")
    assert stats["throttled"] == 0, "the sandbox had to refuse a request"
    assert stats["max_in_flight"] <= 3
    assert stats["max_in_flight"] >= 2, "no parallel requests at all: the test proves nothing"
    company.assert_once_and_correct()

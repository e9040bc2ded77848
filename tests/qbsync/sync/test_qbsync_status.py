"""`manage.py qbsync_status` against the real broker, governor and database: messages published to the
queues, a realm throttled in the shared governor, and sync work left in every stuck state."""

import io
import json
from datetime import timedelta

import pytest
from celery import Celery
from django.core.management import call_command
from django.utils import timezone

from qbsync.celery import app
from qbsync.core.models import ProcessHeartbeat
from qbsync.quickbooks.governor import governor_from_settings, reset_governor
from qbsync.sync import fairness
from qbsync.sync.models import AccountSyncLink, BulkSyncPlan, InvoiceSyncLink, SyncOutbox
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, make_invoice

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(hours=1)


def run_status(*args: str) -> str:
    out = io.StringIO()
    call_command("qbsync_status", *args, stdout=out)
    return out.getvalue()


def account_link(firm, *, state, ago=timedelta(0), **fields):
    account = AccountFactory(firm=firm)
    link, _ = AccountSyncLink.objects.update_or_create(
        account=account, defaults={"firm": firm, "state": state, **fields}
    )
    AccountSyncLink.objects.filter(pk=link.pk).update(state_changed_at=timezone.now() - ago)
    return link


@pytest.fixture
def stuck_and_failed(firm, other_firm, qbo_connection):
    """One of each kind of stuck work, and failures of two causes in two firms."""
    account_link(firm, state=SyncState.SYNCING, ago=LONG_AGO)  # worker died holding it
    account_link(firm, state=SyncState.SYNCING)  # in progress: not stuck
    account_link(firm, state=SyncState.QUEUED, ago=LONG_AGO)  # the broker lost its message
    account_link(firm, state=SyncState.QUEUED, ago=LONG_AGO, next_attempt_at=timezone.now() + LONG_AGO)
    for _ in range(2):
        account_link(firm, state=SyncState.FAILED, error_cause="duplicate_name", error_code="6240")
    account_link(other_firm, state=SyncState.FAILED, error_cause="validation", error_code="6000")
    waiting = make_invoice(account=AccountFactory(firm=firm))
    InvoiceSyncLink.objects.filter(invoice=waiting).update(
        state=SyncState.SYNCING,
        state_changed_at=timezone.now() - LONG_AGO,
        waiting_reason="waiting for the account to sync",
    )
    failed = make_invoice(account=AccountFactory(firm=firm))
    InvoiceSyncLink.objects.filter(invoice=failed).update(state=SyncState.FAILED, error_code="6140")
    SyncOutbox.objects.create(
        firm=firm,
        entity="Invoice",
        operation="delete",
        local_label="I-1",
        qbo_id="1",
        created_at=timezone.now() - LONG_AGO,
    )
    SyncOutbox.objects.create(firm=firm, entity="Invoice", operation="delete", local_label="I-2", qbo_id="2")
    SyncOutbox.objects.create(
        firm=other_firm, entity="Payment", operation="delete", local_label="P-1", qbo_id="3", state="failed"
    )
    plan = BulkSyncPlan.objects.create(firm=firm, state=BulkSyncPlan.State.RUNNING)
    BulkSyncPlan.objects.filter(pk=plan.pk).update(updated_at=timezone.now() - LONG_AGO)
    BulkSyncPlan.objects.create(firm=firm, state=BulkSyncPlan.State.RUNNING)  # beating: not stuck


@pytest.fixture
def purge_queues():
    yield
    app.control.purge()


def test_status_on_postgres_and_redis(
    require_postgres,
    require_redis,
    settings,
    firm,
    other_firm,
    qbo_connection,
    stuck_and_failed,
    purge_queues,
    fresh_governor,
):
    before = json.loads(run_status("--json"))["queues"]
    # One task of the company runs holding its only slot here; another waits parked for it.
    fairness.reset_slots()
    slots = fairness.slots_from_settings()
    assert slots.take(qbo_connection.realm_id, node="w1@a", node_cap=1, realm_cap=9)[0] == "ok"
    assert slots.take(qbo_connection.realm_id, node="w1@a", node_cap=1, realm_cap=9, park="{}")[0] == "node"
    for _ in range(3):
        app.send_task("qbsync.qbo.account_push", args=[0])
    app.send_task("qbsync.sync_sweep")
    now = timezone.now()
    ProcessHeartbeat.objects.create(
        kind="worker", name="w1@a", pid=1, queues="default,qbo", started_at=now, beat_at=now
    )
    ProcessHeartbeat.objects.create(
        kind="worker", name="w2@b", pid=2, queues="qbo", started_at=now, beat_at=now - LONG_AGO
    )
    governor = governor_from_settings()
    with governor.permit(qbo_connection.realm_id):
        governor.pause(qbo_connection.realm_id, 30)  # a 429 while one request is in flight
        report = json.loads(run_status("--json"))
        text = run_status()

    assert report["broker"] == "redis"
    assert report["queues"]["qbo"]["waiting"] - before["qbo"]["waiting"] == 3
    assert report["queues"]["default"]["waiting"] - before["default"]["waiting"] == 1
    assert [(p["name"], p["alive"]) for p in report["processes"]] == [("w1@a", True), ("w2@b", False)]
    stuck = {name: row["count"] for name, row in report["stuck"].items()}
    assert stuck == {
        "account_syncing_past_lease": 1,
        "account_queued_past_grace": 1,
        "invoice_syncing_past_lease": 0,  # waiting for its account is not stuck
        "invoice_queued_past_grace": 0,
        "payment_syncing_past_lease": 0,
        "payment_queued_past_grace": 0,
        "outbox_pending_past_grace": 1,
        "outbox_failed": 1,
        "bulk_runs_without_heartbeat": 1,
    }
    assert report["stuck"]["account_syncing_past_lease"]["oldest_seconds"] >= 3600
    (realm,) = report["throttle"]["realms"]
    assert realm["realm"] == qbo_connection.realm_id
    assert realm["firm"] == firm.pk
    assert realm["in_flight"] == 1
    assert realm["requests_in_window"] == 1
    assert 25 < realm["paused_for_seconds"] <= 30
    assert (realm["slots_held"], realm["set_aside_share"], realm["parked_now"]) == (1, 1, 1)
    assert report["failures"] == [
        {"firm": firm.pk, "record": "account", "cause": "duplicate_name", "count": 2},
        {"firm": firm.pk, "record": "invoice", "cause": "qbo_6140", "count": 1},
        {"firm": other_firm.pk, "record": "account", "cause": "validation", "count": 1},
    ]
    assert "w2@b" in text
    assert "NOT BEATING" in text
    assert f"realm {qbo_connection.realm_id}" in text
    assert "PAUSED" in text
    assert "worker slots 1  set aside 1 for its share of slots (1 parked now)" in text
    assert "account syncing past lease" in text
    assert "duplicate_name" in text


@pytest.fixture
def fresh_governor():
    """The process-wide governor is built from the settings of the moment; these tests change them."""
    reset_governor()
    yield
    reset_governor()


def test_filesystem_queue_lengths_count_kombus_message_files(settings, tmp_path, fresh_governor):
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(tmp_path / "control"),
        "store_processed": False,
    }
    # Not the current app: the tasks of the rest of the run must keep publishing through qbsync's.
    publisher = Celery(
        "status-test", broker="filesystem://", broker_transport_options=options, set_as_current=False
    )
    publisher.conf.task_routes = {"qbsync.qbo.*": {"queue": "qbo"}}
    publisher.conf.task_default_queue = "default"
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = options
    for _ in range(2):
        publisher.send_task("qbsync.qbo.invoice_push", args=[1])
    publisher.send_task("qbsync.sync_sweep")

    report = json.loads(run_status("--json"))

    assert report["broker"] == "filesystem"
    assert report["queues"] == {"default": {"waiting": 1}, "qbo": {"waiting": 2}}
    assert report["throttle"]["shared"] is False
    assert "no shared governor" in run_status()


def test_nothing_running_says_so(settings):
    text = run_status()

    assert "none has ever sent a heartbeat: is a worker running?" in text
    assert "Failures by cause\n  none" in text


def test_the_change_inbox_shows_its_backlog_and_oldest_unprocessed_change_per_connection(
    firm, qbo_connection
):
    from qbsync.changes.models import QboChange

    now = timezone.now()
    for i, (state, ago) in enumerate(
        [
            ("pending", LONG_AGO),
            ("pending", timedelta(0)),
            ("processing", timedelta(0)),
            ("done", 2 * LONG_AGO),
        ]
    ):
        QboChange.objects.create(
            firm=firm,
            realm_id=qbo_connection.realm_id,
            event_id=f"e-{i}",
            source="cdc",
            entity="Customer",
            entity_id=str(i),
            state=state,
            received_at=now - ago,
        )

    report = json.loads(run_status("--json"))
    text = run_status()

    [row] = report["changes_inbox"]
    assert (row["firm"], row["realm"], row["connection"]) == (
        firm.pk,
        qbo_connection.realm_id,
        qbo_connection.pk,
    )
    assert row["unprocessed"] == 3
    assert 3600 <= row["oldest_unprocessed_seconds"] < 3600 + 600
    assert "Changes from QuickBooks (inbox)" in text
    assert f"realm {qbo_connection.realm_id}" in text

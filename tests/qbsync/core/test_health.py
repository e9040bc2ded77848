"""/readyz and the heartbeats behind it, with real worker and beat processes on the configured broker."""

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from qbsync.core import probe
from qbsync.core.models import ProcessHeartbeat
from tests.workers import ROOT, WorkerProcess, database_url_for_tests


def wait_for(condition, *, timeout: float = 30.0, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def heartbeat(*, queues="default,qbo", seconds_ago=0, kind=ProcessHeartbeat.Kind.WORKER, name="w@host"):
    at = timezone.now() - timedelta(seconds=seconds_ago)
    return ProcessHeartbeat.objects.create(
        kind=kind, name=name, pid=1, queues=queues, started_at=at, beat_at=at
    )


@pytest.mark.django_db
def test_healthz_is_up_without_looking_at_anything(client):
    assert client.get(reverse("healthz")).json() == {"status": "ok"}


@pytest.mark.django_db
def test_not_ready_without_a_worker_heartbeat_and_says_so(client):
    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["failed"] == ["workers: no worker has sent a heartbeat in the last 60 s"]


@pytest.mark.django_db
def test_a_stale_heartbeat_is_a_dead_worker(client):
    heartbeat(seconds_ago=61)

    assert client.get(reverse("readyz")).status_code == 503

    heartbeat(name="fresh@host", seconds_ago=5)
    body = client.get(reverse("readyz")).json()
    assert body["status"] == "ready"
    assert body["checks"]["workers"]["alive"] == 1


@pytest.mark.django_db
def test_every_queue_needs_a_live_worker(client):
    heartbeat(queues="default")

    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    assert response.json()["failed"] == ["workers: no live worker consumes the queue(s) qbo"]


@pytest.mark.django_db
def test_an_unreachable_broker_is_named(client, settings, tmp_path):
    heartbeat()
    if settings.REDIS_URL:
        settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
        expected = "broker: the Redis broker does not answer (ConnectionError)"
    else:
        settings.CELERY_FILESYSTEM_BROKER_DIR = tmp_path / "gone"
        expected = "broker: the filesystem queue folder is missing or not writable"

    response = client.get(reverse("readyz"))

    assert response.status_code == 503
    assert response.json()["failed"] == [expected]


@pytest.mark.django_db
def test_readyz_leaks_no_addresses_or_credentials(client, settings):
    heartbeat(name="celery@internal-host-7")

    text = client.get(reverse("readyz")).content.decode()

    assert "internal-host-7" not in text
    assert settings.DATABASES["default"]["NAME"] not in text
    if settings.REDIS_URL:
        assert settings.REDIS_URL not in text


@pytest.mark.worker
def test_a_real_worker_makes_it_ready_and_its_clean_stop_unready(transactional_db, client, tmp_path, request):
    if os.environ.get("REDIS_URL"):
        request.getfixturevalue("require_redis")
    heartbeat_file = tmp_path / "worker.heartbeat"
    worker = WorkerProcess(
        name="readyz", env={"QBSYNC_HEARTBEAT_SECONDS": "1", "QBSYNC_HEARTBEAT_FILE": str(heartbeat_file)}
    )
    try:
        worker.wait_ready()
        body = wait_for(
            lambda: (r := client.get(reverse("readyz"))).status_code == 200 and r.json(),
            what=f"/readyz to answer 200; worker log:\n{worker.log()}",
        )
        assert body["checks"]["workers"]["alive"] == 1
        row = ProcessHeartbeat.objects.get(kind="worker")
        assert row.name == f"readyz-{os.getpid()}@{os.uname().nodename}"
        assert row.queues == "default,qbo"
        # It keeps beating while it runs (every second here), and touches the container's file.
        first = row.beat_at
        wait_for(lambda: ProcessHeartbeat.objects.get(pk=row.pk).beat_at > first, what="a second heartbeat")
        assert probe.main(["file", str(heartbeat_file), "--max-age", "10"]) == 0
    finally:
        worker.stop()

    assert not ProcessHeartbeat.objects.filter(kind="worker").exists()
    assert client.get(reverse("readyz")).status_code == 503


@pytest.mark.worker
def test_a_killed_worker_goes_stale(transactional_db, client, settings):
    worker = WorkerProcess(name="killed", env={"QBSYNC_HEARTBEAT_SECONDS": "1"})
    try:
        worker.wait_ready()
        wait_for(lambda: client.get(reverse("readyz")).status_code == 200, what="/readyz 200")
        worker.kill()
    finally:
        worker.stop()
    settings.QBSYNC_HEARTBEAT_STALE_SECONDS = 3

    # SIGKILL: no clean removal; the row stays and goes stale.
    wait_for(lambda: client.get(reverse("readyz")).status_code == 503, timeout=10, what="/readyz 503")
    assert ProcessHeartbeat.objects.filter(kind="worker").exists()


@pytest.mark.worker
def test_beat_beats_from_its_scheduler_loop(transactional_db, client, tmp_path):
    heartbeat_file = tmp_path / "beat.heartbeat"
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "qbsync.settings.test",
        "DATABASE_URL": database_url_for_tests(),
        "QBSYNC_HEARTBEAT_SECONDS": "1",
        "QBSYNC_HEARTBEAT_FILE": str(heartbeat_file),
    }
    log_path = tmp_path / "beat.log"
    with open(log_path, "wb") as log:
        beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "qbsync", "beat", "-s", str(tmp_path / "schedule")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        beats = wait_for(
            lambda: list(ProcessHeartbeat.objects.filter(kind="beat").values_list("beat_at", flat=True)),
            what=f"beat's heartbeat; log:\n{log_path.read_text()[-3000:]}",
        )
        wait_for(
            lambda: ProcessHeartbeat.objects.get(kind="beat").beat_at > beats[0],
            timeout=10,
            what="beat's second heartbeat (it beats each second here)",
        )
        assert probe.main(["file", str(heartbeat_file), "--max-age", "5"]) == 0
        checks = client.get(reverse("readyz")).json()["checks"]
        assert checks["beat"]["ok"] is True
    finally:
        beat.terminate()
        beat.wait(timeout=20)


def test_the_file_probe_fails_on_a_missing_or_old_file(tmp_path, capsys):
    path = tmp_path / "hb"
    assert probe.main(["file", str(path)]) == 1
    assert "does not exist" in capsys.readouterr().err
    path.write_text("1")
    old = time.time() - 120
    os.utime(path, (old, old))
    assert probe.main(["file", str(path), "--max-age", "60"]) == 1
    assert "stopped beating" in capsys.readouterr().err
    path.touch()
    assert probe.main(["file", str(path), "--max-age", "60"]) == 0


def test_the_http_probe_reads_a_real_server(qbo_sandbox, capsys):
    assert probe.main(["http", f"{qbo_sandbox.base_url}/.well-known/openid_configuration"]) == 0
    assert probe.main(["http", f"{qbo_sandbox.base_url}/no-such-page"]) == 1
    assert "answered 404" in capsys.readouterr().err

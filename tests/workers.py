"""Start real Celery worker processes against the test database and the configured broker."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url_for_tests() -> str:
    """The URL of the database this test run uses (pytest-django's test database, not the dev one)."""
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    if s["ENGINE"] == "django.db.backends.postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"
    raise RuntimeError(f"Unsupported test database engine {s['ENGINE']}")


class WorkerProcess:
    """One `celery worker` child process, killed or stopped by the test that started it."""

    def __init__(self, *, name: str = "test", queues: str = "default,qbo", concurrency: int = 1, env=None):
        self.name = name
        self.log_path = ROOT / "var" / f"worker-{name}-{os.getpid()}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        worker_env = (
            os.environ
            | {
                "DJANGO_SETTINGS_MODULE": "qbsync.settings.test",
                "DATABASE_URL": database_url_for_tests(),
            }
            | (env or {})
        )
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "qbsync",
                "worker",
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "-n",
                f"{name}-{os.getpid()}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=worker_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children, mid-task."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def sandbox_worker(
    sandbox, *, name: str, concurrency: int = 2, queues: str = "default,qbo", env: dict | None = None
) -> WorkerProcess:
    """A ready worker process whose settings point at ``sandbox``, as the test process's do (conftest.qbo),
    with ``env``'s settings on top."""
    from tests.conftest import QBO_TEST_CLIENT_ID, QBO_TEST_CLIENT_SECRET, QBO_TEST_REDIRECT_URI

    process = WorkerProcess(
        name=name,
        queues=queues,
        concurrency=concurrency,
        env={
            "QBO_API_BASE_URL": sandbox.api_base,
            "QBO_OAUTH_DISCOVERY_URL": sandbox.discovery_url,
            "QBO_CLIENT_ID": QBO_TEST_CLIENT_ID,
            "QBO_CLIENT_SECRET": QBO_TEST_CLIENT_SECRET,
            "QBO_REDIRECT_URI": QBO_TEST_REDIRECT_URI,
        }
        | (env or {}),
    )
    try:
        process.wait_ready()
    except BaseException:
        process.stop()
        raise
    return process

"""The setup works: the factories build a firm's account, and ``python3 dev.py up`` stopped in its first
seconds stops everything it started (no web server, worker or sandbox left running in its own session,
holding the ports the next ``dev.py up`` needs)."""

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factories import AccountFactory

ROOT = Path(__file__).resolve().parents[1]
# What dev.py and its children read; the copy of dev.py makes a throwaway var/ of its own.
LINKED = ("manage.py", "pyproject.toml", "qbsync", "accounts", "invoices", "templates", "static", ".venv")
LONG_RUNNING = ("runserver", "celery", "qbsync.sandbox")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def children_of(pid: int) -> dict[int, str]:
    """The live children of ``pid`` with their command lines (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def running_in(directory: Path) -> list[int]:
    """Live processes whose working directory is ``directory``: everything dev.py starts runs there."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == directory and alive(int(entry.name)):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def dev_copy(tmp_path):
    stamp = ROOT / ".venv" / ".qbsync-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        pytest.skip("dev.py up would install packages into .venv first")
    shutil.copy(ROOT / "dev.py", tmp_path / "dev.py")
    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


@pytest.mark.worker
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize("stop_at", ["the first child", "the first server"])
def test_dev_up_stopped_early_leaves_nothing_running(dev_copy, stop_at):
    web_port, sandbox_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "CELERY_", "QBO_"))
    }
    env |= {
        "QBSYNC_WEB_ADDR": f"127.0.0.1:{web_port}",
        "QBSYNC_SANDBOX_PORT": str(sandbox_port),
        # The settings find var/ through the real tree: keep this run's database and queue apart.
        "DATABASE_URL": f"sqlite:///{dev_copy / 'var' / 'db.sqlite3'}",
        "CELERY_FILESYSTEM_BROKER_DIR": str(dev_copy / "var" / "celery"),
    }
    dev = subprocess.Popen(
        [sys.executable, "dev.py", "up"],
        cwd=dev_copy,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: dict[int, str] = {}
    try:

        def stop_point() -> bool:
            seen.update(children_of(dev.pid))
            assert dev.poll() is None, f"dev.py up exited by itself with {dev.returncode}"
            if stop_at == "the first child":
                return bool(seen)
            return any(word in cmdline for cmdline in seen.values() for word in LONG_RUNNING)

        wait_until(stop_point, 120, f"{stop_at} of dev.py up")
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=60)
        leftovers = [pid for pid in [*seen, *running_in(dev_copy)] if alive(pid)]
        assert not leftovers, {pid: seen.get(pid, "?") for pid in leftovers}
        assert port_is_free(web_port)
        assert port_is_free(sandbox_port)
    finally:
        if dev.poll() is None:
            dev.kill()
        for pid in [*seen, *running_in(dev_copy)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@pytest.mark.django_db
def test_factories_build_a_firm_account():
    account = AccountFactory()
    assert account.firm.pk

#!/usr/bin/env python3
"""Developer entry point; needs only Python 3.11.

python3 dev.py up      set up .venv, migrate, seed the demo firm, and run web + worker + QBO sandbox
python3 dev.py test    run the whole test suite (extra arguments go to pytest)
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".qbsync-installed"
WEB_ADDR = os.environ.get("QBSYNC_WEB_ADDR", "127.0.0.1:8000")
SANDBOX_PORT = os.environ.get("QBSYNC_SANDBOX_PORT", "8765")
# The verifier token shared by the sandbox and the local web server (a development value only).
DEV_WEBHOOK_TOKEN = "qbsync-dev-webhook-verifier"


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


class Stop:
    """Ctrl-C or SIGTERM, noted from the moment it is created: ``up`` creates it before it starts anything,
    so whenever it is stopped it stops what it started (children run in their own sessions and would
    otherwise outlive it, holding the ports)."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self.note)
        signal.signal(signal.SIGTERM, self.note)

    def note(self, *_) -> None:
        self.requested = True

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless stopped first; True when stopped."""
        deadline = time.monotonic() + seconds
        while not self.requested and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        return self.requested


class Stopped(Exception):
    pass


def run(*args: str, env: dict | None = None, stop: Stop | None = None) -> None:
    """Run a command to its end; with ``stop``, end it early when dev.py is stopped (raises Stopped)."""
    if stop is None:
        subprocess.run(args, cwd=ROOT, env=env, check=True)
        return
    process = subprocess.Popen(args, cwd=ROOT, env=env)
    while process.poll() is None:
        if stop.sleep(0.2):
            process.terminate()
            process.wait()
            raise Stopped
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, args)


def ensure_venv(stop: Stop | None = None) -> None:
    """Create .venv with Python 3.11 and install the pinned dependencies when pyproject.toml changed."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(
            f"qbsync needs Python 3.11; this is {sys.version.split()[0]}. Run it as: python3.11 dev.py ..."
        )
    if not PYTHON.exists():
        say("creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    digest = hashlib.sha256(pyproject).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    project = tomllib.loads(pyproject.decode())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    say(f"installing {len(requirements)} pinned packages into .venv")
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(*pip, *requirements, stop=stop)
    STAMP.write_text(digest)


def dev_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "qbsync.settings.base")
    env.setdefault("DJANGO_DEBUG", "true")
    # Changes made directly in the sandbox come back at once by webhook, and within 15 s by polling.
    env.setdefault("QBO_WEBHOOK_VERIFIER_TOKEN", DEV_WEBHOOK_TOKEN)
    env.setdefault("QBSYNC_CDC_POLL_SECONDS", "15")
    # ... also while the sandbox's webhooks are healthy (in production that safety net polls every 6 h).
    env.setdefault("QBSYNC_CDC_SAFETY_POLL_SECONDS", "15")
    # The app reaches the sandbox, and the consent page comes back, on the ports chosen above.
    sandbox = f"http://127.0.0.1:{SANDBOX_PORT}"
    env.setdefault("QBO_API_BASE_URL", f"{sandbox}/v3")
    env.setdefault("QBO_OAUTH_DISCOVERY_URL", f"{sandbox}/.well-known/openid_configuration")
    env.setdefault("QBO_REDIRECT_URI", f"http://{WEB_ADDR}/settings/integrations/quickbooks/callback/")
    return env


def register_sandbox_webhook(env: dict[str, str], stop: Stop) -> str:
    """Ask the sandbox to send its signed change notifications to the local web server (once: the
    sandbox keeps subscriptions in var/sandbox.json)."""
    base = f"http://127.0.0.1:{SANDBOX_PORT}/_sandbox/webhooks"
    url = f"http://{WEB_ADDR}/integrations/webhooks/quickbooks/"
    for _ in range(40):
        try:
            with urllib.request.urlopen(base, timeout=2) as response:
                subscriptions = json.load(response).get("subscriptions", [])
            break
        except OSError:
            if stop.sleep(0.25):
                return "not registered: stopping"
    else:
        return "the sandbox did not answer; changes come back by polling only"
    token = env["QBO_WEBHOOK_VERIFIER_TOKEN"]
    if any(s.get("url") == url and s.get("verifier_token") == token for s in subscriptions):
        return f"sandbox webhooks -> {url}"
    body = json.dumps({"url": url, "verifier_token": token, "format": "cloudevents"}).encode()
    request = urllib.request.Request(base, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5):
        pass
    return f"sandbox webhooks -> {url}"


def up() -> int:
    stop = Stop()  # first: stopped at any moment from now on, it stops whatever it has started
    processes: dict[str, subprocess.Popen] = {}
    try:
        return serve(stop, processes)
    except Stopped:
        return 130
    finally:
        stop_all(processes)


def serve(stop: Stop, processes: dict[str, subprocess.Popen]) -> int:
    """Set up, start web, worker and sandbox (into ``processes``), and wait until stopped or one exits."""
    ensure_venv(stop)
    env = dev_env()
    (ROOT / "var").mkdir(exist_ok=True)
    run(str(PYTHON), "manage.py", "migrate", "--no-input", "-v", "0", env=env, stop=stop)
    run(str(PYTHON), "manage.py", "seed_demo", env=env, stop=stop)
    commands = {
        # One worker process with threads and an embedded beat: without Redis the rate governor counts
        # in-process, so all QBO calls must come from one process to stay under QBO's limits.
        "worker": [
            str(PYTHON), "-m", "celery", "-A", "qbsync", "worker", "-B", "-Q", "default,qbo",
            "--pool", "threads", "-c", "4", "-n", "dev@%h", "--loglevel", "INFO",
            "-s", str(ROOT / "var" / "celerybeat-schedule"),
        ],
        "web": [str(PYTHON), "manage.py", "runserver", WEB_ADDR, "--noreload"],
    }
    if (ROOT / "qbsync" / "sandbox" / "__main__.py").exists():
        commands["sandbox"] = [
            str(PYTHON),
            "-m",
            "qbsync.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            SANDBOX_PORT,
            "--seed",
            "demo",
            "--data",
            str(ROOT / "var" / "sandbox.json"),
        ]
    for name, command in commands.items():
        if stop.requested:
            raise Stopped
        processes[name] = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    if stop.sleep(3):
        raise Stopped
    webhooks = register_sandbox_webhook(env, stop) if "sandbox" in processes else ""
    broker = "Redis" if env.get("REDIS_URL") else "the filesystem queue in var/celery"
    database = (
        "PostgreSQL" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite (var/db.sqlite3)"
    )
    print(
        f"\n  qbsync is running at http://{WEB_ADDR}/  (database: {database}; worker broker: {broker})\n"
        + (
            f"  QBO sandbox: http://127.0.0.1:{SANDBOX_PORT}/ ({webhooks})\n"
            if "sandbox" in processes
            else ""
        )
        + "  Sign in as owner / demo-owner-2026, admin / demo-admin-2026 or staff / demo-staff-2026.\n"
        "  To try VAT: owner-uk / demo-owner-uk-2026 (Demo Firm UK; README, 'Try VAT in the demo').\n"
        "  Press Ctrl-C to stop everything.\n",
        flush=True,
    )
    while not stop.sleep(0.5):
        for name, process in processes.items():
            if process.poll() is not None:
                say(f"{name} exited with {process.returncode}; stopping the rest")
                return 1
    return 0


def stop_all(processes: dict[str, subprocess.Popen]) -> None:
    """SIGTERM each child's process group, then SIGKILL what is still there after 20 s."""
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test(pytest_args: list[str]) -> int:
    ensure_venv()
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest uses qbsync.settings.test (pyproject.toml)
    code = subprocess.run([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode
    if code == 5:
        print("[dev] pytest collected no tests: that counts as a failure.", file=sys.stderr)
        return 1
    return code


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("up", "test"):
        print(__doc__)
        return 2
    if argv[0] == "up":
        return up()
    return test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The checks the foundation promises stay clean: Django's system checks, migrations, and ruff."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True)


def test_manage_py_check_is_clean():
    out = _run(
        sys.executable, "manage.py", "check", "--fail-level", "WARNING", "--settings", "qbsync.settings.test"
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_models_and_migrations_agree():
    out = _run(
        sys.executable,
        "manage.py",
        "makemigrations",
        "--check",
        "--dry-run",
        "--settings",
        "qbsync.settings.test",
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_is_clean():
    out = _run(sys.executable, "-m", "ruff", "check", ".")
    assert out.returncode == 0, out.stdout + out.stderr

"""Settings come from the environment alone. Each case loads them in a fresh interpreter."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "qbsync.settings.base",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "k8#2mZq!9vTr$Lw4xP0bN7cY&hJ3sF6dG1eA5uQ-oK+iW=Xz@r%Tp^Vb",
    "DJANGO_ALLOWED_HOSTS": "qbsync.example.com",
    "DATABASE_URL": "postgres://qbsync:secret@db.internal:5432/qbsync",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "QBSYNC_ENCRYPTION_KEYS": "c2V0dGluZ3MtdGVzdC1rZXktMzItYnl0ZXMtbG9uZyE=",
}


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    ours = ("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "QBSYNC_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return env | extra


def load_settings(env: dict[str, str], *names: str) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_clean_env(env),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sqlite_is_the_default_database():
    loaded = load_settings(
        {"DJANGO_SETTINGS_MODULE": "qbsync.settings.base", "DJANGO_DEBUG": "true"}, "DATABASES"
    )
    db = loaded["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"].endswith("var/db.sqlite3")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_postgres_comes_from_database_url():
    loaded = load_settings(PRODUCTION_ENV, "DATABASES", "CELERY_BROKER_URL", "DEBUG", "SECURE_SSL_REDIRECT")
    db = loaded["DATABASES"]["default"]
    assert (db["ENGINE"], db["NAME"], db["USER"], db["HOST"], db["PORT"]) == (
        "django.db.backends.postgresql",
        "qbsync",
        "qbsync",
        "db.internal",
        5432,
    )
    assert db["CONN_HEALTH_CHECKS"] is True
    assert loaded["CELERY_BROKER_URL"] == "redis://redis.internal:6379/0"
    assert loaded["DEBUG"] is False
    assert loaded["SECURE_SSL_REDIRECT"] is True


def test_without_redis_the_broker_is_the_filesystem_queue(tmp_path):
    loaded = load_settings(
        {
            "DJANGO_SETTINGS_MODULE": "qbsync.settings.base",
            "DJANGO_DEBUG": "true",
            "CELERY_FILESYSTEM_BROKER_DIR": str(tmp_path),
        },
        "CELERY_BROKER_URL",
        "CELERY_BROKER_TRANSPORT_OPTIONS",
        "CELERY_RESULT_BACKEND",
    )
    assert loaded["CELERY_BROKER_URL"] == "filesystem://"
    assert loaded["CELERY_BROKER_TRANSPORT_OPTIONS"]["data_folder_in"] == str(tmp_path / "queue")
    assert loaded["CELERY_RESULT_BACKEND"] == f"file://{tmp_path / 'results'}"
    assert (tmp_path / "queue").is_dir()


def test_celery_reliability_settings():
    loaded = load_settings(
        PRODUCTION_ENV,
        "CELERY_TASK_ACKS_LATE",
        "CELERY_TASK_REJECT_ON_WORKER_LOST",
        "CELERY_WORKER_PREFETCH_MULTIPLIER",
        "CELERY_BROKER_TRANSPORT_OPTIONS",
        "CELERY_TASK_TIME_LIMIT",
        "CELERY_TASK_SOFT_TIME_LIMIT",
    )
    assert loaded["CELERY_TASK_ACKS_LATE"] is True
    assert loaded["CELERY_TASK_REJECT_ON_WORKER_LOST"] is True
    assert loaded["CELERY_WORKER_PREFETCH_MULTIPLIER"] == 1
    assert loaded["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] > loaded["CELERY_TASK_TIME_LIMIT"]
    assert loaded["CELERY_TASK_SOFT_TIME_LIMIT"] < loaded["CELERY_TASK_TIME_LIMIT"]


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "QBSYNC_ENCRYPTION_KEYS"])
def test_the_web_refuses_to_start_in_production_without_its_secrets(missing):
    env = _clean_env({k: v for k, v in PRODUCTION_ENV.items() if k != missing})
    out = subprocess.run(
        [sys.executable, "-c", "import qbsync.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode != 0
    assert f"Set {missing}" in out.stderr


def test_offline_commands_run_without_secrets():
    env = _clean_env({"DJANGO_SETTINGS_MODULE": "qbsync.settings.base"})
    out = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_check_deploy_is_clean_with_production_settings():
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_clean_env(PRODUCTION_ENV),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_env_example_documents_every_variable_the_settings_read():
    read = set()
    for path in (ROOT / "qbsync" / "settings").glob("*.py"):
        read |= set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', path.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= read
    assert read - documented == set()

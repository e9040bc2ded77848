"""docker-compose.yml, the Dockerfile and .env.example checked against the code (Docker is not available
here): the services and their healthchecks, every command naming a real module, app, queue or management
command, and every environment name read by the settings and documented."""

import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DJANGO_SERVICES = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat", "sandbox")
# Read by tools in the containers rather than by the settings: gunicorn, and the compose file itself.
TOOL_VARIABLES = {"WEB_CONCURRENCY", "POSTGRES_PASSWORD", "QBSYNC_WORKER_CONCURRENCY"}
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)(?:[:?-][^}]*)?\}")


def settings_variables() -> set[str]:
    read = set()
    for path in (ROOT / "qbsync" / "settings").glob("*.py"):
        read |= set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', path.read_text()))
    return read


def documented_variables() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))


def interpolated_variables() -> set[str]:
    return set(INTERPOLATION.findall((ROOT / "docker-compose.yml").read_text()))


def command_of(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return command if isinstance(command, list) else command.split()


def option(command: list[str], *names: str) -> str:
    for name in names:
        if name in command:
            return command[command.index(name) + 1]
    raise AssertionError(f"{command} has none of {names}")


def test_the_stack_has_its_services_and_only_the_sandbox_is_optional():
    assert set(SERVICES) == {"postgres", "redis", "migrate", "web", "worker", "beat", "sandbox"}
    assert SERVICES["sandbox"]["profiles"] == ["sandbox"]
    assert [name for name, service in SERVICES.items() if service.get("profiles")] == ["sandbox"]


def test_data_lives_in_named_volumes():
    assert "postgres-data:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    assert "redis-data:/data" in SERVICES["redis"]["volumes"]
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in COMPOSE["volumes"]


def test_redis_never_evicts_the_brokers_keys():
    command = command_of("redis")
    assert option(command, "--maxmemory-policy") == "noeviction"
    assert option(command, "--appendonly") == "yes"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_healthcheck(name):
    test = SERVICES[name]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    assert " ".join(test[1:]).strip()


def test_healthchecks_probe_what_each_service_is():
    def text(name):
        return " ".join(SERVICES[name]["healthcheck"]["test"][1:])

    assert text("postgres").startswith("pg_isready")
    assert text("redis") == "redis-cli ping"
    web_port = option(command_of("web"), "--bind").rsplit(":", 1)[1]
    assert f"python -m qbsync.core.probe http http://127.0.0.1:{web_port}/healthz" in text("web")
    sandbox_port = option(command_of("sandbox"), "--port")
    assert f"http://127.0.0.1:{sandbox_port}/.well-known/openid_configuration" in text("sandbox")
    for name in ("worker", "beat"):
        assert SERVICES[name]["environment"]["QBSYNC_HEARTBEAT_FILE"]
        assert 'python -m qbsync.core.probe file "$$QBSYNC_HEARTBEAT_FILE"' in text(name)


def test_the_probe_module_and_healthz_exist():
    assert importlib.util.find_spec("qbsync.core.probe") is not None
    from django.urls import reverse

    assert reverse("healthz") == "/healthz"


def test_django_services_share_the_image_database_and_broker():
    for name in DJANGO_SERVICES:
        service = SERVICES[name]
        assert service["build"] == "."
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:")
    for name in ("web", "worker", "beat"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy"


def test_migrate_runs_a_real_management_command():
    command = command_of("migrate")
    assert command[:2] == ["python", "manage.py"]
    assert command[2] in get_commands()
    assert SERVICES["migrate"]["restart"] == "no"


def test_web_serves_the_wsgi_app_with_gunicorn():
    command = command_of("web")
    assert command[0] == "gunicorn"
    module, attribute = command[1].split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE
    assert SERVICES["web"]["ports"] == ["8000:8000"]


def test_the_worker_consumes_every_queue_tasks_are_routed_to():
    command = command_of("worker")
    assert command[:4] == ["celery", "-A", "qbsync", "worker"]
    assert importlib.import_module("qbsync").celery_app.main == "qbsync"
    assert set(option(command, "-Q").split(",")) == set(settings.CELERY_TASK_QUEUES)
    assert option(command, "-c") == "${QBSYNC_WORKER_CONCURRENCY:-4}"
    assert "-B" not in command
    assert "--beat" not in command


def test_exactly_one_beat():
    command = command_of("beat")
    assert command[:4] == ["celery", "-A", "qbsync", "beat"]
    assert SERVICES["beat"]["deploy"]["replicas"] == 1
    beats = [
        name
        for name, service in SERVICES.items()
        if "command" in service and ({"beat", "-B", "--beat"} & set(command_of(name)))
    ]
    assert beats == ["beat"]


def test_the_sandbox_profile_runs_the_projects_emulator():
    command = command_of("sandbox")
    assert command[:3] == ["python", "-m", "qbsync.sandbox"]
    assert importlib.util.find_spec("qbsync.sandbox.__main__") is not None
    assert option(command, "--host") == "0.0.0.0"
    help_text = subprocess.run(
        [sys.executable, "-m", "qbsync.sandbox", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in (arg for arg in command[3:] if arg.startswith("--")):
        assert flag in help_text, f"python -m qbsync.sandbox has no {flag}"


def test_every_interpolated_variable_is_documented():
    assert interpolated_variables() - documented_variables() == set()


def test_django_service_environment_names_are_read_by_the_settings():
    read = settings_variables() | TOOL_VARIABLES
    for name in DJANGO_SERVICES:
        assert set(SERVICES[name]["environment"]) - read == set(), name


def test_every_documented_variable_is_used():
    used = settings_variables() | interpolated_variables() | TOOL_VARIABLES
    assert documented_variables() - used == set()


def test_tool_variables_are_really_used_by_compose():
    assert interpolated_variables() >= TOOL_VARIABLES


def test_the_image_runs_unprivileged_with_static_files_collected():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile
    assert "python manage.py collectstatic --no-input" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", "var", ".git"} <= set(ignored)


def test_the_web_healthcheck_passes_against_real_gunicorn_with_production_settings(tmp_path):
    """The compose web command and healthcheck, run as written: production settings (HTTPS redirect,
    one allowed host) must still let the in-container probe through."""
    import os
    import socket
    import time

    from tests.qbsync.settings.test_base import PRODUCTION_ENV, _clean_env

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = _clean_env(PRODUCTION_ENV | {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    env["DJANGO_ALLOWED_HOSTS"] = "qbsync.example.com,other.example.com"
    command = [arg.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for arg in command_of("web")]
    shell, check = SERVICES["web"]["healthcheck"]["test"]
    check = check.replace("$$", "$").replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    assert shell == "CMD-SHELL"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / command[0]), *command[1:]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            result = subprocess.run(
                ["sh", "-c", check.replace("python ", f"{sys.executable} ", 1)],
                cwd=ROOT,
                env=env | {"PATH": os.environ["PATH"]},
                capture_output=True,
                text=True,
            )
            if result.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert result.returncode == 0, result.stderr
        # Without the Host header Django refuses the probe: the header is what makes it pass.
        bare = subprocess.run(
            [sys.executable, "-m", "qbsync.core.probe", "http", f"http://127.0.0.1:{port}/healthz"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert bare.returncode == 1
        assert "answered 400" in bare.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)

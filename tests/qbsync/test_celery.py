"""The Celery settings reliability.md §2 asks for, and task names pinned: a rename in code must not orphan
the messages already in the broker, so every task of ours names itself and has a route."""

import inspect

import pytest
from django.conf import settings

from qbsync.celery import app
from qbsync.sync.engine.retry import BACKOFF_MAX_SECONDS

OUR_PACKAGES = ("qbsync", "accounts", "invoices")


def our_tasks() -> dict:
    app.loader.import_default_modules()  # autodiscovery, as a worker does at start
    found = {}
    for name, task in app.tasks.items():
        module = inspect.getmodule(task.run)
        if module and module.__name__.split(".")[0] in OUR_PACKAGES:
            found[name] = task
    return found


def test_our_tasks_are_found():
    assert {"qbsync.qbo.account_push", "qbsync.sync_sweep", "qbsync.core.ping"} <= set(our_tasks())


@pytest.mark.parametrize("name", sorted(our_tasks()))
def test_every_task_has_a_pinned_name_and_a_route(name):
    task = our_tasks()[name]
    generated = f"{inspect.getmodule(task.run).__name__}.{task.run.__name__}"

    assert name.startswith("qbsync."), f"{name}: name tasks explicitly, qbsync.<area>.<what>"
    assert name != generated, f"{name} is the name Celery generates from the module; pin one"
    route = app.amqp.router.route({}, name)
    queue = route["queue"].name
    assert queue in settings.CELERY_TASK_QUEUES, f"{name} routes to {queue!r}, which no worker consumes"
    if name.startswith("qbsync.qbo."):
        assert queue == "qbo", f"{name} talks to QBO and belongs on the qbo queue"


def test_reliability_settings():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert conf.worker_soft_shutdown_timeout > 0
    # Redis redelivers an unacknowledged message after the visibility timeout: it must outlast the
    # longest task plus the longest countdown a retry is given, or a slow task runs twice.
    assert conf.task_time_limit + BACKOFF_MAX_SECONDS < settings.CELERY_VISIBILITY_TIMEOUT
    assert conf.beat_scheduler == "qbsync.core.heartbeat:HeartbeatScheduler"


def test_redis_transport_options_carry_the_visibility_timeout(settings):
    from tests.qbsync.settings.test_base import PRODUCTION_ENV, load_settings

    loaded = load_settings(
        PRODUCTION_ENV | {"CELERY_VISIBILITY_TIMEOUT": "7200"},
        "CELERY_BROKER_TRANSPORT_OPTIONS",
        "CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS",
    )
    assert loaded["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] == 7200
    assert loaded["CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS"]["visibility_timeout"] == 7200


def test_time_limits_come_from_the_environment():
    from tests.qbsync.settings.test_base import PRODUCTION_ENV, load_settings

    loaded = load_settings(
        PRODUCTION_ENV | {"CELERY_TASK_SOFT_TIME_LIMIT": "50", "CELERY_TASK_TIME_LIMIT": "60"},
        "CELERY_TASK_SOFT_TIME_LIMIT",
        "CELERY_TASK_TIME_LIMIT",
    )
    assert (loaded["CELERY_TASK_SOFT_TIME_LIMIT"], loaded["CELERY_TASK_TIME_LIMIT"]) == (50, 60)

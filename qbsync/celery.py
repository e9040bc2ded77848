"""The Celery application. Configuration lives in Django settings under the CELERY_ namespace."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qbsync.settings.base")

app = Celery("qbsync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _require_secrets(**kwargs) -> None:
    from qbsync.core.startup import require_runtime_secrets

    require_runtime_secrets()

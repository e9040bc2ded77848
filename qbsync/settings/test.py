"""Test settings: base settings from the same environment, plus speed-ups that change no behaviour."""

import os
from pathlib import Path

os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-only-for-the-test-suite-0123456789abcdef")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
# A fixed test key (Fernet format); never used outside the test suite.
os.environ.setdefault("QBSYNC_ENCRYPTION_KEYS", "dGVzdC1rZXktZm9yLXRoZS10ZXN0LXN1aXRlLW9ubHk=")
# Retries of transient QBO failures come back quickly in tests (workers read the same settings).
os.environ.setdefault("QBSYNC_RETRY_BACKOFF_SECONDS", "0.25")
os.environ.setdefault("QBSYNC_BATCH_LINGER_SECONDS", "0.5")
# One id per test run, inherited by the worker processes the run starts: its queues (filesystem or Redis)
# are its own, so two runs side by side, or a demo worker, never consume each other's tasks.
os.environ.setdefault("QBSYNC_TEST_RUN_ID", str(os.getpid()))
_ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault(
    "CELERY_FILESYSTEM_BROKER_DIR", str(_ROOT / "var" / "test-celery" / os.environ["QBSYNC_TEST_RUN_ID"])
)

from .base import *
from .base import CELERY_BROKER_TRANSPORT_OPTIONS, DATABASES, REDIS_URL, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that worker processes started by tests see the same database; one per
    # test run, so that two runs side by side do not delete each other's.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
# Static files straight from the source folders, so tests need no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT = VAR_DIR / "test-static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

if REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "global_keyprefix": f"qbsync-test-{os.environ['QBSYNC_TEST_RUN_ID']}:",
    }

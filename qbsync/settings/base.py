"""All settings. Production differs from development only by environment variables (.env.example)."""

from pathlib import Path

import environ
from celery.schedules import crontab

from qbsync.core.logging import logging_config
from qbsync.quickbooks.metering import DEFAULT_READ_REFUSAL_PATTERN

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

# General
# ------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Required to serve (qbsync.core.startup checks it when the web or a worker starts); offline management
# commands such as makemigrations run without it.
SECRET_KEY = env(
    "DJANGO_SECRET_KEY", default="insecure-development-key-never-used-in-production" if DEBUG else ""
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "qbsync.core",
    "qbsync.firms",
    "qbsync.sync",
    "qbsync.changes",
    "qbsync.health",
    "accounts",
    "invoices",
    "qbsync.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "qbsync.firms.middleware.FirmMiddleware",
    "qbsync.core.logging.LogContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "qbsync.urls"
WSGI_APPLICATION = "qbsync.wsgi.application"
ASGI_APPLICATION = "qbsync.asgi.application"
AUTH_USER_MODEL = "firms.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "accounts:list"
LOGOUT_REDIRECT_URL = "login"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "qbsync.firms.context_processors.firm",
                "qbsync.sync.context_processors.quickbooks_banner",
                "qbsync.health.context_processors.notifications_badge",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Database
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
# ------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Reused connections survive a database restart (reliability.md S5).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # The web server and the worker write to one SQLite file: take the write lock at BEGIN and wait
    # for it rather than failing with "database is locked" half-way through a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)

# Static files (served by WhiteNoise in every environment; no front-end build step)
# ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env(
            "DJANGO_STATICFILES_STORAGE",
            default="django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}

# Security: secure by default; local development over plain HTTP turns these off with DJANGO_DEBUG.
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
# ------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=not DEBUG)
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The health endpoints are probed over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# Email
# ------------------------------------------------------------------------------
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="qbsync <noreply@localhost>")
# Used by django.core.mail.backends.smtp.EmailBackend only.
EMAIL_HOST = env("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("DJANGO_EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("DJANGO_EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("DJANGO_EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=10)
# The site's own address, for links in emails (e.g. https://qbsync.example.com); empty: relative links.
QBSYNC_SITE_URL = env("QBSYNC_SITE_URL", default="")

# Celery
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# ------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
CELERY_FILESYSTEM_BROKER_DIR = Path(env("CELERY_FILESYSTEM_BROKER_DIR", default=str(VAR_DIR / "celery")))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
else:
    # Zero-setup: kombu's filesystem transport lets a real, separate worker process consume the
    # queue without Redis. Not for production (no visibility timeout, one machine only).
    CELERY_BROKER_URL = "filesystem://"
    # kombu's own, each message written whole before a worker sees it (qbsync/core/filesystem_queue.py).
    CELERY_BROKER_TRANSPORT = "qbsync.core.filesystem_queue:Transport"
    for _folder in ("queue", "processed", "control", "results"):
        (CELERY_FILESYSTEM_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_FILESYSTEM_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_FILESYSTEM_BROKER_DIR / "control"),
        "store_processed": False,
        # The default 1 s poll would make the demo's "Syncing" visibly slow.
        "polling_interval": 0.1,
    }
    CELERY_RESULT_BACKEND = f"file://{CELERY_FILESYSTEM_BROKER_DIR / 'results'}"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Results are only read by health checks and tests; sync outcomes live in PostgreSQL.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = 60 * 60
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-acks-late
# A crashed worker's task is redelivered; every task is idempotent (reliability.md §2).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keep a worker's database connections across tasks (qbsync/celery.py closes those past CONN_MAX_AGE or
# broken, as Django does per request); the fix-up still closes them every this many tasks.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Around QBO's 120 s server timeout: the soft limit lets a task record its state before the hard kill.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=150)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
# Redis redelivers unacked messages after this; it must exceed the longest task plus countdown.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=60 * 60)
if REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_TASK_DEFAULT_QUEUE = "default"
# Work that talks to QBO has its own queue, so it can be scaled (and drained) apart from the rest.
CELERY_TASK_QUEUES = {"default": {}, "qbo": {}}
CELERY_TASK_ROUTES = {"qbsync.qbo.*": {"queue": "qbo"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# On a warm shutdown (deploys, scaling down) running tasks get this long before the worker re-queues them.
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = env.float("CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT", default=30.0)
# Beat's scheduler also beats a heartbeat (qbsync.core.heartbeat), read by /readyz and its healthcheck.
CELERY_BEAT_SCHEDULER = "qbsync.core.heartbeat:HeartbeatScheduler"
# Workers and beat write a heartbeat this often; /readyz counts a worker alive if it beat within STALE.
QBSYNC_HEARTBEAT_SECONDS = env.float("QBSYNC_HEARTBEAT_SECONDS", default=10.0)
QBSYNC_HEARTBEAT_STALE_SECONDS = env.float("QBSYNC_HEARTBEAT_STALE_SECONDS", default=60.0)
# A file the process also touches on each beat, for a container healthcheck (empty: none).
QBSYNC_HEARTBEAT_FILE = env("QBSYNC_HEARTBEAT_FILE", default="")
# Beat's tick for reading what changed in the connected QuickBooks companies (CDC), and how often a company
# is read when its webhooks are not configured or have gone silent (a read each: about 8,640 a month).
QBSYNC_CDC_POLL_SECONDS = env.float("QBSYNC_CDC_POLL_SECONDS", default=300.0)
# How often a company whose webhooks are healthy is read anyway, as a safety net for a lost notice (a read
# each: about 120 a month); a webhook's own poll counts. Intuit meters reads (500,000 a month on Builder).
QBSYNC_CDC_SAFETY_POLL_SECONDS = env.float("QBSYNC_CDC_SAFETY_POLL_SECONDS", default=6 * 3600.0)
# Webhooks are trusted while a verified delivery reached the company, or the endpoint, within this long.
QBSYNC_WEBHOOK_TRUST_SECONDS = env.float("QBSYNC_WEBHOOK_TRUST_SECONDS", default=24 * 3600.0)
# A webhook is a hint: one CDC poll of its company this many seconds after the first hint, joined by the
# hints that arrive meanwhile (one CDC request for a burst of events, not a read per event).
QBSYNC_WEBHOOK_DEBOUNCE_SECONDS = env.float("QBSYNC_WEBHOOK_DEBOUNCE_SECONDS", default=2.0)
# Beat (exactly one): the sweep re-enqueues sync work a lost broker message or a dead worker left behind.
CELERY_BEAT_SCHEDULE = {
    "sync-sweep": {"task": "qbsync.sync_sweep", "schedule": env.float("QBSYNC_SWEEP_SECONDS", default=30.0)},
    # CDC of the connected companies that are due (QBSYNC_CDC_SAFETY_POLL_SECONDS with healthy webhooks,
    # else every tick): catches what webhooks missed, and is all there is without them.
    "changes-poll": {"task": "qbsync.changes_poll_all", "schedule": QBSYNC_CDC_POLL_SECONDS},
    # Sync-health notices (failure digests at most hourly, reconnect, authorization expiry).
    "notifications-check": {
        "task": "qbsync.notifications_check",
        "schedule": env.float("QBSYNC_NOTIFICATIONS_SECONDS", default=300.0),
    },
    # The month's QBO reads against QBO_MONTHLY_READ_BUDGET: alerts, pausing and probing reads.
    "read-budget-check": {
        "task": "qbsync.read_budget_check",
        "schedule": env.float("QBSYNC_READ_BUDGET_CHECK_SECONDS", default=60.0),
    },
    "reconciliation-nightly": {
        "task": "qbsync.reconciliation_nightly",
        "schedule": crontab(hour=env.int("QBSYNC_RECONCILIATION_HOUR", default=3), minute=0),
    },
}

# The nightly reconciliation compares only what changed since the last report; everything again when the
# last full comparison is older than this many days (the report page's button always compares everything).
QBSYNC_RECONCILIATION_FULL_DAYS = env.int("QBSYNC_RECONCILIATION_FULL_DAYS", default=30)

# Logging
# ------------------------------------------------------------------------------
LOG_LEVEL = env("DJANGO_LOG_LEVEL", default="INFO")
# json: a JSON object per line with firm, realm, record and intuit_tid (qbsync.core.logging); text: plain.
LOG_FORMAT = env("DJANGO_LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)

# QuickBooks Online
# ------------------------------------------------------------------------------
# The same code talks to Intuit or to the local sandbox (python -m qbsync.sandbox); only these differ.
QBO_API_BASE_URL = env("QBO_API_BASE_URL", default="http://127.0.0.1:8765/v3")
QBO_OAUTH_DISCOVERY_URL = env(
    "QBO_OAUTH_DISCOVERY_URL", default="http://127.0.0.1:8765/.well-known/openid_configuration"
)
QBO_CLIENT_ID = env("QBO_CLIENT_ID", default="qbsync-local" if DEBUG else "")
QBO_CLIENT_SECRET = env("QBO_CLIENT_SECRET", default="qbsync-local-secret" if DEBUG else "")
QBO_REDIRECT_URI = env(
    "QBO_REDIRECT_URI", default="http://127.0.0.1:8000/settings/integrations/quickbooks/callback/"
)
QBO_CONNECT_TIMEOUT = env.float("QBO_CONNECT_TIMEOUT", default=5.0)
QBO_READ_TIMEOUT = env.float("QBO_READ_TIMEOUT", default=30.0)
QBO_MINOR_VERSION = env.int("QBO_MINOR_VERSION", default=75)
# Refresh the access token when it has less than this many seconds left.
QBO_TOKEN_REFRESH_MARGIN = env.int("QBO_TOKEN_REFRESH_MARGIN", default=300)
# The per-company rate governor shared by every worker (qbsync.quickbooks.governor): QBO's limits, with
# headroom kept in reserve. The window shrinks only against a time-scaled sandbox.
QBO_MAX_IN_FLIGHT = env.int("QBO_MAX_IN_FLIGHT", default=10)
QBO_MAX_PER_MINUTE = env.int("QBO_MAX_PER_MINUTE", default=500)
QBO_MAX_BATCH_PER_MINUTE = env.int("QBO_MAX_BATCH_PER_MINUTE", default=40)
QBO_MAX_PER_SECOND = env.int("QBO_MAX_PER_SECOND", default=10)
QBO_RATE_HEADROOM = env.float("QBO_RATE_HEADROOM", default=0.05)
QBO_RATE_WINDOW_SECONDS = env.float("QBO_RATE_WINDOW_SECONDS", default=60.0)

# Intuit meters reads (CorePlus calls) over the whole developer workspace: the Builder tier allows 500,000 a
# month. Ops are alerted at 50, 80 and 95 % (logs, and mail to QBSYNC_OPS_EMAIL when set); at 100 % reads
# pause for the rest of the month unless QBO_PAUSE_READS_AT_BUDGET is off (qbsync.sync.engine.metering).
QBO_MONTHLY_READ_BUDGET = env.int("QBO_MONTHLY_READ_BUDGET", default=500_000)
QBO_PAUSE_READS_AT_BUDGET = env.bool("QBO_PAUSE_READS_AT_BUDGET", default=True)
QBSYNC_OPS_EMAIL = env("QBSYNC_OPS_EMAIL", default="")
# How QBO answers a read beyond the cap is unpublished: a 403 or 429 whose text matches this is taken as
# "reads refused for the month" (qbsync.quickbooks.metering).
QBO_READ_REFUSAL_PATTERN = env("QBO_READ_REFUSAL_PATTERN", default=DEFAULT_READ_REFUSAL_PATTERN)
# While reads are paused, what needs a read looks again this often (refused reads are not metered), and a
# pause QBO caused is probed with one read this often (a plan change ends it).
QBSYNC_READS_PAUSED_RECHECK_SECONDS = env.float("QBSYNC_READS_PAUSED_RECHECK_SECONDS", default=900.0)
QBSYNC_READS_PROBE_SECONDS = env.float("QBSYNC_READS_PROBE_SECONDS", default=3600.0)
# A company's Preferences (numbering, currency) are kept on the connection and read again at most this often
# unless QBO answers as if they changed (qbsync.sync.engine.company).
QBSYNC_PREFERENCES_MAX_AGE_SECONDS = env.float("QBSYNC_PREFERENCES_MAX_AGE_SECONDS", default=7 * 86400.0)
# Customer types and items for the defaults form are kept this long (the page has a button to read them now).
QBSYNC_PICK_LISTS_MAX_AGE_SECONDS = env.float("QBSYNC_PICK_LISTS_MAX_AGE_SECONDS", default=86400.0)

# The app's webhook verifier token from Intuit's developer portal; empty: webhooks are refused (401)
# and the CDC poller alone brings changes back.
QBO_WEBHOOK_VERIFIER_TOKEN = env("QBO_WEBHOOK_VERIFIER_TOKEN", default="")

# Sync: the first retry of a transient QBO failure waits about this long, doubling (with jitter) after.
QBSYNC_RETRY_BACKOFF_SECONDS = env.float("QBSYNC_RETRY_BACKOFF_SECONDS", default=2.0)
# First syncs: a firm's batch pusher, holding a part-filled batch, waits up to this long for a full batch
# of 30 while more records are on their way (QBO counts batch requests, not their size).
QBSYNC_BATCH_LINGER_SECONDS = env.float("QBSYNC_BATCH_LINGER_SECONDS", default=2.0)
# Long work (the bulk first sync, the batch pusher) runs in slices of about this long, each handing the rest
# to a new message: far under CELERY_TASK_SOFT_TIME_LIMIT (at most a third of it is used).
QBSYNC_SLICE_SECONDS = env.float("QBSYNC_SLICE_SECONDS", default=30.0)
# Fair scheduling (qbsync.sync.fairness): how many of one worker process's slots a single company may hold
# while its other tasks wait their turn; 0 means half the process's pool, at least 2.
QBSYNC_MAX_WORKERS_PER_REALM = env.int("QBSYNC_MAX_WORKERS_PER_REALM", default=0)

# Secrets at rest
# ------------------------------------------------------------------------------
# Fernet keys, newest first (qbsync.core.crypto). Required in production; development derives one.
QBSYNC_ENCRYPTION_KEYS = env.list("QBSYNC_ENCRYPTION_KEYS", default=[])

# Firm defaults
# ------------------------------------------------------------------------------
DEFAULT_FIRM_CURRENCY = env("QBSYNC_DEFAULT_CURRENCY", default="USD")

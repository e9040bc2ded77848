"""Fail fast where it matters: a web process or worker without its secrets refuses to start, with a
message that names them, instead of failing at the first request or token it handles."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _secret_key() -> str:
    try:
        return settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty one
        return ""


def require_runtime_secrets() -> None:
    if settings.DEBUG:
        return
    missing = [
        name
        for name, value in (
            ("DJANGO_SECRET_KEY", _secret_key()),
            ("QBSYNC_ENCRYPTION_KEYS", [k for k in settings.QBSYNC_ENCRYPTION_KEYS if k.strip()]),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            f"Set {' and '.join(missing)} (see .env.example), or DJANGO_DEBUG=true for local development."
        )

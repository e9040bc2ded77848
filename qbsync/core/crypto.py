"""Encryption at rest for secrets we must store (OAuth tokens). Keys come from the environment:
QBSYNC_ENCRYPTION_KEYS is a comma-separated list of Fernet keys, newest first. Adding a new key in front
rotates: new writes use it, old values stay readable, and `manage.py rotate_encryption_keys` re-encrypts
every stored value with the newest key so the old one can then be dropped."""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

ENCRYPTED_PREFIX = "fernet:"


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.QBSYNC_ENCRYPTION_KEYS if k.strip()]
    if not keys:
        if not settings.DEBUG:
            raise ImproperlyConfigured("Set QBSYNC_ENCRYPTION_KEYS to store QuickBooks tokens.")
        # Local development only: a key derived from the development secret key.
        keys = [base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest()).decode()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"QBSYNC_ENCRYPTION_KEYS holds a value that is not a Fernet key: {exc}"
        ) from exc


def reset_key_cache() -> None:
    _fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return ENCRYPTED_PREFIX + _fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(ENCRYPTED_PREFIX):
        raise ValueError("Stored value is not encrypted")
    try:
        return _fernet().decrypt(stored[len(ENCRYPTED_PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with QBSYNC_ENCRYPTION_KEYS (was a key dropped too early?)"
        ) from exc


class EncryptedTextField(models.TextField):
    """Stores ciphertext; Python code sees plaintext. Empty stays empty. Never shown by default forms."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)

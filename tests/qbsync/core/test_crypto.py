import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from qbsync.core import crypto


@pytest.fixture
def keys(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.QBSYNC_ENCRYPTION_KEYS = [old]
    crypto.reset_key_cache()
    yield settings, old, new
    crypto.reset_key_cache()


def test_round_trip_and_ciphertext_hides_the_secret(keys):
    stored = crypto.encrypt("refresh-token-secret")
    assert stored.startswith(crypto.ENCRYPTED_PREFIX)
    assert "refresh-token-secret" not in stored
    assert crypto.decrypt(stored) == "refresh-token-secret"


def test_rotation_keeps_old_values_readable_and_rewrites_them(keys):
    settings, old, new = keys
    stored_with_old = crypto.encrypt("s3cret")
    settings.QBSYNC_ENCRYPTION_KEYS = [new, old]
    crypto.reset_key_cache()
    assert crypto.decrypt(stored_with_old) == "s3cret"
    rotated = crypto.encrypt(crypto.decrypt(stored_with_old))
    settings.QBSYNC_ENCRYPTION_KEYS = [new]
    crypto.reset_key_cache()
    assert crypto.decrypt(rotated) == "s3cret"
    with pytest.raises(ImproperlyConfigured, match="dropped too early"):
        crypto.decrypt(stored_with_old)


def test_production_without_keys_refuses(settings):
    settings.QBSYNC_ENCRYPTION_KEYS = []
    settings.DEBUG = False
    crypto.reset_key_cache()
    try:
        with pytest.raises(ImproperlyConfigured, match="QBSYNC_ENCRYPTION_KEYS"):
            crypto.encrypt("x")
    finally:
        crypto.reset_key_cache()

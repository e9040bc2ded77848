import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db
from django.urls import reverse

from qbsync.core import crypto
from qbsync.sync.models import QuickBooksConnection
from tests.factories import FirmFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_connection(firm):
    return QuickBooksConnection.objects.create(
        firm=firm,
        realm_id="123",
        company_name="Books Co",
        access_token="AT-secret-1",
        refresh_token="RT-secret-1",
    )


def raw_tokens(pk: int) -> tuple[str, str]:
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM sync_quickbooksconnection WHERE id = %s", [pk]
        )
        return cursor.fetchone()


def test_admin_shows_connections_but_never_tokens(admin_client, stored_connection):
    listing = admin_client.get(reverse("admin:sync_quickbooksconnection_changelist")).content.decode()
    assert "Books Co" in listing
    page = admin_client.get(
        reverse("admin:sync_quickbooksconnection_change", args=[stored_connection.pk])
    ).content.decode()
    assert "Books Co" in page
    for secret in ("AT-secret-1", "RT-secret-1", *raw_tokens(stored_connection.pk)):
        assert secret not in page


def test_rotating_keys_re_encrypts_every_token(settings, stored_connection, capsys):
    old = settings.QBSYNC_ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    second = QuickBooksConnection.objects.create(
        firm=FirmFactory(), realm_id="456", access_token="AT-2", refresh_token="RT-2"
    )
    before = raw_tokens(stored_connection.pk)
    settings.QBSYNC_ENCRYPTION_KEYS = [new, old]
    crypto.reset_key_cache()
    try:
        call_command("rotate_encryption_keys")
        assert "2 connection(s)" in capsys.readouterr().out
        assert raw_tokens(stored_connection.pk) != before
        settings.QBSYNC_ENCRYPTION_KEYS = [new]  # the old key is gone now
        crypto.reset_key_cache()
        for connection, tokens in (
            (stored_connection, ("AT-secret-1", "RT-secret-1")),
            (second, ("AT-2", "RT-2")),
        ):
            reloaded = QuickBooksConnection.objects.get(pk=connection.pk)
            assert (reloaded.access_token, reloaded.refresh_token) == tokens
    finally:
        crypto.reset_key_cache()


def test_a_connection_and_its_realm_belong_to_one_firm(stored_connection):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        QuickBooksConnection.objects.create(firm=FirmFactory(), realm_id=stored_connection.realm_id)

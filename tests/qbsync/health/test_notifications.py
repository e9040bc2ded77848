"""Notices for owners and admins, in the app and by email: a digest of new failures at most once an hour,
a reconnect notice and the 30- and 7-day authorization-expiry warnings once each."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from qbsync.health.causes import GUIDES
from qbsync.health.models import Notification
from qbsync.health.services.notifications import (
    expiry_notice,
    failures_digest,
    notifications_check,
    reconnect_notice,
)
from qbsync.sync.models import AccountSyncLink, InvoiceSyncLink, QuickBooksConnection
from qbsync.sync.states import SyncState
from tests.factories import AccountFactory, UserFactory, make_invoice

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def connection(firm, owner, firm_admin, staff_user):
    return QuickBooksConnection.objects.create(
        firm=firm,
        realm_id="4620816365000000001",
        company_name="Test Co",
        access_token="access",
        refresh_token="refresh",
        connected_by=owner,
        connected_at=NOW,
    )


def fail_account(firm, name: str, cause: str, at) -> AccountSyncLink:
    # The state a failed push leaves (tests/qbsync/health/test_errors_page.py makes real ones).
    return AccountSyncLink.objects.create(
        firm=firm,
        account=AccountFactory(firm=firm, name=name),
        state=SyncState.FAILED,
        state_changed_at=at,
        error_cause=cause,
        error_explanation=f"{name} failed",
    )


def recipients(notices) -> set[str]:
    return {n.recipient.username for n in notices}


def test_a_digest_goes_to_owners_and_admins_at_most_once_an_hour(
    connection, firm, owner, firm_admin, staff_user
):
    fail_account(firm, "Staples", "name_used_by_other", NOW - timedelta(minutes=5))
    fail_account(firm, "Quill", "name_used_by_other", NOW - timedelta(minutes=4))
    invoice = make_invoice(account=AccountFactory(firm=firm), number="D-1")
    InvoiceSyncLink.objects.update_or_create(
        invoice=invoice,
        defaults={"firm": firm, "state": SyncState.FAILED, "state_changed_at": NOW, "error_cause": "no_item"},
    )

    first = failures_digest(firm=firm, now=NOW)

    assert recipients(first) == {owner.username, firm_admin.username}
    assert first[0].title == "3 records failed to sync to QuickBooks"
    # Issue 14: sentences, one a cause, in the errors page's words (no "Title: 2" list).
    assert first[0].body.splitlines() == [
        "Since the last summary, 3 records could not be synced to QuickBooks Online.",
        f"2 of them: {GUIDES['name_used_by_other'].what}",
        f"One of them: {GUIDES['no_item'].what}",
        "The QuickBooks errors page lists each record, explains each cause and offers the fixes.",
    ]
    assert first[0].url == reverse("health:errors")
    assert f"Open it in qbsync: {reverse('health:errors')}" in mail.outbox[0].body
    assert sorted(m.to[0] for m in mail.outbox) == sorted([owner.email, firm_admin.email])
    assert mail.outbox[0].subject == "qbsync: 3 records failed to sync to QuickBooks"
    assert all(n.emailed for n in Notification.objects.all())

    # A new failure within the hour waits for the next digest; nothing is sent now.
    fail_account(firm, "Late", "unavailable", NOW + timedelta(minutes=10))
    assert failures_digest(firm=firm, now=NOW + timedelta(minutes=30)) == []
    assert len(mail.outbox) == 2

    # An hour after the first, the digest holds only what failed since.
    second = failures_digest(firm=firm, now=NOW + timedelta(minutes=61))
    assert second[0].title == "1 record failed to sync to QuickBooks"
    assert f"Why: {GUIDES['unavailable'].what}" in second[0].body
    assert second[0].url == reverse("health:errors") + "#cause-unavailable"  # its group, straight
    assert len(mail.outbox) == 4

    # Nothing new: no digest at all.
    assert failures_digest(firm=firm, now=NOW + timedelta(hours=3)) == []
    assert Notification.objects.filter(kind="failures").count() == 4


def test_the_reconnect_notice_is_sent_once_per_time_it_is_needed(connection, firm, owner, firm_admin):
    assert reconnect_notice(connection=connection, now=NOW) == []  # connected: nothing to say
    QuickBooksConnection.objects.filter(pk=connection.pk).update(
        status=QuickBooksConnection.Status.NEEDS_RECONNECT,
        status_reason="Intuit refused the refresh token (invalid_grant).",
        status_changed_at=NOW,
    )
    connection.refresh_from_db()

    sent = reconnect_notice(connection=connection, now=NOW)
    again = reconnect_notice(connection=connection, now=NOW + timedelta(hours=2))

    assert recipients(sent) == {owner.username, firm_admin.username}
    assert again == []
    assert "invalid_grant" in sent[0].body
    assert len(mail.outbox) == 2
    # Reconnected, then broken again later: a new notice.
    QuickBooksConnection.objects.filter(pk=connection.pk).update(status_changed_at=NOW + timedelta(days=3))
    connection.refresh_from_db()
    assert len(reconnect_notice(connection=connection, now=NOW + timedelta(days=3))) == 2


def test_expiry_warnings_go_out_30_and_7_days_ahead_once_each(connection, firm):
    ends = NOW + timedelta(days=40)
    QuickBooksConnection.objects.filter(pk=connection.pk).update(refresh_token_hard_expires_at=ends)
    connection.refresh_from_db()

    assert expiry_notice(connection=connection, now=NOW) == []  # 40 days left
    thirty = expiry_notice(connection=connection, now=ends - timedelta(days=30))
    assert expiry_notice(connection=connection, now=ends - timedelta(days=20)) == []
    seven = expiry_notice(connection=connection, now=ends - timedelta(days=7))
    assert expiry_notice(connection=connection, now=ends - timedelta(days=2)) == []

    assert thirty[0].title == "QuickBooks authorization ends in 30 days"
    assert seven[0].title == "QuickBooks authorization ends in 7 days"
    assert ends.date().isoformat() in seven[0].body
    assert Notification.objects.filter(kind="expiry").count() == 4  # two managers, two warnings
    assert len(mail.outbox) == 4


def test_an_expiry_first_seen_inside_7_days_sends_only_the_urgent_warning(connection, firm):
    ends = NOW + timedelta(days=5)
    QuickBooksConnection.objects.filter(pk=connection.pk).update(refresh_token_hard_expires_at=ends)
    connection.refresh_from_db()

    sent = expiry_notice(connection=connection, now=NOW)

    assert sent[0].title == "QuickBooks authorization ends in 5 days"
    assert expiry_notice(connection=connection, now=NOW + timedelta(hours=1)) == []
    assert Notification.objects.filter(kind="expiry").count() == 2


def test_the_check_covers_every_connected_firm_and_leaves_others_alone(connection, firm, other_firm):
    other_admin = UserFactory(firm=other_firm, role="admin")
    fail_account(firm, "Staples", "name_used_by_other", NOW - timedelta(minutes=1))
    fail_account(other_firm, "Not connected", "connection", NOW - timedelta(minutes=1))

    counts = notifications_check(now=NOW)

    assert counts == {"failures": 1, "reconnect": 0, "expiry": 0}
    assert not Notification.objects.filter(recipient=other_admin).exists()
    assert notifications_check(now=NOW + timedelta(minutes=5)) == {"failures": 0, "reconnect": 0, "expiry": 0}


def test_a_mail_server_that_is_down_keeps_the_in_app_notice(connection, firm, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1
    fail_account(firm, "Staples", "name_used_by_other", NOW)

    sent = failures_digest(firm=firm, now=NOW)

    assert len(sent) == 2
    assert not Notification.objects.filter(emailed=True).exists()


def test_the_list_shows_my_notices_the_badge_counts_them_and_reading_clears_it(
    connection, firm, owner, firm_admin, firm_admin_client
):
    fail_account(firm, "Staples", "name_used_by_other", NOW)
    failures_digest(firm=firm, now=NOW)
    mine = Notification.objects.get(recipient=firm_admin)
    owners = Notification.objects.get(recipient=owner)

    page = firm_admin_client.get(reverse("health:notifications")).content.decode()
    # The title links to what it is about.
    assert f'<a href="{mine.url}">1 record failed to sync to QuickBooks</a>' in page
    assert 'id="unread-notifications" aria-label="1 unread">1<' in page

    # Another member's notice is not mine to read: a 404, and it stays unread.
    assert firm_admin_client.post(reverse("health:notification_read", args=[owners.pk])).status_code == 404
    opened = firm_admin_client.post(reverse("health:notification_read", args=[mine.pk]), {"open": "1"})
    assert opened["Location"] == reverse("health:errors") + "#cause-name_used_by_other"
    mine.refresh_from_db()
    owners.refresh_from_db()
    assert mine.read_at is not None
    assert owners.read_at is None
    assert (
        "unread-notifications" not in firm_admin_client.get(reverse("health:notifications")).content.decode()
    )

    owner_client = Client()
    owner_client.force_login(owner)
    owner_client.post(reverse("health:notifications_read_all"))
    owners.refresh_from_db()
    assert owners.read_at is not None

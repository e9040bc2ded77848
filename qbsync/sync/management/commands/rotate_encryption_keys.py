from django.core.management.base import BaseCommand
from django.db import transaction

from qbsync.sync.models import QuickBooksConnection


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored QuickBooks token with the newest key in QBSYNC_ENCRYPTION_KEYS. Run after "
        "putting a new key first; then the old key can be removed."
    )

    def handle(self, *args, **options):
        rotated = 0
        for pk in QuickBooksConnection.objects.values_list("pk", flat=True).iterator():
            # Loading decrypts with whichever key still matches; saving encrypts with the newest.
            # The row lock keeps a concurrent token refresh from being overwritten.
            with transaction.atomic():
                connection = QuickBooksConnection.objects.select_for_update().get(pk=pk)
                connection.save(update_fields=["access_token", "refresh_token"])
            rotated += 1
        self.stdout.write(f"Re-encrypted the tokens of {rotated} connection(s) with the newest key.")

from django.core.management.base import BaseCommand

from qbsync.demo.services import demo_seed


class Command(BaseCommand):
    help = "Create the demo firm with its people, client accounts, invoices and payments (idempotent)."

    def handle(self, *args, **options):
        result = demo_seed()
        created = ", ".join(f"{n} {kind}" for kind, n in result.created.items()) or "nothing new"
        self.stdout.write(f"Demo firm: {result.firm.name} (created: {created}).")
        self.stdout.write("Sign in with (passwords as first seeded):")
        for username, role, password in result.passwords:
            self.stdout.write(f"  {role:<6} {username} / {password}")

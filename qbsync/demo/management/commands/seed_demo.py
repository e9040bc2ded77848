from django.core.management.base import BaseCommand

from qbsync.demo.services import demo_seed


class Command(BaseCommand):
    help = (
        "Create the demo firms (US, and a UK one to try VAT) with their people, client accounts, invoices "
        "and payments (idempotent)."
    )

    def handle(self, *args, **options):
        result = demo_seed()
        created = ", ".join(f"{n} {kind}" for kind, n in result.created.items()) or "nothing new"
        names = ", ".join(firm.name for firm in (result.firm, result.uk_firm) if firm is not None)
        self.stdout.write(f"Demo firms: {names} (created: {created}).")
        self.stdout.write("Sign in with (passwords as first seeded):")
        for username, role, password in result.passwords:
            self.stdout.write(f"  {role:<6} {username} / {password}")
        if result.uk_firm is not None:
            uk = result.uk_firm
            self.stdout.write(
                f"To try VAT: {uk.name} ({uk.currency}, a VAT 20% rate); connect it to a new "
                '"UK (VAT)" company on the sandbox\'s consent page. Sign in with:'
            )
            for username, role, password in result.uk_passwords:
                self.stdout.write(f"  {role:<6} {username} / {password}")

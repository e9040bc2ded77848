from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


def default_currency() -> str:
    return settings.DEFAULT_FIRM_CURRENCY


class Region(models.TextChoices):
    """Where the firm bills, as far as tax goes: QuickBooks Online has a US, a UK, a Canadian and an
    Australian edition, and a global one for the rest. US sales tax is added to the amounts; VAT and GST
    regions may also bill amounts that include tax."""

    US = "US", "United States"
    UK = "UK", "United Kingdom"
    CA = "CA", "Canada"
    AU = "AU", "Australia"
    OTHER = "OTHER", "Other"


# The region a currency suggests (for a new firm, and for firms that existed before regions did).
REGION_OF_CURRENCY = {"USD": Region.US, "GBP": Region.UK, "CAD": Region.CA, "AUD": Region.AU}


def region_for_currency(currency: str) -> str:
    return REGION_OF_CURRENCY.get((currency or "").upper(), Region.OTHER)


def default_region() -> str:
    """The region of the default currency (DEFAULT_FIRM_CURRENCY, USD: the United States)."""
    return region_for_currency(default_currency())


class Firm(models.Model):
    """The tenant: an accounting firm. Every piece of practice data belongs to exactly one firm."""

    Region = Region

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    currency = models.CharField(
        max_length=3, default=default_currency, help_text="ISO 4217 code; every amount of this firm is in it."
    )
    region = models.CharField(
        max_length=5,
        choices=Region.choices,
        default=default_region,
        help_text="Where the firm bills: how tax is charged (added on top in the US; VAT and GST regions may "
        "also bill amounts that include tax).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def allows_tax_inclusive_amounts(self) -> bool:
        """US sales tax is always added to the amounts; VAT and GST regions may bill amounts including it."""
        return self.region != Region.US


class User(AbstractUser):
    """A person who signs in. Staff of a firm have a firm and a role; Django superusers may have none."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        STAFF = "staff", "Staff"

    firm = models.ForeignKey(Firm, on_delete=models.PROTECT, null=True, blank=True, related_name="members")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.STAFF)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"), name="user_email_unique_ci", condition=~models.Q(email="")
            ),
        ]

    @property
    def is_owner(self) -> bool:
        return self.firm_id is not None and self.role == self.Role.OWNER

    @property
    def is_firm_admin(self) -> bool:
        return self.firm_id is not None and self.role in (self.Role.OWNER, self.Role.ADMIN)

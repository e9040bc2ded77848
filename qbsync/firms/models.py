from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


def default_currency() -> str:
    return settings.DEFAULT_FIRM_CURRENCY


class Firm(models.Model):
    """The tenant: an accounting firm. Every piece of practice data belongs to exactly one firm."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    currency = models.CharField(
        max_length=3, default=default_currency, help_text="ISO 4217 code; every amount of this firm is in it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


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

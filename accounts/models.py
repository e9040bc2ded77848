from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Trim

from qbsync.firms.models import Firm
from qbsync.firms.querysets import FirmScopedQuerySet

ACCOUNT_NAME_MAX_LENGTH = 1000


class AccountQuerySet(FirmScopedQuerySet):
    def matching(self, search: str) -> "AccountQuerySet":
        """The accounts whose name, email or phone contains ``search`` (all of them when it is blank): the
        list's search box, which its rows and its status counts both follow."""
        search = search.strip()
        if not search:
            return self
        return self.filter(
            Q(name__icontains=search) | Q(email__icontains=search) | Q(phone__icontains=search)
        )


class Account(models.Model):
    """A client account of the firm: a person or a company the firm bills."""

    class Kind(models.TextChoices):
        INDIVIDUAL = "individual", "Individual"
        COMPANY = "company", "Company"

    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="accounts")
    # Longer than QuickBooks allows (500) on purpose: the firm's own name is kept as typed and the
    # sync explains the limit instead of truncating behind anyone's back.
    name = models.CharField(max_length=ACCOUNT_NAME_MAX_LENGTH)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.COMPANY)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    address_line1 = models.CharField("address", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField("state or region", max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(
        "active", default=True, help_text="Archived accounts are kept but hidden."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                "firm",
                Lower("name"),
                name="account_name_unique_per_firm_ci",
                violation_error_message="Another account of this firm already has this name (ignoring case).",
            ),
            models.CheckConstraint(
                condition=~models.Q(name="") & models.Q(name=Trim("name")),
                name="account_name_trimmed_not_empty",
                violation_error_message="The name must not be empty or start or end with spaces.",
            ),
        ]
        indexes = [models.Index(fields=["firm", "is_active", "name"], name="account_firm_active_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def address_lines(self) -> list[str]:
        city_line = " ".join(part for part in (self.city, self.region, self.postal_code) if part)
        return [line for line in (self.address_line1, self.address_line2, city_line, self.country) if line]

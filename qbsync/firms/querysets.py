from django.db import models


class FirmScopedQuerySet(models.QuerySet):
    """Every read a view makes starts here, so another firm's id is simply not found (a 404)."""

    def for_firm(self, firm):
        if firm is None:
            return self.none()
        return self.filter(firm=firm)

"""Bearer credentials for the API: tenant API keys and people's personal tokens.

Only a SHA-256 digest of a secret is stored, with a short visible prefix so people can tell
their keys apart. The raw secret is shown once, when it is made.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models.tenants import (
    Tenant,
    TenantOwned,
)


class Credential(models.Model):
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiKey(Credential, TenantOwned):
    """An integration's key: acts for the whole tenant, not for a person."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta(Credential.Meta):
        db_table = "orchestration_apikey"  # the table from before the model moved here
        verbose_name = "API key"


class PersonalToken(Credential):
    """A person's token: acts as that person, with their tenant and roles."""

    tenant_path = "user__membership__tenant"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personal_tokens"
    )

    class Meta(Credential.Meta):
        db_table = "orchestration_personaltoken"  # the table from before the model moved here
        verbose_name = "personal token"

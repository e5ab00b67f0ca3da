"""Tenant-configured intents for the intent detector."""

from __future__ import annotations

from django.db import models

from core.models import Tenant, TenantOwned


class Intent(TenantOwned):
    """A tenant's intent for the detector: keywords and phrases that signal it. The tenant's
    intents extend the built-in ones (``agents.intents``): a row named like a built-in adds to
    it, and ``enabled`` off switches the intent (built-in or not) off."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="intents")
    name = models.SlugField(max_length=63)
    keywords = models.JSONField(default=list, blank=True)
    phrases = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(
        default=True,
        help_text="Off: the intent is not detected. Named like a built-in intent (greeting, "
        "technical, ...), this switches the built-in off.",
    )

    class Meta:
        db_table = "orchestration_intent"  # the table from before the model moved here
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                name="intent_unique_per_tenant",
                violation_error_message="This tenant already has an intent with this name.",
            )
        ]

    def __str__(self) -> str:
        return self.name

"""Stack templates published in the product: by a tenant for itself, or by a superuser for every
tenant (``tenant`` empty). The built-in templates are JSON files in ``stacks/builtin/`` and are
not rows (read-only; see ``stacks.selectors``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import Tenant


class StackTemplate(models.Model):
    tenant = models.ForeignKey(
        Tenant,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="stack_templates",
        help_text="The tenant that published it for itself; empty: global, for every tenant.",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    document = models.JSONField(help_text="The stack as a versioned JSON document.")
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "stack template"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                condition=Q(tenant__isnull=False),
                name="stack_template_name_unique_per_tenant",
                violation_error_message="A template with this name already exists.",
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(tenant__isnull=True),
                name="stack_template_global_name_unique",
                violation_error_message="A global template with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_global(self) -> bool:
        return self.tenant_id is None

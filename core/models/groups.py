"""Named groups of people (approvers: ``group:<name>`` in approval rules)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models.tenants import Tenant, TenantOwned


class ApproverGroup(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="approver_groups")
    name = models.SlugField(max_length=63, help_text="Used in rules as group:<name>.")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    class Meta:
        db_table = "approvals_approvergroup"  # the table from before the model moved here
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                name="approver_group_unique_per_tenant",
                violation_error_message="A group with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return f"group:{self.name}"

"""Approval configuration: named groups of approvers (``group:<name>`` in approval rules)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from orchestration.models import Tenant, TenantOwned


class ApproverGroup(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="approver_groups")
    name = models.SlugField(max_length=63, help_text="Used in rules as group:<name>.")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    class Meta:
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

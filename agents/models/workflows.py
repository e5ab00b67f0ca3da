"""Named multi-agent workflows (SPEC 4.4): ordered steps with conditions over earlier outputs."""

from __future__ import annotations

from django.db import models

from agents.models.agents import Agent
from core.models import (
    Tenant,
    TenantOwned,
)


class Workflow(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=200)
    step_budget = models.PositiveSmallIntegerField(
        default=10, help_text="Most steps one run may take before it falls back to a human."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                name="workflow_name_unique_per_tenant",
                violation_error_message="A workflow with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WorkflowStep(models.Model):
    tenant_path = "workflow__tenant"

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(default=0)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="+")
    condition = models.TextField(
        help_text='"start" for the entry step, else e.g. category == "technical"'
    )
    inputs = models.JSONField(default=list, blank=True, help_text='Names it receives, or ["all"].')
    outputs = models.JSONField(default=list, blank=True, help_text="Names it contributes.")

    class Meta:
        ordering = ["workflow", "position", "id"]

    def __str__(self) -> str:
        return f"{self.position}. {self.agent.slug} ({self.condition})"

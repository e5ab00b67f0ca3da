"""Orchestration rules of an agent (SPEC 5): escalation, ordered handoff rules, approvals.

An agent either has its own rule set or inherits the effective rules of its supervisor (and so
on up); with none anywhere it has no rules. Every change keeps a version of the whole rule set
as a JSON document (the API's shape), so history can be shown as a diff and restored.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agents.models.agents import Agent
from agents.models.workflows import Workflow


class RuleSet(models.Model):
    tenant_path = "agent__tenant"

    agent = models.OneToOneField(Agent, on_delete=models.CASCADE, related_name="rules")
    version = models.PositiveIntegerField(default=0, editable=False)
    # escalation
    has_escalation = models.BooleanField("escalation rule", default=False)
    max_attempts = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Escalate when this many consecutive attempts failed (at least 1).",
    )
    escalation_intents = models.JSONField(
        "escalate on intents",
        default=list,
        blank=True,
        help_text='Intents that escalate at once, e.g. ["legal", "cancel"].',
    )
    escalation_target = models.ForeignKey(
        Agent,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="escalate to agent",
    )
    escalate_to_human = models.BooleanField(default=False)
    # approvals
    has_approvals = models.BooleanField("approval rule", default=False)
    approvals_required = models.BooleanField(default=True)
    approvers = models.JSONField(
        default=list,
        blank=True,
        help_text='Usernames or group:<name> of the tenant, e.g. ["maria", "group:finance"].',
    )
    quorum = models.PositiveSmallIntegerField(
        default=1, help_text="Distinct approvers needed (2 for four eyes)."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        verbose_name = "orchestration rules"
        verbose_name_plural = "orchestration rules"

    def __str__(self) -> str:
        return f"Rules of {self.agent}"


class HandoffRule(models.Model):
    """When ``condition`` holds, transfer to ``target``, or start ``workflow`` (exactly one of
    the two). Evaluated in order; first match wins."""

    tenant_path = "ruleset__agent__tenant"

    ruleset = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="handoffs")
    position = models.PositiveIntegerField(default=0)
    condition = models.TextField(help_text='e.g. intent == "billing" and sentiment < -0.5')
    target = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    workflow = models.ForeignKey(
        Workflow,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Instead of an agent: the workflow the conversation runs from then on.",
    )

    class Meta:
        ordering = ["ruleset", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(target__isnull=False, workflow__isnull=True)
                | models.Q(target__isnull=True, workflow__isnull=False),
                name="handoff_rule_one_target",
                violation_error_message="A handoff rule goes to an agent or to a workflow.",
            )
        ]

    def __str__(self) -> str:
        if self.workflow_id:
            return f"{self.condition} -> workflow {self.workflow.name}"
        return f"{self.condition} -> {self.target.slug}"


class ApprovalAction(models.Model):
    """An action that needs approval, optionally only when ``when`` holds
    (``params.amount > 100``)."""

    tenant_path = "ruleset__agent__tenant"

    ruleset = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveIntegerField(default=0)
    action = models.CharField(max_length=100)
    when = models.TextField(blank=True, help_text="Only above a threshold: params.amount > 100")

    class Meta:
        ordering = ["ruleset", "position", "id"]

    def __str__(self) -> str:
        return f"{self.action} when {self.when}" if self.when else self.action


class RuleVersion(models.Model):
    """One saved state of an agent's rules (``document`` in the API's JSON shape; ``None``
    when the rules were cleared)."""

    tenant_path = "agent__tenant"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="rule_versions")
    version = models.PositiveIntegerField()
    document = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=20, default="api")  # api, admin, restore, clear, backtest

    class Meta:
        ordering = ["agent", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "version"], name="rule_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.agent.slug} v{self.version}"

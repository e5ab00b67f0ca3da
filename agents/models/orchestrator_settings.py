"""Orchestrator settings (SPEC 2), inherited global -> tenant -> stack.

One table holds every level: exactly one global row (no tenant, no stack) with every value
set, at most one row per tenant, and at most one row per stack (its top agent, of the same
tenant). A null value means "not set at this level": the level above decides. Reads and writes
go through ``agents.orchestrator_settings`` (the API names, validation, inheritance).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.models.tenants import Tenant
from core.secret_store import SealedField


class SettingsLevel(models.TextChoices):
    GLOBAL = "global", "Global defaults"
    TENANT = "tenant", "Tenant"
    STACK = "stack", "Stack"


class HandoffMode(models.TextChoices):
    HOT = "hot", "Hot: online human agents are offered the conversation live"
    COLD = "cold", "Cold: a handoff pack is queued for follow-up"
    AUTO = "auto", "Auto: hot when synchronous, within business hours and someone is online"


class RiskCategory(models.TextChoices):
    FRUSTRATION = "frustration", "Frustration"
    LEGAL_THREAT = "legal_threat", "Legal threat"
    CHURN_RISK = "churn_risk", "Churn risk"
    HUMAN_REQUEST = "human_request", "Asks for a human"


# The model columns that hold a setting, in the API's order.
SETTING_FIELDS = (
    "model",
    "check_interval",
    "stall_threshold",
    "risk_auto_escalation",
    "risk_categories",
    "handoff_mode",
    "hot_claim_timeout",
    "routing_instructions",
    "step_budget",
    "token_budget",
    "cost_budget",
    "response_targets",
)
POSITIVE_FIELDS = (
    "check_interval",
    "stall_threshold",
    "hot_claim_timeout",
    "step_budget",
    "token_budget",
)


def _at_least_one(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__gte": 1}),
        name=f"orchestrator_settings_{name}_at_least_1",
        violation_error_message="Ensure this value is greater than or equal to 1.",
    )


class OrchestratorSettings(models.Model):
    level = models.CharField(max_length=10, choices=SettingsLevel.choices, editable=False)
    tenant = models.ForeignKey(
        Tenant,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="orchestrator_settings",
        help_text="Empty only for the global defaults.",
    )
    stack = models.ForeignKey(
        "agents.Agent",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="orchestrator_settings",
        help_text="The top agent of the stack (a supervisor with its specialists).",
    )

    model = models.CharField(
        "model",
        max_length=200,
        null=True,
        blank=True,
        help_text="LLM model name for the openai runtime and the routing prompt.",
    )
    check_interval = models.PositiveIntegerField(
        "check interval (seconds)",
        null=True,
        blank=True,
        help_text="How often the stall sweep looks for silent conversations.",
    )
    stall_threshold = models.PositiveIntegerField(
        "stall threshold (turns)",
        null=True,
        blank=True,
        help_text="Turns without progress after which a conversation is stalled.",
    )
    risk_auto_escalation = models.BooleanField(
        "risk auto-escalation",
        null=True,
        blank=True,
        help_text="Hand over at once when a detected risk is in the risk categories.",
    )
    risk_categories = models.JSONField(
        "risk categories",
        null=True,
        blank=True,
        help_text="The risks that trigger auto-escalation.",
    )
    risk_detection = models.JSONField(
        "risk detection",
        null=True,
        blank=True,
        help_text="The risk detector's phrases and thresholds by category, added to the level "
        'above: {"legal_threat": {"add": ["small claims"], "remove": ["regulator"], '
        '"threshold": 0.5}}.',
    )
    handoff_mode = models.CharField(
        "handoff mode", max_length=10, null=True, blank=True, choices=HandoffMode.choices
    )
    hot_claim_timeout = models.PositiveIntegerField(
        "hot claim timeout (seconds)",
        null=True,
        blank=True,
        help_text="An unclaimed hot handoff becomes cold after this long.",
    )
    orchestrator_endpoint = models.CharField(
        "orchestrator endpoint",
        max_length=500,
        null=True,
        blank=True,
        help_text="An OpenAI-compatible base URL (https://api.openai.com/v1): the orchestrator "
        "asks this model each turn what the rules leave open. Empty: rules only.",
    )
    orchestrator_api_key = SealedField(
        "orchestrator API key",
        help_text="The key of the orchestrator endpoint, kept encrypted; never shown again.",
    )
    routing_instructions = models.TextField(
        "routing instructions",
        null=True,
        blank=True,
        help_text="Appended to the built-in routing prompt; {{TENANT_NAME}} is replaced.",
    )
    step_budget = models.PositiveIntegerField(
        "step budget",
        null=True,
        blank=True,
        help_text="Agent runs per conversation (replies, consultations, workflow steps); "
        "crossing it hands the conversation to a human.",
    )
    token_budget = models.PositiveIntegerField(
        "token budget",
        null=True,
        blank=True,
        help_text="Tokens per conversation reported by the network runtimes (openai, webhook).",
    )
    cost_budget = models.FloatField(
        "cost budget",
        null=True,
        blank=True,
        help_text="Cost per conversation (in the runtimes' currency, e.g. USD) from their "
        "reported usage.",
    )
    response_targets = models.JSONField(
        "response targets",
        null=True,
        blank=True,
        help_text="Seconds by handoff priority (urgent, high, medium, low) within which a "
        'person should first answer and resolve, e.g. {"urgent": {"firstResponse": 300, '
        '"resolution": 14400}, ...}. Handoffs past them are highlighted in the inbox.',
    )
    chat_workflow = models.CharField(
        "chat workflow",
        max_length=200,
        null=True,
        blank=True,
        help_text="The name of a workflow new web chats start in (empty: none; the entry agent "
        "answers alone). A tenant's or stack's own setting: the global level names none.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "orchestration_orchestratorsettings"  # the table from before the move
        verbose_name = "orchestrator settings"
        verbose_name_plural = "orchestrator settings"
        ordering = ["level", "tenant_id", "stack_id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(level=SettingsLevel.GLOBAL, tenant__isnull=True, stack__isnull=True)
                    | Q(level=SettingsLevel.TENANT, tenant__isnull=False, stack__isnull=True)
                    | Q(level=SettingsLevel.STACK, tenant__isnull=False, stack__isnull=False)
                ),
                name="orchestrator_settings_level_matches_owner",
                violation_error_message=(
                    "Global defaults have no tenant and no stack; tenant settings have a "
                    "tenant; stack settings have a tenant and a stack."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(level=SettingsLevel.GLOBAL)
                | Q(**{f"{name}__isnull": False for name in SETTING_FIELDS}),
                name="orchestrator_settings_global_complete",
                violation_error_message="The global defaults must set every value.",
            ),
            models.CheckConstraint(
                condition=Q(handoff_mode__isnull=True) | Q(handoff_mode__in=HandoffMode.values),
                name="orchestrator_settings_handoff_mode_valid",
                violation_error_message="Choose hot, cold or auto.",
            ),
            *(_at_least_one(name) for name in POSITIVE_FIELDS),
            models.CheckConstraint(
                condition=Q(cost_budget__isnull=True) | Q(cost_budget__gt=0),
                name="orchestrator_settings_cost_budget_positive",
                violation_error_message="Ensure this value is greater than 0.",
            ),
            models.UniqueConstraint(
                fields=["level"],
                condition=Q(level=SettingsLevel.GLOBAL),
                name="orchestrator_settings_one_global",
                violation_error_message="There are already global defaults.",
            ),
            models.UniqueConstraint(
                fields=["tenant"],
                condition=Q(level=SettingsLevel.TENANT),
                name="orchestrator_settings_one_per_tenant",
                violation_error_message="This tenant already has its settings.",
            ),
            models.UniqueConstraint(
                fields=["stack"],
                condition=Q(level=SettingsLevel.STACK),
                name="orchestrator_settings_one_per_stack",
                violation_error_message="This stack already has its settings.",
            ),
        ]

    def __str__(self) -> str:
        if self.level == SettingsLevel.GLOBAL:
            return "Global defaults"
        if self.level == SettingsLevel.TENANT:
            return f"Settings of {self.tenant}"
        return f"Settings of the {self.stack} stack"

    def clean(self) -> None:
        super().clean()
        stack_tenant = self.stack.tenant_id if self.stack_id is not None else None
        if self.tenant_id is not None and stack_tenant not in (None, self.tenant_id):
            raise ValidationError({"stack": "This agent belongs to another tenant."})


class _LevelManager(models.Manager):
    level: str = ""

    def get_queryset(self):
        return super().get_queryset().filter(level=self.level)


class _GlobalManager(_LevelManager):
    level = SettingsLevel.GLOBAL


class _TenantManager(_LevelManager):
    level = SettingsLevel.TENANT


class _StackManager(_LevelManager):
    level = SettingsLevel.STACK


class GlobalOrchestratorSettings(OrchestratorSettings):
    """The global defaults row, for the admin (superusers only)."""

    LEVEL = SettingsLevel.GLOBAL
    objects = _GlobalManager()

    class Meta:
        proxy = True
        verbose_name = "orchestrator settings: global defaults"
        verbose_name_plural = "orchestrator settings: global defaults"


class TenantOrchestratorSettings(OrchestratorSettings):
    """Tenant-level rows, for the admin."""

    LEVEL = SettingsLevel.TENANT
    objects = _TenantManager()

    class Meta:
        proxy = True
        verbose_name = "orchestrator settings: tenant"
        verbose_name_plural = "orchestrator settings: tenant"


class StackOrchestratorSettings(OrchestratorSettings):
    """Stack-level rows, for the admin."""

    LEVEL = SettingsLevel.STACK
    objects = _StackManager()

    class Meta:
        proxy = True
        verbose_name = "orchestrator settings: stack"
        verbose_name_plural = "orchestrator settings: stack"

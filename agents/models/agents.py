"""AI agents of a tenant: supervisors and specialists, their runtime and knowledge."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from agents.action_registry import (
    ParamsError,
    action_names,
    get_action,
)
from agents.guardrails.access import allowed_actions_problem
from agents.runtime_config import runtime_config_errors
from core.models import (
    Tenant,
    TenantOwned,
)
from core.secret_store import SealedField

slug_validator = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
    "Use lowercase letters, digits and single hyphens (e.g. agent-billing).",
    code="invalid_slug",
)


class AgentRole(models.TextChoices):
    SUPERVISOR = "supervisor", "Supervisor"
    SPECIALIST = "specialist", "Specialist"


class Pattern(models.TextChoices):
    HANDOFF = "handoff", "Handoff: the specialist takes the conversation over"
    SEQUENTIAL = "sequential", "Sequential: the supervisor consults specialists privately"
    CONCURRENT = "concurrent", "Concurrent: the supervisor consults its specialists at once"


class RuntimeType(models.TextChoices):
    BUILTIN = "builtin", "Built-in (answers from knowledge entries, no network)"
    OPENAI = "openai", "OpenAI-compatible chat completions"
    WEBHOOK = "webhook", "Webhook (the tenant's own endpoint)"


class Agent(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="agents")
    slug = models.CharField(
        "id",
        max_length=63,
        validators=[slug_validator],
        help_text="Chosen by the tenant, unique in it, e.g. agent-billing.",
    )
    name = models.CharField(max_length=200)
    role = models.CharField(max_length=20, choices=AgentRole.choices)
    supervisor = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
        help_text="The supervisor this agent reports to (same tenant).",
    )
    domains = models.JSONField(
        default=list,
        blank=True,
        help_text='Specialization domains, e.g. ["billing", "refunds"].',
    )
    pattern = models.CharField(
        max_length=20,
        choices=Pattern.choices,
        default=Pattern.HANDOFF,
        help_text="How a supervisor works with its specialists.",
    )
    runtime = models.CharField(max_length=20, choices=RuntimeType.choices, default="builtin")
    runtime_config = models.JSONField(
        default=dict,
        blank=True,
        help_text="openai: baseUrl, model, apiKeyEnv (or a stored apiKey), prices. "
        "webhook: url. builtin: nothing. Never holds a secret.",
    )
    # the runtime's secret (openai apiKey, webhook signing secret), sealed; never shown
    runtime_secret = SealedField(
        help_text="The runtime's API key or signing secret, encrypted with SECRETS_KEYS."
    )
    prompt = models.TextField(blank=True)
    allowed_actions = models.JSONField(
        "allowed actions",
        null=True,
        blank=True,
        default=None,
        help_text="The actions this agent may propose. Unset: every registered action; a "
        "list: only those (an empty list: none). A proposal outside it is refused before the "
        "approval gate.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "slug"],
                name="agent_slug_unique_per_tenant",
                violation_error_message="An agent with this id already exists.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def is_supervisor(self) -> bool:
        return self.role == AgentRole.SUPERVISOR

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.supervisor_id is not None:
            problem = supervisor_problem(self, self.supervisor)
            if problem:
                errors["supervisor"] = problem
        if self.pk and self.role != AgentRole.SUPERVISOR and self.reports.exists():
            errors["role"] = "Other agents report to this one; it must stay a supervisor."
        problem = domains_problem(self.domains)
        if problem:
            errors["domains"] = problem

        problem = allowed_actions_problem(self.allowed_actions)
        if problem:
            errors["allowed_actions"] = problem
        config_errors = runtime_config_errors(
            self.runtime, self.runtime_config, has_secret=bool(self.runtime_secret)
        )
        if config_errors:
            errors["runtime_config"] = "; ".join(
                f"{key}: {msg}" if key else msg for key, msg in config_errors.items()
            )
        if errors:
            raise ValidationError(errors)


DOMAIN = re.compile(r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$")


def domains_problem(domains) -> str | None:
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        return "must be a list of domain names"
    for domain in domains:
        if not DOMAIN.match(domain):
            return f"'{domain}' is not a domain name (lowercase letters, digits, - or _)"
    if len(set(domains)) != len(domains):
        return "lists a domain twice"
    return None


def supervisor_problem(agent: Agent, supervisor: Agent) -> str | None:
    """Why ``supervisor`` cannot supervise ``agent``, or None."""
    if supervisor.tenant_id != agent.tenant_id:
        return "Unknown agent."  # another tenant's agent does not exist for this one
    if supervisor.role != AgentRole.SUPERVISOR:
        return f"{supervisor.slug} is a specialist, not a supervisor."
    seen = set()
    current: Agent | None = supervisor
    while current is not None and current.pk not in seen:
        if agent.pk is not None and current.pk == agent.pk:
            return "An agent cannot report to itself, directly or through others."
        seen.add(current.pk)
        current = current.supervisor
    return None


OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
MAX_ENTRY_OUTPUTS = 20


def knowledge_outputs_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a knowledge entry's workflow outputs, or None: an object of at
    most 20 names (identifiers) to text, numbers, true/false or null."""
    if not isinstance(value, dict):
        return 'must be an object of names and values, e.g. {"priority": "critical"}'
    if len(value) > MAX_ENTRY_OUTPUTS:
        return f"at most {MAX_ENTRY_OUTPUTS} outputs"
    for name, item in value.items():
        if not isinstance(name, str) or not OUTPUT_NAME.fullmatch(name):
            return f"'{name}' is not a valid name: letters, digits and _, not starting with a digit"
        if item is not None and not isinstance(item, str | int | float | bool):
            return f"'{name}' must be text, a number, true/false or null"
        if isinstance(item, str) and len(item) > 1000:
            return f"'{name}' is longer than 1000 characters"
    return None


class KnowledgeEntry(models.Model):
    """What a built-in agent knows: a question, its keywords, the answer, and optionally an
    action the agent proposes when it gives that answer."""

    tenant_path = "agent__tenant"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="knowledge")
    position = models.PositiveIntegerField(default=0)
    question = models.CharField(max_length=500)
    keywords = models.JSONField(default=list, blank=True)
    answer = models.TextField()
    action = models.CharField(max_length=100, blank=True)
    action_params = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(
        default=dict,
        blank=True,
        help_text='Workflow outputs this answer sets, e.g. {"priority": "critical"}.',
    )

    class Meta:
        ordering = ["agent", "position", "id"]
        verbose_name_plural = "knowledge entries"

    def __str__(self) -> str:
        return self.question

    def as_document(self) -> dict:
        """The entry as the API and stack templates write it."""
        action = {"name": self.action, "params": self.action_params} if self.action else None
        document = {
            "question": self.question,
            "keywords": self.keywords,
            "answer": self.answer,
            "action": action,
        }
        if self.outputs:
            document["outputs"] = self.outputs
        return document

    def clean(self) -> None:
        problem = knowledge_outputs_problem(self.outputs)
        if problem:
            raise ValidationError({"outputs": problem})
        if not isinstance(self.keywords, list) or not all(
            isinstance(k, str) for k in self.keywords
        ):
            raise ValidationError({"keywords": "must be a list of words or phrases"})
        if not self.action:
            if self.action_params:
                raise ValidationError({"action_params": "parameters need an action"})
            return
        spec = get_action(self.action)
        if spec is None:
            raise ValidationError(
                {"action": f"unknown action '{self.action}' (known: {', '.join(action_names())})"}
            )
        try:
            spec.validate_params(self.action_params)
        except ParamsError as exc:
            raise ValidationError({"action_params": str(exc)}) from None

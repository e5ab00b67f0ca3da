"""Writes for agents and their knowledge. One transaction per business action."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from agents.guardrails.policy import policy_problems, topics_text
from agents.models import Agent, GuardrailPolicy, KnowledgeEntry
from agents.models.guardrails import DOCUMENT_FIELDS
from agents.runtime_config import SECRET_NAMES, runtime_secret_after, secret_problem
from core.config_version import config_changed
from core.errors import Conflict
from core.models import Tenant

# What the API calls the model's fields, for error messages.
API_NAMES = {
    "slug": "id",
    "supervisor": "supervisorId",
    "runtime_config": "runtime",
    "allowed_actions": "allowedActions",
    "__all__": "id",
}


class AgentInUse(Conflict):
    """The agent cannot be deleted: others report to it or rules and workflows point at it."""


def _set_runtime_secret(agent: Agent, given: str | None, *, same_runtime: bool) -> None:
    """Seal a new secret (``given``), keep the stored one, or drop it (see
    ``runtime_secret_after``). Raises ValidationError for a secret that cannot be one."""
    if given is not None and isinstance(agent.runtime, str) and agent.runtime in SECRET_NAMES:
        problem = secret_problem(agent.runtime, given)
        if problem:
            raise ValidationError({"runtime": f"{SECRET_NAMES[agent.runtime]}: {problem}"})
    agent.runtime_secret = runtime_secret_after(
        runtime=agent.runtime,
        config=agent.runtime_config or {},
        given=given,
        stored=agent.runtime_secret,
        same_runtime=same_runtime,
    )


def _full_clean(agent: Agent) -> None:
    try:
        agent.full_clean(exclude=["tenant"])
        agent.validate_constraints()
    except ValidationError as exc:
        raise ValidationError(
            {API_NAMES.get(k, k): v for k, v in exc.message_dict.items()}
        ) from None


@transaction.atomic
def agent_create(
    *,
    tenant: Tenant,
    slug: str,
    name: str,
    role: str,
    supervisor: Agent | None = None,
    domains: list[str] | None = None,
    pattern: str = "handoff",
    runtime: str = "builtin",
    runtime_config: dict[str, Any] | None = None,
    runtime_secret: str | None = None,
    prompt: str = "",
    knowledge: list[dict[str, Any]] | None = None,
    allowed_actions: list[str] | None = None,
) -> Agent:
    """A new agent; ``runtime_secret`` is its runtime's API key or signing secret in clear
    (sealed here, never stored in clear)."""
    agent = Agent(
        tenant=tenant,
        slug=slug,
        name=name,
        role=role,
        supervisor=supervisor,
        domains=domains or [],
        pattern=pattern,
        runtime=runtime,
        runtime_config=runtime_config or {},
        prompt=prompt,
        allowed_actions=allowed_actions,
    )
    _set_runtime_secret(agent, runtime_secret, same_runtime=False)
    _full_clean(agent)
    agent.save()
    if knowledge:
        knowledge_replace(agent=agent, entries=knowledge)
    config_changed(tenant.pk)
    return agent


@transaction.atomic
def agent_update(
    *, agent: Agent, knowledge: list[dict[str, Any]] | None = None, **changes: Any
) -> Agent:
    """Change the agent's fields. ``runtime_secret``: a new secret in clear; without one, a
    runtime that stays keeps its stored secret (an openai agent that now names apiKeyEnv
    drops it)."""
    agent = Agent.objects.select_for_update().get(pk=agent.pk)
    given = changes.pop("runtime_secret", None)
    runtime_changed = changes.get("runtime", agent.runtime) != agent.runtime
    if runtime_changed and "runtime_config" not in changes:
        changes["runtime_config"] = {}
    for field, value in changes.items():
        setattr(agent, field, value)
    if given is not None or "runtime" in changes or "runtime_config" in changes:
        _set_runtime_secret(agent, given, same_runtime=not runtime_changed)
    _full_clean(agent)
    agent.save()
    if knowledge is not None:
        knowledge_replace(agent=agent, entries=knowledge)
    config_changed(agent.tenant_id)
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent) -> None:
    config_changed(agent.tenant_id)
    try:
        agent.delete()
    except ProtectedError as exc:
        users = sorted({_describe(obj) for obj in exc.protected_objects})
        raise AgentInUse(
            f"{agent.slug} is still in use by {', '.join(users[:5])}"
            + (" and more" if len(users) > 5 else "")
            + "; change those first."
        ) from None


def _describe(obj: Any) -> str:
    if isinstance(obj, Agent):
        return f"agent {obj.slug} (reports to it)"
    return f"{obj._meta.verbose_name} “{obj}”"


def knowledge_replace(*, agent: Agent, entries: list[dict[str, Any]]) -> list[KnowledgeEntry]:
    """Replace the agent's knowledge with ``entries`` (already validated)."""
    agent.knowledge.all().delete()
    rows = [
        KnowledgeEntry(
            agent=agent,
            position=index,
            question=entry["question"],
            keywords=entry.get("keywords", []),
            answer=entry["answer"],
            action=(entry.get("action") or {}).get("name", ""),
            action_params=(entry.get("action") or {}).get("params", {}),
            outputs=entry.get("outputs") or {},
        )
        for index, entry in enumerate(entries)
    ]
    return KnowledgeEntry.objects.bulk_create(rows)


@transaction.atomic
def guardrail_policy_set(*, agent: Agent, document: Mapping[str, Any] | None) -> None:
    """Replace the agent's own guardrail policy with ``document`` (a policy level, see
    ``agents.guardrails.policy``; None or {} removes it). Raises ValidationError."""

    GuardrailPolicy.objects.filter(agent=agent).delete()
    if document:
        problems = policy_problems(document)
        if problems:
            raise ValidationError({"guardrails": [f"{k}: {v}" for k, v in problems.items()]})
        text_fields = {f.name for f in GuardrailPolicy._meta.fields if not f.null}
        values = {
            field: document.get(key, "" if field in text_fields else None)
            for key, field in DOCUMENT_FIELDS.items()
        }
        policy = GuardrailPolicy(
            tenant_id=agent.tenant_id,
            agent=agent,
            blocked_topics=topics_text(document.get("topics") or []),
            blocked_phrases="\n".join(document.get("phrases") or []),
            **values,
        )
        _full_clean(policy)
        policy.save()
    config_changed(agent.tenant_id)

"""A tenant's configuration as the orchestrator reads it on every message, cached.

Agents (with their knowledge, as runtime specs), the effective rules document and the
effective orchestrator settings of each agent, the tenant's intents and the specialists'
domains: built from the database in a handful of queries and kept in Django's cache (Redis in
production, shared by every process) under the generation numbers of ``core.config_version``.
Every write to configuration calls ``config_changed(tenant_id)`` (``None`` for the global
defaults), which moves the generation on in the database: the writing process reads the new
number at once, every other process within ``CONFIG_CHECK_SECONDS``, so no reader keeps a
snapshot built from data older than the change. Entries also expire after ``TTL`` seconds as a
safety net.

The pipeline and the admin's rule tester both detect signals (``detect``) and trace rules
(``rules_for``) through the snapshot, so the tester shows what the orchestrator would do.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from agents.detectors import IntentSpec, RiskSettings, Signals, detect
from agents.guardrails import effective_policy
from agents.intents import effective_intents, intent_rows
from agents.models import Agent, GuardrailPolicy
from agents.orchestrator_settings import settings_overview
from agents.rule_engine import CompiledRules, compile_document
from agents.rule_sets import rules_document
from agents.runtimes import AgentSpec
from core.config_version import GLOBAL_KEY, generation, generation_key

TTL = 300
# The snapshot's shape: part of its cache key, so a deploy that changes TenantConfig (or the
# agents and specs in it) never unpickles a snapshot of the old shape.
SCHEMA = 5


@dataclass(frozen=True)
class TenantConfig:
    tenant_id: int
    agents: dict[int, Any]
    by_slug: dict[str, int]
    specs: dict[int, AgentSpec]
    intents: tuple[IntentSpec, ...]  # the effective ones: built-ins extended by the tenant's
    domains: tuple[str, ...]
    rules: dict[int, tuple[str | None, int | None, dict[str, Any] | None]]
    settings: dict[int, dict[str, Any]]
    tenant_settings: dict[str, Any] = field(default_factory=dict)
    # the effective guardrail policy document of each agent (agents.guardrails.policy)
    guardrails: dict[int, dict[str, Any]] = field(default_factory=dict)
    tenant_guardrails: dict[str, Any] = field(default_factory=dict)
    # the sealed key of each agent's orchestrator endpoint ("" when none is set)
    orchestrator_keys: dict[int, str] = field(default_factory=dict)

    def agent(self, slug: str | None):
        agent_id = self.by_slug.get(slug or "")
        return self.agents.get(agent_id) if agent_id else None

    def specialists_of(self, agent) -> list[Any]:
        """The specialists the router can choose from: those of the agent's supervisor (or of
        the agent itself when it supervises)."""
        lead_id = agent.pk if agent.role == "supervisor" else agent.supervisor_id
        if lead_id is None:
            return []
        return sorted(
            (a for a in self.agents.values() if a.supervisor_id == lead_id), key=lambda a: a.slug
        )

    def detect(self, text: str, agent=None) -> Signals:
        """The detectors on a customer message, with the tenant's effective intents (the
        built-in ones extended by its own, less those it switched off; ``agents.intents``),
        the specialists' domains and the risk-detection settings of ``agent``'s stack (the
        tenant's when no agent is given)."""
        settings = self.settings_for(agent) if agent is not None else self.tenant_settings
        return detect(
            text,
            self.intents,
            domains=self.domains,
            risk_settings=RiskSettings.from_document(settings.get("riskDetection")),
        )

    def rules_for(self, agent) -> CompiledRules:
        """The agent's effective rules (its own, or those it inherits), compiled."""
        owner, version, document = self.rules.get(agent.pk, (None, None, None))
        return compile_document(document, owner=owner, version=version)

    def settings_for(self, agent) -> dict[str, Any]:
        return self.settings.get(agent.pk) or self.tenant_settings

    def with_draft_rules(self, agent, document: dict[str, Any] | None) -> TenantConfig:
        """This configuration with a draft (not saved) rules document as ``agent``'s own
        rules: for ``agent`` and for every agent that inherits its rules through it (the
        rule tester's dry run; nothing is written or cached)."""
        rules = dict(self.rules)
        for other in self.agents.values():
            current, seen = other, set()
            while current is not None and current.pk not in seen:
                if current.pk == agent.pk:
                    rules[other.pk] = (agent.slug, None, document)
                    break
                if self.rules.get(current.pk, (None,))[0] == current.slug:
                    break  # it has rules of its own before reaching the draft's agent
                seen.add(current.pk)
                current = self.agents.get(current.supervisor_id)
        return dataclasses.replace(self, rules=rules)

    def orchestrator_key_for(self, agent) -> str:
        return self.orchestrator_keys.get(agent.pk, "")

    def guardrails_for(self, agent) -> dict[str, Any]:
        return self.guardrails.get(agent.pk) or self.tenant_guardrails


# Snapshots this process already unpickled, by their full key (tenant and generations): a new
# generation is a new key, so a kept snapshot is never stale.
_local: dict[str, tuple[float, TenantConfig]] = {}
LOCAL_LIMIT = 256


def tenant_config(tenant) -> TenantConfig:
    key = (
        f"tenant-config:v{SCHEMA}:{tenant.pk}:{generation(GLOBAL_KEY)}:"
        f"{generation(generation_key(tenant.pk))}"
    )
    now = time.monotonic()
    kept = _local.get(key)
    if kept is not None and now - kept[0] < TTL:
        return kept[1]
    config = cache.get(key)
    if config is None:
        config = build_tenant_config(tenant)
        cache.set(key, config, timeout=TTL)
    if len(_local) >= LOCAL_LIMIT:
        _local.clear()
    _local[key] = (now, config)
    return config


def build_tenant_config(tenant) -> TenantConfig:

    agents = {
        a.pk: a
        for a in Agent.objects.filter(tenant=tenant).prefetch_related(
            "knowledge",
            "rules__handoffs__target",
            "rules__handoffs__workflow",
            "rules__actions",
            "rules__escalation_target",
        )
    }
    rules: dict[int, tuple[str | None, int | None, dict[str, Any] | None]] = {}
    settings: dict[int, dict[str, Any]] = {}
    keys: dict[int, str] = {}
    for agent in agents.values():
        owner: Agent | None = agent
        seen: set[int] = set()
        while owner is not None and owner.pk not in seen:
            ruleset = getattr(owner, "rules", None)
            if ruleset is not None:
                rules[agent.pk] = (owner.slug, ruleset.version, rules_document(ruleset))
                break
            seen.add(owner.pk)
            owner = agents.get(owner.supervisor_id) if owner.supervisor_id else None
        else:
            rules[agent.pk] = (None, None, None)
        overview = settings_overview(tenant=tenant, agent=agent)
        settings[agent.pk], keys[agent.pk] = overview.effective, overview.orchestrator_key
    policies = {p.agent_id: p.as_document() for p in GuardrailPolicy.objects.filter(tenant=tenant)}
    tenant_policy = policies.get(None)
    return TenantConfig(
        tenant_id=tenant.pk,
        agents=agents,
        by_slug={a.slug: a.pk for a in agents.values()},
        specs={a.pk: AgentSpec.from_agent(a) for a in agents.values()},
        intents=effective_intents(intent_rows(tenant=tenant)),
        domains=tuple(sorted({d for a in agents.values() for d in (a.domains or [])})),
        rules=rules,
        settings=settings,
        tenant_settings=settings_overview(tenant=tenant).effective,
        guardrails={pk: effective_policy(tenant_policy, policies.get(pk)) for pk in agents},
        tenant_guardrails=effective_policy(tenant_policy),
        orchestrator_keys=keys,
    )

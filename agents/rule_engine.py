"""The effective rules of an agent, compiled once, and their evaluation for one message.

The orchestrator and the admin's rule tester both compile an agent's rules from the tenant's
configuration snapshot (``orchestration.tenant_config``) and ``trace`` them, so the tester shows
exactly what the orchestrator would do; the approvals gate reads them with ``rules_for``.
Compiled rules are cached per rule set version in the process; a new version compiles anew.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from agents.action_registry import approval_condition_schema, totals_from
from agents.models import Agent
from agents.rule_sets import effective_ruleset, rules_document
from rules import (
    CompiledCondition,
    compile_condition,
    handoff_schema,
)


@dataclass(frozen=True)
class CompiledRules:
    owner: str | None  # the agent whose rule set applies (None: no rules anywhere)
    version: int | None
    escalation: dict[str, Any] | None
    # (condition, agent slug, workflow name): one of the two targets is None
    handoffs: tuple[tuple[CompiledCondition, str | None, str | None], ...]
    approvals: dict[str, Any] | None
    approval_conditions: dict[str, tuple[CompiledCondition | None, ...]] = field(
        default_factory=dict
    )


@lru_cache(maxsize=1024)
def _compile(owner: str | None, version: int | None, document_key: str) -> CompiledRules:
    document = json.loads(document_key)
    schema = handoff_schema()
    handoffs = tuple(
        (
            compile_condition(rule["condition"], schema),
            rule.get("targetAgentId"),
            rule.get("workflow"),
        )
        for rule in document["handoffs"]
    )
    conditions: dict[str, list[CompiledCondition | None]] = {}
    approvals = document["approvals"]
    for item in (approvals or {}).get("actions", []):
        when = item.get("when")
        compiled = None
        if when:
            compiled = compile_condition(when, approval_condition_schema(item["action"]))
        conditions.setdefault(item["action"], []).append(compiled)
    return CompiledRules(
        owner=owner,
        version=version,
        escalation=document["escalation"],
        handoffs=handoffs,
        approvals=approvals,
        approval_conditions={k: tuple(v) for k, v in conditions.items()},
    )


def compile_document(document: Mapping[str, Any] | None, *, owner=None, version=None):
    """Compile a rules document (live or a draft being tested)."""
    document = document or {"escalation": None, "handoffs": [], "approvals": None}
    return _compile(owner, version, json.dumps(document, sort_keys=True))


def rules_for(agent: Agent) -> CompiledRules:
    ruleset, owner = effective_ruleset(agent)
    return compile_document(
        rules_document(ruleset),
        owner=owner.slug if owner else None,
        version=ruleset.version if ruleset else None,
    )


# --- evaluation ---------------------------------------------------------------------------------


@dataclass
class RuleOutcome:
    """One rule's verdict for the tester and for decision events."""

    kind: str  # escalation | handoff | approval
    label: str
    fired: bool
    why: list[str]
    target: str | None = None
    fallback: str | None = None  # escalation: "human" when the target agent cannot resolve it
    workflow: str | None = None  # handoff: the workflow it starts, instead of an agent

    @property
    def destination(self) -> str | None:
        """Where it sends the conversation, as events name it: an agent's id, or
        ``workflow <name>``."""
        return f"workflow {self.workflow}" if self.workflow else self.target


TO_PEOPLE = "a human"  # the target of an escalation to people
FALLBACKS = {"human": TO_PEOPLE}


def fallback_attempts(escalation: Mapping[str, Any]) -> int:
    """How many consecutive failed attempts the agent escalated to has before a human takes
    over (an escalation with both ``targetAgentId`` and ``escalateToHuman``): the rule's
    ``maxAttempts``, or one when the rule escalates on intents only."""
    return escalation.get("maxAttempts") or 1


@dataclass
class Trace:
    outcomes: list[RuleOutcome]
    escalate: RuleOutcome | None = None
    handoff: RuleOutcome | None = None
    approval_needed: bool | None = None

    @property
    def decision(self) -> str:
        if self.escalate:
            if self.escalate.fallback:
                then = FALLBACKS[self.escalate.fallback]
                return f"escalate to {self.escalate.target}, then to {then} if it cannot resolve it"
            return f"escalate to {self.escalate.target}"
        if self.handoff and self.handoff.workflow:
            return f"start the {self.handoff.destination}"
        if self.handoff:
            return f"hand off to {self.handoff.target}"
        return "the current agent answers"


def trace(
    rules: CompiledRules,
    context: Mapping[str, Any],
    *,
    action: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> Trace:
    """Which rules fire for ``context``, in the orchestrator's order (SPEC 4.1 steps 5-6):
    escalation first, then handoff rules in order, first match wins; then, for a proposed
    action, whether it needs approval."""
    result = Trace(outcomes=[])
    escalation = rules.escalation
    if escalation:
        target = escalation["targetAgentId"] or TO_PEOPLE
        fallback = (
            "human" if escalation["targetAgentId"] and escalation["escalateToHuman"] else None
        )
        why = []
        fired = False
        intent = context.get("intent")
        if escalation["intents"]:
            hit = intent in escalation["intents"]
            fired |= hit
            why.append(f"intent {intent!r} {'is' if hit else 'is not'} in {escalation['intents']}")
        if escalation["maxAttempts"] is not None:
            attempts = context.get("attempts") or 0
            hit = attempts >= escalation["maxAttempts"]
            fired |= hit
            why.append(
                f"{attempts} failed attempt(s) {'reach' if hit else 'are below'} "
                f"maxAttempts {escalation['maxAttempts']}"
            )
        if fallback:
            why.append(
                f"{target} first; a human when it escalates again, fails "
                f"{fallback_attempts(escalation)} attempt(s) or is unavailable"
            )
        outcome = RuleOutcome("escalation", "escalation", fired, why, target, fallback)
        result.outcomes.append(outcome)
        if fired:
            result.escalate = outcome
    for index, (condition, target, workflow) in enumerate(rules.handoffs):
        label = f"handoffs[{index}]: {condition.source}"
        if result.escalate or result.handoff:
            result.outcomes.append(
                RuleOutcome(
                    "handoff",
                    label,
                    False,
                    ["not reached: an earlier rule fired"],
                    target,
                    workflow=workflow,
                )
            )
            continue
        fired = condition(context)
        outcome = RuleOutcome(
            "handoff", label, fired, condition.explain(context).lines(), target, workflow=workflow
        )
        result.outcomes.append(outcome)
        if fired:
            result.handoff = outcome
    if action is not None:
        needed, outcome = approval_verdict(rules, action, params or {}, context)
        result.approval_needed = needed
        result.outcomes.append(outcome)
    return result


def approval_verdict(
    rules: CompiledRules,
    action: str,
    params: Mapping[str, Any],
    context: Mapping[str, Any],
) -> tuple[bool, RuleOutcome]:
    """Whether ``action`` with ``params`` needs approval under ``rules``. ``context`` holds the
    conversation's names and ``totals`` (the gate reads them from the database)."""
    approvals = rules.approvals
    label = f"approval of {action}"
    if not approvals or not approvals["required"]:
        return False, RuleOutcome("approval", label, False, ["no approval rule applies"])
    conditions = rules.approval_conditions.get(action)
    if conditions is None:
        return False, RuleOutcome(
            "approval", label, False, [f"{action} is not among the actions that need approval"]
        )
    # running totals the caller did not give are 0 (a sum with a missing one would be null,
    # and the rule would not fire)
    scope = {"totals": totals_from({}), **context, "params": dict(params)}
    why = []
    for condition in conditions:
        if condition is None:
            return True, RuleOutcome("approval", label, True, [f"{action} always needs approval"])
        if condition(scope):
            why.extend(condition.explain(scope).lines())
            return True, RuleOutcome("approval", label, True, why)
        why.extend(condition.explain(scope).lines())
    return False, RuleOutcome("approval", label, False, why)

"""An agent's orchestration rules as a JSON document (the API's shape, SPEC 6): validation,
reading, replacing, updating section by section, clearing, versions and restore.

The same checks serve the API (whole documents) and the admin (one field at a time):
``handoff_condition_problem``, ``approval_when_problem``, ``approvers_problem``,
``escalation_problem``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from agents.action_registry import (
    action_names,
    approval_condition_schema,
    get_action,
)
from agents.models import Agent, ApprovalAction, HandoffRule, RuleSet, RuleVersion, Workflow
from core.config_version import config_changed
from core.errors import Invalid
from core.models import ApproverGroup, Membership
from rules import (
    ConditionError,
    check_condition,
    handoff_schema,
)

MAX_HANDOFFS = 100
MAX_ACTIONS = 50
MAX_APPROVERS = 50
TOP_LEVEL = {"escalation", "handoffs", "approvals"}
ESCALATION_KEYS = {"maxAttempts", "intents", "targetAgentId", "escalateToHuman"}
APPROVAL_KEYS = {"required", "actions", "approvers", "quorum"}


class RulesInvalid(Invalid):
    """``errors`` maps a field path (``handoffs[1].condition``) to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), fields=errors)


# --- checks shared with the admin -------------------------------------------------------------


def handoff_condition_problem(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return 'must be a condition, e.g. intent == "billing"'
    try:
        check_condition(text, handoff_schema())
    except ConditionError as exc:
        return str(exc)
    return None


def approval_when_problem(action: str, when: Any) -> str | None:
    if when in (None, ""):
        return None
    if not isinstance(when, str):
        return "must be a condition, e.g. params.amount + totals.refunded_24h > 100"
    try:
        check_condition(when, approval_condition_schema(action))
    except ConditionError as exc:
        return str(exc)
    return None


def action_problem(action: Any) -> str | None:
    if not isinstance(action, str) or get_action(action) is None:
        return f"unknown action '{action}' (known: {', '.join(action_names())})"
    return None


@dataclass
class ApproverCheck:
    problem: str | None = None
    people: set[int] = field(default_factory=set)


def approvers_problem(approvers: Any, tenant_id: int) -> ApproverCheck:
    """Whether every entry is an approver of the tenant or one of its approver groups; also
    who they are (to check a quorum against)."""
    if not isinstance(approvers, list) or not all(isinstance(a, str) for a in approvers):
        return ApproverCheck("must be a list of usernames or group:<name>")
    if len(approvers) > MAX_APPROVERS:
        return ApproverCheck(f"at most {MAX_APPROVERS} entries")
    usernames = {a for a in approvers if not a.startswith("group:")}
    groups = {a.removeprefix("group:") for a in approvers if a.startswith("group:")}
    members = dict(
        Membership.objects.filter(
            tenant_id=tenant_id, user__username__in=usernames, is_approver=True
        ).values_list("user__username", "user_id")
    )
    for username in sorted(usernames - set(members)):
        return ApproverCheck(f"'{username}' is not an approver of this tenant")
    found_groups = ApproverGroup.objects.filter(tenant_id=tenant_id, name__in=groups)
    group_names = {g.name for g in found_groups}
    for name in sorted(groups - group_names):
        return ApproverCheck(f"'group:{name}' is not an approver group of this tenant")
    people = set(members.values())
    people |= set(
        get_user_model()
        .objects.filter(pk__in=found_groups.values("members"))
        .values_list("pk", flat=True)
    )
    return ApproverCheck(None, people)


def escalation_problem(
    *, max_attempts: Any, intents: Any, has_target: bool, to_human: Any
) -> dict[str, str]:
    """What is wrong with an escalation rule. It escalates to ``targetAgentId``, to a human
    (``escalateToHuman``), or to both: the agent first, with a human as the fallback when
    that agent cannot resolve it (SPEC 4.1 step 5)."""
    errors: dict[str, str] = {}
    if max_attempts is not None and (
        not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1
    ):
        errors["maxAttempts"] = "must be a whole number of at least 1"
    if not isinstance(intents, list) or not all(isinstance(i, str) and i for i in intents):
        errors["intents"] = "must be a list of intent names"
    if not isinstance(to_human, bool):
        errors["escalateToHuman"] = "must be true or false"
    elif not to_human and not has_target:
        errors["targetAgentId"] = "give the agent to escalate to, or set escalateToHuman"
    if max_attempts is None and isinstance(intents, list) and not intents:
        errors.setdefault("maxAttempts", "give maxAttempts or intents: when to escalate")
    return errors


# --- whole documents ----------------------------------------------------------------------------


@dataclass
class CleanRules:
    """A validated document, normalised, with its agent ids and workflow names resolved
    (each handoff rule's ``(agent, workflow)``, one of them None)."""

    document: dict[str, Any]
    escalation_target: Agent | None = None
    handoff_targets: list[tuple[Agent | None, Workflow | None]] = field(default_factory=list)


def validate_rules(document: Any, *, agent: Agent) -> CleanRules:
    """Check a rules document for ``agent``; raises RulesInvalid naming every bad field."""
    errors: dict[str, list[str]] = {}

    def fail(where: str, message: str) -> None:
        errors.setdefault(where, []).append(message)

    if not isinstance(document, dict):
        raise RulesInvalid({"non_field_errors": ["The rules must be a JSON object."]})
    for key in sorted(set(document) - TOP_LEVEL):
        fail(key, "unknown field (expected escalation, handoffs, approvals)")

    agents = {a.slug: a for a in Agent.objects.filter(tenant_id=agent.tenant_id)}

    def target(where: str, slug: Any) -> Agent | None:
        if not isinstance(slug, str) or slug not in agents:
            fail(where, f"unknown agent '{slug}'")
            return None
        if slug == agent.slug:
            fail(where, "an agent cannot transfer to itself")
            return None
        return agents[slug]

    clean = CleanRules(document={"escalation": None, "handoffs": [], "approvals": None})

    escalation = document.get("escalation")
    if escalation is not None:
        if not isinstance(escalation, dict):
            fail("escalation", "must be an object")
        else:
            for key in sorted(set(escalation) - ESCALATION_KEYS):
                fail(f"escalation.{key}", "unknown field")
            slug = escalation.get("targetAgentId")
            for key, message in escalation_problem(
                max_attempts=escalation.get("maxAttempts"),
                intents=escalation.get("intents", []),
                has_target=slug is not None,
                to_human=escalation.get("escalateToHuman", False),
            ).items():
                fail(f"escalation.{key}", message)
            if slug is not None:
                clean.escalation_target = target("escalation.targetAgentId", slug)
            clean.document["escalation"] = {
                "maxAttempts": escalation.get("maxAttempts"),
                "intents": escalation.get("intents", []),
                "targetAgentId": slug,
                "escalateToHuman": escalation.get("escalateToHuman", False),
            }

    handoffs = document.get("handoffs", [])
    if not isinstance(handoffs, list):
        fail("handoffs", "must be a list")
        handoffs = []
    elif len(handoffs) > MAX_HANDOFFS:
        fail("handoffs", f"at most {MAX_HANDOFFS} rules")
        handoffs = []
    workflows: dict[str, Workflow] | None = None

    def workflow(where: str, name: Any) -> Workflow | None:
        nonlocal workflows
        if workflows is None:
            workflows = {w.name: w for w in Workflow.objects.filter(tenant_id=agent.tenant_id)}
        if not isinstance(name, str) or name not in workflows:
            fail(where, f"unknown workflow '{name}'")
            return None
        return workflows[name]

    for index, rule in enumerate(handoffs):
        where = f"handoffs[{index}]"
        if not isinstance(rule, dict):
            fail(where, "must be an object with condition and targetAgentId (or workflow)")
            continue
        for key in sorted(set(rule) - {"condition", "targetAgentId", "workflow"}):
            fail(f"{where}.{key}", "unknown field")
        problem = handoff_condition_problem(rule.get("condition"))
        if problem:
            fail(f"{where}.condition", problem)
        if rule.get("workflow") is not None:
            if rule.get("targetAgentId") is not None:
                fail(
                    f"{where}.workflow",
                    "a handoff rule goes to an agent (targetAgentId) or to a workflow, not both",
                )
            clean.handoff_targets.append((None, workflow(f"{where}.workflow", rule["workflow"])))
            clean.document["handoffs"].append(
                {"condition": rule.get("condition"), "workflow": rule["workflow"]}
            )
            continue
        clean.handoff_targets.append(
            (target(f"{where}.targetAgentId", rule.get("targetAgentId")), None)
        )
        clean.document["handoffs"].append(
            {"condition": rule.get("condition"), "targetAgentId": rule.get("targetAgentId")}
        )

    approvals = document.get("approvals")
    if approvals is not None:
        if not isinstance(approvals, dict):
            fail("approvals", "must be an object")
        else:
            clean.document["approvals"] = _validate_approvals(approvals, agent, fail)

    if errors:
        raise RulesInvalid(errors)
    return clean


def _validate_approvals(approvals: dict, agent: Agent, fail) -> dict[str, Any]:
    for key in sorted(set(approvals) - APPROVAL_KEYS):
        fail(f"approvals.{key}", "unknown field")
    required = approvals.get("required", True)
    if not isinstance(required, bool):
        fail("approvals.required", "must be true or false")
    actions = approvals.get("actions", [])
    normalised: list[dict[str, Any]] = []
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        fail("approvals.actions", f"must be a list of at most {MAX_ACTIONS} actions")
        actions = []
    for index, item in enumerate(actions):
        where = f"approvals.actions[{index}]"
        if isinstance(item, str):
            item = {"action": item}
        if not isinstance(item, dict):
            fail(where, 'must be an action name or {"action": ..., "when": ...}')
            continue
        for key in sorted(set(item) - {"action", "when"}):
            fail(f"{where}.{key}", "unknown field")
        problem = action_problem(item.get("action"))
        if problem:
            fail(f"{where}.action", problem)
        else:
            when_problem = approval_when_problem(item["action"], item.get("when"))
            if when_problem:
                fail(f"{where}.when", when_problem)
        normalised.append({"action": item.get("action"), "when": item.get("when") or None})
    approvers = approvals.get("approvers", [])
    check = approvers_problem(approvers, agent.tenant_id)
    if check.problem:
        fail("approvals.approvers", check.problem)
    elif required and normalised and not approvers:
        fail("approvals.approvers", "name at least one approver (a username or group:<name>)")
    quorum = approvals.get("quorum", 1)
    if not isinstance(quorum, int) or isinstance(quorum, bool) or quorum < 1:
        fail("approvals.quorum", "must be a whole number of at least 1")
    elif not check.problem and approvers and quorum > len(check.people):
        fail(
            "approvals.quorum",
            f"needs {quorum} distinct approvers but the approvers listed are "
            f"{len(check.people)} people",
        )
    return {"required": required, "actions": normalised, "approvers": approvers, "quorum": quorum}


def rules_document(ruleset: RuleSet | None) -> dict[str, Any] | None:
    """The rule set as a document (the API's shape), or None for no rules."""
    if ruleset is None:
        return None
    escalation = None
    if ruleset.has_escalation:
        escalation = {
            "maxAttempts": ruleset.max_attempts,
            "intents": ruleset.escalation_intents,
            "targetAgentId": ruleset.escalation_target.slug
            if ruleset.escalation_target_id
            else None,
            "escalateToHuman": ruleset.escalate_to_human,
        }
    approvals = None
    if ruleset.has_approvals:
        approvals = {
            "required": ruleset.approvals_required,
            "actions": [
                {"action": a.action, "when": a.when or None} for a in ruleset.actions.all()
            ],
            "approvers": ruleset.approvers,
            "quorum": ruleset.quorum,
        }
    return {
        "escalation": escalation,
        "handoffs": [
            {"condition": h.condition, "workflow": h.workflow.name}
            if h.workflow_id
            else {"condition": h.condition, "targetAgentId": h.target.slug}
            for h in ruleset.handoffs.all()
        ],
        "approvals": approvals,
    }


def ruleset_with_children(agent: Agent) -> RuleSet | None:
    return (
        RuleSet.objects.filter(agent=agent)
        .select_related("agent", "escalation_target")
        .prefetch_related("handoffs__target", "handoffs__workflow", "actions")
        .first()
    )


def effective_ruleset(agent: Agent) -> tuple[RuleSet | None, Agent | None]:
    """The rules that apply to ``agent``: its own, else its supervisor's (and so on up)."""
    seen: set[int] = set()
    current: Agent | None = agent
    while current is not None and current.pk not in seen:
        ruleset = ruleset_with_children(current)
        if ruleset is not None:
            return ruleset, current
        seen.add(current.pk)
        current = current.supervisor
    return None, None


# --- writes -----------------------------------------------------------------------------------


def _next_version(agent: Agent) -> int:
    last = RuleVersion.objects.filter(agent=agent).order_by("-version").first()
    return (last.version if last else 0) + 1


def rules_version_record(*, agent: Agent, user=None, via: str) -> RuleVersion:
    """Keep the agent's current rules as a new version (call inside the change's
    transaction)."""
    Agent.objects.select_for_update().filter(pk=agent.pk).first()
    config_changed(agent.tenant_id)
    version = _next_version(agent)
    ruleset = ruleset_with_children(agent)
    if ruleset is not None:
        RuleSet.objects.filter(pk=ruleset.pk).update(version=version, updated_by=user)
    return RuleVersion.objects.create(
        agent=agent,
        version=version,
        document=rules_document(ruleset),
        created_by=user if getattr(user, "pk", None) else None,
        via=via,
    )


SECTIONS = ("escalation", "handoffs", "approvals")
EMPTY_DOCUMENT: dict[str, Any] = {"escalation": None, "handoffs": [], "approvals": None}


@transaction.atomic
def rules_replace(*, agent: Agent, document: Any, user=None, via: str = "api") -> RuleSet:
    """Create or replace the agent's own rules with ``document`` as a whole (a section it
    leaves out is empty); raises RulesInvalid. Restores and stack imports use it."""
    Agent.objects.select_for_update().filter(pk=agent.pk).first()
    return _write(agent=agent, document=document, user=user, via=via)


@transaction.atomic
def rules_update(*, agent: Agent, changes: Any, user=None, via: str = "api") -> RuleSet:
    """Set the sections ``changes`` names and keep the agent's other sections as they are; a
    section given as ``null`` is cleared. One call is one version; raises RulesInvalid (the
    rules are then unchanged). An agent without rules of its own starts from empty ones, not
    from those it inherits. This is ``POST .../orchestration/rules``: the product docs set
    escalation, handoffs and approvals in three separate calls."""
    Agent.objects.select_for_update().filter(pk=agent.pk).first()
    if not isinstance(changes, dict):
        raise RulesInvalid({"non_field_errors": ["The rules must be a JSON object."]})
    document = dict(rules_document(ruleset_with_children(agent)) or EMPTY_DOCUMENT)
    for key, value in changes.items():
        document[key] = [] if key == "handoffs" and value is None else value
    return _write(agent=agent, document=document, user=user, via=via)


def _write(*, agent: Agent, document: Any, user, via: str) -> RuleSet:
    """Validate a whole document and make it the agent's rules (the agent row is locked)."""
    clean = validate_rules(document, agent=agent)
    doc = clean.document
    ruleset, _ = RuleSet.objects.get_or_create(agent=agent)
    escalation = doc["escalation"]
    ruleset.has_escalation = escalation is not None
    ruleset.max_attempts = escalation["maxAttempts"] if escalation else None
    ruleset.escalation_intents = escalation["intents"] if escalation else []
    ruleset.escalation_target = clean.escalation_target
    ruleset.escalate_to_human = bool(escalation and escalation["escalateToHuman"])
    approvals = doc["approvals"]
    ruleset.has_approvals = approvals is not None
    ruleset.approvals_required = approvals["required"] if approvals else True
    ruleset.approvers = approvals["approvers"] if approvals else []
    ruleset.quorum = approvals["quorum"] if approvals else 1
    ruleset.save()
    ruleset.handoffs.all().delete()
    ruleset.actions.all().delete()
    HandoffRule.objects.bulk_create(
        HandoffRule(
            ruleset=ruleset,
            position=i,
            condition=rule["condition"],
            target=target,
            workflow=workflow,
        )
        for i, (rule, (target, workflow)) in enumerate(
            zip(doc["handoffs"], clean.handoff_targets, strict=True)
        )
    )
    if approvals:
        ApprovalAction.objects.bulk_create(
            ApprovalAction(ruleset=ruleset, position=i, action=a["action"], when=a["when"] or "")
            for i, a in enumerate(approvals["actions"])
        )
    rules_version_record(agent=agent, user=user, via=via)
    return ruleset_with_children(agent)


@transaction.atomic
def rules_clear(*, agent: Agent, user=None, via: str = "api") -> bool:
    """Remove the agent's own rules so it falls back to inherited ones. False when it had
    none (nothing changes and no version is kept)."""
    Agent.objects.select_for_update().filter(pk=agent.pk).first()
    deleted, _ = RuleSet.objects.filter(agent=agent).delete()
    if not deleted:
        return False
    rules_version_record(agent=agent, user=user, via=via)
    return True


@transaction.atomic
def rules_restore(*, agent: Agent, version: RuleVersion, user=None) -> RuleSet | None:
    """Make an earlier version the current rules again (checked again: an agent it named
    may be gone)."""
    if version.agent_id != agent.pk:
        raise ValueError("that version belongs to another agent")
    if version.document is None:
        rules_clear(agent=agent, user=user, via="restore")
        return None
    return rules_replace(agent=agent, document=version.document, user=user, via="restore")

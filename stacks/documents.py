"""A stack as a versioned JSON document: its shape, export, id remapping and the checks that need
no tenant.

A stack is a supervisor with the agents that report to it (at any depth), their knowledge and
own rules, the orchestrator settings of the stack level, and the workflows whose steps all use
its agents. The document (camelCase, the API's shapes)::

    {"format": "stack-template", "version": 1, "name": "...", "description": "...",
     "agents": [{"id", "name", "role", "supervisorId", "domains", "pattern", "runtime",
                 "prompt", "knowledge": [...], "rules": {...} | null,
                 "allowedActions": [...] | null, "guardrails": {...} | null}, ...],
     "settings": {"handoffMode": "auto", ...},
     "workflows": [{"name", "stepBudget", "steps": [{"agent", "condition", "inputs",
                                                      "outputs"}]}]}

Agent ids are the template's own; an import prefixes them (``eu-`` + id) so one template can be
used twice in a tenant. ``static_errors`` checks what needs no tenant (shape, references inside
the template, conditions, actions, runtimes, settings), every problem at once with its JSON path;
the import adds what the tenant decides (ids taken, approvers) with the same validators.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from agents.guardrails.access import allowed_actions_problem
from agents.guardrails.policy import policy_problems
from agents.models import Agent, AgentRole, SettingsLevel, Workflow
from agents.orchestrator_settings import (
    settings_overview,
    stack_root,
    validate_changes,
)
from agents.rule_sets import (
    action_problem,
    approval_when_problem,
    handoff_condition_problem,
    rules_document,
    ruleset_with_children,
)
from agents.runtime_config import SECRET_NAMES, runtime_errors
from agents.serializers import KnowledgeSerializer
from agents.workflows import START, workflow_documents, workflow_list
from core.api_errors import flatten_errors
from core.errors import Invalid
from rules import (
    ConditionError,
    check_condition,
    workflow_schema,
)

FORMAT = "stack-template"
VERSION = 1
MAX_AGENTS = 100
MAX_WORKFLOWS = 50
TOP_LEVEL = {"format", "version", "name", "description", "agents", "settings", "workflows"}
AGENT_KEYS = {
    "id",
    "name",
    "role",
    "supervisorId",
    "domains",
    "pattern",
    "runtime",
    "prompt",
    "knowledge",
    "rules",
    "allowedActions",  # optional (older templates): null allows every action
    "guardrails",  # optional: the agent's own guardrail policy level, or null
}
PREFIX = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PREFIX_MAX_LENGTH = 20


class StackInvalid(Invalid):
    """``errors`` maps a JSON path (``agents[0].rules.handoffs[1].condition``) to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), fields=errors)


class Errors(dict[str, list[str]]):
    def add(self, path: str, message: str) -> None:
        messages = self.setdefault(path, [])
        if message not in messages:
            messages.append(message)

    def extend(self, prefix: str, errors: Mapping[str, list[str]]) -> None:
        for path, messages in errors.items():
            for message in messages:
                self.add(_join(prefix, path), str(message))


def _join(prefix: str, path: str) -> str:
    if path in ("", "non_field_errors", "__all__"):
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


# --- export ---------------------------------------------------------------------------------------


def stack_agents(root: Agent) -> list[Agent]:
    """``root`` and every agent reporting to it, at any depth: breadth first, by id within a
    level. One query for the tenant's agents (with knowledge and rules in a few more)."""
    agents = list(
        Agent.objects.filter(tenant_id=root.tenant_id)
        .select_related("supervisor")
        .select_related("guardrails")
        .prefetch_related("knowledge")
        .order_by("slug")
    )
    children: dict[int | None, list[Agent]] = {}
    for agent in agents:
        children.setdefault(agent.supervisor_id, []).append(agent)
    by_pk = {agent.pk: agent for agent in agents}
    ordered, queue, seen = [], [by_pk.get(root.pk, root)], set()
    while queue:
        agent = queue.pop(0)
        if agent.pk in seen:
            continue
        seen.add(agent.pk)
        ordered.append(agent)
        queue.extend(children.get(agent.pk, []))
    return ordered


def _runtime(agent: Agent) -> dict[str, Any]:
    # The runtime's secret (openai apiKey, webhook secret) is stored apart, encrypted, and never
    # leaves the tenant: the importer gives its own (runtime.apiKey, runtime.secret).
    return {"type": agent.runtime, **agent.runtime_config}


def secret_paths(document: Any) -> list[str]:
    """Where a stack document holds a runtime secret (``agents[0].runtime.apiKey``)."""
    agents = document.get("agents") if isinstance(document, Mapping) else None
    found = []
    for index, agent in enumerate(agents if isinstance(agents, list) else []):
        runtime = agent.get("runtime") if isinstance(agent, Mapping) else None
        if isinstance(runtime, Mapping):
            found.extend(
                f"agents[{index}].runtime.{name}"
                for name in sorted(set(SECRET_NAMES.values()))
                if name in runtime
            )
    return found


def _guardrails(agent: Agent) -> dict[str, Any] | None:
    policy = getattr(agent, "guardrails", None)
    return (policy.as_document() or None) if policy is not None else None


def stack_export(*, root: Agent, name: str | None = None, description: str = "") -> dict[str, Any]:
    """The stack whose top is ``root``'s stack root as a template document."""
    root = stack_root(root)
    agents = stack_agents(root)
    slugs = {agent.slug for agent in agents}
    documents = []
    for agent in agents:
        documents.append(
            {
                "id": agent.slug,
                "name": agent.name,
                "role": agent.role,
                "supervisorId": agent.supervisor.slug
                if agent.supervisor_id and agent.pk != root.pk
                else None,
                "domains": list(agent.domains),
                "pattern": agent.pattern if agent.is_supervisor else None,
                "runtime": _runtime(agent),
                "prompt": agent.prompt,
                "knowledge": [entry.as_document() for entry in agent.knowledge.all()],
                "rules": rules_document(ruleset_with_children(agent)),
                "allowedActions": agent.allowed_actions,
                "guardrails": _guardrails(agent),
            }
        )
    settings = settings_overview(tenant=root.tenant, agent=root).levels.get(
        str(SettingsLevel.STACK), {}
    )
    workflows = []
    for doc in workflow_documents(workflows_of_stack(root, slugs=slugs), warnings=False):
        workflows.append({k: doc[k] for k in ("name", "stepBudget", "steps")})
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": name or f"{root.name} stack",
        "description": description,
        "agents": documents,
        "settings": settings,
        "workflows": workflows,
    }


# --- remapping ------------------------------------------------------------------------------------


def new_id(prefix: str, template_id: str) -> str:
    return f"{prefix}-{template_id}" if prefix else template_id


def new_workflow_name(prefix: str, name: str) -> str:
    return f"{prefix}: {name}" if prefix else name


def remapped(document: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A copy of a (shape-checked) document with the template's agent ids prefixed in every
    place that names one, and the workflows' names prefixed. Ids the template does not define
    are left as they are (``static_errors`` reports them)."""
    doc = copy.deepcopy(document)
    ids = {a["id"] for a in doc["agents"] if isinstance(a.get("id"), str)}
    names = {
        w["name"]
        for w in doc.get("workflows") or []
        if isinstance(w, dict) and isinstance(w.get("name"), str)
    }

    def swap(value: Any) -> Any:
        return new_id(prefix, value) if isinstance(value, str) and value in ids else value

    def swap_workflow(value: Any) -> Any:
        if isinstance(value, str) and value in names:
            return new_workflow_name(prefix, value)
        return value

    for agent in doc["agents"]:
        agent["id"] = swap(agent.get("id"))
        agent["supervisorId"] = swap(agent.get("supervisorId"))
        rules = agent.get("rules")
        if isinstance(rules, dict):
            escalation = rules.get("escalation")
            if isinstance(escalation, dict) and "targetAgentId" in escalation:
                escalation["targetAgentId"] = swap(escalation["targetAgentId"])
            for rule in rules.get("handoffs") or []:
                if isinstance(rule, dict) and "targetAgentId" in rule:
                    rule["targetAgentId"] = swap(rule["targetAgentId"])
                if isinstance(rule, dict) and "workflow" in rule:
                    rule["workflow"] = swap_workflow(rule["workflow"])
    settings = doc.get("settings")
    if isinstance(settings, dict) and settings.get("chatWorkflow"):
        settings["chatWorkflow"] = swap_workflow(settings["chatWorkflow"])
    for workflow in doc.get("workflows") or []:
        if isinstance(workflow, dict):
            if isinstance(workflow.get("name"), str):
                workflow["name"] = new_workflow_name(prefix, workflow["name"])
            for step in workflow.get("steps") or []:
                if isinstance(step, dict):
                    step["agent"] = swap(step.get("agent"))
    return doc


def prefix_problem(prefix: Any) -> str | None:
    if prefix in (None, ""):
        return None
    if not isinstance(prefix, str) or not PREFIX.match(prefix):
        return "Use lowercase letters, digits and single hyphens (e.g. eu or shop-2)."
    if len(prefix) > PREFIX_MAX_LENGTH:
        return f"At most {PREFIX_MAX_LENGTH} characters."
    return None


# --- checks that need no tenant -------------------------------------------------------------------


def shape_errors(document: Any) -> Errors:
    """Problems that stop everything else: not a document of this format and version, or
    agents that are not objects with ids."""
    errors = Errors()
    if not isinstance(document, Mapping):
        errors.add("non_field_errors", "A stack template must be a JSON object.")
        return errors
    if document.get("format") != FORMAT:
        errors.add("format", f'must be "{FORMAT}"')
    version = document.get("version")
    if version != VERSION:
        errors.add(
            "version", f"version {version!r} is not supported (this product reads {VERSION})"
        )
    for key in sorted(set(document) - TOP_LEVEL, key=str):
        errors.add(str(key), "unknown field")
    agents = document.get("agents")
    if not isinstance(agents, list) or not agents:
        errors.add("agents", "must be a list of at least one agent")
    elif len(agents) > MAX_AGENTS:
        errors.add("agents", f"at most {MAX_AGENTS} agents")
    else:
        seen: dict[str, int] = {}
        for index, agent in enumerate(agents):
            where = f"agents[{index}]"
            if not isinstance(agent, Mapping):
                errors.add(where, "must be an object")
                continue
            agent_id = agent.get("id")
            if not isinstance(agent_id, str) or not agent_id:
                errors.add(f"{where}.id", "must be the agent's id (text)")
            elif agent_id in seen:
                errors.add(
                    f"{where}.id", f"'{agent_id}' is also the id of agents[{seen[agent_id]}]"
                )
            else:
                seen[agent_id] = index
    for key, kind in (("settings", Mapping), ("workflows", list)):
        if key in document and not isinstance(document[key], kind):
            errors.add(key, "must be an object" if kind is Mapping else "must be a list")
    workflows = document.get("workflows")
    if isinstance(workflows, list):
        if len(workflows) > MAX_WORKFLOWS:
            errors.add("workflows", f"at most {MAX_WORKFLOWS} workflows")
        for index, workflow in enumerate(workflows):
            if not isinstance(workflow, Mapping):
                errors.add(f"workflows[{index}]", "must be an object")
    for key in ("name", "description"):
        if key in document and not isinstance(document[key], str):
            errors.add(key, "must be text")
    return errors


def static_errors(document: Any, *, secrets_later: bool = False) -> Errors:
    """Every problem a template has whatever the tenant: shape, agents named but not in the
    template, a stack without exactly one top supervisor, unknown fields, runtimes, knowledge
    actions, rule conditions and actions, settings, workflow conditions. ``secrets_later``: a
    template to publish, whose runtimes' secrets the importer gives (none may be missing from
    a document to import)."""
    errors = shape_errors(document)
    if errors:
        return errors

    agents: list[Mapping] = document["agents"]
    ids = {agent["id"]: agent for agent in agents}

    workflow_names = {
        w.get("name") for w in document.get("workflows") or [] if isinstance(w, Mapping)
    }

    def known(where: str, value: Any, *, may_be_none: bool = False) -> None:
        if value is None and may_be_none:
            return
        if not isinstance(value, str) or value not in ids:
            errors.add(where, f"agent '{value}' is not in the template")

    def known_workflow(where: str, value: Any) -> None:
        if not isinstance(value, str) or value not in workflow_names:
            errors.add(where, f"workflow '{value}' is not in the template")

    roots = []
    for index, agent in enumerate(agents):
        where = f"agents[{index}]"
        for key in sorted(set(agent) - AGENT_KEYS, key=str):
            errors.add(f"{where}.{key}", "unknown field")
        if not isinstance(agent.get("name"), str) or not agent.get("name", "").strip():
            errors.add(f"{where}.name", "must be the agent's name")
        if agent.get("role") not in AgentRole.values:
            errors.add(f"{where}.role", f"must be one of {', '.join(AgentRole.values)}")
        supervisor = agent.get("supervisorId")
        if supervisor is None:
            roots.append(agent["id"])
        else:
            known(f"{where}.supervisorId", supervisor)
            if isinstance(supervisor, str) and ids.get(supervisor, {}).get("role") not in (
                None,
                AgentRole.SUPERVISOR,
            ):
                errors.add(f"{where}.supervisorId", f"'{supervisor}' is not a supervisor")
        runtime = agent.get("runtime", {"type": "builtin"})
        if not isinstance(runtime, Mapping):
            errors.add(f"{where}.runtime", 'must be an object such as {"type": "builtin"}')
        else:
            for key, message in runtime_errors(
                runtime.get("type", "builtin"), runtime, stored=secrets_later
            ).items():
                errors.add(f"{where}.runtime.{key}" if key else f"{where}.runtime", message)
        knowledge = agent.get("knowledge", [])
        serializer = KnowledgeSerializer(data=knowledge, many=True)
        if not serializer.is_valid():
            errors.extend(f"{where}.knowledge", flatten_errors(serializer.errors))
        rules = agent.get("rules")
        if rules is not None:
            _rules_static(errors, f"{where}.rules", rules, known, known_workflow)
        problem = allowed_actions_problem(agent.get("allowedActions"))
        if problem:
            errors.add(f"{where}.allowedActions", problem)
        guardrails = agent.get("guardrails")
        if guardrails is not None:
            for key, message in policy_problems(guardrails).items():
                errors.add(f"{where}.guardrails.{key}" if key else f"{where}.guardrails", message)
    if len(roots) != 1:
        errors.add(
            "agents",
            "a stack has exactly one top agent (without supervisorId); "
            f"this template has {len(roots)}",
        )
    elif ids[roots[0]].get("role") != AgentRole.SUPERVISOR:
        errors.add("agents", f"the top agent '{roots[0]}' must be a supervisor")
    settings = document.get("settings") or {}
    try:
        validate_changes(level=SettingsLevel.STACK, changes=settings)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            for message in messages:
                errors.add(f"settings.{name}", message)
    for index, workflow in enumerate(document.get("workflows") or []):
        _workflow_static(errors, f"workflows[{index}]", workflow, known)
    return errors


def _rules_static(errors: Errors, where: str, rules: Any, known, known_workflow) -> None:
    """Conditions, actions and thresholds of a rules document; the rest (approvers, the shape
    in detail) is the rules validator's at import."""
    if not isinstance(rules, Mapping):
        errors.add(where, "must be an object with escalation, handoffs and approvals, or null")
        return
    escalation = rules.get("escalation")
    if isinstance(escalation, Mapping):
        known(
            f"{where}.escalation.targetAgentId", escalation.get("targetAgentId"), may_be_none=True
        )
    handoffs = rules.get("handoffs") or []
    for index, rule in enumerate(handoffs if isinstance(handoffs, list) else []):
        if not isinstance(rule, Mapping):
            continue
        problem = handoff_condition_problem(rule.get("condition"))
        if problem:
            errors.add(f"{where}.handoffs[{index}].condition", problem)
        if rule.get("workflow") is not None:
            known_workflow(f"{where}.handoffs[{index}].workflow", rule["workflow"])
        else:
            known(f"{where}.handoffs[{index}].targetAgentId", rule.get("targetAgentId"))
    approvals = rules.get("approvals")
    actions = approvals.get("actions", []) if isinstance(approvals, Mapping) else []
    for index, item in enumerate(actions if isinstance(actions, list) else []):
        if isinstance(item, str):
            item = {"action": item}
        if not isinstance(item, Mapping):
            continue
        path = f"{where}.approvals.actions[{index}]"
        problem = action_problem(item.get("action"))
        if problem:
            errors.add(f"{path}.action", problem)
            continue
        problem = approval_when_problem(item["action"], item.get("when"))
        if problem:
            errors.add(f"{path}.when", problem)


def _workflow_static(errors: Errors, where: str, workflow: Mapping, known) -> None:
    steps = workflow.get("steps")
    if not isinstance(steps, list):
        return  # the workflow validator says what is wrong at import
    earlier: list[str] = []
    for index, step in enumerate(steps):
        if not isinstance(step, Mapping):
            continue
        path = f"{where}.steps[{index}]"
        known(f"{path}.agent", step.get("agent"))
        condition = step.get("condition")
        if index > 0 and isinstance(condition, str) and condition.strip() != START:
            try:
                check_condition(condition.strip(), workflow_schema(earlier))
            except ConditionError as exc:
                errors.add(f"{path}.condition", str(exc))
        outputs = step.get("outputs", [])
        if isinstance(outputs, list):
            earlier.extend(o.strip() for o in outputs if isinstance(o, str) and o not in earlier)


def document_summary(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a (shape-checked) document holds, for lists: counts and names."""
    agents = document.get("agents") or []
    return {
        "agents": len(agents),
        "supervisor": next(
            (a.get("name") for a in agents if isinstance(a, Mapping) and not a.get("supervisorId")),
            None,
        ),
        "workflows": [
            w.get("name") for w in document.get("workflows") or [] if isinstance(w, Mapping)
        ],
    }


def workflows_of_stack(root: Agent, *, slugs: set[str] | None = None) -> list[Workflow]:
    """The tenant's workflows whose every step uses an agent of ``root``'s stack (``slugs``:
    its agents' ids, when already known)."""

    if slugs is None:
        slugs = {agent.slug for agent in stack_agents(root)}
    return [
        w
        for w in workflow_list(tenant=root.tenant)
        if (steps := list(w.steps.all())) and all(s.agent.slug in slugs for s in steps)
    ]

"""Workflows (SPEC 4.4): the validator shared by the API and the admin, the services that write a
workflow, and the selectors that read them.

A workflow document has the API's shape (camelCase)::

    {"name": "Triage", "stepBudget": 10,
     "steps": [{"agent": "agent-triage", "condition": "start", "inputs": ["all"],
                "outputs": ["category"]},
               {"agent": "agent-tech", "condition": 'category == "technical"',
                "inputs": ["category", "context"]}]}

A step's ``inputs`` name what it receives (SPEC 4.4): ``all`` alone (everything, the default),
or any of ``context`` (the conversation so far: transcript, customer, signals), the
conversation names (``intent``, ``sentiment``, ``risk``, ``channel``, ``attempts``, ``turns``,
``language``, ``customer``) and the outputs of earlier steps.

``agent`` is the agent's id (slug) in the tenant, or an ``Agent`` (the admin passes the row it
chose). ``workflow_validate`` checks a whole document and raises ``WorkflowInvalid`` whose
``errors`` map field paths (``steps[1].condition``) to messages; the API answers them as they
are and the admin puts each on the step's field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Prefetch, ProtectedError, QuerySet

from agents.models import Agent, Workflow, WorkflowStep
from agents.rule_lint import LintScope, workflow_findings
from core.errors import Conflict, Invalid
from core.models import Tenant
from core.scoping import scope_queryset
from rules import CONVERSATION_NAMES as _CONDITION_NAMES
from rules import (
    ConditionError,
    check_condition,
    workflow_schema,
)
from rules.tokens import KEYWORDS

MAX_STEPS = 50
MIN_STEP_BUDGET = 1
MAX_STEP_BUDGET = 100
DEFAULT_STEP_BUDGET = 10
MAX_NAMES_PER_STEP = 50
MAX_IDENTIFIER_LENGTH = 100
NAME_MAX_LENGTH = Workflow._meta.get_field("name").max_length

START = "start"
"""The condition of the entry step, and only of it."""

ALL = "all"
"""``inputs: ["all"]``: the step receives everything: the conversation context and every output
gathered so far."""

CONTEXT = "context"
"""``inputs: [..., "context"]``: the step receives the conversation so far: its transcript, the
customer and the signals of the current message (intent, sentiment, risk)."""

DEFAULT_INPUTS = (ALL,)

CONVERSATION_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(key.split(".", 1)[0] for key in _CONDITION_NAMES)
)
"""What every step can read about the conversation: intent, sentiment, risk, channel,
attempts, turns, language, customer, verified. Outputs may not shadow them."""

RESERVED_NAMES = frozenset({START, ALL, CONTEXT}) | KEYWORDS
"""Names an output may not take: the markers above and the condition language's keywords."""

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

REQUIRED = "This field is required."
STEP_BUDGET_MESSAGE = f"Must be a whole number from {MIN_STEP_BUDGET} to {MAX_STEP_BUDGET}."
NAME_TAKEN = "A workflow with this name already exists."


class WorkflowInvalid(Invalid):
    """A workflow document that cannot be saved. ``errors`` maps a field path (``name``,
    ``steps``, ``steps[1].condition``) to its messages, in document order."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(fields=errors)


class WorkflowInUse(Conflict):
    """The workflow cannot be deleted: other rows still point at it."""


@dataclass(frozen=True, slots=True)
class StepSpec:
    agent: Agent
    condition: str
    inputs: list[str]
    outputs: list[str]


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    """A validated workflow document, ready to write."""

    name: str
    step_budget: int
    steps: list[StepSpec]


# --- checks ------------------------------------------------------------------------------------


def step_budget_problem(value: Any) -> str | None:
    """Why ``value`` is not a step budget, or None. The admin's form uses it for its field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return STEP_BUDGET_MESSAGE
    if isinstance(value, float) and not value.is_integer():
        return STEP_BUDGET_MESSAGE
    if not MIN_STEP_BUDGET <= value <= MAX_STEP_BUDGET:
        return STEP_BUDGET_MESSAGE
    return None


class _Errors(dict[str, list[str]]):
    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)


def workflow_validate(
    *, tenant: Tenant, data: Any, workflow: Workflow | None = None
) -> WorkflowSpec:
    """Check a whole workflow document for ``tenant`` (``workflow``: the one being replaced,
    whose own name is not a clash). Returns the clean spec or raises ``WorkflowInvalid``.

    Costs at most two queries: the name's uniqueness and the agents, fetched together.
    """
    errors = _Errors()
    if not isinstance(data, Mapping):
        raise WorkflowInvalid({"non_field_errors": ["Expected a JSON object."]})
    name = _clean_name(errors, tenant, data.get("name"), workflow)
    step_budget = _clean_step_budget(errors, data.get("stepBudget", DEFAULT_STEP_BUDGET))
    steps = _clean_steps(errors, tenant, data.get("steps"))
    if errors:
        raise WorkflowInvalid(dict(errors))
    return WorkflowSpec(name=name, step_budget=step_budget, steps=steps)


def _clean_name(errors: _Errors, tenant: Tenant, raw: Any, workflow: Workflow | None) -> str:
    if raw is None:
        errors.add("name", REQUIRED)
        return ""
    if not isinstance(raw, str):
        errors.add("name", "Must be text.")
        return ""
    name = raw.strip()
    if not name:
        errors.add("name", "A workflow needs a name.")
    elif len(name) > NAME_MAX_LENGTH:
        errors.add("name", f"At most {NAME_MAX_LENGTH} characters.")
    elif _name_taken(tenant, name, workflow):
        errors.add("name", NAME_TAKEN)
    return name


def _name_taken(tenant: Tenant, name: str, workflow: Workflow | None) -> bool:
    others = Workflow.objects.filter(tenant=tenant, name=name)
    if workflow is not None and workflow.pk is not None:
        others = others.exclude(pk=workflow.pk)
    return others.exists()


def _clean_step_budget(errors: _Errors, raw: Any) -> int:
    problem = step_budget_problem(raw)
    if problem:
        errors.add("stepBudget", problem)
        return DEFAULT_STEP_BUDGET
    return int(raw)


def _clean_steps(errors: _Errors, tenant: Tenant, raw: Any) -> list[StepSpec]:
    if raw is None:
        errors.add("steps", REQUIRED)
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        errors.add("steps", "Must be a list of steps.")
        return []
    if not raw:
        errors.add("steps", "A workflow needs at least one step.")
        return []
    if len(raw) > MAX_STEPS:
        errors.add("steps", f"At most {MAX_STEPS} steps (this has {len(raw)}).")
        return []

    agents = _agents_by_slug(tenant, raw)
    # Every output each step declares (valid or not), to tell "declared too late" apart from
    # "declared nowhere" in the inputs' messages.
    declared_at: dict[str, int] = {}
    for index, step in enumerate(raw):
        outputs = step.get("outputs") if isinstance(step, Mapping) else None
        if isinstance(outputs, list):
            for name in outputs:
                if isinstance(name, str):
                    declared_at.setdefault(name.strip(), index)

    earlier: list[str] = []  # valid outputs of the steps before the current one, in order
    steps: list[StepSpec] = []
    for index, step in enumerate(raw):
        path = f"steps[{index}]"
        if not isinstance(step, Mapping):
            errors.add(path, "Must be an object with agent, condition, inputs and outputs.")
            continue
        agent = _clean_agent(errors, f"{path}.agent", step.get("agent"), tenant, agents)
        condition = _clean_condition(
            errors, f"{path}.condition", step.get("condition"), index, earlier
        )
        inputs = _clean_inputs(
            errors, f"{path}.inputs", step.get("inputs", list(DEFAULT_INPUTS)), earlier, declared_at
        )
        outputs = _clean_outputs(errors, f"{path}.outputs", step.get("outputs", []))
        earlier.extend(name for name in outputs if name not in earlier)
        if agent is not None:
            steps.append(StepSpec(agent=agent, condition=condition, inputs=inputs, outputs=outputs))
    return steps


def _agents_by_slug(tenant: Tenant, steps: Sequence[Any]) -> dict[str, Agent]:
    slugs = {
        step.get("agent")
        for step in steps
        if isinstance(step, Mapping) and isinstance(step.get("agent"), str)
    }
    if not slugs:
        return {}
    found = Agent.objects.filter(tenant=tenant, slug__in=slugs)
    return {agent.slug: agent for agent in found}


def _clean_agent(
    errors: _Errors, path: str, raw: Any, tenant: Tenant, agents: dict[str, Agent]
) -> Agent | None:
    if isinstance(raw, Agent):
        # Chosen in the admin. An agent of another tenant reads as unknown, like a slug would.
        if raw.tenant_id == tenant.pk:
            return raw
        errors.add(path, f"unknown agent '{raw.slug}'")
        return None
    if raw is None or raw == "":
        errors.add(path, REQUIRED)
        return None
    if not isinstance(raw, str):
        errors.add(path, "Must be an agent id (text).")
        return None
    agent = agents.get(raw)
    if agent is None:
        errors.add(path, f"unknown agent '{raw}'")
    return agent


def _clean_condition(errors: _Errors, path: str, raw: Any, index: int, earlier: list[str]) -> str:
    if raw is None:
        errors.add(path, REQUIRED)
        return ""
    if not isinstance(raw, str):
        errors.add(path, 'Must be text: a condition, or "start" for the first step.')
        return ""
    text = raw.strip()
    if index == 0:
        if text != START:
            errors.add(path, f'The first step\'s condition must be "{START}".')
        return text
    if text == START:
        errors.add(path, f'"{START}" marks the entry step; only the first step may use it.')
        return text
    try:
        check_condition(text, workflow_schema(earlier))
    except ConditionError as exc:
        errors.add(path, str(exc))
    return text


def _name_list(errors: _Errors, path: str, raw: Any) -> list[str] | None:
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        errors.add(path, "Must be a list of names.")
        return None
    if len(raw) > MAX_NAMES_PER_STEP:
        errors.add(path, f"At most {MAX_NAMES_PER_STEP} names.")
        return None
    names: list[str] = []
    for name in (item.strip() for item in raw):
        if name not in names:
            names.append(name)
        else:  # reported, and kept once so later steps are checked against it
            errors.add(path, f"'{name}' is listed twice.")
    return names


def _clean_inputs(
    errors: _Errors, path: str, raw: Any, earlier: list[str], declared_at: dict[str, int]
) -> list[str]:
    names = _name_list(errors, path, raw)
    if names is None:
        return []
    if ALL in names:
        if len(names) > 1:
            errors.add(path, f'"{ALL}" stands alone: use ["{ALL}"] or list the names.')
            return []
        return names
    ok = True
    for name in names:
        if name == CONTEXT or name in CONVERSATION_NAMES or name in earlier:
            continue
        ok = False
        if name in declared_at:
            errors.add(
                path,
                f"'{name}' is not an output of an earlier step "
                f"(steps[{declared_at[name]}] declares it); a step receives only what the "
                "conversation or earlier steps provide.",
            )
        else:
            errors.add(
                path,
                f'unknown input \'{name}\': use "{ALL}", "{CONTEXT}", a conversation name '
                f"({', '.join(CONVERSATION_NAMES)}) or an output of an earlier step.",
            )
    return names if ok else []


def _clean_outputs(errors: _Errors, path: str, raw: Any) -> list[str]:
    names = _name_list(errors, path, raw)
    if names is None:
        return []
    valid: list[str] = []
    for name in names:
        if not IDENTIFIER.fullmatch(name) or len(name) > MAX_IDENTIFIER_LENGTH:
            errors.add(
                path,
                f"'{name}' is not a valid name: use letters, digits and _, "
                f"not starting with a digit, at most {MAX_IDENTIFIER_LENGTH} characters.",
            )
        elif name in CONVERSATION_NAMES:
            errors.add(path, f"'{name}' is a conversation name; choose another output name.")
        elif name in RESERVED_NAMES:
            errors.add(path, f"'{name}' is a reserved word; choose another output name.")
        else:
            valid.append(name)
    return valid


# --- services ----------------------------------------------------------------------------------


def _save_workflow(workflow: Workflow) -> None:
    """Save the row; a name taken by a concurrent writer is the same 400 as one taken before."""
    try:
        with transaction.atomic():
            workflow.save()
    except IntegrityError:
        if _name_taken(workflow.tenant, workflow.name, workflow):
            raise WorkflowInvalid({"name": [NAME_TAKEN]}) from None
        raise


def _write_steps(workflow: Workflow, steps: list[StepSpec]) -> None:
    WorkflowStep.objects.filter(workflow=workflow).delete()
    WorkflowStep.objects.bulk_create(
        WorkflowStep(
            workflow=workflow,
            position=index,
            agent=step.agent,
            condition=step.condition,
            inputs=step.inputs,
            outputs=step.outputs,
        )
        for index, step in enumerate(steps, start=1)
    )


@transaction.atomic
def workflow_create(*, tenant: Tenant, data: Any) -> Workflow:
    """Validate ``data`` (the API's document) and create the workflow with its steps."""
    spec = workflow_validate(tenant=tenant, data=data)
    workflow = Workflow(tenant=tenant, name=spec.name, step_budget=spec.step_budget)
    _save_workflow(workflow)
    _write_steps(workflow, spec.steps)
    return workflow


@transaction.atomic
def workflow_replace(*, workflow: Workflow, data: Any) -> Workflow:
    """Validate ``data`` and replace the workflow's name, budget and all its steps."""
    locked = (
        Workflow.objects.select_for_update(of=("self",))
        .select_related("tenant")
        .get(pk=workflow.pk)
    )
    spec = workflow_validate(tenant=locked.tenant, data=data, workflow=locked)
    locked.name = spec.name
    locked.step_budget = spec.step_budget
    _save_workflow(locked)
    _write_steps(locked, spec.steps)
    return locked


@transaction.atomic
def workflow_delete(*, workflow: Workflow) -> None:
    try:
        workflow.delete()
    except ProtectedError as exc:
        users = sorted({f"{obj._meta.verbose_name} “{obj}”" for obj in exc.protected_objects})
        raise WorkflowInUse(
            f"The workflow “{workflow.name}” is still in use by {', '.join(users[:5])}"
            + (" and more" if len(users) > 5 else "")
            + "."
        ) from None


# --- selectors ---------------------------------------------------------------------------------


def _with_steps(queryset: QuerySet[Workflow]) -> QuerySet[Workflow]:
    steps = WorkflowStep.objects.select_related("agent").order_by("position", "id")
    return queryset.prefetch_related(Prefetch("steps", queryset=steps))


def workflow_list(*, tenant: Tenant) -> QuerySet[Workflow]:
    """The tenant's workflows by name, with their steps and agents (two queries in all)."""
    return _with_steps(scope_queryset(Workflow.objects.all(), tenant)).order_by("name", "id")


def workflow_get(*, tenant: Tenant, workflow_id: Any) -> Workflow | None:
    """One of the tenant's workflows with its steps, or None (also for another tenant's)."""
    try:
        pk = int(workflow_id)
    except (TypeError, ValueError):
        return None
    return _with_steps(scope_queryset(Workflow.objects.all(), tenant)).filter(pk=pk).first()


def workflow_documents(
    workflows: Iterable[Workflow], *, warnings: bool = True
) -> list[dict[str, Any]]:
    """:func:`workflow_document` of each, linted with one scope of their tenant (a fixed
    number of queries however many); ``warnings=False``: without them (a stack's export)."""
    workflows = list(workflows)
    scope = LintScope.of(workflows[0].tenant_id) if warnings and workflows else None
    return [workflow_document(workflow, scope=scope, warnings=warnings) for workflow in workflows]


def workflow_document(
    workflow: Workflow, *, scope: LintScope | None = None, warnings: bool = True
) -> dict[str, Any]:
    """The workflow in the API's shape, with its ``warnings``: the rule lint's findings
    (``agents.rule_lint.workflow_findings``, ``[{path, code, message}]``; ``scope``: the
    tenant's, read here when not given). Reads ``workflow.steps.all()`` (prefetched by the
    selectors above)."""
    document = {
        "id": workflow.pk,
        "name": workflow.name,
        "stepBudget": workflow.step_budget,
        "steps": [
            {
                "agent": step.agent.slug,
                "condition": step.condition,
                "inputs": step.inputs,
                "outputs": step.outputs,
            }
            for step in workflow.steps.all()
        ],
        "createdAt": workflow.created_at,
        "updatedAt": workflow.updated_at,
    }
    if warnings:
        scope = scope or LintScope.of(workflow.tenant_id)
        document["warnings"] = [f.as_dict() for f in workflow_findings(document, scope)]
    return document

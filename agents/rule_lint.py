"""Rule lint with the tenant's names (issue 20, point 5): warnings, never refusals.

``rules.lint`` decides what a condition gets wrong on its own (unknown values, conditions that
never hold, rules shadowed by earlier ones); this module gives it the tenant's vocabulary and
adds what needs the whole team:

- ``unknown_intent``: an intent (in a condition or an escalation's ``intents``) that is neither
  one of the tenant's intents (the default intents when it configured none) nor a specialist's
  domain, which the detector also uses as an intent; with "did you mean";
- ``unknown_risk_category``, ``unknown_channel``: a risk category or channel that does not exist;
- ``agent_in_condition``: a condition that compares an intent (or a workflow's ``category``)
  with an agent's id, which never matches (the agent goes in ``targetAgentId``);
- ``never_holds``, ``shadowed``: from ``rules.lint``;
- ``escalation_loop``: agents that escalate to each other in a circle with no person as the
  fallback anywhere on it (each escalation bounces the conversation on);
- ``step_never_runs``: a workflow step whose condition never holds, one past the workflow's
  step budget, or one that needs an output that the earlier steps declaring it never give (a
  built-in agent gives ``category``, ``resolution``, ``answered`` and its knowledge entries'
  outputs; openai and webhook agents give what the step asks for);
- ``output_set_conditionally``: a workflow step that needs an output only steps that run
  conditionally give: while none of them has run the output is null, comparisons with null
  are false, and the step cannot run;
- ``unknown_category``: a workflow condition comparing ``category`` (the agent's domain
  matching the intent, else the intent) with a value no intent or domain has.

``LintScope.of(tenant)`` reads what the lint needs in a fixed number of queries (however many
agents, rules and workflows); then everything is in
memory. The rules API answers ``warnings`` from ``rules_warnings``; the admin shows them as
messages on save, the rule tester and the canvas beside the rules. Workflows have one lint,
``workflow_findings``: the workflows API's ``warnings``, the workflow admin's messages, the
stack import and the canvas all read it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

from agents.detectors.intent import DEFAULT_INTENTS
from agents.models import Agent, Intent, KnowledgeEntry, RiskCategory, Workflow
from agents.rule_sets import rules_document
from agents.runtimes.base import default_output_names
from conversations.models import Channel
from rules import ConditionError, parse
from rules.lint import (
    Enumerated,
    Finding,
    Vocabulary,
    lint_condition,
    lint_first_match,
    never_holds,
    unknown_value_message,
)
from rules.nodes import Compare, Literal, Name, walk

UNKNOWN_INTENT = "unknown_intent"
UNKNOWN_RISK_CATEGORY = "unknown_risk_category"
UNKNOWN_CHANNEL = "unknown_channel"
UNKNOWN_CATEGORY = "unknown_category"
AGENT_IN_CONDITION = "agent_in_condition"
ESCALATION_LOOP = "escalation_loop"
STEP_NEVER_RUNS = "step_never_runs"
OUTPUT_SET_CONDITIONALLY = "output_set_conditionally"

# what the built-in and openai runtimes give a workflow (agents.runtimes.base.default_outputs);
# a webhook may return any output
FIXED_OUTPUTS = frozenset(default_output_names())


@dataclass
class LintScope:
    """What the lint knows of one tenant: its agents (with their own rules), intents and
    workflows."""

    agents: dict[str, Agent]
    documents: dict[str, dict[str, Any] | None]  # each agent's own rules document, or None
    intents: frozenset[str]
    domains: frozenset[str]
    workflows: list[Workflow] = field(default_factory=list)
    # the outputs each built-in agent's knowledge entries set, by agent id: read on first need
    # (one query), since most workflows read only the outputs every runtime gives
    tenant_id: int | None = None
    _knowledge: dict[int, frozenset[str]] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, tenant_id: int) -> LintScope:
        agents = {
            a.slug: a
            for a in Agent.objects.filter(tenant_id=tenant_id).prefetch_related(
                "rules__handoffs__target", "rules__actions", "rules__escalation_target"
            )
        }

        configured = set(Intent.objects.filter(tenant_id=tenant_id).values_list("name", flat=True))
        intents = configured or {spec.name for spec in DEFAULT_INTENTS}
        domains = {d for a in agents.values() for d in (a.domains or []) if isinstance(d, str)}
        workflows = list(
            Workflow.objects.filter(tenant_id=tenant_id).prefetch_related("steps__agent")
        )
        return cls(
            agents=agents,
            documents={
                slug: rules_document(getattr(a, "rules", None)) for slug, a in agents.items()
            },
            intents=frozenset(intents),
            domains=frozenset(domains),
            workflows=workflows,
            tenant_id=tenant_id,
        )

    def knowledge_outputs(self, agent: Agent) -> frozenset[str]:
        """The outputs ``agent``'s knowledge entries set (one query for the whole tenant, the
        first time one is asked)."""
        if self._knowledge is None:
            found: dict[int, set[str]] = {}
            for agent_id, outputs in KnowledgeEntry.objects.filter(
                agent__tenant_id=self.tenant_id, agent__runtime="builtin"
            ).values_list("agent_id", "outputs"):
                found.setdefault(agent_id, set()).update(outputs or {})
            self._knowledge = {pk: frozenset(names) for pk, names in found.items()}
        return self._knowledge.get(agent.pk, frozenset())

    def never_gives(self, agent: Agent | None, name: str) -> bool:
        """Whether ``agent``, run as a workflow step, can never set the output ``name``: a
        built-in agent sets the default outputs and those of its knowledge entries; openai
        (its outputs tool) and webhook agents set what the step asks for."""
        if agent is None or agent.runtime != "builtin" or name in FIXED_OUTPUTS:
            return False
        return name not in self.knowledge_outputs(agent)

    # --- vocabulary ---

    @property
    def known_intents(self) -> frozenset[str]:
        return self.intents | self.domains

    def vocabulary(self, outputs: Sequence[str] = ()) -> Vocabulary:
        names = {
            "intent": Enumerated(
                "intent",
                self.known_intents,
                code=UNKNOWN_INTENT,
                hint="intents and specialists' domains",
            ),
            "risk": Enumerated(
                "risk category", frozenset(RiskCategory.values), True, UNKNOWN_RISK_CATEGORY
            ),
            "channel": Enumerated("channel", frozenset(Channel.values), code=UNKNOWN_CHANNEL),
        }
        if "category" in outputs:
            names["category"] = Enumerated(
                "category",
                self.known_intents,
                code=UNKNOWN_CATEGORY,
                hint="intents and specialists' domains",
            )
        return Vocabulary(names)

    # --- rules ---

    def effective(
        self, slug: str, documents: Mapping[str, Any] | None = None
    ) -> tuple[str | None, dict[str, Any] | None]:
        """(owner, document) of the rules that apply to ``slug``: its own, else up the chain
        (``documents``: the agents' own rules, when not the stored ones)."""
        documents = self.documents if documents is None else documents
        seen: set[str] = set()
        current = self.agents.get(slug)
        while current is not None and current.slug not in seen:
            document = documents.get(current.slug)
            if document is not None:
                return current.slug, document
            seen.add(current.slug)
            current = self._supervisor(current)
        return None, None

    def _supervisor(self, agent: Agent) -> Agent | None:
        if agent.supervisor_id is None:
            return None
        return next((a for a in self.agents.values() if a.pk == agent.supervisor_id), None)


# --- conditions ---------------------------------------------------------------------------------


def _parsed(text: Any) -> Any:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return parse(text)
    except ConditionError:
        return None  # refused by validation, not the lint's business


def _agent_findings(node: Any, scope: LintScope, path: str) -> list[Finding]:
    """``intent == "agent-billing"``: an agent's id where an intent is compared."""
    findings = []
    for current in walk(node):
        if not isinstance(current, Compare):
            continue
        for name, other in ((current.left, current.right), (current.right, current.left)):
            if not (isinstance(name, Name) and name.dotted in ("intent", "category")):
                continue
            values = [other] if isinstance(other, Literal) else getattr(other, "items", ())
            for item in values:
                value = getattr(item, "value", None)
                if isinstance(value, str) and value in scope.agents:
                    findings.append(
                        Finding(
                            path,
                            AGENT_IN_CONDITION,
                            f'"{value}" is an agent, not an {name.dotted}: it never matches; '
                            "name the agent as the rule's target instead",
                            value,
                        )
                    )
    return findings


def _without_agents(findings: list[Finding], agent_findings: list[Finding]) -> list[Finding]:
    """An agent's id is reported once, as an agent, not also as an unknown intent."""
    named = {(f.path, f.value) for f in agent_findings}
    unknown = (UNKNOWN_INTENT, UNKNOWN_CATEGORY)
    kept = [f for f in findings if not (f.code in unknown and (f.path, f.value) in named)]
    return kept + agent_findings


def conditions_findings(
    rules: Sequence[tuple[str, Any]], scope: LintScope, *, what: str
) -> list[Finding]:
    """An ordered, first-match-wins list of ``(path, condition text)``."""
    parsed = [(path, _parsed(text)) for path, text in rules]
    findings = lint_first_match(parsed, scope.vocabulary(), what=what)
    agents = [
        finding
        for path, node in parsed
        if node is not None
        for finding in _agent_findings(node, scope, path)
    ]
    return _without_agents(findings, agents)


# --- a rules document -----------------------------------------------------------------------------


def rules_findings(
    *, agent: Agent, scope: LintScope, document: Mapping[str, Any] | None = None
) -> list[Finding]:
    """Warnings on ``agent``'s own rules (``document``: a draft in the API's shape instead)."""
    if document is None:
        document = scope.documents.get(agent.slug)
    if not isinstance(document, Mapping):
        return []
    findings: list[Finding] = []
    escalation = document.get("escalation")
    if isinstance(escalation, Mapping):
        spec = scope.vocabulary().names["intent"]
        for index, intent in enumerate(escalation.get("intents") or []):
            path = f"escalation.intents[{index}]"
            if isinstance(intent, str) and intent in scope.agents:
                findings.append(
                    Finding(
                        path,
                        AGENT_IN_CONDITION,
                        f'"{intent}" is an agent, not an intent: the agent to escalate to '
                        "goes in targetAgentId",
                    )
                )
            elif isinstance(intent, str) and intent not in scope.known_intents:
                message = unknown_value_message(intent, spec)
                findings.append(Finding(path, UNKNOWN_INTENT, message, intent))
    handoffs = document.get("handoffs") or []
    if isinstance(handoffs, list):
        conditions = [
            (f"handoffs[{i}].condition", (rule or {}).get("condition"))
            for i, rule in enumerate(h if isinstance(h, Mapping) else {} for h in handoffs)
        ]
        findings += conditions_findings(conditions, scope, what="handoff rule")
    approvals = document.get("approvals")
    if isinstance(approvals, Mapping):
        for index, item in enumerate(approvals.get("actions") or []):
            when = item.get("when") if isinstance(item, Mapping) else None
            node = _parsed(when)
            if node is not None:
                path = f"approvals.actions[{index}].when"
                findings += lint_condition(node, scope.vocabulary(), path)
    findings += escalation_loop_findings(agent=agent, scope=scope, document=document)
    return findings


def escalation_targets(
    scope: LintScope, *, override: tuple[str, Mapping[str, Any]] | None = None
) -> dict[str, tuple[str, bool]]:
    """Each agent's escalation as its rules decide it: ``{agent: (target agent, to people as
    the fallback)}``, for the agents whose effective rules escalate to another agent.
    ``override``: (agent, document) in place of that agent's own rules (a draft)."""
    documents = dict(scope.documents)
    if override is not None:
        documents[override[0]] = dict(override[1])
    targets: dict[str, tuple[str, bool]] = {}
    for slug in scope.agents:
        _, document = scope.effective(slug, documents)
        escalation = (document or {}).get("escalation")
        if not isinstance(escalation, Mapping):
            continue
        target = escalation.get("targetAgentId")
        if isinstance(target, str) and target != slug and target in scope.agents:
            targets[slug] = (target, bool(escalation.get("escalateToHuman")))
    return targets


def escalation_loops(targets: Mapping[str, tuple[str, bool]]) -> list[list[str]]:
    """Circles of escalations with no person as the fallback on any of them, each once,
    starting from its smallest agent id."""
    loops: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for start in sorted(targets):
        path, current = [start], targets[start][0]
        while current in targets and current not in path:
            path.append(current)
            current = targets[current][0]
        if current not in path:
            continue
        loop = path[path.index(current) :]
        if any(targets[slug][1] for slug in loop):
            continue  # someone on it hands over to people instead of escalating again
        first = loop.index(min(loop))
        key = tuple(loop[first:] + loop[:first])
        if key not in seen:
            seen.add(key)
            loops.append(list(key))
    return loops


def escalation_loop_findings(
    *, agent: Agent, scope: LintScope, document: Mapping[str, Any] | None = None
) -> list[Finding]:
    override = (agent.slug, document) if document is not None else None
    findings = []
    for loop in escalation_loops(escalation_targets(scope, override=override)):
        if agent.slug in loop:
            circle = " -> ".join([*loop, loop[0]])
            findings.append(
                Finding(
                    "escalation.targetAgentId",
                    ESCALATION_LOOP,
                    f"escalation loop: {circle}, with no person as the fallback (set "
                    "escalateToHuman on one of them)",
                )
            )
    return findings


# --- workflows ------------------------------------------------------------------------------------


def workflow_findings(
    document: Mapping[str, Any], scope: LintScope, *, prefix: str = ""
) -> list[Finding]:
    """Warnings on a workflow in the API's shape (``steps[i].condition``, ``stepBudget``): the
    one lint of workflows (the API's ``warnings``, the admin, the stack import, the canvas)."""
    findings: list[Finding] = []
    steps = document.get("steps") or []
    budget = document.get("stepBudget")
    # output -> the earlier steps declaring it: (index, agent)
    outputs: dict[str, list[tuple[int, Agent | None]]] = {}
    for index, step in enumerate(steps):
        if not isinstance(step, Mapping):
            continue
        path = f"{prefix}steps[{index}].condition"
        agent = scope.agents.get(step.get("agent")) if isinstance(step.get("agent"), str) else None
        if index > 0:
            node = _parsed(step.get("condition"))
            if node is not None:
                vocabulary = scope.vocabulary(list(outputs))
                own = lint_condition(node, vocabulary, path)
                own = _without_agents(own, _agent_findings(node, scope, path))
                for finding in own:
                    if finding.code == "never_holds":
                        finding = Finding(
                            path, STEP_NEVER_RUNS, f"step {index + 1} never runs: {finding.message}"
                        )
                    findings.append(finding)
                findings += _missing_outputs(node, outputs, index, path, vocabulary, scope)
        if isinstance(budget, int) and index >= budget:
            findings.append(
                Finding(
                    f"{prefix}steps[{index}]",
                    STEP_NEVER_RUNS,
                    f"step {index + 1} never runs: the step budget ({budget}) ends the run first",
                )
            )
        for name in step.get("outputs") or []:
            if isinstance(name, str):
                outputs.setdefault(name, []).append((index, agent))
    return findings


def _missing_outputs(
    node: Any,
    outputs: Mapping[str, list[tuple[int, Agent | None]]],
    index: int,
    path: str,
    vocabulary: Vocabulary,
    scope: LintScope,
) -> list[Finding]:
    """A condition that cannot hold while an output it reads is null (checked by reading the
    name as always null), when the earlier steps declaring that output never give it, or only
    run conditionally (until one of them has run, it is null)."""
    findings = []
    for current in walk(node):
        if not isinstance(current, Name) or current.dotted not in outputs:
            continue
        name = current.dotted
        producers = outputs[name]
        if not never_holds(_with_null(node, name), vocabulary):
            continue
        steps = ", ".join(str(i + 1) for i, _ in producers)
        if all(scope.never_gives(agent, name) for _, agent in producers):
            findings.append(
                Finding(
                    path,
                    STEP_NEVER_RUNS,
                    f"step {index + 1} never runs: it needs '{name}', which step(s) {steps} "
                    f"declare but their built-in agents never give (a built-in agent gives "
                    f"{', '.join(sorted(FIXED_OUTPUTS))} and the outputs of its knowledge "
                    "entries; openai and webhook agents give what the step asks for)",
                )
            )
            break
        if all(i > 0 for i, _ in producers):
            findings.append(
                Finding(
                    path,
                    OUTPUT_SET_CONDITIONALLY,
                    f"step {index + 1} runs only after step(s) {steps}: it needs '{name}', "
                    "which only they give, and they run conditionally; until one of them has "
                    f"run, '{name}' is null and comparisons with null are false",
                )
            )
            break
    return findings


def _with_null(node: Any, name: str) -> Any:
    """``node`` with every read of ``name`` replaced by null."""
    if isinstance(node, Name):
        return Literal(None) if node.dotted == name else node
    if not is_dataclass(node):
        return node
    changes = {}
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple):
            changes[f.name] = tuple(_with_null(v, name) for v in value)
        elif is_dataclass(value):
            changes[f.name] = _with_null(value, name)
    return replace(node, **changes)


def stored_workflow_document(workflow: Workflow) -> dict[str, Any]:
    return {
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
    }


# --- entry points ---------------------------------------------------------------------------------


def rules_warnings(agent: Agent, *, document: Mapping[str, Any] | None = None) -> list[dict]:
    """The warnings on ``agent``'s own rules (or a draft ``document``) as the API shows them:
    ``[{path, code, message}]``."""
    scope = LintScope.of(agent.tenant_id)
    return [f.as_dict() for f in rules_findings(agent=agent, scope=scope, document=document)]


def effective_rules_warnings(agent: Agent) -> tuple[str | None, list[dict]]:
    """(owner, warnings) for the rules that apply to ``agent``: its own, else the ones it
    inherits, linted as their owner's."""
    scope = LintScope.of(agent.tenant_id)
    owner, _ = scope.effective(agent.slug)
    if owner is None:
        return None, []
    findings = rules_findings(agent=scope.agents[owner], scope=scope)
    return owner, [f.as_dict() for f in findings]


def workflow_warnings(workflow: Workflow) -> list[dict]:
    """The warnings on a saved workflow: ``[{path, code, message}]``."""
    scope = LintScope.of(workflow.tenant_id)
    stored = next((w for w in scope.workflows if w.pk == workflow.pk), None)
    if stored is None:
        return []
    return [f.as_dict() for f in workflow_findings(stored_workflow_document(stored), scope)]


def stack_findings(scope: LintScope, slugs: Sequence[str]) -> dict[str, list[Finding]]:
    """Warnings on the own rules of each agent of ``slugs``, and on each workflow whose steps
    all use them (keyed ``workflow:<name>``)."""
    found: dict[str, list[Finding]] = {}
    for slug in slugs:
        agent = scope.agents.get(slug)
        if agent is not None and scope.documents.get(slug) is not None:
            found[slug] = rules_findings(agent=agent, scope=scope)
    members = set(slugs)
    for workflow in scope.workflows:
        steps = list(workflow.steps.all())
        if steps and all(step.agent.slug in members for step in steps):
            found[f"workflow:{workflow.name}"] = workflow_findings(
                stored_workflow_document(workflow), scope
            )
    return found

"""The stack canvas (issue 20, point 1): a stack as a graph a manager reads at a glance.

``stack_canvas(root=...)`` builds it from the tenant's configuration and the last
``TRAFFIC_DAYS`` days of decision events: the orchestrator, the stack's agents (supervisors with
their specialists and domains), people, and the edges between them: the orchestrator's entry
into the stack, handoff rules (labelled with their conditions, first match first), the
supervisor's other specialists (the router, by domain), escalation rules (to an agent, to
people, or to an agent with people as the fallback), the fallback itself, and the
orchestrator's own hand-over on risk. Agents that may propose an action their rules send for
approval carry an approval badge; the rule lint's warnings sit on the edge of the rule they are
about (or on the agent). The stack's workflows are drawn under it, step by step.

Traffic is counted in the database in one query whatever the number of events
(``stack_traffic``): conversations routed along each edge (``agent.routed`` / ``.rerouted``),
escalated (``escalated``), and handed over to people (``handoff.offered``). The whole canvas
reads a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from agents.guardrails.access import action_allowed
from agents.models import Agent, AgentRole, SettingsLevel
from agents.orchestrator_settings import SettingsOverview, settings_overview
from agents.rule_lint import LintScope, stack_findings
from conversations.decisions import CONSULTATION, HUMAN, EscalationReason, RouteReason
from conversations.models import DecisionEvent, EventType
from core.models import Tenant
from rules.lint import Finding

from .canvas_layout import (
    LEdge,
    LNode,
    LStep,
    LWorkflow,
    badge_width,
    layout,
    layout_workflows,
    wrap,
)

TRAFFIC_DAYS = 7
ORCHESTRATOR = "orchestrator"
PEOPLE = "people"
# the orchestrator's settings the canvas shows, in this order
CANVAS_SETTINGS = (
    "routingInstructions",
    "model",
    "checkInterval",
    "stallThreshold",
    "riskAutoEscalation",
    "riskCategories",
    "riskDetection",
    "handoffMode",
)
# escalations the orchestrator makes by itself, not by an agent's rule
ORCHESTRATOR_ESCALATIONS = (
    EscalationReason.RISK,
    EscalationReason.STALLED,
    EscalationReason.SILENCE,
    EscalationReason.RUNTIME_FAILING,
)


@dataclass
class Traffic:
    routed: int = 0
    escalated: int = 0
    handed_over: int = 0

    @property
    def total(self) -> int:
        return self.routed + self.escalated + self.handed_over

    def summary(self) -> str:
        parts = []
        if self.routed:
            parts.append(f"{self.routed} routed")
        if self.escalated:
            parts.append(f"{self.escalated} escalated")
        if self.handed_over:
            parts.append(f"{self.handed_over} handed over")
        return ", ".join(parts) or "no traffic"


@dataclass
class CanvasNode:
    id: str
    kind: str  # orchestrator, supervisor, specialist, people
    title: str
    subtitle: str = ""
    agent: Agent | None = None
    approvals: list[str] = field(default_factory=list)  # "issue_refund when ..." per action
    warnings: list[Finding] = field(default_factory=list)  # not tied to one edge
    traffic: Traffic = field(default_factory=Traffic)
    box: LNode | None = None

    @property
    def panel(self) -> str:
        return f"panel-{self.id}"

    def badges(self) -> list[tuple[str, str, str]]:
        """(kind, text, tooltip) of the node's badges: approval, lint warnings."""
        found = []
        if self.approvals:
            found.append(
                (
                    "approval",
                    f"✔ approval ({len(self.approvals)})",
                    "Needs approval: " + "; ".join(self.approvals),
                )
            )
        if self.warnings:
            found.append(
                (
                    "warning",
                    f"⚠ {len(self.warnings)}",
                    "\n".join(f"{w.path}: {w.message}" for w in self.warnings),
                )
            )
        return found

    def badges_width(self) -> float:
        widths = [badge_width(text) for _, text, _ in self.badges()]
        return sum(widths) + 6 * (len(widths) - 1) + 16 if widths else 0.0


@dataclass
class CanvasEdge:
    id: str
    kind: str  # entry, handoff, specialist, escalation, fallback, risk
    source: str
    target: str
    lines: list[str]  # the label: one condition per line (wrapped)
    title: str  # the full text, for the tooltip
    traffic: Traffic = field(default_factory=Traffic)
    warnings: list[Finding] = field(default_factory=list)
    box: LEdge | None = None


@dataclass
class Canvas:
    tenant: Tenant
    root: Agent
    agents: list[Agent]
    nodes: list[CanvasNode]
    edges: list[CanvasEdge]
    workflows: list[LWorkflow]
    settings: SettingsOverview
    width: float
    height: float
    since: dt.datetime
    warnings: dict[str, list[Finding]]
    # each agent's effective rules: (the agent that owns them, their document), or (None, None)
    rules: dict[str, tuple[Agent | None, dict[str, Any] | None]] = field(default_factory=dict)

    def node(self, node_id: str) -> CanvasNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)


# --- traffic ---------------------------------------------------------------------------------


def stack_traffic(*, tenant: Tenant, since: dt.datetime) -> dict[tuple[str, str, str, str], int]:
    """Conversations per (event type, from, to, reason code) since ``since``: one query.

    ``from`` is the event's ``from`` (a transfer, a fallback), else the agent that recorded it;
    ``to`` the agent or ``human`` it went to (empty for ``handoff.offered``)."""
    rows = (
        DecisionEvent.objects.filter(
            tenant=tenant,
            created_at__gte=since,
            type__in=[
                EventType.AGENT_ROUTED,
                EventType.AGENT_REROUTED,
                EventType.ESCALATED,
                EventType.HANDOFF_OFFERED,
            ],
        )
        .annotate(
            src=Coalesce(
                NullIf(KeyTextTransform("from", "detail"), Value("")),
                F("agent_slug"),
                output_field=TextField(),
            ),
            dst=Coalesce(KeyTextTransform("to", "detail"), Value(""), output_field=TextField()),
            code=Coalesce(
                NullIf(KeyTextTransform("reasonCode", "detail"), Value("")),
                F("type"),
                output_field=TextField(),
            ),
            # a consultation is no transfer: the supervisor keeps the conversation
            mode=Coalesce(KeyTextTransform("mode", "detail"), Value(""), output_field=TextField()),
        )
        .exclude(mode=CONSULTATION)
        .values("type", "src", "dst", "code")
        .annotate(n=Count("conversation", distinct=True))
        .order_by()
    )
    return {(r["type"], r["src"] or "", r["dst"] or "", r["code"] or ""): r["n"] for r in rows}


# --- the graph -------------------------------------------------------------------------------


def tenant_stacks(tenant: Tenant) -> list[Agent]:
    """The tenant's stacks: its agents without a supervisor."""
    return list(Agent.objects.filter(tenant=tenant, supervisor__isnull=True).order_by("slug"))


def _members(
    root: Agent, agents: Iterable[Agent], rank: Mapping[str, int] | None = None
) -> list[Agent]:
    """``root`` and every agent under it, top down; siblings by ``rank`` (the order of the
    handoff rules that name them), then by id."""
    rank = rank or {}
    children: dict[int | None, list[Agent]] = {}
    for agent in agents:
        children.setdefault(agent.supervisor_id, []).append(agent)
    found, queue, seen = [], [root], set()
    while queue:
        agent = queue.pop(0)
        if agent.pk in seen:
            continue
        seen.add(agent.pk)
        found.append(agent)
        queue.extend(
            sorted(children.get(agent.pk, []), key=lambda a: (rank.get(a.slug, 10**6), a.slug))
        )
    return found


def _depths(members: list[Agent]) -> dict[int, int]:
    by_pk = {a.pk: a for a in members}
    depth: dict[int, int] = {}
    for agent in members:
        d, current = 0, agent
        while current.supervisor_id in by_pk and d < len(members):
            d += 1
            current = by_pk[current.supervisor_id]
        depth[agent.pk] = d
    return depth


def _approval_badges(agent: Agent, document: Mapping[str, Any] | None) -> list[str]:
    approvals = (document or {}).get("approvals") or {}
    if not approvals or not approvals.get("required", True):
        return []
    badges = []
    for item in approvals.get("actions") or []:
        action = item.get("action") if isinstance(item, Mapping) else item
        if isinstance(action, str) and action_allowed(agent.allowed_actions, action):
            when = item.get("when") if isinstance(item, Mapping) else None
            badges.append(f"{action} when {when}" if when else action)
    return badges


def _escalation_label(escalation: Mapping[str, Any]) -> str:
    when = []
    if escalation.get("intents"):
        when.append("intent in " + ", ".join(escalation["intents"]))
    if escalation.get("maxAttempts"):
        when.append(f"{escalation['maxAttempts']} failed attempts")
    return "escalation: " + " or ".join(when) if when else "escalation"


def stack_canvas(*, root: Agent, now: dt.datetime | None = None) -> Canvas:
    """The canvas of the stack topped by ``root`` (laid out, with traffic and warnings)."""
    tenant = root.tenant
    since = (now or timezone.now()) - dt.timedelta(days=TRAFFIC_DAYS)
    scope = LintScope.of(tenant.pk)
    rank: dict[str, int] = {}
    for document in scope.documents.values():
        for index, rule in enumerate((document or {}).get("handoffs") or []):
            rank.setdefault(rule.get("targetAgentId"), index)
    members = _members(root, scope.agents.values(), rank)
    slugs = [a.slug for a in members]
    overview = settings_overview(tenant=tenant, agent=root)
    traffic = stack_traffic(tenant=tenant, since=since)
    warnings = stack_findings(scope, slugs)
    depth = _depths(members)
    members_by_slug = {a.slug: a for a in members}

    nodes: list[CanvasNode] = [
        CanvasNode(
            ORCHESTRATOR,
            "orchestrator",
            "Orchestrator",
            f"{overview.effective['model']} · {overview.effective['handoffMode']} handoff",
        )
    ]
    for agent in members:
        kind = "supervisor" if agent.role == AgentRole.SUPERVISOR else "specialist"
        subtitle = ", ".join(agent.domains or []) or (
            f"{agent.pattern} pattern" if kind == "supervisor" else "no domains"
        )
        _, document = scope.effective(agent.slug)
        nodes.append(
            CanvasNode(
                agent.slug,
                kind,
                agent.name,
                subtitle,
                agent=agent,
                approvals=_approval_badges(agent, document),
            )
        )
    nodes.append(CanvasNode(PEOPLE, "people", "People", "human agents (handover)"))
    by_id = {n.id: n for n in nodes}

    edges: list[CanvasEdge] = []

    def add(kind: str, source: str, target: str, lines: list[str], title: str) -> CanvasEdge:
        edge = CanvasEdge(f"e{len(edges)}", kind, source, target, lines, title)
        edges.append(edge)
        return edge

    entry = add("entry", ORCHESTRATOR, root.slug, ["every conversation"], "Conversations start")
    risk = overview.effective["riskAutoEscalation"]
    categories = overview.effective["riskCategories"] or []
    risk_edge = add(
        "risk",
        ORCHESTRATOR,
        PEOPLE,
        wrap("risk: " + ", ".join(categories)) if risk else ["risk auto-escalation off"],
        "Risk auto-escalation, stall and silence hand-overs by the orchestrator",
    )

    handoff_edges: dict[tuple[str, str], CanvasEdge] = {}
    rule_edge: dict[tuple[str, str], CanvasEdge] = {}  # (owner, "handoffs[i]") -> edge
    escalation_edges: dict[str, CanvasEdge] = {}
    for agent in members:
        document = scope.documents.get(agent.slug)
        if document is None:
            continue
        for index, rule in enumerate(document.get("handoffs") or []):
            target = rule.get("targetAgentId")
            if target not in members_by_slug:
                continue
            key = (agent.slug, target)
            text = f"{index + 1}. {rule.get('condition')}"
            if key not in handoff_edges:
                handoff_edges[key] = add("handoff", agent.slug, target, [], "")
            edge = handoff_edges[key]
            edge.lines += wrap(text)
            edge.title = "\n".join(filter(None, [edge.title, f"handoff rule {text}"]))
            rule_edge[(agent.slug, f"handoffs[{index}]")] = edge
        escalation = document.get("escalation")
        if escalation:
            target = escalation.get("targetAgentId")
            label = _escalation_label(escalation)
            if target is None:
                escalation_edges[agent.slug] = add(
                    "escalation", agent.slug, PEOPLE, wrap(label), label + " to people"
                )
            elif target in members_by_slug:  # another stack's agent: in the panel, not drawn
                edge = add("escalation", agent.slug, target, wrap(label), label)
                if escalation.get("escalateToHuman"):
                    fallback = add(
                        "fallback",
                        target,
                        PEOPLE,
                        wrap(f"fallback when {target} cannot resolve"),
                        f"People take over when {target} cannot resolve an escalation from "
                        f"{agent.slug}",
                    )
                    fallback.traffic.escalated = traffic.get(
                        (EventType.ESCALATED, target, HUMAN, EscalationReason.ESCALATION_FALLBACK),
                        0,
                    )
                escalation_edges[agent.slug] = edge
    # the router: specialists no handoff rule names still get the supervisor's conversations
    for agent in members:
        if agent.supervisor_id is None:
            continue
        supervisor = next((a for a in members if a.pk == agent.supervisor_id), None)
        if supervisor is not None and (supervisor.slug, agent.slug) not in handoff_edges:
            domains = ", ".join(agent.domains or [])
            add(
                "specialist",
                supervisor.slug,
                agent.slug,
                wrap(f"router: {domains}" if domains else "consulted"),
                "The router sends a supervisor's conversations to the specialist whose "
                "domains match the intent",
            )

    # traffic on the edges
    for (kind, src, dst, code), count in traffic.items():
        if kind in (EventType.AGENT_ROUTED, EventType.AGENT_REROUTED):
            if code == RouteReason.STARTED:
                if dst == root.slug:
                    entry.traffic.routed += count
                continue
            if code == RouteReason.ESCALATION_RULE:
                continue  # counted by its ``escalated`` event, on the escalation's edge
            owner = scope.effective(src)[0] if code == RouteReason.HANDOFF_RULE else src
            edge = handoff_edges.get((owner or src, dst)) or _edge_between(
                edges, src, dst, "specialist"
            )
            if edge is not None:
                edge.traffic.routed += count
        elif kind == EventType.ESCALATED:
            if dst == HUMAN and code in ORCHESTRATOR_ESCALATIONS:
                if src in members_by_slug:
                    risk_edge.traffic.escalated += count
            elif code == EscalationReason.ESCALATION_RULE and src in members_by_slug:
                edge = escalation_edges.get(scope.effective(src)[0] or "")
                if edge is not None:
                    edge.traffic.escalated += count
        elif kind == EventType.HANDOFF_OFFERED and src in members_by_slug:
            by_id[PEOPLE].traffic.handed_over += count
            by_id[src].traffic.handed_over += count
    # on the nodes too: what was routed into each agent, and what each one escalated (a
    # specialist said "no traffic" beside its incoming edge's "2 routed")
    for edge in edges:
        if edge.target in by_id and edge.target != PEOPLE:
            by_id[edge.target].traffic.routed += edge.traffic.routed
        if edge.source in by_id:
            by_id[edge.source].traffic.escalated += edge.traffic.escalated

    # the lint's warnings: on the rule's edge, else on the agent
    for key, findings in warnings.items():
        for finding in findings:
            head = finding.path.split(".")[0]
            edge = rule_edge.get((key, head))
            if edge is None and head == "escalation":
                edge = escalation_edges.get(key)
            if edge is not None:
                edge.warnings.append(finding)
            elif key in by_id:
                by_id[key].warnings.append(finding)

    # layout
    people_layer = max(depth.values(), default=0) + 2
    for node in nodes:
        if node.id == ORCHESTRATOR:
            layer = 0
        elif node.id == PEOPLE:
            layer = people_layer
        else:
            layer = depth[node.agent.pk] + 1
        extra = 18 if node.badges() else 0
        lines = [node.title, node.subtitle, node.traffic.summary()]
        node.box = LNode(node.id, layer, lines, extra, min_width=node.badges_width())
    for edge in edges:
        traffic_line = edge.traffic.summary() if edge.traffic.total else ""
        edge.box = LEdge(
            edge.id,
            edge.source,
            edge.target,
            [*edge.lines, *([traffic_line] if traffic_line else [])],
            parent=edge.kind in ("entry", "handoff", "specialist"),
        )
    drawn = layout([n.box for n in nodes], [e.box for e in edges])
    flows = _workflows(scope, slugs, warnings)
    flows_width, bottom = layout_workflows(flows, top=drawn.graph_height, left=24)
    return Canvas(
        tenant=tenant,
        root=root,
        agents=members,
        nodes=nodes,
        edges=edges,
        workflows=flows,
        settings=overview,
        width=max(drawn.width, flows_width),
        height=bottom if flows else drawn.height,
        since=since,
        warnings=warnings,
        rules={
            agent.slug: (scope.agents.get(owner) if owner else None, document)
            for agent in members
            for owner, document in [scope.effective(agent.slug)]
        },
    )


def _edge_between(edges: list[CanvasEdge], src: str, dst: str, kind: str) -> CanvasEdge | None:
    return next((e for e in edges if (e.source, e.target, e.kind) == (src, dst, kind)), None)


def _workflows(
    scope: LintScope, slugs: list[str], warnings: Mapping[str, list[Finding]]
) -> list[LWorkflow]:
    members = set(slugs)
    flows = []
    for workflow in scope.workflows:
        steps = list(workflow.steps.all())
        if not steps or not all(step.agent.slug in members for step in steps):
            continue
        flows.append(
            LWorkflow(
                id=f"w{workflow.pk}",
                title=f"Workflow: {workflow.name} (step budget {workflow.step_budget})",
                steps=[
                    LStep(
                        id=f"w{workflow.pk}s{index}",
                        lines=[
                            f"{index + 1}. {step.agent.name}",
                            "outputs: " + (", ".join(step.outputs) or "none"),
                        ],
                        condition=wrap(step.condition, 26),
                    )
                    for index, step in enumerate(steps)
                ],
                warnings=[
                    f"{f.path}: {f.message}" for f in warnings.get(f"workflow:{workflow.name}", [])
                ],
            )
        )
    return flows


def settings_rows(canvas: Canvas) -> list[dict[str, Any]]:
    """The orchestrator settings the slide-out shows: value, where it comes from, and what a
    cleared stack value would fall back to."""
    overview = canvas.settings
    inherited = overview.inherited(SettingsLevel.STACK)
    own = overview.levels.get(str(SettingsLevel.STACK), {})
    return [
        {
            "name": name,
            "value": overview.effective[name],
            "source": overview.sources[name],
            "set_here": name in own,
            "inherited_value": inherited[name][0],
            "inherited_source": inherited[name][1],
        }
        for name in CANVAS_SETTINGS
    ]

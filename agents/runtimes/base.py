"""What every agent runtime takes and returns (SPEC 4.6), and :func:`run_agent`.

The runtimes know nothing about conversations or the database: the orchestrator builds a
:class:`TurnContext` of plain values, calls :func:`run_agent` and records the
:class:`AgentReply` it gets back. ``run_agent`` never raises: a runtime that fails (after its
retries, for the network ones) returns a reply with ``error`` set, ``text`` None and
``answered`` False, and the orchestrator counts it as a failed attempt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.detectors.text import stem

if TYPE_CHECKING:
    from agents.models import Agent

logger = logging.getLogger(__name__)

RUNTIMES = ("builtin", "openai", "webhook")
TRANSCRIPT_LIMIT = 20  # earlier messages a runtime sees, the most recent ones

CANNOT_ANSWER = "I'm not sure I can help with that yet. Could you tell me a bit more?"

_TENANT_NAME = re.compile(r"\{\{\s*TENANT_NAME\s*\}\}")


@dataclass(frozen=True)
class KnowledgeItem:
    """One knowledge entry of an agent: what the built-in runtime answers from."""

    question: str
    keywords: tuple[str, ...] = ()
    answer: str = ""
    action: str = ""
    action_params: Mapping[str, Any] = field(default_factory=dict)
    # the workflow outputs this answer sets (``{"priority": "critical"}``), when it is given
    outputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentSpec:
    """An agent as a runtime sees it."""

    slug: str
    name: str
    role: str = "specialist"
    domains: tuple[str, ...] = ()
    runtime: str = "builtin"
    runtime_config: Mapping[str, Any] = field(default_factory=dict)
    # the runtime's secret, sealed (core.secret_store): unsealed only by the runtime,
    # right before its request, so snapshots and caches never hold it in clear
    runtime_secret: str = field(default="", repr=False)
    prompt: str = ""
    knowledge: tuple[KnowledgeItem, ...] = ()
    # the actions it may propose; None: every registered action (agents.guardrails.access)
    allowed_actions: tuple[str, ...] | None = None

    @classmethod
    def from_agent(cls, agent: Agent) -> AgentSpec:
        """The spec of an ``Agent`` row; prefetch ``knowledge`` to avoid a query per agent."""
        return cls(
            slug=agent.slug,
            name=agent.name,
            role=agent.role,
            domains=tuple(d for d in (agent.domains or []) if isinstance(d, str)),
            runtime=agent.runtime,
            runtime_config=dict(agent.runtime_config or {}),
            runtime_secret=agent.runtime_secret or "",
            prompt=agent.prompt or "",
            knowledge=tuple(
                KnowledgeItem(
                    question=entry.question,
                    keywords=tuple(k for k in (entry.keywords or []) if isinstance(k, str)),
                    answer=entry.answer,
                    action=entry.action or "",
                    action_params=dict(entry.action_params or {}),
                    outputs=dict(entry.outputs or {}),
                )
                for entry in agent.knowledge.all()
            ),
            allowed_actions=(
                None if agent.allowed_actions is None else tuple(agent.allowed_actions)
            ),
        )


@dataclass(frozen=True)
class StepCall:
    """The workflow step an agent runs as (SPEC 4.4): ``inputs`` are exactly the values the
    step names (``agents.workflow_run.step_inputs``), ``outputs`` the names it declares and
    the runtime is asked to set. ``step`` counts from 1."""

    workflow: str
    step: int
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.workflow,
            "step": self.step,
            "inputs": dict(self.inputs),
            "outputs": list(self.outputs),
        }


@dataclass(frozen=True)
class TurnContext:
    """Everything a runtime may use to answer one customer message.

    ``signals``: ``{intent, sentiment, risk}``. ``customer``: ``{id, name, email, attributes,
    verified}`` (verified: the tenant's website signed who they are).
    ``transcript``: earlier messages, oldest first, ``{role, author, text}`` with role one of
    ``customer``, ``agent``, ``human``, ``system`` (runtimes keep the last 20).
    ``routing_instructions``: the orchestrator setting; ``{{TENANT_NAME}}`` is replaced here if
    the caller has not done it. ``model``: the orchestrator's ``model`` setting, used when the
    agent's runtime configuration names none. ``consultation``: for a sequential supervisor, the
    answers of the specialists it consulted privately, ``{agent, text, answered?}``.
    ``step``: set when the agent runs as a workflow step (its inputs and declared outputs).
    """

    tenant_name: str
    agent: AgentSpec
    conversation_id: str
    channel: str
    message: str
    signals: Mapping[str, Any] = field(default_factory=dict)
    customer: Mapping[str, Any] = field(default_factory=dict)
    transcript: tuple[Mapping[str, Any], ...] = ()
    routing_instructions: str = ""
    model: str = ""
    consultation: tuple[Mapping[str, Any], ...] = ()
    # a supervisor's specialists, ``{agent, name, domains}``: its prompt lists them
    specialists: tuple[Mapping[str, Any], ...] = ()
    step: StepCall | None = None
    # the files sent with this customer message, ``{filename, contentType, size, path, url}``
    # (``path``: the file's name in the default storage; ``url``: its signed link, absolute):
    # the openai runtime sends the photos to a model that reads images, the webhook the links
    files: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ProposedAction:
    """An action the agent proposes; the orchestrator applies the approvals rules to it."""

    name: str
    params: Mapping[str, Any]


@dataclass
class AgentReply:
    """What a runtime answered.

    ``error`` is set when the runtime failed (then ``text`` is None and ``answered`` False).
    ``attempts`` counts HTTP attempts (0 when a network runtime gave up before calling).
    ``tokens`` and ``cost`` are the usage a network runtime reported (0 when none), counted
    against the conversation's budgets. ``outputs`` are the workflow outputs (``category``,
    ``resolution``, ``answered`` and whatever a webhook adds). ``detail`` is JSON-ready and
    meant for the decision event.
    """

    text: str | None
    answered: bool
    proposed_actions: list[ProposedAction] = field(default_factory=list)
    signals: Mapping[str, Any] | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    attempts: int = 1
    duration_ms: float = 0.0
    detail: Mapping[str, Any] = field(default_factory=dict)
    tokens: int = 0
    cost: float = 0.0


def failed(error: str, *, attempts: int = 0, detail: Mapping[str, Any] | None = None) -> AgentReply:
    """The reply of a runtime that could not answer because something went wrong."""
    return AgentReply(
        text=None,
        answered=False,
        proposed_actions=[],
        error=error,
        attempts=attempts,
        detail=dict(detail or {}),
    )


SIGNAL_NAMES = ("intent", "sentiment", "risk")


def merge_signals(
    signals: Mapping[str, Any], returned: Mapping[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """The turn's signals with those a runtime returned (``AgentReply.signals``, checked by
    the runtime) in their place, as a caller's ``signals`` win over the detectors': ``(intent,
    sentiment, risk)`` and the names that changed, sorted. ``risk`` is a sorted list."""
    merged = {name: signals.get(name) for name in SIGNAL_NAMES}
    merged["risk"] = sorted(merged["risk"] or [])
    changed = []
    for name in SIGNAL_NAMES:
        if returned is None or name not in returned:
            continue
        value = sorted(returned[name] or []) if name == "risk" else returned[name]
        if value != merged[name]:
            merged[name] = value
            changed.append(name)
    return merged, sorted(changed)


def with_tenant_name(text: str, tenant_name: str) -> str:
    """``text`` with ``{{TENANT_NAME}}`` (spaces inside the braces allowed) replaced."""
    return _TENANT_NAME.sub(lambda _: tenant_name or "", text or "")


def signal(ctx: TurnContext, name: str, default: Any = None) -> Any:
    """One of the message's signals, from a mapping or an object with attributes."""
    signals = ctx.signals
    if signals is None:
        return default
    if isinstance(signals, Mapping):
        return signals.get(name, default)
    return getattr(signals, name, default)


def plain_signals(ctx: TurnContext) -> dict[str, Any]:
    """The message's signals as JSON: ``{intent, sentiment, risk}``."""
    risk = signal(ctx, "risk") or ()
    return {
        "intent": signal(ctx, "intent"),
        "sentiment": signal(ctx, "sentiment"),
        "risk": [r for r in risk if isinstance(r, str)] if not isinstance(risk, str) else [risk],
    }


def recent_transcript(ctx: TurnContext) -> list[Mapping[str, Any]]:
    """The last :data:`TRANSCRIPT_LIMIT` earlier messages that are mappings, oldest first."""
    items = [m for m in (ctx.transcript or ()) if isinstance(m, Mapping)]
    return items[-TRANSCRIPT_LIMIT:]


def category(ctx: TurnContext) -> str | None:
    """The workflow ``category`` output: the agent's domain matching the detected intent
    (also by stem: intent ``refund`` and domain ``refunds``), else the intent itself."""
    intent = signal(ctx, "intent")
    if not isinstance(intent, str) or not intent:
        return None
    for domain in ctx.agent.domains:
        if domain == intent:
            return domain
    for domain in ctx.agent.domains:
        if isinstance(domain, str) and stem(domain) == stem(intent):
            return domain
    return intent


def default_output_names() -> tuple[str, ...]:
    """The outputs every runtime sets (:func:`default_outputs`)."""
    return ("category", "resolution", "answered")


def default_outputs(ctx: TurnContext, text: str | None, answered: bool) -> dict[str, Any]:
    """The workflow outputs every runtime gives: ``category``, ``resolution``, ``answered``."""
    return {
        "category": category(ctx),
        "resolution": text if answered else None,
        "answered": answered,
    }

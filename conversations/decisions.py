"""Typed decision events: one builder and one reader per event type.

Every type of ``EventType`` has a frozen dataclass here. A writer builds one and hands it to
``conversations.events.record``, which takes the event's type from it::

    record(
        conversation=conv,
        event=AgentRouted(from_="agent-sup", to="agent-billing", reason="...",
                          reason_code=RouteReason.INTENT_IN_DOMAINS, intent="billing",
                          announced=True),
    )

``to_detail()`` is the JSON stored in ``DecisionEvent.detail``: the fields under their JSON
names (camelCase; ``from_`` is ``"from"``) and ``"v"``, the version of the shape. A field that
only some events of a type carry (``fallback``, ``stopped`` ...) is left out when it is None,
so each event keeps the keys it always had. ``from_detail()`` reads a stored detail back, rows
written before versions too (no ``"v"``): a missing key reads as the field's default, or the
empty value of its type. ``decision_of(type, detail)`` is the one reader: the timeline, the
metrics, backtests, the simulator and the API read events through it, and read fields, never
prose: ``reason`` and ``why`` are for people; what a program needs is a field of its own
(``reasonCode``, ``intent``). ``lookup`` names a field for an ORM query on ``detail``.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, ClassVar, Self

from conversations.models import EventType

VERSION_KEY = "v"


OMIT = {"omit_none": True}  # a field only some events of a type carry: left out when None
EXTRA = {"extra": True}  # the open-ended part of a detail (what a runtime or rule reports)


def named(key: str, *, omit_none: bool = False) -> dict[str, Any]:
    """The metadata of a field whose JSON key is not its name in camelCase."""
    return {"key": key, "omit_none": omit_none}


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part.capitalize() for part in rest)


def _key(f: Field) -> str:
    return f.metadata.get("key") or _camel(f.name)


_EMPTY: dict[Any, Any] = {str: "", int: 0, float: 0.0, bool: False}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _missing(cls: type, f: Field) -> Any:
    """What a key absent from an old row reads as."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    hint = _hints(cls)[f.name]
    origin = typing.get_origin(hint) or hint
    if origin in (list, dict):
        return origin()
    return _EMPTY.get(origin)  # unions (``str | None``) and Any read as None


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The base of every decision event's dataclass."""

    type: ClassVar[str] = ""
    version: ClassVar[int] = 1

    def to_detail(self) -> dict[str, Any]:
        """The JSON stored in ``DecisionEvent.detail``."""
        detail: dict[str, Any] = {}
        typed: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("extra"):
                detail.update(value or {})
            elif not (value is None and f.metadata.get("omit_none")):
                typed[_key(f)] = value
        detail.update(typed)  # a field wins over an open-ended key of the same name
        detail[VERSION_KEY] = self.version
        return detail

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any] | None) -> Self:
        """Read a stored detail (of any version; missing keys read as their defaults)."""
        detail = detail if isinstance(detail, Mapping) else {}
        values: dict[str, Any] = {}
        known = {VERSION_KEY}
        open_ended = None
        for f in fields(cls):
            if f.metadata.get("extra"):
                open_ended = f.name
                continue
            key = _key(f)
            known.add(key)
            values[f.name] = detail[key] if key in detail else _missing(cls, f)
        if open_ended is not None:
            values[open_ended] = {k: v for k, v in detail.items() if k not in known}
        return cls(**values)

    @classmethod
    def key(cls, name: str) -> str:
        """The JSON key of the field ``name`` (``AgentRerouted.key("from_") == "from"``)."""
        for f in fields(cls):
            if f.name == name and not f.metadata.get("extra"):
                return _key(f)
        raise AttributeError(f"{cls.__name__} has no field {name!r}")

    @classmethod
    def lookup(cls, name: str) -> str:
        """The ORM lookup of the field ``name`` in ``detail`` (``detail__from``)."""
        return f"detail__{cls.key(name)}"


# --- reason codes: what a program reads instead of a reason's words --------------------------


class RouteReason:
    """``reasonCode`` of ``agent.routed`` / ``agent.rerouted``."""

    STARTED = "conversation_started"
    INTENT_IN_DOMAINS = "intent_in_domains"  # the router: a supervisor's first message
    TOPIC_SHIFT = "topic_shift"  # the router: an invisible re-route
    STALLED = "stalled"  # the stall detector found a better-suited agent
    ESCALATION_RULE = "escalation_rule"
    HANDOFF_RULE = "handoff_rule"
    CONSULTATION = "consultation"  # a sequential supervisor asks a specialist privately
    CONCURRENT = "concurrent"  # a concurrent supervisor asks its specialists at once
    ORCHESTRATOR_MODEL = "orchestrator_model"  # the model-driven orchestrator re-routed


class EscalationReason:
    """``reasonCode`` of ``escalated``."""

    RISK = "risk"
    ESCALATION_RULE = "escalation_rule"
    ESCALATION_FALLBACK = "escalation_fallback"
    STALLED = "stalled"
    RUNTIME_FAILING = "runtime_failing"
    SILENCE = "silence"
    ORCHESTRATOR_MODEL = "orchestrator_model"


HUMAN = "human"  # the ``to`` of an escalation to people
CONSULTATION = "consultation"  # the ``mode`` of a consultation


# --- the events ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MessageClassified(Decision):
    """The detectors' signals of a customer message (and which ones the caller gave); or,
    with ``by``, the signals an agent's runtime returned with its reply (a webhook's), which
    then fed risk auto-escalation and the rules like a caller's."""

    type: ClassVar[str] = EventType.MESSAGE_CLASSIFIED

    # what the rules saw: {intent, sentiment, risk}
    signals: dict[str, Any]
    overridden: list[str] = field(default_factory=list)  # the signals the caller gave
    by: str | None = field(default=None, metadata=OMIT)  # the agent whose runtime gave them
    # how the detectors found them: the intent's name, confidence and terms; the sentiment's
    # score and polarity; the risk rules that fired (category, rule, text)
    intent_found: dict[str, Any] = field(default_factory=dict, metadata=named("intent"))
    sentiment_found: dict[str, Any] = field(default_factory=dict, metadata=named("sentiment"))
    risk_found: list[dict[str, Any]] = field(default_factory=list, metadata=named("risk"))

    @property
    def intent(self) -> str | None:
        return (self.signals or {}).get("intent")

    @property
    def sentiment(self) -> float | None:
        return (self.signals or {}).get("sentiment")

    @property
    def risk(self) -> list[str]:
        return list((self.signals or {}).get("risk") or [])


@dataclass(frozen=True, kw_only=True)
class AgentRouted(Decision):
    """The conversation went to an agent (its first, a transfer), or a sequential supervisor
    consulted one (``mode: "consultation"``)."""

    type: ClassVar[str] = EventType.AGENT_ROUTED

    to: str
    from_: str | None = field(default=None, metadata=named("from", omit_none=True))
    reason: str | None = field(default=None, metadata=OMIT)
    reason_code: str = ""
    intent: str | None = field(
        default=None, metadata=OMIT
    )  # the intent the router or the stall detector went by
    announced: bool | None = field(default=None, metadata=OMIT)
    mode: str | None = field(default=None, metadata=OMIT)
    depth: int | None = field(default=None, metadata=OMIT)
    stopped: str | None = field(
        default=None, metadata=OMIT
    )  # a consultation not made: "cycle" or "depth limit"
    answered: bool | None = field(default=None, metadata=OMIT)  # a consultation's answer
    # a concurrent consultation's branch: its number, and when it started after the fan-out
    branch: int | None = field(default=None, metadata=OMIT)
    started_ms: float | None = field(default=None, metadata=named("startedMs", omit_none=True))

    @property
    def consultation(self) -> bool:
        return self.mode == CONSULTATION


@dataclass(frozen=True, kw_only=True)
class AgentRerouted(AgentRouted):
    """An invisible re-route: a topic shift, or a stall with a better-suited agent."""

    type: ClassVar[str] = EventType.AGENT_REROUTED


@dataclass(frozen=True, kw_only=True)
class RuleFired(Decision):
    """An escalation or handoff rule fired (the rule and its version are the event's ``rule``)."""

    type: ClassVar[str] = EventType.RULE_FIRED

    kind: str  # escalation | handoff
    why: list[str] = field(default_factory=list)
    to: str | None = None  # an agent, or "a human"
    fallback: str | None = field(
        default=None, metadata=OMIT
    )  # "human": people when the target cannot resolve it


@dataclass(frozen=True, kw_only=True)
class Escalated(Decision):
    type: ClassVar[str] = EventType.ESCALATED

    to: str  # an agent's slug, or "human"
    reason: str
    reason_code: str = ""
    why: str | list[str] | None = field(default=None, metadata=OMIT)
    categories: list[str] | None = field(
        default=None, metadata=OMIT
    )  # risk escalation: the categories detected
    unavailable: str | None = field(
        default=None, metadata=OMIT
    )  # the target agent that could not take it
    from_: str | None = field(
        default=None, metadata=named("from", omit_none=True)
    )  # escalation fallback: the agent escalated to
    fallback: str | None = field(default=None, metadata=OMIT)

    @property
    def to_human(self) -> bool:
        return self.to == HUMAN


@dataclass(frozen=True, kw_only=True)
class StateChanged(Decision):
    type: ClassVar[str] = EventType.STATE_CHANGED

    from_: str = field(metadata=named("from"))
    to: str
    reason: str
    risk: list[str] | None = field(default=None, metadata=OMIT)  # to at_risk: the categories
    categories: list[str] | None = field(
        default=None, metadata=OMIT
    )  # a risk hand-over: the categories


@dataclass(frozen=True, kw_only=True)
class StallDetected(Decision):
    type: ClassVar[str] = EventType.STALL_DETECTED

    reason: str  # repeated question | no progress | silence
    similarity: float | None = field(default=None, metadata=OMIT)
    turns_without_progress: int | None = field(default=None, metadata=OMIT)
    stall_threshold: int | None = field(default=None, metadata=OMIT)
    silent_seconds: int | None = field(default=None, metadata=OMIT)
    customer_waiting: bool | None = field(default=None, metadata=OMIT)


@dataclass(frozen=True, kw_only=True)
class OrchestratorDecided(Decision):
    """The model-driven orchestrator's choice for a turn (what the rules left open):
    ``action`` one of continue, reroute, hand_over, mark_stalled, consult; ``ignored`` says why
    it was not followed (an unknown agent, a hand-over mode the stack forbids, a failed call)."""

    type: ClassVar[str] = EventType.ORCHESTRATOR_DECIDED

    action: str | None
    model: str = ""
    to: str | None = field(default=None, metadata=OMIT)
    agents: list[str] | None = field(default=None, metadata=OMIT)
    mode: str | None = field(default=None, metadata=OMIT)
    reason: str | None = field(default=None, metadata=OMIT)
    ignored: str | None = field(default=None, metadata=OMIT)
    error: str | None = field(default=None, metadata=OMIT)


@dataclass(frozen=True, kw_only=True)
class HandoffOffered(Decision):
    type: ClassVar[str] = EventType.HANDOFF_OFFERED

    handoff_id: int | None
    mode: str
    why: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class HandoffClaimed(Decision):
    type: ClassVar[str] = EventType.HANDOFF_CLAIMED

    handoff_id: int | None
    by: str
    mode: str


@dataclass(frozen=True, kw_only=True)
class HandoffExpired(Decision):
    type: ClassVar[str] = EventType.HANDOFF_EXPIRED

    handoff_id: int | None
    reason: str
    now: str = "cold"


@dataclass(frozen=True, kw_only=True)
class ApprovalRequested(Decision):
    type: ClassVar[str] = EventType.APPROVAL_REQUESTED

    approval_id: int | None
    action: str
    approvers: list[Any] = field(default_factory=list)
    quorum: int = 1
    expires_at: str | None = None
    caused_by: list[Any] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ApprovalDecided(Decision):
    type: ClassVar[str] = EventType.APPROVAL_DECIDED

    approval_id: int | None
    action: str
    outcome: str
    by: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ActionProposed(Decision):
    """An action the AI (or an integration) proposed: through the gate, or rejected as
    invalid (``rejected``: the field path and what is wrong)."""

    type: ClassVar[str] = EventType.ACTION_PROPOSED

    action: str
    params: dict[str, Any] = field(default_factory=dict)
    agent_id: str | None = None
    requested_by: str | None = field(default=None, metadata=OMIT)
    idempotency_key: str | None = field(default=None, metadata=OMIT)
    approval_needed: bool | None = field(default=None, metadata=OMIT)
    why: list[str] | None = field(default=None, metadata=OMIT)
    totals: dict[str, Any] | None = field(default=None, metadata=OMIT)
    rejected: dict[str, str] | None = field(default=None, metadata=OMIT)


@dataclass(frozen=True, kw_only=True)
class ActionExecuted(Decision):
    type: ClassVar[str] = EventType.ACTION_EXECUTED

    execution_id: int | None
    approval_id: int | None
    action: str
    attempts: int
    result: Any = None


@dataclass(frozen=True, kw_only=True)
class ActionFailed(Decision):
    type: ClassVar[str] = EventType.ACTION_FAILED

    execution_id: int | None
    approval_id: int | None
    action: str
    attempts: int
    error: str


@dataclass(frozen=True, kw_only=True)
class AgentReplied(Decision):
    """An agent's run gave a reply; ``runtime`` is what its runtime reported (model, usage,
    match ...), at the top level of the detail."""

    type: ClassVar[str] = EventType.AGENT_REPLIED

    answered: bool
    guardrails: str | None = field(
        default=None, metadata=OMIT
    )  # the guardrails' outcome when it was not "pass"
    runtime: dict[str, Any] = field(default_factory=dict, metadata=EXTRA)


@dataclass(frozen=True, kw_only=True)
class AgentError(Decision):
    type: ClassVar[str] = EventType.AGENT_ERROR

    error: str
    attempts: int | None = None
    runtime: dict[str, Any] = field(default_factory=dict, metadata=EXTRA)


@dataclass(frozen=True, kw_only=True)
class WorkflowStep(Decision):
    """A workflow step ran (its agent, condition, the inputs it was given by name and the
    outputs it produced), or a step cannot proceed (``stopped`` "cannot proceed", ``why``), or
    the workflow stopped (``stopped`` "step budget", or "no step answered" with the agent that
    answered instead as ``fallback``). ``step`` counts from 1."""

    type: ClassVar[str] = EventType.WORKFLOW_STEP

    agent: str | None = field(default=None, metadata=OMIT)
    condition: str | None = field(default=None, metadata=OMIT)
    step: int | None = field(default=None, metadata=OMIT)
    inputs: list[str] | None = field(default=None, metadata=OMIT)
    outputs: dict[str, Any] | None = field(default=None, metadata=OMIT)
    stopped: str | None = field(default=None, metadata=OMIT)
    why: str | None = field(default=None, metadata=OMIT)
    fallback: str | None = field(default=None, metadata=OMIT)
    budget: int | None = field(default=None, metadata=OMIT)
    taken: int | None = field(default=None, metadata=OMIT)


@dataclass(frozen=True, kw_only=True)
class GuardrailBlocked(Decision):
    """A guardrail rule fired on a reply (``fallback`` or ``block``), or an action outside the
    agent's allow-list was refused (rule ``tool_access``); ``found`` is what the rule reports
    (lengths, limits), at the top level of the detail."""

    type: ClassVar[str] = EventType.GUARDRAIL_BLOCKED

    rule: str
    action: str
    outcome: str
    count: int | None = field(default=None, metadata=OMIT)
    reply_length: int | None = field(default=None, metadata=OMIT)
    params: dict[str, Any] | None = field(default=None, metadata=OMIT)
    agent_id: str | None = field(default=None, metadata=OMIT)
    allowed: list[str] | None = field(default=None, metadata=OMIT)
    requested_by: str | None = field(default=None, metadata=OMIT)
    found: dict[str, Any] = field(default_factory=dict, metadata=EXTRA)


@dataclass(frozen=True, kw_only=True)
class GuardrailRedacted(GuardrailBlocked):
    """A guardrail rule cut something out of a reply (action ``redact``)."""

    type: ClassVar[str] = EventType.GUARDRAIL_REDACTED


@dataclass(frozen=True, kw_only=True)
class BudgetExceeded(Decision):
    type: ClassVar[str] = EventType.BUDGET_EXCEEDED

    budget: str  # steps | tokens | cost
    used: float
    limit: float
    usage: dict[str, Any] = field(default_factory=dict)


class DropReason:
    """``reasonCode`` of ``turn.dropped``: what moved while the agent was thinking."""

    NEWER_MESSAGE = "newer_message"
    CLAIMED = "claimed"
    HANDED_OVER = "handed_over"
    RESOLVED = "resolved"
    GAVE_UP = "gave_up"  # the turn never came back; the sweep told the customer


@dataclass(frozen=True, kw_only=True)
class TurnDropped(Decision):
    """An agent's answer to a customer message was not applied (never sent) because the
    conversation moved on while it ran."""

    type: ClassVar[str] = EventType.TURN_DROPPED

    turn: int  # the customer message's number (the conversation's ``turns`` then)
    reason: str  # for people: "a newer message", "a person claimed it", "resolved"
    reason_code: str = ""
    ran: bool = True  # whether the agent had run (False: dropped before it started)


@dataclass(frozen=True, kw_only=True)
class EmailFailed(Decision):
    """A reply could not be e-mailed to the customer after every attempt (conversations.email)."""

    type: ClassVar[str] = EventType.EMAIL_FAILED

    message_id: int  # our Message row
    to: str
    attempts: int
    error: str


@dataclass(frozen=True, kw_only=True)
class Unrecognised(Decision):
    """A stored event of a type this code does not know: its detail as it is."""

    kind: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_detail(self) -> dict[str, Any]:
        return dict(self.detail)


DECISIONS: dict[str, type[Decision]] = {
    cls.type: cls
    for cls in (
        MessageClassified,
        AgentRouted,
        AgentRerouted,
        RuleFired,
        Escalated,
        StateChanged,
        StallDetected,
        HandoffOffered,
        HandoffClaimed,
        HandoffExpired,
        ApprovalRequested,
        ApprovalDecided,
        ActionProposed,
        ActionExecuted,
        ActionFailed,
        AgentReplied,
        AgentError,
        WorkflowStep,
        GuardrailBlocked,
        GuardrailRedacted,
        BudgetExceeded,
        TurnDropped,
        OrchestratorDecided,
        EmailFailed,
    )
}


def decision_of(type: str, detail: Mapping[str, Any] | None) -> Decision:
    """The one reader: a stored event's detail as its typed event."""
    cls = DECISIONS.get(type)
    if cls is None:
        return Unrecognised(kind=type, detail=dict(detail or {}))
    return cls.from_detail(detail)


def read(event: Any) -> Decision:
    """The typed event of a ``DecisionEvent`` row, or of a row read with ``.values()``."""
    if isinstance(event, Mapping):
        return decision_of(event["type"], event.get("detail"))
    return decision_of(event.type, event.detail)

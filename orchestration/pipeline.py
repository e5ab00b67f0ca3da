"""The orchestrator's pipeline for one customer message (SPEC 4.1), in one transaction.

1. store the message; 2. detect intent, sentiment and risk (the caller's ``signals`` win);
3. with a human: deliver, no AI reply; 4. risk auto-escalation; 5. escalation rules (to an
agent, to a human, or to an agent with a human as the fallback when it escalates again, fails
``maxAttempts`` or is unavailable);
6. handoff rules, first match wins; then the router (SPEC 4.2: a supervisor's first message goes
to the matching specialist, a topic shift re-routes invisibly); 7. stall detection;
8. the current agent replies (or a sequential supervisor consults, or a workflow runs).
Every step writes its decision event with its duration. Notifications leave after commit.

The conversation row is locked for the whole turn, so a conversation's messages are handled
one at a time, in order, whichever process receives them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.detectors import REPEAT_SIMILARITY, similarity
from agents.models import Agent, AgentRole, Pattern, Workflow
from agents.orchestrator_settings import render_routing_instructions
from agents.rule_engine import RuleOutcome, fallback_attempts, trace
from agents.runtimes import AgentReply, StepCall, TurnContext, run_agent
from agents.runtimes.base import merge_signals
from agents.workflow_run import Blocked, Step, WorkflowRun, conversation_context
from approvals.selectors import approval_json
from approvals.services import ActionInvalid, ActionNotAllowed, action_propose
from conversations import decisions, lifecycle
from conversations.decisions import HUMAN, EscalationReason, RouteReason
from conversations.events import (
    events_buffered,
    record,
)
from conversations.messages import message_post
from conversations.models import (
    Conversation,
    Message,
    MessageRole,
    State,
)
from core.events import timed
from core.principals import (
    NOBODY,
    Principal,
)
from handover.services import hand_over
from orchestration.reply_guard import reply_guard
from orchestration.tenant_config import TenantConfig, tenant_config
from rules import rule_context

MAX_CONSULTATION_DEPTH = 3
RUNTIME_FAILURES_BEFORE_HUMAN = 2
TRANSCRIPT_LENGTH = 20
OPEN_STATES = (State.TRIAGED, State.ACTIVE, State.STALLED, State.AT_RISK)


class ConversationClosed(Exception):
    """The conversation is resolved: it takes no more messages."""


class BudgetExceeded(Exception):
    """The conversation's step, token or cost budget is crossed: the AI stops."""

    def __init__(self, budget: str, used: float, limit: float, agent: Agent):
        self.budget, self.used, self.limit, self.agent = budget, used, limit, agent
        super().__init__(f"{budget} budget crossed ({used} of {limit})")


@dataclass
class TurnResult:
    conversation: Conversation
    message: Message
    reply: Message | None = None
    notices: list[Message] = field(default_factory=list)
    handoff: dict[str, Any] | None = None
    approval: dict[str, Any] | None = None
    proposed_actions: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)  # what the rules saw this turn


@dataclass
class Turn:
    """What one pass through the pipeline knows and has done."""

    conversation: Conversation
    message: Message
    config: TenantConfig
    settings: dict[str, Any]
    context: dict[str, Any]
    result: TurnResult
    transcript: tuple[dict[str, Any], ...] = ()
    transferred: bool = False
    sent_by: Principal = NOBODY  # who posted the message through the API (approvals' causes)

    @property
    def previous_text(self) -> str | None:
        """The customer's message before this one (to spot a repeated question)."""
        return next(
            (m["text"] for m in reversed(self.transcript) if m["role"] == MessageRole.CUSTOMER),
            None,
        )

    @property
    def agent(self) -> Agent:
        return self.conversation.current_agent


# --- entry point -------------------------------------------------------------------------------


def conversation_receive_message(
    *,
    conversation: Conversation,
    text: str,
    signals: dict[str, Any] | None = None,
    sent_by: Principal = NOBODY,
) -> TurnResult:
    """Run one customer message through the pipeline; raises ConversationClosed. ``sent_by``
    is who posted it through the API (a person or a key): an action the AI proposes in
    answer may not be decided by them."""
    with transaction.atomic(), events_buffered():
        conv = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("tenant", "current_agent", "workflow")
            .get(pk=conversation.pk)
        )
        if conv.state == State.RESOLVED:
            raise ConversationClosed("This conversation is resolved; start a new one.")
        config = tenant_config(conv.tenant)
        with timed() as t:
            detected = config.detect(text)
        turn = _store(conv, config, text, detected, signals or {}, t[0])
        turn.sent_by = sent_by
        # with people, the message only reaches them (every message goes to the inbox group);
        # the AI stays silent
        if conv.state not in (State.WITH_HUMAN, State.HANDING_OFF):
            _orchestrate(turn)
        conv.save(update_fields=CONVERSATION_FIELDS)
    return turn.result


# What a turn may change on the conversation (its state is written by the lifecycle service).
CONVERSATION_FIELDS = [
    "current_agent",
    "workflow",
    "turns",
    "attempts",
    "runtime_failures",
    "escalation_fallback",
    "turns_without_progress",
    "last_customer_message_at",
    "last_activity_at",
    "workflow_state",
    "budget_used",
    "updated_at",
]


# --- steps -------------------------------------------------------------------------------------


def _store(
    conv: Conversation,
    config: TenantConfig,
    text: str,
    detected,
    given: dict[str, Any],
    detect_ms: float,
) -> Turn:
    """Store the message with its signals (the caller's win over the detectors')."""
    now = timezone.now()
    transcript = tuple(
        reversed(
            Message.objects.filter(conversation=conv)
            .order_by("-id")
            .values("role", "author", "text")[:TRANSCRIPT_LENGTH]
        )
    )
    signals = detected.as_dict()
    overridden = sorted(k for k in ("intent", "sentiment", "risk") if k in given)
    signals.update({k: given[k] for k in overridden})
    message = message_post(
        conversation=conv,
        role=MessageRole.CUSTOMER,
        author=conv.customer_name or conv.customer_ref,
        text=text,
        intent=signals["intent"] or "",
        sentiment=signals["sentiment"],
        risk=signals["risk"] or [],
    )
    conv.turns += 1
    conv.last_customer_message_at = now
    conv.last_activity_at = now
    found = detected.explanations()
    record(
        conversation=conv,
        event=decisions.MessageClassified(
            signals=signals,
            overridden=overridden,
            intent_found=found["intent"],
            sentiment_found=found["sentiment"],
            risk_found=found["risk"],
        ),
        message=message,
        duration_ms=detect_ms,
    )
    context = rule_context(
        intent=signals["intent"],
        sentiment=signals["sentiment"],
        risk=signals["risk"],
        channel=conv.channel,
        attempts=conv.attempts,
        turns=conv.turns,
        language=conv.language,
        customer=conv.customer_attributes,
    )
    return Turn(
        conversation=conv,
        message=message,
        config=config,
        settings={},
        context=context,
        result=TurnResult(conversation=conv, message=message, context=context),
        transcript=transcript,
    )


def _orchestrate(turn: Turn) -> None:
    conv = turn.conversation
    if conv.state == State.TRIAGED:
        lifecycle.conversation_transition(
            conversation=conv, to=State.ACTIVE, reason="first customer message"
        )
    elif conv.state == State.STALLED:
        lifecycle.conversation_transition(
            conversation=conv, to=State.ACTIVE, reason="the customer wrote again"
        )
    turn.settings = turn.config.settings_for(conv.current_agent)
    if _risk_escalation(turn) or _rules(turn):
        return
    if not turn.transferred:
        _route(turn)
    if _stall(turn):
        return
    _reply(turn)


def _risk_escalation(turn: Turn) -> bool:
    with timed() as t:
        hits = sorted(set(turn.context["risk"]) & set(turn.settings["riskCategories"]))
        fire = bool(turn.settings["riskAutoEscalation"] and hits)
    if not fire:
        return False
    conv = turn.conversation
    if conv.state == State.ACTIVE:
        lifecycle.conversation_transition(
            conversation=conv, to=State.AT_RISK, reason="risk detected", detail={"risk": hits}
        )
    record(
        conversation=conv,
        event=decisions.Escalated(
            to=HUMAN, reason="risk", reason_code=EscalationReason.RISK, categories=hits
        ),
        message=turn.message,
        duration_ms=t[0],
        rule="riskAutoEscalation",
        agent_slug=turn.agent.slug,
    )
    hand_over_to_human(turn, reason="risk", detail={"categories": hits})
    return True


def _rules(turn: Turn) -> bool:
    """Escalation then handoff rules of the current agent. True when the turn ends here."""
    conv = turn.conversation
    with timed() as t:
        rules = turn.config.rules_for(turn.agent)
        verdict = trace(rules, turn.context)
    rule_ref = f"{rules.owner} v{rules.version}" if rules.owner else ""
    if verdict.escalate:
        outcome = verdict.escalate
        fallback = outcome.fallback or None
        record(
            conversation=conv,
            event=decisions.RuleFired(
                kind="escalation", why=outcome.why, to=outcome.target, fallback=fallback
            ),
            message=turn.message,
            duration_ms=t[0],
            rule=f"{rule_ref} escalation",
            agent_slug=turn.agent.slug,
        )
        if _pending_fallback(turn):
            # the agent an escalation sent the conversation to escalates again
            _fallback_to_human(turn, f"{turn.agent.slug} escalated again")
            return True
        escalation = rules.escalation
        target = turn.config.agent(escalation["targetAgentId"])
        if target is not None and target.pk == turn.agent.pk:
            target = None  # an inherited rule naming the agent itself: it cannot take it
        if target is None and escalation["escalateToHuman"]:
            # to a human: asked for alone, or as the fallback of a target that is unavailable
            record(
                conversation=conv,
                event=decisions.Escalated(
                    to=HUMAN,
                    reason="escalation rule",
                    reason_code=EscalationReason.ESCALATION_RULE,
                    why=outcome.why,
                    unavailable=escalation["targetAgentId"] if fallback else None,
                ),
                message=turn.message,
                rule=f"{rule_ref} escalation",
                agent_slug=turn.agent.slug,
            )
            hand_over_to_human(turn, reason="escalation rule")
            return True
        if target is None:
            return False
        record(
            conversation=conv,
            event=decisions.Escalated(
                to=target.slug,
                reason="escalation rule",
                reason_code=EscalationReason.ESCALATION_RULE,
                why=outcome.why,
                fallback=fallback,
            ),
            message=turn.message,
            rule=f"{rule_ref} escalation",
            agent_slug=turn.agent.slug,
        )
        _transfer(
            turn,
            target,
            reason="escalation rule",
            reason_code=RouteReason.ESCALATION_RULE,
            rule=f"{rule_ref} escalation",
        )
        conv.attempts = 0
        if fallback:
            conv.escalation_fallback = {
                "agent": target.slug,
                "maxAttempts": fallback_attempts(escalation),
                "rule": f"{rule_ref} escalation",
            }
        return False
    if verdict.handoff and verdict.handoff.workflow:
        _start_workflow_by_rule(turn, verdict.handoff, rule_ref, t[0])
        return False
    if verdict.handoff and verdict.handoff.target != turn.agent.slug:
        target = turn.config.agent(verdict.handoff.target)
        if target is not None:
            record(
                conversation=conv,
                event=decisions.RuleFired(kind="handoff", why=verdict.handoff.why, to=target.slug),
                message=turn.message,
                duration_ms=t[0],
                rule=f"{rule_ref} {verdict.handoff.label.split(':')[0]}",
                agent_slug=turn.agent.slug,
            )
            _transfer(
                turn,
                target,
                reason="handoff rule",
                reason_code=RouteReason.HANDOFF_RULE,
                announce=True,
                rule=rule_ref,
            )
    return False


def _start_workflow_by_rule(
    turn: Turn, outcome: RuleOutcome, rule_ref: str, duration_ms: float
) -> None:
    """Issue 18 point 5: a handoff rule whose target is a workflow. The conversation runs
    that workflow from this message on (from its entry step, with no outputs yet), as if an
    API caller had started it with ``workflowId``; nothing changes while it already runs it."""
    conv = turn.conversation
    state = conv.workflow_state or {}
    if conv.workflow_id and conv.workflow.name == outcome.workflow and not state.get("done"):
        return
    workflow = Workflow.objects.filter(tenant_id=conv.tenant_id, name=outcome.workflow).first()
    if workflow is None:
        return  # renamed since the configuration snapshot was built
    record(
        conversation=conv,
        event=decisions.RuleFired(kind="handoff", why=outcome.why, to=outcome.destination),
        message=turn.message,
        duration_ms=duration_ms,
        rule=f"{rule_ref} {outcome.label.split(':')[0]}",
        agent_slug=turn.agent.slug,
    )
    conv.workflow = workflow
    conv.workflow_state = {}


def _pending_fallback(turn: Turn, speaker: Agent | None = None) -> dict[str, Any] | None:
    """The human fallback of an escalation to the current agent (SPEC 4.1 step 5), if it is
    still pending and ``speaker`` (default: the current agent) is that agent."""
    fallback = turn.conversation.escalation_fallback or {}
    agent = fallback.get("agent")
    if agent is None or agent != turn.agent.slug or (speaker and speaker.slug != agent):
        return None
    return fallback


def _fallback_to_human(turn: Turn, why: str) -> None:
    """The agent an escalation went to cannot resolve it: the conversation goes to people."""
    fallback = turn.conversation.escalation_fallback
    record(
        conversation=turn.conversation,
        event=decisions.Escalated(
            to=HUMAN,
            from_=fallback["agent"],
            reason="escalation fallback",
            reason_code=EscalationReason.ESCALATION_FALLBACK,
            why=why,
        ),
        message=turn.message,
        rule=fallback.get("rule", ""),
        agent_slug=turn.agent.slug,
    )
    hand_over_to_human(turn, reason=f"escalation fallback: {why}")


def _best_specialist(specialists: list[Agent], intent: str | None) -> Agent | None:
    if not intent:
        return None
    return next((s for s in specialists if intent in (s.domains or [])), None)


def _route(turn: Turn) -> None:
    """SPEC 4.2: a supervisor's first message goes to the specialist whose domains match the
    intent (announced under the handoff pattern); a later topic shift to another specialist's
    domain re-routes without telling the customer."""
    agent, intent = turn.agent, turn.context["intent"]
    with timed() as t:
        specialists = turn.config.specialists_of(agent)
        best = _best_specialist(specialists, intent)
    if best is None or best.pk == agent.pk:
        return
    if agent.role == AgentRole.SUPERVISOR:
        if agent.pattern == Pattern.SEQUENTIAL:
            return  # the supervisor keeps the customer and consults privately (in _reply)
        _transfer(
            turn,
            best,
            reason=f"intent {intent!r} is in its domains",
            reason_code=RouteReason.INTENT_IN_DOMAINS,
            intent=intent,
            announce=True,
            duration=t[0],
        )
        return
    if intent in (agent.domains or []):
        return
    _transfer(
        turn,
        best,
        reason=f"topic shifted to {intent!r}",
        reason_code=RouteReason.TOPIC_SHIFT,
        intent=intent,
        announce=False,
        rerouted=True,
        duration=t[0],
    )


def _transfer(
    turn: Turn,
    target: Agent,
    *,
    reason: str,
    reason_code: str,
    intent: str | None = None,
    announce: bool = False,
    rerouted: bool = False,
    rule: str = "",
    duration: float = 0.0,
) -> None:
    conv = turn.conversation
    source = turn.agent
    if announce:
        notice = _say(turn, source, f"I'm transferring you to {target.name}.")
        turn.result.notices.append(notice)
    conv.current_agent = target
    conv.escalation_fallback = {}  # a pending fallback belongs to the agent it was set for
    turn.transferred = True
    event = decisions.AgentRerouted if rerouted else decisions.AgentRouted
    record(
        conversation=conv,
        event=event(
            from_=source.slug,
            to=target.slug,
            reason=reason,
            reason_code=reason_code,
            intent=intent,
            announced=announce,
        ),
        message=turn.message,
        duration_ms=duration,
        rule=rule,
        agent_slug=target.slug,
    )


def _stall(turn: Turn) -> bool:
    """Repeated question or no progress for stallThreshold turns: re-route or hand over."""
    conv = turn.conversation
    with timed() as t:
        repeat = similarity(turn.message.text, turn.previous_text) if turn.previous_text else 0.0
        repeated = repeat >= REPEAT_SIMILARITY
        stuck = conv.turns_without_progress >= turn.settings["stallThreshold"]
    if not (repeated or stuck) or conv.state != State.ACTIVE or turn.transferred:
        return False
    reason = "repeated question" if repeated else "no progress"
    lifecycle.conversation_transition(conversation=conv, to=State.STALLED, reason=reason)
    record(
        conversation=conv,
        event=decisions.StallDetected(
            reason=reason,
            similarity=round(repeat, 3),
            turns_without_progress=conv.turns_without_progress,
            stall_threshold=turn.settings["stallThreshold"],
        ),
        message=turn.message,
        duration_ms=t[0],
        agent_slug=turn.agent.slug,
    )
    intent = turn.context["intent"]
    better = _best_specialist(turn.config.specialists_of(turn.agent), intent)
    if better is not None and better.pk != turn.agent.pk:
        _transfer(
            turn,
            better,
            reason=f"stalled ({reason})",
            reason_code=RouteReason.STALLED,
            intent=intent,
            rerouted=True,
        )
        conv.turns_without_progress = 0
        lifecycle.conversation_transition(
            conversation=conv, to=State.ACTIVE, reason=f"re-routed to {better.slug}"
        )
        return False
    record(
        conversation=conv,
        event=decisions.Escalated(
            to=HUMAN,
            reason=f"stalled ({reason}) and no better-suited agent",
            reason_code=EscalationReason.STALLED,
        ),
        message=turn.message,
        agent_slug=turn.agent.slug,
    )
    hand_over_to_human(turn, reason=f"stalled: {reason}")
    return True


# --- replies -----------------------------------------------------------------------------------


def _turn_context(
    turn: Turn, agent: Agent, consultation=(), step: StepCall | None = None
) -> TurnContext:
    conv = turn.conversation
    return TurnContext(
        tenant_name=conv.tenant.name,
        agent=turn.config.specs[agent.pk],
        conversation_id=str(conv.pk),
        channel=conv.channel,
        message=turn.message.text,
        signals={k: turn.context[k] for k in ("intent", "sentiment", "risk")},
        customer={
            "id": conv.customer_ref,
            "name": conv.customer_name,
            "email": conv.customer_email,
            "attributes": conv.customer_attributes,
        },
        transcript=turn.transcript,
        routing_instructions=render_routing_instructions(
            turn.settings.get("routingInstructions") or "", conv.tenant
        ),
        model=turn.settings.get("model") or "",
        consultation=tuple(consultation),
        step=step,
    )


# the budgets of a conversation (orchestrator settings) and what each counts in budget_used
BUDGETS = (("steps", "stepBudget"), ("tokens", "tokenBudget"), ("cost", "costBudget"))


def _budget_check(turn: Turn, agent: Agent, *, before_run: bool) -> None:
    """Raise BudgetExceeded when a budget is crossed: before a run, when one more step would
    pass the step budget; after it, when the reported tokens or cost passed theirs."""
    used = turn.conversation.budget_used
    for name, setting in BUDGETS:
        limit = turn.settings.get(setting)
        if limit is None:
            continue
        value = used.get(name, 0)
        if (before_run and name == "steps" and value + 1 > limit) or (
            not before_run and name != "steps" and value > limit
        ):
            raise BudgetExceeded(name, value, limit, agent)


def _run(turn: Turn, agent: Agent, consultation=(), step: StepCall | None = None) -> AgentReply:
    """One agent run (a reply, a consultation or a workflow step): one step of the budget,
    plus the tokens and cost the runtime reports."""
    conv = turn.conversation
    conv.budget_used = dict(conv.budget_used or {})
    _budget_check(turn, agent, before_run=True)
    reply = run_agent(_turn_context(turn, agent, consultation, step))
    used = conv.budget_used
    used["steps"] = used.get("steps", 0) + 1
    if reply.tokens:
        used["tokens"] = used.get("tokens", 0) + reply.tokens
    if reply.cost:
        used["cost"] = round(used.get("cost", 0.0) + reply.cost, 6)
    if reply.error:
        record(
            conversation=turn.conversation,
            event=decisions.AgentError(
                error=reply.error, attempts=reply.attempts, runtime=dict(reply.detail)
            ),
            message=turn.message,
            duration_ms=reply.duration_ms,
            agent_slug=agent.slug,
        )
    _budget_check(turn, agent, before_run=False)
    return reply


def _budget_stop(turn: Turn, exc: BudgetExceeded) -> None:
    record(
        conversation=turn.conversation,
        event=decisions.BudgetExceeded(
            budget=exc.budget,
            used=exc.used,
            limit=exc.limit,
            usage=dict(turn.conversation.budget_used),
        ),
        message=turn.message,
        rule=f"{exc.budget} budget",
        agent_slug=exc.agent.slug,
    )
    hand_over_to_human(turn, reason=f"{exc.budget} budget exceeded")


def _consult(turn: Turn, agent: Agent, depth: int, seen: set[int]) -> list[dict[str, Any]]:
    """A sequential supervisor asks the matching specialist privately; a specialist that is
    itself a sequential supervisor asks on, at most MAX_CONSULTATION_DEPTH deep, never in a
    circle."""
    specialist = _best_specialist(turn.config.specialists_of(agent), turn.context["intent"])
    if specialist is None:
        return []
    if specialist.pk in seen or depth >= MAX_CONSULTATION_DEPTH:
        record(
            conversation=turn.conversation,
            event=decisions.AgentRouted(
                mode=decisions.CONSULTATION,
                reason_code=RouteReason.CONSULTATION,
                from_=agent.slug,
                to=specialist.slug,
                stopped="cycle" if specialist.pk in seen else "depth limit",
                depth=depth,
            ),
            message=turn.message,
            agent_slug=agent.slug,
        )
        return []
    seen.add(specialist.pk)
    inner = []
    if specialist.role == AgentRole.SUPERVISOR and specialist.pattern == Pattern.SEQUENTIAL:
        inner = _consult(turn, specialist, depth + 1, seen)
    with timed() as t:
        reply = _run(turn, specialist, inner)
    record(
        conversation=turn.conversation,
        event=decisions.AgentRouted(
            mode=decisions.CONSULTATION,
            reason_code=RouteReason.CONSULTATION,
            from_=agent.slug,
            to=specialist.slug,
            depth=depth + 1,
            answered=reply.answered,
        ),
        message=turn.message,
        duration_ms=t[0],
        agent_slug=specialist.slug,
    )
    if reply.error or not reply.text:
        return []
    return [{"agent": specialist.slug, "text": reply.text, "answered": reply.answered}]


def _reply(turn: Turn) -> None:
    conv = turn.conversation
    agent = turn.agent
    try:
        if conv.workflow_id and not conv.workflow_state.get("done"):
            reply, speaker = _run_workflow(turn)
            if reply is None:
                return
        else:
            consultation = []
            if agent.role == AgentRole.SUPERVISOR and agent.pattern == Pattern.SEQUENTIAL:
                consultation = _consult(turn, agent, 0, {agent.pk})
            reply = _run(turn, agent, consultation)
            speaker = agent
    except BudgetExceeded as exc:
        _budget_stop(turn, exc)
        return
    _account(turn, reply, speaker)
    _apply_reply_signals(turn, reply, speaker)


def _apply_reply_signals(turn: Turn, reply: AgentReply, speaker: Agent) -> None:
    """Issue 18 point 7: the signals a runtime returned with its reply (a webhook's intent,
    sentiment, risk; checked by the runtime) join the turn's as a caller's ``signals`` would,
    and feed risk auto-escalation, then the escalation and handoff rules once more. Nothing
    happens when they change nothing or the conversation already left the AI."""
    conv = turn.conversation
    if not reply.signals or conv.state not in OPEN_STATES:
        return
    merged, changed = merge_signals(turn.context, reply.signals)
    if not changed:
        return
    turn.context.update(merged)
    record(
        conversation=conv,
        event=decisions.MessageClassified(signals=merged, overridden=changed, by=speaker.slug),
        message=turn.message,
        agent_slug=speaker.slug,
    )
    if not _risk_escalation(turn):
        _rules(turn)


def _account(turn: Turn, reply: AgentReply, speaker: Agent) -> None:
    """Store the reply and count the attempt; fall back to a human after repeated failure."""
    conv = turn.conversation
    if reply.error:
        conv.runtime_failures += 1
        conv.attempts += 1
        conv.turns_without_progress += 1
        if _pending_fallback(turn, speaker):
            _fallback_to_human(turn, f"{speaker.slug} is unavailable ({reply.error})")
        elif conv.runtime_failures >= RUNTIME_FAILURES_BEFORE_HUMAN:
            record(
                conversation=conv,
                event=decisions.Escalated(
                    to=HUMAN,
                    reason=f"{speaker.slug} failed {conv.runtime_failures} times in a row",
                    reason_code=EscalationReason.RUNTIME_FAILING,
                ),
                message=turn.message,
                agent_slug=speaker.slug,
            )
            hand_over_to_human(turn, reason="agent runtime failing")
        return
    conv.runtime_failures = 0
    text, answered, outcome = reply.text, reply.answered, "pass"
    if text:
        # the guardrails, on every AI reply before it is stored or sent
        verdict = reply_guard(
            conversation=conv,
            policy=turn.config.guardrails_for(speaker),
            text=text,
            agent_slug=speaker.slug,
            message=turn.message,
        )
        text, outcome = verdict.text, verdict.outcome
        if outcome in ("fallback", "blocked"):
            answered = False
    if answered:
        conv.attempts = 0
        conv.turns_without_progress = 0
    else:
        conv.attempts += 1
        conv.turns_without_progress += 1
    if text:
        turn.result.reply = _say(turn, speaker, text)
    record(
        conversation=conv,
        event=decisions.AgentReplied(
            answered=answered,
            guardrails=None if outcome == "pass" else outcome,
            runtime=dict(reply.detail),
        ),
        message=turn.message,
        duration_ms=reply.duration_ms,
        agent_slug=speaker.slug,
    )
    if outcome == "blocked":
        # the AI is stopped: nothing is sent, its proposals are dropped, people take over
        hand_over_to_human(turn, reason="guardrail blocked the reply")
        return
    fallback = _pending_fallback(turn, speaker)
    if fallback and conv.attempts >= fallback["maxAttempts"]:
        _fallback_to_human(turn, f"{speaker.slug} failed {conv.attempts} attempt(s)")
        return
    for index, action in enumerate(reply.proposed_actions):
        proposed = {"action": action.name, "params": dict(action.params), "agentId": speaker.slug}
        turn.result.proposed_actions.append(proposed)
        # the approvals gate: waits for approvers, or runs at once (after commit)
        try:
            proposal = action_propose(
                conversation=conv,
                action=action.name,
                params=dict(action.params),
                idempotency_key=f"message:{turn.message.pk}:{index}",
                requested_by_label=f"agent:{speaker.slug}",
                sent_by=turn.sent_by,
                context=turn.context,
                message=turn.message,
                agent_slug=speaker.slug,
                agent=speaker,
            )
        except ActionNotAllowed:
            proposed["refused"] = "action_not_allowed"  # the gate recorded guardrail.blocked
            continue
        except ActionInvalid as exc:
            record(
                conversation=conv,
                event=decisions.ActionProposed(
                    action=action.name,
                    params=dict(action.params),
                    agent_id=speaker.slug,
                    rejected=exc.errors,
                ),
                message=turn.message,
                agent_slug=speaker.slug,
            )
            continue
        if proposal.waiting and turn.result.approval is None:
            turn.result.approval = approval_json(proposal.approval)


def _run_workflow(turn: Turn) -> tuple[AgentReply | None, Agent | None]:
    """SPEC 4.4: the entry step, then each later step whose condition holds over the outputs
    gathered so far, within the workflow's step budget (counted over the conversation). Each
    step gets exactly the inputs it names and gives the outputs it declares
    (``agents.workflow_run``). A step whose condition can never hold is an event, not a crash;
    when no step answered, the conversation's own agent answers (the fallback)."""
    conv = turn.conversation
    workflow = conv.workflow
    state = dict(conv.workflow_state or {})
    taken = int(state.get("stepsTaken") or 0)
    rows = list(workflow.steps.select_related("agent").order_by("position", "id"))
    run = WorkflowRun(
        name=workflow.name,
        steps=[
            Step(
                index=i,
                agent=row.agent.slug,
                condition=row.condition,
                inputs=tuple(row.inputs or ()),
                outputs=tuple(row.outputs or ()),
            )
            for i, row in enumerate(rows)
        ],
        conversation=turn.context,
        context=conversation_context(
            transcript=turn.transcript,
            customer={
                "id": conv.customer_ref,
                "name": conv.customer_name,
                "email": conv.customer_email,
                "attributes": conv.customer_attributes,
            },
            signals=turn.context,
        ),
        outputs=dict(state.get("outputs") or {}),
    )
    last: tuple[AgentReply | None, Agent | None] = (None, None)  # the last reply with text
    answered: tuple[AgentReply | None, Agent | None] = (None, None)  # the last that answered
    ran: set[int] = set()
    for step, row in zip(run.steps, rows, strict=True):
        due = run.check(step)
        if isinstance(due, Blocked):
            record(
                conversation=conv,
                event=decisions.WorkflowStep(
                    agent=step.agent,
                    condition=step.condition,
                    stopped="cannot proceed",
                    why=due.why,
                    step=step.index + 1,
                ),
                message=turn.message,
                rule=f"workflow {workflow.name} step {step.index + 1}",
                agent_slug=step.agent,
            )
            continue
        if not due:
            continue
        if taken >= workflow.step_budget:
            record(
                conversation=conv,
                event=decisions.WorkflowStep(
                    stopped="step budget", budget=workflow.step_budget, taken=taken
                ),
                message=turn.message,
                rule=f"workflow {workflow.name}",
            )
            conv.workflow_state = {
                **state,
                "outputs": run.outputs,
                "stepsTaken": taken,
                "done": True,
            }
            hand_over_to_human(turn, reason="workflow step budget exhausted")
            return None, None
        call = run.call(step)
        with timed() as t:
            reply = _run(turn, row.agent, step=call)
        taken += 1
        ran.add(row.agent_id)
        produced = run.collect(step, reply.outputs)
        record(
            conversation=conv,
            event=decisions.WorkflowStep(
                agent=step.agent,
                condition=step.condition,
                outputs=produced,
                inputs=sorted(call.inputs),
                step=step.index + 1,
            ),
            message=turn.message,
            duration_ms=t[0],
            rule=f"workflow {workflow.name} step {step.index + 1}",
            agent_slug=step.agent,
        )
        if reply.error:
            conv.workflow_state = {"outputs": run.outputs, "stepsTaken": taken, "done": False}
            return reply, row.agent
        if reply.text:
            last = (reply, row.agent)
            if reply.answered:
                answered = last
    conv.workflow_state = {"outputs": run.outputs, "stepsTaken": taken, "done": False}
    if answered[0] is not None:
        return answered
    if last[0] is None or turn.agent.pk not in ran:
        # no step answered: the conversation's own agent does (unless it just did, as a step)
        record(
            conversation=conv,
            event=decisions.WorkflowStep(
                stopped="no step answered", fallback=turn.agent.slug, taken=taken
            ),
            message=turn.message,
            rule=f"workflow {workflow.name}",
            agent_slug=turn.agent.slug,
        )
        return _run(turn, turn.agent), turn.agent
    return last


# --- hand-over and messages ----------------------------------------------------------------------


def hand_over_to_human(turn: Turn, *, reason: str, detail: dict[str, Any] | None = None) -> None:
    """The pipeline's hand-over (``handover.services.hand_over``), with the turn's settings and
    signals."""
    conv = turn.conversation
    handed = hand_over(
        conversation=conv,
        reason=reason,
        detail=detail,
        settings=turn.settings or turn.config.settings_for(conv.current_agent),
        risk=turn.context.get("risk") or (),
        sentiment=turn.context.get("sentiment"),
    )
    if handed is None:
        return
    notice, handoff = handed
    turn.result.notices.append(notice)
    turn.result.handoff = {"id": handoff.pk, "mode": handoff.mode, "status": handoff.status}


def _say(turn: Turn, agent: Agent | None, text: str, role: str = MessageRole.AGENT) -> Message:
    return message_post(
        conversation=turn.conversation,
        role=role,
        author=agent.slug if agent else "system",
        text=text,
    )

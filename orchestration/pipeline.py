"""The decide phase of a customer message's turn (SPEC 4.1), in one short transaction.

1. store the message; 2. detect intent, sentiment and risk (the caller's ``signals`` win);
3. with a human: deliver, no AI reply; 4. risk auto-escalation; 5. escalation rules (to an
agent, to a human, or to an agent with a human as the fallback when it escalates again, fails
``maxAttempts`` or is unavailable);
6. handoff rules, first match wins (a sequential or concurrent supervisor keeps the customer);
then the router (SPEC 4.2: a supervisor's first message goes to the matching specialist, who
keeps it under handoff); 7. stall detection;
8. when the current agent must answer, the AI turn is recorded on the conversation as pending
(``ai_turn``) and its run is dispatched through the outbox: the agent's runtime is called
later, outside this transaction (``orchestration.turns``).
Every step writes its decision event with its duration. Notifications leave after commit.

The conversation row is locked while the message is decided, so a conversation's messages are
decided one at a time, in order, whichever process receives them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from agents.detectors import REPEAT_SIMILARITY, similarity
from agents.models import Agent, AgentRole, Pattern, Workflow
from agents.rule_engine import RuleOutcome, fallback_attempts, trace
from conversations import decisions, lifecycle
from conversations.decisions import HUMAN, EscalationReason, RouteReason
from conversations.events import (
    events_buffered,
    record,
)
from conversations.messages import message_post
from conversations.models import (
    Attachment,
    Conversation,
    Message,
    MessageRole,
    State,
)
from conversations.selectors import CONVERSATION_ID
from core.compiled import INT_MARK, Compiled, CompiledSave, Marker
from core.events import (
    conversation_group,
    conversation_watchers_group,
    notify_on_commit,
    timed,
)
from core.outbox import outbox_task
from core.principals import (
    NOBODY,
    Principal,
)
from handover.services import hand_over
from handover.snooze import snooze_ends_on_customer_message
from orchestration.agent_runs import best_specialist
from orchestration.tenant_config import TenantConfig, tenant_config
from orchestration.turn import (
    RUN_TURN_TASK,
    ConversationClosed,
    ReplyStatus,
    Turn,
    TurnResult,
)
from rules import rule_context

RUNTIME_FAILURES_BEFORE_HUMAN = 2
TRANSCRIPT_LENGTH = 20
OPEN_STATES = (State.TRIAGED, State.ACTIVE, State.STALLED, State.AT_RISK)


# --- entry point -------------------------------------------------------------------------------


def conversation_decide(
    *,
    conversation: Conversation,
    text: str,
    signals: dict[str, Any] | None = None,
    sent_by: Principal = NOBODY,
    config: TenantConfig | None = None,
    files: Sequence[Attachment] = (),
) -> TurnResult:
    """Decide one customer message, in one short transaction; raises ConversationClosed.
    ``files``: what came with it (``conversations.attachments``), stored beforehand.
    When an agent must answer, the answer is pending (``result.reply_status``) and its turn
    number is ``result.ai_turn``: the caller runs it (``orchestration.turns``). ``sent_by``
    is who posted it through the API (a person or a key): an action the AI proposes in answer
    may not be decided by them. ``config`` replaces the tenant's cached configuration (the
    rule tester's dry run of a draft rule set)."""
    # The configuration before the transaction: where this process has no snapshot yet (its
    # first message, or the first after a change) it is built from the database, a handful of
    # queries and compiling the rules (about 100 ms), and no row lock may wait on that.
    tenant = conversation.tenant
    config = config or tenant_config(tenant)
    with transaction.atomic(), events_buffered():
        # one statement: the lock, the tenant check (a conversation of another tenant is not
        # found) and the customer's previous message (a repeated question stalls); the tenant
        # and the agent come from memory (the caller's tenant, the cached configuration's
        # agents), the workflow only when one runs
        conv = _locked(conversation.pk, conversation.tenant_id)
        if conv.state == State.RESOLVED:
            raise ConversationClosed("This conversation is resolved; start a new one.")
        conv.tenant = tenant
        agent = config.agents.get(conv.current_agent_id)
        if agent is not None:
            conv.current_agent = agent
        with timed() as t:
            detected = config.detect(text, conv.current_agent)
        turn = _store(conv, config, text, detected, signals or {}, t[0], files)
        turn.sent_by = sent_by
        # with people, the message only reaches them (every message goes to the inbox group);
        # the AI stays silent
        if conv.state not in (State.WITH_HUMAN, State.HANDING_OFF):
            _orchestrate(turn)
        elif conv.state == State.WITH_HUMAN:
            snooze_ends_on_customer_message(conv)  # they wrote: the person's snooze is over
        SAVE_TURN.save(conv)
    return turn.result


_PREVIOUS_CUSTOMER_TEXT = Subquery(
    Message.objects.filter(conversation=OuterRef("pk"), role=MessageRole.CUSTOMER)
    .order_by("-id")
    .values("text")[:1]
)
# The lock query, compiled by the ORM once per process and database vendor (compiling it cost
# more CPU than running it; core/compiled.py). The tenant is checked on ``tenant_id + 0``, an
# expression no index serves, so the primary key is the only way in: compared on the column, a
# plan could read the tenant's index instead and step through every conversation of the tenant
# to find one (PostgreSQL chose that on a table it had no statistics for yet, and kept it as the
# prepared statement's generic plan).
LOCK = Compiled(
    lambda pk, tenant: (
        Conversation.objects.select_for_update()
        .annotate(previous_customer_text=_PREVIOUS_CUSTOMER_TEXT)
        .alias(owner=F("tenant_id") + 0)
        .filter(pk=pk, owner=tenant)
        .order_by()
    ),
    pk=CONVERSATION_ID,
    tenant=Marker(INT_MARK),
)


def _locked(pk: Any, tenant_id: int) -> Conversation:
    """The conversation, locked, with its customer's previous message; DoesNotExist when it
    is not the tenant's."""
    try:
        found = LOCK.first(pk=pk, tenant=tenant_id)
    except ValidationError:
        raise Conversation.DoesNotExist from None  # not an id at all: no such conversation
    if found is None:
        raise Conversation.DoesNotExist("Conversation matching query does not exist.")
    return found


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
    "ai_turn",
    "ai_turn_at",
    "ai_turn_message",
    "ai_turn_detail",
    "updated_at",
]
# written in one UPDATE whose SQL is written once (core/compiled.py)
SAVE_TURN = CompiledSave(Conversation, CONVERSATION_FIELDS)


def typing_on_commit(conversation: Conversation, *, typing: bool) -> None:
    """Tell the customer's socket and the inboxes that have the conversation open that the AI
    is writing (or has stopped); the customer's widget names no agent, so neither does the
    event."""
    notify_on_commit(
        [conversation_group(conversation.pk), conversation_watchers_group(conversation.pk)],
        {"type": "agent.typing", "conversationId": str(conversation.pk), "typing": typing},
    )


def _request_reply(turn: Turn) -> None:
    """SPEC 4.1 step 8, decided: the current agent must answer. The AI turn is recorded as
    pending on the conversation and its run is dispatched through the outbox (after commit,
    the ``orchestration.run_turn`` task), unless the caller runs it inline."""
    conv = turn.conversation
    sent_by = turn.sent_by
    conv.ai_turn = conv.turns
    conv.ai_turn_at = timezone.now()
    conv.ai_turn_message = turn.message
    conv.ai_turn_detail = {
        **{k: v for k, v in (conv.ai_turn_detail or {}).items() if k == "outcomes"},
        "context": turn.context,
        "sentBy": {
            "user": getattr(sent_by.user, "pk", None),
            "key": getattr(sent_by.key, "pk", None),
        },
        "dispatches": 1,
        # the model-driven orchestrator decides what the rules left open (in the run phase)
        "orchestrator": bool(turn.settings.get("orchestratorEndpoint")) and not turn.ruled,
    }
    turn.result.reply_status = ReplyStatus.PENDING
    turn.result.ai_turn = conv.ai_turn
    typing_on_commit(conv, typing=True)
    if settings.TURN_DISPATCH == "outbox":
        outbox_task(
            tenant_id=conv.tenant_id,
            task=RUN_TURN_TASK,
            args=[str(conv.pk), conv.ai_turn, turn.message.pk],
        )


# --- steps -------------------------------------------------------------------------------------


def _store(
    conv: Conversation,
    config: TenantConfig,
    text: str,
    detected,
    given: dict[str, Any],
    detect_ms: float,
    files: Sequence[Attachment] = (),
) -> Turn:
    """Store the message with its signals (the caller's win over the detectors')."""
    now = timezone.now()
    # what deciding needs of the transcript: the customer's previous message, read with the
    # lock (the agent's run reads the transcript it needs itself)
    previous = getattr(conv, "previous_customer_text", None)
    transcript = (
        ({"role": MessageRole.CUSTOMER, "author": "", "text": previous},) if previous else ()
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
        files=files,
    )
    conv.turns += 1
    if conv.ai_turn_at is not None:
        # an answer to an earlier message is still pending: this message supersedes it (its
        # outcome will be dropped), whatever is decided for this one
        conv.ai_turn_at = None
        conv.ai_turn_message = None
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
        verified=conv.customer_verified,
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
    _request_reply(turn)


def reconsider(turn: Turn) -> bool:
    """Risk auto-escalation, then the escalation and handoff rules, once more: the turn's
    signals changed after the decide phase (a runtime returned its own, issue 18 point 7).
    True when the turn ends here (people take over)."""
    return _risk_escalation(turn) or _rules(turn)


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
    if rules.owner and rules.version is None:
        rule_ref = f"{rules.owner} (draft)"  # the rule tester's unsaved rules
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
        if pending_fallback(turn):
            # the agent an escalation sent the conversation to escalates again
            fallback_to_human(turn, f"{turn.agent.slug} escalated again")
            return True
        escalation = rules.escalation
        if escalation is None:  # a verdict to escalate comes from an escalation section
            return False
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
        turn.ruled = True  # a rule decided the turn: the orchestrator's model is not asked
        return False
    if verdict.handoff and verdict.handoff.target != turn.agent.slug:
        target = turn.config.agent(verdict.handoff.target)
        if target is not None and _keeps_the_customer(turn.agent):
            # a sequential (or concurrent) supervisor stays in charge: it consults, never
            # transfers (docs 002); the rule is recorded, and decides the turn
            turn.ruled = True
            record(
                conversation=conv,
                event=decisions.RuleFired(
                    kind="handoff",
                    why=[*verdict.handoff.why, f"{turn.agent.slug} is {turn.agent.pattern}: kept"],
                    to=target.slug,
                ),
                message=turn.message,
                duration_ms=t[0],
                rule=f"{rule_ref} {verdict.handoff.label.split(':')[0]}",
                agent_slug=turn.agent.slug,
            )
        elif target is not None:
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


def _keeps_the_customer(agent: Agent) -> bool:
    return agent.role == AgentRole.SUPERVISOR and agent.pattern in (
        Pattern.SEQUENTIAL,
        Pattern.CONCURRENT,
    )


def _start_workflow_by_rule(
    turn: Turn, outcome: RuleOutcome, rule_ref: str, duration_ms: float
) -> None:
    """Issue 18 point 5: a handoff rule whose target is a workflow. The conversation runs
    that workflow from this message on (from its entry step, with no outputs yet), as if an
    API caller had started it with ``workflowId``; nothing changes while it already runs it."""
    conv = turn.conversation
    state = conv.workflow_state or {}
    running = conv.workflow
    if running is not None and running.name == outcome.workflow and not state.get("done"):
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


def pending_fallback(turn: Turn, speaker: Agent | None = None) -> dict[str, Any] | None:
    """The human fallback of an escalation to the current agent (SPEC 4.1 step 5), if it is
    still pending and ``speaker`` (default: the current agent) is that agent."""
    fallback = turn.conversation.escalation_fallback or {}
    agent = fallback.get("agent")
    if agent is None or agent != turn.agent.slug or (speaker and speaker.slug != agent):
        return None
    return fallback


def fallback_to_human(turn: Turn, why: str) -> None:
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


def _route(turn: Turn) -> None:
    """SPEC 4.2: a supervisor's first message goes to the specialist whose domains match the
    intent (announced under the handoff pattern), who then answers every following message; a
    topic shift re-routes (without telling the customer) only a specialist that a sequential or
    concurrent supervisor's conversation reached otherwise (started there, or escalated)."""
    agent, intent = turn.agent, turn.context["intent"]
    with timed() as t:
        specialists = turn.config.specialists_of(agent)
        best = best_specialist(specialists, intent)
    if best is None or best.pk == agent.pk:
        return
    if agent.role == AgentRole.SUPERVISOR:
        if agent.pattern in (Pattern.SEQUENTIAL, Pattern.CONCURRENT):
            return  # the supervisor keeps the customer and consults privately (in the run)
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
    lead = turn.config.agents.get(agent.supervisor_id) if agent.supervisor_id else None
    if lead is None or lead.pattern == Pattern.HANDOFF or intent in (agent.domains or []):
        # under handoff, every following message is answered by the specialist (docs 002)
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
        notice = say(turn, source, f"I'm transferring you to {target.name}.")
        turn.result.notices.append(notice)
    conv.current_agent = target
    conv.escalation_fallback = {}  # a pending fallback belongs to the agent it was set for
    turn.transferred = True
    turn.ruled = turn.ruled or reason_code in (
        RouteReason.ESCALATION_RULE,
        RouteReason.HANDOFF_RULE,
    )
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


def transfer(turn: Turn, target: Agent, **how: Any) -> None:
    """A transfer decided outside this module (the apply phase of the model's choice)."""
    _transfer(turn, target, **how)


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
    better = best_specialist(turn.config.specialists_of(turn.agent), intent)
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


def say(turn: Turn, agent: Agent | None, text: str, role: str = MessageRole.AGENT) -> Message:
    return message_post(
        conversation=turn.conversation,
        role=role,
        author=agent.slug if agent else "system",
        text=text,
    )

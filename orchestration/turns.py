"""A customer message's turn: decide, run, apply (the one entry: ``conversation_receive_message``).

1. **Decide** (``pipeline.conversation_decide``): one short transaction that locks the
   conversation, stores the message, runs detection, rules, routing, escalation and stall
   detection, and when an agent must answer records the AI turn as pending on the conversation
   (``ai_turn``, ``ai_turn_at``, ``ai_turn_message``) with an outbox row for its run.
2. **Run** (``execute`` -> ``agent_runs.run_plan``): the turn is read back as plain data (the
   transcript, the agent's spec, the consultation chain, the workflow's steps), the database
   connection is given back, and the runtime calls are made with no transaction open and no
   connection held.
3. **Apply** (``apply``): one short transaction that locks the conversation again and applies
   the outcome only if nothing moved meanwhile: the same AI turn still pending, the AI still in
   charge, no newer customer message. Then the guardrails, the reply, the approvals gate,
   the budgets, the events, the notifications. A stale outcome is dropped (never sent) with a
   ``turn.dropped`` decision event saying why.

Where runs happen: ``TURN_DISPATCH = "outbox"`` (the default) sends the run to the
``orchestration.run_turn`` Celery task (its own queue, ``CELERY_TURNS_QUEUE``, served by a
threads-pool worker in production; on the embedded default the outbox hands it to the
in-process runner). ``"inline"`` runs it in the caller right after the decide transaction
(the tests, and tools that want the reply in hand). Either way the same ``execute`` runs it,
and running it twice applies it once (by conversation and turn number).

``turn_sweep`` re-dispatches a turn pending past ``TURN_STALE_SECONDS`` once, then tells the
customer and hands over. ``turn_wait`` lets the API wait for the outcome without holding a
database connection.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from agents.models import Agent, WorkflowStep
from agents.runtimes import AgentReply, AgentSpec
from agents.runtimes.base import merge_signals
from approvals.selectors import approval_json
from approvals.services import ActionInvalid, ActionNotAllowed, action_propose
from config.admission import released, section
from conversations import decisions, lifecycle
from conversations.decisions import HUMAN, DropReason, EscalationReason, RouteReason
from conversations.events import events_buffered, record
from conversations.models import (
    INTERNAL_ROLES,
    Attachment,
    Conversation,
    Message,
    MessageRole,
    State,
)
from conversations.selectors import CONVERSATION_ID, conversation_by_id, conversation_locked
from core.compiled import INT_MARK, Compiled, Marker
from core.models import ApiKey
from core.observability.steps import turn_done, turn_step
from core.outbox import outbox_task
from core.principals import NOBODY, Principal
from core.selectors import tenant_by_id
from orchestration import orchestrator_model
from orchestration.agent_runs import (
    BudgetStop,
    Outcome,
    RunPlan,
    Speaker,
    Step,
    plan_of,
    run_plan,
)
from orchestration.pipeline import (
    OPEN_STATES,
    RUNTIME_FAILURES_BEFORE_HUMAN,
    SAVE_TURN,
    TRANSCRIPT_LENGTH,
    conversation_decide,
    fallback_to_human,
    hand_over_to_human,
    pending_fallback,
    reconsider,
    say,
    transfer,
    typing_on_commit,
)
from orchestration.reply_guard import reply_guard
from orchestration.tenant_config import TenantConfig, tenant_config
from orchestration.turn import (
    RUN_TURN_TASK,
    ConversationClosed,
    ReplyStatus,
    Turn,
    TurnResult,
)

log = logging.getLogger(__name__)

__all__ = ["ConversationClosed", "ReplyStatus", "TurnResult", "conversation_receive_message"]

# What the customer reads when the agent could not answer (its runtime failed after its
# retries, or the turn never came back).
AGENT_FAILED_TEXT = (
    "Sorry, I could not answer that just now. Please write again in a moment, or ask for a person."
)
OUTCOMES_KEPT = 5  # the last turns' outcomes kept on the conversation, for waiting callers
SWEEP_BATCH = 200
WAIT_POLL_SECONDS = (0.05, 0.1, 0.2, 0.25)  # the waiting caller's polls, then every 0.25 s
MAX_WAIT_SECONDS = 30

_TURN_FIELDS = ["ai_turn", "ai_turn_at", "ai_turn_message", "ai_turn_detail", "updated_at"]


# --- the entry ---------------------------------------------------------------------------------


def conversation_receive_message(
    *,
    conversation: Conversation,
    text: str,
    signals: dict[str, Any] | None = None,
    sent_by: Principal = NOBODY,
    files: Sequence[Attachment] = (),
) -> TurnResult:
    """Take one customer message (with ``files``, stored beforehand: conversations.attachments):
    decide it, and when an agent must answer, dispatch its run
    (``TURN_DISPATCH``). Raises ConversationClosed. With ``"inline"`` dispatch the result
    carries the agent's answer; otherwise ``reply_status`` is ``pending`` and the answer
    arrives over the sockets (``turn_wait`` waits for it)."""
    with turn_step(
        "decide", conversation_id=conversation.pk, tenant_id=conversation.tenant_id
    ) as step:
        result = conversation_decide(
            conversation=conversation, text=text, signals=signals, sent_by=sent_by, files=files
        )
        step.decided(reply_status=result.reply_status, ai_turn=result.ai_turn)
    inline = settings.TURN_DISPATCH == "inline"
    if inline and result.reply_status == ReplyStatus.PENDING and result.ai_turn is not None:
        applied = execute(
            conversation_id=result.conversation.pk,
            ai_turn=result.ai_turn,
            message_id=result.message.pk,
        )
        if applied is not None:
            _merge(result, applied)
    return result


def _merge(result: TurnResult, applied: TurnResult) -> None:
    result.conversation = applied.conversation
    result.reply = applied.reply
    result.notices.extend(applied.notices)
    result.handoff = applied.handoff or result.handoff
    result.approval = applied.approval
    result.proposed_actions = applied.proposed_actions
    result.reply_status = applied.reply_status


# --- run: read the turn, give the connection back, call the runtimes -------------------------


def execute(*, conversation_id, ai_turn: int, message_id: int) -> TurnResult | None:
    """Run AI turn ``ai_turn`` of the conversation (the answer to message ``message_id``) and
    apply its outcome. Safe to call twice (or at once from two workers): the outcome is
    applied once; None when it already was (or the conversation is gone)."""
    with section("turn-database", settings.TURN_DATABASE_THREADS):
        loaded = _load(conversation_id, ai_turn, message_id)
        _release_connection()
    if loaded is None:
        return None
    message, plan = loaded
    with turn_step("agent_run", conversation_id=conversation_id, ai_turn=ai_turn):
        outcome = run_plan(plan) if plan is not None else None
    with (
        section("turn-database", settings.TURN_DATABASE_THREADS),
        turn_step("apply", conversation_id=conversation_id, ai_turn=ai_turn) as step,
    ):
        result = apply(
            conversation_id=conversation_id,
            ai_turn=ai_turn,
            message=message or Message(pk=message_id),
            outcome=outcome,
        )
        step.decided(outcome=turn_done(result))
    return result


def _release_connection() -> None:
    """Give the database connection back (to the pool) before the network calls. Inside an
    outer transaction (a test's) there is none to give back."""
    if not connection.in_atomic_block:
        connection.close()


def _applied(conv: Conversation, ai_turn: int) -> bool:
    return str(ai_turn) in ((conv.ai_turn_detail or {}).get("outcomes") or {})


def _pending(conv: Conversation, ai_turn: int) -> bool:
    return conv.ai_turn == ai_turn and conv.ai_turn_at is not None


def _stale(conv: Conversation, ai_turn: int) -> tuple[str, str] | None:
    """Why the outcome of AI turn ``ai_turn`` may not be applied now (code, words), or None."""
    if conv.turns > ai_turn:
        return DropReason.NEWER_MESSAGE, "a newer message"
    if conv.state == State.RESOLVED:
        return DropReason.RESOLVED, "resolved"
    if conv.state == State.WITH_HUMAN or conv.assignee_id is not None:
        return DropReason.CLAIMED, "a person claimed it"
    if conv.state == State.HANDING_OFF:
        return DropReason.HANDED_OVER, "handed over to people"
    if conv.state not in OPEN_STATES:
        return DropReason.GAVE_UP, "no longer waited for"
    if not _pending(conv, ai_turn):
        # people took it over meanwhile (and handed it back): lifecycle ended the wait
        return DropReason.CLAIMED, "a person claimed it"
    return None


# The turn's reads, compiled once per process (core/compiled.py): compiling them through the ORM
# cost the turns worker more CPU than running them.
_MESSAGE = Compiled(
    lambda pk, conversation: Message.objects.filter(pk=pk, conversation_id=conversation).order_by(),
    pk=Marker(INT_MARK),
    conversation=CONVERSATION_ID,
)
_TRANSCRIPT = Compiled(
    lambda conversation, before: (
        Message.objects.filter(conversation_id=conversation, id__lt=before)
        .exclude(role__in=INTERNAL_ROLES)  # colleagues' notes are not the AI's to read
        .order_by("-id")
        .values_list("role", "author", "text")[:TRANSCRIPT_LENGTH]
    ),
    conversation=CONVERSATION_ID,
    before=Marker(INT_MARK),
)


def _load(
    conversation_id, ai_turn: int, message_id: int
) -> tuple[Message | None, RunPlan | None] | None:
    """The turn as plain data (no lock, no transaction: reads of committed rows). None when
    it was applied already; no plan when it is stale (apply records why)."""
    conv = conversation_by_id(conversation_id)
    if conv is None:
        return None
    if _applied(conv, ai_turn):
        return None
    if _stale(conv, ai_turn) is not None:
        return None, None
    config = _from_memory(conv)
    message = _MESSAGE.first(pk=message_id, conversation=conv.pk)
    if message is None:
        raise Message.DoesNotExist(f"message {message_id} of {conv.pk}")
    transcript = tuple(
        {"role": role, "author": author, "text": text}
        for role, author, text in reversed(
            _TRANSCRIPT.rows(conversation=conv.pk, before=message.pk)
        )
    )
    turn = Turn(
        conversation=conv,
        message=message,
        config=config,
        settings=config.settings_for(conv.current_agent),
        context=dict((conv.ai_turn_detail or {}).get("context") or {}),
        result=TurnResult(conversation=conv, message=message),
        transcript=transcript,
    )
    steps = None
    if conv.workflow_id and not (conv.workflow_state or {}).get("done"):
        steps = [
            Step(
                index=index,
                agent=Speaker(
                    id=step.agent_id,
                    spec=config.specs.get(step.agent_id) or AgentSpec.from_agent(step.agent),
                ),
                condition=step.condition,
                inputs=tuple(step.inputs or ()),
                outputs=tuple(step.outputs or ()),
            )
            for index, step in enumerate(
                WorkflowStep.objects.filter(workflow_id=conv.workflow_id)
                .select_related("agent")
                .order_by("position", "id")
            )
        ]
    return message, plan_of(turn, ai_turn, steps)


def _from_memory(conv: Conversation) -> TenantConfig:
    """The conversation's tenant and agent from this process's memory (the kept tenant, the
    cached configuration's agents) rather than joined to every read of a conversation:
    compiling those joins cost the worker more CPU than the rest of the read. The agent is
    read from the database only when the configuration does not know it."""
    conv.tenant = tenant_by_id(conv.tenant_id)
    config = tenant_config(conv.tenant)
    agent = config.agents.get(conv.current_agent_id)
    if agent is not None:
        conv.current_agent = agent
    return config


# --- apply -------------------------------------------------------------------------------------


def apply(
    *,
    conversation_id,
    ai_turn: int,
    message: Message,
    outcome: Outcome | None,
) -> TurnResult | None:
    """Apply a run's outcome in one short transaction, if nothing moved since the turn was
    decided; otherwise drop it with a ``turn.dropped`` event. None when it was applied
    already (a second delivery of the task), or the conversation is gone."""
    with transaction.atomic(), events_buffered():
        conv = conversation_locked(conversation_id)
        if conv is None:  # erased while its agent ran (orchestration.erasure): nobody to tell
            return None
        if _applied(conv, ai_turn):
            return None
        stale = _stale(conv, ai_turn)
        result = TurnResult(conversation=conv, message=message, ai_turn=ai_turn)
        if stale is not None or outcome is None:
            code, why = stale or (DropReason.GAVE_UP, "no longer waited for")
            record(
                conversation=conv,
                event=decisions.TurnDropped(
                    turn=ai_turn, reason=why, reason_code=code, ran=outcome is not None
                ),
                message=message,
                agent_slug=outcome.speaker.slug if outcome and outcome.speaker else "",
            )
            result.reply_status = ReplyStatus.DROPPED
            _finish(conv, ai_turn, result)
            conv.save(update_fields=_TURN_FIELDS)
            return result
        config = _from_memory(conv)
        detail = conv.ai_turn_detail or {}
        turn = Turn(
            conversation=conv,
            message=message,
            config=config,
            settings=config.settings_for(conv.current_agent),
            context=dict(detail.get("context") or {}),
            result=result,
        )
        for done in outcome.events:
            record(
                conversation=conv,
                event=done.event,
                duration_ms=done.duration_ms,
                rule=done.rule,
                message=message,
                agent_slug=done.agent_slug,
            )
        conv.budget_used = outcome.used
        if outcome.workflow_state is not None:
            conv.workflow_state = outcome.workflow_state
        handed = outcome.choice is not None and _orchestrator_choice(turn, outcome)
        if outcome.budget is not None:
            _budget_stop(turn, outcome.budget)
        elif handed:
            pass
        elif outcome.hand_over:
            hand_over_to_human(turn, reason=outcome.hand_over)
        elif outcome.reply is not None:
            speaker = _speaker(conv, config, outcome.speaker)
            _account(turn, outcome.reply, speaker)
            _apply_reply_signals(turn, outcome.reply, speaker)
        result.reply_status = ReplyStatus.ANSWERED if result.reply else ReplyStatus.SILENT
        _finish(conv, ai_turn, result)
        SAVE_TURN.save(conv)
    return result


def _finish(conv: Conversation, ai_turn: int, result: TurnResult) -> None:
    """The turn is over: not pending any more, its outcome kept for a waiting caller, and the
    sockets told the agent stopped typing (unless a newer turn is pending)."""
    detail = dict(conv.ai_turn_detail or {})
    outcomes = dict(detail.get("outcomes") or {})
    outcomes[str(ai_turn)] = result.outcome_json()
    kept = sorted(outcomes, key=int)[-OUTCOMES_KEPT:]
    outcomes = {key: outcomes[key] for key in kept}
    if conv.ai_turn == ai_turn:
        conv.ai_turn_at = None
        conv.ai_turn_message = None
        conv.ai_turn_detail = {"outcomes": outcomes}
    else:
        conv.ai_turn_detail = {**detail, "outcomes": outcomes}
    if conv.ai_turn_at is None:
        typing_on_commit(conv, typing=False)


def _speaker(conv: Conversation, config, speaker: Speaker | None) -> Agent:
    if speaker is None or speaker.id == conv.current_agent_id:
        return conv.current_agent
    return config.agents.get(speaker.id) or Agent.objects.get(pk=speaker.id)


def _sent_by(conv: Conversation) -> Principal:
    """Who posted the message the turn answers (read only when the AI proposes an action)."""
    sent = (conv.ai_turn_detail or {}).get("sentBy") or {}
    user = key = None
    if sent.get("user"):
        user = get_user_model().objects.filter(pk=sent["user"]).first()
    if sent.get("key"):
        key = ApiKey.objects.filter(pk=sent["key"]).first()
    return Principal(user=user, key=key) if (user or key) else NOBODY


def _orchestrator_choice(turn: Turn, outcome: Outcome) -> bool:
    """Record the orchestrator model's choice and apply it if it holds against the
    configuration now (an unknown agent, a hand-over mode the stack forbids: recorded as
    ignored). True when people take over."""
    choice = outcome.choice
    assert choice is not None
    conv, agent = turn.conversation, turn.agent
    candidates = {a.slug for a in turn.config.specialists_of(agent) if a.pk != agent.pk}
    why = orchestrator_model.ignored(
        choice,
        current=agent.slug,
        candidates=candidates,
        handoff_mode=turn.settings.get("handoffMode") or "auto",
    )
    if outcome.budget is not None and why is None:
        why = f"the {outcome.budget.budget} budget is exceeded"
    record(
        conversation=conv,
        event=decisions.OrchestratorDecided(
            action=choice.action,
            model=choice.model,
            to=choice.to,
            agents=list(choice.agents) or None,
            mode=choice.mode,
            reason=choice.reason or None,
            ignored=why,
            error=choice.error,
        ),
        message=turn.message,
        duration_ms=choice.duration_ms,
        rule="orchestrator model",
        agent_slug=agent.slug,
    )
    if why is not None:
        return False
    if choice.action == orchestrator_model.REROUTE:
        target = turn.config.agent(choice.to)
        transfer(
            turn,
            target,
            reason=f"orchestrator model: {choice.reason or 're-route'}",
            reason_code=RouteReason.ORCHESTRATOR_MODEL,
            announce=True,
            rule="orchestrator model",
        )
    elif choice.action == orchestrator_model.HAND_OVER:
        record(
            conversation=conv,
            event=decisions.Escalated(
                to=HUMAN,
                reason=f"orchestrator model: {choice.reason or 'hand over'}",
                reason_code=EscalationReason.ORCHESTRATOR_MODEL,
            ),
            message=turn.message,
            rule="orchestrator model",
            agent_slug=agent.slug,
        )
        mode = choice.mode or turn.settings.get("handoffMode")
        turn.settings = {**turn.settings, "handoffMode": mode}
        hand_over_to_human(turn, reason="orchestrator model")
        return True
    elif choice.action == orchestrator_model.MARK_STALLED and conv.state == State.ACTIVE:
        lifecycle.conversation_transition(
            conversation=conv, to=State.STALLED, reason="orchestrator model"
        )
        record(
            conversation=conv,
            event=decisions.StallDetected(reason="orchestrator model"),
            message=turn.message,
            rule="orchestrator model",
            agent_slug=agent.slug,
        )
    return False


def _budget_stop(turn: Turn, stop: BudgetStop) -> None:
    record(
        conversation=turn.conversation,
        event=decisions.BudgetExceeded(
            budget=stop.budget,
            used=stop.used,
            limit=stop.limit,
            usage=dict(turn.conversation.budget_used),
        ),
        message=turn.message,
        rule=f"{stop.budget} budget",
        agent_slug=stop.agent_slug,
    )
    hand_over_to_human(turn, reason=f"{stop.budget} budget exceeded")


def _account(turn: Turn, reply: AgentReply, speaker: Agent) -> None:
    """Store the reply and count the attempt; fall back to a human after repeated failure."""
    conv = turn.conversation
    if reply.error:
        conv.runtime_failures += 1
        conv.attempts += 1
        conv.turns_without_progress += 1
        if pending_fallback(turn, speaker):
            fallback_to_human(turn, f"{speaker.slug} is unavailable ({reply.error})")
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
        else:
            # the customer is told, once, and may write again (the next failure hands over)
            turn.result.notices.append(say(turn, None, AGENT_FAILED_TEXT, role=MessageRole.SYSTEM))
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
        turn.result.reply = say(turn, speaker, text)
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
    fallback = pending_fallback(turn, speaker)
    if fallback and conv.attempts >= fallback["maxAttempts"]:
        fallback_to_human(turn, f"{speaker.slug} failed {conv.attempts} attempt(s)")
        return
    if reply.proposed_actions:
        turn.sent_by = _sent_by(conv)
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
                rules=turn.config.rules_for(conv.current_agent),
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
        if proposal.waiting and proposal.approval and turn.result.approval is None:
            turn.result.approval = approval_json(proposal.approval)


def _apply_reply_signals(turn: Turn, reply: AgentReply, speaker: Agent) -> None:
    """Issue 18 point 7: the signals a runtime returned with its reply (a webhook's intent,
    sentiment, risk; checked by the runtime) join the turn's as a caller's ``signals`` would,
    and feed risk auto-escalation, then the escalation and handoff rules once more
    (``pipeline.reconsider``). They arrive with the reply, so the reply is accounted first (it
    is stored and sent, its proposals go to the approvals gate) and what they fire follows, in
    the same transaction: a risk they raise hands the conversation over after the reply, as a
    caller's risky message on the next turn would. Nothing happens when they change nothing or
    the reply already took the conversation from the AI (blocked, failed, fallen back)."""
    conv = turn.conversation
    if not reply.signals or conv.state not in OPEN_STATES:
        return
    merged, changed = merge_signals(turn.context, reply.signals)
    if not changed:
        return
    turn.context.update(merged)
    turn.result.context = dict(turn.context)
    record(
        conversation=conv,
        event=decisions.MessageClassified(signals=merged, overridden=changed, by=speaker.slug),
        message=turn.message,
        agent_slug=speaker.slug,
    )
    reconsider(turn)


# --- waiting for a turn, and the sweep for turns that never came back -----------------------


def turn_wait(*, conversation_id, ai_turn: int, seconds: float) -> dict[str, Any] | None:
    """Wait up to ``seconds`` for AI turn ``ai_turn`` to be applied (or dropped), without
    holding a database connection between looks; its outcome (``TurnResult.outcome_json``),
    or None when it is still pending."""
    deadline = time.monotonic() + min(float(seconds), MAX_WAIT_SECONDS)
    polls = iter(WAIT_POLL_SECONDS)
    while True:
        row = (
            Conversation.objects.filter(pk=conversation_id)
            .values("ai_turn", "ai_turn_at", "ai_turn_detail")
            .first()
        )
        _release_connection()
        if row is None:
            return None
        outcome = ((row["ai_turn_detail"] or {}).get("outcomes") or {}).get(str(ai_turn))
        if outcome is not None:
            return outcome
        if row["ai_turn"] != ai_turn or row["ai_turn_at"] is None:
            # superseded by a newer message before it was applied: its outcome will be dropped
            return {"status": str(ReplyStatus.DROPPED), "reply": None, "notices": []}
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        with released():  # only waiting: the request's place goes to a working one
            time.sleep(min(next(polls, WAIT_POLL_SECONDS[-1]), left))


def turn_dispatch(conversation: Conversation) -> None:
    """Send the pending AI turn's run to the workers (again), after commit."""
    outbox_task(
        tenant_id=conversation.tenant_id,
        task=RUN_TURN_TASK,
        args=[str(conversation.pk), conversation.ai_turn, conversation.ai_turn_message_id],
    )


def turn_sweep(*, now: dt.datetime | None = None, batch_size: int = SWEEP_BATCH) -> int:
    """AI turns pending past ``TURN_STALE_SECONDS`` (their worker died, the broker lost the
    task): each is dispatched once more; one that is still pending after that is given up:
    the customer is told and people take over. Returns how many turns it acted on. Safe to
    run twice, or two at once (``SKIP LOCKED``, conditional on the turn it read)."""
    now = now or timezone.now()
    before = now - dt.timedelta(seconds=settings.TURN_STALE_SECONDS)
    due = list(
        Conversation.objects.filter(ai_turn_at__lt=before)
        .order_by("ai_turn_at")
        .values_list("pk", "ai_turn")[:batch_size]
    )
    acted = 0
    for pk, ai_turn in due:
        with transaction.atomic(), events_buffered():
            conv = (
                Conversation.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("tenant", "current_agent", "workflow")
                .filter(pk=pk, ai_turn=ai_turn, ai_turn_at__lt=before)
                .first()
            )
            if conv is None:
                continue
            acted += 1
            detail = dict(conv.ai_turn_detail or {})
            if int(detail.get("dispatches") or 1) < 2:
                detail["dispatches"] = int(detail.get("dispatches") or 1) + 1
                conv.ai_turn_detail = detail
                conv.ai_turn_at = now
                conv.save(update_fields=_TURN_FIELDS)
                turn_dispatch(conv)
                log.warning("AI turn %s of %s sent to the workers again", ai_turn, pk)
                continue
            _give_up(conv, ai_turn)
    return acted


def _give_up(conv: Conversation, ai_turn: int) -> None:
    """The turn never came back: the customer is told and people take over."""
    message = Message.objects.filter(pk=conv.ai_turn_message_id or 0).first()
    if message is None:  # the message is gone: nothing is waited for any more
        conv.ai_turn_at = None
        typing_on_commit(conv, typing=False)
        conv.save(update_fields=_TURN_FIELDS)
        return
    config = tenant_config(conv.tenant)
    result = TurnResult(conversation=conv, message=message, ai_turn=ai_turn)
    turn = Turn(
        conversation=conv,
        message=message,
        config=config,
        settings=config.settings_for(conv.current_agent),
        context=dict((conv.ai_turn_detail or {}).get("context") or {}),
        result=result,
    )
    record(
        conversation=conv,
        event=decisions.TurnDropped(
            turn=ai_turn, reason="no answer in time", reason_code=DropReason.GAVE_UP, ran=False
        ),
        message=message,
        agent_slug=conv.current_agent.slug,
    )
    result.notices.append(say(turn, None, AGENT_FAILED_TEXT, role=MessageRole.SYSTEM))
    record(
        conversation=conv,
        event=decisions.Escalated(
            to=HUMAN,
            reason=f"{conv.current_agent.slug} did not answer in time",
            reason_code=EscalationReason.RUNTIME_FAILING,
        ),
        message=message,
        agent_slug=conv.current_agent.slug,
    )
    hand_over_to_human(turn, reason="agent did not answer in time")
    result.reply_status = ReplyStatus.SILENT
    _finish(conv, ai_turn, result)  # a late run finds the turn over, and drops nothing twice
    SAVE_TURN.save(conv)

"""Backtesting a draft rules document (SPEC 9, issue 7): replay the tenant's last N
conversations through the draft, compiled and traced exactly as the orchestrator does
(``agents.rule_engine.compile_document`` and ``trace``), and compare with what the live rules
decided then.

For every customer message that went through the rules (the AI had the conversation and no
risk auto-escalation came first), the replay rebuilds the context the pipeline saw, with the
pipeline's builder (``rules.rule_context``): the stored signals (intent, sentiment, risk), the
conversation's channel, language and customer attributes, the turn number, and the
consecutive failed attempts reconstructed from the ``agent.replied`` events (``answered``; a
turn whose reply failed counts one more, an escalation to another agent and a hand-back reset
them). The agent that had the conversation is read from the routing events. Events are read
through their typed readers (``conversations.decisions``).

- **Live** (the baseline): the decision recorded on that message's ``rule.fired`` events, which
  name the live rule set and its version (``<owner> v<version>``): what the live rules decided
  then. No ``rule.fired`` means no rule fired (the current agent went on).
- **Draft**: ``trace(compile_document(draft), context)`` where the draft applies, i.e. the
  message was with the draft's agent or with an agent that inherits its rules (under the
  current configuration); elsewhere the draft changes nothing.

A conversation differs when, for some message, the draft would escalate differently or hand
off to another agent. The replay writes nothing but the backtest's own rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent, RuleSet, RuleVersion
from agents.rule_engine import TO_PEOPLE, CompiledRules, compile_document, trace
from agents.rule_sets import rules_replace, validate_rules
from conversations import decisions
from conversations.models import (
    Conversation,
    DecisionEvent,
    EventType,
    Message,
    MessageRole,
    State,
)
from core.outbox import outbox_task
from insight.models import (
    Backtest,
    BacktestDifference,
    BacktestStatus,
)
from rules import rule_context

log = logging.getLogger(__name__)

BATCH_SIZE = 25
SYNC_LIMIT = 50  # more conversations than this run on Celery
STALE_AFTER = dt.timedelta(minutes=30)  # a "running" backtest this old was lost
TEXT_LENGTH = 160
# a message whose turn recorded one of these went through the AI's steps (rules included)
ORCHESTRATED = frozenset(
    {
        EventType.RULE_FIRED,
        EventType.AGENT_ROUTED,
        EventType.AGENT_REROUTED,
        EventType.AGENT_REPLIED,
        EventType.AGENT_ERROR,
        EventType.STALL_DETECTED,
        EventType.WORKFLOW_STEP,
        EventType.ESCALATED,
        EventType.ACTION_PROPOSED,
    }
)
RISK_RULE = "riskAutoEscalation"


@dataclass(frozen=True)
class Decision:
    kind: str  # stay | route | escalate
    target: str | None = None

    def __str__(self) -> str:
        if self.kind == "escalate":
            return f"escalate to {self.target}"
        if self.kind == "route":
            return f"hand off to {self.target}"
        return "the agent answers"


STAY = Decision("stay")


# the Celery task that runs a long backtest (insight.tasks; named here, never imported)
BACKTEST_TASK = "orchestration.run_backtest"


def decision_of(rules: CompiledRules, context: dict[str, Any], current: str) -> Decision:
    """What the orchestrator does with a trace (``pipeline._rules``): an escalation wins; a
    handoff to the agent that already has the conversation changes nothing."""
    verdict = trace(rules, context)
    if verdict.escalate:
        return Decision("escalate", verdict.escalate.target)
    if verdict.handoff and verdict.handoff.destination != current:
        return Decision("route", verdict.handoff.destination)
    return STAY


# --- writes --------------------------------------------------------------------------------------


def backtest_create(*, agent: Agent, draft: Any, size: int, user=None) -> Backtest:
    """Check the draft for ``agent`` (raises ``RulesInvalid`` naming each bad field) and keep
    a queued backtest of it over the tenant's last ``size`` conversations."""
    clean = validate_rules(draft, agent=agent)
    return Backtest.objects.create(
        tenant_id=agent.tenant_id,
        agent=agent,
        draft=clean.document,
        size=size,
        created_by=user if getattr(user, "pk", None) else None,
    )


def backtest_start(*, agent: Agent, draft: Any, size: int, user=None) -> Backtest:
    """Create the backtest and run it: here and now for up to ``SYNC_LIMIT`` conversations,
    else on Celery once the row is committed (the page polls its progress)."""
    if size > SYNC_LIMIT:
        with transaction.atomic():
            backtest = backtest_create(agent=agent, draft=draft, size=size, user=user)
            outbox_task(tenant_id=backtest.tenant_id, task=BACKTEST_TASK, args=[backtest.pk])
        return backtest
    backtest = backtest_create(agent=agent, draft=draft, size=size, user=user)
    return backtest_run(backtest_id=backtest.pk)


class BacktestNotApplicable(Exception):
    """The draft cannot become the live rules: the run is not done, or the live rules
    changed since it ran (the result no longer says what the draft would change)."""


@transaction.atomic
def backtest_apply(*, backtest: Backtest, user=None) -> RuleSet:
    """Make a finished backtest's draft the agent's rules, as a new version (``via``
    "backtest"). Refused when the agent's rules got a version after the backtest was
    created; raises ``RulesInvalid`` when the draft no longer validates (an agent it names
    is gone)."""
    if backtest.status != BacktestStatus.DONE:
        raise BacktestNotApplicable(f"The backtest is {backtest.status}, not done.")
    Agent.objects.select_for_update().filter(pk=backtest.agent_id).first()
    newer = (
        RuleVersion.objects.filter(agent_id=backtest.agent_id, created_at__gt=backtest.created_at)
        .order_by("-version")
        .first()
    )
    if newer is not None:
        raise BacktestNotApplicable(
            f"The rules of {backtest.agent.slug} changed since this backtest ran (version "
            f"{newer.version}, {newer.via}); run the backtest again on the current rules."
        )
    return rules_replace(agent=backtest.agent, document=backtest.draft, user=user, via="backtest")


def backtest_run(*, backtest_id: int) -> Backtest:
    """Replay a queued backtest (or one whose worker was lost) and keep its results. Safe to
    run twice or at once: only the caller that moves it to ``running`` replays it."""
    now = timezone.now()
    claimable = Q(status=BacktestStatus.QUEUED) | Q(
        status=BacktestStatus.RUNNING, started_at__lt=now - STALE_AFTER
    )
    claimed = Backtest.objects.filter(claimable, pk=backtest_id).update(
        status=BacktestStatus.RUNNING, started_at=now, progress=0, error=""
    )
    backtest = Backtest.objects.select_related("agent", "tenant").get(pk=backtest_id)
    if not claimed:
        return backtest
    try:
        summary, differences = replay(backtest)
    except Exception as exc:
        log.exception("backtest %s failed", backtest_id)
        Backtest.objects.filter(pk=backtest_id).update(
            status=BacktestStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        backtest.refresh_from_db()
        return backtest
    with transaction.atomic():
        BacktestDifference.objects.filter(backtest_id=backtest_id).delete()
        BacktestDifference.objects.bulk_create(differences, batch_size=500)
        Backtest.objects.filter(pk=backtest_id).update(
            status=BacktestStatus.DONE,
            summary=summary,
            progress=summary["conversations"],
            finished_at=timezone.now(),
        )
    backtest.refresh_from_db()
    return backtest


# --- the replay ----------------------------------------------------------------------------------


def draft_scope(agent: Agent) -> set[str]:
    """The agents whose rules the draft would be: its agent, and those that inherit from it
    (no rules of their own between them and it), under the current configuration."""
    rows = Agent.objects.filter(tenant_id=agent.tenant_id).values_list(
        "slug", "supervisor__slug", "rules"
    )
    supervisor = {slug: sup for slug, sup, _ in rows}
    own_rules = {slug for slug, _, rules in rows if rules is not None}
    scope = set()
    for slug in supervisor:
        seen: set[str] = set()
        current: str | None = slug
        while current is not None and current not in seen:
            if current == agent.slug:
                scope.add(slug)
                break
            if current in own_rules:
                break
            seen.add(current)
            current = supervisor.get(current)
    return scope


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def replay(backtest: Backtest) -> tuple[dict[str, Any], list[BacktestDifference]]:
    """Replay the backtest's conversations; returns the summary and the differences (not yet
    saved). Reads in batches (three queries per ``BATCH_SIZE`` conversations) and writes only
    the backtest's progress."""
    draft = compile_document(backtest.draft, owner=backtest.agent.slug, version=None)
    scope = draft_scope(backtest.agent)
    conversations = list(
        Conversation.objects.filter(tenant_id=backtest.tenant_id)
        .order_by("-created_at", "-pk")
        .values(*CONVERSATION_FIELDS)[: backtest.size]
    )
    Backtest.objects.filter(pk=backtest.pk).update(total=len(conversations))
    tally: dict[str, int] = defaultdict(int)
    differences: list[BacktestDifference] = []
    done = 0
    for batch in _chunks(conversations, BATCH_SIZE):
        messages, events = batch_rows([c["pk"] for c in batch])
        for conv in batch:
            parts = replay_conversation(
                conv, messages[conv["pk"]], events[conv["pk"]], draft=draft, scope=scope
            )
            _count(tally, parts)
            if parts["differences"]:
                differences.append(_difference(backtest, conv, parts["differences"]))
        done += len(batch)
        Backtest.objects.filter(pk=backtest.pk).update(progress=done)
    summary = {
        "conversations": len(conversations),
        "messages": tally["messages"],
        "messagesUnderDraft": tally["underDraft"],
        "differing": len(differences),
        "routeDifferently": sum(d.routes_differently for d in differences),
        "escalateDifferently": sum(d.escalates_differently for d in differences),
        "live": {"escalations": tally["liveEscalate"], "handoffs": tally["liveRoute"]},
        "draft": {"escalations": tally["draftEscalate"], "handoffs": tally["draftRoute"]},
        "scope": sorted(scope),
        "baseline": "the decisions recorded on the rule.fired events (the live rules then)",
    }
    return summary, differences


CONVERSATION_FIELDS = (
    "pk",
    "created_at",
    "channel",
    "language",
    "customer_attributes",
    "customer_verified",
    "entry_agent__slug",
)


def batch_rows(ids: list[Any]) -> tuple[dict[Any, list[dict]], dict[Any, list[dict]]]:
    """The customer messages and the decision events of the conversations ``ids``, by
    conversation, in order (two queries)."""
    messages: dict[Any, list[dict]] = defaultdict(list)
    for row in (
        Message.objects.filter(conversation_id__in=ids, role=MessageRole.CUSTOMER)
        .order_by("conversation_id", "id")
        .values("id", "conversation_id", "text", "intent", "sentiment", "risk")
    ):
        messages[row["conversation_id"]].append(row)
    events: dict[Any, list[dict]] = defaultdict(list)
    for row in (
        DecisionEvent.objects.filter(conversation_id__in=ids)
        .order_by("conversation_id", "id")
        .values("id", "conversation_id", "message_id", "type", "rule", "detail")
    ):
        events[row["conversation_id"]].append(row)
    return messages, events


def replay_context(
    conv: dict[str, Any], message: dict[str, Any], *, attempts: int, turn: int
) -> dict[str, Any]:
    """The context the pipeline built for a stored customer message (``rules.rule_context``)."""
    return rule_context(
        intent=message["intent"],
        sentiment=message["sentiment"],
        risk=message["risk"],
        channel=conv["channel"],
        attempts=attempts,
        turns=turn,
        language=conv["language"],
        customer=conv["customer_attributes"],
        verified=conv["customer_verified"],
    )


def _count(tally: dict[str, int], parts: dict[str, Any]) -> None:
    for live, drafted, under in parts["decisions"]:
        tally["messages"] += 1
        tally["underDraft"] += under
        tally["liveEscalate"] += live.kind == "escalate"
        tally["liveRoute"] += live.kind == "route"
        tally["draftEscalate"] += drafted.kind == "escalate"
        tally["draftRoute"] += drafted.kind == "route"


def _difference(backtest: Backtest, conv: dict, found: list[dict]) -> BacktestDifference:
    first = found[0]
    return BacktestDifference(
        tenant_id=backtest.tenant_id,
        backtest=backtest,
        conversation_id=conv["pk"],
        conversation_created_at=conv["created_at"],
        routes_differently=any(d["kind"] == "route" for d in found),
        escalates_differently=any(d["kind"] == "escalate" for d in found),
        live=first["live"][:200],
        draft=first["draft"][:200],
        messages=found,
    )


def replay_conversation(
    conv: dict[str, Any],
    messages: list[dict[str, Any]],
    events: Iterable[dict[str, Any]],
    *,
    draft: CompiledRules,
    scope: set[str],
) -> dict[str, Any]:
    """One conversation: per customer message that went through the rules, the live decision
    and the draft's; the messages where they differ; and the context the rules saw at each of
    those messages (``contexts``, by message id)."""
    turns = {m["id"]: (number, m) for number, m in enumerate(messages, start=1)}
    turn_state: dict[int, dict[str, Any]] = {}
    current = conv["entry_agent__slug"]
    attempts = 0
    for event in events:
        kind, message_id = event["type"], event["message_id"]
        if kind == EventType.MESSAGE_CLASSIFIED and message_id in turns:
            turn_state.setdefault(
                message_id,
                {
                    "agent": current,  # the agent whose rules the pipeline traced
                    "attempts": attempts,  # what the rules saw
                    "base": attempts,  # the turn's count before its reply
                    "types": set(),
                    "risk": False,
                    "live": STAY,
                    "rule": "",
                },
            )
        turn = turn_state.get(message_id) if message_id is not None else None
        if turn is not None:
            turn["types"].add(kind)
        if kind in (EventType.AGENT_ROUTED, EventType.AGENT_REROUTED):
            routed = decisions.AgentRouted.from_detail(event["detail"])
            if not routed.consultation and routed.to:
                current = routed.to
        elif kind == EventType.RULE_FIRED and turn is not None:
            fired = decisions.RuleFired.from_detail(event["detail"])
            if fired.kind == "escalation":
                turn["live"] = Decision("escalate", fired.to)
                if fired.to not in (None, TO_PEOPLE):
                    attempts = turn["base"] = 0  # pipeline: an escalation to an agent resets
            elif fired.kind == "handoff" and turn["live"].kind == "stay":
                turn["live"] = Decision("route", fired.to)
            turn["rule"] = event["rule"]
        elif kind == EventType.ESCALATED and turn is not None and event["rule"] == RISK_RULE:
            turn["risk"] = True
        elif kind == EventType.AGENT_ERROR and turn is not None:
            attempts = turn["base"] + 1  # provisional: the turn's reply, if any, decides
        elif kind == EventType.AGENT_REPLIED and turn is not None:
            replied = decisions.AgentReplied.from_detail(event["detail"])
            attempts = 0 if replied.answered else turn["base"] + 1
        elif kind == EventType.STATE_CHANGED:
            changed = decisions.StateChanged.from_detail(event["detail"])
            if (changed.from_, changed.to) == (State.WITH_HUMAN, State.ACTIVE):
                attempts = 0  # handed back to the AI
    outcomes = []
    found = []
    contexts = {}
    for message_id, state in turn_state.items():
        if state["risk"] or not (state["types"] & ORCHESTRATED):
            continue
        number, message = turns[message_id]
        live = state["live"]
        under = state["agent"] in scope
        context = replay_context(conv, message, attempts=state["attempts"], turn=number)
        contexts[message_id] = context
        drafted = decision_of(draft, context, state["agent"]) if under else live
        outcomes.append((live, drafted, under))
        if drafted != live:
            escalation = "escalate" in (live.kind, drafted.kind)
            found.append(
                {
                    "messageId": message_id,
                    "turn": number,
                    "text": message["text"][:TEXT_LENGTH],
                    "agent": state["agent"],
                    "live": str(live),
                    "liveRule": state["rule"],
                    "draft": str(drafted),
                    "kind": "escalate" if escalation else "route",
                    "signals": {
                        "intent": message["intent"] or None,
                        "sentiment": message["sentiment"],
                        "risk": list(message["risk"] or []),
                        "attempts": state["attempts"],
                    },
                }
            )
    return {"decisions": outcomes, "differences": found, "contexts": contexts}

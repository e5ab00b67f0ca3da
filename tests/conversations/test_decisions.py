"""Typed decision events: one builder and one reader per type. What a writer builds is what a
reader gets back; rows written before versions (no ``"v"``) still read, and the API shows every
key they had."""

from __future__ import annotations

import pytest

from agents.models import Agent
from conversations import decisions
from conversations.decisions import (
    DECISIONS,
    HUMAN,
    EscalationReason,
    RouteReason,
)
from conversations.events import events_buffered, record
from conversations.models import DecisionEvent, EventType
from conversations.services import conversation_start
from insight.admin import event_summary

pytestmark = pytest.mark.django_db

# one event of each type as its writer builds it, with every field a writer sets (and, where a
# type has several shapes, each of them)
BUILT = [
    decisions.MessageClassified(
        signals={"intent": "billing", "sentiment": -0.4, "risk": ["frustration"]},
        overridden=["intent"],
        intent_found={"name": "billing", "confidence": 0.63, "terms": ["charge"]},
        sentiment_found={"score": -0.4, "polarity": "negative"},
        risk_found=[{"category": "frustration", "rule": "repeat", "text": "three times"}],
    ),
    decisions.AgentRouted(
        to="agent-sup",
        reason="conversation started",
        reason_code=RouteReason.STARTED,
        announced=False,
    ),
    decisions.AgentRouted(
        from_="agent-sup",
        to="agent-billing",
        reason="intent 'billing' is in its domains",
        reason_code=RouteReason.INTENT_IN_DOMAINS,
        intent="billing",
        announced=True,
    ),
    decisions.AgentRouted(
        mode=decisions.CONSULTATION,
        reason_code=RouteReason.CONSULTATION,
        from_="agent-sup",
        to="agent-billing",
        depth=1,
        answered=True,
    ),
    decisions.AgentRouted(
        mode=decisions.CONSULTATION,
        reason_code=RouteReason.CONSULTATION,
        from_="agent-sup",
        to="agent-sup",
        stopped="cycle",
        depth=2,
    ),
    decisions.AgentRerouted(
        from_="agent-billing",
        to="agent-tech",
        reason="topic shifted to 'technical'",
        reason_code=RouteReason.TOPIC_SHIFT,
        intent="technical",
        announced=False,
    ),
    decisions.RuleFired(
        kind="escalation",
        why=["intent 'legal' is in ['legal']"],
        to="agent-supervisor",
        fallback="human",
    ),
    decisions.RuleFired(kind="handoff", why=['intent is "billing"'], to="agent-billing"),
    decisions.Escalated(
        to=HUMAN, reason="risk", reason_code=EscalationReason.RISK, categories=["legal_threat"]
    ),
    decisions.Escalated(
        to=HUMAN,
        reason="escalation rule",
        reason_code=EscalationReason.ESCALATION_RULE,
        why=["2 failed attempt(s) reach maxAttempts 2"],
        unavailable="agent-gone",
    ),
    decisions.Escalated(
        to=HUMAN,
        from_="agent-supervisor",
        reason="escalation fallback",
        reason_code=EscalationReason.ESCALATION_FALLBACK,
        why="agent-supervisor failed 3 attempt(s)",
    ),
    decisions.StateChanged(from_="active", to="at_risk", reason="risk detected", risk=["churn"]),
    decisions.StateChanged(
        from_="at_risk", to="handing_off", reason="risk", categories=["legal_threat"]
    ),
    decisions.StallDetected(
        reason="repeated question", similarity=0.92, turns_without_progress=1, stall_threshold=3
    ),
    decisions.StallDetected(reason="silence", silent_seconds=300, customer_waiting=True),
    decisions.HandoffOffered(handoff_id=7, mode="hot", why="live channel", reason="risk"),
    decisions.HandoffClaimed(handoff_id=7, by="alice", mode="hot"),
    decisions.HandoffExpired(handoff_id=7, reason="nobody claimed it in time", now="cold"),
    decisions.ApprovalRequested(
        approval_id=3,
        action="issue_refund",
        approvers=["group:finance"],
        quorum=2,
        expires_at="2025-03-03T12:00:00+00:00",
        caused_by=[{"user": "kim", "kind": "asked"}],
    ),
    decisions.ApprovalDecided(
        approval_id=3, action="issue_refund", outcome="denied", by="alice", reason="no"
    ),
    decisions.ActionProposed(
        action="issue_refund",
        params={"orderId": "A1", "amount": 250, "currency": "EUR"},
        agent_id="agent-billing",
        requested_by="agent:agent-billing",
        idempotency_key="message:1:0",
        approval_needed=True,
        why=["params.amount is 250 > 100"],
        totals={"refunded": 0, "count": {"issue_refund": 0}},
    ),
    decisions.ActionProposed(
        action="issue_refund",
        params={"orderId": "A1"},
        agent_id="agent-billing",
        rejected={"params.amount": "required"},
    ),
    decisions.ActionExecuted(
        execution_id=4, approval_id=None, action="issue_refund", attempts=1, result={"ok": True}
    ),
    decisions.ActionFailed(
        execution_id=4, approval_id=3, action="issue_refund", attempts=3, error="boom"
    ),
    decisions.AgentReplied(
        answered=False,
        guardrails="fallback",
        runtime={"runtime": "openai", "model": "m", "usage": {"total_tokens": 15}},
    ),
    decisions.AgentError(error="timed out", attempts=2, runtime={"retried": ["HTTP 500"]}),
    decisions.WorkflowStep(agent="agent-triage", condition="start", outputs={"category": "x"}),
    decisions.WorkflowStep(stopped="step budget", budget=3, taken=3),
    decisions.GuardrailBlocked(
        rule="max_length",
        action="fallback",
        count=1,
        outcome="fallback",
        reply_length=600,
        found={"length": 600, "limit": 500},
    ),
    decisions.GuardrailBlocked(
        rule="tool_access",
        action="issue_refund",
        params={"orderId": "A1"},
        agent_id="agent-billing",
        allowed=["lookup_order"],
        requested_by="agent:agent-billing",
        outcome="refused",
    ),
    decisions.GuardrailRedacted(
        rule="pii.card", action="redact", count=1, outcome="redacted", reply_length=68
    ),
    decisions.BudgetExceeded(budget="steps", used=2, limit=2, usage={"steps": 2}),
    decisions.TurnDropped(
        turn=3, reason="a person claimed it", reason_code=decisions.DropReason.CLAIMED, ran=True
    ),
    decisions.AgentRouted(
        mode=decisions.CONSULTATION,
        reason_code=RouteReason.CONCURRENT,
        from_="lead",
        to="agent-billing",
        depth=1,
        branch=2,
        started_ms=1.5,
        answered=True,
    ),
    decisions.OrchestratorDecided(
        action="reroute", model="router-1", to="agent-nobody", ignored="unknown agent"
    ),
    decisions.EmailFailed(
        message_id=7, to="kim@example.com", attempts=5, error="OSError: connection refused"
    ),
]


@pytest.fixture
def conv(tenant):
    agent = Agent.objects.create(tenant=tenant, slug="agent-sup", name="Sup", role="supervisor")
    conversation, _ = conversation_start(
        tenant=tenant, agent=agent, channel="web", customer={"id": "c-1"}
    )
    return conversation


def test_every_event_type_has_one_typed_event():
    assert set(DECISIONS) == set(EventType.values)
    assert all(cls.type == kind for kind, cls in DECISIONS.items())
    assert {type(event).type for event in BUILT} == set(EventType.values)


@pytest.mark.parametrize("built", BUILT, ids=lambda e: f"{e.type}")
def test_what_a_writer_records_is_what_a_reader_reads_back(conv, built):
    row = record(conversation=conv, event=built, rule="agent-sup v1", agent_slug="agent-sup")

    stored = DecisionEvent.objects.get(pk=row.pk)

    assert stored.type == built.type
    assert stored.detail["v"] == 1
    assert decisions.read(stored) == built
    assert decisions.read({"type": stored.type, "detail": stored.detail}) == built
    assert (stored.rule, stored.agent_slug) == ("agent-sup v1", "agent-sup")


def test_buffered_events_read_back_the_same(conv):
    with events_buffered():
        for built in BUILT:
            record(conversation=conv, event=built)

    stored = DecisionEvent.objects.filter(conversation=conv).order_by("id")
    assert [decisions.read(e) for e in stored][-len(BUILT) :] == BUILT


# details as the code before typed events wrote them (no "v"), one per shape
OLD_ROWS = [
    (
        "agent.routed",
        {"to": "agent-sup", "reason": "conversation started", "announced": False},
        {"to": "agent-sup", "reason_code": "", "from_": None, "intent": None},
    ),
    (
        "agent.routed",
        {"mode": "consultation", "from": "a", "to": "b", "stopped": "cycle", "depth": 1},
        {"consultation": True, "stopped": "cycle", "reason": None, "announced": None},
    ),
    (
        "agent.rerouted",
        {"from": "a", "to": "b", "reason": "topic shifted to 'x'", "announced": False},
        {"from_": "a", "to": "b", "reason_code": "", "intent": None},
    ),
    (
        "escalated",
        {"to": "human", "reason": "risk", "categories": ["legal_threat"]},
        {"to_human": True, "categories": ["legal_threat"], "reason_code": "", "why": None},
    ),
    (
        "state.changed",
        {"from": "active", "to": "at_risk", "reason": "risk detected", "risk": ["churn"]},
        {"from_": "active", "to": "at_risk", "risk": ["churn"], "categories": None},
    ),
    (
        "agent.replied",
        {"answered": True, "runtime": "builtin", "match": {"score": 0.9}},
        {
            "answered": True,
            "guardrails": None,
            "runtime": {"runtime": "builtin", "match": {"score": 0.9}},
        },
    ),
    (
        "agent.error",
        {"runtime": "openai", "exception": "ValueError"},  # an older shape still
        {
            "error": "",
            "attempts": None,
            "runtime": {"runtime": "openai", "exception": "ValueError"},
        },
    ),
    (
        "handoff.expired",
        {"handoffId": 5, "reason": "nobody claimed it in time"},
        {"handoff_id": 5, "now": "cold"},
    ),
    (
        "guardrail.blocked",
        {"rule": "claim.refund", "action": "block", "count": 1, "claimed": "refund"},
        {"outcome": "", "count": 1, "found": {"claimed": "refund"}, "reply_length": None},
    ),
]


@pytest.mark.parametrize(("kind", "detail", "expected"), OLD_ROWS, ids=lambda v: str(v)[:30])
def test_rows_written_before_versions_still_read(kind, detail, expected):
    event = decisions.decision_of(kind, detail)

    assert type(event).type == kind
    assert {name: getattr(event, name) for name in expected} == expected
    # what the API shows of it keeps every key the row had, with its value
    shown = event.to_detail()
    assert {k: shown[k] for k in detail} == detail
    assert shown["v"] == 1


@pytest.mark.parametrize("kind", sorted(EventType.values))
def test_an_empty_old_detail_reads_as_the_defaults(kind):
    event = decisions.decision_of(kind, {})

    assert isinstance(event, DECISIONS[kind])
    assert decisions.decision_of(kind, None) == event
    assert decisions.decision_of(kind, event.to_detail()) == event


def test_the_api_shows_an_old_row_with_every_key_it_had(conv, key_client):
    old = {"kind": "handoff", "why": ['intent is "billing"'], "to": "agent-billing"}
    DecisionEvent.objects.create(
        tenant_id=conv.tenant_id, conversation=conv, type="rule.fired", detail=old
    )
    record(
        conversation=conv,
        event=decisions.RuleFired(kind="handoff", why=['intent is "billing"'], to="agent-billing"),
    )

    response = key_client.get(f"/api/v1/conversations/{conv.pk}/events")

    assert response.status_code == 200
    shown = [e["detail"] for e in response.json() if e["type"] == "rule.fired"]
    assert shown == [{**old, "v": 1}, {**old, "v": 1}]
    started = next(e for e in response.json() if e["type"] == "agent.routed")
    assert started["detail"] == {
        "v": 1,
        "to": "agent-sup",
        "reason": "conversation started",
        "reasonCode": "conversation_started",
        "announced": False,
    }


def test_an_event_of_a_type_this_code_does_not_know_reads_as_it_is(conv):
    row = DecisionEvent.objects.create(
        tenant_id=conv.tenant_id, conversation=conv, type="mood.changed", detail={"to": "calm"}
    )

    event = decisions.read(row)

    assert isinstance(event, decisions.Unrecognised)
    assert event.to_detail() == {"to": "calm"}
    assert event_summary(row) == '{"to": "calm"}'
    with pytest.raises(TypeError):
        record(conversation=conv, event=event)


def test_a_query_names_a_stored_key_through_the_typed_event():
    assert decisions.AgentRerouted.lookup("from_") == "detail__from"
    assert decisions.StallDetected.lookup("silent_seconds") == "detail__silentSeconds"
    assert decisions.AgentReplied.key("answered") == "answered"
    with pytest.raises(AttributeError):
        decisions.AgentRerouted.lookup("from")
    with pytest.raises(AttributeError):
        decisions.AgentReplied.lookup("runtime")  # the open-ended part has no key of its own


def test_a_runtime_key_never_overrides_a_field():
    event = decisions.AgentReplied(answered=False, runtime={"answered": True, "model": "m"})

    assert event.to_detail() == {"answered": False, "model": "m", "v": 1}


@pytest.mark.parametrize("built", BUILT, ids=lambda e: f"{e.type}")
def test_the_timeline_says_what_each_event_decided(conv, built):
    row = record(conversation=conv, event=built)

    summary = event_summary(row)

    assert summary
    assert '"v"' not in summary  # a sentence, not the stored JSON

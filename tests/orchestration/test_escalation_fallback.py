"""An escalation rule with both ``targetAgentId`` and ``escalateToHuman`` (the product docs'
own example): the conversation goes to the target agent first, and to people when that agent
cannot resolve it: it escalates again, fails ``maxAttempts``, or is unavailable (SPEC 4.1
step 5). The fallback shows in the events, the timeline and the rule tester."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from agents.models import Agent
from agents.orchestrator_settings import settings_update
from agents.rule_sets import rules_replace
from conversations.models import (
    Conversation,
    DecisionEvent,
)
from handover.services import conversation_hand_back, hand_over, handoff_claim
from tests.factories import make_person

pytestmark = pytest.mark.django_db

LEGAL = {"signals": {"intent": "legal_question"}}


def docs_escalation(max_attempts=3):
    return {
        "maxAttempts": max_attempts,
        "intents": ["billing_dispute", "legal_question", "security_incident"],
        "targetAgentId": "agent-supervisor",
        "escalateToHuman": True,
    }


@pytest.fixture
def desk(tenant):
    """agent-123 escalates legal questions to agent-supervisor, with people as the fallback;
    agent-supervisor knows about the refund policy and nothing else."""
    settings_update(
        level="tenant", tenant=tenant, changes={"stallThreshold": 20, "riskAutoEscalation": False}
    )
    front = Agent.objects.create(tenant=tenant, slug="agent-123", name="Desk", role="supervisor")
    supervisor = Agent.objects.create(
        tenant=tenant, slug="agent-supervisor", name="Supervisor", role="supervisor"
    )
    supervisor.knowledge.create(
        question="What is the refund policy?",
        keywords=["refund policy"],
        answer="Refunds within 30 days, no questions asked.",
    )
    rules_replace(agent=front, document={"escalation": docs_escalation()})
    return front, supervisor


def start(client):
    response = client.post(
        "/api/v1/conversations",
        {"agentId": "agent-123", "channel": "email", "customer": {"id": "c-1"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def say(client, conversation_id, text, **extra):
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages", {"text": text, **extra}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def escalations(conversation_id):
    return [
        e.detail
        for e in DecisionEvent.objects.filter(conversation_id=conversation_id, type="escalated")
    ]


def test_the_target_agent_takes_the_escalation_first_with_a_human_fallback(key_client, desk):
    conv = start(key_client)

    body = say(key_client, conv, "Is your refund policy legal?", **LEGAL)

    assert body["state"] == "active"
    assert body["currentAgentId"] == "agent-supervisor"
    assert body["handoff"] is None
    assert body["reply"]["author"] == "agent-supervisor"
    [escalated] = escalations(conv)
    assert escalated["to"] == "agent-supervisor"
    assert escalated["fallback"] == "human"
    fired = DecisionEvent.objects.get(conversation_id=conv, type="rule.fired")
    assert fired.detail["fallback"] == "human"
    assert Conversation.objects.get(pk=conv).escalation_fallback == {
        "agent": "agent-supervisor",
        "maxAttempts": 3,
        "rule": "agent-123 v1 escalation",
    }


def test_a_target_that_fails_max_attempts_hands_the_conversation_to_people(key_client, desk):
    conv = start(key_client)

    first = say(key_client, conv, "A legal question about my contract", **LEGAL)
    second = say(key_client, conv, "What does clause four of the contract mean")
    third = say(key_client, conv, "Who signs contracts on your side")

    # the escalation's own turn is the supervisor's first attempt
    assert first["state"] == second["state"] == "active"
    assert third["state"] == "handing_off"
    assert third["handoff"] is not None
    assert escalations(conv)[-1] == {
        "v": 1,
        "to": "human",
        "from": "agent-supervisor",
        "reason": "escalation fallback",
        "reasonCode": "escalation_fallback",
        "why": "agent-supervisor failed 3 attempt(s)",
    }
    assert Conversation.objects.get(pk=conv).escalation_fallback == {}


def test_a_target_that_answers_keeps_the_conversation(key_client, desk):
    conv = start(key_client)

    say(key_client, conv, "A legal question about my contract", **LEGAL)
    say(key_client, conv, "What does clause four mean")
    answered = say(key_client, conv, "What is the refund policy?")
    after = say(key_client, conv, "Who signs contracts on your side")

    assert answered["reply"]["text"] == "Refunds within 30 days, no questions asked."
    # the count of failed attempts starts again after an answer
    assert after["state"] == "active" and after["currentAgentId"] == "agent-supervisor"
    assert Conversation.objects.get(pk=conv).escalation_fallback["agent"] == "agent-supervisor"


def test_a_target_that_escalates_again_hands_the_conversation_to_people(key_client, desk):
    _, supervisor = desk
    rules_replace(
        agent=supervisor,
        document={"escalation": {"intents": ["security_incident"], "targetAgentId": "agent-123"}},
    )
    conv = start(key_client)

    say(key_client, conv, "A legal question about my contract", **LEGAL)
    body = say(
        key_client, conv, "Someone logged into my account", signals={"intent": "security_incident"}
    )

    assert body["state"] == "handing_off"
    assert body["currentAgentId"] == "agent-supervisor"  # not sent on to agent-123
    assert escalations(conv)[-1]["why"] == "agent-supervisor escalated again"
    assert escalations(conv)[-1]["to"] == "human"


def test_a_target_that_is_unavailable_hands_over_at_its_first_failure(key_client, desk):
    _, supervisor = desk
    supervisor.runtime = "webhook"
    supervisor.runtime_config = {"url": "http://127.0.0.1:9/unreachable", "secret": "s" * 20}
    supervisor.save()

    body = say(key_client, start(key_client), "A legal question", **LEGAL)

    assert body["state"] == "handing_off"
    last = DecisionEvent.objects.filter(type="escalated").last()
    assert last.detail["reason"] == "escalation fallback"
    assert last.detail["why"].startswith("agent-supervisor is unavailable")


def test_an_inherited_rule_naming_the_agent_itself_goes_to_people(key_client, desk):
    """agent-supervisor, a specialist of agent-123 without rules of its own, inherits the rule
    that escalates to itself: it cannot take the escalation, so the fallback does."""
    front, supervisor = desk
    supervisor.role, supervisor.supervisor = "specialist", front
    supervisor.save()
    response = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-supervisor", "channel": "email", "customer": {"id": "c-2"}},
        format="json",
    )

    body = say(key_client, response.json()["id"], "A legal question", **LEGAL)

    assert body["state"] == "handing_off"
    [escalated] = escalations(response.json()["id"])
    assert escalated["to"] == "human" and escalated["unavailable"] == "agent-supervisor"


def test_an_escalation_to_people_alone_still_hands_over_at_once(key_client, desk):
    front, _ = desk
    rules_replace(
        agent=front,
        document={"escalation": {"intents": ["legal_question"], "escalateToHuman": True}},
    )

    body = say(key_client, start(key_client), "A legal question", **LEGAL)

    assert body["state"] == "handing_off"
    assert escalations(DecisionEvent.objects.last().conversation_id)[0]["to"] == "human"


def test_any_hand_over_to_people_ends_a_pending_fallback(key_client, desk, tenant):
    """People took the conversation over some other way (here: the silence sweep's hand-over)
    while the fallback was pending: the fallback ends there (the one hand-over service ends it,
    whoever calls it), and giving the conversation back does not bring it back."""
    conv = start(key_client)
    say(key_client, conv, "A legal question", **LEGAL)
    assert Conversation.objects.get(pk=conv).escalation_fallback["agent"] == "agent-supervisor"
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conv)
        _, handoff = hand_over(conversation=locked, reason="silence")
    person = make_person(tenant=tenant, roles=["agent"], username="ana")
    handoff_claim(handoff=handoff, user=person)
    assert Conversation.objects.get(pk=conv).escalation_fallback == {}

    conversation_hand_back(conversation=handoff.conversation, user=person)

    assert Conversation.objects.get(pk=conv).escalation_fallback == {}


def test_the_timeline_shows_the_human_fallback(key_client, manager_client, desk):
    conv = start(key_client)
    say(key_client, conv, "A legal question", **LEGAL)

    page = manager_client.get(reverse("admin:insight_timeline", args=[conv])).content.decode()

    assert "to agent-supervisor (fallback: human): escalation rule" in page


def test_the_rule_tester_shows_the_human_fallback(manager_client, desk):
    front, _ = desk

    response = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {
            "agent": front.pk,
            "message": "Is this legal?",
            "intent": "legal_question",
            "channel": "email",
            "attempts": "0",
            "turns": "1",
        },
    )

    page = response.content.decode()
    assert response.context["result"]["trace"].escalate.fallback == "human"
    assert "escalate to agent-supervisor, then to a human if it cannot resolve it" in page
    assert 'data-fallback="human"' in page

"""One builder of what conditions see (``rules.rule_context``): the pipeline, the approvals
gate, backtests and the rule tester build the same context for the same conversation, and the
rule tester detects with the tenant's own intents, as the orchestrator does."""

from __future__ import annotations

import pytest

from agents.models import Agent, Intent
from agents.orchestrator_settings import settings_update
from agents.rule_engine import compile_document
from agents.rule_sets import rules_replace
from approvals.services import gate_rule_context
from conversations.models import Conversation, DecisionEvent
from conversations.services import conversation_start
from insight.backtests import CONVERSATION_FIELDS, batch_rows, replay_conversation
from orchestration.turns import conversation_receive_message
from rules import rule_context

pytestmark = pytest.mark.django_db

WARRANTY_MESSAGE = "My kettle stopped working after a week, is it still under guarantee?"


def test_rule_context_gives_conditions_plain_values():
    context = rule_context(
        intent="",
        sentiment=-0.2,
        risk=("frustration",),
        channel="web",
        attempts=1,
        turns=2,
        language="",
        customer=None,
        totals={"refunded": 30},
    )

    assert context == {
        "intent": None,
        "sentiment": -0.2,
        "risk": ["frustration"],
        "channel": "web",
        "attempts": 1,
        "turns": 2,
        "language": None,
        "customer": {},
        "verified": False,
        "totals": {"refunded": 30},
    }


@pytest.fixture
def warranty_desk(tenant):
    """A tenant with an intent of its own (``warranty``, which no default intent and no domain
    names), and a handoff rule that sends it to the warranty desk."""
    Intent.objects.create(
        tenant=tenant,
        name="warranty",
        keywords=["guarantee"],
        phrases=["stopped working"],
    )
    Intent.objects.create(tenant=tenant, name="billing", keywords=["invoice", "charged"])
    sup = Agent.objects.create(tenant=tenant, slug="agent-sup", name="Desk", role="supervisor")
    Agent.objects.create(
        tenant=tenant,
        slug="agent-warranty",
        name="Warranty",
        role="specialist",
        supervisor=sup,
        domains=["repairs"],
    )
    rules_replace(
        agent=sup,
        document={
            "handoffs": [{"condition": 'intent == "warranty"', "targetAgentId": "agent-warranty"}]
        },
    )
    return sup


def test_the_rule_tester_and_the_pipeline_agree_on_a_tenants_own_intent(
    manager_client, tenant, warranty_desk
):
    conversation, _ = conversation_start(
        tenant=tenant, agent=warranty_desk, channel="web", customer={"id": "c-1"}
    )
    turn = conversation_receive_message(conversation=conversation, text=WARRANTY_MESSAGE)
    classified = DecisionEvent.objects.get(conversation=conversation, type="message.classified")
    fired = DecisionEvent.objects.get(conversation=conversation, type="rule.fired")

    response = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {
            "agent": warranty_desk.pk,
            "message": WARRANTY_MESSAGE,
            "risk": "",
            "channel": "web",
            "attempts": "0",
            "turns": "1",
            "language": "",
            "customer": "",
            "action": "",
            "params": "",
        },
    )

    tested = response.context["result"]
    assert classified.detail["signals"]["intent"] == "warranty"
    assert tested["signals"].intent == "warranty"
    assert tested["context"] == turn.context
    assert fired.detail["to"] == tested["trace"].handoff.target == "agent-warranty"
    assert fired.rule == f"agent-sup v1 {tested['trace'].handoff.label.split(':')[0]}"
    assert "Decision: hand off to agent-warranty" in response.content.decode()


@pytest.fixture
def refund_desk(tenant):
    """One agent that knows nothing (every reply fails to answer) and escalates refunds to
    people; no risk auto-escalation, no stalls."""
    settings_update(
        level="tenant", tenant=tenant, changes={"stallThreshold": 20, "riskAutoEscalation": False}
    )
    agent = Agent.objects.create(tenant=tenant, slug="agent-desk", name="Desk", role="supervisor")
    rules_replace(
        agent=agent,
        document={"escalation": {"intents": ["refund"], "escalateToHuman": True}},
    )
    return agent


def test_the_gate_the_pipeline_and_backtests_build_the_same_context(tenant, refund_desk):
    conversation, _ = conversation_start(
        tenant=tenant,
        agent=refund_desk,
        channel="email",
        language="de",
        customer={"id": "c-9", "attributes": {"tier": "gold", "orders": 4}},
    )
    first = conversation_receive_message(conversation=conversation, text="Hello there")
    # an escalation ends the turn before any reply: the attempts stay as the rules saw them
    second = conversation_receive_message(
        conversation=conversation,
        text="I want a refund for order 7, this is ridiculous and I am furious",
    )
    conversation = Conversation.objects.get(pk=conversation.pk)

    messages, events = batch_rows([conversation.pk])
    row = Conversation.objects.values(*CONVERSATION_FIELDS).get(pk=conversation.pk)
    replayed = replay_conversation(
        row,
        messages[conversation.pk],
        events[conversation.pk],
        draft=compile_document(None),
        scope=set(),
    )["contexts"]

    assert second.context == {
        "intent": "refund",
        "sentiment": second.message.sentiment,
        "risk": second.message.risk,
        "channel": "email",
        "attempts": 1,
        "turns": 2,
        "language": "de",
        "customer": {"tier": "gold", "orders": 4},
        "verified": False,
    }
    assert second.context["risk"]  # the detectors found some: the lists are compared too
    assert gate_rule_context(conversation) == second.context
    assert replayed == {first.message.pk: first.context, second.message.pk: second.context}


def test_a_rule_reads_whether_the_customer_is_signed_in(tenant, refund_desk):
    from rules import compile_condition, handoff_schema

    signed_in, _ = conversation_start(
        tenant=tenant,
        agent=refund_desk,
        channel="web",
        customer={"id": "user-42", "name": "Lee"},
        verified=True,
    )
    anonymous, _ = conversation_start(
        tenant=tenant, agent=refund_desk, channel="web", customer={"id": "web-1"}
    )
    turn = conversation_receive_message(conversation=signed_in, text="Hello there")
    condition = compile_condition('verified == true and channel == "web"', handoff_schema())

    assert turn.context["verified"] is True
    assert condition(turn.context) is True
    assert condition(gate_rule_context(anonymous)) is False

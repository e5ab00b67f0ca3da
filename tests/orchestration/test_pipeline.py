"""The orchestrator's pipeline through the API (SPEC 4): routing, rules, escalation, risk,
stalls, patterns, workflows, runtime failures, and what every step records."""

from __future__ import annotations

import pytest

from agents.models import Agent
from agents.orchestrator_settings import settings_update
from agents.rule_sets import rules_replace
from agents.workflows import workflow_create
from config.cache import ResilientRedisCache
from conversations.lifecycle import LIFECYCLE, conversation_transition
from conversations.models import (
    Conversation,
    DecisionEvent,
    Message,
)
from core.secret_store import seal
from core.services import hash_secret

pytestmark = pytest.mark.django_db


# ``team``: the shared fixture (tests/conftest.py): a front desk, billing and tech with their
# knowledge, no rules.


def start(client, agent="agent-sup", **extra):
    response = client.post(
        "/api/v1/conversations",
        {"agentId": agent, "channel": "web", "customer": {"id": "cust-1", "name": "Kim"}, **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def say(client, conversation_id, text, **extra):
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages", {"text": text, **extra}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def event_types(conversation_id):
    return list(
        DecisionEvent.objects.filter(conversation_id=conversation_id)
        .order_by("id")
        .values_list("type", flat=True)
    )


def test_starting_a_conversation_gives_a_customer_token_stored_only_hashed(key_client, team):
    body = start(key_client)

    assert body["state"] == "triaged"
    assert body["currentAgentId"] == "agent-sup"
    conv = Conversation.objects.get(pk=body["id"])
    assert conv.customer_token_hash == hash_secret(body["customerToken"])
    assert body["customerToken"] not in conv.customer_token_hash
    assert "customerToken" not in key_client.get(f"/api/v1/conversations/{body['id']}").json()


def test_the_first_message_is_routed_to_the_matching_specialist_with_an_announcement(
    key_client, team
):
    conv = start(key_client)

    body = say(key_client, conv["id"], "Hi, I was charged twice this month")

    assert body["state"] == "active"
    assert body["currentAgentId"] == "agent-billing"
    assert [n["text"] for n in body["notices"]] == ["I'm transferring you to Billing."]
    assert body["reply"]["text"] == "I can refund the duplicate payment."
    assert body["reply"]["author"] == "agent-billing"
    assert body["message"]["signals"]["intent"] == "billing"
    assert body["proposedActions"] == [
        {
            "action": "issue_refund",
            "params": {"orderId": "A1", "amount": 20},
            "agentId": "agent-billing",
        }
    ]
    assert event_types(conv["id"]) == [
        "agent.routed",  # started with the supervisor
        "message.classified",
        "state.changed",
        "agent.routed",
        "agent.replied",
        "action.proposed",
    ]


def test_every_event_has_a_duration_and_the_api_lists_them_in_order(key_client, team):
    conv = start(key_client)
    say(key_client, conv["id"], "I was charged twice")

    events = key_client.get(f"/api/v1/conversations/{conv['id']}/events").json()

    assert [e["type"] for e in events] == event_types(conv["id"])
    assert all(isinstance(e["durationMs"], float) and e["durationMs"] >= 0 for e in events)
    classified = events[1]
    assert classified["detail"]["signals"]["intent"] == "billing"
    assert classified["durationMs"] > 0


def test_a_callers_signals_override_the_detectors(key_client, team):
    conv = start(key_client)

    body = say(key_client, conv["id"], "I was charged twice", signals={"intent": "technical"})

    assert body["currentAgentId"] == "agent-tech"
    classified = DecisionEvent.objects.get(conversation_id=conv["id"], type="message.classified")
    assert classified.detail["overridden"] == ["intent"]


def test_under_handoff_the_specialist_answers_every_following_message(key_client, team):
    conv = start(key_client)
    say(key_client, conv["id"], "I was charged twice")

    body = say(key_client, conv["id"], "Also the app keeps crashing when I open it")

    assert body["currentAgentId"] == "agent-billing"  # no re-transfer on a topic shift
    assert body["reply"]["author"] == "agent-billing"
    assert not DecisionEvent.objects.filter(conversation_id=conv["id"], type="agent.rerouted")


def test_a_topic_shift_reroutes_a_sequential_supervisors_specialist_invisibly(key_client, team):
    sup, _, _ = team
    sup.pattern = "sequential"
    sup.save()
    conv = start(key_client, agent="agent-billing")
    say(key_client, conv["id"], "I was charged twice")

    body = say(key_client, conv["id"], "Also the app keeps crashing when I open it")

    assert body["currentAgentId"] == "agent-tech"
    assert body["notices"] == []
    assert body["reply"]["text"] == "Update the app."
    rerouted = DecisionEvent.objects.get(conversation_id=conv["id"], type="agent.rerouted")
    assert rerouted.detail["announced"] is False
    assert rerouted.detail["from"] == "agent-billing"


def test_a_sequential_supervisors_handoff_rule_does_not_transfer(key_client, team):
    sup, _, _ = team
    sup.pattern = "sequential"
    sup.save()
    rules_replace(
        agent=sup,
        document={
            "handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "agent-billing"}]
        },
    )
    conv = start(key_client)

    body = say(key_client, conv["id"], "I was charged twice")

    assert body["currentAgentId"] == "agent-sup"
    assert body["notices"] == []
    fired = DecisionEvent.objects.get(conversation_id=conv["id"], type="rule.fired")
    assert fired.detail["to"] == "agent-billing"
    assert "agent-sup is sequential: kept" in fired.detail["why"]


def test_handoff_rules_fire_in_order_first_match_wins(key_client, team, tenant):
    sup, _, _ = team
    rules_replace(
        agent=sup,
        document={
            "handoffs": [
                {"condition": "customer.vip == true", "targetAgentId": "agent-tech"},
                {"condition": 'intent == "billing"', "targetAgentId": "agent-billing"},
            ]
        },
    )
    conv = start(key_client, customer={"id": "vip", "attributes": {"vip": True}})

    body = say(key_client, conv["id"], "I was charged twice")

    assert body["currentAgentId"] == "agent-tech"
    fired = DecisionEvent.objects.get(conversation_id=conv["id"], type="rule.fired")
    assert fired.rule == "agent-sup v1 handoffs[0]"
    assert body["notices"][0]["text"] == "I'm transferring you to Tech."


def test_an_escalation_intent_hands_over_to_a_human(key_client, team):
    sup, _, _ = team
    rules_replace(
        agent=sup, document={"escalation": {"intents": ["human_agent"], "escalateToHuman": True}}
    )
    conv = start(key_client)

    body = say(key_client, conv["id"], "Can I talk to a real person please")

    assert body["state"] == "handing_off"
    assert body["reply"] is None
    assert "member of our team" in body["notices"][-1]["text"]
    assert "escalated" in event_types(conv["id"])


def test_failed_attempts_reaching_max_attempts_escalate(key_client, team, tenant):
    sup, _, _ = team
    rules_replace(
        agent=sup, document={"escalation": {"maxAttempts": 2, "targetAgentId": "agent-tech"}}
    )
    settings_update(
        level="tenant", tenant=tenant, changes={"stallThreshold": 10, "riskAutoEscalation": False}
    )
    conv = start(key_client, agent="agent-billing")

    first = say(key_client, conv["id"], "Something about my billing plan colours")
    second = say(key_client, conv["id"], "What billing font do you use on statements")
    third = say(key_client, conv["id"], "And billing paper weight?")

    assert first["currentAgentId"] == second["currentAgentId"] == "agent-billing"
    assert Conversation.objects.get(pk=conv["id"]).current_agent.slug == "agent-tech"
    assert third["currentAgentId"] == "agent-tech"
    fired = DecisionEvent.objects.get(conversation_id=conv["id"], type="rule.fired")
    assert "2 failed attempt(s) reach maxAttempts 2" in fired.detail["why"]


def test_risk_auto_escalation_hands_over_and_can_be_switched_off_per_stack(
    key_client, team, tenant
):
    sup, _, _ = team
    conv = start(key_client)

    body = say(key_client, conv["id"], "This is unacceptable, I will be contacting my lawyer")

    assert body["state"] == "handing_off"
    states = [
        e.detail["to"]
        for e in DecisionEvent.objects.filter(conversation_id=conv["id"], type="state.changed")
    ]
    assert states == ["active", "at_risk", "handing_off"]

    settings_update(level="stack", tenant=tenant, stack=sup, changes={"riskAutoEscalation": False})
    calm = start(key_client)
    body = say(key_client, calm["id"], "This is unacceptable, I will be contacting my lawyer")
    assert body["state"] == "active"


def test_risk_categories_limit_what_escalates(key_client, team, tenant):
    settings_update(level="tenant", tenant=tenant, changes={"riskCategories": ["legal_threat"]})
    conv = start(key_client)

    body = say(key_client, conv["id"], "I want to talk to a human")

    assert body["state"] == "active"


def test_repeating_the_same_question_is_a_stall(key_client, team, tenant):
    conv = start(key_client, agent="agent-billing")
    say(key_client, conv["id"], "How do I change the colour of my billing statement?")

    body = say(key_client, conv["id"], "how do I change the colour of my billing statement")

    stall = DecisionEvent.objects.get(conversation_id=conv["id"], type="stall.detected")
    assert stall.detail["reason"] == "repeated question"
    assert stall.detail["similarity"] >= 0.7
    assert body["state"] == "handing_off"  # no better-suited specialist: people take over


def test_a_stall_reroutes_to_a_better_suited_specialist_when_there_is_one(key_client, team):
    conv = start(key_client, agent="agent-billing")
    say(key_client, conv["id"], "my phone app shows an error", signals={"intent": "account"})

    body = say(
        key_client, conv["id"], "my phone app shows an error", signals={"intent": "technical"}
    )

    assert body["currentAgentId"] == "agent-tech"
    assert body["state"] == "active"
    rerouted = DecisionEvent.objects.get(conversation_id=conv["id"], type="agent.rerouted")
    assert rerouted.detail["to"] == "agent-tech"


def test_no_progress_for_stall_threshold_turns_is_a_stall(key_client, team, tenant):
    settings_update(level="tenant", tenant=tenant, changes={"stallThreshold": 2})
    conv = start(key_client, agent="agent-billing")
    say(key_client, conv["id"], "what is the weather like in billing land")
    say(key_client, conv["id"], "do billing people like cats")

    body = say(key_client, conv["id"], "tell me a billing joke")

    stall = DecisionEvent.objects.get(conversation_id=conv["id"], type="stall.detected")
    assert stall.detail["reason"] == "no progress"
    assert body["state"] == "handing_off"


def test_with_a_human_the_ai_stays_silent(key_client, team):
    conv = start(key_client)
    say(key_client, conv["id"], "I was charged twice")
    conversation = Conversation.objects.get(pk=conv["id"])
    conversation_transition(conversation=conversation, to="handing_off", reason="test")
    conversation_transition(conversation=conversation, to="with_human", reason="test")
    replies_before = Message.objects.filter(conversation_id=conv["id"], role="agent").count()

    body = say(key_client, conv["id"], "Hello? Are you there?")

    assert body["reply"] is None
    assert body["state"] == "with_human"
    assert (
        Message.objects.filter(conversation_id=conv["id"], role="agent").count() == replies_before
    )


def test_a_resolved_conversation_takes_no_more_messages(key_client, team):
    conv = start(key_client)
    conversation_transition(
        conversation=Conversation.objects.get(pk=conv["id"]), to="resolved", reason="done"
    )

    response = key_client.post(
        f"/api/v1/conversations/{conv['id']}/messages", {"text": "hi"}, format="json"
    )

    assert response.status_code == 409
    assert Message.objects.filter(conversation_id=conv["id"]).count() == 0


def test_a_sequential_supervisor_consults_privately_and_keeps_the_customer(key_client, team):
    sup, _, _ = team
    sup.pattern = "sequential"
    sup.save()
    conv = start(key_client)

    body = say(key_client, conv["id"], "I was charged twice")

    assert body["currentAgentId"] == "agent-sup"
    assert body["notices"] == []
    assert body["reply"]["author"] == "agent-sup"
    assert "I can refund the duplicate payment." in body["reply"]["text"]
    consulted = DecisionEvent.objects.get(
        conversation_id=conv["id"], type="agent.routed", detail__mode="consultation"
    )
    assert consulted.detail["to"] == "agent-billing"


def test_consultation_stops_at_depth_three(key_client, tenant):
    # four sequential supervisors in a chain, each with the billing domain
    lead = Agent.objects.create(
        tenant=tenant, slug="lvl0", name="L0", role="supervisor", pattern="sequential"
    )
    parent = lead
    for level in range(1, 5):
        parent = Agent.objects.create(
            tenant=tenant,
            slug=f"lvl{level}",
            name=f"L{level}",
            role="supervisor",
            pattern="sequential",
            supervisor=parent,
            domains=["billing"],
        )
    conv = start(key_client, agent="lvl0")

    say(key_client, conv["id"], "I was charged twice")

    consultations = DecisionEvent.objects.filter(
        conversation_id=conv["id"], type="agent.routed", detail__mode="consultation"
    )
    stopped = [e.detail for e in consultations if "stopped" in e.detail]
    assert stopped == [{**stopped[0], "stopped": "depth limit", "depth": 3}]
    assert max(e.detail.get("depth", 0) for e in consultations) == 3


def test_a_workflow_runs_its_steps_and_falls_back_to_a_human_past_its_budget(
    key_client, team, tenant
):
    workflow = workflow_create(
        tenant=tenant,
        data={
            "name": "Triage",
            "stepBudget": 3,
            "steps": [
                {"agent": "agent-sup", "condition": "start", "outputs": ["category"]},
                {
                    "agent": "agent-billing",
                    "condition": 'category == "billing"',
                    "outputs": ["resolution"],
                },
            ],
        },
    )
    conv = start(key_client, workflowId=workflow.pk)

    first = say(key_client, conv["id"], "I was charged twice")
    second = say(key_client, conv["id"], "I was charged twice again on the invoice")

    steps = DecisionEvent.objects.filter(conversation_id=conv["id"], type="workflow.step").order_by(
        "id"
    )
    assert [s.detail.get("agent") for s in steps][:2] == ["agent-sup", "agent-billing"]
    assert first["reply"]["text"] == "I can refund the duplicate payment."
    assert steps.last().detail["stopped"] == "step budget"
    assert second["state"] == "handing_off"


def test_a_failing_runtime_records_errors_and_hands_over_after_two(key_client, tenant):
    Agent.objects.create(
        tenant=tenant,
        slug="hook",
        name="Hook",
        role="specialist",
        runtime="webhook",
        runtime_config={"url": "http://127.0.0.1:9/unreachable"},
        runtime_secret=seal("s" * 20),
    )
    conv = start(key_client, agent="hook")

    first = say(key_client, conv["id"], "hello there")
    second = say(key_client, conv["id"], "anyone home?")

    assert first["reply"] is None and first["state"] == "active"
    assert second["state"] == "handing_off"
    assert event_types(conv["id"]).count("agent.error") == 2


def test_the_message_endpoint_costs_the_same_queries_as_the_conversation_grows(
    key_client, team, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    conv = start(key_client, agent="agent-billing")
    say(key_client, conv["id"], "Hello, I have a question about billing")
    counts = []
    for text in [
        "Where is my invoice?",
        "Can I pay by card next month",
        "Which currency do you bill",
    ] * 3:
        with CaptureQueriesContext(connection) as ctx:
            say(key_client, conv["id"], text, signals={"intent": "billing", "risk": []})
        counts.append(len(ctx.captured_queries))
        same = Conversation.objects.filter(pk=conv["id"])
        LIFECYCLE.transition(same, to="active")  # when a turn stalled it
        same.update(turns_without_progress=0)

    assert len(set(counts)) == 1, counts
    assert counts[0] <= 40


# --- bad input and other tenants ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "x" * 10_001}, "text"),
        ({"text": "hi", "signals": {"sentiment": 2}}, "signals.sentiment"),
        ({"text": "hi", "signals": {"risk": ["grumpy"]}}, "signals.risk[0]"),
        ({"text": "hi", "signals": "angry"}, "signals.non_field_errors"),
    ],
)
def test_bad_messages_are_400_and_store_nothing(key_client, team, body, field):
    conv = start(key_client)

    response = key_client.post(f"/api/v1/conversations/{conv['id']}/messages", body, format="json")

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert field in fields or field.split(".")[0] in fields, fields
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agentId": "ghost", "channel": "web", "customer": {"id": "c"}}, "agentId"),
        ({"agentId": "agent-sup", "channel": "fax", "customer": {"id": "c"}}, "channel"),
        ({"agentId": "agent-sup", "channel": "web"}, "customer"),
        (
            {"agentId": "agent-sup", "channel": "web", "customer": {"id": "c", "email": "nope"}},
            "customer.email",
        ),
        (
            {"agentId": "agent-sup", "channel": "web", "customer": {"id": "c"}, "workflowId": 999},
            "workflowId",
        ),
    ],
)
def test_bad_conversations_are_400(key_client, team, body, field):
    response = key_client.post("/api/v1/conversations", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Conversation.objects.exists()


def test_another_tenants_conversations_and_agents_are_out_of_reach(key_client, team, other_tenant):
    from tests.factories import make_api_key

    theirs_agent = Agent.objects.create(
        tenant=other_tenant, slug="theirs", name="T", role="specialist"
    )
    _, raw = make_api_key(tenant=other_tenant)
    from rest_framework.test import APIClient

    them = APIClient()
    them.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    theirs = start(them, agent=theirs_agent.slug)
    base = f"/api/v1/conversations/{theirs['id']}"

    assert key_client.get(base).status_code == 404
    assert key_client.get(base + "/messages").status_code == 404
    assert key_client.get(base + "/events").status_code == 404
    assert key_client.post(base + "/messages", {"text": "hi"}, format="json").status_code == 404
    assert key_client.get("/api/v1/conversations").json() == []
    response = key_client.post(
        "/api/v1/conversations",
        {"agentId": "theirs", "channel": "web", "customer": {"id": "c"}},
        format="json",
    )
    assert response.json()["error"]["fields"]["agentId"] == ["unknown agent 'theirs'"]
    assert Message.objects.count() == 0


def test_messages_can_be_read_after_an_id(key_client, team):
    conv = start(key_client)
    say(key_client, conv["id"], "I was charged twice")
    messages = key_client.get(f"/api/v1/conversations/{conv['id']}/messages").json()

    later = key_client.get(
        f"/api/v1/conversations/{conv['id']}/messages?after={messages[0]['id']}"
    ).json()

    assert [m["role"] for m in messages] == ["customer", "agent", "agent"]
    assert later == messages[1:]
    bad = key_client.get(f"/api/v1/conversations/{conv['id']}/messages?after=x")
    assert bad.status_code == 400


def test_events_can_be_read_after_an_id(key_client, team):
    conv = start(key_client)
    say(key_client, conv["id"], "I was charged twice")
    events = key_client.get(f"/api/v1/conversations/{conv['id']}/events").json()

    later = key_client.get(
        f"/api/v1/conversations/{conv['id']}/events?after={events[1]['id']}"
    ).json()

    assert len(events) > 3
    assert later == events[2:]
    assert key_client.get(f"/api/v1/conversations/{conv['id']}/events?after=-1").status_code == 400


@pytest.fixture
def cache_breaker_reset():
    yield
    ResilientRedisCache._down_until = 0.0


def test_with_the_cache_down_messages_are_still_answered(
    key_client, team, settings, cache_breaker_reset
):
    """Redis (the cache) away is a cache miss: the configuration comes from the database."""
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    conversation_id = start(key_client)["id"]

    body = say(key_client, conversation_id, "Hi, I was charged twice this month")

    assert body["currentAgentId"] == "agent-billing"
    assert body["reply"]["text"] == "I can refund the duplicate payment."

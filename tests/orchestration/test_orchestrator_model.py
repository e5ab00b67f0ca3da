"""The model-driven orchestrator (SPEC 4.1): with an endpoint in the stack's settings, each turn
the rules leave open asks the model (a local fake OpenAI-compatible server) which built-in
action to take; apply validates and applies it. The rules decide first."""

from __future__ import annotations

import pytest

from agents.orchestrator_settings import settings_update
from conversations.models import Conversation, DecisionEvent
from handover.models import Handoff
from tests.runtimes.support import API_KEY, FakeServer, Respond, completion, openai_check, tool_call

pytestmark = pytest.mark.django_db

DELAYS = "If the customer mentions delivery delays of more than 14 days, hand off immediately."


@pytest.fixture
def llm():
    with FakeServer(
        default=lambda seen: Respond(body=completion(None, [tool_call("continue", {})])),
        check=openai_check,
    ) as server:
        yield server


@pytest.fixture
def stack(team, llm):
    sup = team[0]
    settings_update(
        level="stack",
        stack=sup,
        changes={
            "orchestratorEndpoint": llm.url + "/v1",
            "orchestratorApiKey": API_KEY,
            "model": "router-1",
            "routingInstructions": DELAYS + " You work for {{TENANT_NAME}}.",
        },
    )
    return team


def start(client, agent="agent-sup"):
    response = client.post(
        "/api/v1/conversations",
        {"agentId": agent, "channel": "web", "customer": {"id": "cust-1", "name": "Kim"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def say(client, conversation_id, text):
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages", {"text": text}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def decided(conversation_id):
    return [
        e.detail
        for e in DecisionEvent.objects.filter(
            conversation_id=conversation_id, type="orchestrator.decided"
        ).order_by("id")
    ]


def test_the_routing_instructions_hand_a_late_delivery_over_as_written(key_client, stack, llm):
    llm.then(
        Respond(
            body=completion(
                None, [tool_call("hand_over", {"mode": "cold", "reason": "delivery 20 days late"})]
            )
        )
    )
    conv = start(key_client)

    body = say(key_client, conv, "My parcel is 20 days late, where is it?")

    assert body["state"] == "handing_off"
    assert body["reply"] is None
    handoff = Handoff.objects.get(conversation_id=conv)
    assert handoff.mode == "cold"
    assert decided(conv) == [
        {
            "action": "hand_over",
            "model": "router-1",
            "mode": "cold",
            "reason": "delivery 20 days late",
            "v": 1,
        }
    ]
    escalated = DecisionEvent.objects.get(conversation_id=conv, type="escalated")
    assert escalated.detail["reasonCode"] == "orchestrator_model"
    # what the model was given: the built-in prompt, the instructions with the tenant's name,
    # the specialists' domains, the customer's message; the built-in actions as tools
    (request,) = llm.seen
    sent = request.json
    system = sent["messages"][0]["content"]
    assert "You are the orchestrator of Acme" in system
    assert DELAYS in system and "You work for Acme." in system
    assert "agent-billing" in system and "billing" in system
    assert sent["messages"][-1] == {
        "role": "user",
        "content": "My parcel is 20 days late, where is it?",
    }
    assert {t["function"]["name"] for t in sent["tools"]} == {
        "continue",
        "reroute",
        "hand_over",
        "mark_stalled",
        "consult",
    }
    assert sent["model"] == "router-1"
    assert Conversation.objects.get(pk=conv).budget_used["steps"] == 1


def test_the_model_re_routes_to_a_named_specialist_who_answers(key_client, stack, llm):
    llm.then(Respond(body=completion(None, [tool_call("reroute", {"agent": "agent-tech"})])))
    conv = start(key_client)

    body = say(key_client, conv, "hello there")

    assert body["currentAgentId"] == "agent-tech"
    assert body["reply"]["author"] == "agent-tech"
    assert [n["text"] for n in body["notices"]] == ["I'm transferring you to Tech."]
    routed = DecisionEvent.objects.get(
        conversation_id=conv, type="agent.routed", detail__reasonCode="orchestrator_model"
    )
    assert (routed.detail["from"], routed.detail["to"]) == ("agent-sup", "agent-tech")
    assert decided(conv)[0]["to"] == "agent-tech"


def test_an_unknown_agent_or_a_forbidden_hand_over_is_ignored_with_an_event(key_client, stack, llm):
    sup = stack[0]
    settings_update(level="stack", stack=sup, changes={"handoffMode": "cold"})
    llm.then(
        Respond(body=completion(None, [tool_call("reroute", {"agent": "agent-nobody"})])),
        Respond(body=completion(None, [tool_call("hand_over", {"mode": "hot"})])),
    )
    conv = start(key_client)

    first = say(key_client, conv, "hello there")
    second = say(key_client, conv, "anyone?")

    assert first["currentAgentId"] == second["currentAgentId"] == "agent-sup"
    assert second["state"] == "active"
    assert [d["ignored"] for d in decided(conv)] == [
        "unknown agent 'agent-nobody'",
        "the stack hands over cold only",
    ]
    assert not Handoff.objects.filter(conversation_id=conv).exists()


def test_the_rules_decide_first_and_the_model_is_not_asked(key_client, stack, llm):
    conv = start(key_client)

    body = say(key_client, conv, "I will contact my lawyer and sue you")

    assert body["state"] == "handing_off"
    assert llm.seen == []
    assert decided(conv) == []


def test_a_failing_model_leaves_the_turn_to_the_agent(key_client, stack, llm):
    llm.then(Respond(status=400, body={"error": {"message": "bad request"}}))
    conv = start(key_client)

    body = say(key_client, conv, "hello there")

    assert body["reply"]["author"] == "agent-sup"
    (choice,) = decided(conv)
    assert choice["action"] == "continue"
    assert choice["ignored"] == "the orchestrator model failed"
    assert "bad request" in choice["error"]


def test_the_key_is_stored_sealed_and_never_shown(key_client, stack):
    sup = stack[0]
    response = key_client.get(f"/api/v1/agents/{sup.slug}/orchestrator-settings")

    assert response.status_code == 200
    assert API_KEY not in response.content.decode()
    assert "orchestratorApiKey" not in response.content.decode()
    assert response.json()["effective"]["orchestratorEndpoint"].endswith("/v1")


def test_a_bad_endpoint_or_key_is_a_400_naming_the_field(key_client, team):
    url = "/api/v1/orchestrator-settings"
    bad_url = key_client.patch(url, {"orchestratorEndpoint": "ftp://x"}, format="json")
    bad_key = key_client.patch(url, {"orchestratorApiKey": "  "}, format="json")

    assert bad_url.status_code == bad_key.status_code == 400
    assert "orchestratorEndpoint" in bad_url.json()["error"]["fields"]
    assert "orchestratorApiKey" in bad_key.json()["error"]["fields"]

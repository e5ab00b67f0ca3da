"""Budgets per conversation: steps (every agent run: replies, consultations, workflow steps)
and, from the network runtimes' reported usage, tokens and cost. Crossing one stops the AI with
a ``budget.exceeded`` event and hands the conversation to people."""

from __future__ import annotations

import pytest

from agents.models import Agent
from agents.orchestrator_settings import settings_update
from agents.runtimes.openai import usage_cost
from conversations.models import Conversation
from tests.guardrails.support import (
    billing_agent,
    events,
    openai_agent,
    say,
    start,
    webhook_agent,
)
from tests.runtimes.support import Respond, completion

pytestmark = pytest.mark.django_db


def budgets(tenant, **changes):
    settings_update(level="tenant", tenant=tenant, changes=changes)


QUESTIONS = ("I was charged twice", "There is a double charge", "charged twice again, why?")


def test_the_step_budget_stops_the_ai_and_hands_over(tenant, key_client):
    billing_agent(tenant, answer="Sorry about that.", action="", params={})
    budgets(tenant, stepBudget=2)
    conv = start(key_client, "agent-billing")

    first, second = (say(key_client, conv, q) for q in QUESTIONS[:2])
    third = say(key_client, conv, "Why was I charged twice on my invoice?")

    assert first["reply"] and second["reply"]
    assert third["reply"] is None
    assert third["handoff"] is not None
    assert third["state"] == "handing_off"
    (event,) = events(conv, "budget.exceeded")
    assert event.rule == "steps budget"
    assert event.detail == {
        "v": 1,
        "budget": "steps",
        "used": 2,
        "limit": 2,
        "usage": {"steps": 2},
    }
    assert Conversation.objects.get(pk=conv).budget_used == {"steps": 2}


def test_consultations_count_as_steps(tenant, key_client):
    sup = Agent.objects.create(
        tenant=tenant, slug="agent-sup", name="Desk", role="supervisor", pattern="sequential"
    )
    specialist = billing_agent(tenant, answer="Sorry about that.", action="", params={})
    specialist.supervisor = sup
    specialist.save()
    budgets(tenant, stepBudget=3)
    conv = start(key_client, "agent-sup")

    assert say(key_client, conv)["reply"]["text"] == "Sorry about that."  # 2 steps
    assert Conversation.objects.get(pk=conv).budget_used == {"steps": 2}
    answer = say(key_client, conv, "There is a double charge on my card")  # 1 left: stops

    assert answer["reply"] is None
    assert events(conv, "budget.exceeded")[0].detail["used"] == 3


def test_the_token_budget_counts_the_openai_runtimes_reported_usage(
    tenant, key_client, llm, llm_key
):
    openai_agent(tenant, llm)
    budgets(tenant, tokenBudget=20)  # each completion of the test server uses 15
    conv = start(key_client, "agent-llm")

    first = say(key_client, conv, "Hello")
    second = say(key_client, conv, "Where is my parcel?")

    assert first["reply"]["text"] == "Hello from test-model"
    assert second["reply"] is None
    assert second["state"] == "handing_off"
    (event,) = events(conv, "budget.exceeded")
    assert event.detail["budget"] == "tokens"
    assert (event.detail["used"], event.detail["limit"]) == (30, 20)
    assert event.agent_slug == "agent-llm"
    assert Conversation.objects.get(pk=conv).budget_used == {"steps": 2, "tokens": 30}


def test_the_cost_budget_prices_openai_tokens_or_takes_the_reported_cost(
    tenant, key_client, llm, llm_key
):
    openai_agent(tenant, llm, inputCostPer1k=10.0, outputCostPer1k=20.0)
    llm.then(Respond(body=completion("Hi")))  # 10 prompt + 5 completion tokens: 0.2
    budgets(tenant, costBudget=0.3)
    conv = start(key_client, "agent-llm")

    assert say(key_client, conv, "Hello")["reply"]["text"] == "Hi"
    assert say(key_client, conv, "And my parcel?")["reply"] is None  # 0.4 > 0.3

    (event,) = events(conv, "budget.exceeded")
    assert (event.detail["budget"], event.detail["used"]) == ("cost", 0.4)
    assert usage_cost({"prompt_tokens": 10}, 0.05, {"inputCostPer1k": 99}) == (10, 0.05)


def test_the_cost_budget_counts_a_webhooks_reported_usage(tenant, key_client, hook):
    webhook_agent(tenant, hook)
    reply = {"reply": "On it.", "usage": {"tokens": 400, "cost": 0.6}}
    hook.then(Respond(body=reply), Respond(body=reply))
    budgets(tenant, costBudget=1.0)
    conv = start(key_client, "agent-hook")

    assert say(key_client, conv, "Hello")["reply"]["text"] == "On it."
    assert say(key_client, conv, "Anything new?")["reply"] is None

    (event,) = events(conv, "budget.exceeded")
    assert event.detail["usage"] == {"steps": 2, "tokens": 800, "cost": 1.2}
    replied = events(conv, "agent.replied")[0]
    assert replied.detail["usage"] == {"tokens": 400, "cost": 0.6}


def test_a_malformed_usage_from_a_webhook_is_an_error(tenant, key_client, hook):
    webhook_agent(tenant, hook)
    hook.then(Respond(body={"reply": "x", "usage": {"tokens": -1}}))
    conv = start(key_client, "agent-hook")

    say(key_client, conv, "Hello")

    (error,) = events(conv, "agent.error")
    assert "usage.tokens must be a whole number >= 0" in error.detail["error"]


def test_budgets_are_inherited_and_validated_like_the_other_settings(tenant, key_client):
    billing_agent(tenant, answer="Hi", action="", params={})
    response = key_client.get("/api/v1/agents/agent-billing/orchestrator-settings")
    body = response.json()
    assert body["effective"]["stepBudget"] == 100
    assert body["effective"]["tokenBudget"] == 200_000
    assert body["effective"]["costBudget"] == 5.0
    assert body["sources"]["stepBudget"] == "global"

    bad = key_client.patch(
        "/api/v1/agents/agent-billing/orchestrator-settings",
        {"stepBudget": 0, "costBudget": -2},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"stepBudget", "costBudget"}

    good = key_client.patch(
        "/api/v1/agents/agent-billing/orchestrator-settings",
        {"costBudget": 0.5},
        format="json",
    )
    assert good.status_code == 200, good.json()
    assert good.json()["sources"]["costBudget"] == "stack"


def test_workflow_steps_count_against_the_conversations_step_budget(tenant, key_client):
    from agents.workflows import workflow_create

    billing_agent(tenant, answer="Sorry about that.", action="", params={})
    Agent.objects.create(tenant=tenant, slug="agent-triage", name="Triage", role="specialist")
    workflow = workflow_create(
        tenant=tenant,
        data={
            "name": "Triage",
            "stepBudget": 10,  # the workflow's own budget is not what stops it here
            "steps": [
                {"agent": "agent-triage", "condition": "start", "outputs": ["category"]},
                {"agent": "agent-billing", "condition": 'category == "billing"'},
            ],
        },
    )
    budgets(tenant, stepBudget=3)
    response = key_client.post(
        "/api/v1/conversations",
        {
            "agentId": "agent-triage",
            "channel": "email",
            "customer": {"id": "c-1"},
            "workflowId": workflow.pk,
        },
        format="json",
    )
    conv = response.json()["id"]

    first = say(key_client, conv, "I was charged twice on my billing statement")  # 2 steps
    second = say(key_client, conv, "Another double charge on my billing statement")

    assert first["reply"]["text"] == "Sorry about that."
    assert second["reply"] is None and second["state"] == "handing_off"
    (event,) = events(conv, "budget.exceeded")
    assert (event.detail["budget"], event.detail["used"]) == ("steps", 3)

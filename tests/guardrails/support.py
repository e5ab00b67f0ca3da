"""Agents, conversations and look-ups shared by the guardrail tests (through the public API)."""

from __future__ import annotations

from agents.models import Agent
from agents.rule_sets import rules_replace
from conversations.models import DecisionEvent
from tests.factories import make_person
from tests.runtimes.support import KEY_ENV, WEBHOOK_SECRET, sealed


def billing_agent(tenant, *, answer, action="issue_refund", params=None, allowed=None, **extra):
    """A built-in billing agent whose one knowledge entry answers ``answer`` (proposing
    ``action``); refunds over 100 wait for alice."""
    make_person(tenant=tenant, roles=["approver"], username=f"alice-{tenant.slug}")
    agent = Agent.objects.create(
        tenant=tenant,
        slug="agent-billing",
        name="Billing",
        role="specialist",
        domains=["billing"],
        allowed_actions=allowed,
        **extra,
    )
    agent.knowledge.create(
        question="Why was I charged twice?",
        keywords=["charged twice", "double charge"],
        answer=answer,
        action=action or "",
        action_params=params if params is not None else {"orderId": "A1", "amount": 150},
    )
    rules_replace(
        agent=agent,
        document={
            "approvals": {
                "required": True,
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": [f"alice-{tenant.slug}"],
            }
        },
    )
    return agent


def openai_agent(tenant, llm, *, allowed=None, slug="agent-llm", **config):
    return Agent.objects.create(
        tenant=tenant,
        slug=slug,
        name="LLM",
        role="specialist",
        runtime="openai",
        runtime_config={
            "baseUrl": llm.url + "/v1",
            "model": "test-model",
            "apiKeyEnv": KEY_ENV,
            **config,
        },
        allowed_actions=allowed,
    )


def webhook_agent(tenant, hook, *, allowed=None, slug="agent-hook"):
    return Agent.objects.create(
        tenant=tenant,
        slug=slug,
        name="Hook",
        role="specialist",
        runtime="webhook",
        runtime_config={"url": hook.url + "/agent"},
        runtime_secret=sealed(WEBHOOK_SECRET),
        allowed_actions=allowed,
    )


def start(client, agent):
    response = client.post(
        "/api/v1/conversations",
        {"agentId": agent, "channel": "email", "customer": {"id": "cust-1", "name": "Kim"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def say(client, conversation_id, text="I was charged twice"):
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages", {"text": text}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def events(conversation_id, *types):
    found = DecisionEvent.objects.filter(conversation_id=conversation_id).order_by("id")
    if types:
        found = found.filter(type__in=types)
    return list(found)

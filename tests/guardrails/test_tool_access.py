"""The allow-list of actions an agent may propose, on every runtime and on the actions API: a
proposal outside it is refused before the approval gate, recorded as ``guardrail.blocked``,
and never reaches an approver or runs."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from approvals.models import ActionExecution, ApprovalRequest, AuditLog
from tests.factories import make_api_key
from tests.guardrails.support import (
    billing_agent,
    events,
    openai_agent,
    say,
    start,
    webhook_agent,
)
from tests.runtimes.support import Respond, completion, tool_call

pytestmark = pytest.mark.django_db

REFUND = {"orderId": "A1", "amount": 150}


def nothing_reached_the_gate():
    assert not ApprovalRequest.objects.exists()
    assert not ActionExecution.objects.exists()
    assert not AuditLog.objects.exists()


def refused(conv, action="issue_refund"):
    (event,) = events(conv, "guardrail.blocked")
    assert event.rule == "tool_access"
    assert event.detail["action"] == action
    assert event.detail["outcome"] == "refused"
    gated = events(conv, "approval.requested", "action.proposed")
    assert [e for e in gated if e.detail.get("action") == action] == []
    return event


def test_a_builtin_agent_may_not_propose_an_action_outside_its_list(tenant, key_client):
    billing_agent(tenant, answer="Let me look into a refund.", allowed=["modify_account"])
    conv = start(key_client, "agent-billing")

    answer = say(key_client, conv)

    assert answer["reply"]["text"] == "Let me look into a refund."  # the reply still goes
    assert answer["approval"] is None
    assert answer["proposedActions"][0]["refused"] == "action_not_allowed"
    event = refused(conv)
    assert event.detail["allowed"] == ["modify_account"]
    assert event.agent_slug == "agent-billing"
    nothing_reached_the_gate()


def test_an_unset_list_allows_every_registered_action(tenant, key_client):
    billing_agent(tenant, answer="Let me look into a refund.", allowed=None)
    conv = start(key_client, "agent-billing")

    assert say(key_client, conv)["approval"]["status"] == "pending"
    assert events(conv, "guardrail.blocked") == []


def test_an_empty_list_allows_no_action(tenant, key_client):
    billing_agent(tenant, answer="Refunding.", allowed=[], params={"orderId": "A1", "amount": 5})
    conv = start(key_client, "agent-billing")

    say(key_client, conv)

    refused(conv)
    nothing_reached_the_gate()


def test_an_openai_agent_is_offered_only_its_tools_and_a_call_outside_them_is_refused(
    tenant, key_client, llm, llm_key
):
    openai_agent(tenant, llm, allowed=["modify_account"])
    llm.then(Respond(body=completion("On it.", [tool_call("issue_refund", REFUND)])))
    conv = start(key_client, "agent-llm")

    answer = say(key_client, conv, "Refund order A1 please")

    offered = [t["function"]["name"] for t in llm.seen[0].json["tools"]]
    assert offered == ["modify_account"]
    assert answer["reply"]["text"] == "On it."
    refused(conv)
    nothing_reached_the_gate()


def test_an_openai_agent_allowed_nothing_is_offered_no_tools(tenant, key_client, llm, llm_key):
    openai_agent(tenant, llm, allowed=[])
    conv = start(key_client, "agent-llm")

    say(key_client, conv, "Hello")

    assert "tools" not in llm.seen[0].json


def test_an_openai_tool_call_inside_the_list_reaches_the_gate(tenant, key_client, llm, llm_key):
    openai_agent(tenant, llm, allowed=["issue_refund"])
    llm.then(Respond(body=completion(None, [tool_call("issue_refund", {**REFUND, "amount": 5})])))
    conv = start(key_client, "agent-llm")

    say(key_client, conv, "Refund order A1 please")

    assert events(conv, "guardrail.blocked") == []
    assert ActionExecution.objects.get().action == "issue_refund"


def test_a_webhooks_proposed_action_outside_the_list_is_refused(tenant, key_client, hook):
    webhook_agent(tenant, hook, allowed=["access_sensitive_data"])
    hook.then(
        Respond(
            body={
                "reply": "Done soon.",
                "actions": [
                    {"name": "modify_account", "params": {"changes": {"plan": "pro"}}},
                    {"name": "access_sensitive_data", "params": {"field": "address"}},
                ],
            }
        )
    )
    conv = start(key_client, "agent-hook")

    answer = say(key_client, conv, "Upgrade me and show my address")

    refused(conv, "modify_account")
    assert [a.get("refused") for a in answer["proposedActions"]] == ["action_not_allowed", None]
    assert ActionExecution.objects.get().action == "access_sensitive_data"


def test_the_actions_api_refuses_an_action_outside_the_list_with_403(tenant, key_client):
    billing_agent(tenant, answer="Hi", action="", params={}, allowed=["modify_account"])
    conv = start(key_client, "agent-billing")

    response = key_client.post(
        f"/api/v1/conversations/{conv}/actions",
        {"action": "issue_refund", "params": REFUND, "idempotencyKey": "k1"},
        format="json",
    )

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "action_not_allowed"
    assert "agent-billing may not propose issue_refund" in error["message"]
    refused(conv)
    nothing_reached_the_gate()


def test_bad_parameters_are_still_a_400_before_the_allow_list(tenant, key_client):
    billing_agent(tenant, answer="Hi", action="", params={}, allowed=[])
    conv = start(key_client, "agent-billing")

    response = key_client.post(
        f"/api/v1/conversations/{conv}/actions",
        {"action": "issue_refund", "params": {"amount": -1}, "idempotencyKey": "k1"},
        format="json",
    )

    assert response.status_code == 400
    assert events(conv, "guardrail.blocked") == []


def test_another_tenants_key_cannot_propose_on_the_conversation(tenant, other_tenant, key_client):
    billing_agent(tenant, answer="Hi", action="", params={})
    conv = start(key_client, "agent-billing")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")

    response = other.post(
        f"/api/v1/conversations/{conv}/actions",
        {"action": "issue_refund", "params": REFUND, "idempotencyKey": "k1"},
        format="json",
    )

    assert response.status_code == 404
    nothing_reached_the_gate()


def test_the_agents_api_sets_and_shows_the_allow_list(tenant, key_client):
    created = key_client.post(
        "/api/v1/agents",
        {"id": "agent-x", "name": "X", "role": "specialist", "allowedActions": ["issue_refund"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["allowedActions"] == ["issue_refund"]

    bad = key_client.patch(
        "/api/v1/agents/agent-x", {"allowedActions": ["launch_rocket"]}, format="json"
    )
    assert bad.status_code == 400
    assert "unknown action 'launch_rocket'" in bad.json()["error"]["fields"]["allowedActions"][0]

    cleared = key_client.patch("/api/v1/agents/agent-x", {"allowedActions": None}, format="json")
    assert cleared.json()["allowedActions"] is None

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from agents.action_registry import ACTIONS
from agents.models import Agent
from agents.rule_sets import rules_replace
from conversations.lifecycle import conversation_transition
from conversations.services import conversation_start
from core.models import ApproverGroup
from tests.approvals.support import EXPLODING, FAILING_REFUND, FLAKY_SPEC
from tests.factories import make_person


@pytest.fixture
def test_actions(monkeypatch):
    monkeypatch.setitem(ACTIONS, EXPLODING.name, EXPLODING)
    monkeypatch.setitem(ACTIONS, FLAKY_SPEC.name, FLAKY_SPEC)
    monkeypatch.setitem(ACTIONS, FAILING_REFUND.name, FAILING_REFUND)


@pytest.fixture
def people(tenant):
    """An approver named by username, a member of group:finance (no approver role needed), a
    person of the tenant who approves nothing, and a requester who is also a listed approver
    (a manager: people propose actions through the API only as managers)."""
    alice = make_person(tenant=tenant, roles=["approver"], username="alice", email="a@acme.test")
    bob = make_person(tenant=tenant, roles=["agent"], username="bob", email="b@acme.test")
    carol = make_person(tenant=tenant, roles=["agent"], username="carol")
    requester = make_person(tenant=tenant, roles=["manager", "approver"], username="rita")
    finance = ApproverGroup.objects.create(tenant=tenant, name="finance")
    finance.members.add(bob)
    return {"alice": alice, "bob": bob, "carol": carol, "rita": requester}


def approval_rules(*, quorum=1, approvers=("alice", "rita", "group:finance"), actions=None):
    return {
        "approvals": {
            "required": True,
            "actions": actions
            or [
                {"action": "issue_refund", "when": "params.amount > 100"},
                "modify_account",
            ],
            "approvers": list(approvers),
            "quorum": quorum,
        }
    }


@pytest.fixture
def agent(tenant, people):
    agent = Agent.objects.create(
        tenant=tenant, slug="agent-billing", name="Billing", role="specialist"
    )
    rules_replace(agent=agent, document=approval_rules())
    return agent


@pytest.fixture
def conversation(tenant, agent):
    conv, _ = conversation_start(
        tenant=tenant, agent=agent, channel="web", customer={"id": "cust-1", "name": "Kim"}
    )
    conversation_transition(conversation=conv, to="active", reason="test")
    return conv


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def propose(client, conversation, action="issue_refund", params=None, key="k-1"):
    return client.post(
        f"/api/v1/conversations/{conversation.pk}/actions",
        {
            "action": action,
            "params": params if params is not None else {"orderId": "A1", "amount": 150},
            "idempotencyKey": key,
        },
        format="json",
    )

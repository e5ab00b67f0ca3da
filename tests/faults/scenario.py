"""The data the fault tests start from, committed so the product's processes see it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from agents.models import Agent
from agents.rule_sets import rules_replace
from conversations.lifecycle import conversation_transition
from conversations.models import Conversation
from conversations.services import conversation_start
from core.models import (
    BusinessHours,
    Tenant,
)
from core.services import (
    api_key_create,
    personal_token_create,
)
from tests.factories import TenantFactory, make_person


@dataclass
class Scenario:
    tenant: Tenant
    api_key: str
    approver_token: str
    conversation: Conversation


def approval_scenario() -> Scenario:
    """A tenant open all week, whose billing agent needs approval (by priya) for refunds over
    100 and hands a request for a human to people; one active conversation."""
    tenant = TenantFactory(slug="acme", name="Acme")
    for weekday in range(7):
        BusinessHours.objects.create(
            tenant=tenant, weekday=weekday, opens=dt.time(0), closes=dt.time(0)
        )
    priya = make_person(tenant=tenant, roles=["approver"], username="priya")
    make_person(tenant=tenant, roles=["agent"], username="ada", first_name="Ada")
    agent = Agent.objects.create(
        tenant=tenant, slug="agent-billing", name="Billing", role="supervisor"
    )
    rules_replace(
        agent=agent,
        document={
            "escalation": {"intents": ["human_agent"], "escalateToHuman": True},
            "approvals": {
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": ["priya"],
            },
        },
    )
    conversation, _ = conversation_start(
        tenant=tenant, agent=agent, channel="web", customer={"id": "cust-1", "name": "Kim"}
    )
    conversation_transition(conversation=conversation, to="active", reason="test")
    _, raw_key = api_key_create(tenant=tenant, name="faults")
    _, raw_token = personal_token_create(user=priya, name="faults")
    return Scenario(
        tenant=tenant, api_key=raw_key, approver_token=raw_token, conversation=conversation
    )

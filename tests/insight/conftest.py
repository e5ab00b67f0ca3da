from __future__ import annotations

import pytest


@pytest.fixture
def team(tenant):
    """A front desk (supervisor, whose rules send billing to the billing specialist) with a
    billing and a tech specialist."""
    from agents.models import Agent
    from agents.rule_sets import rules_replace

    sup = Agent.objects.create(
        tenant=tenant, slug="agent-sup", name="Front desk", role="supervisor"
    )
    billing = Agent.objects.create(
        tenant=tenant,
        slug="agent-billing",
        name="Billing",
        role="specialist",
        supervisor=sup,
        domains=["billing", "refund"],
    )
    tech = Agent.objects.create(
        tenant=tenant,
        slug="agent-tech",
        name="Tech",
        role="specialist",
        supervisor=sup,
        domains=["technical"],
    )
    billing.knowledge.create(
        question="Where is my invoice?", keywords=["invoice"], answer="Under Account > Billing."
    )
    tech.knowledge.create(
        question="The app crashes", keywords=["crash", "crashes"], answer="Update the app."
    )
    rules_replace(
        agent=sup,
        document={
            "escalation": {"intents": ["human_agent"], "escalateToHuman": True},
            "handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "agent-billing"}],
        },
    )
    return sup, billing, tech

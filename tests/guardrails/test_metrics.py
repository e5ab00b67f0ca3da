"""Guardrail triggers in the metrics of SPEC 9: per rule and per agent, in the API and on the
dashboard, for the caller's tenant only."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from agents.models import GuardrailPolicy
from agents.orchestrator_settings import settings_update
from tests.factories import make_api_key
from tests.guardrails.support import billing_agent, say, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def triggered(tenant, key_client):
    """Two redacted cards and a refused refund from agent-billing, and one budget stop."""
    billing_agent(
        tenant,
        answer="Card 4111 1111 1111 1111 was charged twice.",
        allowed=["modify_account"],
    )
    for _ in range(2):
        conv = start(key_client, "agent-billing")
        say(key_client, conv)
    settings_update(level="tenant", tenant=tenant, changes={"stepBudget": 1})
    conv = start(key_client, "agent-billing")
    say(key_client, conv)
    say(key_client, conv, "There is a double charge")  # over the budget


def guardrails(client, **params):
    response = client.get("/api/v1/metrics", params)
    assert response.status_code == 200, response.json()
    return response.json()["guardrails"]


def test_the_metrics_count_guardrail_triggers_per_rule_and_per_agent(key_client, triggered):
    body = guardrails(key_client)

    assert body == {
        "triggers": 6,
        "blocked": 3,
        "redacted": 3,
        "budgetExceeded": 1,
        "byRule": [
            {"rule": "pii.card", "blocked": 0, "redacted": 3, "total": 3},
            {"rule": "tool_access", "blocked": 3, "redacted": 0, "total": 3},
        ],
        "byAgent": [{"agentId": "agent-billing", "blocked": 3, "redacted": 3, "total": 6}],
    }
    assert guardrails(key_client, agentId="agent-billing")["triggers"] == 6


def test_another_tenant_sees_none_of_them(other_tenant, triggered):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")

    assert guardrails(other) == {
        "triggers": 0,
        "blocked": 0,
        "redacted": 0,
        "budgetExceeded": 0,
        "byRule": [],
        "byAgent": [],
    }


def test_the_dashboard_charts_guardrail_triggers(manager_client, triggered, tenant):
    GuardrailPolicy.objects.create(tenant=tenant)
    response = manager_client.get(reverse("admin:insight_dashboard"))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="chart-guardrails-rule"' in page
    assert "pii.card" in page and "tool_access" in page
    assert "3 blocked, 3 redacted, 1 budget stops" in page
    csv = manager_client.get(reverse("admin:insight_dashboard_csv")).content.decode()
    assert "guardrails.triggers,rule:pii.card,3" in csv

"""A tenant's intents extend the built-in ones (issue 18, point 6): adding one keeps the
built-ins detected, a built-in may be switched off, the admin and the API show the effective
list, and the rule tester and the pipeline agree."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from agents.intents import effective_intents
from agents.models import Agent, Intent
from core import services
from orchestration.rule_tester import run_rule_test

pytestmark = pytest.mark.django_db

URL = "/api/v1/intents"


@pytest.fixture
def desk(tenant):
    return Agent.objects.create(tenant=tenant, slug="desk", name="Desk", role="specialist")


def first_message_intent(client, text: str, agent: str = "desk") -> str | None:
    conv = client.post(
        "/api/v1/conversations",
        {"agentId": agent, "channel": "web", "customer": {"id": "c-1"}},
        format="json",
    )
    assert conv.status_code == 201, conv.json()
    sent = client.post(
        f"/api/v1/conversations/{conv.json()['id']}/messages", {"text": text}, format="json"
    )
    assert sent.status_code == 201, sent.json()
    return sent.json()["message"]["signals"]["intent"]


def intent_in_the_tester(agent: Agent, text: str) -> str | None:
    result = run_rule_test(
        {"agent": agent, "message": text, "channel": "web", "attempts": 0, "turns": 1}
    )
    return result["context"]["intent"]


def test_a_tenant_intent_is_added_and_the_built_ins_are_still_detected(key_client, desk):
    response = key_client.put(
        f"{URL}/billing_dispute",
        {"keywords": ["chargeback", "dispute"], "phrases": ["wrong amount"]},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json() == {
        "name": "billing_dispute",
        "source": "tenant",
        "enabled": True,
        "extended": False,
        "keywords": ["chargeback", "dispute"],
        "phrases": ["wrong amount"],
    }
    assert first_message_intent(key_client, "I want to dispute this, it is the wrong amount") == (
        "billing_dispute"
    )
    assert first_message_intent(key_client, "Can I speak to a human please") == "human_agent"
    assert first_message_intent(key_client, "my app keeps crashing") == "technical"


def test_a_built_in_switched_off_is_not_detected(key_client, desk):
    assert first_message_intent(key_client, "hello there") == "greeting"

    response = key_client.put(f"{URL}/greeting", {"enabled": False}, format="json")

    assert response.status_code == 201
    assert response.json()["source"] == "built-in" and response.json()["enabled"] is False
    assert first_message_intent(key_client, "hello there") is None
    assert first_message_intent(key_client, "my app keeps crashing") == "technical"
    listed = {item["name"]: item for item in key_client.get(URL).json()}
    assert listed["greeting"]["enabled"] is False
    assert listed["technical"]["enabled"] is True

    assert key_client.delete(f"{URL}/greeting").status_code == 204
    assert first_message_intent(key_client, "hello there") == "greeting"


def test_a_built_in_is_extended_by_a_row_of_its_name(key_client, desk):
    response = key_client.put(f"{URL}/technical", {"keywords": ["modem"]}, format="json")

    assert response.json()["extended"] is True
    assert "modem" in response.json()["keywords"] and "router" in response.json()["keywords"]
    assert first_message_intent(key_client, "the modem blinks orange") == "technical"
    assert first_message_intent(key_client, "my router is down") == "technical"


def test_the_rule_tester_and_the_pipeline_agree(key_client, desk, tenant):
    Intent.objects.create(tenant=tenant, name="legal_question", keywords=["lawyer", "lawsuit"])
    Intent.objects.create(tenant=tenant, name="greeting", enabled=False)
    messages = [
        "hello there",
        "I will talk to my lawyer about this",
        "Can I speak to a human please",
        "I was charged twice",
        "thanks a lot",
    ]

    for text in messages:
        assert intent_in_the_tester(desk, text) == first_message_intent(key_client, text), text
    assert intent_in_the_tester(desk, "hello there") is None
    assert intent_in_the_tester(desk, "I will talk to my lawyer about this") == "legal_question"


def test_one_tenants_intents_never_reach_another(key_client, desk, other_tenant):
    Agent.objects.create(tenant=other_tenant, slug="desk", name="Desk", role="specialist")
    _, raw = services.api_key_create(tenant=other_tenant, name="other")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    key_client.put(f"{URL}/greeting", {"enabled": False}, format="json")
    key_client.put(f"{URL}/legal_question", {"keywords": ["lawyer"]}, format="json")

    assert first_message_intent(other, "hello there") == "greeting"
    assert first_message_intent(other, "I will call my lawyer") != "legal_question"
    names = {item["name"] for item in other.get(URL).json()}
    assert "legal_question" not in names
    assert all(item["enabled"] for item in other.get(URL).json())
    assert other.delete(f"{URL}/legal_question").status_code == 404
    assert Intent.objects.filter(name="legal_question").count() == 1


def test_bad_input_is_a_400_naming_the_field(key_client):
    cases = [
        ("new_intent", {}, "keywords"),
        ("billing_dispute", {"keywords": "chargeback"}, "keywords"),
        ("billing_dispute", {"keywords": ["charged twice"]}, "keywords"),
        ("billing_dispute", {"keywords": ["x"], "enabled": "no"}, "enabled"),
        ("billing_dispute", {"keywords": ["x"], "colour": "red"}, "colour"),
        ("bad name!", {"keywords": ["x"]}, "name"),
    ]
    for name, body, field in cases:
        response = key_client.put(f"{URL}/{name}", body, format="json")
        assert response.status_code == 400, (name, body)
        assert field in response.json()["error"]["fields"], response.json()
    assert not Intent.objects.exists()


def test_the_effective_list_is_the_built_ins_then_the_tenants_own():
    rows = [
        {"name": "greeting", "keywords": [], "phrases": [], "enabled": False},
        {"name": "billing", "keywords": ["chargeback"], "phrases": [], "enabled": True},
        {"name": "legal_question", "keywords": ["lawyer"], "phrases": [], "enabled": True},
        {"name": "paused", "keywords": ["x"], "phrases": [], "enabled": False},
    ]

    names = [spec.name for spec in effective_intents(rows)]

    assert "greeting" not in names and "paused" not in names
    assert names[-1] == "legal_question"
    assert names[: names.index("human_agent") + 1][:3] == ["refund", "returns", "billing"]
    billing = next(spec for spec in effective_intents(rows) if spec.name == "billing")
    assert "chargeback" in billing.keywords and "invoice" in billing.keywords
    assert effective_intents([]) == effective_intents(())  # no rows: the built-ins


def test_the_admin_shows_the_effective_list(manager_client, tenant, other_tenant):
    Intent.objects.create(tenant=tenant, name="legal_question", keywords=["lawyer"])
    Intent.objects.create(tenant=tenant, name="greeting", enabled=False)
    Intent.objects.create(tenant=other_tenant, name="secret_intent", keywords=["classified"])

    page = manager_client.get(reverse("admin:agents_intent_changelist")).content.decode()

    effective = page[page.index('id="effective-intents"') :]
    assert "legal_question" in effective and "human_agent" in effective
    row = effective[effective.index("<td>greeting</td>") :]
    assert "no (switched off)" in row[: row.index("</tr>")]
    assert "secret_intent" not in page


def test_the_admin_switches_a_built_in_off(manager_client, tenant):
    response = manager_client.post(
        reverse("admin:agents_intent_add"),
        {"name": "greeting", "keywords": "", "phrases": "", "enabled": ""},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    intent = Intent.objects.get(tenant=tenant, name="greeting")
    assert intent.enabled is False


def test_the_admin_refuses_a_new_intent_without_terms(manager_client, tenant):
    response = manager_client.post(
        reverse("admin:agents_intent_add"),
        {"name": "vague", "keywords": "", "phrases": "", "enabled": "on"},
    )

    assert response.status_code == 200
    assert "a new intent needs at least one keyword or phrase" in response.content.decode()
    assert not Intent.objects.exists()

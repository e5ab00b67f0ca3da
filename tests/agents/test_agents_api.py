"""/api/v1/agents: create, read, change, delete; validation; tenant isolation."""

from __future__ import annotations

import pytest

from agents.models import Agent
from core.secret_store import unseal

pytestmark = pytest.mark.django_db


def make_agent(tenant, slug, role="specialist", **extra):
    return Agent.objects.create(tenant=tenant, slug=slug, name=slug.title(), role=role, **extra)


def test_an_integrator_creates_a_supervisor_and_a_specialist(key_client):
    sup = key_client.post(
        "/api/v1/agents",
        {"id": "agent-sup", "name": "Front desk", "role": "supervisor", "pattern": "sequential"},
        format="json",
    )
    spec = key_client.post(
        "/api/v1/agents",
        {
            "id": "agent-billing",
            "name": "Billing",
            "role": "specialist",
            "supervisorId": "agent-sup",
            "domains": ["billing", "refunds"],
            "knowledge": [
                {
                    "question": "How do I get a refund?",
                    "keywords": ["refund", "money back"],
                    "answer": "I can refund that order.",
                    "action": {"name": "issue_refund", "params": {"orderId": "A1", "amount": 20}},
                }
            ],
        },
        format="json",
    )

    assert sup.status_code == 201, sup.json()
    assert sup.json()["pattern"] == "sequential"
    assert spec.status_code == 201, spec.json()
    body = spec.json()
    assert body["supervisorId"] == "agent-sup"
    assert body["domains"] == ["billing", "refunds"]
    assert body["runtime"] == {"type": "builtin"}
    assert body["pattern"] is None
    assert body["knowledge"][0]["action"]["name"] == "issue_refund"
    listed = key_client.get("/api/v1/agents").json()
    assert [a["id"] for a in listed] == ["agent-billing", "agent-sup"]


def test_an_openai_runtime_needs_its_settings(key_client):
    response = key_client.post(
        "/api/v1/agents",
        {
            "id": "agent-llm",
            "name": "LLM",
            "role": "specialist",
            "runtime": {"type": "openai", "baseUrl": "ftp://x", "apiKeyEnv": "lower"},
        },
        format="json",
    )

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"runtime.baseUrl", "runtime.model", "runtime.apiKeyEnv"}
    assert "RUNTIME_KEY_ENVS: OPENAI_API_KEY" in fields["runtime.apiKeyEnv"][0]
    assert not Agent.objects.exists()


def test_a_webhook_secret_is_never_read_back(key_client):
    created = key_client.post(
        "/api/v1/agents",
        {
            "id": "agent-hook",
            "name": "Hook",
            "role": "specialist",
            "runtime": {
                "type": "webhook",
                "url": "https://hooks.example.com/agent",
                "secret": "s" * 32,
            },
        },
        format="json",
    )

    assert created.status_code == 201, created.json()
    assert created.json()["runtime"] == {
        "type": "webhook",
        "url": "https://hooks.example.com/agent",
        "hasSecret": True,
    }
    changed = key_client.patch(
        "/api/v1/agents/agent-hook",
        {"runtime": {"type": "webhook", "url": "https://hooks.example.com/v2"}},
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["runtime"]["hasSecret"] is True
    agent = Agent.objects.get()
    assert "secret" not in agent.runtime_config
    assert unseal(agent.runtime_secret) == "s" * 32


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "Bad Slug", "name": "x", "role": "specialist"}, "id"),
        ({"id": "a", "name": "", "role": "specialist"}, "name"),
        ({"id": "a", "name": "x", "role": "boss"}, "role"),
        ({"id": "a", "name": "x", "role": "specialist", "supervisorId": "ghost"}, "supervisorId"),
        ({"id": "a", "name": "x", "role": "specialist", "domains": ["Not A Domain"]}, "domains"),
        ({"id": "a", "name": "x", "role": "supervisor", "pattern": "round-robin"}, "pattern"),
        (
            {
                "id": "a",
                "name": "x",
                "role": "specialist",
                "knowledge": [{"question": "q", "answer": "a", "action": {"name": "nuke"}}],
            },
            "knowledge[0].action.name",
        ),
        (
            {
                "id": "a",
                "name": "x",
                "role": "specialist",
                "knowledge": [
                    {
                        "question": "q",
                        "answer": "a",
                        "action": {
                            "name": "issue_refund",
                            "params": {"orderId": "1", "amount": -5},
                        },
                    }
                ],
            },
            "knowledge[0].action.params.amount",
        ),
        ({"id": "a", "name": "x"}, "role"),
    ],
)
def test_bad_agents_are_400_naming_the_field(key_client, body, field):
    response = key_client.post("/api/v1/agents", body, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert not Agent.objects.exists()


def test_an_id_is_unique_within_a_tenant_but_not_across(key_client, tenant, other_tenant):
    make_agent(other_tenant, "agent-billing")
    first = key_client.post(
        "/api/v1/agents", {"id": "agent-billing", "name": "B", "role": "specialist"}, format="json"
    )
    second = key_client.post(
        "/api/v1/agents", {"id": "agent-billing", "name": "B", "role": "specialist"}, format="json"
    )

    assert first.status_code == 201
    assert second.status_code == 400
    assert second.json()["error"]["fields"]["id"] == ["An agent with this id already exists."]


def test_a_supervisor_must_be_a_supervisor_and_there_are_no_cycles(key_client, tenant):
    make_agent(tenant, "spec")
    top = make_agent(tenant, "top", role="supervisor")
    make_agent(tenant, "mid", role="supervisor", supervisor=top)

    under_specialist = key_client.post(
        "/api/v1/agents",
        {"id": "x", "name": "X", "role": "specialist", "supervisorId": "spec"},
        format="json",
    )
    cycle = key_client.patch("/api/v1/agents/top", {"supervisorId": "mid"}, format="json")
    itself = key_client.patch("/api/v1/agents/top", {"supervisorId": "top"}, format="json")

    assert under_specialist.json()["error"]["fields"]["supervisorId"] == [
        "spec is a specialist, not a supervisor."
    ]
    assert cycle.status_code == 400
    assert "cannot report to itself" in cycle.json()["error"]["fields"]["supervisorId"][0]
    assert itself.status_code == 400
    top.refresh_from_db()
    assert top.supervisor is None


def test_another_tenants_agents_do_not_exist(key_client, other_tenant):
    make_agent(other_tenant, "theirs", role="supervisor")

    assert key_client.get("/api/v1/agents").json() == []
    assert key_client.get("/api/v1/agents/theirs").status_code == 404
    assert (
        key_client.patch("/api/v1/agents/theirs", {"name": "x"}, format="json").status_code == 404
    )
    assert key_client.delete("/api/v1/agents/theirs").status_code == 404
    response = key_client.post(
        "/api/v1/agents",
        {"id": "mine", "name": "M", "role": "specialist", "supervisorId": "theirs"},
        format="json",
    )
    assert response.json()["error"]["fields"]["supervisorId"] == ["unknown agent 'theirs'"]
    assert Agent.objects.get(slug="theirs").name == "Theirs"


def test_deleting_a_supervisor_with_specialists_is_a_conflict(key_client, tenant):
    sup = make_agent(tenant, "sup", role="supervisor")
    make_agent(tenant, "spec", supervisor=sup)

    response = key_client.delete("/api/v1/agents/sup")

    assert response.status_code == 409
    assert "spec" in response.json()["error"]["message"]
    assert key_client.delete("/api/v1/agents/spec").status_code == 204
    assert key_client.delete("/api/v1/agents/sup").status_code == 204


def test_a_supervisor_with_reports_cannot_become_a_specialist(key_client, tenant):
    sup = make_agent(tenant, "sup", role="supervisor")
    make_agent(tenant, "spec", supervisor=sup)

    response = key_client.patch("/api/v1/agents/sup", {"role": "specialist"}, format="json")

    assert response.status_code == 400
    assert "role" in response.json()["error"]["fields"]


def test_human_agents_neither_read_nor_change_agents(tenant):
    from rest_framework.test import APIClient

    from tests.factories import make_person

    make_agent(tenant, "spec")
    person = make_person(tenant=tenant, roles=["agent"])
    client = APIClient()
    client.force_login(person)

    assert client.get("/api/v1/agents").status_code == 403
    assert client.get("/api/v1/agents/spec").status_code == 403
    response = client.patch("/api/v1/agents/spec", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "forbidden",
        "message": "This needs the manager role or an integration key.",
    }


def test_listing_agents_costs_the_same_queries_for_many(
    key_client, tenant, django_assert_num_queries
):
    sup = make_agent(tenant, "sup", role="supervisor")
    make_agent(tenant, "a", supervisor=sup)
    key_client.get("/api/v1/agents")  # warm the key's last-used stamp and the kept key

    with django_assert_num_queries(1):  # the key is kept in process: the agents alone
        assert len(key_client.get("/api/v1/agents").json()) == 2
    for n in range(8):
        make_agent(tenant, f"more-{n}", supervisor=sup)
    with django_assert_num_queries(1):
        assert len(key_client.get("/api/v1/agents").json()) == 10


@pytest.mark.parametrize("images", ["yes", 1, None, ["true"]])
def test_an_openai_agent_sees_images_only_when_told_true_or_false(key_client, images):
    runtime = {
        "type": "openai",
        "baseUrl": "https://api.openai.com/v1",
        "model": "gpt-4o-mini",
        "apiKey": "sk-0123456789abcdef",
    }

    def make(seeing):
        agent = {"id": "agent-eyes", "name": "Eyes", "role": "specialist"}
        runtime_seeing = {**runtime, "images": seeing}
        return key_client.post(
            "/api/v1/agents", {**agent, "runtime": runtime_seeing}, format="json"
        )

    refused = make(images)
    made = make(True)

    assert refused.status_code == 400, refused.content
    assert list(refused.json()["error"]["fields"]) == ["runtime.images"]
    assert made.status_code == 201, made.content
    assert made.json()["runtime"]["images"] is True

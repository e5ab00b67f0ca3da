"""/api/v1/stacks/import, /api/v1/agents/<id>/stack/export, /api/v1/stack-templates."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from agents.models import Agent
from stacks.models import StackTemplate
from tests.factories import make_api_key
from tests.stacks.conftest import finance_group, refunds_document, support_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_client(other_tenant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")
    return client


def test_import_creates_the_stack_and_export_gives_it_back(key_client, tenant, approvers):
    created = key_client.post(
        "/api/v1/stacks/import", {"template": refunds_document(), "prefix": "eu"}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["rootAgentId"] == "eu-refunds-desk"

    exported = key_client.get("/api/v1/agents/eu-refunds-agent/stack/export")
    assert exported.status_code == 200
    body = exported.json()
    assert body["format"] == "stack-template" and body["version"] == 1
    assert {a["id"] for a in body["agents"]} == {
        "eu-refunds-desk",
        "eu-refunds-agent",
        "eu-orders-agent",
        "eu-payments-agent",
    }
    assert body["workflows"][0]["name"] == "eu: Refund review"


def test_a_bad_template_is_a_400_listing_every_problem(key_client, tenant, approvers):
    document = support_document()
    document["agents"][0]["rules"]["handoffs"][0]["condition"] = "intent =="
    document["agents"][3]["knowledge"][0]["action"] = {"name": "teleport", "params": {}}
    document["workflows"][1]["steps"][2]["agent"] = "agent-missing"

    answer = key_client.post("/api/v1/stacks/import", {"template": document}, format="json")

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {
        "template.agents[0].rules.handoffs[0].condition",
        "template.agents[3].knowledge[0].action.name",
        "template.workflows[1].steps[2].agent",
    }
    assert Agent.objects.filter(tenant=tenant).count() == 0


def test_a_dry_run_answers_the_plan_and_creates_nothing(key_client, tenant, approvers):
    answer = key_client.post(
        "/api/v1/stack-templates/builtin-customer-support/instantiate",
        {"prefix": "test", "dryRun": True},
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["created"] is False
    assert answer.json()["agents"][0]["id"] == "test-agent-supervisor"
    assert not Agent.objects.filter(tenant=tenant).exists()


def test_the_gallery_lists_builtin_global_and_own_templates(key_client, tenant):
    StackTemplate.objects.create(tenant=None, name="Global team", document=refunds_document())
    StackTemplate.objects.create(tenant=tenant, name="Our team", document=refunds_document())

    answer = key_client.get("/api/v1/stack-templates")

    listed = [(t["id"].startswith("builtin-"), t["scope"], t["name"]) for t in answer.json()]
    assert listed == [
        (True, "builtin", "Customer support"),
        (True, "builtin", "E-commerce refunds"),
        (False, "global", "Global team"),
        (False, "tenant", "Our team"),
    ]


def test_publish_an_agents_stack_and_instantiate_it(key_client, tenant, approvers):
    key_client.post("/api/v1/stacks/import", {"template": refunds_document()}, format="json")

    published = key_client.post(
        "/api/v1/stack-templates", {"name": "Our refunds", "agentId": "refunds-desk"}, format="json"
    )
    assert published.status_code == 201, published.json()
    template_id = published.json()["id"]
    assert published.json()["scope"] == "tenant"

    used = key_client.post(
        f"/api/v1/stack-templates/{template_id}/instantiate", {"prefix": "b"}, format="json"
    )
    assert used.status_code == 201, used.json()
    assert Agent.objects.filter(tenant=tenant, slug="b-refunds-desk").exists()


def test_publishing_a_template_with_a_bad_rule_names_it(key_client):
    document = refunds_document()
    document["agents"][0]["rules"]["approvals"]["actions"][0]["when"] = "params.amount > "
    answer = key_client.post(
        "/api/v1/stack-templates", {"name": "Broken", "document": document}, format="json"
    )
    assert answer.status_code == 400
    assert list(answer.json()["error"]["fields"]) == [
        "document.agents[0].rules.approvals.actions[0].when"
    ]
    assert not StackTemplate.objects.exists()


def test_another_tenants_template_is_not_found(key_client, other_client, other_tenant, tenant):
    theirs = StackTemplate.objects.create(
        tenant=other_tenant, name="Globex team", document=refunds_document()
    )
    finance_group(tenant, "acme-finance")

    assert "Globex team" not in {
        t["name"] for t in key_client.get("/api/v1/stack-templates").json()
    }
    assert key_client.get(f"/api/v1/stack-templates/{theirs.pk}").status_code == 404
    instantiate = key_client.post(
        f"/api/v1/stack-templates/{theirs.pk}/instantiate", {}, format="json"
    )
    assert instantiate.status_code == 404
    assert key_client.delete(f"/api/v1/stack-templates/{theirs.pk}").status_code == 404
    assert StackTemplate.objects.filter(pk=theirs.pk).exists()
    assert not Agent.objects.filter(tenant=tenant).exists()
    # and its owner still sees and uses it
    assert other_client.get(f"/api/v1/stack-templates/{theirs.pk}").status_code == 200


def test_builtin_and_global_templates_are_read_only(key_client):
    shared = StackTemplate.objects.create(tenant=None, name="Global", document=refunds_document())
    assert key_client.delete("/api/v1/stack-templates/builtin-customer-support").status_code == 403
    assert key_client.delete(f"/api/v1/stack-templates/{shared.pk}").status_code == 403
    assert StackTemplate.objects.filter(pk=shared.pk).exists()


def test_another_tenants_agent_cannot_be_exported_or_published(key_client, other_tenant):
    Agent.objects.create(tenant=other_tenant, slug="their-desk", name="D", role="supervisor")
    assert key_client.get("/api/v1/agents/their-desk/stack/export").status_code == 404
    answer = key_client.post(
        "/api/v1/stack-templates", {"name": "Stolen", "agentId": "their-desk"}, format="json"
    )
    assert answer.status_code == 404


def test_import_needs_the_manager_role_or_a_key(tenant):
    from tests.factories import make_person

    agent = make_person(tenant=tenant, roles=["agent"], username="ada")
    client = APIClient()
    client.force_authenticate(agent)
    answer = client.post("/api/v1/stacks/import", {"template": refunds_document()}, format="json")
    assert answer.status_code == 403
    assert not Agent.objects.filter(tenant=tenant).exists()


def test_the_schema_documents_the_endpoints(client):
    schema = client.get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/stacks/import",
        "/api/v1/stack-templates",
        "/api/v1/stack-templates/{template_id}/instantiate",
        "/api/v1/agents/{agent_id}/stack/export",
    ):
        assert path in schema["paths"]


@pytest.mark.parametrize(
    "template",
    [
        None,
        [],
        "stack",
        {"format": "stack-template", "version": 1, "agents": "all"},
        {"format": "stack-template", "version": 1, "agents": [{"id": 5}]},
        {
            "format": "stack-template",
            "version": 1,
            "agents": [
                {
                    "id": "a",
                    "name": ["x"],
                    "role": "boss",
                    "domains": "billing",
                    "pattern": [1],
                    "runtime": {"type": "openai", "baseUrl": "ftp://x"},
                    "knowledge": [{"question": 1}],
                    "rules": {"handoffs": [{"condition": 3, "targetAgentId": None}]},
                }
            ],
            "settings": {"checkInterval": "soon", "nope": 1},
            "workflows": [{"name": 7, "steps": [{"agent": "a", "condition": "start"}, 3]}],
        },
    ],
)
def test_malformed_templates_are_400s_never_500s(key_client, tenant, template):
    answer = key_client.post("/api/v1/stacks/import", {"template": template}, format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["fields"]
    assert not Agent.objects.filter(tenant=tenant).exists()


def test_a_bad_runtime_is_named_once_at_its_setting(key_client, tenant, approvers):
    document = refunds_document()
    document["agents"][2]["runtime"] = {"type": "openai", "baseUrl": "ftp://x", "model": "m"}
    answer = key_client.post("/api/v1/stacks/import", {"template": document}, format="json")
    fields = answer.json()["error"]["fields"]
    assert "template.agents[2].runtime.baseUrl" in fields
    assert "template.agents[2].runtime.apiKey" in fields
    assert "template.agents[2].runtime" not in fields

"""GET/PATCH /api/v1/orchestrator-settings and /api/v1/agents/{agentId}/orchestrator-settings."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from agents.models import OrchestratorSettings
from agents.orchestrator_settings import settings_update
from tests.settings.conftest import make_agent
from tests.settings.test_inheritance import ALL_GLOBAL, DEFAULTS, INVALID

pytestmark = pytest.mark.django_db

TENANT_URL = "/api/v1/orchestrator-settings"


def agent_url(slug: str) -> str:
    return f"/api/v1/agents/{slug}/orchestrator-settings"


def as_person(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


def test_an_agent_answers_its_effective_settings_sources_stack_and_levels(
    key_client, tenant, supervisor, specialist
):
    settings_update(level="tenant", tenant=tenant, changes={"handoffMode": "cold"})
    settings_update(level="stack", stack=supervisor, changes={"checkInterval": 15})

    response = key_client.get(agent_url("agent-billing"))

    assert response.status_code == 200
    assert response.json() == {
        "effective": {**DEFAULTS, "handoffMode": "cold", "checkInterval": 15},
        "sources": {**ALL_GLOBAL, "handoffMode": "tenant", "checkInterval": "stack"},
        "stack": "agent-front",
        "levels": {
            "global": DEFAULTS,
            "tenant": {"handoffMode": "cold"},
            "stack": {"checkInterval": 15},
        },
    }


def test_the_tenant_level_answers_without_a_stack(key_client, tenant):
    settings_update(level="tenant", tenant=tenant, changes={"riskAutoEscalation": False})

    response = key_client.get(TENANT_URL)

    assert response.status_code == 200
    assert response.json() == {
        "effective": {**DEFAULTS, "riskAutoEscalation": False},
        "sources": {**ALL_GLOBAL, "riskAutoEscalation": "tenant"},
        "levels": {"global": DEFAULTS, "tenant": {"riskAutoEscalation": False}},
    }


def test_patching_an_agent_writes_the_level_of_its_whole_stack(
    key_client, tenant, supervisor, specialist
):
    response = patch(
        key_client,
        agent_url("agent-billing"),
        {"stallThreshold": 6, "riskCategories": ["legal_threat"], "model": "gpt-4.1"},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["stack"] == "agent-front"
    assert body["levels"]["stack"] == {
        "model": "gpt-4.1",
        "stallThreshold": 6,
        "riskCategories": ["legal_threat"],
    }
    assert body["sources"]["stallThreshold"] == "stack"
    row = OrchestratorSettings.objects.get(level="stack")
    assert (row.stack, row.tenant, row.stall_threshold) == (supervisor, tenant, 6)
    supervisor_view = key_client.get(agent_url("agent-front")).json()
    assert supervisor_view["effective"]["stallThreshold"] == 6


def test_null_clears_a_name_so_the_level_above_decides_again(key_client, tenant, supervisor):
    patch(key_client, TENANT_URL, {"hotClaimTimeout": 300})
    patch(key_client, agent_url("agent-front"), {"hotClaimTimeout": 30, "handoffMode": "hot"})

    cleared_stack = patch(key_client, agent_url("agent-front"), {"hotClaimTimeout": None})
    cleared_tenant = patch(key_client, TENANT_URL, {"hotClaimTimeout": None})
    after = key_client.get(agent_url("agent-front")).json()

    assert cleared_stack.status_code == 200
    assert cleared_stack.json()["effective"]["hotClaimTimeout"] == 300
    assert cleared_stack.json()["sources"]["hotClaimTimeout"] == "tenant"
    assert cleared_stack.json()["levels"]["stack"] == {"handoffMode": "hot"}
    assert cleared_tenant.json()["levels"]["tenant"] == {}
    assert (after["effective"]["hotClaimTimeout"], after["sources"]["hotClaimTimeout"]) == (
        120,
        "global",
    )


def test_an_empty_patch_changes_nothing(key_client, supervisor):
    response = patch(key_client, agent_url("agent-front"), {})

    assert response.status_code == 200
    assert response.json()["effective"] == DEFAULTS


@pytest.mark.parametrize(("name", "value", "message"), INVALID)
@pytest.mark.parametrize("url", [TENANT_URL, agent_url("agent-front")])
def test_a_bad_value_is_400_naming_the_setting_and_nothing_is_written(
    key_client, supervisor, url, name, value, message
):
    response = patch(key_client, url, {"checkInterval": 45, name: value})

    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid", "message": f"{name}: {message}", "fields": {name: [message]}}
    }
    assert (
        OrchestratorSettings.objects.exclude(level="global").filter(check_interval=45).count() == 0
    )


def test_several_bad_values_are_all_named(key_client):
    response = patch(
        key_client, TENANT_URL, {"checkInterval": 0, "handoffMode": "warm", "colour": "blue"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "checkInterval": ["Ensure this value is greater than or equal to 1."],
        "handoffMode": ['"warm" is not one of hot, cold, auto.'],
        "colour": ["unknown setting"],
    }


@pytest.mark.parametrize("body", ["[]", '["checkInterval"]', '"cold"', "42", "null", "true"])
def test_a_body_that_is_not_an_object_is_400(key_client, supervisor, body):
    for url in (TENANT_URL, agent_url("agent-front")):
        response = key_client.patch(url, body, content_type="application/json")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid"
        assert "Expected a JSON object of settings" in response.json()["error"]["message"]


def test_a_body_that_is_not_json_is_400(key_client):
    response = key_client.patch(TENANT_URL, "{check", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


# --- Who may read and write --------------------------------------------------------------------


def test_only_managers_and_keys_read_and_write(
    tenant, supervisor, manager, human_agent, key_client
):
    agent_client = as_person(human_agent)
    manager_client = as_person(manager)

    assert agent_client.get(TENANT_URL).status_code == 403
    assert agent_client.get(agent_url("agent-front")).status_code == 403
    refused = patch(agent_client, agent_url("agent-front"), {"checkInterval": 5})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == (
        "This needs the manager role or an integration key."
    )
    assert patch(agent_client, TENANT_URL, {"checkInterval": 5}).status_code == 403
    assert patch(manager_client, TENANT_URL, {"checkInterval": 5}).status_code == 200
    assert patch(manager_client, agent_url("agent-front"), {"checkInterval": 6}).status_code == 200
    assert patch(key_client, agent_url("agent-front"), {"checkInterval": 7}).status_code == 200
    assert OrchestratorSettings.objects.get(level="tenant").check_interval == 5
    assert OrchestratorSettings.objects.get(level="stack").check_interval == 7


def test_without_credentials_it_is_401(client, supervisor):
    assert client.get(TENANT_URL).status_code == 401
    assert (
        client.patch(agent_url("agent-front"), "{}", content_type="application/json").status_code
        == 401
    )


def test_a_person_without_a_tenant_is_403(db):
    from tests.factories import make_person

    loner = as_person(make_person(tenant=None, username="loner"))

    assert loner.get(TENANT_URL).status_code == 403


# --- Tenant isolation -------------------------------------------------------------------------


def test_another_tenants_agent_is_404_and_untouched(key_client, tenant, other_supervisor):
    make_agent(tenant, "agent-mine")
    theirs = agent_url("agent-front")  # exists only in the other tenant

    assert key_client.get(theirs).status_code == 404
    assert key_client.get(theirs).json()["error"]["code"] == "not_found"
    assert patch(key_client, theirs, {"checkInterval": 5}).status_code == 404
    assert key_client.get(agent_url("agent-nobody")).status_code == 404
    assert not OrchestratorSettings.objects.filter(level="stack").exists()


def test_another_tenants_settings_never_leak(key_client, tenant, other_tenant, other_supervisor):
    settings_update(level="tenant", tenant=other_tenant, changes={"model": "their-model"})
    settings_update(level="stack", stack=other_supervisor, changes={"stallThreshold": 9})
    make_agent(tenant, "agent-front")  # same id as theirs, in my tenant

    mine = key_client.get(agent_url("agent-front")).json()
    my_tenant = key_client.get(TENANT_URL).json()

    assert mine["effective"] == DEFAULTS
    assert mine["levels"] == {"global": DEFAULTS, "tenant": {}, "stack": {}}
    assert my_tenant["levels"]["tenant"] == {}


def test_patching_my_agent_never_writes_the_same_id_in_another_tenant(
    key_client, tenant, other_supervisor
):
    mine = make_agent(tenant, "agent-front")

    patch(key_client, agent_url("agent-front"), {"checkInterval": 5})

    row = OrchestratorSettings.objects.get(level="stack")
    assert (row.stack, row.tenant) == (mine, tenant)


# --- Cost -------------------------------------------------------------------------------------


def test_reading_an_agents_settings_costs_the_same_queries_whatever_the_data(
    key_client, tenant, supervisor, specialist, django_assert_num_queries
):
    chain = [specialist]
    for depth in range(5):
        chain.append(make_agent(tenant, f"agent-deep-{depth}", chain[-1]))
    key_client.get(TENANT_URL)  # the key's last-used time is written at most once a minute
    # the agent, the supervisor links, the three level rows (the key is kept in process)
    with django_assert_num_queries(3):
        assert key_client.get(agent_url("agent-billing")).status_code == 200
    settings_update(level="tenant", tenant=tenant, changes={"checkInterval": 30})
    settings_update(level="stack", stack=supervisor, changes={"stallThreshold": 4})
    # the tenant's configuration moved on: its key is read again, once
    with django_assert_num_queries(4):
        assert key_client.get(agent_url("agent-billing")).status_code == 200
    with django_assert_num_queries(3):
        assert key_client.get(agent_url("agent-deep-4")).status_code == 200
    with django_assert_num_queries(2):  # the top of a stack needs no walk up
        assert key_client.get(agent_url("agent-front")).status_code == 200
    with django_assert_num_queries(1):
        assert key_client.get(TENANT_URL).status_code == 200


# --- Schema -----------------------------------------------------------------------------------


def test_the_schema_documents_both_endpoints(key_client):
    response = key_client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    tenant_path = schema["paths"]["/api/v1/orchestrator-settings"]
    agent_path = schema["paths"]["/api/v1/agents/{agent_id}/orchestrator-settings"]
    assert set(tenant_path) >= {"get", "patch"} and set(agent_path) >= {"get", "patch"}
    patch_schema = schema["components"]["schemas"]["PatchedOrchestratorSettingsPatchRequest"]
    # and the orchestrator endpoint's key, written only
    assert set(patch_schema["properties"]) == {*DEFAULTS, "orchestratorApiKey"}
    assert patch_schema["properties"]["orchestratorApiKey"]["writeOnly"] is True
    assert patch_schema["properties"]["checkInterval"]["nullable"] is True
    answer = schema["components"]["schemas"]["AgentOrchestratorSettings"]
    assert set(answer["properties"]) == {"effective", "sources", "stack", "levels"}

"""Workflows through the API: create, list, get, replace, delete; who may; tenant isolation."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from agents.models import Workflow, WorkflowStep
from agents.workflows import workflow_create
from agents.workflows_api import DOCS_WORKFLOW
from tests.factories import make_api_key
from tests.workflows.conftest import document, make_agent

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows"


def test_an_integration_creates_a_workflow_and_gets_it_back(key_client, agents):
    response = key_client.post(URL, document(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    workflow = Workflow.objects.get()
    assert response["Location"] == f"{URL}/{workflow.pk}"
    assert body["id"] == workflow.pk
    assert body["name"] == "Support triage"
    assert body["stepBudget"] == 8
    assert body["steps"] == [
        {
            "agent": "agent-triage",
            "condition": "start",
            "inputs": ["all"],
            "outputs": ["category", "priority"],
        },
        {
            "agent": "agent-tech",
            "condition": 'category == "technical"',
            "inputs": ["category", "intent"],
            "outputs": ["resolution"],
        },
        {
            "agent": "agent-billing",
            "condition": 'category == "billing" or resolution == null',
            "inputs": ["all"],
            "outputs": [],
        },
    ]
    assert body["createdAt"] and body["updatedAt"]
    assert list(workflow.steps.values_list("position", "agent__slug")) == [
        (1, "agent-triage"),
        (2, "agent-tech"),
        (3, "agent-billing"),
    ]
    assert key_client.get(f"{URL}/{workflow.pk}").json() == body


def test_the_docs_workflow_with_context_inputs_is_created_as_written(key_client, tenant):
    for slug in ("agent-triage", "agent-specialist", "agent-supervisor"):
        make_agent(tenant, slug)

    response = key_client.post(URL, DOCS_WORKFLOW, format="json")

    assert response.status_code == 201, response.json()
    steps = response.json()["steps"]
    assert [s["inputs"] for s in steps] == [["all"], ["category", "context"], ["all"]]
    assert [s["outputs"] for s in steps] == [["category", "priority"], [], []]
    assert [s["condition"] for s in steps] == [s["condition"] for s in DOCS_WORKFLOW["steps"]]


def test_the_step_budget_defaults_to_ten(key_client, agents):
    doc = document()
    del doc["stepBudget"]

    response = key_client.post(URL, doc, format="json")

    assert response.status_code == 201
    assert response.json()["stepBudget"] == 10


def test_the_list_holds_the_tenants_workflows_by_name(key_client, agents, tenant):
    workflow_create(tenant=tenant, data=document(name="Zeta"))
    workflow_create(tenant=tenant, data=document(name="Alpha"))

    response = key_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert [w["name"] for w in body] == ["Alpha", "Zeta"]
    assert [s["agent"] for s in body[0]["steps"]] == ["agent-triage", "agent-tech", "agent-billing"]


def test_put_replaces_the_workflow_and_all_its_steps(key_client, agents, tenant):
    workflow = workflow_create(tenant=tenant, data=document())
    new = {
        "name": "Billing only",
        "steps": [{"agent": "agent-billing", "condition": "start", "outputs": ["refund"]}],
    }

    response = key_client.put(f"{URL}/{workflow.pk}", new, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["id"] == workflow.pk
    assert body["name"] == "Billing only"
    assert body["stepBudget"] == 10
    assert body["steps"] == [
        {"agent": "agent-billing", "condition": "start", "inputs": ["all"], "outputs": ["refund"]}
    ]
    assert WorkflowStep.objects.filter(workflow=workflow).count() == 1


def test_put_may_keep_the_same_name(key_client, agents, tenant):
    workflow = workflow_create(tenant=tenant, data=document())

    response = key_client.put(f"{URL}/{workflow.pk}", document(stepBudget=3), format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["stepBudget"] == 3


def test_delete_removes_the_workflow_and_its_steps(key_client, agents, tenant):
    workflow = workflow_create(tenant=tenant, data=document())

    response = key_client.delete(f"{URL}/{workflow.pk}")

    assert response.status_code == 204
    assert not Workflow.objects.exists()
    assert not WorkflowStep.objects.exists()
    assert key_client.get(f"{URL}/{workflow.pk}").status_code == 404


def test_a_missing_workflow_is_404_in_the_error_shape(key_client):
    response = key_client.get(f"{URL}/999999")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- who may ---------------------------------------------------------------------------------


def test_a_person_without_the_manager_role_neither_reads_nor_changes(person_client, agents, tenant):
    workflow = workflow_create(tenant=tenant, data=document())

    for response in (
        person_client.get(URL),
        person_client.get(f"{URL}/{workflow.pk}"),
        person_client.post(URL, document(name="Other"), format="json"),
        person_client.put(f"{URL}/{workflow.pk}", document(name="Other"), format="json"),
        person_client.delete(f"{URL}/{workflow.pk}"),
    ):
        assert response.status_code == 403
        assert "manager" in response.json()["error"]["message"]
    assert list(Workflow.objects.values_list("name", flat=True)) == ["Support triage"]


def test_a_manager_creates_with_their_session(manager, agents):
    client = APIClient()
    client.force_login(manager)

    response = client.post(URL, document(), format="json")

    assert response.status_code == 201, response.json()


def test_without_credentials_it_is_401(client):
    assert client.get(URL).status_code == 401


# --- tenant isolation ------------------------------------------------------------------------


def test_another_tenants_workflow_is_not_found(key_client, other_tenant, foreign_agent):
    theirs = workflow_create(
        tenant=other_tenant,
        data={"name": "Secret", "steps": [{"agent": "agent-secret", "condition": "start"}]},
    )
    url = f"{URL}/{theirs.pk}"

    assert key_client.get(URL).json() == []
    assert key_client.get(url).status_code == 404
    assert key_client.put(url, document(), format="json").status_code == 404
    assert key_client.delete(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Secret"
    assert theirs.steps.count() == 1


def test_another_tenants_agent_is_an_unknown_agent(key_client, agents, foreign_agent):
    doc = document()
    doc["steps"][1]["agent"] = "agent-secret"

    response = key_client.post(URL, doc, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "steps[1].agent": ["unknown agent 'agent-secret'"]
    }
    assert not Workflow.objects.exists()


def test_the_same_name_may_be_used_by_two_tenants(key_client, agents, other_tenant):
    make_agent(other_tenant, "agent-triage")
    workflow_create(
        tenant=other_tenant,
        data={"name": "Support triage", "steps": [{"agent": "agent-triage", "condition": "start"}]},
    )

    response = key_client.post(URL, document(), format="json")

    assert response.status_code == 201, response.json()


# --- cost ------------------------------------------------------------------------------------


def test_listing_costs_the_same_queries_for_one_or_five_workflows(
    key_client, agents, tenant, django_assert_num_queries
):
    workflow_create(tenant=tenant, data=document(name="Workflow 0"))
    key_client.get(URL)  # the key's last use is recorded once; measure after it
    with CaptureQueriesContext(connection) as one:
        response = key_client.get(URL)
    assert len(response.json()) == 1
    for index in range(1, 5):
        workflow_create(tenant=tenant, data=document(name=f"Workflow {index}"))

    with django_assert_num_queries(len(one)):
        response = key_client.get(URL)

    assert len(response.json()) == 5
    assert all(len(w["steps"]) == 3 for w in response.json())


def test_the_openapi_schema_describes_the_workflow_endpoints(key_client):
    response = APIClient().get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/workflows"])
    assert {"get", "put", "delete"} <= set(paths["/api/v1/workflows/{workflow_id}"])


def test_a_second_key_of_the_tenant_sees_the_same_workflows(agents, tenant):
    workflow_create(tenant=tenant, data=document())
    _, raw = make_api_key(tenant=tenant, name="second")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert [w["name"] for w in client.get(URL).json()] == ["Support triage"]

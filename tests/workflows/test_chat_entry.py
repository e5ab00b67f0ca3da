"""The chat widget's entry can be a workflow (issue 18, point 5): the ``chatWorkflow``
orchestrator setting of a tenant (or of the entry agent's stack) names the workflow new web
chats start in; the API and the admin refuse a name the tenant has no workflow of."""

from __future__ import annotations

import pytest

from agents.models import OrchestratorSettings, SettingsLevel
from agents.workflows import workflow_create
from conversations.models import Conversation, DecisionEvent
from tests.factories import make_team

pytestmark = pytest.mark.django_db

TRIAGE = {
    "name": "Chat triage",
    "steps": [
        {"agent": "agent-sup", "condition": "start", "outputs": ["category"]},
        {"agent": "agent-tech", "condition": 'category == "technical"'},
    ],
}


def start_chat(client, text="hello there"):
    return client.post("/chat/acme/start", {"text": text}, content_type="application/json")


def test_new_chats_start_in_the_tenants_chat_workflow(team, key_client, client):
    workflow = workflow_create(tenant=team.sup.tenant, data=TRIAGE)
    set_ = key_client.patch(
        "/api/v1/orchestrator-settings", {"chatWorkflow": "Chat triage"}, format="json"
    )
    assert set_.status_code == 200, set_.content
    assert set_.json()["effective"]["chatWorkflow"] == "Chat triage"

    started = start_chat(client)

    assert started.status_code == 201
    conversation = Conversation.objects.get(pk=started.json()["conversationId"])
    assert conversation.workflow == workflow
    steps = DecisionEvent.objects.filter(conversation=conversation, type="workflow.step")
    assert steps.exists()  # the first message ran the workflow's entry step


def test_without_the_setting_a_chat_starts_with_no_workflow(team, client):
    workflow_create(tenant=team.sup.tenant, data=TRIAGE)

    started = start_chat(client)

    assert Conversation.objects.get(pk=started.json()["conversationId"]).workflow is None


def test_a_stack_may_name_its_own_chat_workflow(team, key_client, client):
    workflow = workflow_create(tenant=team.sup.tenant, data=TRIAGE)
    answer = key_client.patch(
        "/api/v1/agents/agent-sup/orchestrator-settings",
        {"chatWorkflow": "Chat triage"},
        format="json",
    )
    assert answer.status_code == 200, answer.content

    started = start_chat(client)

    assert Conversation.objects.get(pk=started.json()["conversationId"]).workflow == workflow


def test_an_unknown_workflow_is_a_400_naming_the_field(team, key_client):
    answer = key_client.patch(
        "/api/v1/orchestrator-settings", {"chatWorkflow": "No such flow"}, format="json"
    )

    assert answer.status_code == 400
    assert "chatWorkflow" in answer.json()["error"]["fields"]
    assert not OrchestratorSettings.objects.filter(chat_workflow="No such flow").exists()


def test_another_tenants_workflow_cannot_be_named(team, key_client, other_tenant):
    make_team(other_tenant)
    workflow_create(tenant=other_tenant, data=TRIAGE)  # same name, the other tenant's

    answer = key_client.patch(
        "/api/v1/orchestrator-settings", {"chatWorkflow": "Chat triage"}, format="json"
    )

    assert answer.status_code == 400
    assert "chatWorkflow" in answer.json()["error"]["fields"]


def test_a_deleted_workflow_leaves_chats_starting_without_one(team, key_client, client):
    workflow = workflow_create(tenant=team.sup.tenant, data=TRIAGE)
    key_client.patch(
        "/api/v1/orchestrator-settings", {"chatWorkflow": "Chat triage"}, format="json"
    )
    workflow.delete()

    started = start_chat(client)

    assert started.status_code == 201
    assert Conversation.objects.get(pk=started.json()["conversationId"]).workflow is None


def test_the_admin_refuses_an_unknown_chat_workflow(team, manager_client):
    page = manager_client.get("/admin/agents/tenantorchestratorsettings/add/")
    assert page.status_code == 200
    assert "chat_workflow" in page.content.decode()

    saved = manager_client.post(
        "/admin/agents/tenantorchestratorsettings/add/", {"chat_workflow": "No such flow"}
    )

    assert saved.status_code == 200  # the form again, with the error
    assert "No workflow named" in saved.content.decode()
    assert not OrchestratorSettings.objects.filter(level=SettingsLevel.TENANT).exists()

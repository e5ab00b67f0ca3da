"""Workflows in the admin: the API's validator runs on save and shows errors at the step's field;
a manager sees only their tenant's workflows and agents."""

from __future__ import annotations

import pytest
from django.test import Client

from agents.models import Workflow, WorkflowStep
from agents.workflows import workflow_create
from tests.workflows.conftest import document

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/agents/workflow/add/"
LIST_URL = "/admin/agents/workflow/"


def change_url(workflow) -> str:
    return f"/admin/agents/workflow/{workflow.pk}/change/"


def form_data(steps, *, name="Support triage", step_budget="10", initial=0, ids=()) -> dict:
    data = {
        "name": name,
        "step_budget": step_budget,
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": str(initial),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(steps):
        for key, value in row.items():
            data[f"steps-{index}-{key}"] = value
        if index < len(ids):
            data[f"steps-{index}-id"] = str(ids[index])
    return data


def row(agent, condition, *, position="", inputs="all", outputs="") -> dict:
    return {
        "position": position,
        "agent": str(agent.pk),
        "condition": condition,
        "inputs": inputs,
        "outputs": outputs,
    }


def step_forms(response):
    (steps,) = [
        f for f in response.context["inline_admin_formsets"] if f.opts.model is WorkflowStep
    ]
    return steps.formset


def test_a_manager_adds_a_workflow_with_its_steps(manager_client, agents):
    steps = [
        row(agents["agent-triage"], "start", outputs="category, priority"),
        row(agents["agent-tech"], 'category == "technical"', inputs="category, intent"),
    ]

    response = manager_client.post(ADD_URL, form_data(steps, step_budget="7"))

    assert response.status_code == 302, response.content.decode()[:3000]
    workflow = Workflow.objects.get()
    assert (workflow.name, workflow.step_budget, workflow.tenant.slug) == (
        "Support triage",
        7,
        "acme",
    )
    assert list(workflow.steps.values_list("position", "agent__slug", "inputs", "outputs")) == [
        (1, "agent-triage", ["all"], ["category", "priority"]),
        (2, "agent-tech", ["category", "intent"], []),
    ]


def test_a_condition_error_shows_at_the_steps_condition_field(manager_client, agents):
    steps = [
        row(agents["agent-triage"], "start", outputs="category"),
        row(agents["agent-tech"], 'category == "technical" and priority > 2'),
    ]

    response = manager_client.post(ADD_URL, form_data(steps))

    assert response.status_code == 200
    formset = step_forms(response)
    assert formset.forms[0].errors == {}
    message = formset.forms[1].errors["condition"][0]
    assert message.startswith("column 29: unknown name 'priority'")
    assert "column 29: unknown name &#x27;priority&#x27;" in response.content.decode()
    assert not Workflow.objects.exists()


def test_steps_are_checked_in_position_order(manager_client, agents):
    # Typed in the wrong rows, but positions put the triage first.
    steps = [
        row(agents["agent-tech"], 'category == "technical"', position="2"),
        row(agents["agent-triage"], "start", position="1", outputs="category"),
    ]

    response = manager_client.post(ADD_URL, form_data(steps))

    assert response.status_code == 302, response.content.decode()[:3000]
    workflow = Workflow.objects.get()
    assert list(workflow.steps.values_list("position", "agent__slug")) == [
        (1, "agent-triage"),
        (2, "agent-tech"),
    ]


def test_an_output_of_a_later_step_is_unknown_at_an_earlier_step(manager_client, agents):
    steps = [
        row(agents["agent-triage"], "start", position="1"),
        row(agents["agent-tech"], 'category == "technical"', position="2"),
        row(agents["agent-billing"], "true", position="3", outputs="category"),
    ]

    response = manager_client.post(ADD_URL, form_data(steps))

    assert response.status_code == 200
    forms = step_forms(response).forms
    assert forms[1].errors["condition"][0].startswith("column 1: unknown name 'category'")
    assert not forms[2].errors


def test_first_step_and_outputs_errors_show_at_their_fields(manager_client, agents):
    steps = [
        row(agents["agent-triage"], 'intent == "x"', outputs="intent"),
        row(agents["agent-tech"], "start"),
    ]

    response = manager_client.post(ADD_URL, form_data(steps))

    assert response.status_code == 200
    forms = step_forms(response).forms
    assert forms[0].errors["condition"] == ['The first step\'s condition must be "start".']
    assert forms[0].errors["outputs"] == [
        "'intent' is a conversation name; choose another output name."
    ]
    assert forms[1].errors["condition"] == [
        '"start" marks the entry step; only the first step may use it.'
    ]


def test_a_workflow_without_steps_is_refused(manager_client, agents):
    response = manager_client.post(ADD_URL, form_data([]))

    assert response.status_code == 200
    assert step_forms(response).non_form_errors() == ["A workflow needs at least one step."]
    assert not Workflow.objects.exists()


def test_the_step_budget_is_checked_like_the_api(manager_client, agents):
    steps = [row(agents["agent-triage"], "start")]

    response = manager_client.post(ADD_URL, form_data(steps, step_budget="101"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["step_budget"] == [
        "Must be a whole number from 1 to 100."
    ]


def test_a_duplicate_name_is_a_form_error(manager_client, agents, tenant):
    workflow_create(tenant=tenant, data=document())
    steps = [row(agents["agent-triage"], "start")]

    response = manager_client.post(ADD_URL, form_data(steps))

    assert response.status_code == 200
    assert "A workflow with this name already exists." in response.content.decode()
    assert Workflow.objects.count() == 1


def test_a_manager_edits_the_steps_and_they_are_replaced_as_a_whole(manager_client, agents, tenant):
    workflow = workflow_create(tenant=tenant, data=document())
    ids = list(workflow.steps.values_list("id", flat=True))
    steps = [
        row(agents["agent-triage"], "start", position="1", outputs="category, priority"),
        row(agents["agent-tech"], 'category == "technical"', position="2", inputs="category"),
        {**row(agents["agent-billing"], "true", position="3"), "DELETE": "on"},
    ]

    response = manager_client.post(
        change_url(workflow), form_data(steps, name="Renamed", initial=3, ids=ids)
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    workflow.refresh_from_db()
    assert workflow.name == "Renamed"
    assert list(workflow.steps.values_list("position", "agent__slug", "inputs")) == [
        (1, "agent-triage", ["all"]),
        (2, "agent-tech", ["category"]),
    ]


def test_the_change_page_shows_the_steps_in_order(manager_client, agents, tenant):
    workflow = workflow_create(tenant=tenant, data=document())

    response = manager_client.get(change_url(workflow))

    assert response.status_code == 200
    forms = step_forms(response).forms
    assert [f.instance.agent.slug for f in forms if f.instance.pk] == [
        "agent-triage",
        "agent-tech",
        "agent-billing",
    ]
    assert forms[0]["outputs"].value() == "category, priority"


def test_the_list_shows_name_steps_and_budget(manager_client, agents, tenant):
    workflow_create(tenant=tenant, data=document())

    response = manager_client.get(LIST_URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Support triage" in content
    result = response.context["cl"].result_list[0]
    assert (result.name, result._steps_count, result.step_budget) == ("Support triage", 3, 8)


def test_the_manager_deletes_a_workflow(manager_client, agents, tenant):
    workflow = workflow_create(tenant=tenant, data=document())

    response = manager_client.post(f"/admin/agents/workflow/{workflow.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Workflow.objects.exists()
    assert not WorkflowStep.objects.exists()


# --- tenant isolation ------------------------------------------------------------------------


@pytest.fixture
def foreign_workflow(other_tenant, foreign_agent):
    return workflow_create(
        tenant=other_tenant,
        data={"name": "Globex secret", "steps": [{"agent": "agent-secret", "condition": "start"}]},
    )


def test_a_manager_cannot_list_or_open_another_tenants_workflow(
    manager_client, agents, tenant, foreign_workflow
):
    workflow_create(tenant=tenant, data=document())

    listing = manager_client.get(LIST_URL).content.decode()
    assert "Support triage" in listing
    assert "Globex secret" not in listing
    assert manager_client.get(change_url(foreign_workflow)).status_code == 404
    steps = [row(foreign_workflow.steps.get().agent, "start")]
    response = manager_client.post(change_url(foreign_workflow), form_data(steps, name="Hijacked"))
    assert response.status_code == 404
    foreign_workflow.refresh_from_db()
    assert foreign_workflow.name == "Globex secret"


def test_agent_choices_are_only_the_managers_tenant(manager_client, agents, foreign_agent):
    response = manager_client.get(ADD_URL)

    field = step_forms(response).forms[0].fields["agent"]
    assert sorted(agent.slug for agent in field.queryset) == [
        "agent-billing",
        "agent-tech",
        "agent-triage",
    ]


def test_picking_another_tenants_agent_is_refused(manager_client, agents, foreign_agent):
    steps = [row(agents["agent-triage"], "start"), row(foreign_agent, "true")]

    response = manager_client.post(ADD_URL, form_data(steps))

    assert response.status_code == 200
    assert "agent" in step_forms(response).forms[1].errors
    assert not Workflow.objects.exists()


def test_a_new_step_row_starts_with_all_inputs(manager_client, agents):
    response = manager_client.get(ADD_URL)

    assert step_forms(response).forms[0]["inputs"].value() == "all"
    assert step_forms(response).empty_form["inputs"].value() == "all"


def test_a_superuser_cannot_mix_tenants_agents_in_a_workflow(
    db, tenant, agents, foreign_agent, django_user_model
):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin_user)
    steps = [row(agents["agent-triage"], "start"), row(foreign_agent, "true")]

    response = client.post(ADD_URL, {**form_data(steps), "tenant": str(tenant.pk)})

    assert response.status_code == 200
    assert step_forms(response).forms[1].errors["agent"] == [
        "“Agent-Secret (agent-secret)” belongs to another tenant."
    ]
    assert not Workflow.objects.exists()

    steps[1] = row(agents["agent-tech"], "true")
    response = client.post(ADD_URL, {**form_data(steps), "tenant": str(tenant.pk)})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Workflow.objects.get().tenant == tenant

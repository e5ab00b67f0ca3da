"""Every bad workflow document is a 400 naming the field path, and nothing is written."""

from __future__ import annotations

import copy

import pytest

from agents.models import Workflow, WorkflowStep
from agents.workflows import WorkflowInvalid, workflow_create, workflow_replace, workflow_validate
from tests.workflows.conftest import document

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows"


def changed(change) -> dict:
    doc = copy.deepcopy(document())
    change(doc)
    return doc


def step(index: int, **fields):
    def change(doc):
        doc["steps"][index].update(fields)

    return change


def top(**fields):
    def change(doc):
        doc.update(fields)

    return change


def drop(key: str):
    def change(doc):
        del doc[key]

    return change


START = {"agent": "agent-triage", "condition": "start"}
UNKNOWN_CATEGORY = (
    "column 1: unknown name 'category' (known: intent, sentiment, risk, channel, attempts, "
    "turns, language, verified, customer.<attribute>)"
)

BAD = {
    "name missing": (drop("name"), "name", "This field is required."),
    "name blank": (top(name="   "), "name", "A workflow needs a name."),
    "name not text": (top(name=["x"]), "name", "Must be text."),
    "name too long": (top(name="x" * 201), "name", "At most 200 characters."),
    "budget zero": (top(stepBudget=0), "stepBudget", "Must be a whole number from 1 to 100."),
    "budget too big": (top(stepBudget=101), "stepBudget", "Must be a whole number from 1 to 100."),
    "budget text": (top(stepBudget="ten"), "stepBudget", "Must be a whole number from 1 to 100."),
    "budget boolean": (top(stepBudget=True), "stepBudget", "Must be a whole number from 1 to 100."),
    "budget fraction": (top(stepBudget=2.5), "stepBudget", "Must be a whole number from 1 to 100."),
    "steps missing": (drop("steps"), "steps", "This field is required."),
    "no steps": (top(steps=[]), "steps", "A workflow needs at least one step."),
    "steps not a list": (top(steps={"a": 1}), "steps", "Must be a list of steps."),
    "too many steps": (
        top(steps=[START] + [{"agent": "agent-tech", "condition": "true"}] * 50),
        "steps",
        "At most 50 steps (this has 51).",
    ),
    "step not an object": (
        top(steps=[START, "agent-tech"]),
        "steps[1]",
        "Must be an object with agent, condition, inputs and outputs.",
    ),
    "unknown agent": (
        step(1, agent="agent-nobody"),
        "steps[1].agent",
        "unknown agent 'agent-nobody'",
    ),
    "agent missing": (step(1, agent=""), "steps[1].agent", "This field is required."),
    "agent not text": (step(1, agent=7), "steps[1].agent", "Must be an agent id (text)."),
    "first step not start": (
        step(0, condition='intent == "x"'),
        "steps[0].condition",
        'The first step\'s condition must be "start".',
    ),
    "start on a later step": (
        step(2, condition="start"),
        "steps[2].condition",
        '"start" marks the entry step; only the first step may use it.',
    ),
    "condition missing": (step(1, condition=None), "steps[1].condition", "This field is required."),
    "condition syntax": (
        step(1, condition="category =="),
        "steps[1].condition",
        "column 12: expected a value after '=='",
    ),
    "condition empty": (
        step(1, condition="  "),
        "steps[1].condition",
        "column 1: expected a condition, found an empty text",
    ),
    "condition type mismatch": (
        step(1, condition='sentiment == "low"'),
        "steps[1].condition",
        "column 11: cannot compare number with string using '=='",
    ),
    "condition unknown name": (
        step(1, condition="mood == 1"),
        "steps[1].condition",
        "column 1: unknown name 'mood' (known: intent, sentiment, risk, channel, attempts, "
        "turns, language, verified, category, priority, customer.<attribute>)",
    ),
    "outputs not a list": (
        step(2, outputs="category"),
        "steps[2].outputs",
        "Must be a list of names.",
    ),
    "outputs not names": (step(2, outputs=[1, 2]), "steps[2].outputs", "Must be a list of names."),
    "output not an identifier": (
        step(0, outputs=["category", "2fast"]),
        "steps[0].outputs",
        "'2fast' is not a valid name: use letters, digits and _, not starting with a digit, "
        "at most 100 characters.",
    ),
    "output dotted": (
        step(0, outputs=["category", "priority", "a.b"]),
        "steps[0].outputs",
        "'a.b' is not a valid name: use letters, digits and _, not starting with a digit, "
        "at most 100 characters.",
    ),
    "output listed twice": (
        step(0, outputs=["category", "priority", "category"]),
        "steps[0].outputs",
        "'category' is listed twice.",
    ),
    "output shadows a conversation name": (
        step(2, outputs=["sentiment"]),
        "steps[2].outputs",
        "'sentiment' is a conversation name; choose another output name.",
    ),
    "output shadows customer": (
        step(2, outputs=["customer"]),
        "steps[2].outputs",
        "'customer' is a conversation name; choose another output name.",
    ),
    "output is a keyword": (
        step(2, outputs=["and"]),
        "steps[2].outputs",
        "'and' is a reserved word; choose another output name.",
    ),
    "output is all": (
        step(2, outputs=["all"]),
        "steps[2].outputs",
        "'all' is a reserved word; choose another output name.",
    ),
    "output is context": (
        step(2, outputs=["context"]),
        "steps[2].outputs",
        "'context' is a reserved word; choose another output name.",
    ),
    "context with all": (
        step(1, inputs=["all", "context"]),
        "steps[1].inputs",
        '"all" stands alone: use ["all"] or list the names.',
    ),
    "inputs not a list": (step(1, inputs="all"), "steps[1].inputs", "Must be a list of names."),
    "inputs null": (step(1, inputs=None), "steps[1].inputs", "Must be a list of names."),
    "all with other names": (
        step(1, inputs=["all", "intent"]),
        "steps[1].inputs",
        '"all" stands alone: use ["all"] or list the names.',
    ),
    "input undeclared": (
        step(1, inputs=["category", "mood"]),
        "steps[1].inputs",
        'unknown input \'mood\': use "all", "context", a conversation name (intent, sentiment, '
        "risk, channel, attempts, turns, language, customer, verified) or an output of an earlier "
        "step.",
    ),
    "input declared by a later step": (
        step(1, inputs=["resolution"]),
        "steps[1].inputs",
        "'resolution' is not an output of an earlier step (steps[1] declares it); a step "
        "receives only what the conversation or earlier steps provide.",
    ),
    "input listed twice": (
        step(1, inputs=["intent", "intent"]),
        "steps[1].inputs",
        "'intent' is listed twice.",
    ),
}


@pytest.mark.parametrize(("change", "path", "message"), BAD.values(), ids=BAD.keys())
def test_a_bad_document_is_a_400_naming_the_path(key_client, agents, change, path, message):
    response = key_client.post(URL, changed(change), format="json")

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {path: [message]}
    assert error["message"] == f"{path}: {message}"
    assert not Workflow.objects.exists()
    assert not WorkflowStep.objects.exists()


def test_a_body_that_is_not_an_object_is_a_400(key_client, agents):
    response = key_client.post(URL, [document()], format="json")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Expected a JSON object."


def test_a_duplicate_name_in_the_tenant_is_a_400(key_client, agents, tenant):
    workflow_create(tenant=tenant, data=document())

    response = key_client.post(URL, document(), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "name: A workflow with this name already exists."
    assert Workflow.objects.count() == 1


def test_renaming_onto_another_workflows_name_is_a_400(key_client, agents, tenant):
    workflow_create(tenant=tenant, data=document(name="Taken"))
    mine = workflow_create(tenant=tenant, data=document(name="Mine"))

    response = key_client.put(f"{URL}/{mine.pk}", document(name="Taken"), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "name": ["A workflow with this name already exists."]
    }


def test_an_output_used_before_it_is_declared_is_rejected_with_the_column(key_client, agents):
    doc = document()
    # "resolution" is declared by step 2: step 1 may not read it, nor step 2 itself
    doc["steps"][1]["condition"] = 'intent == "billing" or resolution == "done"'
    doc["steps"][1]["outputs"] = []
    doc["steps"][2]["condition"] = "intent == 'x' and resolution != null"
    doc["steps"][2]["outputs"] = ["resolution"]

    response = key_client.post(URL, doc, format="json")

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert list(fields) == ["steps[1].condition", "steps[2].condition"]
    assert fields["steps[1].condition"][0].startswith("column 24: unknown name 'resolution'")
    assert fields["steps[2].condition"][0].startswith("column 19: unknown name 'resolution'")
    assert not Workflow.objects.exists()


def test_the_first_steps_outputs_are_unknown_to_the_first_step_itself(tenant, agents):
    with pytest.raises(WorkflowInvalid) as caught:
        workflow_validate(
            tenant=tenant,
            data={
                "name": "x",
                "steps": [
                    {
                        "agent": "agent-triage",
                        "condition": "start",
                        "inputs": ["category"],
                        "outputs": ["category"],
                    }
                ],
            },
        )

    assert list(caught.value.errors) == ["steps[0].inputs"]


def test_an_output_declared_later_is_unknown_at_its_position(tenant, agents):
    data = {
        "name": "x",
        "steps": [
            {"agent": "agent-triage", "condition": "start"},
            {"agent": "agent-tech", "condition": 'category == "technical"'},
            {"agent": "agent-billing", "condition": "true", "outputs": ["category"]},
            {"agent": "agent-tech", "condition": 'category == "technical"'},
        ],
    }

    with pytest.raises(WorkflowInvalid) as caught:
        workflow_validate(tenant=tenant, data=data)

    assert caught.value.errors == {"steps[1].condition": [UNKNOWN_CATEGORY]}


def test_every_problem_is_reported_at_once_in_document_order(key_client, agents):
    doc = document(name="", stepBudget=0)
    doc["steps"][0]["agent"] = "agent-nobody"
    doc["steps"][1]["condition"] = "category =="

    response = key_client.post(URL, doc, format="json")

    assert list(response.json()["error"]["fields"]) == [
        "name",
        "stepBudget",
        "steps[0].agent",
        "steps[1].condition",
    ]


def test_a_bad_replacement_leaves_the_workflow_as_it_was(key_client, agents, tenant):
    workflow = workflow_create(tenant=tenant, data=document())
    before = list(workflow.steps.values_list("id", "position", "agent__slug", "condition"))
    bad = document(name="Renamed", stepBudget=50)
    bad["steps"][2]["condition"] = "category == "

    response = key_client.put(f"{URL}/{workflow.pk}", bad, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["steps[2].condition"]
    workflow.refresh_from_db()
    assert (workflow.name, workflow.step_budget) == ("Support triage", 8)
    after = list(workflow.steps.values_list("id", "position", "agent__slug", "condition"))
    assert after == before


def test_the_services_check_the_same_way_without_the_api(tenant, agents):
    workflow = workflow_create(tenant=tenant, data=document())

    with pytest.raises(WorkflowInvalid) as caught:
        workflow_replace(workflow=workflow, data=document(steps=[]))

    assert caught.value.errors == {"steps": ["A workflow needs at least one step."]}
    assert workflow.steps.count() == 3


def test_names_are_trimmed_and_a_condition_may_read_customer_attributes(tenant, agents):
    data = {
        "name": "  Spaced  ",
        "steps": [
            {"agent": "agent-triage", "condition": " start ", "outputs": [" tier "]},
            {
                "agent": "agent-tech",
                "condition": 'customer.plan == "pro" and tier != null',
                "inputs": ["customer", "tier"],
            },
        ],
    }

    spec = workflow_validate(tenant=tenant, data=data)

    assert spec.name == "Spaced"
    assert [s.condition for s in spec.steps] == ["start", 'customer.plan == "pro" and tier != null']
    assert spec.steps[0].outputs == ["tier"]

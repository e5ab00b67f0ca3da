"""Workflows that really run (issue 18, point 5): conditions never crash, each step gets the
inputs it names and gives the outputs it declares, and a workflow that may not proceed says so
on save and at run time."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from agents.models import Agent, Workflow, WorkflowStep
from agents.workflow_run import Step, WorkflowRun, condition_holds, step_inputs
from agents.workflows import workflow_create
from conversations.models import DecisionEvent
from core import services
from core.models import Tenant
from core.secret_store import seal
from tests.runtimes.support import WEBHOOK_SECRET, FakeServer, Respond, Seen, webhook_check

pytestmark = pytest.mark.django_db

DOCS_WORKFLOW = {
    "name": "Support Escalation",
    "steps": [
        {"agent": "agent-triage", "condition": "start", "outputs": ["category", "priority"]},
        {
            "agent": "agent-specialist",
            "condition": 'category == "technical"',
            "inputs": ["category", "context"],
        },
        {"agent": "agent-supervisor", "condition": 'priority == "critical"', "inputs": ["all"]},
    ],
}


def start(client, agent, **extra):
    response = client.post(
        "/api/v1/conversations",
        {"agentId": agent, "channel": "web", "customer": {"id": "c-1", "name": "Kim"}, **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def say(client, conversation_id, text):
    return client.post(
        f"/api/v1/conversations/{conversation_id}/messages", {"text": text}, format="json"
    )


def workflow_events(conversation_id) -> list[dict]:
    return [
        e.detail
        for e in DecisionEvent.objects.filter(
            conversation_id=conversation_id, type="workflow.step"
        ).order_by("id")
    ]


# --- the run, on its own --------------------------------------------------------------------------


def test_an_output_not_produced_yet_is_null_and_the_comparison_false():
    assert condition_holds("answered == false", declared=["answered"], values={}) == (False, None)
    assert condition_holds("answered == null", declared=["answered"], values={}) == (True, None)
    assert condition_holds("answered == false", declared=["answered"], values={"answered": False})[
        0
    ]


def test_a_condition_naming_something_unknown_is_false_with_the_reason_never_an_error():
    holds, why = condition_holds("ghost == 1", declared=[], values={"ghost": 1})

    assert holds is False
    assert "unknown name 'ghost'" in why


def test_each_step_receives_exactly_the_inputs_it_names():
    conversation = {"intent": "technical", "sentiment": -0.2, "risk": [], "channel": "web"}
    context = {"transcript": [], "customer": {"id": "c"}, "signals": {"intent": "technical"}}
    outputs = {"category": "technical", "priority": "critical"}

    named = step_inputs(
        ["category", "context"], outputs=outputs, conversation=conversation, context=context
    )
    everything = step_inputs(["all"], outputs=outputs, conversation=conversation, context=context)
    one = step_inputs(["intent", "later"], outputs={}, conversation=conversation, context=context)

    assert named == {"category": "technical", "context": context}
    assert everything["context"] == context
    assert everything["category"] == "technical" and everything["priority"] == "critical"
    assert everything["intent"] == "technical" and everything["channel"] == "web"
    assert one == {"intent": "technical", "later": None}


def test_the_run_keeps_only_the_outputs_a_step_declares():
    steps = [
        Step(0, "a", "start", outputs=("category",)),
        Step(1, "b", 'category == "technical"', inputs=("category",)),
    ]
    run = WorkflowRun(name="W", steps=steps, conversation={}, context={})

    kept = run.collect(steps[0], {"category": "technical", "resolution": "x", "extra": 1})

    assert kept == {"category": "technical"}
    assert run.check(steps[1]) is True
    assert run.call(steps[1]).inputs == {"category": "technical"}
    assert run.call(steps[1]).step == 2


# --- the demo's workflow through the API ---------------------------------------------------------


ORDINARY_FIRST_MESSAGES = [
    "hello there",
    "I want to return my jacket",
    "Hi, my app keeps crashing",
    "I was charged twice for my order",
    "where is my parcel?",
    "thanks!",
    "I want to cancel my subscription",
    "Can I speak to a human please",
]


@pytest.mark.parametrize("text", ORDINARY_FIRST_MESSAGES)
def test_the_demo_workflow_answers_every_ordinary_first_message_without_a_500(text):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    tenant = Tenant.objects.get(slug="demo")
    _, raw = services.api_key_create(tenant=tenant, name="workflow test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    workflow = Workflow.objects.get(tenant=tenant, name="Support Escalation")
    conv = start(client, "agent-supervisor", workflowId=workflow.pk)

    response = say(client, conv["id"], text)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["reply"] is not None or body["handoff"] is not None
    events = workflow_events(conv["id"])
    if body["handoff"] is None and body["currentAgentId"] == "agent-supervisor":
        assert events[0]["agent"] == "agent-supervisor"  # the workflow ran from its entry
    assert not any(e.get("stopped") == "cannot proceed" for e in events)


def test_the_demo_workflow_has_no_warning(key_client):
    """Its retention step reads ``answered``, which only the conditional tech step gives, but
    it also runs on churn risk or a negative sentiment: it can run, so the lint is quiet (the
    built-in templates give no warning, issue 20)."""
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    tenant = Tenant.objects.get(slug="demo")
    _, raw = services.api_key_create(tenant=tenant, name="workflow test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    workflow = Workflow.objects.get(tenant=tenant, name="Support Escalation")

    body = client.get(f"/api/v1/workflows/{workflow.pk}").json()

    assert body["warnings"] == []


def test_a_step_that_needs_an_output_only_a_conditional_step_gives_is_warned(
    key_client, builtin_team
):
    response = key_client.post(
        "/api/v1/workflows",
        {
            "name": "Conditional",
            "steps": [
                {"agent": "agent-triage", "condition": "start", "outputs": ["category"]},
                {
                    "agent": "agent-specialist",
                    "condition": 'category == "technical"',
                    "outputs": ["answered"],
                },
                {"agent": "agent-supervisor", "condition": "answered == false"},
            ],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    [warning] = response.json()["warnings"]
    assert warning["path"] == "steps[2].condition"
    assert warning["code"] == "output_set_conditionally"
    assert "step 3 runs only after step(s) 2: it needs 'answered'" in warning["message"]


# --- warnings on save -----------------------------------------------------------------------------


@pytest.fixture
def builtin_team(tenant):
    return {
        slug: Agent.objects.create(tenant=tenant, slug=slug, name=slug, role="specialist")
        for slug in ("agent-triage", "agent-specialist", "agent-supervisor")
    }


def test_a_workflow_that_may_never_proceed_is_saved_with_a_warning(key_client, builtin_team):
    response = key_client.post("/api/v1/workflows", DOCS_WORKFLOW, format="json")

    assert response.status_code == 201, response.json()
    warnings = response.json()["warnings"]
    assert any(
        w["path"] == "steps[2].condition"
        and w["code"] == "step_never_runs"
        and "it needs 'priority', which step(s) 1 declare but their built-in agents never give"
        in w["message"]
        for w in warnings
    ), warnings


def test_a_knowledge_entry_that_sets_the_output_clears_the_warning(key_client, builtin_team):
    builtin_team["agent-triage"].knowledge.create(
        question="Is the site down?",
        keywords=["outage"],
        answer="We are on it.",
        outputs={"priority": "critical"},
    )

    response = key_client.post("/api/v1/workflows", DOCS_WORKFLOW, format="json")

    assert response.status_code == 201
    assert not any("priority" in w["message"] for w in response.json()["warnings"])


def test_the_admin_saves_and_shows_the_warning(manager_client, builtin_team, tenant):
    workflow = workflow_create(tenant=tenant, data=DOCS_WORKFLOW)
    steps = list(workflow.steps.order_by("position"))
    url = reverse("admin:agents_workflow_change", args=[workflow.pk])
    data = {
        "name": workflow.name,
        "step_budget": workflow.step_budget,
        "steps-TOTAL_FORMS": len(steps),
        "steps-INITIAL_FORMS": len(steps),
        "steps-MIN_NUM_FORMS": 0,
        "steps-MAX_NUM_FORMS": 1000,
    }
    for i, step in enumerate(steps):
        data.update(
            {
                f"steps-{i}-id": step.pk,
                f"steps-{i}-workflow": workflow.pk,
                f"steps-{i}-position": step.position,
                f"steps-{i}-agent": step.agent_id,
                f"steps-{i}-condition": step.condition,
                f"steps-{i}-inputs": ", ".join(step.inputs),
                f"steps-{i}-outputs": ", ".join(step.outputs),
            }
        )

    response = manager_client.post(url, data, follow=True)

    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any(
        m.startswith("Warning: steps[2].condition: step 3 never runs: it needs 'priority'")
        for m in shown
    ), shown


# --- at run time: a step that cannot proceed ------------------------------------------------------


def test_a_step_whose_condition_cannot_compile_is_an_event_then_the_fallback(
    key_client, builtin_team, tenant
):
    builtin_team["agent-supervisor"].knowledge.create(
        question="hello", keywords=["hello"], answer="Hello! How can I help?"
    )
    workflow = workflow_create(tenant=tenant, data=DOCS_WORKFLOW)
    # saved before an output it reads was removed from the earlier step
    WorkflowStep.objects.filter(workflow=workflow, position=3).update(condition="ghost == 1")
    conv = start(key_client, "agent-supervisor", workflowId=workflow.pk)

    response = say(key_client, conv["id"], "hello there")

    assert response.status_code == 201, response.content
    assert response.json()["reply"]["text"] == "Hello! How can I help?"
    events = workflow_events(conv["id"])
    blocked = [e for e in events if e.get("stopped") == "cannot proceed"]
    assert blocked[0]["step"] == 3 and "unknown name 'ghost'" in blocked[0]["why"]
    assert events[-1]["stopped"] == "no step answered"
    assert events[-1]["fallback"] == "agent-supervisor"


# --- the docs' example end to end, on the webhook runtime -----------------------------------------


def answer_as(seen: Seen) -> Respond:
    """The tenant's agents behind one webhook: triage classifies, the others answer."""
    body = seen.json
    agent = body["agent"]["id"]
    if agent == "agent-triage":
        return Respond(
            body={
                "reply": None,
                "answered": True,
                "outputs": {"category": "technical", "priority": "critical"},
            }
        )
    if agent == "agent-specialist":
        return Respond(body={"reply": "Restart the router, then update the firmware."})
    return Respond(body={"reply": "A senior engineer is on it; you will hear from us today."})


@pytest.fixture
def webhook_team(tenant, settings):
    settings.RUNTIME_ALLOW_PRIVATE_NETWORKS = True
    with FakeServer(default=answer_as, check=webhook_check) as server:
        for slug in ("agent-triage", "agent-specialist", "agent-supervisor"):
            Agent.objects.create(
                tenant=tenant,
                slug=slug,
                name=slug,
                role="specialist",
                runtime="webhook",
                runtime_config={"url": f"{server.url}/agents"},
                runtime_secret=seal(WEBHOOK_SECRET),
            )
        yield server


def test_the_docs_workflow_routes_a_technical_critical_case_through_all_three_steps(
    key_client, webhook_team, manager_client
):
    created = key_client.post("/api/v1/workflows", DOCS_WORKFLOW, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["warnings"] == []
    conv = start(key_client, "agent-triage", workflowId=created.json()["id"])

    response = say(key_client, conv["id"], "Our whole office has no internet, the router is down")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["reply"]["text"] == "A senior engineer is on it; you will hear from us today."
    triage, specialist, supervisor = (seen.json for seen in webhook_team.seen)
    assert triage["workflow"]["step"] == 1
    assert triage["workflow"]["outputs"] == ["category", "priority"]
    # the specialist gets exactly what it names: the category and the conversation so far
    assert set(specialist["workflow"]["inputs"]) == {"category", "context"}
    assert specialist["workflow"]["inputs"]["category"] == "technical"
    context = specialist["workflow"]["inputs"]["context"]
    assert context["customer"]["id"] == "c-1"
    assert context["signals"]["intent"] == "technical"
    assert context["transcript"] == []
    # the supervisor gets everything
    assert supervisor["workflow"]["inputs"]["priority"] == "critical"
    assert supervisor["workflow"]["inputs"]["category"] == "technical"
    assert "context" in supervisor["workflow"]["inputs"]
    events = workflow_events(conv["id"])
    assert [(e["step"], e["agent"]) for e in events] == [
        (1, "agent-triage"),
        (2, "agent-specialist"),
        (3, "agent-supervisor"),
    ]
    assert events[0]["outputs"] == {"category": "technical", "priority": "critical"}
    assert events[1]["inputs"] == ["category", "context"]
    timeline = manager_client.get(reverse("admin:insight_timeline", args=[conv["id"]]))
    page = timeline.content.decode()
    assert "step 2 by agent-specialist" in page
    assert "inputs category, context" in page

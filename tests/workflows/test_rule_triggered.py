"""Rules trigger workflows (issue 18, point 5): a handoff rule's target may be a workflow, in
the rules API, the admin, the rule tester, the pipeline and stack templates."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents.models import Agent, HandoffRule, Workflow
from agents.rule_sets import rules_replace
from agents.workflows import workflow_create
from conversations.models import Conversation, DecisionEvent
from orchestration.rule_tester import run_rule_test

pytestmark = pytest.mark.django_db

TRIAGE = {
    "name": "Technical triage",
    "steps": [
        {"agent": "desk", "condition": "start", "outputs": ["category"]},
        {"agent": "tech", "condition": 'category == "technical"', "inputs": ["context"]},
    ],
}
RULE = {"condition": 'intent == "technical"', "workflow": "Technical triage"}


@pytest.fixture
def team(tenant):
    desk = Agent.objects.create(
        tenant=tenant, slug="desk", name="Desk", role="supervisor", domains=[]
    )
    tech = Agent.objects.create(
        tenant=tenant, slug="tech", name="Tech", role="specialist", domains=["technical"]
    )
    tech.knowledge.create(question="crash", keywords=["crash", "crashing"], answer="Update it.")
    workflow = workflow_create(tenant=tenant, data=TRIAGE)
    return desk, tech, workflow


def rules_url(agent="desk"):
    return f"/api/v1/agents/{agent}/orchestration/rules"


def test_a_handoff_rule_may_start_a_workflow(key_client, team):
    response = key_client.post(rules_url(), {"handoffs": [RULE]}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["handoffs"] == [RULE]
    rule = HandoffRule.objects.get()
    assert rule.workflow == team[2] and rule.target is None
    assert key_client.get(rules_url()).json()["handoffs"] == [RULE]


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ({"condition": "turns > 1", "workflow": "Nope"}, "workflow", "unknown workflow 'Nope'"),
        (
            {"condition": "turns > 1", "workflow": "Technical triage", "targetAgentId": "tech"},
            "workflow",
            "not both",
        ),
        ({"condition": "turns > 1"}, "targetAgentId", "unknown agent 'None'"),
    ],
)
def test_a_bad_target_is_a_400_naming_the_field(key_client, team, rule, field, message):
    response = key_client.post(rules_url(), {"handoffs": [rule]}, format="json")

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert any(message in m for m in fields[f"handoffs[0].{field}"]), fields


def test_another_tenants_workflow_is_an_unknown_workflow(key_client, team, other_tenant):
    Agent.objects.create(tenant=other_tenant, slug="x", name="X", role="specialist")
    workflow_create(
        tenant=other_tenant,
        data={"name": "Secret flow", "steps": [{"agent": "x", "condition": "start"}]},
    )

    response = key_client.post(
        rules_url(),
        {"handoffs": [{"condition": "turns > 1", "workflow": "Secret flow"}]},
        format="json",
    )

    assert response.status_code == 400
    assert "unknown workflow 'Secret flow'" in str(response.json()["error"]["fields"])


def test_the_rule_starts_the_workflow_in_the_pipeline(key_client, team):
    desk, _, workflow = team
    rules_replace(agent=desk, document={"handoffs": [RULE]})
    conv = key_client.post(
        "/api/v1/conversations",
        {"agentId": "desk", "channel": "web", "customer": {"id": "c"}},
        format="json",
    ).json()

    body = key_client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        {"text": "my app keeps crashing"},
        format="json",
    ).json()

    assert body["reply"]["text"] == "Update it."
    assert Conversation.objects.get(pk=conv["id"]).workflow_id == workflow.pk
    events = DecisionEvent.objects.filter(conversation_id=conv["id"]).order_by("id")
    fired = [e.detail for e in events if e.type == "rule.fired"]
    assert fired[0]["kind"] == "handoff" and fired[0]["to"] == "workflow Technical triage"
    steps = [e.detail for e in events if e.type == "workflow.step"]
    assert [(s["step"], s["agent"]) for s in steps] == [(1, "desk"), (2, "tech")]
    assert steps[1]["inputs"] == ["context"]

    # the next message keeps running it: the rule does not start it again
    key_client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        {"text": "still crashing after the update"},
        format="json",
    )
    assert DecisionEvent.objects.filter(conversation_id=conv["id"], type="rule.fired").count() == 1


def test_the_rule_tester_says_the_workflow_starts(team):
    desk, *_ = team
    rules_replace(agent=desk, document={"handoffs": [RULE]})

    result = run_rule_test(
        {
            "agent": desk,
            "message": "my app keeps crashing",
            "channel": "web",
            "attempts": 0,
            "turns": 1,
        }
    )

    assert result["trace"].decision == "start the workflow Technical triage"
    assert result["trace"].handoff.destination == "workflow Technical triage"


def test_the_admin_rule_tester_page_shows_it(manager_client, team):
    desk, *_ = team
    rules_replace(agent=desk, document={"handoffs": [RULE]})

    page = manager_client.post(
        reverse("admin:agents_ruleset_tester"),
        {
            "agent": desk.pk,
            "message": "my app keeps crashing",
            "channel": "web",
            "attempts": 0,
            "turns": 1,
        },
    ).content.decode()

    assert "→ workflow Technical triage" in page


def test_the_admin_adds_a_handoff_rule_to_a_workflow(manager_client, team):
    desk, tech, workflow = team
    url = reverse("admin:agents_ruleset_add")
    base = {
        "agent": desk.pk,
        "escalation_intents": "",
        "approvers": "",
        "quorum": 1,
        "approvals_required": "on",
        "handoffs-TOTAL_FORMS": 1,
        "handoffs-INITIAL_FORMS": 0,
        "handoffs-MIN_NUM_FORMS": 0,
        "handoffs-MAX_NUM_FORMS": 1000,
        "handoffs-0-position": 0,
        "handoffs-0-condition": 'intent == "technical"',
        "actions-TOTAL_FORMS": 0,
        "actions-INITIAL_FORMS": 0,
        "actions-MIN_NUM_FORMS": 0,
        "actions-MAX_NUM_FORMS": 1000,
    }

    both = manager_client.post(
        url, {**base, "handoffs-0-target": tech.pk, "handoffs-0-workflow": workflow.pk}
    )
    assert both.status_code == 200
    assert "one of the two" in both.content.decode()
    saved = manager_client.post(url, {**base, "handoffs-0-workflow": workflow.pk})

    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert HandoffRule.objects.get().workflow == workflow


def test_a_workflow_a_rule_starts_cannot_be_deleted(key_client, team):
    desk, _, workflow = team
    rules_replace(agent=desk, document={"handoffs": [RULE]})

    response = key_client.delete(f"/api/v1/workflows/{workflow.pk}")

    assert response.status_code == 409
    assert Workflow.objects.filter(pk=workflow.pk).exists()

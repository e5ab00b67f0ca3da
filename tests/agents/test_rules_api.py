"""/api/v1/agents/<id>/orchestration/rules: the seeds' JSON, field paths in errors,
inheritance, versions and restore, tenant isolation."""

from __future__ import annotations

import pytest

from agents.models import Agent, RuleSet, RuleVersion
from agents.rules_api import DOCS_EXAMPLES
from tests.factories import make_person

pytestmark = pytest.mark.django_db

URL = "/api/v1/agents/{}/orchestration/rules"


@pytest.fixture
def team_options():
    return {
        "sup_name": "Sup",
        "specialists": ("billing", "retention"),
        "knowledge": False,
        "approvers": ["maria"],
        "approver_groups": {"finance": ["fin1"]},
    }


SEEDS = {
    "escalation": {
        "maxAttempts": 3,
        "intents": ["legal"],
        "targetAgentId": None,
        "escalateToHuman": True,
    },
    "handoffs": [
        {"condition": 'intent == "billing"', "targetAgentId": "agent-billing"},
        {"condition": '"churn_risk" in risk', "targetAgentId": "agent-retention"},
    ],
    "approvals": {
        "required": True,
        "actions": ["modify_account", {"action": "issue_refund", "when": "params.amount > 100"}],
        "approvers": ["maria", "group:finance"],
    },
}


def test_the_seeds_rules_are_created_and_read_back(key_client, team):
    created = key_client.post(URL.format("agent-sup"), SEEDS, format="json")
    read = key_client.get(URL.format("agent-sup"))

    assert created.status_code == 201, created.json()
    body = read.json()
    assert body["source"] == "own"
    assert body["version"] == 1
    assert body["handoffs"] == SEEDS["handoffs"]
    assert body["escalation"] == SEEDS["escalation"]
    assert body["approvals"] == {
        "required": True,
        "actions": [
            {"action": "modify_account", "when": None},
            {"action": "issue_refund", "when": "params.amount > 100"},
        ],
        "approvers": ["maria", "group:finance"],
        "quorum": 1,
    }


def test_specialists_inherit_their_supervisors_rules_until_they_have_their_own(key_client, team):
    key_client.post(URL.format("agent-sup"), SEEDS, format="json")

    inherited = key_client.get(URL.format("agent-billing")).json()
    own = key_client.post(
        URL.format("agent-billing"),
        {"handoffs": [{"condition": "sentiment < -0.5", "targetAgentId": "agent-retention"}]},
        format="json",
    ).json()

    assert inherited["source"] == "inherited"
    assert inherited["inheritedFrom"] == "agent-sup"
    assert inherited["handoffs"] == SEEDS["handoffs"]
    assert own["source"] == "own"
    assert own["escalation"] is None


def test_delete_falls_back_to_inherited_rules(key_client, team):
    key_client.post(URL.format("agent-sup"), SEEDS, format="json")
    key_client.post(URL.format("agent-billing"), {"handoffs": []}, format="json")

    response = key_client.delete(URL.format("agent-billing"))

    assert response.status_code == 204
    body = key_client.get(URL.format("agent-billing")).json()
    assert body["source"] == "inherited"
    key_client.delete(URL.format("agent-sup"))
    body = key_client.get(URL.format("agent-billing")).json()
    assert body["source"] == "default"
    assert body["handoffs"] == [] and body["escalation"] is None and body["approvals"] is None


def test_post_sets_the_sections_it_names_and_keeps_the_others(key_client, team):
    key_client.post(URL.format("agent-sup"), SEEDS, format="json")

    response = key_client.post(
        URL.format("agent-sup"),
        {"handoffs": [{"condition": "turns > 5", "targetAgentId": "agent-retention"}]},
        format="json",
    )

    body = key_client.get(URL.format("agent-sup")).json()
    assert response.status_code == 201
    assert body["version"] == 2
    assert body["handoffs"] == [{"condition": "turns > 5", "targetAgentId": "agent-retention"}]
    assert body["escalation"] == SEEDS["escalation"]
    assert body["approvals"]["approvers"] == SEEDS["approvals"]["approvers"]


def test_a_section_given_as_null_is_cleared_and_the_others_kept(key_client, team):
    key_client.post(URL.format("agent-sup"), SEEDS, format="json")

    cleared = key_client.post(
        URL.format("agent-sup"), {"escalation": None, "handoffs": None}, format="json"
    )

    body = cleared.json()
    assert cleared.status_code == 201
    assert body["escalation"] is None and body["handoffs"] == []
    assert body["approvals"]["approvers"] == SEEDS["approvals"]["approvers"]
    assert body["version"] == 2
    assert RuleVersion.objects.get(version=2).document["approvals"] is not None


def test_the_docs_three_create_rules_calls_leave_all_three_sections_in_force(key_client, tenant):
    """The orchestration guide's three createRules payloads, verbatim, one call each."""
    for slug in (
        "agent-123",
        "agent-supervisor",
        "agent-tech-support",
        "agent-billing",
        "agent-retention",
    ):
        Agent.objects.create(tenant=tenant, slug=slug, name=slug, role="supervisor")
    for username in ("user-admin-123", "user-manager-456"):
        make_person(tenant=tenant, roles=["approver"], username=username)

    answers = [
        key_client.post(URL.format("agent-123"), payload, format="json")
        for payload in DOCS_EXAMPLES.values()
    ]

    assert [a.status_code for a in answers] == [201, 201, 201], [a.json() for a in answers]
    body = key_client.get(URL.format("agent-123")).json()
    assert body["version"] == 3
    assert body["escalation"] == DOCS_EXAMPLES["escalation"]["escalation"]
    assert body["handoffs"] == DOCS_EXAMPLES["handoffs"]["handoffs"]
    assert body["approvals"]["actions"] == [
        {"action": name, "when": None}
        for name in ("issue_refund", "modify_account", "access_sensitive_data")
    ]
    assert body["approvals"]["approvers"] == ["user-admin-123", "user-manager-456"]
    versions = key_client.get(URL.format("agent-123") + "/versions").json()
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[2]["rules"]["handoffs"] == [] and versions[1]["rules"]["approvals"] is None


def test_a_bad_section_leaves_every_section_as_it_was(key_client, team):
    key_client.post(URL.format("agent-sup"), SEEDS, format="json")

    response = key_client.post(
        URL.format("agent-sup"),
        {"escalation": None, "handoffs": [{"condition": "intent ==", "targetAgentId": "x"}]},
        format="json",
    )

    assert response.status_code == 400
    assert "handoffs[0].condition" in response.json()["error"]["fields"]
    body = key_client.get(URL.format("agent-sup")).json()
    assert body["version"] == 1 and body["escalation"] == SEEDS["escalation"]


def test_an_escalation_may_name_an_agent_and_a_human_fallback(key_client, team):
    rules = {
        "escalation": {
            "maxAttempts": 2,
            "intents": ["legal"],
            "targetAgentId": "agent-retention",
            "escalateToHuman": True,
        }
    }

    response = key_client.post(URL.format("agent-sup"), rules, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["escalation"] == rules["escalation"]


@pytest.mark.parametrize(
    ("rules", "path", "message"),
    [
        (
            {
                "handoffs": [
                    SEEDS["handoffs"][0],
                    {"condition": "intent == ", "targetAgentId": "agent-billing"},
                ]
            },
            "handoffs[1].condition",
            "column 11: expected a value after '=='",
        ),
        (
            {"handoffs": [{"condition": "intnt == 'x'", "targetAgentId": "agent-billing"}]},
            "handoffs[0].condition",
            "unknown name 'intnt'",
        ),
        (
            {"handoffs": [{"condition": "sentiment > 'high'", "targetAgentId": "agent-billing"}]},
            "handoffs[0].condition",
            "cannot compare",
        ),
        (
            {"handoffs": [{"condition": "turns > 2", "targetAgentId": "agent-ghost"}]},
            "handoffs[0].targetAgentId",
            "unknown agent 'agent-ghost'",
        ),
        (
            {"handoffs": [{"condition": "turns > 2", "targetAgentId": "agent-sup"}]},
            "handoffs[0].targetAgentId",
            "cannot transfer to itself",
        ),
        (
            {"escalation": {"maxAttempts": 0, "escalateToHuman": True}},
            "escalation.maxAttempts",
            "at least 1",
        ),
        (
            {"escalation": {"maxAttempts": 2}},
            "escalation.targetAgentId",
            "give the agent to escalate to",
        ),
        (
            {"approvals": {"actions": ["launch_rockets"], "approvers": ["maria"]}},
            "approvals.actions[0].action",
            "unknown action 'launch_rockets'",
        ),
        (
            {
                "approvals": {
                    "actions": [{"action": "issue_refund", "when": "params.amont > 1"}],
                    "approvers": ["maria"],
                }
            },
            "approvals.actions[0].when",
            "unknown name 'params.amont'",
        ),
        (
            {"approvals": {"actions": ["issue_refund"], "approvers": ["nobody"]}},
            "approvals.approvers",
            "'nobody' is not an approver of this tenant",
        ),
        (
            {"approvals": {"actions": ["issue_refund"], "approvers": ["group:legal"]}},
            "approvals.approvers",
            "'group:legal' is not an approver group",
        ),
        (
            {"approvals": {"actions": ["issue_refund"], "approvers": ["maria"], "quorum": 2}},
            "approvals.quorum",
            "needs 2 distinct approvers",
        ),
        ({"handofs": []}, "handofs", "unknown field"),
        ({"handoffs": "all"}, "handoffs", "must be a list"),
    ],
)
def test_bad_rules_are_400_naming_the_field_path(key_client, team, rules, path, message):
    response = key_client.post(URL.format("agent-sup"), rules, format="json")

    assert response.status_code == 400, response.json()
    fields = response.json()["error"]["fields"]
    assert path in fields, fields
    assert message in " ".join(fields[path])
    assert not RuleSet.objects.exists()


def test_a_non_object_body_is_400(key_client, team):
    response = key_client.post(URL.format("agent-sup"), ["x"], format="json")

    assert response.status_code == 400


def test_a_bad_replacement_leaves_the_old_rules_intact(key_client, team):
    key_client.post(URL.format("agent-sup"), SEEDS, format="json")

    bad = {"handoffs": [{"condition": "(", "targetAgentId": "agent-billing"}]}
    assert key_client.post(URL.format("agent-sup"), bad, format="json").status_code == 400

    body = key_client.get(URL.format("agent-sup")).json()
    assert body["version"] == 1 and body["handoffs"] == SEEDS["handoffs"]


def test_a_people_approver_must_hold_the_approver_role(key_client, team, tenant):
    make_person(tenant=tenant, roles=["agent"], username="just-an-agent")
    rules = {"approvals": {"actions": ["issue_refund"], "approvers": ["just-an-agent"]}}

    response = key_client.post(URL.format("agent-sup"), rules, format="json")

    assert response.status_code == 400


def test_every_change_keeps_a_version_and_one_can_be_restored(key_client, team):
    key_client.post(URL.format("agent-sup"), SEEDS, format="json")
    key_client.post(URL.format("agent-sup"), {"handoffs": []}, format="json")
    key_client.delete(URL.format("agent-sup"))

    versions = key_client.get(URL.format("agent-sup") + "/versions").json()
    restored = key_client.post(URL.format("agent-sup") + "/versions/1/restore")

    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[0]["rules"] is None
    assert versions[2]["rules"]["handoffs"] == SEEDS["handoffs"]
    assert restored.status_code == 200
    assert restored.json()["handoffs"] == SEEDS["handoffs"]
    assert restored.json()["version"] == 4
    assert RuleVersion.objects.get(version=4).via == "restore"


def test_another_tenants_agents_and_rules_are_out_of_reach(key_client, team, other_tenant):
    theirs = Agent.objects.create(tenant=other_tenant, slug="theirs", name="T", role="supervisor")
    Agent.objects.create(tenant=other_tenant, slug="their-spec", name="S", role="specialist")

    assert key_client.get(URL.format("theirs")).status_code == 404
    assert key_client.post(URL.format("theirs"), SEEDS, format="json").status_code == 404
    assert key_client.delete(URL.format("theirs")).status_code == 404
    response = key_client.post(
        URL.format("agent-sup"),
        {"handoffs": [{"condition": "turns > 1", "targetAgentId": "their-spec"}]},
        format="json",
    )
    assert response.json()["error"]["fields"]["handoffs[0].targetAgentId"] == [
        "unknown agent 'their-spec'"
    ]
    assert not RuleSet.objects.filter(agent=theirs).exists()


def test_an_agent_targeted_by_rules_cannot_be_deleted(key_client, team):
    key_client.post(URL.format("agent-sup"), SEEDS, format="json")

    response = key_client.delete("/api/v1/agents/agent-billing")

    assert response.status_code == 409
    assert "handoff rule" in response.json()["error"]["message"]

"""The rule lint with the tenant's names: a fixture team whose rules and workflows have each
kind of problem gives each finding; the built-in templates give none; the rules API answers the
warnings without refusing the save, and the admin shows them."""

from __future__ import annotations

import pytest

from agents.models import Agent, Intent
from agents.rule_lint import LintScope, rules_findings, stack_findings, workflow_findings
from agents.rule_sets import rules_replace
from stacks.selectors import builtin_templates
from stacks.services import stack_import
from tests.agents.test_admin import rules_form
from tests.factories import make_person
from tests.stacks.conftest import finance_group, support_document
from tests.workflows.test_admin import form_data, row

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tenant):
    Intent.objects.create(tenant=tenant, name="billing", keywords=["invoice"])
    Intent.objects.create(tenant=tenant, name="refund", keywords=["refund"])
    Intent.objects.create(tenant=tenant, name="legal", keywords=["lawyer"])
    sup = Agent.objects.create(tenant=tenant, slug="agent-sup", name="Sup", role="supervisor")

    def specialist(slug, domains, runtime="builtin", config=None):
        return Agent.objects.create(
            tenant=tenant,
            slug=slug,
            name=slug,
            role="specialist",
            supervisor=sup,
            domains=domains,
            runtime=runtime,
            runtime_config=config or {},
        )

    return {
        "sup": sup,
        "billing": specialist("agent-billing", ["billing"]),
        "tech": specialist("agent-tech", ["technical", "extraction"]),
        "hook": specialist("agent-hook", [], "webhook", {"url": "https://hooks.example.com/agent"}),
    }


def _codes(findings):
    return sorted((f.path, f.code) for f in findings)


def test_each_kind_of_problem_in_a_rule_set_gives_its_finding(team):
    rules_replace(
        agent=team["sup"],
        document={
            "escalation": {
                "intents": ["legl", "agent-tech"],
                "targetAgentId": "agent-billing",
                "escalateToHuman": False,
            },
            "handoffs": [
                {"condition": 'intent == "billing"', "targetAgentId": "agent-billing"},
                {
                    "condition": 'intent == "billing" and sentiment < -0.5',
                    "targetAgentId": "agent-tech",
                },
                {"condition": 'intent == "biling"', "targetAgentId": "agent-billing"},
                {"condition": '"churn_rsk" in risk', "targetAgentId": "agent-tech"},
                {"condition": 'channel == "sms"', "targetAgentId": "agent-tech"},
                {"condition": 'intent == "agent-tech"', "targetAgentId": "agent-tech"},
                {
                    "condition": 'intent == "refund" and intent == "legal"',
                    "targetAgentId": "agent-tech",
                },
                {"condition": 'intent == "extraction" or true', "targetAgentId": "agent-tech"},
                {"condition": 'intent == "technical"', "targetAgentId": "agent-tech"},
            ],
        },
    )
    # agent-billing escalates back to the supervisor: a loop with no person on it
    rules_replace(
        agent=team["billing"],
        document={"escalation": {"maxAttempts": 2, "targetAgentId": "agent-sup"}},
    )
    scope = LintScope.of(team["sup"].tenant_id)

    findings = rules_findings(agent=team["sup"], scope=scope)

    assert _codes(findings) == [
        ("escalation.intents[0]", "unknown_intent"),
        ("escalation.intents[1]", "agent_in_condition"),
        ("escalation.targetAgentId", "escalation_loop"),
        ("handoffs[1].condition", "shadowed"),
        ("handoffs[2].condition", "unknown_intent"),
        ("handoffs[3].condition", "unknown_risk_category"),
        ("handoffs[4].condition", "unknown_channel"),
        ("handoffs[5].condition", "agent_in_condition"),
        ("handoffs[6].condition", "never_holds"),
        ("handoffs[8].condition", "shadowed"),
    ]
    by_path = {f.path: f.message for f in findings}
    assert 'did you mean "legal"?' in by_path["escalation.intents[0]"]
    assert 'did you mean "billing"?' in by_path["handoffs[2].condition"]
    assert 'did you mean "churn_risk"?' in by_path["handoffs[3].condition"]
    assert "rule 1 before it" in by_path["handoffs[1].condition"]
    assert "handoff rule 8 before it" in by_path["handoffs[8].condition"]
    assert "agent-billing -> agent-sup -> agent-billing" in by_path["escalation.targetAgentId"]
    # a domain is an intent too: "extraction" and "technical" are known
    assert {f.value for f in findings if f.code == "unknown_intent"} == {"legl", "biling"}


def test_a_person_as_the_fallback_breaks_an_escalation_loop(team):
    rules_replace(
        agent=team["sup"],
        document={
            "escalation": {
                "maxAttempts": 2,
                "targetAgentId": "agent-billing",
                "escalateToHuman": True,
            }
        },
    )
    rules_replace(
        agent=team["billing"],
        document={"escalation": {"maxAttempts": 2, "targetAgentId": "agent-sup"}},
    )
    scope = LintScope.of(team["sup"].tenant_id)
    assert rules_findings(agent=team["billing"], scope=scope) == []


def test_workflow_steps_that_can_never_run(team):
    scope = LintScope.of(team["sup"].tenant_id)
    document = {
        "name": "Triage",
        "stepBudget": 4,
        "steps": [
            {"agent": "agent-sup", "condition": "start", "outputs": ["category", "priority"]},
            {"agent": "agent-tech", "condition": 'category == "tecnical"'},
            {"agent": "agent-tech", "condition": 'priority == "high"'},
            {"agent": "agent-hook", "condition": "answered == true and answered == false"},
            {"agent": "agent-billing", "condition": 'category == "billing"'},
        ],
    }

    findings = workflow_findings(document, scope)

    assert _codes(findings) == [
        ("steps[1].condition", "unknown_category"),
        ("steps[2].condition", "step_never_runs"),
        ("steps[4]", "step_never_runs"),
    ]
    messages = {f.path: f.message for f in findings}
    assert 'did you mean "technical"?' in messages["steps[1].condition"]
    assert "'priority'" in messages["steps[2].condition"]
    assert "step budget (4)" in messages["steps[4]"]

    # an opaque comparison the lint cannot decide stays quiet; a webhook may give any output
    document["steps"][0]["agent"] = "agent-hook"
    document["steps"][3]["condition"] = 'category == "billing" and category == "refund"'
    assert _codes(workflow_findings(document, scope)) == [
        ("steps[1].condition", "unknown_category"),
        ("steps[3].condition", "step_never_runs"),
        ("steps[4]", "step_never_runs"),
    ]


def test_the_built_in_templates_give_no_warning(tenant):
    make_person(tenant=tenant, roles=["approver"], username="approver")
    finance_group(tenant, f"{tenant.slug}-finance")
    slugs = []
    for entry in builtin_templates():
        prefix = entry.key.split("-")[0]
        stack_import(tenant=tenant, document=entry.document, prefix=prefix)
        slugs += [f"{prefix}-{agent['id']}" for agent in entry.document["agents"]]
    scope = LintScope.of(tenant.pk)
    assert len(scope.workflows) >= 3

    found = stack_findings(scope, slugs)

    assert {key for key, findings in found.items() if findings} == set()
    assert any(key.startswith("workflow:") for key in found)
    assert sum(1 for key in found if not key.startswith("workflow:")) >= 3


def test_the_rules_api_answers_warnings_and_still_saves(key_client, team):
    response = key_client.post(
        "/api/v1/agents/agent-sup/orchestration/rules",
        {
            "handoffs": [
                {"condition": 'intent == "billing"', "targetAgentId": "agent-billing"},
                {"condition": 'intent == "biling"', "targetAgentId": "agent-billing"},
            ]
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert len(body["handoffs"]) == 2
    assert body["warnings"] == [
        {
            "path": "handoffs[1].condition",
            "code": "unknown_intent",
            "message": '"biling" is not a known intent, did you mean "billing"? (known intents '
            "and specialists' domains: billing, extraction, legal, refund, technical)",
        }
    ]
    # inherited rules carry their owner's warnings; clean rules none
    inherited = key_client.get("/api/v1/agents/agent-billing/orchestration/rules").json()
    assert inherited["source"] == "inherited"
    assert [w["code"] for w in inherited["warnings"]] == ["unknown_intent"]
    clean = key_client.post(
        "/api/v1/agents/agent-sup/orchestration/rules",
        {"handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "agent-billing"}]},
        format="json",
    )
    assert clean.json()["warnings"] == []


def test_the_admin_shows_warnings_on_save_on_the_form_and_in_the_tester(manager_client, team):
    sup, billing = team["sup"], team["billing"]
    saved = manager_client.post(
        "/admin/agents/ruleset/add/",
        rules_form(
            sup.pk,
            **{
                "handoffs-TOTAL_FORMS": "1",
                "handoffs-0-position": "0",
                "handoffs-0-condition": 'intent == "biling"',
                "handoffs-0-target": billing.pk,
            },
        ),
        follow=True,
    )
    page = saved.content.decode()
    assert "Warning: handoffs[0].condition: &quot;biling&quot; is not a known intent" in page
    assert sup.rules.handoffs.get().condition == 'intent == "biling"'  # saved all the same

    change = manager_client.get(f"/admin/agents/ruleset/{sup.rules.pk}/change/")
    assert 'id="lint-warnings"' in change.content.decode()
    assert "did you mean &quot;billing&quot;?" in change.content.decode()

    tester = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {
            "agent": billing.pk,
            "message": "my invoice",
            "risk": "",
            "channel": "web",
            "attempts": "0",
            "turns": "1",
            "language": "en",
            "customer": "",
            "action": "",
            "params": "",
        },
    )
    assert tester.context["lint"]["owner"] == "agent-sup"
    assert [w["code"] for w in tester.context["lint"]["warnings"]] == ["unknown_intent"]
    assert 'id="lint-warnings"' in tester.content.decode()


def test_a_stack_import_dry_run_shows_the_warnings(tenant, key_client):
    make_person(tenant=tenant, roles=["approver"], username="approver")
    finance_group(tenant, f"{tenant.slug}-finance")
    document = support_document()
    document["agents"][0]["rules"]["handoffs"].append(
        {"condition": 'intent == "biling"', "targetAgentId": "agent-billing"}
    )
    document["workflows"][0]["steps"][1]["condition"] = 'category == "tecnical"'

    response = key_client.post(
        "/api/v1/stacks/import", {"template": document, "dryRun": True}, format="json"
    )

    assert response.status_code == 200, response.content
    assert [(w["path"], w["code"]) for w in response.json()["warnings"]] == [
        ("template.agents[0].rules.handoffs[4].condition", "unknown_intent"),
        ("template.workflows[0].steps[1].condition", "unknown_category"),
    ]
    assert not Agent.objects.filter(tenant=tenant).exists()  # a dry run
    clean = key_client.post(
        "/api/v1/stacks/import", {"template": support_document(), "dryRun": True}, format="json"
    )
    assert clean.json()["warnings"] == []


def test_the_workflow_admin_warns_of_steps_that_never_run(manager_client, team):
    saved = manager_client.post(
        "/admin/agents/workflow/add/",
        form_data(
            [
                row(team["sup"], "start", outputs="category"),
                row(team["tech"], 'category == "billing" and category == "refund"'),
            ],
            step_budget="5",
        ),
        follow=True,
    )
    page = saved.content.decode()
    assert "Warning: steps[1].condition: step 2 never runs" in page

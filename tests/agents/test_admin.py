"""The admin for agents and rules: tenant scoping, validation at the field, clear, history and
restore, and the rule tester."""

from __future__ import annotations

import pytest

from agents.models import Agent, RuleSet, RuleVersion
from agents.orchestrator_settings import settings_update
from agents.rule_sets import rules_replace
from conversations.models import Conversation, DecisionEvent
from handover.models import Handoff
from tests.factories import make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def team_options():
    return {"sup_name": "Sup", "specialists": ("billing",), "knowledge": False}


@pytest.fixture
def theirs(other_tenant):
    return Agent.objects.create(
        tenant=other_tenant, slug="theirs", name="Theirs", role="supervisor"
    )


def agent_form(**overrides):
    data = {
        "slug": "agent-tech",
        "name": "Tech",
        "role": "specialist",
        "supervisor": "",
        "domains": "technical, outages",
        "pattern": "handoff",
        "runtime": "builtin",
        "runtime_config": "",
        "prompt": "",
        "knowledge-TOTAL_FORMS": "0",
        "knowledge-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def rules_form(agent_pk, **overrides):
    data = {
        "agent": agent_pk,
        "has_escalation": "",
        "max_attempts": "",
        "escalation_intents": "",
        "escalation_target": "",
        "has_approvals": "",
        "approvals_required": "on",
        "approvers": "",
        "quorum": "1",
        "handoffs-TOTAL_FORMS": "0",
        "handoffs-INITIAL_FORMS": "0",
        "actions-TOTAL_FORMS": "0",
        "actions-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_a_manager_adds_an_agent_with_knowledge(manager_client, tenant, team):
    sup, _ = team
    response = manager_client.post(
        "/admin/agents/agent/add/",
        agent_form(
            supervisor=sup.pk,
            **{
                "knowledge-TOTAL_FORMS": "1",
                "knowledge-0-position": "0",
                "knowledge-0-question": "Reset my router?",
                "knowledge-0-keywords": "router, reset",
                "knowledge-0-answer": "Hold the button for 10 seconds.",
                "knowledge-0-action": "",
                "knowledge-0-action_params": "",
            },
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    agent = Agent.objects.get(slug="agent-tech")
    assert agent.tenant == tenant
    assert agent.domains == ["technical", "outages"]
    assert agent.knowledge.get().keywords == ["router", "reset"]


def test_the_supervisor_choices_are_the_managers_tenants_supervisors(manager_client, team, theirs):
    page = manager_client.get("/admin/agents/agent/add/")
    choices = [str(a) for a in page.context["adminform"].form.fields["supervisor"].queryset]

    assert choices == ["Sup (agent-sup)"]
    forged = manager_client.post("/admin/agents/agent/add/", agent_form(supervisor=theirs.pk))
    assert forged.status_code == 200
    assert "supervisor" in forged.context["adminform"].form.errors
    assert not Agent.objects.filter(slug="agent-tech").exists()


def test_a_duplicate_agent_id_is_a_form_error(manager_client, team):
    response = manager_client.post("/admin/agents/agent/add/", agent_form(slug="agent-billing"))

    assert response.status_code == 200
    assert "An agent with this id already exists." in response.content.decode()


def test_bad_runtime_settings_and_knowledge_actions_are_form_errors(manager_client, team):
    response = manager_client.post(
        "/admin/agents/agent/add/",
        agent_form(
            runtime="openai",
            runtime_config='{"baseUrl": "nope"}',
            **{
                "knowledge-TOTAL_FORMS": "1",
                "knowledge-0-position": "0",
                "knowledge-0-question": "Refund?",
                "knowledge-0-keywords": "refund",
                "knowledge-0-answer": "Sure.",
                "knowledge-0-action": "issue_refund",
                "knowledge-0-action_params": '{"orderId": "A1", "amount": 0}',
            },
        ),
    )

    content = response.content.decode()
    assert response.status_code == 200
    assert "baseUrl: must be an http(s) URL" in content
    assert "amount: must be greater than 0" in content
    assert not Agent.objects.filter(slug="agent-tech").exists()


def test_another_tenants_agent_is_not_found_in_the_admin(manager_client, theirs):
    assert manager_client.get(f"/admin/agents/agent/{theirs.pk}/change/").status_code == 404
    assert b"theirs" not in manager_client.get("/admin/agents/agent/").content


def test_rules_are_made_in_the_admin_with_condition_errors_at_the_field(manager_client, team):
    sup, billing = team
    bad = manager_client.post(
        "/admin/agents/ruleset/add/",
        rules_form(
            sup.pk,
            **{
                "handoffs-TOTAL_FORMS": "1",
                "handoffs-0-position": "0",
                "handoffs-0-condition": "intent ==",
                "handoffs-0-target": billing.pk,
            },
        ),
    )
    assert bad.status_code == 200
    handoff_errors = bad.context["inline_admin_formsets"][0].formset.errors
    assert handoff_errors[0]["condition"] == ["column 10: expected a value after '=='"]
    assert not RuleSet.objects.exists()

    good = manager_client.post(
        "/admin/agents/ruleset/add/",
        rules_form(
            sup.pk,
            **{
                "handoffs-TOTAL_FORMS": "1",
                "handoffs-0-position": "0",
                "handoffs-0-condition": 'intent == "billing"',
                "handoffs-0-target": billing.pk,
            },
        ),
    )
    assert good.status_code == 302, good.content.decode()[:3000]
    assert RuleSet.objects.get().handoffs.get().target == billing
    assert RuleVersion.objects.get(agent=sup).document["handoffs"] == [
        {"condition": 'intent == "billing"', "targetAgentId": "agent-billing"}
    ]


def test_a_handoff_target_of_another_tenant_is_refused(manager_client, team, theirs):
    sup, _ = team
    response = manager_client.post(
        "/admin/agents/ruleset/add/",
        rules_form(
            sup.pk,
            **{
                "handoffs-TOTAL_FORMS": "1",
                "handoffs-0-position": "0",
                "handoffs-0-condition": "turns > 1",
                "handoffs-0-target": theirs.pk,
            },
        ),
    )

    assert response.status_code == 200
    assert not RuleSet.objects.exists()


def test_escalation_and_approvers_are_checked_in_the_admin(manager_client, team, tenant):
    sup, _ = team
    response = manager_client.post(
        "/admin/agents/ruleset/add/",
        rules_form(
            sup.pk,
            has_escalation="on",
            max_attempts="2",
            has_approvals="on",
            approvers="ghost",
            **{
                "actions-TOTAL_FORMS": "1",
                "actions-0-position": "0",
                "actions-0-action": "issue_refund",
                "actions-0-when": "params.amount > 'lots'",
            },
        ),
    )

    form = response.context["adminform"].form
    assert "give the agent to escalate to" in form.errors["escalation_target"][0]
    assert "'ghost' is not an approver" in form.errors["approvers"][0]
    action_errors = response.context["inline_admin_formsets"][1].formset.errors
    assert "cannot compare" in action_errors[0]["when"][0]


def test_an_escalation_to_an_agent_with_a_human_fallback_is_saved_in_the_admin(
    manager_client, team
):
    sup, billing = team

    response = manager_client.post(
        "/admin/agents/ruleset/add/",
        rules_form(
            sup.pk,
            has_escalation="on",
            max_attempts="3",
            escalation_intents="legal_question",
            escalation_target=billing.pk,
            escalate_to_human="on",
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    assert RuleVersion.objects.get(agent=sup).document["escalation"] == {
        "maxAttempts": 3,
        "intents": ["legal_question"],
        "targetAgentId": "agent-billing",
        "escalateToHuman": True,
    }


def test_clearing_rules_from_the_admin_falls_back_and_keeps_a_version(manager_client, team):
    _, billing = team
    ruleset = rules_replace(
        agent=billing,
        document={"handoffs": [{"condition": "turns > 3", "targetAgentId": "agent-sup"}]},
    )

    manager_client.post(
        "/admin/agents/ruleset/", {"action": "clear_rules", "_selected_action": [ruleset.pk]}
    )

    assert not RuleSet.objects.exists()
    assert RuleVersion.objects.filter(agent=billing).order_by("-version").first().document is None


def test_history_shows_a_diff_and_restores_a_version(manager_client, manager, team):
    sup, _ = team
    rules_replace(
        agent=sup,
        document={"handoffs": [{"condition": "turns > 3", "targetAgentId": "agent-billing"}]},
    )
    rules_replace(
        agent=sup,
        document={"handoffs": [{"condition": "turns > 5", "targetAgentId": "agent-billing"}]},
    )
    url = f"/admin/agents/ruleset/agent/{sup.pk}/history/"

    page = manager_client.get(url).content.decode()
    restored = manager_client.post(url, {"version": "1"})

    assert 'class="removed">-      &quot;condition&quot;: &quot;turns &gt; 3&quot;' in page
    assert 'class="added">+      &quot;condition&quot;: &quot;turns &gt; 5&quot;' in page
    assert restored.status_code == 302
    assert sup.rules.handoffs.get().condition == "turns > 3"
    latest = RuleVersion.objects.filter(agent=sup).first()
    assert (latest.version, latest.via, latest.created_by) == (3, "restore", manager)


def test_another_tenants_history_is_not_found(manager_client, theirs):
    assert (
        manager_client.get(f"/admin/agents/ruleset/agent/{theirs.pk}/history/").status_code == 404
    )


def test_the_rule_tester_shows_which_rules_fire_and_why(manager_client, team):
    sup, billing = team
    rules_replace(
        agent=sup,
        document={
            "escalation": {"intents": ["legal"], "escalateToHuman": True},
            "handoffs": [
                {"condition": "customer.vip == true", "targetAgentId": "agent-billing"},
                {"condition": 'intent == "billing"', "targetAgentId": "agent-billing"},
            ],
            "approvals": {
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": [],
                "required": False,
            },
        },
    )

    response = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {
            "agent": billing.pk,
            "message": "I was charged twice on my last invoice",
            "risk": "",
            "channel": "web",
            "attempts": "0",
            "turns": "1",
            "language": "en",
            "customer": '{"vip": false}',
            "action": "",
            "params": "",
        },
    )

    result = response.context["result"]
    assert result["rules"].owner == "agent-sup"  # inherited by the specialist
    assert result["context"]["intent"] == "billing"
    fired = [o.label for o in result["trace"].outcomes if o.fired]
    assert fired == ['handoffs[1]: intent == "billing"']
    assert "Decision: hand off to agent-billing" in response.content.decode()
    assert "customer.vip is false" in response.content.decode()
    assert "{#" not in response.content.decode()  # no template comment printed on the page


def test_the_rule_tester_only_offers_the_managers_agents(manager_client, team, theirs):
    response = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {"agent": theirs.pk, "channel": "web", "attempts": "0", "turns": "1"},
    )

    assert response.context["result"] is None
    assert "agent" in response.context["form"].errors


def test_the_rule_tester_tells_whether_an_action_needs_approval(manager_client, team, tenant):
    sup, _ = team
    make_person(tenant=tenant, roles=["approver"], username="maria")
    rules_replace(
        agent=sup,
        document={
            "approvals": {
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": ["maria"],
            }
        },
    )
    base = {
        "agent": sup.pk,
        "channel": "web",
        "attempts": "0",
        "turns": "1",
        "action": "issue_refund",
    }

    small = manager_client.post(
        "/admin/agents/ruleset/tester/", {**base, "params": '{"orderId": "A", "amount": 20}'}
    )
    large = manager_client.post(
        "/admin/agents/ruleset/tester/", {**base, "params": '{"orderId": "A", "amount": 250}'}
    )

    assert small.context["result"]["trace"].approval_needed is False
    assert large.context["result"]["trace"].approval_needed is True
    assert "needs approval" in large.content.decode()


def test_the_rule_tester_takes_running_totals_and_converts_amounts(manager_client, team, tenant):
    from decimal import Decimal

    from approvals.models import ExchangeRate

    sup, _ = team
    make_person(tenant=tenant, roles=["approver"], username="maria")
    ExchangeRate.objects.create(tenant=tenant, currency="USD", rate=Decimal("0.5"))
    rules_replace(
        agent=sup,
        document={
            "approvals": {
                "actions": [
                    {"action": "issue_refund", "when": "params.amount + totals.refunded_24h > 100"}
                ],
                "approvers": ["maria"],
            }
        },
    )
    base = {
        "agent": sup.pk,
        "channel": "web",
        "attempts": "0",
        "turns": "1",
        "action": "issue_refund",
        "params": '{"orderId": "A", "amount": 60}',
    }

    alone = manager_client.post("/admin/agents/ruleset/tester/", base)
    after = manager_client.post(
        "/admin/agents/ruleset/tester/", {**base, "totals": '{"refunded_24h": 50}'}
    )
    dollars = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {
            **base,
            "params": '{"orderId": "A", "amount": 120, "currency": "USD"}',
            "totals": '{"refunded_24h": 50}',
        },
    )
    unknown = manager_client.post(
        "/admin/agents/ruleset/tester/", {**base, "totals": '{"refunded_1h": 50}'}
    )
    coins = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {**base, "params": '{"orderId": "A", "amount": 1, "currency": "BTC"}'},
    )

    assert alone.context["result"]["trace"].approval_needed is False
    assert after.context["result"]["trace"].approval_needed is True
    assert "totals.refunded_24h is 50" in after.content.decode()
    assert dollars.context["result"]["trace"].approval_needed is True  # 60 EUR + 50
    assert "params.amount is 60 EUR: 120 USD at the tenant&#x27;s rate of 0.5" in (
        dollars.content.decode()
    )
    assert unknown.context["result"] is None
    assert "unknown total &#x27;refunded_1h&#x27;" in unknown.content.decode()
    assert coins.context["result"] is None
    assert "no exchange rate for BTC" in coins.content.decode()


def test_a_superuser_cannot_mix_tenants_in_a_rule_set(db, team, theirs):
    from django.contrib.auth import get_user_model
    from django.test import Client

    sup, _ = team
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="x"))

    response = client.post(
        "/admin/agents/ruleset/add/",
        rules_form(
            sup.pk,
            has_escalation="on",
            max_attempts="2",
            escalation_target=theirs.pk,
            **{
                "handoffs-TOTAL_FORMS": "1",
                "handoffs-0-position": "0",
                "handoffs-0-condition": "turns > 1",
                "handoffs-0-target": theirs.pk,
            },
        ),
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "“Theirs (theirs)” belongs to another tenant." in form.errors["escalation_target"]
    handoff_errors = response.context["inline_admin_formsets"][0].formset.errors
    assert handoff_errors[0]["target"] == ["“Theirs (theirs)” belongs to another tenant."]
    assert not RuleSet.objects.exists()


def test_the_rule_tester_runs_the_pipelines_decide_step_and_keeps_nothing(manager_client, team):
    sup, _ = team
    before = (Conversation.objects.count(), DecisionEvent.objects.count(), Handoff.objects.count())

    response = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {
            "agent": sup.pk,
            "message": "I will contact my lawyer and sue you",
            "risk": "",
            "channel": "web",
            "attempts": "0",
            "turns": "1",
            "language": "en",
            "customer": "{}",
            "action": "",
            "params": "",
        },
    )

    pipeline = response.context["result"]["pipeline"]
    assert pipeline["handoff"] is not None  # as in the pipeline: risk auto-escalation
    assert pipeline["agent_answers"] is False
    escalated = [e for e in pipeline["events"] if e["type"] == "escalated"]
    assert escalated[0]["detail"]["reasonCode"] == "risk"
    assert "legal_threat" in escalated[0]["detail"]["categories"]
    assert "Handed over to people" in response.content.decode()
    after = (Conversation.objects.count(), DecisionEvent.objects.count(), Handoff.objects.count())
    assert after == before  # rolled back


def test_the_rule_tester_says_the_model_would_be_asked_without_calling_it(manager_client, team):
    sup, _ = team
    settings_update(
        level="stack",
        stack=sup,
        changes={"orchestratorEndpoint": "http://127.0.0.1:9/v1", "orchestratorApiKey": "sk-x"},
    )

    response = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {
            "agent": sup.pk,
            "message": "hello there",
            "risk": "",
            "channel": "web",
            "attempts": "0",
            "turns": "1",
            "language": "en",
            "customer": "{}",
            "action": "",
            "params": "",
        },
    )

    pipeline = response.context["result"]["pipeline"]
    assert pipeline["agent_answers"] is True and pipeline["model_asked"] is True
    assert "model-driven orchestrator is asked (not called here)" in response.content.decode()

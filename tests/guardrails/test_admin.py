"""The admin: guardrail policies (validation in place, tenant scoping), the agents' tool
access, and the rule tester's guardrail check of a sample reply."""

from __future__ import annotations

import pytest

from agents.models import Agent, GuardrailPolicy
from tests.agents.test_admin import agent_form

pytestmark = pytest.mark.django_db

URL = "/admin/agents/guardrailpolicy/"


def policy_form(**overrides):
    data = {
        "agent": "",
        "redact_cards": "unknown",
        "redact_national_ids": "unknown",
        "redact_emails": "unknown",
        "redact_phones": "unknown",
        "personal_data_action": "",
        "blocked_topics": "",
        "blocked_phrases": "",
        "blocked_action": "",
        "unperformed_claims": "unknown",
        "claims_action": "",
        "max_length": "",
        "length_action": "",
        "fallback_text": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def billing(tenant):
    return Agent.objects.create(
        tenant=tenant, slug="agent-billing", name="Billing", role="specialist"
    )


@pytest.fixture
def theirs(other_tenant):
    return Agent.objects.create(
        tenant=other_tenant, slug="theirs", name="Theirs", role="specialist"
    )


def test_a_manager_sets_the_tenants_policy(manager_client, tenant):
    response = manager_client.post(
        URL + "add/",
        policy_form(
            redact_emails="true",
            blocked_topics="competitors: ShopNova, BrightCart",
            blocked_phrases="guaranteed returns\n/free\\s+money/",
            blocked_action="block",
            max_length="800",
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    policy = GuardrailPolicy.objects.get()
    assert policy.tenant == tenant and policy.agent is None
    assert policy.as_document() == {
        "emails": True,
        "blockedAction": "block",
        "maxLength": 800,
        "topics": [{"name": "competitors", "keywords": ["ShopNova", "BrightCart"]}],
        "phrases": ["guaranteed returns", "/free\\s+money/"],
    }


def test_a_bad_regular_expression_is_a_form_error_not_a_500(manager_client):
    response = manager_client.post(
        URL + "add/",
        policy_form(blocked_phrases="fine phrase\n/(refund|money/", blocked_topics="no colon"),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert (
        "line 2: /(refund|money/ is not a valid regular expression" in errors["blocked_phrases"][0]
    )
    assert errors["blocked_topics"] == ["line 1: write 'topic: keyword, another keyword'"]
    assert not GuardrailPolicy.objects.exists()


def test_out_of_range_length_and_a_second_tenant_policy_are_form_errors(manager_client, tenant):
    GuardrailPolicy.objects.create(tenant=tenant)

    response = manager_client.post(URL + "add/", policy_form(max_length="0"))

    errors = response.context["adminform"].form.errors
    assert response.status_code == 200
    assert "max_length" in errors
    assert "This tenant already has its guardrail policy." in str(errors)


def test_an_agent_policy_only_names_the_managers_agents(manager_client, billing, theirs):
    page = manager_client.get(URL + "add/")
    choices = list(page.context["adminform"].form.fields["agent"].queryset)
    assert choices == [billing]

    forged = manager_client.post(URL + "add/", policy_form(agent=theirs.pk))
    assert forged.status_code == 200
    assert "agent" in forged.context["adminform"].form.errors

    ok = manager_client.post(URL + "add/", policy_form(agent=billing.pk, redact_phones="true"))
    assert ok.status_code == 302
    assert billing.guardrails.redact_phones is True


def test_a_manager_never_sees_another_tenants_policy(manager_client, other_tenant, theirs):
    policy = GuardrailPolicy.objects.create(tenant=other_tenant, agent=theirs)

    assert manager_client.get(URL).context["cl"].result_count == 0
    assert manager_client.get(f"{URL}{policy.pk}/change/").status_code == 404
    assert manager_client.post(f"{URL}{policy.pk}/delete/", {"post": "yes"}).status_code == 404
    assert GuardrailPolicy.objects.filter(pk=policy.pk).exists()


def test_an_agents_tool_access_is_set_in_its_form(manager_client):
    restricted = manager_client.post(
        "/admin/agents/agent/add/",
        agent_form(restrict_actions="on", allowed_actions=["issue_refund"]),
    )
    assert restricted.status_code == 302, restricted.content.decode()[:2000]
    assert Agent.objects.get(slug="agent-tech").allowed_actions == ["issue_refund"]

    none = manager_client.post(
        "/admin/agents/agent/add/", agent_form(slug="agent-none", restrict_actions="on")
    )
    assert none.status_code == 302
    assert Agent.objects.get(slug="agent-none").allowed_actions == []

    every = manager_client.post(
        "/admin/agents/agent/add/",
        agent_form(slug="agent-all", allowed_actions=["issue_refund"]),  # not restricted
    )
    assert every.status_code == 302
    assert Agent.objects.get(slug="agent-all").allowed_actions is None

    bogus = manager_client.post(
        "/admin/agents/agent/add/",
        agent_form(slug="agent-bad", restrict_actions="on", allowed_actions=["launch_rocket"]),
    )
    assert bogus.status_code == 200
    assert "allowed_actions" in bogus.context["adminform"].form.errors


def run_tester(client, agent, **extra):
    return client.post(
        "/admin/agents/ruleset/tester/",
        {
            "agent": agent.pk,
            "message": "I was charged twice",
            "channel": "web",
            "attempts": "0",
            "turns": "1",
            "language": "en",
            "customer": "",
            "action": "",
            "params": "",
            **extra,
        },
    )


def test_the_rule_tester_shows_what_the_guardrails_do_to_a_sample_reply(
    manager_client, tenant, billing
):
    GuardrailPolicy.objects.create(tenant=tenant, redact_emails=True)

    response = run_tester(
        manager_client,
        billing,
        sample_reply="Mail refunds@acme.test with card 4111 1111 1111 1111.",
    )

    result = response.context["result"]["guardrails"]
    assert result["outcome"] == "redacted"
    assert [f["rule"] for f in result["fired"]] == ["pii.card", "pii.email"]
    assert result["text"] == "Mail [e-mail removed] with card [card number removed]."
    page = response.content.decode()
    assert "Action taken: redacted" in page
    assert "pii.card: redact (1 match)" in page


def test_the_rule_tester_shows_a_claim_and_a_block(manager_client, tenant, billing):
    GuardrailPolicy.objects.create(tenant=tenant, agent=billing, claims_action="block")

    response = run_tester(manager_client, billing, sample_reply="I've refunded you.")

    result = response.context["result"]["guardrails"]
    assert (result["outcome"], result["text"], result["handover"]) == ("blocked", None, True)
    assert "handed to a human" in response.content.decode()


def test_the_rule_tester_tells_when_the_agent_may_not_propose_the_action(manager_client, billing):
    billing.allowed_actions = ["modify_account"]
    billing.save()

    response = run_tester(
        manager_client, billing, action="issue_refund", params='{"orderId": "A", "amount": 5}'
    )

    assert response.context["result"]["action_allowed"] is False
    assert "may not propose this action" in response.content.decode()

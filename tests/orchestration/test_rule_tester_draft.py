"""The rule tester on a draft rule set (issue 20 point 5): a manager or an integration pastes a
rules document that is not saved, sees its lint warnings and the same dry-run decide as the
pipeline on a sample message; nothing is saved, through the API or the admin page."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from agents.models import RuleSet
from agents.rule_sets import rules_replace
from conversations.models import Conversation, DecisionEvent
from tests.factories import make_api_key, make_person, make_team

pytestmark = pytest.mark.django_db

URL = "/api/v1/agents/agent-sup/orchestration/rules/test"
MISSPELT = {"handoffs": [{"condition": 'intent == "biling"', "targetAgentId": "agent-billing"}]}
TO_BILLING = {"handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "agent-billing"}]}
INVOICE = "I was charged twice on my last invoice"


def _nothing_kept():
    return (
        RuleSet.objects.count(),
        Conversation.objects.count(),
        DecisionEvent.objects.count(),
    )


def test_a_draft_is_linted_and_tried_without_being_saved(key_client, team):
    before = _nothing_kept()

    response = key_client.post(URL, {"message": INVOICE, "draft": MISSPELT}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["rules"] == {"owner": "agent-sup", "version": None, "draft": True}
    [warning] = body["warnings"]
    assert warning["code"] == "unknown_intent"
    assert warning["path"] == "handoffs[0].condition"
    assert "billing" in warning["message"]  # did you mean
    # the misspelt rule never fires: the router sends the invoice to billing
    assert body["decision"] == "the current agent answers"
    assert [o["fired"] for o in body["trace"]] == [False]
    assert _nothing_kept() == before


def test_the_draft_decides_the_dry_run_in_place_of_the_saved_rules(key_client, team):
    sup, *_ = team
    rules_replace(
        agent=sup,
        document={
            "handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "agent-tech"}]
        },
    )

    saved = key_client.post(URL, {"message": INVOICE}, format="json").json()
    drafted = key_client.post(URL, {"message": INVOICE, "draft": TO_BILLING}, format="json").json()

    assert saved["rules"] == {"owner": "agent-sup", "version": 1, "draft": False}
    assert saved["pipeline"]["agentId"] == "agent-tech"
    assert drafted["decision"] == "hand off to agent-billing"
    assert drafted["pipeline"]["agentId"] == "agent-billing"
    fired = [e for e in drafted["pipeline"]["events"] if e["type"] == "rule.fired"]
    assert fired[0]["rule"].startswith("agent-sup (draft)")
    assert drafted["pipeline"]["notices"] == ["I'm transferring you to Billing."]
    # the saved rules are as they were
    sup.refresh_from_db()
    assert sup.rules.version == 1
    assert sup.rules.handoffs.get().target.slug == "agent-tech"


def test_an_empty_draft_tries_no_rules_and_risk_still_hands_over(key_client, team):
    sup, *_ = team
    rules_replace(agent=sup, document=TO_BILLING)

    body = key_client.post(
        URL, {"message": "I will contact my lawyer and sue you", "draft": {}}, format="json"
    ).json()

    assert body["rules"]["draft"] is True
    assert body["trace"] == []
    assert body["detected"]["risk"] == ["legal_threat"]
    assert body["pipeline"]["handoff"] is not None
    assert body["pipeline"]["state"] == "handing_off"


def test_a_draft_inherited_by_a_specialist_applies_to_it(key_client, team):
    body = key_client.post(
        "/api/v1/agents/agent-tech/orchestration/rules/test",
        {"message": INVOICE, "draft": TO_BILLING},
        format="json",
    ).json()

    # a draft of the specialist's own rules: it hands the invoice to billing
    assert body["rules"]["owner"] == "agent-tech"
    assert body["pipeline"]["agentId"] == "agent-billing"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"draft": {"handoffs": [{"condition": "intent ==", "targetAgentId": "agent-billing"}]}},
            "draft.handoffs[0].condition",
        ),
        (
            {"draft": {"handoffs": [{"condition": "true", "targetAgentId": "agent-nobody"}]}},
            "draft.handoffs[0].targetAgentId",
        ),
        ({"draft": {"colour": "blue"}}, "draft.colour"),
        ({"draft": ["handoffs"]}, "draft"),
        ({"signals": {"risk": ["grumpy"]}}, "signals.risk"),
        ({"signals": {"sentiment": 3}}, "signals.sentiment"),
        ({"attempts": "many"}, "attempts"),
        ({"channel": "fax"}, "channel"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(key_client, team, body, field):
    before = _nothing_kept()

    response = key_client.post(URL, body, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert _nothing_kept() == before


def test_another_tenants_agent_is_not_found_and_people_without_the_role_are_refused(
    team, other_tenant, tenant
):
    make_team(other_tenant)
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")
    assert (
        theirs.post(
            "/api/v1/agents/agent-nobody/orchestration/rules/test", {}, format="json"
        ).status_code
        == 404
    )

    person = make_person(tenant=tenant, roles=["agent"], username="acme-human")
    client = APIClient()
    client.force_authenticate(person)
    assert client.post(URL, {"message": INVOICE}, format="json").status_code == 403


def test_the_admin_tester_runs_a_draft_and_shows_its_warnings(manager_client, team):
    sup, *_ = team
    before = _nothing_kept()

    response = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {
            "agent": sup.pk,
            "message": INVOICE,
            "channel": "web",
            "attempts": "0",
            "turns": "1",
            "language": "en",
            "draft": json.dumps(MISSPELT),
        },
    )

    assert response.status_code == 200
    result = response.context["result"]
    assert result["draft"] is True
    page = response.content.decode()
    assert 'id="draft-applied"' in page
    assert "Rule lint of the draft" in page
    assert 'data-code="unknown_intent"' in page
    assert _nothing_kept() == before


def test_the_admin_tester_refuses_a_bad_draft_at_its_field(manager_client, team):
    sup, *_ = team
    response = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {
            "agent": sup.pk,
            "channel": "web",
            "attempts": "0",
            "turns": "1",
            "draft": '{"handoffs": [{"condition": "intent ==", "targetAgentId": "agent-billing"}]}',
        },
    )

    assert response.context["result"] is None
    assert any(
        e.startswith("handoffs[0].condition:") for e in response.context["form"].errors["draft"]
    )
    not_json = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {"agent": sup.pk, "channel": "web", "attempts": "0", "turns": "1", "draft": "{oops"},
    )
    assert "Not JSON" in not_json.context["form"].errors["draft"][0]


def test_the_admin_tester_fills_the_draft_with_the_agents_rules(manager_client, team):
    sup, *_ = team
    rules_replace(agent=sup, document=TO_BILLING)

    page = manager_client.get(f"/admin/agents/ruleset/tester/?agent={sup.pk}&draft=current")

    draft = page.context["form"]["draft"].value()
    assert json.loads(draft)["handoffs"] == TO_BILLING["handoffs"]


def test_the_tester_tries_a_rule_on_a_signed_in_customer(key_client, team):
    draft = {"handoffs": [{"condition": "verified == true", "targetAgentId": "agent-billing"}]}

    signed_in = key_client.post(
        URL, {"message": "Hello", "verified": True, "draft": draft}, format="json"
    ).json()
    anonymous = key_client.post(URL, {"message": "Hello", "draft": draft}, format="json").json()

    assert [o["fired"] for o in signed_in["trace"]] == [True]
    assert [o["fired"] for o in anonymous["trace"]] == [False]


def test_a_verified_that_is_no_boolean_is_a_400_naming_it(key_client, team):
    refused = key_client.post(URL, {"message": "Hello", "verified": "yes"}, format="json")

    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == ["verified"]

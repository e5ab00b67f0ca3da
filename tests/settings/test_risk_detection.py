"""Risk detection configurable per stack (issue 20 point 4): the built-in phrase rules and
thresholds are the global defaults; a tenant or a stack adds phrases, switches built-in rules
off and sets thresholds by category, inherited global -> tenant -> stack like the other
orchestrator settings. The pipeline, the rule tester and the stack templates use them; the API
refuses bad input with the field and the reason."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from agents.models import Agent
from agents.orchestrator_settings import settings_overview, settings_update
from agents.services import agent_create
from conversations.models import DecisionEvent
from stacks.documents import stack_export
from stacks.services import StackInvalid, stack_import
from tests.factories import make_api_key, make_team
from tests.orchestration.test_pipeline import say, start

pytestmark = pytest.mark.django_db

CHARGEBACK = "Fine, I will just file a chargeback with my card issuer."


def _shop(tenant) -> Agent:
    """A second stack of the tenant: a supervisor on its own."""
    return agent_create(tenant=tenant, slug="agent-shop", name="Shop", role="supervisor")


def _escalated_for_risk(conversation_id) -> bool:
    return DecisionEvent.objects.filter(
        conversation_id=conversation_id, type="escalated", rule="riskAutoEscalation"
    ).exists()


def test_a_stack_specific_phrase_escalates_in_that_stack_only(key_client, team, tenant):
    sup, *_ = team
    _shop(tenant)
    settings_update(
        level="stack", stack=sup, changes={"riskDetection": {"churn_risk": {"add": ["chargeback"]}}}
    )

    front = start(key_client)
    body = say(key_client, front["id"], CHARGEBACK)
    assert body["state"] == "handing_off"
    assert body["message"]["signals"]["risk"] == ["churn_risk"]
    assert _escalated_for_risk(front["id"])
    classified = DecisionEvent.objects.get(conversation_id=front["id"], type="message.classified")
    assert {
        "category": "churn_risk",
        "rule": "phrase",
        "text": "chargeback",
        "weight": 1.0,
    } in classified.detail["risk"]

    shop = start(key_client, agent="agent-shop")
    body = say(key_client, shop["id"], CHARGEBACK)
    assert body["state"] == "active"
    assert body["message"]["signals"]["risk"] == []
    assert not _escalated_for_risk(shop["id"])


def test_a_negated_phrase_does_not_count(key_client, team, tenant):
    settings_update(
        level="tenant",
        tenant=tenant,
        changes={"riskDetection": {"churn_risk": {"add": ["chargeback"]}}},
    )
    conv = start(key_client)

    body = say(key_client, conv["id"], "I do not want a chargeback, just the refund please")

    assert body["message"]["signals"]["risk"] == []


def test_a_stack_switches_a_built_in_rule_off_and_a_threshold_ignores_weak_signals(
    key_client, team, tenant
):
    sup, *_ = team
    settings_update(
        level="stack",
        stack=sup,
        changes={
            "riskDetection": {
                "legal_threat": {"remove": ["sue"]},
                "frustration": {"threshold": 0.95},
            }
        },
    )
    conv = start(key_client)

    sued = say(key_client, conv["id"], "Then I will sue.")
    assert "legal_threat" not in sued["message"]["signals"]["risk"]
    # one angry word (0.9) stays under 0.95
    angry = say(key_client, conv["id"], "This is ridiculous.")
    assert angry["message"]["signals"]["risk"] == []
    # two signals together reach it (1 - 0.1 * 0.1 = 0.99)
    both = say(key_client, conv["id"], "This is ridiculous, I am fed up.")
    assert both["message"]["signals"]["risk"] == ["frustration"]


def test_a_cleared_setting_falls_back_to_the_level_above(key_client, team, tenant):
    sup, *_ = team
    settings_update(
        level="tenant",
        tenant=tenant,
        changes={"riskDetection": {"churn_risk": {"add": ["chargeback"], "threshold": 0.6}}},
    )
    settings_update(
        level="stack",
        stack=sup,
        changes={"riskDetection": {"churn_risk": {"remove": ["chargeback"], "threshold": 0.8}}},
    )
    overview = settings_overview(tenant=tenant, agent=sup)
    assert overview.effective["riskDetection"]["churn_risk"] == {
        "add": [],
        "remove": [],
        "threshold": 0.8,
    }
    assert overview.sources["riskDetection"] == "stack"
    conv = start(key_client)
    assert say(key_client, conv["id"], CHARGEBACK)["message"]["signals"]["risk"] == []

    settings_update(level="stack", stack=sup, changes={"riskDetection": None})

    overview = settings_overview(tenant=tenant, agent=sup)
    assert overview.effective["riskDetection"]["churn_risk"] == {
        "add": ["chargeback"],
        "remove": [],
        "threshold": 0.6,
    }
    assert overview.sources["riskDetection"] == "tenant"
    again = start(key_client)
    assert say(key_client, again["id"], CHARGEBACK)["state"] == "handing_off"


def test_which_categories_hand_over_is_still_risk_categories(key_client, team, tenant):
    sup, *_ = team
    settings_update(
        level="stack",
        stack=sup,
        changes={
            "riskDetection": {"churn_risk": {"add": ["chargeback"]}},
            "riskCategories": ["legal_threat"],
        },
    )
    conv = start(key_client)

    body = say(key_client, conv["id"], CHARGEBACK)

    assert body["message"]["signals"]["risk"] == ["churn_risk"]  # detected, not escalated
    assert body["state"] == "active"


def test_tenants_never_see_each_others_phrases(key_client, team, tenant, other_tenant):
    settings_update(
        level="tenant",
        tenant=tenant,
        changes={"riskDetection": {"churn_risk": {"add": ["chargeback"]}}},
    )
    make_team(other_tenant)
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")

    conv = start(theirs)
    body = say(theirs, conv["id"], CHARGEBACK)

    assert body["message"]["signals"]["risk"] == []
    answer = theirs.get("/api/v1/orchestrator-settings").json()
    assert answer["effective"]["riskDetection"]["churn_risk"]["add"] == []
    assert "riskDetection" not in answer["levels"]["tenant"]
    # our phrase is not one they could switch off: in their tenant nobody added it
    refused = theirs.patch(
        "/api/v1/agents/agent-sup/orchestrator-settings",
        {"riskDetection": {"churn_risk": {"remove": ["chargeback"]}}},
        format="json",
    )
    assert refused.status_code == 400
    assert "nor a phrase added above" in refused.json()["error"]["fields"]["riskDetection"][0]
    # and our stacks are not theirs to read or change
    _shop(tenant)
    url = "/api/v1/agents/agent-shop/orchestrator-settings"
    assert theirs.get(url).status_code == 404
    assert theirs.patch(url, {"riskDetection": None}, format="json").status_code == 404


def test_the_api_sets_and_clears_risk_detection(key_client, team):
    url = "/api/v1/agents/agent-billing/orchestrator-settings"

    response = key_client.patch(
        url,
        {"riskDetection": {"legal_threat": {"add": ["small claims court"], "threshold": 0.7}}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["sources"]["riskDetection"] == "stack"
    assert body["levels"]["stack"]["riskDetection"] == {
        "legal_threat": {"add": ["small claims court"], "threshold": 0.7}
    }
    assert body["effective"]["riskDetection"]["legal_threat"]["threshold"] == 0.7

    cleared = key_client.patch(url, {"riskDetection": None}, format="json").json()
    assert cleared["sources"]["riskDetection"] == "global"
    assert cleared["effective"]["riskDetection"]["legal_threat"]["add"] == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"legal_threat": {"add": ["  "]}}, "legal_threat.add[0]: a phrase cannot be empty."),
        ({"legal_threat": {"add": [3]}}, "legal_threat.add[0]: a phrase must be text."),
        ({"legal_threat": {"threshold": 1.5}}, "legal_threat.threshold: 1.5 is outside 0..1."),
        ({"legal_threat": {"threshold": -0.1}}, "legal_threat.threshold: -0.1 is outside 0..1."),
        (
            {"legal_threat": {"threshold": True}},
            "legal_threat.threshold: enter a number from 0 to 1.",
        ),
        ({"boredom": {"add": ["yawn"]}}, 'unknown risk category "boredom"'),
        ({"legal_threat": {"thresold": 0.5}}, "(did you mean 'threshold'?)"),
        ({"legal_threat": {"remove": ["suee"]}}, "(did you mean 'sue'?)"),
        ({"legal_threat": {"add": ["x"], "remove": ["x"]}}, '"x" is both added and removed.'),
        (["legal_threat"], "Must be an object by risk category"),
    ],
)
def test_bad_risk_detection_is_a_400_naming_the_field_and_the_reason(
    key_client, team, value, reason
):
    response = key_client.patch(
        "/api/v1/orchestrator-settings", {"riskDetection": value}, format="json"
    )

    assert response.status_code == 400
    messages = response.json()["error"]["fields"]["riskDetection"]
    assert any(reason in message for message in messages), messages
    assert settings_overview(tenant=team[0].tenant).sources["riskDetection"] == "global"


def test_the_rule_tester_uses_the_stacks_phrases(manager_client, team, tenant):
    sup, *_ = team
    settings_update(
        level="stack", stack=sup, changes={"riskDetection": {"churn_risk": {"add": ["chargeback"]}}}
    )

    response = manager_client.post(
        "/admin/agents/ruleset/tester/",
        {
            "agent": sup.pk,
            "message": CHARGEBACK,
            "channel": "web",
            "attempts": "0",
            "turns": "1",
            "language": "en",
        },
    )

    result = response.context["result"]
    assert result["signals"].risk == ("churn_risk",)
    assert result["pipeline"]["handoff"] is not None
    assert [e["type"] for e in result["pipeline"]["events"]][:2] == ["state.changed", "escalated"]


def test_stack_templates_carry_risk_detection(tenant, other_tenant, team):
    sup, *_ = team
    settings_update(
        level="stack",
        stack=sup,
        changes={
            "riskDetection": {"legal_threat": {"add": ["see you in court"], "threshold": 0.6}}
        },
    )

    document = stack_export(root=sup)
    assert document["settings"]["riskDetection"] == {
        "legal_threat": {"add": ["see you in court"], "threshold": 0.6}
    }
    stack_import(tenant=other_tenant, document=document)

    root = Agent.objects.get(tenant=other_tenant, slug="agent-sup")
    effective = settings_overview(tenant=other_tenant, agent=root).effective["riskDetection"]
    assert effective["legal_threat"] == {
        "add": ["see you in court"],
        "remove": [],
        "threshold": 0.6,
    }


def test_an_imported_template_with_bad_risk_detection_names_the_path(tenant, team):
    document = stack_export(root=team[0])
    document["settings"] = {"riskDetection": {"legal_threat": {"threshold": 2}}}

    with pytest.raises(StackInvalid) as caught:
        stack_import(tenant=tenant, document=document, prefix="copy")

    errors = caught.value.errors
    assert errors["template.settings.riskDetection"] == [
        "legal_threat.threshold: 2 is outside 0..1."
    ]

"""A webhook runtime's returned ``signals`` (issue 18, point 7) feed risk auto-escalation and
the turn's rules, like a caller's ``signals``."""

from __future__ import annotations

import pytest

from agents.models import Agent
from agents.rule_sets import rules_replace
from agents.runtimes.base import merge_signals
from conversations.models import DecisionEvent
from core.secret_store import seal
from tests.runtimes.support import WEBHOOK_SECRET, FakeServer, Respond, webhook_check

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(settings):
    settings.RUNTIME_ALLOW_PRIVATE_NETWORKS = True
    with FakeServer(default=lambda seen: Respond(body={"reply": "ok"}), check=webhook_check) as s:
        yield s


@pytest.fixture
def hooked(tenant, hook):
    return Agent.objects.create(
        tenant=tenant,
        slug="hooked",
        name="Hooked",
        role="specialist",
        runtime="webhook",
        runtime_config={"url": f"{hook.url}/agent"},
        runtime_secret=seal(WEBHOOK_SECRET),
    )


def talk(client, text="Hello"):
    conv = client.post(
        "/api/v1/conversations",
        {"agentId": "hooked", "channel": "web", "customer": {"id": "c-1"}},
        format="json",
    ).json()
    response = client.post(
        f"/api/v1/conversations/{conv['id']}/messages", {"text": text}, format="json"
    )
    assert response.status_code == 201, response.json()
    return conv["id"], response.json()


def test_merge_signals_reports_what_changed():
    merged, changed = merge_signals(
        {"intent": "greeting", "sentiment": 0.1, "risk": []},
        {"intent": "billing", "risk": ["legal_threat", "churn_risk"]},
    )

    assert merged == {"intent": "billing", "sentiment": 0.1, "risk": ["churn_risk", "legal_threat"]}
    assert changed == ["intent", "risk"]
    assert merge_signals({"intent": "x", "sentiment": 0, "risk": []}, None)[1] == []


def test_a_risk_the_webhook_reports_escalates_to_a_human(key_client, hook, hooked):
    hook.then(Respond(body={"reply": "I see.", "signals": {"risk": ["legal_threat"]}}))

    conversation_id, body = talk(key_client)

    assert body["reply"]["text"] == "I see."
    assert body["state"] == "handing_off"
    assert body["handoff"] is not None
    types = list(
        DecisionEvent.objects.filter(conversation_id=conversation_id)
        .order_by("id")
        .values_list("type", "detail")
    )
    from_reply = [d for t, d in types if t == "message.classified" and d.get("by")]
    assert from_reply == [
        {**from_reply[0], "by": "hooked", "overridden": ["risk"]},
    ]
    assert from_reply[0]["signals"]["risk"] == ["legal_threat"]
    escalated = [d for t, d in types if t == "escalated"]
    assert escalated[0]["reason"] == "risk" and escalated[0]["categories"] == ["legal_threat"]


def test_an_intent_the_webhook_reports_fires_the_handoff_rule(key_client, hook, hooked, tenant):
    Agent.objects.create(tenant=tenant, slug="billing", name="Billing", role="specialist")
    rules_replace(
        agent=hooked,
        document={"handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "billing"}]},
    )
    hook.then(Respond(body={"reply": "Let me check.", "signals": {"intent": "billing"}}))

    conversation_id, body = talk(key_client, "Something odd happened")

    assert body["state"] == "active"
    assert body["currentAgentId"] == "billing"
    fired = DecisionEvent.objects.filter(conversation_id=conversation_id, type="rule.fired")
    assert [e.detail["kind"] for e in fired] == ["handoff"]


def test_signals_that_change_nothing_record_nothing(key_client, hook, hooked):
    hook.then(Respond(body={"reply": "Hi!", "signals": {"intent": "greeting"}}))

    conversation_id, body = talk(key_client, "hello there")

    assert body["state"] == "active"
    classified = DecisionEvent.objects.filter(
        conversation_id=conversation_id, type="message.classified"
    )
    assert classified.count() == 1


def test_the_agent_hears_whether_the_website_vouched_for_the_customer(
    key_client, hook, hooked, tenant
):
    from conversations.services import conversation_start

    signed_in, _ = conversation_start(
        tenant=tenant,
        agent=hooked,
        channel="web",
        customer={"id": "user-42", "name": "Lee", "email": "lee@example.com"},
        verified=True,
    )
    hook.then(Respond(body={"reply": "Hi Lee."}), Respond(body={"reply": "Hi."}))

    key_client.post(
        f"/api/v1/conversations/{signed_in.pk}/messages", {"text": "Hello"}, format="json"
    )
    talk(key_client)  # an integration's customer: nobody vouched

    customers = [seen.json["conversation"]["customer"] for seen in hook.seen]
    assert [(c["id"], c["verified"]) for c in customers] == [("user-42", True), ("c-1", False)]

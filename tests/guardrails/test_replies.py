"""Reply guardrails in the orchestrator: every AI reply is checked before it is stored or
sent, and every trigger is a decision event naming the rule."""

from __future__ import annotations

import pytest

from agents.guardrails.policy import FALLBACK_TEXT
from agents.models import GuardrailPolicy
from approvals.models import ActionExecution, ApprovalRequest
from conversations.models import (
    Conversation,
    Message,
)
from tests.guardrails.support import billing_agent, events, say, start

pytestmark = pytest.mark.django_db


def test_a_refund_claimed_while_it_waits_for_approval_is_rewritten(tenant, key_client):
    billing_agent(tenant, answer="Sorry about that! I've refunded you the duplicate payment.")
    conv = start(key_client, "agent-billing")

    answer = say(key_client, conv)

    assert answer["reply"]["text"] == FALLBACK_TEXT
    assert answer["approval"]["status"] == "pending"  # the proposal itself still goes on
    (event,) = events(conv, "guardrail.blocked")
    assert event.rule == "claim.issue_refund"
    assert event.agent_slug == "agent-billing"
    assert event.detail["action"] == "fallback"
    assert event.detail["outcome"] == "fallback"
    replied = events(conv, "agent.replied")[-1]
    assert replied.detail["guardrails"] == "fallback"
    assert replied.detail["answered"] is False
    assert not Message.objects.filter(text__contains="I've refunded").exists()


def test_a_claim_passes_once_the_refund_has_run(tenant, key_client):
    billing_agent(
        tenant,
        answer="Your refund has been processed.",
        params={"orderId": "A1", "amount": 20},
    )
    conv = start(key_client, "agent-billing")
    ran = key_client.post(
        f"/api/v1/conversations/{conv}/actions",
        {
            "action": "issue_refund",
            "params": {"orderId": "A1", "amount": 20},
            "idempotencyKey": "k",
        },
        format="json",
    )
    assert ran.status_code == 200, ran.json()
    assert ActionExecution.objects.get().status == "succeeded"

    answer = say(key_client, conv)

    assert answer["reply"]["text"] == "Your refund has been processed."
    assert events(conv, "guardrail.blocked", "guardrail.redacted") == []


def test_a_card_number_in_a_reply_is_redacted_and_the_event_keeps_no_copy(tenant, key_client):
    billing_agent(
        tenant,
        answer="I see two charges on card 4111 1111 1111 1111; one will be reversed.",
        action="",
        params={},
    )
    conv = start(key_client, "agent-billing")

    answer = say(key_client, conv)

    assert answer["reply"]["text"] == (
        "I see two charges on card [card number removed]; one will be reversed."
    )
    (event,) = events(conv, "guardrail.redacted")
    assert event.rule == "pii.card"
    assert event.detail == {
        "v": 1,
        "rule": "pii.card",
        "action": "redact",
        "count": 1,
        "outcome": "redacted",
        "replyLength": 68,
    }
    assert "4111" not in str([e.detail for e in events(conv)])
    assert not Message.objects.filter(text__contains="4111").exists()


def test_a_blocking_guardrail_sends_nothing_and_hands_over(tenant, key_client):
    billing_agent(tenant, answer="You could try ShopNova instead.", action="", params={})
    GuardrailPolicy.objects.create(
        tenant=tenant, blocked_topics="competitors: ShopNova", blocked_action="block"
    )
    conv = start(key_client, "agent-billing")

    answer = say(key_client, conv)

    assert answer["reply"] is None
    assert answer["handoff"] is not None
    assert answer["state"] == "handing_off"
    (event,) = events(conv, "guardrail.blocked")
    assert (event.rule, event.detail["action"]) == ("topic.competitors", "block")
    assert not Message.objects.filter(text__contains="ShopNova").exists()


def test_a_blocked_reply_drops_its_proposed_action(tenant, key_client):
    billing_agent(tenant, answer="I've refunded you.")
    GuardrailPolicy.objects.create(tenant=tenant, claims_action="block")
    conv = start(key_client, "agent-billing")

    answer = say(key_client, conv)

    assert answer["reply"] is None and answer["approval"] is None
    assert not ApprovalRequest.objects.exists()
    assert Conversation.objects.get(pk=conv).state == "handing_off"


def test_the_agents_policy_overrides_the_tenants(tenant, key_client):
    agent = billing_agent(
        tenant, answer="We emailed billing@acme.test about it.", action="", params={}
    )
    GuardrailPolicy.objects.create(tenant=tenant, redact_emails=True)
    conv = start(key_client, "agent-billing")
    assert say(key_client, conv)["reply"]["text"] == "We emailed [e-mail removed] about it."

    GuardrailPolicy.objects.create(tenant=tenant, agent=agent, redact_emails=False)
    from core.config_version import config_changed

    config_changed(tenant.pk)
    again = say(key_client, conv, "Still a double charge on my statement")
    assert again["reply"]["text"] == "We emailed billing@acme.test about it."


def test_another_tenants_policy_does_not_apply(tenant, other_tenant, key_client):
    billing_agent(tenant, answer="Try ShopNova.", action="", params={})
    GuardrailPolicy.objects.create(
        tenant=other_tenant, blocked_topics="competitors: ShopNova", blocked_action="block"
    )
    conv = start(key_client, "agent-billing")

    assert say(key_client, conv)["reply"]["text"] == "Try ShopNova."

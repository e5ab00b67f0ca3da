"""What a person sees of the AI's work when a conversation comes to them (issue 19, points 1
and 6; issue 18, point 3): every action, approval, execution and guardrail intervention with
amounts, who decided and why, in time order; a brief (why, the trigger quoted, what the
customer wants, what was done, next steps); suggestions never empty, for several triggers;
and a fixed number of queries however much the AI did."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Agent
from agents.rule_sets import rules_replace
from approvals.models import ActionExecution
from approvals.services import action_propose, approval_decide, execution_run
from conversations.models import Conversation, Message
from conversations.services import conversation_start
from handover.models import Handoff
from orchestration.activity import activity_of, agent_names
from orchestration.inbox import inbox_snapshot
from orchestration.packs import pack_build
from orchestration.turns import conversation_receive_message
from tests.conftest import login
from tests.factories import make_person

pytestmark = pytest.mark.django_db


def open_conversation(tenant, *, name="Kim", channel="web", customer_id=None):
    entry = Agent.objects.get(tenant=tenant, slug="agent-sup")
    conversation, _ = conversation_start(
        tenant=tenant,
        agent=entry,
        channel=channel,
        customer={
            "id": customer_id or f"c-{name.lower()}",
            "name": name,
            **({"email": "kim@example.com"} if channel == "email" else {}),
        },
    )
    return conversation


def refund(conversation, amount, key, order="A-12345"):
    conversation = Conversation.objects.select_related("tenant", "current_agent").get(
        pk=conversation.pk
    )
    return action_propose(
        conversation=conversation,
        action="issue_refund",
        params={"orderId": order, "amount": amount},
        idempotency_key=key,
        requested_by_label="agent:agent-billing",
        agent_slug="agent-billing",
    )


def ai_did_things(conversation, priya):
    """A 49 EUR refund carried out (below the threshold), a 130 EUR one denied with a reason."""
    done = refund(conversation, 49, "r-1")
    execution_run(execution_id=done.execution.pk)
    asked = refund(conversation, 130, "r-2")
    approval_decide(
        approval=asked.approval, user=priya, verdict="deny", reason="Over the goodwill budget"
    )


def hand_over_now(conversation, text="I want a human please"):
    conversation_receive_message(conversation=conversation, text=text)
    return Handoff.objects.get(conversation=conversation)


def test_the_inbox_shows_every_action_with_amounts_deciders_and_reasons_in_time_order(
    tenant, team, ada
):
    priya = make_person(tenant=tenant, roles=["approver"], username="priya-2")
    rules_replace(
        agent=team[0],
        document={
            "escalation": {"intents": ["human_agent"], "escalateToHuman": True},
            "approvals": {
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": ["priya-2"],
            },
        },
    )
    conversation = open_conversation(tenant)
    conversation_receive_message(conversation=conversation, text="My order A-12345 is broken")
    ai_did_things(conversation, priya)
    hand_over_now(conversation)

    body = login(ada).get(f"/inbox/conversations/{conversation.pk}/").json()

    steps = [(s["step"], s.get("amount"), s.get("currency")) for s in body["activity"]]
    assert steps == [
        ("executed", "49.00", "EUR"),
        ("requested", "130.00", "EUR"),
        ("denied", "130.00", "EUR"),
    ]
    executed, requested, denied = body["activity"]
    assert executed["text"] == (
        "Refund of 49.00 EUR for order A-12345: carried out, proposed by the AI (Billing), "
        "no approval needed"
    )
    assert requested["by"] == "the AI (Billing)"
    assert (denied["by"], denied["reason"]) == ("priya-2", "Over the goodwill budget")
    assert "Over the goodwill budget" in denied["text"]
    at = [s["at"] for s in body["activity"]]
    assert at == sorted(at)
    brief = body["handoff"]["pack"]["brief"]
    assert brief["done"] == [executed["text"], denied["text"]]
    suggestions = body["handoff"]["pack"]["suggestions"]
    assert any("49.00 EUR" in s and "already carried out" in s for s in suggestions)
    assert any("130.00 EUR" in s and "denied (Over the goodwill budget)" in s for s in suggestions)


def test_a_guardrail_that_refused_an_action_is_shown(tenant, team, ada):
    billing = team[1]
    billing.allowed_actions = ["modify_account"]
    billing.save(update_fields=["allowed_actions"])
    conversation = open_conversation(tenant)
    conversation.current_agent = billing
    conversation.save(update_fields=["current_agent"])
    with pytest.raises(Exception, match="may not propose issue_refund"):
        refund(conversation, 20, "g-1")

    steps = activity_of(conversation, agents=agent_names(tenant.pk))

    assert [(s["kind"], s["step"], s["rule"]) for s in steps] == [
        ("guardrail", "blocked", "tool_access")
    ]
    assert steps[0]["text"] == (
        "Guardrail: the AI (Billing) is not allowed to propose this: Refund of 20.00 for order "
        "A-12345; refused"
    )
    assert steps[0]["amount"] == "20.00"


def test_the_pack_endpoint_reads_in_a_fixed_number_of_queries(
    tenant, team, ada, django_assert_num_queries
):
    priya = make_person(tenant=tenant, roles=["approver"], username="priya-3")
    rules_replace(
        agent=team[0],
        document={
            "escalation": {"intents": ["human_agent"], "escalateToHuman": True},
            "approvals": {
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": ["priya-3"],
            },
        },
    )
    small = open_conversation(tenant, name="Ann")
    ai_did_things(small, priya)
    hand_over_now(small)
    large = open_conversation(tenant, name="Ben")
    for n in range(4):
        ai_did_things(large, priya) if n == 0 else None
        done = refund(large, 10 + n, f"more-{n}")
        execution_run(execution_id=done.execution.pk)
    hand_over_now(large)
    client = login(ada)
    client.get(f"/inbox/conversations/{small.pk}/")  # the session and the person are warm
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/inbox/conversations/{small.pk}/").status_code == 200

    with django_assert_num_queries(len(few.captured_queries)):
        body = client.get(f"/inbox/conversations/{large.pk}/").json()
    assert len(body["activity"]) == 7


def test_the_inbox_snapshot_reads_in_a_fixed_number_of_queries(
    tenant, team, ada, django_assert_num_queries
):
    first = open_conversation(tenant, name="Ann")
    hand_over_now(first)
    pack_build(handoff_id=Handoff.objects.get(conversation=first).pk)
    inbox_snapshot(ada, tenant)  # what is read once per process is read
    with CaptureQueriesContext(connection) as few:
        inbox_snapshot(ada, tenant)
    for name in ("Ben", "Cy", "Di"):
        other = open_conversation(tenant, name=name)
        hand_over_now(other)
        pack_build(handoff_id=Handoff.objects.get(conversation=other).pk)

    with django_assert_num_queries(len(few.captured_queries)):
        snapshot = inbox_snapshot(ada, tenant)
    assert len(snapshot["handoffs"]) == 4
    assert all(h["pack"]["brief"]["next"] for h in snapshot["handoffs"])


# --- the brief, for several triggers ------------------------------------------------------------


def built(conversation):
    handoff = Handoff.objects.get(conversation=conversation)
    return pack_build(handoff_id=handoff.pk)


def test_an_explicit_request_for_a_person(tenant, team):
    conversation = open_conversation(tenant)
    conversation_receive_message(conversation=conversation, text="I was charged twice")
    hand_over_now(conversation, "Can I talk to a human please?")

    pack = built(conversation)

    assert pack.brief["why"] == "The customer asked for a person"
    assert pack.brief["trigger"]["text"] == "Can I talk to a human please?"
    assert pack.brief["done"] == []
    assert pack.suggestions[0] == "The customer asked for a person: acknowledge that first."
    assert pack.summary.startswith(
        "The customer asked for a person: \u201cCan I talk to a human please?\u201d. Wants: "
    )
    assert "Nothing done yet." in pack.summary


def test_a_risk_quotes_the_message_that_carried_it(tenant, team):
    conversation = open_conversation(tenant)
    conversation_receive_message(conversation=conversation, text="Where is my parcel?")
    conversation_receive_message(
        conversation=conversation,
        text="This is outrageous, I will sue you and contact my lawyer",
    )
    handoff = Handoff.objects.get(conversation=conversation)
    assert handoff.reason == "risk"

    pack = built(conversation)

    assert pack.brief["why"].startswith("The AI detected ")
    assert "a legal threat" in pack.brief["why"]
    assert "my lawyer" in pack.brief["trigger"]["text"]
    assert "A legal threat was made: stay factual and involve a team lead." in pack.suggestions


def test_a_legal_question_on_email_gets_next_steps(tenant, team):
    rules_replace(
        agent=team[0],
        document={"escalation": {"intents": ["legal_question"], "escalateToHuman": True}},
    )
    conversation = open_conversation(tenant, channel="email")
    conversation_receive_message(
        conversation=conversation,
        text="Is your warranty clause enforceable in Germany?",
        signals={"intent": "legal_question"},
    )
    handoff = Handoff.objects.get(conversation=conversation)
    assert handoff.mode == "cold"

    pack = built(conversation)

    assert pack.suggestions  # never []
    assert pack.suggestions[0].startswith("A legal question: give no legal advice yourself")
    assert any(s.startswith("Reply by e-mail") for s in pack.suggestions)
    assert pack.brief["why"] == "An escalation rule sends legal question to people"
    assert pack.brief["wants"] == "An answer to a legal question"


def test_a_refund_pending_approval_is_a_next_step(tenant, team):
    conversation = open_conversation(tenant)
    conversation_receive_message(conversation=conversation, text="Refund order A-12345 please")
    refund(conversation, 150, "p-1")
    hand_over_now(conversation)

    pack = built(conversation)

    assert pack.brief["done"] == [
        "Refund of 150.00 EUR for order A-12345: proposed by the AI (Billing), needs approval "
        "because params.amount > 100 (params.amount is 150) \u00b7 waiting for a decision"
    ]
    assert any(
        s.startswith("Refund of 150.00 EUR for order A-12345 is waiting for approval")
        for s in pack.suggestions
    )
    assert "A refund needs approval when params.amount > 100 (the tenant's rule)." in (
        pack.suggestions
    )


def test_another_tenants_actions_never_show(tenant, team, other_tenant, ada):
    conversation = open_conversation(tenant)
    refund(conversation, 20, "mine")
    hand_over_now(conversation)

    theirs = login(make_person(tenant=other_tenant, roles=["agent"], username="zed"))
    assert theirs.get(f"/inbox/conversations/{conversation.pk}/").status_code == 404
    assert Message.objects.filter(conversation=conversation).exists()
    assert ActionExecution.objects.filter(conversation=conversation).count() == 1


def test_the_api_pack_carries_the_brief_and_what_the_ai_did(tenant, team, ada):
    conversation = open_conversation(tenant)
    conversation_receive_message(conversation=conversation, text="Refund order A-12345 please")
    done = refund(conversation, 49, "api-1")
    execution_run(execution_id=done.execution.pk)
    handoff = hand_over_now(conversation)
    pack_build(handoff_id=handoff.pk)

    body = login(ada).get(f"/api/v1/handoffs/{handoff.pk}").json()

    pack = body["pack"]
    assert [(s["step"], s["amount"], s["currency"]) for s in pack["activity"]] == [
        ("executed", "49.00", "EUR")
    ]
    assert pack["brief"]["done"] == [pack["activity"][0]["text"]]
    assert pack["suggestions"] == pack["brief"]["next"] and pack["suggestions"]

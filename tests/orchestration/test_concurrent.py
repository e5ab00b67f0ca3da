"""The concurrent pattern (SPEC 4.3): a supervisor consults its specialists at once, each branch
with a time limit and within the budgets, and folds their answers into its own reply; each
branch is a decision event with its timing. The specialists are local fake webhooks."""

from __future__ import annotations

import pytest

from agents.models import Agent
from agents.orchestrator_settings import settings_update
from conversations.models import DecisionEvent
from conversations.services import conversation_start
from core.secret_store import seal
from orchestration.turns import conversation_receive_message
from tests.runtimes.support import FakeServer, Respond

pytestmark = pytest.mark.django_db


def answer_after(seconds: float):
    def respond(seen):
        return Respond(body={"reply": f"{seen.path.strip('/')} says yes"}, sleep=seconds)

    return respond


@pytest.fixture
def stack(tenant):
    lead = Agent.objects.create(
        tenant=tenant, slug="lead", name="Lead", role="supervisor", pattern="concurrent"
    )
    return lead


def specialists(tenant, lead, url, names):
    return [
        Agent.objects.create(
            tenant=tenant,
            slug=name,
            name=name.title(),
            supervisor=lead,
            domains=[name],
            runtime="webhook",
            runtime_config={"url": f"{url}/{name}"},
            runtime_secret=seal("s" * 20),
        )
        for name in names
    ]


def branches(conversation):
    return list(
        DecisionEvent.objects.filter(
            conversation=conversation, type="agent.routed", detail__reasonCode="concurrent"
        ).order_by("id")
    )


def test_a_concurrent_supervisor_folds_every_specialists_answer_into_its_reply(tenant, stack):
    with FakeServer(default=answer_after(0.05)) as hook:
        specialists(tenant, stack, hook.url, ["billing", "shipping", "returns"])
        conversation, _ = conversation_start(
            tenant=tenant, agent=stack, channel="web", customer={"id": "c-1"}
        )
        result = conversation_receive_message(conversation=conversation, text="hello there")
        assert len(hook.seen) == 3

    assert result.reply.author == "lead"  # the supervisor keeps the customer
    assert result.notices == []
    for name in ("billing", "shipping", "returns"):
        assert f"{name} says yes" in result.reply.text
    events = branches(conversation)
    assert sorted(e.detail["branch"] for e in events) == [1, 2, 3]
    assert {e.detail["to"] for e in events} == {"billing", "shipping", "returns"}
    for event in events:
        assert event.detail["from"] == "lead"
        assert event.detail["answered"] is True
        assert event.detail["startedMs"] >= 0
        assert event.duration_ms > 0
    conversation.refresh_from_db()
    assert conversation.current_agent_id == stack.pk
    assert conversation.budget_used["steps"] == 4  # three branches and the supervisor's reply


def test_only_the_specialists_of_the_intent_are_asked_when_some_match(tenant, stack):
    with FakeServer(default=answer_after(0)) as hook:
        specialists(tenant, stack, hook.url, ["billing", "shipping"])
        conversation, _ = conversation_start(
            tenant=tenant, agent=stack, channel="web", customer={"id": "c-1"}
        )
        result = conversation_receive_message(
            conversation=conversation, text="I was charged twice", signals={"intent": "billing"}
        )

    assert [s.path for s in hook.seen] == ["/billing"]
    assert result.reply.text == "billing says yes"


def test_a_branch_past_its_time_limit_is_left_out_and_the_others_are_folded(
    tenant, stack, settings
):
    settings.CONCURRENT_BRANCH_SECONDS = 0.4

    def respond(seen):
        slow = seen.path == "/slow"
        return Respond(body={"reply": f"{seen.path.strip('/')} says yes"}, sleep=1.5 if slow else 0)

    with FakeServer(default=respond) as hook:
        specialists(tenant, stack, hook.url, ["quick", "slow"])
        conversation, _ = conversation_start(
            tenant=tenant, agent=stack, channel="web", customer={"id": "c-1"}
        )
        result = conversation_receive_message(conversation=conversation, text="hello")

    assert result.reply.text == "quick says yes"
    by_agent = {e.detail["to"]: e.detail for e in branches(conversation)}
    assert by_agent["slow"]["stopped"] == "time limit"
    assert by_agent["quick"]["answered"] is True


def test_branches_past_the_step_budget_are_not_made(tenant, stack):
    settings_update(level="stack", stack=stack, changes={"stepBudget": 2})
    with FakeServer(default=answer_after(0)) as hook:
        specialists(tenant, stack, hook.url, ["one", "two", "three"])
        conversation, _ = conversation_start(
            tenant=tenant, agent=stack, channel="web", customer={"id": "c-1"}
        )
        result = conversation_receive_message(conversation=conversation, text="hello")
        assert len(hook.seen) == 1

    assert result.reply.text == "one says yes"
    events = sorted(branches(conversation), key=lambda e: e.detail["branch"])
    stopped = [e.detail.get("stopped") for e in events]
    assert stopped == [None, "step budget", "step budget"]
    conversation.refresh_from_db()
    assert conversation.budget_used["steps"] == 2

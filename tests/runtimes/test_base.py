"""The runtime interface: specs from agent rows, dispatch, and replies that never raise."""

from __future__ import annotations

import pytest

from agents.models import Agent, KnowledgeEntry
from agents.runtimes import (
    AgentReply,
    AgentSpec,
    KnowledgeItem,
    ProposedAction,
    run_agent,
    with_tenant_name,
)
from tests.factories import TenantFactory
from tests.runtimes.support import FAST, make_agent, make_context


@pytest.mark.django_db
def test_an_agent_row_becomes_a_spec_without_further_queries(django_assert_num_queries):
    agent = Agent.objects.create(
        tenant=TenantFactory(),
        slug="agent-billing",
        name="Billing",
        role="specialist",
        domains=["billing", "refunds"],
        runtime="builtin",
        prompt="Be brief.",
    )
    KnowledgeEntry.objects.create(
        agent=agent,
        position=1,
        question="Where can I find my invoice?",
        keywords=["invoice"],
        answer="Under Account > Billing.",
    )
    KnowledgeEntry.objects.create(
        agent=agent,
        position=0,
        question="Why was I charged twice?",
        keywords=["charged twice"],
        answer="Sorry, I can refund it.",
        action="issue_refund",
        action_params={"orderId": "A-1", "amount": 49},
    )
    row = Agent.objects.prefetch_related("knowledge").get(pk=agent.pk)

    with django_assert_num_queries(0):
        spec = AgentSpec.from_agent(row)
        reply = run_agent(make_context("I was charged twice", agent=spec))

    assert spec == AgentSpec(
        slug="agent-billing",
        name="Billing",
        role="specialist",
        domains=("billing", "refunds"),
        runtime="builtin",
        runtime_config={},
        prompt="Be brief.",
        knowledge=(
            KnowledgeItem(
                question="Why was I charged twice?",
                keywords=("charged twice",),
                answer="Sorry, I can refund it.",
                action="issue_refund",
                action_params={"orderId": "A-1", "amount": 49},
            ),
            KnowledgeItem(
                question="Where can I find my invoice?",
                keywords=("invoice",),
                answer="Under Account > Billing.",
            ),
        ),
    )
    assert reply.text == "Sorry, I can refund it."
    assert reply.proposed_actions == [
        ProposedAction("issue_refund", {"orderId": "A-1", "amount": 49})
    ]


def test_an_unknown_runtime_is_an_error_reply():
    reply = run_agent(make_context("hi", agent=make_agent(runtime="carrier-pigeon")))

    assert reply.error == "unknown runtime 'carrier-pigeon' (known: builtin, openai, webhook)"
    assert reply.text is None
    assert reply.answered is False


@pytest.mark.parametrize(
    ("runtime", "config", "error"),
    [
        ("openai", {}, "the openai runtime has no baseUrl"),
        ("openai", {"baseUrl": "http://127.0.0.1:9/v1", "apiKeyEnv": "X"}, "no model"),
        ("openai", {"baseUrl": "http://127.0.0.1:9/v1", "model": "m"}, "no apiKey and no"),
        ("webhook", {}, "the webhook runtime has no url"),
        ("webhook", {"url": "http://127.0.0.1:9/"}, "the webhook runtime has no secret"),
    ],
)
def test_an_incomplete_configuration_is_an_error_without_a_request(runtime, config, error):
    agent = make_agent(runtime=runtime, runtime_config=config)
    reply = run_agent(make_context("hi", agent=agent, model=""), http_policy=FAST)

    assert error in reply.error
    assert reply.attempts == 0


def test_a_context_of_the_wrong_shape_still_gets_a_reply():
    broken = make_context("hi", agent=make_agent(knowledge=("not an item",)))
    reply = run_agent(broken)

    assert isinstance(reply, AgentReply)
    assert reply.error.startswith("the builtin runtime failed unexpectedly: AttributeError")
    assert reply.answered is False
    assert reply.text is None


def test_run_agent_survives_not_even_a_context():
    reply = run_agent(None)

    assert reply.error.startswith("unknown runtime")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Welcome to {{TENANT_NAME}}!", "Welcome to Acme!"),
        ("{{ TENANT_NAME }} and {{TENANT_NAME}}", "Acme and Acme"),
        ("no placeholder", "no placeholder"),
        ("{{TENANT_NAMES}}", "{{TENANT_NAMES}}"),
    ],
)
def test_the_tenant_name_placeholder_is_replaced(text, expected):
    assert with_tenant_name(text, "Acme") == expected


def test_a_tenant_name_with_backslashes_is_inserted_as_is():
    assert with_tenant_name("{{TENANT_NAME}}", r"A\1 Co") == r"A\1 Co"

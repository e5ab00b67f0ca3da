"""The built-in templates do what their text says: each one is instantiated, and with every one
of its agents as the conversation's agent, every action its description or its rules say
always needs approval is proposed and must wait (or be refused by the agent's allow-list:
never run), and refunds wait above the threshold the text names, also when they come in
small pieces. The demo tenant (``seed_demo``, built from these templates) is checked the
same way."""

from __future__ import annotations

import io
import itertools

import pytest
from django.core.management import call_command

from agents.models import Agent
from approvals.models import ActionExecution
from approvals.services import ActionNotAllowed, Proposal, action_propose
from conversations.services import conversation_start
from core.models import Tenant
from stacks.selectors import builtin_template, builtin_templates
from stacks.services import stack_import
from tests.factories import make_person
from tests.stacks.conftest import finance_group

pytestmark = pytest.mark.django_db

# What each template's description claims (a new built-in template must say what it claims
# here, or its test fails): the actions that always need approval, with every agent, and the
# refund threshold per agent (its id; "*" for the others), counted over the customer's day.
CLAIMS = {
    "customer-support": {
        "always": {"modify_account", "access_sensitive_data"},
        "refund_threshold": {"*": 100},
    },
    "ecommerce-refunds": {
        "always": {"modify_account", "access_sensitive_data"},
        "refund_threshold": {"refunds-agent": 50, "*": 100},
    },
}
PARAMS = {
    "modify_account": {"changes": {"plan": "pro"}},
    "access_sensitive_data": {"field": "date_of_birth", "reason": "identity check"},
}
_customers = itertools.count()


def _instantiate(tenant, stem: str) -> list[Agent]:
    make_person(tenant=tenant, roles=["approver"], username="approver")
    finance_group(tenant, f"{tenant.slug}-finance")
    document = builtin_template(stem).document
    stack_import(tenant=tenant, document=document)
    return [Agent.objects.get(tenant=tenant, slug=a["id"]) for a in document["agents"]]


def _propose(agent: Agent, action: str, params: dict, conversation=None) -> Proposal | None:
    """The action proposed by ``agent`` as its conversation's agent; None: refused by its
    allow-list."""
    if conversation is None:
        conversation, _ = conversation_start(
            tenant=agent.tenant,
            agent=agent,
            channel="api",
            customer={"id": f"customer-{next(_customers)}"},
        )
    try:
        return action_propose(
            conversation=conversation,
            action=action,
            params=params,
            idempotency_key=f"{action}-{next(_customers)}",
            requested_by_label=f"agent:{agent.slug}",
        )
    except ActionNotAllowed:
        return None


def _held(proposal: Proposal | None) -> bool:
    return proposal is None or proposal.waiting


def _rule_actions(stem: str) -> set[str]:
    """What the template's own rules say always needs approval, on any agent."""
    found = set()
    for agent in builtin_template(stem).document["agents"]:
        approvals = (agent.get("rules") or {}).get("approvals") or {}
        for item in approvals.get("actions") or []:
            if isinstance(item, str) or not item.get("when"):
                found.add(item if isinstance(item, str) else item["action"])
    return found


def test_every_built_in_template_says_what_it_claims():
    assert {t.key.removeprefix("builtin-") for t in builtin_templates()} == set(CLAIMS)


@pytest.mark.parametrize("stem", sorted(CLAIMS))
def test_what_the_template_says_always_needs_approval_waits_with_every_agent(tenant, stem):
    agents = _instantiate(tenant, stem)
    always = CLAIMS[stem]["always"] | _rule_actions(stem)

    for agent in agents:
        for action in sorted(always):
            proposal = _propose(agent, action, PARAMS[action])
            assert _held(proposal), f"{action} ran at once with {agent.slug}"
    assert not ActionExecution.objects.exists()


@pytest.mark.parametrize("stem", sorted(CLAIMS))
def test_refunds_wait_above_the_templates_threshold_even_in_small_pieces(tenant, stem):
    agents = _instantiate(tenant, stem)
    thresholds = CLAIMS[stem]["refund_threshold"]

    for agent in agents:
        limit = thresholds.get(agent.slug, thresholds["*"])
        at_the_limit = _propose(agent, "issue_refund", {"orderId": "A", "amount": limit})
        if at_the_limit is None:
            continue  # this agent may not refund at all
        assert not at_the_limit.waiting, f"a refund of {limit} waited with {agent.slug}"
        conversation = at_the_limit.execution.conversation
        over = _propose(agent, "issue_refund", {"orderId": "B", "amount": 1}, conversation)
        assert over.waiting, f"{limit} + 1 in a day ran at once with {agent.slug}"
        # the same customer in a new conversation: the day's total follows them
        again, _ = conversation_start(
            tenant=tenant, agent=agent, channel="web", customer={"id": conversation.customer_ref}
        )
        assert _propose(agent, "issue_refund", {"orderId": "C", "amount": 1}, again).waiting


def test_the_demo_tenant_holds_what_its_templates_claim():
    call_command("seed_demo", stdout=io.StringIO())
    tenant = Tenant.objects.get(slug="demo")

    for agent in Agent.objects.filter(tenant=tenant):
        for action in ("modify_account", "access_sensitive_data"):
            assert _held(_propose(agent, action, PARAMS[action])), (agent.slug, action)
        proposal = _propose(agent, "issue_refund", {"orderId": "A", "amount": 101})
        assert _held(proposal), (agent.slug, "issue_refund 101")
    assert not ActionExecution.objects.exists()

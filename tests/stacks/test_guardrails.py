"""Stack templates carry each agent's tool access (allowedActions) and its own guardrail
policy, round-trip them, and refuse bad ones with their JSON path."""

from __future__ import annotations

import pytest

from agents.models import Agent, GuardrailPolicy
from orchestration.tenant_config import tenant_config
from stacks.documents import StackInvalid, stack_export
from stacks.services import stack_import
from tests.factories import TenantFactory
from tests.stacks.conftest import finance_group, refunds_document, support_document

pytestmark = pytest.mark.django_db


def test_allowed_actions_and_guardrails_round_trip(tenant, approvers):
    stack_import(tenant=tenant, document=refunds_document())
    payments = Agent.objects.get(tenant=tenant, slug="payments-agent")
    assert payments.allowed_actions == ["issue_refund"]
    assert payments.guardrails.as_document() == {"emails": True, "phones": True}
    assert Agent.objects.get(tenant=tenant, slug="orders-agent").allowed_actions is None
    policy = tenant_config(tenant).guardrails_for(payments)
    assert (policy["emails"], policy["cards"]) == (True, True)  # over the built-in defaults

    exported = stack_export(root=payments)
    other = TenantFactory(slug="other", name="Other")
    finance_group(other, "other-finance")
    stack_import(tenant=other, document=exported)
    again = stack_export(root=Agent.objects.get(tenant=other, slug="refunds-desk"))

    assert again == exported
    by_id = {a["id"]: a for a in exported["agents"]}
    assert by_id["payments-agent"]["guardrails"] == {"emails": True, "phones": True}
    assert by_id["refunds-desk"]["guardrails"] is None


def test_a_template_without_the_new_fields_still_imports(tenant, approvers):
    document = support_document()
    for agent in document["agents"]:
        agent.pop("allowedActions")
        agent.pop("guardrails")

    stack_import(tenant=tenant, document=document, prefix="old")

    assert not GuardrailPolicy.objects.filter(tenant=tenant).exists()
    assert set(Agent.objects.filter(tenant=tenant).values_list("allowed_actions", flat=True)) == {
        None
    }


def test_bad_tool_access_and_guardrails_are_refused_with_their_path(tenant, approvers):
    document = support_document()
    document["agents"][1]["allowedActions"] = ["launch_rocket"]
    document["agents"][2]["guardrails"] = {"phrases": ["/(oops/"], "maxLength": 0}

    with pytest.raises(StackInvalid) as caught:
        stack_import(tenant=tenant, document=document, prefix="eu")

    errors = caught.value.errors
    assert "unknown action 'launch_rocket'" in errors["template.agents[1].allowedActions"][0]
    assert "is not a valid regular expression" in errors["template.agents[2].guardrails.phrases"][0]
    assert errors["template.agents[2].guardrails.maxLength"] == [
        "must be a whole number from 1 to 20000"
    ]
    assert not Agent.objects.filter(tenant=tenant).exists()

"""Stack documents: export, import (all or nothing, every error at once), id remapping."""

from __future__ import annotations

import pytest

from agents.models import Agent, KnowledgeEntry, OrchestratorSettings, RuleSet, Workflow
from agents.orchestrator_settings import effective_settings
from orchestration.tenant_config import tenant_config
from stacks.documents import StackInvalid, stack_export
from stacks.services import stack_import
from tests.factories import TenantFactory
from tests.stacks.conftest import finance_group, refunds_document, support_document

pytestmark = pytest.mark.django_db


def _counts(tenant) -> tuple[int, ...]:
    return (
        Agent.objects.filter(tenant=tenant).count(),
        KnowledgeEntry.objects.filter(agent__tenant=tenant).count(),
        RuleSet.objects.filter(agent__tenant=tenant).count(),
        Workflow.objects.filter(tenant=tenant).count(),
        OrchestratorSettings.objects.filter(tenant=tenant).count(),
    )


def test_export_then_import_gives_an_equal_stack(tenant, approvers):
    # given the built-in refunds stack (settings, knowledge with actions, own rules on two
    # agents, a workflow) in one tenant
    stack_import(tenant=tenant, document=refunds_document())
    # (any agent of the stack exports the whole stack)
    exported = stack_export(root=Agent.objects.get(tenant=tenant, slug="orders-agent"))
    # when it is imported into another tenant and exported again
    other = TenantFactory(slug="other", name="Other")
    finance_group(other, "other-finance")
    stack_import(tenant=other, document=exported)
    again = stack_export(root=Agent.objects.get(tenant=other, slug="refunds-desk"))

    # then the two documents are equal, and equal to the template it came from
    assert again == exported
    template = refunds_document()
    by_id = sorted(template["agents"], key=lambda a: a["id"])
    assert sorted(exported["agents"], key=lambda a: a["id"]) == by_id
    assert exported["settings"] == template["settings"]
    assert exported["workflows"] == template["workflows"]


def test_the_support_template_round_trips_through_export(tenant, approvers):
    stack_import(tenant=tenant, document=support_document(), prefix="eu")
    exported = stack_export(root=Agent.objects.get(tenant=tenant, slug="eu-agent-billing"))

    other = TenantFactory(slug="other", name="Other")
    finance_group(other, "other-finance")
    stack_import(tenant=other, document=exported, approvers=["group:finance"])
    assert {a.slug for a in Agent.objects.filter(tenant=other)} == {
        "eu-agent-supervisor",
        "eu-agent-billing",
        "eu-agent-tech",
        "eu-agent-returns",
        "eu-agent-retention",
    }
    assert set(Workflow.objects.filter(tenant=other).values_list("name", flat=True)) == {
        "eu: Support Escalation",
        "eu: Technical triage",
    }


def test_a_template_can_be_used_twice_in_one_tenant_with_prefixes(tenant, approvers):
    first = stack_import(tenant=tenant, document=support_document(), prefix="eu")
    second = stack_import(tenant=tenant, document=support_document(), prefix="us")

    assert first["rootAgentId"] == "eu-agent-supervisor"
    assert second["rootAgentId"] == "us-agent-supervisor"
    us_rules = RuleSet.objects.get(agent__tenant=tenant, agent__slug="us-agent-supervisor")
    targets = [h.target.slug for h in us_rules.handoffs.all()]
    assert targets == [
        "us-agent-billing",
        "us-agent-tech",
        "us-agent-returns",
        "us-agent-retention",
    ]
    billing = Agent.objects.get(tenant=tenant, slug="us-agent-billing")
    assert billing.supervisor.slug == "us-agent-supervisor"
    workflow = Workflow.objects.get(tenant=tenant, name="us: Support Escalation")
    assert {s.agent.slug for s in workflow.steps.all()} <= {
        a.slug for a in Agent.objects.filter(tenant=tenant, slug__startswith="us-")
    }


def test_importing_again_with_the_same_prefix_is_refused_naming_each_taken_id(tenant, approvers):
    stack_import(tenant=tenant, document=support_document())
    before = _counts(tenant)

    with pytest.raises(StackInvalid) as caught:
        stack_import(tenant=tenant, document=support_document())

    errors = caught.value.errors
    for index in range(5):
        assert "already exists" in errors[f"template.agents[{index}].id"][0]
    assert "already exists" in errors["template.workflows[0].name"][0]
    assert _counts(tenant) == before


def test_a_template_with_a_bad_rule_is_refused_whole_with_every_error_listed(tenant, approvers):
    document = support_document()
    supervisor = document["agents"][0]
    supervisor["rules"]["handoffs"][1]["condition"] = 'intent == "technical" and'
    supervisor["rules"]["handoffs"][2]["targetAgentId"] = "agent-nobody"
    supervisor["rules"]["approvals"]["actions"][1]["action"] = "launch_rocket"
    document["agents"][1]["knowledge"][0]["action"]["name"] = "wire_money"
    document["agents"][2]["supervisorId"] = "agent-ghost"
    document["settings"] = {"stallThreshold": 0}
    document["workflows"][0]["steps"][1]["condition"] = "mood == 1"

    with pytest.raises(StackInvalid) as caught:
        stack_import(tenant=tenant, document=document, prefix="eu")

    errors = caught.value.errors
    assert set(errors) >= {
        "template.agents[0].rules.handoffs[1].condition",
        "template.agents[0].rules.handoffs[2].targetAgentId",
        "template.agents[0].rules.approvals.actions[1].action",
        "template.agents[1].knowledge[0].action.name",
        "template.agents[2].supervisorId",
        "template.settings.stallThreshold",
        "template.workflows[0].steps[1].condition",
    }
    assert "agent-nobody" in errors["template.agents[0].rules.handoffs[2].targetAgentId"][0]
    assert "launch_rocket" in errors["template.agents[0].rules.approvals.actions[1].action"][0]
    assert "mood" in errors["template.workflows[0].steps[1].condition"][0]
    # nothing of it was written
    assert _counts(tenant) == (0, 0, 0, 0, 0)


def test_the_tenants_approvers_are_checked_and_can_be_replaced(tenant):
    with pytest.raises(StackInvalid) as caught:
        stack_import(tenant=tenant, document=support_document())
    assert (
        "'approver' is not an approver"
        in (caught.value.errors["template.agents[0].rules.approvals.approvers"][0])
    )
    assert Agent.objects.filter(tenant=tenant).count() == 0

    finance_group(tenant, "acme-finance")
    plan = stack_import(tenant=tenant, document=support_document(), approvers=["group:finance"])

    assert plan["approvers"] == ["group:finance"]
    rules = RuleSet.objects.get(agent__tenant=tenant, agent__slug="agent-supervisor")
    assert rules.approvers == ["group:finance"]


def test_a_dry_run_shows_what_would_be_created_and_writes_nothing(tenant, approvers):
    plan = stack_import(tenant=tenant, document=refunds_document(), prefix="shop", dry_run=True)

    assert plan["created"] is False
    assert [a["id"] for a in plan["agents"]] == [
        "shop-refunds-desk",
        "shop-refunds-agent",
        "shop-orders-agent",
        "shop-payments-agent",
    ]
    assert plan["agents"][1]["supervisorId"] == "shop-refunds-desk"
    assert plan["agents"][1]["rules"]["approvalActions"] == [
        "issue_refund",
        "modify_account",
        "access_sensitive_data",
    ]
    assert plan["workflows"] == [{"name": "shop: Refund review", "steps": 3}]
    assert plan["settings"] == {"handoffMode": "cold", "stallThreshold": 4}
    assert _counts(tenant) == (0, 0, 0, 0, 0)


def test_the_stack_settings_and_the_approval_thresholds_apply(tenant, approvers):
    stack_import(tenant=tenant, document=refunds_document(), prefix="shop")
    from agents.rule_engine import rules_for, trace

    desk = Agent.objects.get(tenant=tenant, slug="shop-refunds-desk")
    effective, sources = effective_settings(tenant=tenant, agent=desk)
    assert effective["handoffMode"] == "cold" and sources["handoffMode"] == "stack"

    specialist = Agent.objects.get(tenant=tenant, slug="shop-refunds-agent")
    rules = rules_for(specialist)
    small = trace(rules, {}, action="issue_refund", params={"orderId": "A", "amount": 40})
    large = trace(rules, {}, action="issue_refund", params={"orderId": "A", "amount": 60})
    assert small.approval_needed is False
    assert large.approval_needed is True
    # the desk's own threshold is 100
    desk_rules = rules_for(desk)
    assert (
        trace(
            desk_rules, {}, action="issue_refund", params={"orderId": "A", "amount": 60}
        ).approval_needed
        is False
    )


def test_an_import_moves_the_cached_configuration_on(tenant, approvers):
    before = tenant_config(tenant)
    assert before.agent("shop-refunds-desk") is None

    stack_import(tenant=tenant, document=refunds_document(), prefix="shop")

    assert tenant_config(tenant).agent("shop-refunds-desk") is not None


def test_a_broken_document_is_refused_with_its_shape_problems(tenant):
    with pytest.raises(StackInvalid) as caught:
        stack_import(
            tenant=tenant,
            document={"format": "other", "version": 9, "agents": [{"name": "x"}, 3]},
            prefix="Not A Prefix",
        )
    errors = caught.value.errors
    assert set(errors) == {
        "prefix",
        "template.format",
        "template.version",
        "template.agents[0].id",
        "template.agents[1]",
    }


def test_a_stack_needs_one_top_supervisor(tenant):
    document = refunds_document()
    document["agents"][1]["supervisorId"] = None
    with pytest.raises(StackInvalid) as caught:
        stack_import(tenant=tenant, document=document)
    assert "exactly one top agent" in caught.value.errors["template.agents"][0]

"""Stack templates carry handoff rules that start a workflow (issue 18, point 5), with the
workflow's name prefixed on import like the workflow itself."""

from __future__ import annotations

import pytest

from agents.models import Agent
from agents.orchestrator_settings import chat_workflow
from stacks.documents import StackInvalid, stack_export
from stacks.services import stack_import
from tests.factories import TenantFactory
from tests.stacks.conftest import finance_group, support_document

pytestmark = pytest.mark.django_db


def test_stack_templates_carry_the_rule_and_rename_the_workflow_on_import(tenant, approvers):
    document = support_document()
    supervisor = next(a for a in document["agents"] if a["id"] == "agent-supervisor")
    supervisor["rules"]["handoffs"].insert(
        0, {"condition": "sentiment < -0.8", "workflow": "Support Escalation"}
    )

    stack_import(tenant=tenant, document=document, prefix="eu")

    root = Agent.objects.get(tenant=tenant, slug="eu-agent-supervisor")
    first = root.rules.handoffs.order_by("position").first()
    assert first.workflow.name == "eu: Support Escalation"
    exported = stack_export(root=root)
    handoffs = next(a for a in exported["agents"] if a["id"] == "eu-agent-supervisor")["rules"][
        "handoffs"
    ]
    assert handoffs[0] == {"condition": "sentiment < -0.8", "workflow": "eu: Support Escalation"}
    other = TenantFactory(slug="other", name="Other")
    finance_group(other, "other-finance")
    stack_import(tenant=other, document=exported, approvers=["group:finance"])
    assert (
        Agent.objects.get(tenant=other, slug="eu-agent-supervisor")
        .rules.handoffs.order_by("position")
        .first()
        .workflow.name
        == "eu: Support Escalation"
    )


def test_a_template_naming_a_workflow_it_lacks_is_refused_at_that_rule(tenant, approvers):
    document = support_document()
    supervisor = next(a for a in document["agents"] if a["id"] == "agent-supervisor")
    supervisor["rules"]["handoffs"].append({"condition": "turns > 5", "workflow": "Elsewhere"})

    with pytest.raises(StackInvalid) as raised:
        stack_import(tenant=tenant, document=document)

    errors = raised.value.errors
    assert any(
        "workflow 'Elsewhere' is not in the template" in m
        for path, messages in errors.items()
        if path.endswith("handoffs[4].workflow")
        for m in messages
    ), errors


def test_a_templates_chat_workflow_is_renamed_with_its_workflow(tenant, approvers):
    document = support_document()
    document.setdefault("settings", {})["chatWorkflow"] = "Support Escalation"

    stack_import(tenant=tenant, document=document, prefix="eu")

    root = Agent.objects.get(tenant=tenant, slug="eu-agent-supervisor")
    assert chat_workflow(root).name == "eu: Support Escalation"
    assert stack_export(root=root)["settings"]["chatWorkflow"] == "eu: Support Escalation"

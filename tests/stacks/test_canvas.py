"""The stack canvas in the admin: the built-in support stack drawn with its nodes and labelled
edges, the last 7 days' traffic on the edges (counted in a fixed number of queries), lint
badges on the rule's edge, the orchestrator's settings edited and cleared through the slide-out,
the SVG export, and tenants kept apart."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from agents.models import Agent, SettingsLevel
from agents.orchestrator_settings import settings_overview, settings_update
from agents.rule_sets import rules_update
from agents.workflows import workflow_create
from conversations.decisions import (
    AgentRouted,
    Escalated,
    EscalationReason,
    HandoffOffered,
    RouteReason,
)
from conversations.events import record
from conversations.models import DecisionEvent
from conversations.services import conversation_start
from stacks.canvas import stack_canvas, stack_traffic
from stacks.services import stack_import
from tests.conftest import login
from tests.factories import make_person
from tests.stacks.conftest import support_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def stack(tenant, approvers):
    stack_import(tenant=tenant, document=support_document())
    return Agent.objects.get(tenant=tenant, slug="agent-supervisor")


def _url(root, suffix=""):
    return f"/admin/stacks/stacktemplate/canvas/{root.pk}/{suffix}"


def _traffic(tenant, root, conversations: int) -> None:
    """``conversations`` conversations each routed to billing by a handoff rule, half of them
    escalated to people by risk and handed over."""
    billing = Agent.objects.get(tenant=tenant, slug="agent-billing")
    for index in range(conversations):
        conversation, _ = conversation_start(
            tenant=tenant, agent=root, channel="web", customer={"id": f"c-{index}"}
        )
        record(
            conversation=conversation,
            event=AgentRouted(
                from_=root.slug,
                to=billing.slug,
                reason="handoff rule",
                reason_code=RouteReason.HANDOFF_RULE,
            ),
            agent_slug=root.slug,
        )
        if index % 2 == 0:
            record(
                conversation=conversation,
                event=Escalated(to="human", reason="risk", reason_code=EscalationReason.RISK),
                agent_slug=billing.slug,
            )
            record(
                conversation=conversation,
                event=HandoffOffered(handoff_id=None, mode="cold", why="risk", reason="risk"),
                agent_slug=billing.slug,
            )


def test_the_canvas_draws_the_stack_with_labelled_edges(manager_client, stack):
    response = manager_client.get(_url(stack))

    assert response.status_code == 200
    page = response.content.decode()
    svg = page[page.index("<svg xmlns") :]
    svg = svg[: svg.index("</svg>")]
    for node in ["orchestrator", "agent-supervisor", "agent-billing", "agent-tech", "people"]:
        assert f'data-node="{node}"' in svg
    # handoff rules are labelled edges, in their order; escalation reaches people
    assert re.search(
        r'data-kind="handoff" data-source="agent-supervisor" '
        r'data-target="agent-billing"',
        svg,
    )
    assert "1. intent == &quot;billing&quot; or" in svg
    assert "2. intent == &quot;technical&quot;" in svg
    assert re.search(
        r'data-kind="escalation" data-source="agent-supervisor" '
        r'data-target="people"',
        svg,
    )
    assert "risk: frustration," in svg
    # approval badges on agents that may propose what their rules send for approval
    assert svg.count('data-badge="approval"') == 5
    # the workflows, step by step
    assert "Workflow: Support Escalation (step budget 8)" in svg
    # nodes open their panels: keyboard-focusable, and the panels are on the page
    assert 'tabindex="0" role="button"' in svg
    assert 'id="panel-orchestrator"' in page and 'id="panel-agent-billing"' in page
    assert f'href="/admin/agents/ruleset/{stack.rules.pk}/change/"' in page
    # no inline script: only our static file (the CSP allows no other)
    assert "<script>" not in page and "stacks/canvas.js" in page


def test_the_edges_carry_the_last_seven_days_of_traffic(manager_client, tenant, stack):
    _traffic(tenant, stack, 4)
    old = DecisionEvent.objects.filter(tenant=tenant, type="escalated").first()
    DecisionEvent.objects.filter(pk=old.pk).update(created_at=old.created_at - dt.timedelta(days=8))

    canvas = stack_canvas(root=stack)

    edges = {(e.kind, e.source, e.target): e.traffic for e in canvas.edges}
    assert edges[("handoff", "agent-supervisor", "agent-billing")].routed == 4
    assert edges[("risk", "orchestrator", "people")].escalated == 1  # one is 8 days old
    assert edges[("entry", "orchestrator", "agent-supervisor")].routed == 4
    people = canvas.node("people")
    assert people.traffic.handed_over == 2
    # the nodes agree with their edges: routed into the agent, escalated by the orchestrator
    assert canvas.node("agent-billing").traffic.routed == 4
    assert canvas.node("agent-supervisor").traffic.routed == 4
    assert canvas.node("orchestrator").traffic.escalated == 1
    page = manager_client.get(_url(stack)).content.decode()
    assert 'data-routed="4"' in page and "4 routed" in page


def test_the_canvas_reads_a_fixed_number_of_queries(tenant, stack, django_assert_num_queries):
    _traffic(tenant, stack, 2)
    with CaptureQueriesContext(connection) as small:
        stack_canvas(root=stack)
    _traffic(tenant, stack, 12)
    rules_update(
        agent=Agent.objects.get(tenant=tenant, slug="agent-tech"),
        changes={"escalation": {"maxAttempts": 2, "targetAgentId": "agent-supervisor"}},
    )

    with django_assert_num_queries(len(small.captured_queries)):
        canvas = stack_canvas(root=stack)
    assert sum(e.traffic.routed for e in canvas.edges) == 14 + 14  # handoffs + entries
    assert len(small.captured_queries) <= 12


def test_traffic_is_grouped_in_the_database(tenant, stack, django_assert_num_queries):
    _traffic(tenant, stack, 3)
    since = stack.created_at - dt.timedelta(days=1)
    with django_assert_num_queries(1):
        counts = stack_traffic(tenant=tenant, since=since)
    assert counts[("agent.routed", "agent-supervisor", "agent-billing", "handoff_rule")] == 3


def test_a_lint_warning_sits_on_the_rules_edge(manager_client, stack):
    rules_update(
        agent=stack,
        changes={
            "handoffs": [
                {"condition": 'intent == "billing"', "targetAgentId": "agent-billing"},
                {"condition": 'intent == "biling"', "targetAgentId": "agent-tech"},
            ]
        },
    )
    page = manager_client.get(_url(stack)).content.decode()
    tech_edge = re.search(
        r'<g class="edge edge-handoff"[^>]*data-target="agent-tech".*?</g></g>|'
        r'<g class="edge edge-handoff"[^>]*data-target="agent-tech".*?data-badge="warning"',
        page,
        re.S,
    )
    assert tech_edge and 'data-badge="warning"' in tech_edge.group(0)
    flow = workflow_create(
        tenant=stack.tenant,
        data={
            "name": "Too short",
            "stepBudget": 1,
            "steps": [
                {"agent": "agent-supervisor", "condition": "start", "outputs": ["category"]},
                {"agent": "agent-tech", "condition": 'category == "technical"'},
            ],
        },
    )
    page = manager_client.get(_url(stack)).content.decode()
    drawn = page[page.index(f'<g class="workflow" id="w{flow.pk}">') :]
    assert 'data-badge="warning"' in drawn[: drawn.index('<g class="step"')]
    assert "step 2 never runs: the step budget (1)" in page
    assert 'id="canvas-warnings"' in page and "did you mean &quot;billing&quot;?" in page


def test_the_slide_out_sets_and_clears_a_setting(manager_client, tenant, stack):
    settings_update(level=SettingsLevel.TENANT, tenant=tenant, changes={"stallThreshold": 4})

    saved = manager_client.post(
        _url(stack, "settings/"), {"setting": "stallThreshold", "value": "7"}
    )
    assert saved.status_code == 302 and saved["Location"].endswith("?panel=orchestrator")
    overview = settings_overview(tenant=tenant, agent=stack)
    assert (overview.effective["stallThreshold"], overview.sources["stallThreshold"]) == (
        7,
        "stack",
    )
    page = manager_client.get(saved["Location"]).content.decode()
    orchestrator = page[page.index('id="panel-orchestrator"') :]
    assert 'id="panel-orchestrator" class="slideout"' in page
    assert "hidden" not in orchestrator[: orchestrator.index(">")]  # opened by the server
    assert "Clear: inherit 4 from tenant" in orchestrator

    for name, value in [
        ("routingInstructions", "Prefer Billing for refunds at {{TENANT_NAME}}."),
        ("riskAutoEscalation", "false"),
        ("handoffMode", "hot"),
        ("model", "gpt-4.1-mini"),
    ]:
        assert (
            manager_client.post(
                _url(stack, "settings/"), {"setting": name, "value": value}
            ).status_code
            == 302
        )
    manager_client.post(
        _url(stack, "settings/"), {"setting": "riskCategories", "value": ["legal_threat"]}
    )
    overview = settings_overview(tenant=tenant, agent=stack)
    assert overview.effective["riskAutoEscalation"] is False
    assert overview.effective["riskCategories"] == ["legal_threat"]
    assert overview.effective["handoffMode"] == "hot"

    cleared = manager_client.post(
        _url(stack, "settings/"), {"setting": "stallThreshold", "clear": "1"}
    )
    assert cleared.status_code == 302
    overview = settings_overview(tenant=tenant, agent=stack)
    assert (overview.effective["stallThreshold"], overview.sources["stallThreshold"]) == (
        4,
        "tenant",
    )


def test_a_bad_value_is_refused_at_the_field(manager_client, tenant, stack):
    response = manager_client.post(
        _url(stack, "settings/"), {"setting": "checkInterval", "value": "soon"}
    )
    assert response.status_code == 400
    assert "Enter a whole number." in response.content.decode()
    assert settings_overview(tenant=tenant, agent=stack).sources["checkInterval"] == "global"
    unknown = manager_client.post(_url(stack, "settings/"), {"setting": "secretKey", "value": "x"})
    assert unknown.status_code == 400
    assert "Unknown setting &#x27;secretKey&#x27;." in unknown.content.decode()
    billing = Agent.objects.get(tenant=tenant, slug="agent-billing")
    below = manager_client.post(_url(billing, "settings/"), {"setting": "model", "value": "x"})
    assert below.status_code == 404  # settings belong to the top of the stack


def test_the_svg_export_is_the_drawing_as_a_file(manager_client, stack):
    response = manager_client.get(_url(stack, "export.svg"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert "attachment" in response["Content-Disposition"]
    body = response.content.decode()
    assert body.startswith("<?xml") and 'data-node="agent-billing"' in body
    assert "tabindex" not in body


def test_a_specialist_opens_its_stacks_canvas(manager_client, tenant, stack):
    billing = Agent.objects.get(tenant=tenant, slug="agent-billing")
    response = manager_client.get(_url(billing))
    assert response.status_code == 302 and response["Location"].endswith(f"/{stack.pk}/")
    index = manager_client.get("/admin/stacks/stacktemplate/canvas/")
    assert index.status_code == 302


def test_another_tenants_stack_is_not_found(other_manager, tenant, stack):
    client = login(other_manager)
    assert client.get(_url(stack)).status_code == 404
    assert client.get(_url(stack, "export.svg")).status_code == 404
    refused = client.post(_url(stack, "settings/"), {"setting": "stallThreshold", "value": "9"})
    assert refused.status_code == 404
    assert settings_overview(tenant=tenant, agent=stack).sources["stallThreshold"] == "global"
    # their own canvas index shows none of ours
    index = client.get("/admin/stacks/stacktemplate/canvas/")
    assert "agent-supervisor" not in index.content.decode()


def test_people_without_the_manager_role_do_not_reach_it(tenant, stack):
    for roles in (["agent"], ["approver"]):
        person = make_person(tenant=tenant, roles=roles)
        client = login(person)
        assert client.get(_url(stack)).status_code in (302, 403)
        response = client.post(_url(stack, "settings/"), {"setting": "model", "value": "x"})
        assert response.status_code in (302, 403)
    assert settings_overview(tenant=tenant, agent=stack).sources["model"] == "global"


def test_the_page_reads_as_many_queries_with_more_traffic(
    manager_client, tenant, stack, django_assert_num_queries
):
    _traffic(tenant, stack, 1)
    manager_client.get(_url(stack))  # the session and the manager's membership, once
    with CaptureQueriesContext(connection) as small:
        assert manager_client.get(_url(stack)).status_code == 200
    _traffic(tenant, stack, 10)

    with django_assert_num_queries(len(small.captured_queries)):
        page = manager_client.get(_url(stack)).content.decode()
    assert "11 routed" in page


def test_a_superuser_picks_the_tenant(other_tenant, tenant, stack):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client = Client()
    client.force_login(root)
    index = client.get(f"/admin/stacks/stacktemplate/canvas/?tenant={tenant.pk}")
    assert index.status_code == 302 and index["Location"].endswith(f"/{stack.pk}/")
    empty = client.get(f"/admin/stacks/stacktemplate/canvas/?tenant={other_tenant.pk}")
    assert empty.status_code == 200 and "no stack yet" in empty.content.decode()
    assert client.get("/admin/stacks/stacktemplate/canvas/?tenant=999999").status_code == 404
    assert client.get(_url(stack)).status_code == 200


def test_inherited_rules_and_escalations_count_on_their_edges(tenant, stack):
    tech = Agent.objects.get(tenant=tenant, slug="agent-tech")
    billing = Agent.objects.get(tenant=tenant, slug="agent-billing")
    rules_update(
        agent=billing,
        changes={"escalation": {"maxAttempts": 2, "targetAgentId": "agent-supervisor"}},
    )
    conversation, _ = conversation_start(
        tenant=tenant, agent=stack, channel="web", customer={"id": "c-1"}
    )
    # tech transfers to billing by the supervisor's rule it inherits
    record(
        conversation=conversation,
        event=AgentRouted(
            from_=tech.slug,
            to=billing.slug,
            reason="handoff rule",
            reason_code=RouteReason.HANDOFF_RULE,
        ),
        agent_slug=tech.slug,
    )
    # billing escalates back to the supervisor by its own rule: one escalation, not a route too
    record(
        conversation=conversation,
        event=AgentRouted(
            from_=billing.slug,
            to=stack.slug,
            reason="escalation rule",
            reason_code=RouteReason.ESCALATION_RULE,
        ),
        agent_slug=billing.slug,
    )
    record(
        conversation=conversation,
        event=Escalated(
            to=stack.slug, reason="escalation rule", reason_code=EscalationReason.ESCALATION_RULE
        ),
        agent_slug=billing.slug,
    )

    canvas = stack_canvas(root=stack)

    edges = {(e.kind, e.source, e.target): e.traffic for e in canvas.edges}
    assert edges[("handoff", "agent-supervisor", "agent-billing")].routed == 1
    escalation = edges[("escalation", "agent-billing", "agent-supervisor")]
    assert (escalation.routed, escalation.escalated) == (0, 1)

"""The admin's metrics dashboard: figures and SVG charts for the manager's tenant, filters,
CSV export, tenant isolation, and a number of queries that does not grow with the data."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.models import Agent, Workflow
from tests.conftest import login
from tests.insight.support import (
    WINDOW,
    approval,
    at,
    conversation,
    event,
    execution,
    handoff,
    routed,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def url():
    return reverse("admin:insight_dashboard")


def grow(team, copies: int, *, offset: int = 0) -> None:
    """``copies`` conversations spread over the window, each with every kind of figure."""
    sup, billing, tech = team
    returns = Workflow.objects.get_or_create(tenant=sup.tenant, name="Returns")[0]
    for i in range(offset, offset + copies):
        day = 3 + i % 7
        conv = conversation(
            sup, when=at(day, 9), resolved=at(day, 10), workflow=returns, current=billing
        )
        routed(conv, billing, when=at(day, 9, 1), source=sup)
        if i % 2:
            routed(conv, tech, when=at(day, 9, 2), source=billing, rerouted=True)
        if i % 3 == 0:
            event(conv, "escalated", when=at(day, 9, 3), agent="agent-billing")
        if i % 4 == 0:
            event(conv, "stall.detected", when=at(day, 9, 4), agent="agent-billing")
        handoff(conv, when=at(day, 9, 5), claimed=at(day, 9, 6 + i % 50), status="resolved")
        execution(conv, finished=at(day, 9, 7), attempts=1 + i % 2, status="succeeded")
        approval(conv, when=at(day, 9, 8), seconds=30 * (i + 1))


def test_the_dashboard_shows_the_figures_and_svg_charts(manager_client, team, url):
    grow(team, 4)

    response = manager_client.get(url, WINDOW)

    assert response.status_code == 200
    page = response.content.decode()
    summary = response.context["summary"]
    assert summary["conversations"] == 4
    assert summary["escalationRate"] == 0.5  # i = 0 and 3
    assert summary["rerouteRate"] == 0.5
    assert summary["handoffSuccessRate"] == 1.0
    for chart in (
        "rates",
        "handoffs",
        "resolution-agent",
        "resolution-workflow",
        "approvals",
        "actions",
    ):
        assert f"data-chart='{chart}'" in page
    assert "<script" not in page.split('id="content-main"')[1]  # charts are plain SVG
    assert 'data-metric="escalationRate" data-value="0.5">50.0%<' in page
    assert 'data-metric="meanTimeToResolution" data-value="3600.0">1h 00m<' in page
    assert "Returns" in page  # time to resolution by workflow
    assert len(response.context["figures"]["days"]) == 7


def test_the_dashboard_is_in_the_admin_index(manager_client, url):
    index = manager_client.get(reverse("admin:index")).content.decode()

    assert f'href="{url}"' in index
    assert "Metrics dashboard" in index


def test_the_agent_filter_narrows_the_dashboard(manager_client, team, url):
    grow(team, 4)

    response = manager_client.get(url, {**WINDOW, "agentId": "agent-tech"})

    summary = response.context["summary"]
    assert summary["agentId"] == "agent-tech"
    assert summary["conversations"] == 2  # re-routed to tech: i = 1 and 3
    assert summary["escalationRate"] == 0.0  # escalated by billing, not tech


def test_bad_filters_are_shown_and_no_figures_computed(manager_client, team, url):
    response = manager_client.get(url, {"from": "soon", "agentId": "agent-nobody"})

    assert response.status_code == 200
    assert set(response.context["errors"]) == {"from", "agentId"}
    assert "figures" not in response.context
    assert 'id="window-errors"' in response.content.decode()


def test_the_csv_export_holds_the_figures(manager_client, team):
    grow(team, 4)

    response = manager_client.get(reverse("admin:insight_dashboard_csv"), WINDOW)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "metrics-acme-20250303-20250310.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["metric", "group", "value"]
    values = {(metric, group): value for metric, group, value in rows[1:]}
    assert values[("conversations", "")] == "4"
    assert values[("escalationRate", "")] == "0.5"
    assert values[("handoffs.total", "")] == "4"
    assert values[("meanTimeToResolution.seconds", "agent:agent-billing")] == "3600.0"
    assert values[("meanTimeToResolution.seconds", "workflow:Returns")] == "3600.0"
    assert values[("daily.conversations", "2025-03-03")] == "1"
    assert ("approvalTurnaround.p90Seconds", "") in values


def test_no_csv_cell_starts_with_text_a_spreadsheet_would_run(manager_client, team, tenant):
    wf = Workflow.objects.create(tenant=tenant, name="=HYPERLINK(1)")
    conversation(team[1], when=at(4), resolved=at(4, 13), workflow=wf)

    body = manager_client.get(reverse("admin:insight_dashboard_csv"), WINDOW).content.decode()

    cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
    assert "workflow:=HYPERLINK(1)" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@")]


def test_bad_csv_parameters_are_a_400(manager_client, team):
    response = manager_client.get(reverse("admin:insight_dashboard_csv"), {"to": "never"})

    assert response.status_code == 400
    assert b"to:" in response.content


def test_a_manager_sees_only_their_tenant(team, other_manager, other_tenant, tenant, url):
    grow(team, 3)
    other = Agent.objects.create(tenant=other_tenant, slug="agent-x", name="X", role="supervisor")
    conversation(other, when=at(5))
    client = login(other_manager)

    own = client.get(url, WINDOW)
    assert own.context["tenant"] == other_tenant
    assert own.context["summary"]["conversations"] == 1
    assert "agent-billing" not in own.content.decode()
    assert client.get(url, {**WINDOW, "tenant": tenant.pk}).status_code == 404
    csv_url = reverse("admin:insight_dashboard_csv")
    assert client.get(csv_url, {**WINDOW, "tenant": tenant.pk}).status_code == 404
    assert client.get(url, {**WINDOW, "agentId": "agent-billing"}).context["errors"] == {
        "agentId": ["unknown agent 'agent-billing'"]
    }


def test_a_superuser_picks_the_tenant(team, other_tenant, tenant, url):
    grow(team, 3)
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = login_superuser(admin)

    chosen = client.get(url, {**WINDOW, "tenant": tenant.pk})
    other = client.get(url, {**WINDOW, "tenant": other_tenant.pk})

    assert chosen.context["summary"]["conversations"] == 3
    assert other.context["summary"]["conversations"] == 0
    assert 'name="tenant"' in chosen.content.decode()
    assert client.get(url, {"tenant": 999999}).status_code == 404


def login_superuser(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_people_who_are_not_managers_are_sent_to_the_login(tenant, url):
    from tests.factories import make_person

    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    response = login(ada).get(url)

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_the_number_of_queries_per_dashboard_request_does_not_grow(
    manager_client, team, url, django_assert_max_num_queries
):
    grow(team, 3)
    manager_client.get(url, WINDOW)  # the session is warm
    with CaptureQueriesContext(connection) as small:
        manager_client.get(url, WINDOW)
    grow(team, 60, offset=3)
    with CaptureQueriesContext(connection) as large, django_assert_max_num_queries(len(small)):
        response = manager_client.get(url, WINDOW)

    assert response.context["summary"]["conversations"] == 63
    assert len(large) == len(small)
    with django_assert_max_num_queries(len(small)):
        manager_client.get(reverse("admin:insight_dashboard_csv"), WINDOW)


def test_chart_labels_are_escaped(manager_client, team, tenant, url):
    sneaky = Agent.objects.create(
        tenant=tenant, slug="agent-sneaky", name="<script>alert(1)</script>", role="supervisor"
    )
    conversation(sneaky, when=at(4), resolved=at(4, 13))

    page = manager_client.get(url, WINDOW).content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_dashboard_counts_the_windows_tags_and_links_each_to_the_history(
    manager_client, team, tenant, other_tenant, url
):
    from conversations.tags import conversation_tag
    from tests.factories import make_team

    sup, billing, _ = team
    inside = [conversation(sup, when=at(4, 9)) for _ in range(3)]
    routed(inside[0], billing, when=at(4, 9, 1), source=sup)
    before = conversation(sup, when=at(1, 9))  # March 1: before the window
    for conv in inside:
        conversation_tag(conversation=conv, name="damaged")
    conversation_tag(conversation=inside[0], name="vip")
    conversation_tag(conversation=before, name="damaged")  # started before the window
    theirs = make_team(other_tenant)
    conversation_tag(conversation=conversation(theirs[0], when=at(4, 9)), name="secret-theirs")

    page = manager_client.get(url, WINDOW)

    assert page.context["tags"][0]["name"] == "damaged"
    assert [(t["name"], t["conversations"]) for t in page.context["tags"]] == [
        ("damaged", 3),
        ("vip", 1),
    ]
    html = page.content.decode()
    assert "secret-theirs" not in html
    assert "/inbox/history/?tag=damaged&amp;since=" in html
    # narrowed to an agent: the conversations it took part in
    billing_only = manager_client.get(url, {**WINDOW, "agentId": billing.slug}).context["tags"]
    assert [(t["name"], t["conversations"]) for t in billing_only] == [("damaged", 1), ("vip", 1)]

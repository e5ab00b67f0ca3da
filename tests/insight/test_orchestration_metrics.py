"""The metrics the product docs name (issue 19, point 9; seeds/004): end-to-end task
completion, handoff success between agents, and the failure and retry rates of agent calls,
from the typed decision events, aggregated in the database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.insight.support import WINDOW, at, conversation, event, handoff

pytestmark = pytest.mark.django_db


def metrics(client, **params):
    response = client.get("/api/v1/metrics", {**WINDOW, **params})
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def story(team):
    """Four conversations in the window: c1 resolved by the AI; c2 handed to people and
    resolved; c3 open; c4 resolved, but started before the window. Transfers: c1 front desk ->
    billing, billing answered; c2 front desk -> tech, tech never answered; a consultation (not
    a transfer). Agent runs: builtin 3 (1 failed), webhook 4 (1 failed, 2 retried), openai 1."""
    sup = team[0]
    c1 = conversation(sup, when=at(4), resolved=at(4, 13))
    c2 = conversation(sup, when=at(5), resolved=at(5, 15))
    handoff(c2, when=at(5, 14))
    c3 = conversation(sup, when=at(6))
    conversation(sup, when=at(1), resolved=at(4, 9))

    event(
        c1,
        "agent.rerouted",
        when=at(4, 12, 1),
        agent="agent-billing",
        detail={"to": "agent-billing", "from": "agent-sup"},
    )
    event(
        c1,
        "agent.replied",
        when=at(4, 12, 2),
        agent="agent-billing",
        detail={"answered": True, "runtime": "builtin"},
    )
    event(
        c2,
        "agent.routed",
        when=at(5, 12, 1),
        agent="agent-tech",
        detail={"to": "agent-tech", "from": "agent-sup"},
    )
    event(
        c2,
        "agent.replied",
        when=at(5, 12, 2),
        agent="agent-tech",
        detail={"answered": False, "runtime": "builtin"},
    )
    event(
        c3,
        "agent.routed",
        when=at(6, 12, 1),
        agent="agent-billing",
        detail={"to": "agent-billing", "from": "agent-sup", "mode": "consultation"},
    )
    event(
        c3,
        "agent.error",
        when=at(6, 12, 2),
        agent="agent-sup",
        detail={"error": "boom", "runtime": "builtin"},
    )
    for i, (kind, detail) in enumerate(
        [
            ("agent.replied", {"answered": True, "runtime": "webhook"}),
            (
                "agent.replied",
                {"answered": True, "runtime": "webhook", "retried": [{"error": "timeout"}]},
            ),
            (
                "agent.error",
                {
                    "error": "503",
                    "attempts": 3,
                    "runtime": "webhook",
                    "retried": [{"error": "503"}],
                },
            ),
            ("agent.replied", {"answered": True, "runtime": "webhook"}),
            ("agent.replied", {"answered": True, "runtime": "openai"}),
        ]
    ):
        event(c3, kind, when=at(7, 10, i), agent="agent-tech", detail=detail)
    return team


def test_task_completion_counts_the_conversations_started_in_the_window(key_client, story):
    body = metrics(key_client)

    assert body["taskCompletionRate"] == pytest.approx(2 / 3, abs=1e-4)
    assert body["tasks"] == {"started": 3, "resolved": 2, "resolvedByAI": 1}


def test_handoff_success_between_agents_needs_the_receiver_to_answer(key_client, story):
    body = metrics(key_client)

    assert body["agentHandoffs"] == {"transfers": 2, "answered": 1}  # the consultation: no
    assert body["agentHandoffSuccessRate"] == 0.5
    assert metrics(key_client, agentId="agent-tech")["agentHandoffs"] == {
        "transfers": 1,
        "answered": 0,
    }


def test_agent_calls_fail_and_retry_per_runtime(key_client, story):
    body = metrics(key_client)

    assert body["agentCalls"] == [
        {
            "runtime": "builtin",
            "calls": 3,
            "failed": 1,
            "retried": 0,
            "failureRate": 0.3333,
            "retryRate": 0.0,
        },
        {
            "runtime": "openai",
            "calls": 1,
            "failed": 0,
            "retried": 0,
            "failureRate": 0.0,
            "retryRate": 0.0,
        },
        {
            "runtime": "webhook",
            "calls": 4,
            "failed": 1,
            "retried": 2,
            "failureRate": 0.25,
            "retryRate": 0.5,
        },
    ]
    # over the network runtimes: 5 calls, 1 failed, 2 retried
    assert (body["agentCallFailureRate"], body["agentCallRetryRate"]) == (0.2, 0.4)


def test_the_new_figures_cost_a_fixed_number_of_queries(key_client, story, team):
    metrics(key_client)  # the key's last use is written once a minute
    with CaptureQueriesContext(connection) as small:
        metrics(key_client)
    sup = team[0]
    for day in range(3, 10):
        c = conversation(sup, when=at(day), resolved=at(day, 18))
        event(
            c,
            "agent.routed",
            when=at(day, 13),
            agent="agent-tech",
            detail={"to": "agent-tech", "from": "agent-sup"},
        )
        event(
            c,
            "agent.replied",
            when=at(day, 14),
            agent="agent-tech",
            detail={"answered": True, "runtime": "webhook"},
        )
    with CaptureQueriesContext(connection) as large:
        body = metrics(key_client)

    assert body["tasks"]["started"] == 10
    assert len(large) == len(small)


def test_the_dashboard_shows_the_new_figures(manager_client, story):
    html = manager_client.get(reverse("admin:insight_dashboard"), WINDOW).content.decode()

    assert 'data-metric="taskCompletionRate" data-value="0.6667"' in html
    assert 'data-metric="agentHandoffSuccessRate" data-value="0.5"' in html
    assert 'data-metric="agentCallFailureRate" data-value="0.2"' in html
    assert 'data-metric="agentCallRetryRate" data-value="0.4"' in html
    csv = manager_client.get(reverse("admin:insight_dashboard_csv"), WINDOW).content.decode()
    assert "agentCalls.retried,runtime:webhook,2" in csv

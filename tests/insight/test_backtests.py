"""Backtesting a draft rules document from the admin: the tenant's last N conversations are
replayed through the compiled draft and compared with what the live rules decided, with no
side effects; long runs go to Celery with a progress bar; results are kept."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.models import Agent, RuleSet, RuleVersion
from conversations.models import (
    Conversation,
    DecisionEvent,
    Message,
)
from insight.backtests import backtest_start
from insight.models import (
    Backtest,
    BacktestDifference,
)
from tests.conftest import login
from tests.insight.support import say, start

pytestmark = pytest.mark.django_db

BILLING_TO_TECH = {
    "escalation": {"intents": ["human_agent"], "escalateToHuman": True},
    "handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "agent-tech"}],
}


def run(client, agent, draft, size=10, **extra):
    return client.post(
        reverse("admin:insight_backtest_add"),
        {"agent": agent.pk, "size": size, "draft": json.dumps(draft), **extra},
    )


def test_a_draft_routing_billing_elsewhere_changes_exactly_the_billing_conversations(
    manager_client, team, history
):
    sup = team[0]

    response = run(manager_client, sup, BILLING_TO_TECH, size=6)

    backtest = Backtest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:insight_backtest_change", args=[backtest.pk])
    assert backtest.status == "done"
    differing = {str(d.conversation_id) for d in backtest.differences.all()}
    assert differing == {history[0], history[2], history[4]}
    summary = backtest.summary
    assert summary["conversations"] == 6
    assert (summary["differing"], summary["routeDifferently"], summary["escalateDifferently"]) == (
        3,
        3,
        0,
    )
    assert summary["scope"] == ["agent-billing", "agent-sup", "agent-tech"]
    first = backtest.differences.get(conversation_id=history[0])
    assert (first.live, first.draft) == ("hand off to agent-billing", "hand off to agent-tech")
    assert first.messages[0]["liveRule"] == "agent-sup v1 handoffs[0]"
    assert first.messages[0]["turn"] == 1
    # in conversation 5, the second billing message was with billing (inheriting the
    # front desk's rules): live it stayed, the draft would hand it to tech
    fifth = backtest.differences.get(conversation_id=history[4])
    assert [(m["turn"], m["agent"], m["live"], m["draft"]) for m in fifth.messages] == [
        (1, "agent-sup", "hand off to agent-billing", "hand off to agent-tech"),
        (2, "agent-billing", "the agent answers", "hand off to agent-tech"),
    ]


def test_the_live_rules_replayed_as_a_draft_change_nothing(manager_client, team, history):
    sup = team[0]
    live = RuleVersion.objects.get(agent=sup, version=1).document

    run(manager_client, sup, live, size=6)

    backtest = Backtest.objects.get()
    assert backtest.summary["differing"] == 0
    assert (
        backtest.summary["live"]
        == backtest.summary["draft"]
        == {
            "escalations": 0,
            "handoffs": 3,
        }
    )


def test_only_the_last_n_conversations_are_replayed(manager_client, team, history):
    run(manager_client, team[0], BILLING_TO_TECH, size=3)

    backtest = Backtest.objects.get()
    assert backtest.summary["conversations"] == 3
    assert {str(d.conversation_id) for d in backtest.differences.all()} == {history[4]}


def test_an_escalation_draft_counts_escalations_and_attempts(key_client, manager_client, team):
    _sup, _billing, tech = team
    conv = start(key_client)
    say(key_client, conv["id"], "The app crashes", intent="technical")  # routed to tech
    say(key_client, conv["id"], "Something unknown", intent="technical")  # not answered: 1
    say(key_client, conv["id"], "Still unknown", intent="technical")  # not answered: 2
    say(key_client, conv["id"], "The app crashes", intent="technical")  # sees attempts 2

    run(manager_client, tech, {"escalation": {"maxAttempts": 2, "escalateToHuman": True}})

    difference = BacktestDifference.objects.get()
    assert [(m["turn"], m["signals"]["attempts"]) for m in difference.messages] == [(4, 2)]
    assert (difference.live, difference.draft) == ("the agent answers", "escalate to a human")
    assert difference.escalates_differently and not difference.routes_differently
    # the draft is tech's own: the front desk keeps its rules, so only tech's turns count
    assert Backtest.objects.get().summary["scope"] == ["agent-tech"]


def test_the_replay_writes_nothing_but_the_backtest(manager, team, history):
    counts = {
        model: model.objects.count()
        for model in (Conversation, Message, DecisionEvent, RuleSet, RuleVersion, Agent)
    }

    with CaptureQueriesContext(connection) as queries:
        backtest_start(agent=team[0], draft=BILLING_TO_TECH, size=6, user=manager)

    writes = [
        q["sql"] for q in queries if re.match(r"\s*(INSERT|UPDATE|DELETE)", q["sql"], re.IGNORECASE)
    ]
    assert writes
    tables = {re.search(r'(?:INTO|UPDATE|FROM)\s+"?(\w+)"?', sql).group(1) for sql in writes}
    assert tables <= {"orchestration_backtest", "orchestration_backtestdifference"}
    assert {model: model.objects.count() for model in counts} == counts


def test_the_queries_of_a_replay_grow_with_batches_not_conversations(manager, team, key_client):
    for _ in range(30):
        conv = start(key_client)
        say(key_client, conv["id"], "Where is my invoice?", intent="billing")

    with CaptureQueriesContext(connection) as few:
        backtest_start(agent=team[0], draft=BILLING_TO_TECH, size=5, user=manager)
    with CaptureQueriesContext(connection) as many:
        backtest_start(agent=team[0], draft=BILLING_TO_TECH, size=25, user=manager)

    assert len(many) == len(few)


def test_an_invalid_draft_is_an_error_at_the_field(manager_client, team, history):
    response = run(
        manager_client,
        team[0],
        {"handoffs": [{"condition": 'intent = "billing"', "targetAgentId": "agent-nobody"}]},
    )

    assert response.status_code == 200
    errors = response.context["form"].errors["draft"]
    assert any(e.startswith("handoffs[0].condition: ") for e in errors)
    assert "handoffs[0].targetAgentId: unknown agent 'agent-nobody'" in errors
    assert Backtest.objects.count() == 0
    page = response.content.decode()
    assert 'class="form-row errors field-draft"' in page


def test_a_draft_that_is_not_json_is_an_error_at_the_field(manager_client, team):
    response = manager_client.post(
        reverse("admin:insight_backtest_add"),
        {"agent": team[0].pk, "size": 5, "draft": '{"handoffs": ['},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["draft"][0].startswith("Not valid JSON:")


def test_the_live_rules_can_be_loaded_into_the_draft(manager_client, team):
    response = manager_client.post(
        reverse("admin:insight_backtest_add"),
        {"agent": team[1].pk, "size": 5, "draft": "", "load": "1"},
    )

    assert response.status_code == 200
    draft = json.loads(response.context["form"].initial["draft"])
    assert draft["handoffs"] == [
        {"condition": 'intent == "billing"', "targetAgentId": "agent-billing"}
    ]
    assert Backtest.objects.count() == 0


def test_a_long_run_goes_to_celery_with_progress(
    manager_client, team, history, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = run(manager_client, team[0], BILLING_TO_TECH, size=60)

    backtest = Backtest.objects.get()
    assert backtest.status == "queued"  # nothing ran in the request
    progress_url = reverse("admin:insight_backtest_progress", args=[backtest.pk])
    queued = manager_client.get(progress_url).json()
    assert (queued["status"], queued["finished"], queued["progress"]) == ("queued", False, 0)
    page = manager_client.get(response["Location"]).content.decode()
    assert f'data-url="{progress_url}"' in page
    assert "insight/backtest.js" in page

    for callback in callbacks:
        callback()

    done = manager_client.get(progress_url).json()
    assert done == {
        "id": backtest.pk,
        "status": "done",
        "progress": 6,
        "total": 6,
        "percent": 100,
        "finished": True,
        "error": None,
        "differing": 3,
    }


def test_a_backtest_is_replayed_once_whatever_the_deliveries(manager, team, history):
    from insight.tasks import run_backtest

    backtest = backtest_start(agent=team[0], draft=BILLING_TO_TECH, size=60, user=manager)
    assert backtest.status == "queued"

    assert run_backtest(backtest.pk) == "done"
    finished = Backtest.objects.get().finished_at
    assert run_backtest(backtest.pk) == "done"
    assert Backtest.objects.get().finished_at == finished
    assert BacktestDifference.objects.count() == 3


def test_the_result_page_lists_the_differences_with_links_to_their_timelines(
    manager_client, team, history
):
    response = run(manager_client, team[0], BILLING_TO_TECH, size=6)

    page = manager_client.get(response["Location"]).content.decode()
    for conversation_id in (history[0], history[2], history[4]):
        assert reverse("admin:insight_timeline", args=[conversation_id]) in page
    assert reverse("admin:insight_timeline", args=[history[1]]) not in page
    assert 'data-figure="differing">3<' in page


def test_another_tenants_backtests_and_agents_are_out_of_reach(
    manager_client, team, history, other_manager, other_tenant
):
    run(manager_client, team[0], BILLING_TO_TECH, size=6)
    backtest = Backtest.objects.get()
    other = login(other_manager)

    change = reverse("admin:insight_backtest_change", args=[backtest.pk])
    assert other.get(change).status_code == 404
    progress = reverse("admin:insight_backtest_progress", args=[backtest.pk])
    assert other.get(progress).status_code == 404
    listing = other.get(reverse("admin:insight_backtest_changelist"))
    assert listing.context["cl"].result_count == 0
    response = run(other, team[0], BILLING_TO_TECH, size=6)
    assert "agent" in response.context["form"].errors
    assert Backtest.objects.count() == 1

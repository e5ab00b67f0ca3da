"""``manage.py simulate``: synthetic conversations through the API on the demo tenant."""

from __future__ import annotations

import copy
import json
from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agents.models import Agent
from agents.rule_sets import rules_update
from conversations.models import DecisionEvent
from core.models import (
    ApiKey,
    Tenant,
)
from stacks.demo import seed_demo
from tests.factories import make_api_key
from tools.simulation import (
    JOURNEYS,
    InProcessTransport,
    Plan,
    Summary,
    plan_conversations,
    run_conversation,
    simulation_key,
)

SMALL = 6


@pytest.fixture
def demo(db) -> Tenant:
    seed_demo()
    return Tenant.objects.get(slug="demo")


def simulate(*args, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("simulate", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def figures(**options) -> dict:
    out, _ = simulate("--json", conversations=SMALL, seed=7, **options)
    return json.loads(out)


def test_summary_shows_routes_and_escalations(demo):
    data = figures()

    assert data["conversations"] == SMALL
    assert data["messages"] >= 2 * SMALL
    assert sum(data["routes"].values()) >= 1
    escalations = sum(data["escalations_to_humans"].values()) + sum(
        data["escalations_to_agents"].values()
    )
    assert escalations >= 1
    assert sum(data["final_states"].values()) == SMALL
    assert data["api_errors"] == {}
    assert data["latencyMs"]["p95"] >= data["latencyMs"]["mean"] / 10 > 0


def test_text_summary_names_each_figure(demo):
    out, _ = simulate(conversations=SMALL, seed=7)

    assert out.startswith(f"Simulated {SMALL} conversations in process (seed 7")
    for label in (
        "customer messages",
        "replies",
        "latency per message",
        "routes",
        "invisible re-routes",
        "handoff-rule fires",
        "escalations",
        "to agents",
        "to humans",
        "risk escalations",
        "stalls",
        "agent errors",
        "proposed actions",
        "final states",
    ):
        assert f"\n  {label}" in out or f"\n    {label}" in out, label


def test_progress_bar_only_when_asked(demo):
    _, quiet = simulate(conversations=2, seed=7)
    _, drawn = simulate("--progress", conversations=2, seed=7)
    _, refused = simulate("--no-progress", conversations=2, seed=7)

    assert quiet == "" and refused == ""
    assert "\r[" + "." * 30 + "] 0/2" in drawn
    assert drawn.endswith("\r[" + "#" * 30 + "] 2/2\n")


def test_same_seed_same_figures(demo):
    def stable(data):
        return {k: v for k, v in data.items() if k not in ("seconds", "latencyMs")}

    first, second = figures(), figures()

    assert stable(first) == stable(second)
    assert plan_conversations(SMALL, 7) == plan_conversations(SMALL, 7)
    assert plan_conversations(SMALL, 7) != plan_conversations(SMALL, 8)


def test_plans_vary_the_journeys_and_stay_in_bounds():
    plans = plan_conversations(len(JOURNEYS) * 3, 11)
    bounds = {j.name: j.messages for j in JOURNEYS}

    assert {p.journey for p in plans[: len(JOURNEYS)]} == set(bounds)
    for plan in plans:
        low, high = bounds[plan.journey]
        assert low <= len(plan.messages) <= high
        assert all(m.strip() for m in plan.messages)
    assert len({p.messages[0] for p in plans}) > len(plans) * 0.8


def test_refund_plans_carry_the_amount_the_customer_wrote():
    plans = [p for p in plan_conversations(60, 5) if p.journey.startswith("refund")]

    assert plans
    for plan in plans:
        amount = plan.refund["amount"]
        assert (amount > 100) == (plan.journey == "refund over 100")
        assert f"{amount:.2f}".removesuffix(".00") in plan.messages[0].replace(",", "")


def test_a_refund_over_100_waits_for_approval_and_one_under_runs(demo):
    def refund(index, amount):
        return Plan(
            index=index,
            journey="refund",
            channel="web",
            customer={"id": f"refund-{index}", "name": "Kim"},
            messages=(f"I need a refund of €{amount} for order A1.",),
            wait_message=None,
            refund={"orderId": "A1", "amount": amount, "currency": "EUR"},
        )

    with simulation_key(demo) as raw:
        transport = InProcessTransport(raw)
        big = run_conversation(transport, refund(0, 250.0), "agent-supervisor")
        small = run_conversation(transport, refund(1, 40.0), "agent-supervisor")
    summary = Summary(agent_ids=frozenset({"agent-billing"}))
    summary.add(big)
    summary.add(small)

    assert big.refund_requests == {"over 100: waiting for approval": 1}
    assert small.refund_requests == {"up to 100: ran at once": 1}
    assert summary.approvals_requested == {"issue_refund": 1}
    assert summary.actions_executed["issue_refund"] >= 1


def test_revokes_its_own_key(demo):
    simulate(conversations=2, seed=3)
    simulate(conversations=2, seed=4)

    keys = ApiKey.objects.filter(tenant=demo, name="simulate")
    assert keys.count() == 2
    assert not keys.filter(revoked_at__isnull=True).exists()
    assert ApiKey.objects.filter(tenant=demo, name="demo", revoked_at__isnull=True).exists()


def test_fails_clearly_without_the_demo_tenant(db):
    with pytest.raises(CommandError, match=r"No tenant 'demo': run manage.py seed_demo first"):
        simulate(conversations=2)
    assert not ApiKey.objects.exists()


def test_fails_clearly_when_the_tenant_has_no_agents(tenant):
    with pytest.raises(CommandError, match=r"'acme' has no agents: run manage.py seed_demo"):
        simulate(tenant="acme", conversations=2)
    assert not ApiKey.objects.exists()


def test_base_url_needs_an_api_key(db):
    with pytest.raises(CommandError, match="--base-url needs --api-key"):
        simulate(base_url="http://127.0.0.1:9")


@pytest.mark.django_db(transaction=True)
def test_over_http_to_a_running_server(live_server):
    seed_demo()
    _, raw = make_api_key(tenant=Tenant.objects.get(slug="demo"), name="http")

    out, _ = simulate("--json", base_url=live_server.url, api_key=raw, conversations=3, seed=7)

    data = json.loads(out)
    assert data["transport"].startswith("over HTTP to http://")
    assert data["conversations"] == 3 and data["api_errors"] == {}
    assert sum(data["routes"].values()) + sum(data["escalations_to_humans"].values()) >= 1


def test_over_http_a_refused_key_fails_clearly(live_server):
    with pytest.raises(CommandError, match="The API refused the key: 401"):
        simulate(base_url=live_server.url, api_key="tka_nope", conversations=1)


def test_the_report_reads_fields_never_the_reasons_words(demo):
    # without handoff rules the router routes the demo's conversations by their intent
    for agent in Agent.objects.filter(tenant=demo, rules__isnull=False):
        rules_update(agent=agent, changes={"handoffs": None})
    with simulation_key(demo) as raw:
        transport = InProcessTransport(raw)
        outcomes = [
            run_conversation(transport, plan, "agent-supervisor")
            for plan in plan_conversations(12, 3)
        ]
    reworded = copy.deepcopy(outcomes)
    for outcome in reworded:
        for event in outcome.events:
            for key in ("reason", "why"):
                if key in event["detail"]:
                    event["detail"][key] = "put in other words"
    as_written, as_reworded = Summary(), Summary()
    for outcome in outcomes:
        as_written.add(outcome)
    for outcome in reworded:
        as_reworded.add(outcome)

    routed = Counter(
        f"router: intent {e.detail['intent']}"
        for e in DecisionEvent.objects.filter(
            tenant=demo, type="agent.routed", detail__reasonCode="intent_in_domains"
        )
    )
    assert routed  # the router did route some
    assert {k: v for k, v in as_written.route_reasons.items() if k.startswith("router:")} == routed
    assert {k: v for k, v in as_reworded.route_reasons.items() if k.startswith("router:")} == routed
    assert as_reworded.routes == as_written.routes
    assert as_reworded.risk == as_written.risk
    assert as_reworded.as_dict()["events"] == as_written.as_dict()["events"]

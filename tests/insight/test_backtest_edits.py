"""Backtesting edits made in the rules form, and applying a backtested draft as the live
rules (issue 19, point 11): a manager edits an agent's orchestration rules in the admin's
form, replays them without saving, and after seeing the result makes the draft a new rule
version."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from agents.models import Agent, HandoffRule, RuleSet, RuleVersion
from agents.rule_sets import rules_update
from insight.models import Backtest
from tests.conftest import login
from tests.insight.test_backtests import BILLING_TO_TECH, run

pytestmark = pytest.mark.django_db


def edited_rules(ruleset: RuleSet, target: Agent, **overrides) -> dict:
    """The change form of ``ruleset`` as the manager submits it, its one handoff rule sent
    to ``target``."""
    rule = ruleset.handoffs.get()
    data = {
        "has_escalation": "on",
        "max_attempts": "",
        "escalation_intents": "human_agent",
        "escalation_target": "",
        "escalate_to_human": "on",
        "has_approvals": "",
        "approvals_required": "on",
        "approvers": "",
        "quorum": "1",
        "handoffs-TOTAL_FORMS": "1",
        "handoffs-INITIAL_FORMS": "1",
        "handoffs-0-id": rule.pk,
        "handoffs-0-ruleset": ruleset.pk,
        "handoffs-0-position": "0",
        "handoffs-0-condition": rule.condition,
        "handoffs-0-target": target.pk,
        "actions-TOTAL_FORMS": "0",
        "actions-INITIAL_FORMS": "0",
        "backtest_size": "6",
        "_backtest": "Backtest these edits",
    }
    data.update(overrides)
    return data


def test_edits_in_the_rules_form_are_backtested_without_being_saved(
    manager_client,
    team,
    history,
):
    sup, _billing, tech = team[0], team[1], team[2]
    ruleset = RuleSet.objects.get(agent=sup)
    change = reverse("admin:agents_ruleset_change", args=[ruleset.pk])
    assert b"Backtest these edits" in manager_client.get(change).content

    response = manager_client.post(change, edited_rules(ruleset, tech))

    backtest = Backtest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:insight_backtest_change", args=[backtest.pk])
    assert backtest.draft["handoffs"] == [
        {"condition": 'intent == "billing"', "targetAgentId": "agent-tech"}
    ]
    assert backtest.size == 6
    assert backtest.summary["differing"] == 3  # the three billing conversations
    # nothing was saved: the live rule still goes to billing, no version was added
    assert HandoffRule.objects.get(ruleset=ruleset).target.slug == "agent-billing"
    assert RuleVersion.objects.filter(agent=sup).count() == 1
    assert not [m for m in get_messages(response.wsgi_request) if "changed" in str(m)]


def test_invalid_edits_show_the_form_with_its_errors_and_start_nothing(
    manager_client,
    team,
    history,
):
    ruleset = RuleSet.objects.get(agent=team[0])
    change = reverse("admin:agents_ruleset_change", args=[ruleset.pk])

    response = manager_client.post(
        change, edited_rules(ruleset, team[2], **{"handoffs-0-condition": "intent =="})
    )

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.errors[0]["condition"]
    assert Backtest.objects.count() == 0


def test_a_backtested_draft_is_applied_as_a_new_rule_version(
    manager_client,
    manager,
    team,
    history,
):
    sup = team[0]
    run(manager_client, sup, BILLING_TO_TECH, size=6)
    backtest = Backtest.objects.get()
    page = manager_client.get(reverse("admin:insight_backtest_change", args=[backtest.pk]))
    apply = reverse("admin:insight_backtest_apply", args=[backtest.pk])
    assert apply.encode() in page.content

    response = manager_client.post(apply)

    assert response["Location"] == reverse("admin:agents_ruleset_rules_history", args=[sup.pk])
    latest = RuleVersion.objects.filter(agent=sup).order_by("-version").first()
    assert (latest.version, latest.via, latest.created_by) == (2, "backtest", manager)
    assert latest.document["handoffs"] == BILLING_TO_TECH["handoffs"]
    assert HandoffRule.objects.get(ruleset__agent=sup).target.slug == "agent-tech"
    # a second apply is refused: the rules changed since the backtest ran (by itself)
    again = manager_client.post(apply)
    assert again.status_code == 302
    assert RuleVersion.objects.filter(agent=sup).count() == 2
    assert any("changed since" in str(m) for m in get_messages(again.wsgi_request))


def test_a_draft_is_not_applied_over_rules_changed_after_the_backtest(
    manager_client,
    team,
    history,
):
    sup = team[0]
    run(manager_client, sup, BILLING_TO_TECH, size=6)
    backtest = Backtest.objects.get()
    rules_update(agent=sup, changes={"approvals": None})  # someone else changes them: v2

    response = manager_client.post(reverse("admin:insight_backtest_apply", args=[backtest.pk]))

    assert response.status_code == 302
    assert RuleVersion.objects.filter(agent=sup).count() == 2
    assert HandoffRule.objects.get(ruleset__agent=sup).target.slug == "agent-billing"


def test_another_tenant_cannot_apply_a_backtest_and_get_is_refused(
    manager_client,
    team,
    history,
    other_manager,
):
    run(manager_client, team[0], BILLING_TO_TECH, size=6)
    apply = reverse("admin:insight_backtest_apply", args=[Backtest.objects.get().pk])

    assert login(other_manager).post(apply).status_code == 404
    assert manager_client.get(apply).status_code == 405
    assert RuleVersion.objects.filter(agent=team[0]).count() == 1

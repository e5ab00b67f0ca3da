"""The admin's rule tester on a draft rule set (issue 20 point 5), in Chromium against a real
ASGI server: a manager pastes a draft (not saved), tests it on a sample message and sees which
rule fires and the decision; a draft that is not valid shows what is wrong at its field, with
the pasted text still there to fix. The page runs what ``POST
/api/v1/agents/{id}/orchestration/rules/test`` runs (``orchestration.rule_tester``)."""

from __future__ import annotations

import json

import pytest

from agents.models import Agent
from tests.browser.conftest import screenshot, sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser

TESTER = "/admin/agents/ruleset/tester/"
INVOICE = "I was charged twice on my last invoice"
TO_TECH = {"handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "agent-tech"}]}


def _rules_of(agent) -> list[tuple[str, str]]:
    return [(h.condition, h.target.slug) for h in agent.rules.handoffs.select_related("target")]


def test_a_manager_tries_a_draft_rule_on_a_sample_message(demo_manager, pages):
    manager, root = demo_manager
    saved = _rules_of(root)
    page = pages(viewport=(1366, 768))
    sign_in(page, manager, path=TESTER)

    page.get_by_label("Agent").select_option(str(root.pk))
    page.get_by_label("Message").fill(INVOICE)
    page.get_by_label("Draft rules").fill(json.dumps(TO_TECH, indent=2))
    page.get_by_role("button", name="Test the rules").click()

    expect(page.locator("#draft-applied")).to_have_text("the draft")
    expect(page.locator("#decision")).to_have_text("Decision: hand off to agent-tech")
    fired = page.locator("#trace li.fired")
    expect(fired).to_have_count(1)
    expect(fired).to_contain_text('fires: handoffs[0]: intent == "billing" → agent-tech')
    expect(fired.locator(".why")).to_contain_text('(intent is "billing")')
    expect(page.locator("#pipeline-decision")).to_contain_text("agent-tech answers")
    expect(page.locator("#lint-warnings")).to_contain_text("No warnings on the rules applied.")
    screenshot(page, "rule-tester-draft")
    # a draft is only tried: the saved rules are as they were
    assert _rules_of(Agent.objects.get(pk=root.pk)) == saved


def test_an_invalid_draft_shows_the_problem_and_keeps_the_text(demo_manager, pages):
    manager, root = demo_manager
    page = pages(viewport=(1366, 768))
    sign_in(page, manager, path=TESTER)
    broken = '{"handoffs": [{"condition": "intent ==", "targetAgentId": "agent-tech"}]}'

    page.get_by_label("Agent").select_option(str(root.pk))
    page.get_by_label("Message").fill(INVOICE)
    page.get_by_label("Draft rules").fill(broken)
    page.get_by_role("button", name="Test the rules").click()

    errors = page.locator(".field-draft .errorlist")
    expect(errors).to_contain_text("handoffs[0].condition:")
    expect(page.locator("#decision")).to_have_count(0)  # nothing was run
    expect(page.get_by_label("Draft rules")).to_have_value(broken)
    expect(page.get_by_label("Message")).to_have_value(INVOICE)
    screenshot(page, "rule-tester-invalid")

    page.get_by_label("Draft rules").fill("{oops")
    page.get_by_role("button", name="Test the rules").click()
    expect(page.locator(".field-draft .errorlist")).to_contain_text("Not JSON")
    expect(page.locator("#decision")).to_have_count(0)

"""The manager's console at 1366x768 (issue 19, point 11), on the demo data: the rules form's
headings read right, the workflow page fits the window, every agent sits on one line of the
agents list, and the rule tester's form has the admin's aligned layout."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from agents.models import RuleSet, Workflow
from stacks.demo import seed_demo
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser

WINDOW = (1366, 768)


@pytest.fixture
def demo(transactional_db):
    seed_demo()
    return get_user_model().objects.get(username="manager")


def test_the_console_fits_and_reads_right_at_1366(demo, pages):
    page = pages(viewport=WINDOW)
    ruleset = RuleSet.objects.get(agent__slug="agent-supervisor")
    sign_in(page, demo, path=f"/admin/agents/ruleset/{ruleset.pk}/change/")

    headings = page.locator(".inline-group h2").all_inner_texts()
    assert [h.lower() for h in headings] == [
        "handoff rules (first match wins)",
        "actions that need approval",
    ]

    workflow = Workflow.objects.filter(tenant=ruleset.agent.tenant).first()
    page.goto(f"/admin/agents/workflow/{workflow.pk}/change/")
    screenshot(page, "console-workflow")
    assert page.evaluate("document.documentElement.scrollWidth") <= WINDOW[0]

    page.goto("/admin/agents/agent/")
    screenshot(page, "console-agents")
    heights = page.eval_on_selector_all(
        "#result_list tbody tr", "rows => rows.map(r => r.getBoundingClientRect().height)"
    )
    line = page.eval_on_selector(
        "#result_list tbody td", "td => parseFloat(getComputedStyle(td).lineHeight)"
    )
    assert len(heights) == 9
    assert max(heights) < 2 * line + 20  # one line of text and the cell's padding

    page.goto("/admin/agents/ruleset/tester/")
    screenshot(page, "console-tester")
    label = page.locator("label[for='id_message']")
    assert label.evaluate("l => getComputedStyle(l).minWidth") == "160px"  # forms.css' .aligned
    assert page.evaluate("document.documentElement.scrollWidth") <= WINDOW[0]

"""The risk detector's editor in the canvas's orchestrator slide-out (issue 20 point 4), in
Chromium against a real ASGI server: a manager adds phrases, switches a built-in rule off and
sets a threshold for one category, saves, reloads and sees them kept with where they come from;
a bad value is refused with the error beside the category's form (scrolled to, what was typed
kept in it), and what was saved before stays as it was."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.browser.conftest import screenshot, sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def _open_slide_out(page, manager, root):
    sign_in(page, manager, path=reverse("admin:stacks_canvas_stack", args=[root.pk]))
    page.locator('#stack-canvas [data-node="orchestrator"]').click()
    panel = page.locator("#panel-orchestrator")
    expect(panel).to_be_visible()
    return panel


def test_a_manager_sets_a_risk_category_for_the_stack_and_it_is_kept(demo_manager, pages):
    manager, root = demo_manager
    page = pages(viewport=(1366, 768))
    panel = _open_slide_out(page, manager, root)
    legal = panel.locator("#risk-legal_threat")
    expect(legal.locator("[data-threshold]")).to_contain_text("global")
    expect(legal.locator("[data-added]")).to_have_text("(none)")

    legal.get_by_label("Legal threat: phrases this stack adds").fill(
        "see you in court\nombudsman letter"
    )
    legal.get_by_label("sue", exact=True).check()
    legal.get_by_label("Legal threat: threshold").fill("0.8")
    legal.get_by_role("button", name="Set for this stack").click()

    expect(page.locator(".messagelist")).to_contain_text(
        "Risk detection (phrases and thresholds) saved."
    )
    page.reload()
    panel = page.locator("#panel-orchestrator")
    expect(panel).to_be_visible()  # the server opens it again after the save
    legal = panel.locator("#risk-legal_threat")
    expect(legal.locator("[data-threshold]")).to_have_text("0.8 stack")
    expect(legal.locator("[data-added]")).to_have_text(
        "“see you in court” stack, “ombudsman letter” stack"
    )
    expect(legal.locator("[data-removed]")).to_have_text("sue stack")
    expect(legal.get_by_label("Legal threat: threshold")).to_have_value("0.8")
    expect(legal.get_by_label("Legal threat: phrases this stack adds")).to_have_value(
        "see you in court\nombudsman letter\n"
    )
    expect(legal.get_by_label("sue", exact=True)).to_be_checked()
    expect(legal.get_by_role("button", name="Clear legal threat: inherit")).to_be_visible()
    # the other categories are as they were
    expect(panel.locator("#risk-churn_risk [data-threshold]")).to_contain_text("global")
    expect(panel.locator("#setting-riskDetection > h3 .source")).to_have_text("stack")
    screenshot(page, "risk-detection-saved")


def test_a_bad_risk_value_shows_the_error_and_keeps_what_was_saved(demo_manager, pages):
    manager, root = demo_manager
    page = pages(viewport=(1366, 768))
    panel = _open_slide_out(page, manager, root)
    legal = panel.locator("#risk-legal_threat")
    legal.get_by_label("Legal threat: phrases this stack adds").fill("see you in court")
    legal.get_by_label("Legal threat: threshold").fill("0.8")
    legal.get_by_role("button", name="Set for this stack").click()
    expect(page.locator(".messagelist")).to_contain_text("saved")

    panel = page.locator("#panel-orchestrator")
    churn = panel.locator("#risk-churn_risk")
    churn.get_by_label("Churn risk: phrases this stack adds").fill("chargeback\nchargeback")
    churn.get_by_label("Churn risk: threshold").fill("0.7")
    churn.get_by_role("button", name="Set for this stack").click()

    panel = page.locator("#panel-orchestrator")
    expect(panel).to_be_visible()  # opened by the server on the error
    error = panel.locator("#risk-churn_risk .errorlist")  # beside the form that was refused
    expect(error).to_have_text('churn_risk.add: "chargeback" is listed twice.')
    expect(panel.locator("#setting-riskDetection .errorlist")).to_have_count(1)
    expect(error).to_be_in_viewport()  # scrolled to, not below the fold
    # what the manager typed is still in the form, ready to correct
    typed = panel.locator("#risk-churn_risk").get_by_label("Churn risk: phrases this stack adds")
    expect(typed).to_have_value("chargeback\nchargeback")
    expect(typed).to_be_focused()
    expect(panel.get_by_label("Churn risk: threshold")).to_have_value("0.7")
    expect(page.locator(".messagelist")).to_have_count(0)  # no "saved"
    # what was saved before is still there, and the refused category is unchanged
    legal = panel.locator("#risk-legal_threat")
    expect(legal.locator("[data-threshold]")).to_have_text("0.8 stack")
    expect(legal.locator("[data-added]")).to_have_text("“see you in court” stack")
    churn = panel.locator("#risk-churn_risk")
    expect(churn.locator("[data-threshold]")).to_contain_text("global")
    expect(churn.locator("[data-added]")).to_have_text("(none)")
    screenshot(page, "risk-detection-refused")

    # corrected, it saves
    churn.get_by_label("Churn risk: phrases this stack adds").fill("chargeback")
    churn.get_by_label("Churn risk: threshold").fill("0.7")
    churn.get_by_role("button", name="Set for this stack").click()
    expect(page.locator(".messagelist")).to_contain_text("saved")
    churn = page.locator("#panel-orchestrator #risk-churn_risk")
    expect(churn.locator("[data-threshold]")).to_have_text("0.7 stack")
    expect(churn.locator("[data-added]")).to_have_text("“chargeback” stack")
    expect(page.locator("#risk-legal_threat [data-threshold]")).to_have_text("0.8 stack")

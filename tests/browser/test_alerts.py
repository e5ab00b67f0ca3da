"""A hot offer is hard to miss (issue 19, point 2), in Chromium against a real ASGI server: the
person turns desktop alerts on with a click (the browser's permission is asked then, not on
load), a new live offer fires a notification (and a sound when they chose one), and each offer
counts down to its claim timeout."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import make_support_team, sign_in, wait_live
from tests.browser.test_handover import offer, start_chat
from tests.factories import TenantFactory, make_person

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser

# The real Notification API (the context grants the permission), watched: what was asked and
# shown. Until the page asks (in this tab), the permission reads "default", as for a person
# who never chose.
WATCH_NOTIFICATIONS = """(() => {
  const Real = window.Notification;
  let asked = sessionStorage.getItem("asked") === "1";
  window.__alerts = { asked: 0, shown: [] };
  class Watched extends Real {
    constructor(title, options) {
      super(title, options);
      window.__alerts.shown.push({ title, body: (options && options.body) || "" });
    }
    static get permission() { return asked ? Real.permission : "default"; }
    static requestPermission(...args) {
      asked = true;
      sessionStorage.setItem("asked", "1");
      window.__alerts.asked += 1;
      return Real.requestPermission(...args);
    }
  }
  window.Notification = Watched;
})();"""


@pytest.fixture
def acme(transactional_db):
    tenant = TenantFactory(slug="acme", name="Acme Outfitters")
    make_support_team(tenant)
    return tenant


def test_a_hot_offer_fires_a_desktop_notification_once_alerts_are_on(acme, pages):
    ada = make_person(tenant=acme, roles=["agent"], username="ada")
    agent = pages(viewport=(1366, 768), permissions=["notifications"])
    agent.add_init_script(WATCH_NOTIFICATIONS)
    sign_in(agent, ada)
    wait_live(agent)
    toggle = agent.locator("#alerts-toggle")
    expect(toggle).to_have_text("Desktop alerts off")
    assert agent.evaluate("window.__alerts.asked") == 0  # nothing is asked on load

    first = pages(viewport=(390, 700))
    start_chat(first, name="Noor", text="I want to talk to a human")
    expect(offer(agent, "Noor")).to_be_visible()
    assert agent.evaluate("window.__alerts.shown") == []  # alerts are off

    toggle.click()
    expect(toggle).to_have_text("Desktop alerts on")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert agent.evaluate("window.__alerts.asked") == 1
    agent.locator("#sound-toggle").check()

    second = pages(viewport=(390, 700))
    start_chat(second, name="Omar", text="I want to talk to a human")
    expect(offer(agent, "Omar")).to_be_visible()
    agent.wait_for_function("window.__alerts.shown.length === 1")
    shown = agent.evaluate("window.__alerts.shown")
    assert shown[0]["title"] == "Live offer from Omar"
    assert re.search(r"Claim within \d:\d\d\.$", shown[0]["body"]), shown
    assert agent.locator("#inbox").get_attribute("data-last-sound")

    agent.reload()  # the choice is kept
    wait_live(agent)
    expect(agent.locator("#alerts-toggle")).to_have_text("Desktop alerts on")
    expect(agent.locator("#sound-toggle")).to_be_checked()


def test_each_offer_counts_down_to_its_claim_timeout(acme, pages):
    ada = make_person(tenant=acme, roles=["agent"], username="ada")
    agent = pages(viewport=(1366, 768))
    sign_in(agent, ada)
    wait_live(agent)
    customer = pages(viewport=(390, 700))
    start_chat(customer, name="Noor", text="I want to talk to a human")

    timer = offer(agent, "Noor").locator(".expires")
    expect(timer).to_have_text(re.compile(r"^claim within \d:\d\d$"))
    expect(timer).to_have_attribute("role", "timer")
    before = timer.inner_text()
    expect(timer).not_to_have_text(before, timeout=3_000)  # it ticks

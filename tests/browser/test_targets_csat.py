"""Response targets and CSAT in Chromium (issue 19, point 5): the offer's card and the
conversation's header count down to the first-response target and stop counting it at the
person's first message; the resolved chat asks the customer for a rating, which is stored
once and charted on the manager's dashboard."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from handover.models import CsatRating
from tests.browser.conftest import make_support_team, screenshot, sign_in, wait_live
from tests.browser.test_handover import offer, start_chat
from tests.factories import TenantFactory, make_person

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


@pytest.fixture
def acme(transactional_db):
    tenant = TenantFactory(slug="acme", name="Acme Outfitters")
    make_support_team(tenant)
    return tenant


def test_the_countdown_runs_until_the_first_reply_and_the_rating_is_charted(acme, pages):
    ada = make_person(tenant=acme, roles=["agent"], username="ada", first_name="Ada")
    agent = pages()
    sign_in(agent, ada)
    wait_live(agent)
    customer = pages(viewport=(390, 800))

    start_chat(customer, name="Kim", text="I want to talk to a human please")

    card = offer(agent, "Kim")
    clock = card.locator(".target-clock")
    # a request for a person is medium priority: first reply within 30 minutes by default
    expect(clock).to_have_text(re.compile(r"^first reply in (29:\d\d|30:00)$"))
    expect(clock).to_have_attribute("role", "timer")
    card.locator("button.claim").click()
    header_clock = agent.locator(".conv-head .target-clock")
    expect(header_clock).to_have_text(re.compile(r"^first reply in 29:\d\d$"))
    screenshot(agent, "inbox-target-countdown")
    composer = agent.locator(".composer textarea")
    composer.fill("Hi Kim, Ada here.")
    composer.press("Enter")
    expect(customer.locator(".msg.from-human")).to_contain_text("Ada here")
    # the first response is in: the clock now counts to the resolution target (24 h)
    expect(agent.locator("#list-mine .item .target-clock")).to_have_text(
        re.compile(r"^resolve in 23 h 5\d min$")
    )

    agent.get_by_role("button", name="Resolve").click()
    rating = customer.locator("#csat")
    expect(rating).to_be_visible()
    expect(rating).to_contain_text("How did we do?")
    five = rating.get_by_role("button", name="5 of 5")
    assert five.inner_text() == "5"
    assert five.evaluate("b => getComputedStyle(b).color") != five.evaluate(
        "b => getComputedStyle(b).backgroundColor"
    )  # the figure is legible on its button
    screenshot(customer, "chat-csat")
    rating.get_by_role("button", name="4 of 5").click()
    expect(customer.locator("#csat-thanks")).to_be_visible()
    expect(rating.get_by_role("button", name="4 of 5")).to_have_attribute("aria-pressed", "true")
    stored = CsatRating.objects.get()
    assert (stored.score, stored.person) == (4, ada)
    # a few words, once
    comment = customer.locator("#csat-comment")
    expect(comment).to_be_visible()
    comment.get_by_role("button", name="Send").click()  # empty: nothing sent
    expect(customer.locator("#csat-comment-text")).to_be_focused()
    customer.fill("#csat-comment-text", "Quick, but the label came twice.")
    comment.get_by_role("button", name="Send").click()
    expect(customer.locator("#csat-comment-thanks")).to_be_visible()
    expect(comment).to_be_hidden()
    screenshot(customer, "chat-csat-comment")
    customer.reload()  # the page remembers: no second rating or comment is offered
    expect(customer.locator("#csat-thanks")).to_be_visible()
    expect(customer.locator("#csat button[data-score='1']")).to_be_disabled()
    expect(customer.locator("#csat-comment")).to_be_hidden()
    assert CsatRating.objects.get().comment == "Quick, but the label came twice."

    manager = make_person(tenant=acme, roles=["manager"], username="maria")
    dashboard = pages()
    sign_in(dashboard, manager, path=reverse("admin:insight_dashboard"))
    expect(dashboard.locator("[data-metric='csat']")).to_have_text("4.0 / 5")
    expect(dashboard.locator("#chart-csat")).to_contain_text("4 of 5")
    expect(dashboard.locator("#people tr[data-person='ada']")).to_contain_text("1")
    expect(dashboard.locator("#csat-comments")).to_contain_text(
        "4/5 “Quick, but the label came twice.”"
    )
    screenshot(dashboard, "dashboard-csat")

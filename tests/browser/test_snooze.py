"""Snooze in Chromium: the person puts a conversation aside for an hour (it moves to "Snoozed",
still theirs), and the customer writing brings it straight back to "My conversations"."""

from __future__ import annotations

import re

import pytest

from handover.models import Handoff
from tests.browser.conftest import screenshot
from tests.browser.test_handover import acme, ada_and_kim, customer_says, offer  # noqa: F401

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def test_a_snoozed_conversation_waits_apart_until_the_customer_writes(acme, pages):  # noqa: F811
    agent, customer = ada_and_kim(acme, pages, text="Where is my parcel?")
    customer_says(customer, "I want to talk to a human please")
    offer(agent, "Kim").locator("button.claim").click()
    expect(agent.locator("#list-mine .item", has_text="Kim")).to_be_visible()
    snoozed = agent.locator("#list-snoozed .item", has_text="Kim")
    expect(agent.locator("[data-group=snoozed]")).to_be_hidden()

    agent.locator(".conv-head h2").click()  # out of the reply box: "z" snoozes
    agent.keyboard.press("z")
    expect(agent.get_by_role("menuitem", name="For 1 hour")).to_be_focused()
    agent.keyboard.press("Enter")

    expect(snoozed).to_be_visible()
    expect(snoozed).to_contain_text("snoozed until")
    expect(agent.locator("#list-mine .item")).to_have_count(0)
    # still hers: counted towards her limit
    expect(agent.locator("#group-mine")).to_have_text(
        re.compile(r"My conversations\s*0\s*\+ 1 snoozed, of 5")
    )
    expect(agent.get_by_role("button", name="Wake now")).to_be_visible()
    screenshot(agent, "inbox-snoozed")
    assert Handoff.objects.get().snoozed_until is not None

    customer_says(customer, "Any news about it?")

    expect(agent.locator("#list-mine .item", has_text="Kim")).to_be_visible()
    expect(agent.locator("[data-group=snoozed]")).to_be_hidden()
    expect(agent.locator("#toasts")).to_contain_text("Kim wrote: back from snooze.")
    assert Handoff.objects.get().snoozed_until is None


def test_on_a_phone_every_action_of_the_open_conversation_is_in_sight(acme, pages):  # noqa: F811
    from tests.browser.conftest import sign_in, wait_live
    from tests.browser.test_handover import start_chat
    from tests.factories import make_person

    ada = make_person(tenant=acme, roles=["agent"], username="ada", first_name="Ada")
    agent = pages(viewport=(390, 844))
    sign_in(agent, ada)
    wait_live(agent)
    start_chat(pages(viewport=(390, 844)), name="Kim", text="I want to talk to a human")
    offer(agent, "Kim").locator("button.claim").click()
    expect(agent.get_by_role("button", name="Resolve")).to_be_visible()

    for name in ("Snooze", "Transfer", "Hand back to AI", "Resolve"):
        box = agent.get_by_role("button", name=name, exact=True).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (name, box)
    screenshot(agent, "inbox-phone-actions")


def test_a_snooze_pauses_the_resolution_clock_until_it_ends(acme, pages):  # noqa: F811
    agent, customer = ada_and_kim(acme, pages, text="Where is my parcel?")
    customer_says(customer, "I want to talk to a human please")
    offer(agent, "Kim").locator("button.claim").click()
    composer = agent.locator(".composer textarea")
    composer.fill("Hi Kim, Ada here. Let me look.")
    composer.press("Enter")
    expect(customer.locator(".msg.from-human")).to_be_visible()
    mine = agent.locator("#list-mine .item", has_text="Kim")
    # medium priority: resolve within 24 h
    expect(mine.locator(".target-clock")).to_have_text(re.compile(r"^resolve in 23 h 59 min$"))

    agent.locator(".conv-head h2").click()
    agent.keyboard.press("z")
    agent.get_by_role("menuitem", name="For 1 hour").click()

    clock = agent.locator("#list-snoozed .item", has_text="Kim").locator(".target-clock")
    # it stands still: what will be left when the snooze ends
    expect(clock).to_have_text(re.compile(r"^resolve: paused, 23 h 59 min left$"))
    expect(clock).to_have_class(re.compile(r"\bpaused\b"))
    screenshot(agent, "inbox-snooze-paused-target")

    customer_says(customer, "Any news about it?")

    expect(mine.locator(".target-clock")).to_have_text(re.compile(r"^resolve in 23 h 59 min$"))
    assert Handoff.objects.get().snoozed_at is None

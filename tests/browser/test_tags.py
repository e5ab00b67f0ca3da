"""Tags in Chromium: the person in the inbox tags the conversation (typed, Enter), sees the
chip, takes it off with its button, and finds the conversation again in the history by a
tag's chip."""

from __future__ import annotations

import re

import pytest

from conversations.models import ConversationTag
from tests.browser.conftest import screenshot
from tests.browser.test_handover import acme, ada_and_kim, customer_says, offer  # noqa: F401

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def test_a_person_tags_a_conversation_and_finds_it_by_the_tag(acme, pages):  # noqa: F811
    agent, customer = ada_and_kim(acme, pages, text="My boots came broken")
    customer_says(customer, "I want to talk to a human please")
    card = offer(agent, "Kim")
    expect(card).to_be_visible()
    card.locator("button.claim").click()

    # the list's preview of a notice is its words, not "system: ..."
    expect(agent.locator("#list-mine .item .preview")).to_have_text(re.compile(r"^I'm bringing in"))
    box = agent.get_by_label("Add a tag to the conversation with Kim")
    box.fill("Damaged")
    box.press("Enter")
    box.fill("carrier late")
    box.press("Enter")
    chips = agent.locator(".tag-bar .tag-chip")
    expect(chips).to_have_count(2)
    # the card in the list shows them too, for triage
    expect(agent.locator("#list-mine .item .item-tags")).to_have_text("carrier-latedamaged")
    expect(chips.first).to_contain_text("carrier-late")
    expect(box).to_have_value("")
    box.fill("no/slash")
    box.press("Enter")
    expect(agent.locator("#toasts")).to_contain_text("Tag not changed: a tag may hold letters")
    expect(box).to_have_value("no/slash")  # refused: given back to correct
    screenshot(agent, "inbox-tags")
    agent.get_by_role("button", name="Remove the tag carrier-late").click()
    expect(chips).to_have_count(1)
    assert list(ConversationTag.objects.values_list("name", flat=True)) == ["damaged"]

    agent.goto("/inbox/history/")
    agent.locator("a.tag-chip", has_text="damaged").click()
    expect(agent.locator("input[name=tag]")).to_have_value("damaged")
    expect(agent.locator("table tbody tr")).to_have_count(1)
    expect(agent.locator("table tbody tr")).to_contain_text("Kim")

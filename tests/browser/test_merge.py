"""Merging in Chromium: Kim's chat is with Ada when Kim's second conversation arrives (the team's
other channel); Ada merges it into the one she holds from the customer panel, asked once more:
the second one leaves the lists, and the open conversation shows the note of what was said
there (handover/merge.py)."""

from __future__ import annotations

import pytest

from conversations.models import Conversation
from tests.browser.conftest import api_post, screenshot
from tests.browser.test_handover import acme, ada_and_kim, customer_says, offer  # noqa: F401
from tests.factories import make_api_key

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def test_a_person_merges_the_customers_second_conversation_into_the_one_she_holds(acme, pages):  # noqa: F811
    agent, customer = ada_and_kim(acme, pages, text="My boots came broken")
    customer_says(customer, "I want to talk to a human please")
    offer(agent, "Kim").locator("button.claim").click()
    expect(agent.locator(".transcript")).to_contain_text("I want to talk to a human please")
    held = Conversation.objects.get()
    # Kim writes again through the team's other channel (an integration relays it)
    _, raw = make_api_key(tenant=acme)
    second = api_post(
        agent,
        raw,
        "/api/v1/conversations",
        {
            "agentId": "agent-desk",
            "channel": "web",
            "customer": {"id": held.customer_ref, "name": "Kim"},
        },
    )
    api_post(
        agent,
        raw,
        f"/api/v1/conversations/{second['id']}/messages",
        {"text": "Boots order B-77, still broken. I want to talk to a human please"},
    )
    expect(offer(agent, "Kim")).to_have_count(1)

    agent.locator("#list-mine .item", has_text="Kim").click()  # read again: its panel lists it
    summary = agent.locator("#customer-history summary")
    expect(summary).to_have_text("1 other conversation with this customer")  # read again
    summary.click()
    expect(agent.locator("#customer-page-link")).to_have_text("Everything about this customer")
    agent.get_by_role("button", name="Merge into this…").click()
    expect(agent.locator(".merge-confirm")).to_contain_text("Merge the conversation of")
    agent.get_by_role("button", name="Cancel").click()
    assert not Conversation.objects.filter(merged_into__isnull=False).exists()
    agent.get_by_role("button", name="Merge into this…").click()
    screenshot(agent, "inbox-merge")
    agent.locator(".merge-confirm").get_by_role("button", name="Merge").click()

    expect(agent.locator(".toast")).to_contain_text("Merged")
    expect(offer(agent, "Kim")).to_have_count(0)  # the second one is resolved
    expect(agent.locator(".transcript li.msg-note").last).to_contain_text(
        "Ada merged the conversation of"
    )
    expect(agent.locator(".transcript li.msg-note").last).to_contain_text("still broken")
    merged = Conversation.objects.get(pk=second["id"])
    assert (merged.state, merged.merged_into_id) == ("resolved", held.pk)
    # the merged one, opened, says where it goes on
    agent.evaluate(f"window.inboxApp.open('{second['id']}')")
    expect(agent.locator(".merged-banner")).to_contain_text("it goes on there")
    agent.locator(".merged-banner").get_by_role("button", name="Open it").click()
    expect(agent.locator(".transcript")).to_contain_text("My boots came broken")

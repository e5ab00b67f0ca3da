"""Erasing a customer in Chromium: Ada has Kim's conversation open in the inbox and Kim's chat
is open when the team's privacy tool erases Kim over the API (orchestration/erasure.py): the
card goes, the open conversation says it was erased, and Kim's chat says the conversation
ended. (The admin's confirmation is tested with Django's client in tests/handover/
test_erasure.py: this session-long server keeps content types cached across the tests'
flushes, and the admin's history row of an add would name a stale one.)"""

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


def test_an_erased_conversation_leaves_the_inbox_and_the_chat(acme, pages):  # noqa: F811
    agent, customer = ada_and_kim(acme, pages, text="Where is my parcel?")
    customer_says(customer, "I want to talk to a human please")
    offer(agent, "Kim").locator("button.claim").click()
    expect(agent.locator(".transcript")).to_contain_text("I want to talk to a human please")
    conversation = Conversation.objects.get()

    # a privacy tool carries out Kim's request with the team's integration key
    _, raw = make_api_key(tenant=acme)
    erased = api_post(
        agent, raw, "/api/v1/erasures", {"kind": "conversation", "value": str(conversation.pk)}
    )
    assert erased["conversations"] == 1

    expect(agent.locator("#conversation h2")).to_have_text("This conversation was erased")
    expect(agent.locator(".queue-pane .item", has_text="Kim")).to_have_count(0)
    expect(agent.locator("#toasts")).to_contain_text("erased at the customer's request")
    expect(customer.locator("body")).to_contain_text("Your previous conversation has ended")
    screenshot(agent, "inbox-erased")
    assert not Conversation.objects.exists()

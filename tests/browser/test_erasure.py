"""Erasing a customer in Chromium: Ada has Kim's conversation open in the inbox and Kim's chat
is open when a manager erases Kim in the admin (orchestration/erasure.py; told first what
would go, then confirmed): the card goes, the open conversation says it was erased, and Kim's
chat says the conversation ended."""

from __future__ import annotations

import pytest

from conversations.models import Conversation
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_handover import acme, ada_and_kim, customer_says, offer  # noqa: F401
from tests.factories import make_person

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

    manager = pages()
    boss = make_person(tenant=acme, roles=["manager"], username="max")
    sign_in(manager, boss, path="/admin/conversations/erasure/add/")
    manager.select_option("#id_kind", "conversation")
    manager.fill("#id_value", str(conversation.pk))
    manager.click("input[name=_save]")
    expect(manager.locator(".errorlist")).to_contain_text("This erases 1 conversation(s)")
    screenshot(manager, "admin-erasure-confirm")
    manager.check("#id_confirm")
    manager.click("input[name=_save]")
    expect(manager.locator(".messagelist")).to_contain_text("Erased 1 conversation(s)")

    expect(agent.locator("#conversation h2")).to_have_text("This conversation was erased")
    expect(agent.locator(".queue-pane .item", has_text="Kim")).to_have_count(0)
    expect(agent.locator("#toasts")).to_contain_text("erased at the customer's request")
    expect(customer.locator("body")).to_contain_text("Your previous conversation has ended")
    screenshot(agent, "inbox-erased")
    assert not Conversation.objects.exists()

"""The customer's details in Chromium: the person in the inbox sets the name a visitor told them
("Edit" beside the name), the header, the card and the colleagues' note follow; a bad address is
refused in the form, in words, and nothing is saved."""

from __future__ import annotations

import pytest

from conversations.models import Conversation
from tests.browser.conftest import screenshot
from tests.browser.test_handover import acme, ada_and_kim, customer_says, offer  # noqa: F401

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def test_a_person_sets_the_customers_name_and_email_as_they_told_them(acme, pages):  # noqa: F811
    agent, customer = ada_and_kim(acme, pages, text="My boots came broken")
    customer_says(customer, "I want to talk to a human please")
    offer(agent, "Kim").locator("button.claim").click()
    expect(agent.locator(".conv-head h2")).to_contain_text("Kim")

    agent.get_by_role("button", name="Edit Kim's name and e-mail address").click()
    agent.fill("#customer-name", "Kim Lee")
    agent.fill("#customer-email", "not an address")
    agent.get_by_role("button", name="Save").click()
    expect(agent.locator(".customer-form .form-error")).to_have_text(
        "E-mail: must be an e-mail address such as kim@example.com."
    )
    agent.fill("#customer-email", "kim@example.com")
    screenshot(agent, "inbox-customer-details")
    agent.get_by_role("button", name="Save").click()

    expect(agent.locator(".conv-head h2")).to_have_text("Kim Lee")  # the name alone
    expect(agent.locator(".conv-head .customer-email")).to_have_text("kim@example.com")
    expect(agent.locator("#list-mine .item")).to_contain_text("Kim Lee")
    expect(agent.locator(".transcript li.msg-note").last).to_contain_text(
        "changed the customer's name from “Kim” to “Kim Lee” and e-mail address"
    )
    conversation = Conversation.objects.get()
    assert (conversation.customer_name, conversation.customer_email) == (
        "Kim Lee",
        "kim@example.com",
    )


def test_a_person_blocks_a_customer_and_their_chat_cannot_start_again(acme, pages):  # noqa: F811
    from conversations.models import CustomerBlock

    agent, customer = ada_and_kim(acme, pages, text="Buy cheap watches at spam.example")
    customer_says(customer, "I want to talk to a human please")
    offer(agent, "Kim").locator("button.claim").click()
    expect(agent.locator(".conv-head h2")).to_contain_text("Kim")

    agent.get_by_role("button", name="Block Kim").click()
    agent.fill("#block-reason", "x" * 10)
    agent.keyboard.press("Escape")  # Esc closes the form, nothing done
    expect(agent.locator(".block-form")).to_have_count(0)
    assert not CustomerBlock.objects.exists()
    agent.get_by_role("button", name="Block Kim").click()
    agent.fill("#block-reason", "Spam links")
    screenshot(agent, "inbox-block")
    agent.locator(".block-form").get_by_role("button", name="Block").click()

    expect(agent.locator(".toast")).to_contain_text("Kim is blocked")
    expect(agent.locator("#list-mine .item")).to_have_count(0)
    expect(customer.locator("#closed")).to_be_visible()
    (block,) = CustomerBlock.objects.all()
    assert (block.kind, block.reason) == ("address", "Spam links")
    # the same browser (the same address) cannot start a new chat: told so, in words
    customer.get_by_role("button", name="Start a new conversation").click()
    customer.fill("#start-name", "Kim")
    customer.fill("#start-text", "Hello again")
    customer.click("#start-button")
    expect(customer.locator("#start-error")).to_have_text("You cannot start a chat here.")
    assert Conversation.objects.count() == 1

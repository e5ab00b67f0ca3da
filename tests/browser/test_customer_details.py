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


def test_a_manager_sets_the_details_priority_and_blocks_from_the_read_only_page(acme, pages):  # noqa: F811
    from conversations.models import CustomerBlock
    from handover.models import Handoff
    from tests.browser.conftest import sign_in
    from tests.browser.test_handover import start_chat
    from tests.factories import make_person

    customer = pages(viewport=(480, 800))
    start_chat(customer, name="Kim", text="I want to talk to a human please")
    manager = make_person(tenant=acme, roles=["manager"], username="mo", first_name="Mo")
    page = pages()
    sign_in(page, manager, path="/inbox/history/")
    conversation = Conversation.objects.get()
    page.goto(f"/inbox/conversations/{conversation.pk}/view")

    page.get_by_role("button", name="Edit the name or e-mail").click()
    page.fill("#view-name", "Kim Lee")
    page.fill("#view-email", "not an address")
    page.locator("#view-edit-form").get_by_role("button", name="Save").click()
    expect(page.locator("#view-edit-form .form-error")).to_contain_text("email: must be")
    page.fill("#view-email", "kim@example.com")
    page.locator("#view-edit-form").get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_have_text("Kim Lee")

    expect(page.locator("#view-transcript-to")).to_have_value("kim@example.com")
    # what is known of Kim, from the read-only page too; a number stays a number
    Conversation.objects.filter(pk=conversation.pk).update(
        customer_attributes={"plan": "free", "orders": 2}
    )
    page.reload()
    page.get_by_role("button", name="Edit what we know").click()
    page.get_by_role("textbox", name="orders").fill("two")
    page.locator("#view-attributes").get_by_role("button", name="Save").click()
    expect(page.locator("#view-attributes .form-error")).to_have_text(
        "orders: must be a number, as it was."
    )
    page.get_by_role("textbox", name="orders").fill("3")
    page.get_by_role("button", name="Take plan off").click()
    screenshot(page, "view-attributes")
    page.locator("#view-attributes").get_by_role("button", name="Save").click()
    expect(page.locator("dd[data-attribute='orders']")).to_have_text("3")
    expect(page.locator("dd[data-attribute='plan']")).to_have_count(0)
    assert Conversation.objects.get(pk=conversation.pk).customer_attributes == {"orders": 3}

    page.get_by_role("button", name="Send a copy").click()
    expect(page.locator("#view-transcript-to")).to_be_focused()
    screenshot(page, "view-transcript")
    page.locator("#view-transcript-form").get_by_role("button", name="Send").click()
    expect(page.locator(".transcript")).to_contain_text(
        "Mo e-mailed a copy of this conversation to kim@example.com."
    )

    page.select_option("#view-priority", "urgent")
    expect(page.locator(".transcript")).to_contain_text("Mo set the priority to urgent")
    expect(page.locator("#view-priority")).to_have_value("urgent")  # as the server has it
    assert Handoff.objects.get().priority == 40

    page.get_by_role("button", name="Block").click()
    page.fill("#view-block-reason", "Abusive")
    screenshot(page, "view-block")
    page.locator("#view-block-form").get_by_role("button", name="Block").click()
    expect(page.locator(".sub .chip")).to_have_text("Resolved")
    # by their network address, and by the address they gave
    assert set(CustomerBlock.objects.values_list("kind", "value", "reason")) == {
        ("address", conversation.client_hash, "Abusive"),
        ("email", "kim@example.com", "Abusive"),
    }
    expect(page.locator(".transcript")).to_contain_text("Mo blocked the customer")


def test_what_the_integration_tells_of_the_customer_shows_beside_the_conversation(
    acme,  # noqa: F811
    pages,
):
    from tests.browser.conftest import api_post
    from tests.factories import make_api_key

    agent, _chat = ada_and_kim(acme, pages, text="Hello")
    _, raw = make_api_key(tenant=acme)
    lee = api_post(
        agent,
        raw,
        "/api/v1/conversations",
        {
            "agentId": "agent-desk",
            "channel": "web",
            "customer": {
                "id": "crm-lee",
                "name": "Lee",
                "attributes": {"plan": "pro", "orders": 12, "country": "<i>FR</i>"},
            },
        },
    )
    api_post(
        agent,
        raw,
        f"/api/v1/conversations/{lee['id']}/messages",
        {"text": "I want to talk to a human please"},
    )
    agent.locator("#list-offers .item, #list-queue .item", has_text="Lee").first.click()

    about = agent.locator("#customer-attributes")
    expect(about.locator("h2")).to_have_text("About the customer")
    expect(about.locator("dt")).to_have_text(["country", "orders", "plan"])
    expect(about.locator("[data-attribute='country']")).to_have_text("<i>FR</i>")  # as text
    screenshot(agent, "inbox-customer-attributes")

    # the shop's CRM upgrades Lee: the open conversation shows it at once
    api_post(
        agent,
        raw,
        f"/api/v1/conversations/{lee['id']}",
        {"customer": {"attributes": {"plan": "enterprise", "orders": None}}},
        method="PATCH",
    )
    expect(about.locator("[data-attribute='plan']")).to_have_text("enterprise")
    expect(about.locator("dt")).to_have_text(["country", "plan"])

    # Ada learns more from Lee: she changes the plan's orders, takes the country off and adds a
    # detail; a number stays a number, and a word where a number was is refused, in words
    api_post(
        agent,
        raw,
        f"/api/v1/conversations/{lee['id']}",
        {"customer": {"attributes": {"orders": 12}}},
        method="PATCH",
    )
    expect(about.locator("dt")).to_have_text(["country", "orders", "plan"])
    about.get_by_role("button", name="Edit what we know of Lee").click()
    about.get_by_role("textbox", name="orders").fill("many")
    about.get_by_role("button", name="Save").click()
    expect(about.locator(".form-error")).to_have_text("orders: must be a number, as it was.")
    expect(about.get_by_role("textbox", name="orders")).to_be_focused()
    about.get_by_role("textbox", name="orders").fill("13")
    about.get_by_role("button", name="Take country off").click()
    about.get_by_role("textbox", name="New detail's name").fill("size")
    about.get_by_role("textbox", name="New detail's value").fill("42")
    screenshot(agent, "inbox-customer-attributes-edit")
    about.get_by_role("button", name="Save").click()

    expect(about.locator("dt")).to_have_text(["orders", "plan", "size"])
    expect(about.locator("[data-attribute='orders']")).to_have_text("13")
    expect(agent.locator(".transcript li.msg-note").last).to_contain_text(
        "Ada changed the customer's country from “<i>FR</i>” to “-” and orders from “12” to “13” "
        "and size from “-” to “42”."
    )
    conversation = Conversation.objects.get(pk=lee["id"])
    assert conversation.customer_attributes == {"plan": "enterprise", "orders": 13, "size": "42"}

    # Esc leaves the form with nothing saved
    about.get_by_role("button", name="Edit what we know of Lee").click()
    about.get_by_role("textbox", name="plan").fill("free")
    agent.keyboard.press("Escape")
    expect(about.locator(".attributes-form")).to_have_count(0)
    expect(about.locator("[data-attribute='plan']")).to_have_text("enterprise")


def test_a_person_emails_the_customer_a_copy_of_the_conversation(acme, pages):  # noqa: F811
    from handover.models import TranscriptMail

    agent, customer = ada_and_kim(acme, pages, text="My boots came broken")
    customer_says(customer, "I want to talk to a human please")
    offer(agent, "Kim").locator("button.claim").click()
    expect(agent.locator(".conv-head h2")).to_contain_text("Kim")

    agent.get_by_role("button", name="E-mail a copy of this conversation").click()
    expect(agent.locator("#transcript-to")).to_be_focused()
    expect(agent.locator("#transcript-to")).to_have_value("")  # Kim gave no address
    agent.locator(".transcript-form").get_by_role("button", name="Send").click()
    expect(agent.locator(".transcript-form .form-error")).to_have_text(
        "Send to: the customer gave no e-mail address: give one."
    )
    agent.fill("#transcript-to", "kim@example")
    agent.locator(".transcript-form").get_by_role("button", name="Send").click()
    expect(agent.locator(".transcript-form .form-error")).to_have_text(
        "Send to: must be an e-mail address such as kim@example.com."
    )
    agent.fill("#transcript-to", "kim@example.com")
    screenshot(agent, "inbox-transcript")
    agent.locator(".transcript-form").get_by_role("button", name="Send").click()

    expect(agent.locator(".toast")).to_contain_text(
        "A copy of the conversation is on its way to kim@example.com."
    )
    expect(agent.locator(".transcript-form")).to_have_count(0)
    expect(agent.locator(".transcript li.msg-note").last).to_contain_text(
        "Ada e-mailed a copy of this conversation to kim@example.com."
    )
    expect(customer.locator(".msg", has_text="e-mailed a copy")).to_have_count(0)  # a note

    def sent() -> bool:  # the task sends it once the request commits
        return TranscriptMail.objects.filter(to="kim@example.com", sent_at__isnull=False).exists()

    for _ in range(50):
        if sent():
            break
        agent.wait_for_timeout(100)
    assert sent()


def test_the_chats_customer_asks_for_a_copy_once_it_is_resolved(acme, pages):  # noqa: F811
    from handover.models import TranscriptMail

    agent, customer = ada_and_kim(acme, pages, text="My boots came broken")
    customer_says(customer, "I want to talk to a human please")
    offer(agent, "Kim").locator("button.claim").click()
    agent.locator(".composer textarea").fill("Hi Kim, a new pair is on its way.")
    agent.locator(".composer textarea").press("Enter")
    expect(customer.locator(".msg.from-human")).to_contain_text("a new pair")
    agent.get_by_role("button", name="Resolve").click()

    copy = customer.locator("#copy")
    expect(copy).to_be_visible()
    copy.get_by_role("button", name="Send").click()  # empty: nothing asked
    expect(customer.locator("#copy-email")).to_be_focused()
    customer.fill("#copy-email", "kim@")
    copy.get_by_role("button", name="Send").click()
    expect(customer.locator("#copy-error")).to_have_text(
        "E-mail: must be an e-mail address such as kim@example.com."
    )
    customer.fill("#copy-email", "kim@example.com")
    screenshot(customer, "chat-copy")
    copy.get_by_role("button", name="Send").click()

    expect(customer.locator("#copy-sent")).to_have_text("A copy is on its way to kim@example.com.")
    expect(copy).to_be_hidden()
    customer.reload()  # the page remembers where it went
    expect(customer.locator("#copy-sent")).to_have_text("A copy is on its way to kim@example.com.")
    (row,) = TranscriptMail.objects.all()
    assert (row.to, row.by_name) == ("kim@example.com", "the customer")
    expect(agent.locator(".transcript li.msg-note").last).to_contain_text(
        "The customer asked for a copy of this conversation at kim@example.com."
    )

"""What a person is writing in the inbox stays when the open conversation is read again, in
Chromium. The conversation is read again whenever something about it changes elsewhere (here:
the shop's CRM changes what is known of the customer over the API; a colleague's claim, an
approval or a reconnect do the same). Before, every such read rebuilt the page: an open form
and what was typed in it were gone, and a private note being written in the composer's note
mode came back in reply mode, one Enter away from going to the customer."""

from __future__ import annotations

import pytest

from conversations.models import Conversation, Message
from tests.browser.conftest import api_post
from tests.browser.test_handover import acme, ada_and_kim  # noqa: F401
from tests.factories import make_api_key

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def lee_waiting(acme, pages):  # noqa: F811
    """Ada's inbox open on Lee's conversation, which the shop's CRM started and a person is
    asked for: (inbox, the CRM's key, the conversation)."""
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
                "attributes": {"plan": "pro", "orders": 12},
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
    expect(agent.locator(".conv-head h2")).to_have_text("Lee")
    return agent, raw, Conversation.objects.get(pk=lee["id"])


def crm_changes(agent, raw: str, conversation, attributes: dict) -> None:
    """The CRM changes what is known of the customer, and the open conversation is read again:
    its header is a new one (the old one was marked before)."""
    agent.evaluate("document.querySelector('.conv-head').dataset.before = 'yes'")
    api_post(
        agent,
        raw,
        f"/api/v1/conversations/{conversation.pk}",
        {"customer": {"attributes": attributes}},
        method="PATCH",
    )
    expect(agent.locator(".conv-head")).to_have_count(1)
    expect(agent.locator(".conv-head[data-before]")).to_have_count(0)


def test_forms_and_what_is_typed_in_them_stay_when_the_conversation_is_read_again(acme, pages):  # noqa: F811
    agent, raw, lee = lee_waiting(acme, pages)

    # a private note half written in a conversation that is not hers
    note_box = agent.get_by_role("textbox", name="Private note for colleagues")
    note_box.fill("Checking Lee's plan")
    crm_changes(agent, raw, lee, {"plan": "enterprise"})
    expect(agent.locator("[data-attribute='plan']")).to_have_text("enterprise")
    expect(note_box).to_have_value("Checking Lee's plan")
    expect(note_box).to_be_focused()
    note_box.fill("")

    # what is known of Lee, being changed: the form, its value and the focus stay; saved, her
    # change is made and the CRM's is kept
    about = agent.locator("#customer-attributes")
    about.get_by_role("button", name="Edit what we know of Lee").click()
    about.get_by_role("textbox", name="orders").fill("13")
    crm_changes(agent, raw, lee, {"country": "DE"})
    expect(about.get_by_role("textbox", name="orders")).to_have_value("13")
    expect(about.get_by_role("textbox", name="orders")).to_be_focused()
    expect(about.get_by_role("button", name="Edit what we know of Lee")).to_have_attribute(
        "aria-expanded", "true"
    )
    about.get_by_role("button", name="Save").click()
    expect(about.locator("[data-attribute='orders']")).to_have_text("13")
    lee.refresh_from_db()
    assert lee.customer_attributes == {"plan": "enterprise", "orders": 13, "country": "DE"}

    # the customer's name being corrected: still there after a read; Esc leaves it, the focus
    # back on the (new) Edit button, and nothing is saved
    agent.get_by_role("button", name="Edit Lee's name and e-mail address").click()
    agent.fill("#customer-name", "Lee Marvin")
    crm_changes(agent, raw, lee, {"orders": 14})
    expect(agent.locator("#customer-name")).to_have_value("Lee Marvin")
    expect(agent.locator("#customer-name")).to_be_focused()
    agent.keyboard.press("Escape")
    expect(agent.locator(".customer-form")).to_have_count(0)
    expect(agent.locator("#customer-edit")).to_be_focused()
    expect(agent.locator("#customer-edit")).to_have_attribute("aria-expanded", "false")
    lee.refresh_from_db()
    assert lee.customer_name == "Lee"

    # a tag half typed
    tag = agent.get_by_role("combobox", name="Add a tag to the conversation with Lee")
    tag.fill("vi")
    crm_changes(agent, raw, lee, {"orders": 15})
    expect(tag).to_have_value("vi")
    expect(tag).to_be_focused()
    tag.fill("")

    # hers now: a private note written in the composer's note mode stays a note; Enter saves it
    # for colleagues, and the customer gets nothing
    agent.locator(".conv-head").get_by_role("button", name="Claim").click()
    expect(agent.get_by_role("button", name="Resolve")).to_be_visible()
    agent.get_by_role("button", name="Private note", exact=True).click()
    composer = agent.get_by_role("textbox", name="Reply to Lee")
    composer.fill("Lee is a VIP")
    crm_changes(agent, raw, lee, {"orders": 16})
    expect(agent.get_by_role("button", name="Private note", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(composer).to_have_value("Lee is a VIP")
    expect(composer).to_be_focused()
    composer.press("Enter")
    note = agent.locator(".transcript li.msg-note", has_text="Lee is a VIP")
    expect(note).to_be_visible()
    assert not Message.objects.filter(conversation=lee, role="human").exists()

    # her note being edited: the box and what she typed stay; Enter saves the edit
    note.get_by_role("button", name="Edit this note").click()
    edit = agent.get_by_role("textbox", name="Edit the private note")
    edit.fill("Lee is a VIP customer since 2019")
    crm_changes(agent, raw, lee, {"orders": 17})
    expect(edit).to_have_value("Lee is a VIP customer since 2019")
    expect(edit).to_be_focused()
    edit.press("Enter")
    expect(agent.locator(".transcript li.msg-note .bubble", has_text="since 2019")).to_be_visible()
    expect(agent.locator(".note-edit-form")).to_have_count(0)
    assert Message.objects.get(conversation=lee, role="note", text__startswith="Lee is").text == (
        "Lee is a VIP customer since 2019"
    )

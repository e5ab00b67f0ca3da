"""@mentions in Chromium: Ada types "@" in a private note and picks Bob from the picker with the
keyboard; Bob's inbox counts it at once, lists it under "@ Mentions", and opening it opens the
conversation with his name marked in the note, and the count goes."""

from __future__ import annotations

import pytest

from handover.models import Mention
from tests.browser.conftest import screenshot, sign_in, wait_live
from tests.browser.test_handover import acme, ada_and_kim, customer_says, offer  # noqa: F401
from tests.factories import make_person

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def test_a_colleague_named_in_a_note_hears_of_it_and_opens_the_conversation(
    acme,  # noqa: F811
    pages,
):
    bob = make_person(tenant=acme, roles=["agent"], username="bob", first_name="Bob")
    agent, customer = ada_and_kim(acme, pages, text="My boots came broken")
    colleague = pages()
    sign_in(colleague, bob)
    wait_live(colleague)
    expect(colleague.locator("#mention-count")).to_be_hidden()
    customer_says(customer, "I want to talk to a human please")
    offer(agent, "Kim").locator("button.claim").click()

    agent.get_by_role("button", name="Private note").click()
    box = agent.locator("form.composer textarea")
    box.press_sequentially("Was this parcel insured? @b")
    picker = agent.locator("#mention-picker")
    expect(picker).to_be_visible()
    expect(picker.locator(".mention-option")).to_have_text(["Bob @bob"])
    screenshot(agent, "inbox-mention-picker")
    box.press("Enter")  # the picker takes Enter: the name is inserted, nothing is sent yet
    expect(box).to_have_value("Was this parcel insured? @bob ")
    box.press_sequentially("thanks")
    box.press("Enter")
    note = agent.locator(".transcript li.msg-note").last
    expect(note.locator(".mention")).to_have_text("@bob")

    count = colleague.locator("#mention-count")
    expect(count).to_have_text("1")
    expect(colleague.locator("#toasts")).to_contain_text("Ada named you in a note on Kim")
    colleague.locator("#mentions-toggle").click()
    item = colleague.locator(".mention-item.unread")
    expect(item).to_contain_text("Was this parcel insured? @bob thanks")
    screenshot(colleague, "inbox-mentions")
    item.click()

    expect(colleague.locator(".conv-head")).to_contain_text("Kim")
    expect(colleague.locator(".transcript li.msg-note .mention-me")).to_have_text("@bob")
    expect(count).to_be_hidden()
    assert Mention.objects.get(user=bob).read_at is not None

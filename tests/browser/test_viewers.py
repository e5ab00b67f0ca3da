"""Who else has a conversation open, in Chromium (handover/viewing.py): Ada opens Lee's queued
conversation and Bob's queue card says so; Bob opens it too and each reads "Also here" with the
other's name; Bob writes a private note and Ada reads that he is writing one; Bob closes his
inbox and Ada is alone again."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, sign_in, wait_live
from tests.browser.test_handover import acme, queued  # noqa: F401 (the fixture)
from tests.factories import make_person

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def test_colleagues_see_who_else_has_a_conversation_open_and_who_is_writing(
    acme,  # noqa: F811
    pages,
):
    queued(acme, name="Lee", text="Where is my parcel? I need a person", priority=0, waited=3)
    people = {
        username: make_person(
            tenant=acme, roles=["agent"], username=username, first_name=first, last_name=last
        )
        for username, first, last in (("ada", "Ada", "Lovelace"), ("bob", "Bob", "Stone"))
    }
    ada, bob = pages(), pages()
    for page, username in ((ada, "ada"), (bob, "bob")):
        sign_in(page, people[username])
        wait_live(page)
    card = "#list-queue .item"

    ada.locator(card, has_text="Lee").click()
    expect(ada.locator(".note-box")).to_be_visible()
    expect(bob.locator(card, has_text="Lee").locator(".viewers")).to_have_text("Ada viewing")
    expect(ada.locator(card, has_text="Lee").locator(".viewers")).to_have_count(0)  # not me

    bob.locator(card, has_text="Lee").click()
    expect(bob.locator(".viewers-here")).to_have_text("Also here: Ada Lovelace")
    expect(ada.locator(".viewers-here")).to_have_text("Also here: Bob Stone")
    expect(ada.locator(card, has_text="Lee").locator(".viewers")).to_have_text("Bob viewing")

    bob.locator(".note-box").press_sequentially("Lee wrote to billing too", delay=20)
    typing = ada.locator(".colleague-typing")
    expect(typing).to_have_text("Bob Stone is writing a private note…")
    screenshot(ada, "viewers-ada")
    expect(typing).to_be_hidden(timeout=8_000)  # it stops when he stops

    bob.close()  # his inbox closed: Ada is alone on it again
    expect(ada.locator(".viewers-here")).to_be_hidden()
    expect(ada.locator(card, has_text="Lee").locator(".viewers")).to_have_count(0)

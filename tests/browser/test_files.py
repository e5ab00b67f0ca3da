"""Files in Chromium: the customer sends a photo from the chat and the person in the inbox sees
it; the person sends a PDF back and the customer gets it as a file to download; a file of a
kind we do not take is refused in words, and the thread shows nothing of it."""

from __future__ import annotations

import struct
import zlib

import pytest

from conversations.models import Attachment, Conversation
from tests.browser.conftest import screenshot
from tests.browser.test_handover import acme, ada_and_kim, customer_says, offer  # noqa: F401

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def png(width: int = 40, height: int = 30) -> bytes:
    """A real PNG (a red rectangle) that a browser draws."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_a_photo_goes_to_the_inbox_and_a_pdf_comes_back(acme, pages):  # noqa: F811
    agent, customer = ada_and_kim(acme, pages, text="My boots came with a broken heel")

    # a page named as a photo is refused, in words, and nothing shows in the thread
    customer.set_input_files(
        "#attach-input",
        {"name": "heel.png", "mimeType": "image/png", "buffer": b"<html>not a photo</html>"},
    )
    expect(customer.locator("#send-error")).to_contain_text("heel.png: it must be an image")
    customer.set_input_files(
        "#attach-input", {"name": "heel.png", "mimeType": "image/png", "buffer": png()}
    )
    photo = customer.locator(".msg.from-customer .file-image img")
    expect(photo).to_be_visible()
    assert photo.evaluate("img => img.decode().then(() => img.naturalWidth)") == 40
    expect(customer.locator("#send-error")).to_be_hidden()
    # a message that is only a file shows the file, not the words that stand for it
    expect(customer.locator(".msg.from-customer", has=photo).locator(".bubble")).to_have_count(0)

    customer_says(customer, "I want to talk to a human please")
    card = offer(agent, "Kim")
    expect(card).to_be_visible()
    card.locator("button.claim").click()
    seen = agent.locator(".transcript .msg-customer .file-image img")
    expect(seen).to_be_visible()
    assert seen.evaluate("img => img.decode().then(() => img.naturalWidth)") == 40

    agent.set_input_files(
        ".composer .attach-input",
        {"name": "return-label.pdf", "mimeType": "application/pdf", "buffer": PDF},
    )
    chip = customer.locator(".msg.from-human a.file-chip")
    expect(chip).to_contain_text("return-label.pdf")
    expect(chip).to_have_attribute("download", "return-label.pdf")
    expect(agent.locator(".transcript .msg-human a.file-chip")).to_contain_text("return-label.pdf")
    # the customer had it on their screen: the inbox says so, on that message only
    expect(agent.locator(".transcript .msg-human .seen-mark")).to_have_text("Seen")
    expect(agent.locator(".transcript .seen-mark")).to_have_count(1)
    # the reply was the first response: the header counts to the resolution, as the card does
    expect(agent.locator(".conv-head .target-clock")).to_contain_text("resolve in")
    # the list says what was sent, not the words that stand for it in the transcript
    expect(agent.locator("#list-mine .item .preview")).to_have_text("Ada: sent return-label.pdf")
    screenshot(customer, "chat-files")
    screenshot(agent, "inbox-files")

    with customer.expect_download() as download:
        chip.click()
    assert download.value.suggested_filename == "return-label.pdf"
    conversation = Conversation.objects.get()
    assert Attachment.objects.filter(conversation=conversation).count() == 2

    # a file for colleagues only: with a private note, never on the customer's side
    agent.get_by_role("button", name="Private note").click()
    expect(agent.locator(".composer label.attach")).to_have_attribute(
        "title", "Attach a file to a private note"
    )
    expect(agent.locator(".composer label.attach")).to_be_visible()  # the paperclip stays
    agent.fill(".composer textarea", "The carrier's damage report")
    agent.set_input_files(
        ".composer .attach-input",
        {"name": "damage-report.pdf", "mimeType": "application/pdf", "buffer": PDF},
    )
    note = agent.locator(".transcript .msg-note").last
    expect(note.locator("a.file-chip")).to_contain_text("damage-report.pdf")
    expect(note).to_contain_text("The carrier's damage report")
    customer.wait_for_timeout(500)
    expect(customer.locator("a.file-chip", has_text="damage-report.pdf")).to_have_count(0)
    expect(customer.locator("#thread")).not_to_contain_text("damage report")


def test_a_file_past_the_teams_retention_shows_as_deleted(acme, pages):  # noqa: F811
    import datetime as dt

    from django.utils import timezone

    from conversations.file_retention import files_retention_sweep

    agent, customer = ada_and_kim(acme, pages, text="My boots came with a broken heel")
    customer.set_input_files(
        "#attach-input", {"name": "heel.png", "mimeType": "image/png", "buffer": png()}
    )
    expect(customer.locator(".msg.from-customer .file-image img")).to_be_visible()
    customer_says(customer, "I want to talk to a human please")
    offer(agent, "Kim").locator("button.claim").click()
    expect(agent.locator(".transcript .msg-customer .file-image img")).to_be_visible()
    agent.get_by_role("button", name="Resolve").click()
    expect(agent.locator("#list-mine .item")).to_have_count(0)
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(
        resolved_at=timezone.now() - dt.timedelta(days=31)
    )
    acme.file_retention_days = 30
    acme.save(update_fields=["file_retention_days"])

    assert files_retention_sweep() == 1

    # the read-only page keeps its name and says it was deleted
    agent.goto(f"{agent.url.split('/inbox/')[0]}/inbox/conversations/{conversation.pk}/view")
    chip = agent.locator(".file-chip.file-deleted")
    expect(chip).to_contain_text("heel.png")
    expect(chip).to_contain_text("deleted")
    expect(agent.locator(".file-image")).to_have_count(0)
    screenshot(agent, "history-file-deleted")

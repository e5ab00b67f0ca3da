"""The chat on the tenant's own website, in Chromium: a page of another site (``localhost``,
where the back office is ``127.0.0.1``: another site, so the chat's frame is a third-party one
without our cookies) adds the one tag; the visitor opens the launcher, talks to the AI in the
frame, and finds the conversation again after the site's next page. A site the tenant does not
list gets no chat in its frame."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser.conftest import make_support_team, screenshot, sign_in, wait_live
from tests.factories import TenantFactory, make_person

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


@pytest.fixture
def website(asgi_server):
    """Serves, on http://localhost:<port>/, a shop's page that adds the chat's tag (with
    ``identity``: the signed-in visitor's token on it, as the shop's server would)."""
    servers = []

    def serve(identity: str | None = None, color: str | None = None) -> str:
        signed_in = f' data-identity="{identity}"' if identity else ""
        colored = f' data-color="{color}"' if color else ""
        tag = (
            f'<script src="{asgi_server}/static/handover/embed.js" data-tenant="acme"'
            f"{signed_in}{colored} async></script>"
        )
        html = (
            "<!doctype html><html><head><title>Acme shop</title></head><body>"
            "<h1>Acme shop</h1><p>Boots, coats and hats.</p>" + tag + "</body></html>"
        ).encode()

        class Shop(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("localhost", 0), Shop)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://localhost:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()


def _shop_with_chat(website):
    """A shop's website, and the tenant that lists it (with its support team)."""
    shop = website()
    acme = TenantFactory(slug="acme", name="Acme Outfitters", chat_website_origins=shop)
    make_support_team(acme)
    return shop, acme


def test_a_visitor_of_the_tenants_website_chats_in_the_frame_and_finds_it_again(
    transactional_db, pages, website
):
    shop, _ = _shop_with_chat(website)
    page = pages(viewport=(1280, 800))

    page.goto(shop)
    launcher = page.locator("#support-chat-launcher")
    expect(launcher).to_be_visible()
    expect(page.locator("#support-chat-panel iframe")).to_have_count(0)  # made on first open
    launcher.click()
    chat = page.frame_locator("#support-chat-panel iframe")
    chat.locator("#start-text").fill("Hi, I was charged twice for order 12345")
    chat.locator("#start-button").click()

    expect(chat.locator(".msg.from-agent", has_text="double charge")).to_be_visible()
    expect(chat.locator(".chat")).to_have_attribute("data-connection", "open")
    screenshot(page, "chat-embedded")
    expect(launcher).to_have_attribute("aria-expanded", "true")
    launcher.click()
    expect(page.locator("#support-chat-panel")).to_be_hidden()

    page.reload()  # the site's next page: the conversation is kept in the chat's own storage
    page.locator("#support-chat-launcher").click()
    chat = page.frame_locator("#support-chat-panel iframe")
    expect(chat.locator(".msg.from-customer", has_text="charged twice")).to_be_visible()
    chat.locator("#composer-text").fill("Thanks, and the invoice?")
    chat.locator("#composer-text").press("Enter")
    expect(chat.locator(".msg.from-customer", has_text="the invoice")).to_be_visible()


def test_a_site_the_tenant_does_not_list_gets_no_chat_in_its_frame(
    transactional_db, pages, website
):
    listed, other = website(), website()
    acme = TenantFactory(slug="acme", name="Acme Outfitters", chat_website_origins=listed)
    make_support_team(acme)
    page = pages(viewport=(1280, 800))
    refused = []
    page.on("console", lambda m: "frame" in m.text.lower() and refused.append(m.text))

    page.goto(other)
    page.locator("#support-chat-launcher").click()
    frame = page.locator("#support-chat-panel iframe")
    expect(frame).to_be_visible()
    page.wait_for_timeout(1500)

    assert page.frame_locator("#support-chat-panel iframe").locator("#start-text").count() == 0
    assert any("frame-ancestors" in text for text in refused), refused


def test_on_a_phone_the_chat_takes_the_screen_and_its_close_button_covers_nothing(
    transactional_db, pages, website
):
    shop, _ = _shop_with_chat(website)
    page = pages(viewport=(390, 844))

    page.goto(shop)
    launcher = page.locator("#support-chat-launcher")
    launcher.click()
    chat = page.frame_locator("#support-chat-panel iframe")
    chat.locator("#start-text").fill("Hi, I was charged twice")
    chat.locator("#start-button").click()
    expect(chat.locator(".msg.from-agent", has_text="double charge")).to_be_visible()
    screenshot(page, "chat-embedded-phone")

    panel = page.locator("#support-chat-panel").bounding_box()
    assert panel and panel["width"] == 390 and panel["height"] == 844
    close = launcher.bounding_box()
    for part in ("#composer-text", "button[type=submit]:visible"):
        box = chat.locator(part).first.bounding_box()
        overlaps = not (
            close["x"] + close["width"] <= box["x"]
            or box["x"] + box["width"] <= close["x"]
            or close["y"] + close["height"] <= box["y"]
            or box["y"] + box["height"] <= close["y"]
        )
        assert not overlaps, (part, close, box)
    launcher.click()
    expect(page.locator("#support-chat-panel")).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")


def test_a_reply_while_the_chat_is_shut_shows_on_the_button_until_it_opens(
    transactional_db, pages, website
):
    shop, acme = _shop_with_chat(website)
    ada = make_person(tenant=acme, roles=["agent"], username="ada", first_name="Ada")
    agent = pages()
    sign_in(agent, ada)
    wait_live(agent)
    page = pages(viewport=(1280, 800))
    page.goto(shop)
    launcher = page.locator("#support-chat-launcher")
    launcher.click()
    chat = page.frame_locator("#support-chat-panel iframe")
    chat.locator("#start-text").fill("I want to talk to a human please")
    chat.locator("#start-button").click()
    card = agent.locator("#list-offers .item").first
    expect(card).to_be_visible()
    card.click()
    host = shop.removeprefix("http://")
    expect(agent.locator("#details .started-on")).to_have_text(host)  # the page it began on
    card.locator("button.claim").click()
    launcher.click()  # the visitor shuts the chat and reads the shop
    expect(page.locator("#support-chat-panel")).to_be_hidden()

    composer = agent.locator(".composer textarea")
    composer.fill("Hi, Ada here: how can I help?")
    composer.press("Enter")

    badge = page.locator("#support-chat-unread")
    expect(badge).to_have_text("1")
    expect(launcher).to_have_attribute("aria-label", "Chat with us (1 new)")
    screenshot(page, "chat-embedded-unread")
    # shut, the chat got the reply but nobody read it: the inbox says nothing of "Seen"
    page.wait_for_timeout(1000)
    expect(agent.locator(".transcript .seen-mark")).to_have_count(0)
    launcher.click()
    expect(badge).to_be_hidden()
    expect(chat.locator(".msg.from-human", has_text="Ada here")).to_be_visible()
    expect(agent.locator(".transcript .msg-human .seen-mark")).to_have_text("Seen")

    # the visitor leaves an address in the frame; on the site's next page the chat (which
    # keeps no storage of its own there) still knows it, from the server
    chat.locator("#follow-up-email").fill("kim@example.com")
    chat.locator("#follow-up-save").click()
    expect(chat.locator("#follow-up-done")).to_be_visible()
    page.reload()
    page.locator("#support-chat-launcher").click()
    chat = page.frame_locator("#support-chat-panel iframe")
    expect(chat.locator("#follow-up-done")).to_contain_text("kim@example.com")
    expect(chat.locator("#follow-up")).to_be_hidden()


def test_a_manager_tries_the_website_button_on_the_preview_page(acme_without_site, pages):
    page = pages(viewport=(1280, 800))

    page.goto("/chat/acme/preview/")
    expect(page.locator(".snippet")).to_contain_text('data-tenant="acme"')
    page.locator("#support-chat-launcher").click()
    chat = page.frame_locator("#support-chat-panel iframe")
    chat.locator("#start-text").fill("Hi, I was charged twice")
    chat.locator("#start-button").click()
    expect(chat.locator(".msg.from-agent", has_text="double charge")).to_be_visible()
    screenshot(page, "chat-preview")

    page.reload()
    page.locator("#support-chat-launcher").click()
    chat = page.frame_locator("#support-chat-panel iframe")
    expect(chat.locator(".msg.from-customer", has_text="charged twice")).to_be_visible()


@pytest.fixture
def acme_without_site(transactional_db):
    """A tenant that lists no website: only our own pages may frame its chat."""
    tenant = TenantFactory(slug="acme", name="Acme Outfitters")
    make_support_team(tenant)
    return tenant


def test_a_signed_in_visitor_chats_as_themselves_and_the_next_one_does_not_see_it(
    transactional_db, pages, website
):
    import time

    import jwt

    from core.chat_identity import identity_secret_new

    def signed(sub: str, name: str) -> str:  # what the shop's server makes for each page
        claims = {"sub": sub, "name": name, "email": f"{sub}@example.com", "exp": time.time() + 600}
        return jwt.encode(claims, secret, algorithm="HS256")

    shop = website()  # only to know its origin: the page with the token is served below
    acme = TenantFactory(slug="acme", name="Acme Outfitters", chat_website_origins=shop)
    make_support_team(acme)
    secret = identity_secret_new(acme)
    lees_page = website(identity=signed("user-42", "Lee Marvin"))
    acme.chat_website_origins = f"{shop}\n{lees_page}"
    acme.save(update_fields=["chat_website_origins"])
    ada = make_person(tenant=acme, roles=["agent"], username="ada", first_name="Ada")
    agent = pages()
    sign_in(agent, ada)
    wait_live(agent)

    page = pages(viewport=(1280, 800))
    page.goto(lees_page)
    page.locator("#support-chat-launcher").click()
    chat = page.frame_locator("#support-chat-panel iframe")
    expect(chat.locator("#start-signed-in")).to_have_text("Signed in as Lee Marvin")
    expect(chat.locator("#start-name")).to_be_hidden()  # the site said who they are
    chat.locator("#start-text").fill("I want to talk to a human please")
    chat.locator("#start-button").click()
    expect(chat.locator(".msg.from-customer", has_text="human please")).to_be_visible()
    # the address the shop vouched for takes the team's answer if Lee leaves: no need to ask
    expect(chat.locator("#follow-up-done")).to_have_text(
        "We'll e-mail user-42@example.com if you're not here when we answer."
    )
    expect(chat.locator("#follow-up")).to_be_hidden()
    screenshot(page, "chat-embedded-signed-in")

    # the team sees who it is, vouched for by the shop
    card = agent.locator("#list-offers .item", has_text="Lee Marvin")
    expect(card).to_be_visible()
    card.click()
    expect(agent.locator("#customer-verified")).to_have_text("✓ Signed in as user-42")
    screenshot(agent, "inbox-signed-in-customer")

    # the shop's next page, Lee still signed in: his conversation is there
    page.goto(lees_page)
    page.locator("#support-chat-launcher").click()
    chat = page.frame_locator("#support-chat-panel iframe")
    expect(chat.locator(".msg.from-customer", has_text="human please")).to_be_visible()

    # Lee signs out of the shop (the chat open): it starts afresh, for an anonymous visitor
    page.evaluate("SupportChat.logout()")
    expect(page.locator("#support-chat-panel")).to_be_visible()
    chat = page.frame_locator("#support-chat-panel iframe")
    expect(chat.locator("#start-text")).to_be_visible()
    expect(chat.locator("#start-name")).to_be_visible()
    expect(chat.locator(".msg.from-customer")).to_have_count(0)

    # Kim signs in on the same computer: she does not find Lee's conversation either
    page.evaluate("token => SupportChat.identify(token)", signed("user-7", "Kim Park"))
    chat = page.frame_locator("#support-chat-panel iframe")
    expect(chat.locator("#start-signed-in")).to_have_text("Signed in as Kim Park")
    page.wait_for_timeout(500)  # the server was asked for an open conversation of hers: none
    expect(chat.locator("#start-text")).to_be_visible()
    expect(chat.locator(".msg.from-customer")).to_have_count(0)

    # Lee signs in again, here or on his phone: his open conversation comes back from the server
    phone = pages(viewport=(390, 844))
    phone.goto(lees_page)
    phone.locator("#support-chat-launcher").click()
    on_phone = phone.frame_locator("#support-chat-panel iframe")
    expect(on_phone.locator(".msg.from-customer", has_text="human please")).to_be_visible()
    on_phone.locator("#composer-text").fill("I'm on my phone now")
    on_phone.locator("#composer-text").press("Enter")
    expect(agent.locator(".transcript li.msg-customer", has_text="on my phone")).to_be_visible()


def test_where_only_signed_in_visitors_may_chat_others_are_asked_to_sign_in(
    acme_without_site, pages
):
    import time

    import jwt

    from core.chat_identity import identity_secret_new

    secret = identity_secret_new(acme_without_site)
    acme_without_site.chat_signed_in_only = True
    acme_without_site.save(update_fields=["chat_signed_in_only"])
    page = pages(viewport=(480, 800))

    page.goto("/chat/acme/")
    expect(page.locator("#start-sign-in")).to_contain_text("Please sign in on our website")
    expect(page.locator("#start-form")).to_be_hidden()
    screenshot(page, "chat-sign-in-first")

    token = jwt.encode({"sub": "user-42", "name": "Lee", "exp": time.time() + 600}, secret)
    page.goto(f"/chat/acme/?signed#identity={token}")
    expect(page.locator("#start-signed-in")).to_have_text("Signed in as Lee")
    expect(page.locator("#start-sign-in")).to_be_hidden()
    page.fill("#start-text", "Hi, I was charged twice")
    page.locator("#start-button").click()
    expect(page.locator(".msg.from-agent", has_text="double charge")).to_be_visible()


def test_a_signed_in_visitor_finds_their_conversations_reads_a_resolved_one_and_rates_it_once(
    acme_without_site, pages
):
    import time

    import jwt

    from conversations.models import Channel, Message
    from conversations.services import conversation_start
    from core.chat_identity import identity_secret_new
    from handover.views import entry_agent

    acme = acme_without_site
    secret = identity_secret_new(acme)
    # last week: Lee's boots came broken; Ada answered after he had left, and resolved it
    # (written directly: Playwright's sync API runs an event loop in this thread, see
    # test_approvals.py)
    earlier, _ = conversation_start(
        tenant=acme,
        agent=entry_agent(acme),
        channel=Channel.WEB,
        customer={"id": "user-42", "name": "Lee"},
        verified=True,
    )
    for role, author, text in [
        ("customer", "Lee", "My boots came broken"),
        ("human", "Ada", "A new pair is on its way."),
    ]:
        Message.objects.create(
            tenant=acme, conversation=earlier, role=role, author=author, text=text
        )

    def resolve():  # in a thread of its own: its announcement may not run in Playwright's loop
        from django.db import connection, transaction

        from conversations.selectors import conversation_locked
        from handover.services import conversation_close

        with transaction.atomic():
            conversation_close(conversation_locked(earlier.pk), reason="resolved by Ada")
        connection.close()

    closing = threading.Thread(target=resolve)
    closing.start()
    closing.join()
    token = jwt.encode({"sub": "user-42", "name": "Lee", "exp": time.time() + 600}, secret)
    page = pages(viewport=(480, 860))

    page.goto(f"/chat/acme/?signed#identity={token}")
    past = page.locator("#past-list .past-item")
    expect(past).to_have_count(1)
    expect(past.first.locator(".past-state")).to_have_text("Resolved")
    expect(past.first.locator(".past-unread")).to_have_text("New reply")
    expect(past.first.locator(".past-text")).to_have_text("Ada: A new pair is on its way.")
    screenshot(page, "chat-your-conversations")

    past.first.click()  # read it again, and rate it
    expect(page.locator(".msg.from-human", has_text="new pair")).to_be_visible()
    expect(page.locator("#closed")).to_be_visible()
    page.locator("#csat [data-score='5']").click()
    expect(page.locator("#csat-thanks")).to_be_visible()

    page.locator("#to-past").click()  # back, and a new question
    expect(past.first.locator(".past-unread")).to_have_count(0)  # he has read Ada's answer
    page.fill("#start-text", "Hi, I was charged twice")
    page.locator("#start-button").click()
    expect(page.locator(".msg.from-agent", has_text="double charge")).to_be_visible()
    page.locator("#to-past").click()
    expect(past).to_have_count(2)
    expect(past.first.locator(".past-state")).to_have_text("Open")
    expect(past.nth(1).locator(".past-state")).to_have_text("Resolved")

    # on his phone: the open one comes back; the resolved one knows it is rated already
    phone = pages(viewport=(390, 844))
    phone.goto(f"/chat/acme/?signed#identity={token}")
    expect(phone.locator(".msg.from-customer", has_text="charged twice")).to_be_visible()
    phone.locator("#to-past").click()
    phone.locator("#past-list .past-item", has_text="new pair").click()
    expect(phone.locator("#csat-thanks")).to_be_visible()
    expect(phone.locator("#csat [data-score='5']")).to_have_attribute("aria-pressed", "true")
    expect(phone.locator("#csat [data-score='3']")).to_be_disabled()
    screenshot(phone, "chat-resolved-rated-elsewhere")


def test_the_chat_wears_the_tenants_colour_and_greeting_in_its_frame(acme_without_site, pages):
    acme = acme_without_site
    acme.chat_color = "#ffeb3b"  # a light yellow: dark text on it
    acme.chat_greeting = "Hello from Acme!"
    acme.chat_reply_time = "hours"
    acme.save(update_fields=["chat_color", "chat_greeting", "chat_reply_time"])
    page = pages(viewport=(1280, 800))

    page.goto("/chat/acme/preview/")
    launcher = page.locator("#support-chat-launcher")
    expect(launcher).to_have_css("background-color", "rgb(255, 235, 59)")
    expect(launcher.locator("path").first).to_have_attribute("stroke", "#1d2330")
    launcher.click()
    chat = page.frame_locator("#support-chat-panel iframe")
    expect(chat.locator("#start-title")).to_have_text("Hello from Acme!")
    expect(chat.locator("#chat-status")).to_contain_text("We usually reply within a few hours")
    button = chat.locator("#start-button")
    expect(button).to_have_css("background-color", "rgb(255, 235, 59)")
    expect(button).to_have_css("color", "rgb(29, 35, 48)")
    chat.locator("#start-text").fill("Hi, I was charged twice")
    button.click()
    mine = chat.locator(".msg.from-customer .bubble")
    expect(mine).to_have_css("background-color", "rgb(255, 235, 59)")
    expect(mine).to_have_css("color", "rgb(29, 35, 48)")
    screenshot(page, "chat-in-the-tenants-colour")


def test_the_button_on_the_website_wears_the_colour_chosen_since_its_tag_was_pasted(
    transactional_db, pages, website
):
    shop = website(color="#2f5bea")  # the tag as pasted months ago, with the colour of then
    acme = TenantFactory(
        slug="acme", name="Acme Outfitters", chat_website_origins=shop, chat_color="#ffeb3b"
    )
    make_support_team(acme)
    page = pages(viewport=(1280, 800))

    page.goto(shop)
    launcher = page.locator("#support-chat-launcher")
    expect(launcher).to_have_css("background-color", "rgb(255, 235, 59)")  # the admin's now
    expect(launcher.locator("path").first).to_have_attribute("stroke", "#1d2330")  # dark ink
    assert page.evaluate("localStorage.getItem('support-chat-look:acme')") == '{"color":"#ffeb3b"}'

    # the site's next page wears it at once, even before (or without) the server's answer
    page.route("**/chat/acme/look", lambda route: route.abort())
    page.reload()
    expect(page.locator("#support-chat-launcher")).to_have_css(
        "background-color", "rgb(255, 235, 59)"
    )
    page.locator("#support-chat-launcher").click()
    chat = page.frame_locator("#support-chat-panel iframe")
    expect(chat.locator("#start-button")).to_have_css("background-color", "rgb(255, 235, 59)")
    screenshot(page, "chat-button-in-the-colour-chosen-later")


def test_the_chat_asks_for_the_address_first_and_a_persons_answer_will_follow_it(
    acme_without_site, pages
):
    acme = acme_without_site
    acme.chat_ask_email = "required"
    acme.save(update_fields=["chat_ask_email"])
    page = pages(viewport=(390, 800))

    page.goto("/chat/acme/")
    page.fill("#start-name", "Kim")
    page.fill("#start-text", "I want to talk to a human please")
    page.click("#start-button")
    expect(page.locator("#start-error")).to_have_text("Please give your e-mail address.")
    expect(page.locator("#start-email")).to_be_focused()
    page.fill("#start-email", "kim@")
    page.click("#start-button")
    expect(page.locator("#start-error")).to_contain_text("E-mail address: must be an e-mail")
    screenshot(page, "chat-start-asks-for-the-address")
    page.fill("#start-email", "kim@example.com")
    page.click("#start-button")

    expect(page.locator("#thread")).to_be_visible()
    # waiting for a person: the chat does not ask again, it says where the answer will go
    expect(page.locator("#follow-up-done")).to_contain_text("kim@example.com")
    expect(page.locator("#follow-up")).to_be_hidden()


def test_the_preview_shows_a_colour_changed_a_moment_ago(acme_without_site, pages):
    acme = acme_without_site
    acme.chat_color = "#ffeb3b"
    acme.save(update_fields=["chat_color"])
    page = pages(viewport=(1280, 800))
    page.goto("/chat/acme/preview/")
    expect(page.locator("#support-chat-launcher")).to_have_css(
        "background-color", "rgb(255, 235, 59)"
    )

    acme.chat_color = "#101820"  # the manager changes it, and looks again at once
    acme.save(update_fields=["chat_color"])
    page.reload()

    # the preview's tag is rendered now: neither this browser's kept colour nor its cache wins
    launcher = page.locator("#support-chat-launcher")
    expect(launcher).to_have_css("background-color", "rgb(16, 24, 32)")
    page.wait_for_timeout(500)  # what a late answer of the look could repaint
    expect(launcher).to_have_css("background-color", "rgb(16, 24, 32)")
    expect(launcher.locator("path").first).to_have_attribute("stroke", "#fff")

"""The inbox and the web chat in Chromium, against a real ASGI server (issue 6, point 7): a
customer in one page and a human agent in another; the offer appears without reload; claim;
both sides chat live; resolve. Two agents race for one offer: one wins, the other sees it go."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.utils import timezone

from agents.models import Agent
from agents.orchestrator_settings import BANDS, settings_update
from conversations.models import Conversation
from conversations.services import conversation_start
from handover.models import AgentSetting, Handoff
from orchestration.packs import pack_build
from orchestration.turns import conversation_receive_message
from tests.browser.conftest import (
    make_support_team,
    off_loop,
    screenshot,
    sign_in,
    wait_live,
)
from tests.factories import TenantFactory, make_person

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


@pytest.fixture
def acme(transactional_db):
    tenant = TenantFactory(slug="acme", name="Acme Outfitters")
    make_support_team(tenant)
    return tenant


def start_chat(page, *, name: str, text: str, shot: str | None = None) -> None:
    page.goto("/chat/acme/")
    if shot:
        screenshot(page, shot)
    page.fill("#start-name", name)
    page.fill("#start-text", text)
    page.click("#start-button")
    expect(page.locator("#thread")).to_be_visible()
    expect(page.locator(".chat")).to_have_attribute("data-connection", "open")


def ada_and_kim(acme, pages, *, text: str):
    """Ada signed in to the inbox, and Kim's chat started with ``text``: (inbox, chat)."""
    ada = make_person(tenant=acme, roles=["agent"], username="ada", first_name="Ada")
    agent = pages()
    sign_in(agent, ada)
    wait_live(agent)
    customer = pages(viewport=(480, 800))
    start_chat(customer, name="Kim", text=text)
    return agent, customer


def customer_says(page, text: str) -> None:
    page.fill("#composer-text", text)
    page.press("#composer-text", "Enter")


def offer(page, customer: str):
    return page.locator("#list-offers .item", has_text=customer)


def test_a_customer_is_handed_to_a_person_who_claims_talks_and_resolves(acme, pages):
    ada = make_person(tenant=acme, roles=["agent"], username="ada", first_name="Ada")
    agent = pages()
    sign_in(agent, ada)
    wait_live(agent)
    expect(agent.locator("#online")).to_contain_text("ada")
    customer = pages(viewport=(480, 800))

    start_chat(
        customer, name="Kim", text="Hi, I was charged twice for order 12345", shot="chat-start"
    )
    expect(customer.locator(".msg.from-customer")).to_contain_text("charged twice")
    expect(customer.locator(".msg.notice", has_text="transferring you to Billing")).to_be_visible()
    expect(customer.locator(".msg.from-agent", has_text="double charge")).to_be_visible()
    screenshot(customer, "chat-ai")
    customer_says(customer, "I want to talk to a human please")

    expect(customer.locator(".msg.notice", has_text="Someone will be with you")).to_be_visible()
    card = offer(agent, "Kim")
    expect(card).to_be_visible()  # no reload: it came over the socket
    expect(card.locator(".preview")).to_contain_text("asked for a person")
    expect(agent.locator("#announcer")).to_contain_text("New live offer from Kim")
    card.click()
    expect(agent.locator("#details")).to_contain_text("12345")
    screenshot(agent, "inbox-offer")
    card.locator("button.claim").click()

    composer = agent.locator(".composer textarea")
    expect(composer).to_be_focused()
    expect(agent.locator("#list-mine .item", has_text="Kim")).to_be_visible()
    expect(agent.locator(".transcript")).to_contain_text("I want to talk to a human please")
    expect(customer.locator("#chat-status")).to_contain_text("chatting with")
    composer.fill("Hi Kim, Ada here.")
    composer.press("Shift+Enter")
    composer.type("Let me check that order.")
    composer.press("Enter")

    human = customer.locator(".msg.from-human")
    expect(human.locator(".bubble")).to_have_text("Hi Kim, Ada here.\nLet me check that order.")
    expect(human.locator(".who")).to_contain_text("Ada")
    customer_says(customer, "<img src=x onerror=alert(1)> thanks Ada!")
    last = agent.locator(".transcript .msg-customer").last
    expect(last.locator(".bubble")).to_have_text("<img src=x onerror=alert(1)> thanks Ada!")
    assert agent.locator(".transcript img").count() == 0
    screenshot(agent, "inbox-chat")
    screenshot(customer, "chat-human")

    agent.get_by_role("button", name="Resolve").click()
    expect(agent.locator(".banner")).to_contain_text("Resolved")
    expect(agent.locator("#list-mine .item")).to_have_count(0)
    expect(customer.locator("#closed")).to_be_visible()
    expect(customer.locator("#chat-status")).to_contain_text("resolved")
    assert Conversation.objects.get().state == "resolved"


def test_two_agents_race_for_an_offer_and_exactly_one_wins(acme, pages):
    people = [make_person(tenant=acme, roles=["agent"], username=n) for n in ("ada", "bob")]
    ada, bob = pages(), pages()
    for page, person in zip((ada, bob), people, strict=True):
        sign_in(page, person)
        wait_live(page)
    expect(ada.locator("#online")).to_contain_text("bob")
    customer = pages(viewport=(480, 800))

    start_chat(customer, name="Lee", text="I want to talk to a human")
    for page in (ada, bob):
        expect(offer(page, "Lee").locator("button.claim")).to_be_enabled()
    click = (
        "() => { const b = document.querySelector('#list-offers .item button.claim');"
        " if (b) b.click(); }"
    )
    ada.evaluate(click)
    bob.evaluate(click)

    handoff = _claimed(Handoff)
    winner, loser = (ada, bob) if handoff.claimed_by.username == "ada" else (bob, ada)
    expect(winner.locator(".composer textarea")).to_be_visible()
    expect(winner.locator("#list-mine .item", has_text="Lee")).to_be_visible()
    expect(loser.locator("#announcer")).to_contain_text(
        re.compile(f"claimed by {handoff.claimed_by.username}")
    )
    expect(offer(loser, "Lee")).to_have_count(0, timeout=8_000)  # the offer goes
    expect(loser.locator(".composer")).to_have_count(0)

    winner.get_by_role("button", name="Hand back to AI").click()
    back = customer.locator(".msg.notice", has_text="assistant will take it from here")
    expect(back).to_be_visible()
    expect(customer.locator("#chat-status")).to_contain_text("AI assistant")
    expect(winner.locator("#list-mine .item")).to_have_count(0)
    assert Conversation.objects.get().state == "active"


def at_the_limit_with_lee(acme, pages):
    """Ada, whose limit is one conversation, holds Lee's; Kim's offer is open: her inbox."""
    ada = make_person(tenant=acme, roles=["agent"], username="ada")
    AgentSetting.objects.create(tenant=acme, user=ada, max_conversations=1)
    agent = pages()
    sign_in(agent, ada)
    wait_live(agent)
    for name in ("Lee", "Kim"):
        start_chat(pages(viewport=(480, 800)), name=name, text="I want to talk to a human")
        expect(offer(agent, name).locator("button.claim")).to_be_enabled()
    expect(agent.locator("#at-limit")).to_be_hidden()
    offer(agent, "Lee").locator("button.claim").click()
    expect(agent.locator("#list-mine .item", has_text="Lee")).to_be_visible()
    return ada, agent


def test_an_agent_at_their_limit_is_told_so_and_keeps_the_offer_for_later(acme, pages):
    mo = make_person(tenant=acme, roles=["manager"], username="mo")
    ada, agent = at_the_limit_with_lee(acme, pages)
    expect(agent.locator("#at-limit")).to_contain_text("your limit of 1 conversation:")
    expect(agent.locator("#group-mine")).to_have_text(re.compile(r"My conversations\s*1\s*of 1"))
    # the conversation's actions are all in sight beside the brief (not cut off by its pane)
    # (bounding_box does not wait: a re-read of the conversation may be rebuilding the pane)
    pane = resolve = None
    for _ in range(50):
        pane = agent.locator("#conversation").bounding_box()
        resolve = agent.get_by_role("button", name="Resolve").bounding_box()
        if pane is not None and resolve is not None:
            break
        agent.wait_for_timeout(100)
    assert pane is not None and resolve is not None, "the pane was never laid out"
    assert resolve["x"] + resolve["width"] <= pane["x"] + pane["width"], (resolve, pane)

    offer(agent, "Kim").locator("button.claim").click()

    # the reason is hers (her limit), not "claimed by someone else", and the offer stays open
    expect(agent.locator(".toast-error")).to_contain_text("the limit of 1")
    screenshot(agent, "inbox-at-limit")
    expect(agent.locator("#announcer")).to_contain_text("Not claimed")
    expect(agent.locator(".toast-error")).to_have_count(0, timeout=8_000)
    expect(offer(agent, "Kim").locator("button.claim")).to_be_enabled()
    assert Handoff.objects.get(conversation__customer_name="Kim").status == "offered"

    agent.locator("#list-mine .item", has_text="Lee").click()
    agent.get_by_role("button", name="Resolve").click()
    expect(agent.locator("#list-mine .item")).to_have_count(0)
    expect(agent.locator("#at-limit")).to_be_hidden()
    offer(agent, "Kim").locator("button.claim").click()
    expect(agent.locator("#list-mine .item", has_text="Kim")).to_be_visible()
    expect(agent.locator(".composer textarea")).to_be_focused()
    expect(agent.locator("#at-limit")).to_be_visible()

    # a manager raises her limit in the admin: her page follows at once, without a reload
    manager = pages()
    setting = AgentSetting.objects.get(user=ada)
    sign_in(manager, mo, path=f"/admin/handover/agentsetting/{setting.pk}/change/")
    manager.fill("#id_max_conversations", "2")
    manager.click("input[name=_save]")
    expect(manager.locator(".messagelist")).to_contain_text("was changed successfully")
    expect(agent.locator("#group-mine .limit")).to_have_text("of 2")
    expect(agent.locator("#at-limit")).to_be_hidden()


def test_a_read_older_than_the_persons_own_claim_does_not_undo_it(acme, pages):
    """Resolving frees a seat, so the offers still open are offered to the person again, and the
    inbox reads each one afresh. A claim made while such a read is on its way came back first
    (a CI run caught it): the older read, answered later, put the claimed conversation back
    among the offers. Here the read is held until after the claim."""
    _, agent = at_the_limit_with_lee(acme, pages)
    kim = Conversation.objects.get(customer_name="Kim")
    held = []

    def hold_the_first_read(route):
        if held or route.request.method != "GET":
            route.continue_()
            return
        held.append((route, route.fetch()))  # read now (Kim is offered), answered later

    agent.route(f"**/inbox/conversations/{kim.pk}/", hold_the_first_read)
    agent.get_by_role("button", name="Resolve").click()  # a seat frees: Kim is offered again
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        agent.wait_for_timeout(100)
    assert held, "the inbox did not read the offer again"
    offer(agent, "Kim").locator("button.claim").click()
    expect(agent.locator("#list-mine .item", has_text="Kim")).to_be_visible()

    route, stale = held[0]
    route.fulfill(response=stale)  # the older read arrives last
    agent.wait_for_timeout(500)

    expect(agent.locator("#list-mine .item", has_text="Kim")).to_be_visible()
    expect(agent.locator("#list-offers .item")).to_have_count(0)
    expect(agent.locator("#at-limit")).to_be_visible()


def test_the_inbox_is_driven_from_the_keyboard(acme, pages):
    ada = make_person(tenant=acme, roles=["agent"], username="ada")
    agent = pages()
    sign_in(agent, ada)
    wait_live(agent)
    customers = [pages(viewport=(480, 800)) for _ in range(2)]
    for page, name in zip(customers, ("Noor", "Omar"), strict=True):
        start_chat(page, name=name, text="I want to talk to a human")
    expect(agent.locator("#list-offers .item")).to_have_count(2)
    agent.keyboard.press("?")
    expect(agent.locator("#shortcuts")).to_be_visible()
    screenshot(agent, "inbox-shortcuts")
    agent.keyboard.press("Escape")
    expect(agent.locator("#shortcuts")).to_be_hidden()

    agent.keyboard.press("j")
    first = agent.locator("#list-offers .item").first
    expect(first).to_be_focused()
    agent.keyboard.press("j")
    second = agent.locator("#list-offers .item").nth(1)
    expect(second).to_be_focused()
    agent.keyboard.press("k")
    expect(first).to_be_focused()
    agent.keyboard.press("Enter")
    expect(agent.locator(".conv-head h2")).to_have_text(first.locator(".customer").inner_text())
    agent.keyboard.press("c")
    expect(agent.locator(".composer textarea")).to_be_focused()
    agent.keyboard.type("On it!")
    agent.keyboard.press("Enter")
    expect(agent.locator(".transcript .msg-human")).to_contain_text("On it!")
    agent.keyboard.press("Escape")
    expect(agent.locator(".queue-pane .item:focus")).to_have_count(1)

    waiting = agent.locator("#list-offers .item")
    other = customers[1] if waiting.locator(".customer").inner_text() == "Omar" else customers[0]
    customer_says(other, "Hello? Anyone there?")
    expect(waiting.locator(".unread")).to_have_text("1")  # unread until opened
    waiting.click()
    expect(agent.locator(".transcript")).to_contain_text("Anyone there?")
    expect(waiting.locator(".unread")).to_have_count(0)


def test_the_queue_is_ordered_by_priority_with_waiting_times_and_breaches(acme, pages):
    half_hour = {"firstResponse": 1800, "resolution": 4 * 3600}
    settings_update(
        level="tenant", tenant=acme, changes={"responseTargets": dict.fromkeys(BANDS, half_hour)}
    )
    queued(acme, name="Sam", text="I want a human about order 55501", priority=5, waited=5)
    queued(
        acme, name="Pat", text="I want a human, you charged me $250 twice", priority=45, waited=50
    )
    queued(acme, name="Ria", text="I want a human to cancel", priority=25, waited=40)
    ada = make_person(tenant=acme, roles=["agent"], username="ada")
    agent = pages()

    sign_in(agent, ada)
    wait_live(agent)

    items = agent.locator("#list-queue .item")
    expect(items.locator(".customer")).to_have_text(["Pat", "Ria", "Sam"])
    expect(items.nth(0).locator(".badge.prio")).to_have_text("Urgent")
    expect(items.nth(0)).to_have_class(re.compile(r"\bbreached\b"))
    expect(items.nth(0).locator(".breach")).to_have_text("over target")
    expect(items.nth(0).locator(".wait")).to_have_text("waiting 50 min")
    expect(items.nth(2)).not_to_have_class(re.compile(r"\bbreached\b"))
    # the live countdown to each handoff's first-response target: 25 minutes left for Sam,
    # Pat's 20 minutes overdue (and it keeps counting)
    expect(items.nth(2).locator(".target-clock")).to_have_text(
        re.compile(r"^first reply in 2[45]:")
    )
    expect(items.nth(0).locator(".target-clock")).to_have_text(
        re.compile(r"^first reply 20:\d\d overdue$")
    )
    expect(items.nth(0).locator(".target-clock")).to_have_class(re.compile(r"\bbreached\b"))
    before = items.nth(2).locator(".target-clock").inner_text()
    expect(items.nth(2).locator(".target-clock")).not_to_have_text(before)  # it ticks
    items.nth(0).click()
    expect(agent.locator("#details .keys")).to_contain_text("$250")
    expect(agent.locator("#details")).to_contain_text("Cold")
    screenshot(agent, "inbox-queue")
    items.nth(0).locator("button.claim").click()
    expect(agent.locator("#list-mine .item .customer")).to_have_text(["Pat"])
    expect(agent.locator(".composer textarea")).to_be_focused()


def queued(tenant, **kwargs) -> Handoff:
    """A cold handoff with its pack (nobody is online). Made on another thread: the pipeline
    sends channel-layer events, which cannot be sent from the thread of Playwright's loop."""

    return off_loop(_queued, tenant, **kwargs)


def _queued(tenant, *, name: str, text: str, priority: int, waited: int) -> Handoff:
    desk = Agent.objects.get(tenant=tenant, slug="agent-desk")
    conversation, _ = conversation_start(
        tenant=tenant, agent=desk, channel="web", customer={"id": name.lower(), "name": name}
    )
    conversation_receive_message(conversation=conversation, text=text)
    handoff = Handoff.objects.get(conversation=conversation)
    assert handoff.mode == "cold"
    pack_build(handoff_id=handoff.pk)
    past = timezone.now() - dt.timedelta(minutes=waited)
    Handoff.objects.filter(pk=handoff.pk).update(priority=priority, queued_at=past, created_at=past)
    return handoff


def _claimed(model, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = model.objects.filter(status="claimed").select_related("claimed_by").first()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError("nobody claimed the handoff")


def test_a_customer_waiting_for_a_person_leaves_an_address_for_replies(acme, pages):
    customer = pages(viewport=(390, 800))
    start_chat(customer, name="Kim", text="Where is my parcel?")
    follow_up = customer.locator("#follow-up")
    expect(customer.locator(".msg.from-agent")).to_be_visible()
    assert follow_up.is_hidden()  # the AI answers: nobody is awaited yet

    customer_says(customer, "I want to talk to a human please")
    expect(follow_up).to_be_visible()
    screenshot(customer, "chat-follow-up-form")
    customer.fill("#follow-up-email", "kim@example")
    customer.click("#follow-up-save")
    expect(customer.locator("#follow-up-error")).to_contain_text("e-mail address")
    customer.fill("#follow-up-email", "kim@example.com")
    customer.click("#follow-up-save")

    done = customer.locator("#follow-up-done")
    expect(done).to_have_text("We'll e-mail kim@example.com if you're not here when we answer.")
    expect(follow_up).to_be_hidden()
    screenshot(customer, "chat-follow-up")
    conversation = Conversation.objects.get()
    assert (conversation.customer_email, conversation.email_follow_up) == ("kim@example.com", True)
    customer.reload()  # kept with the conversation in this browser
    expect(customer.locator("#follow-up-done")).to_be_visible()

    # the person who takes it over is told where their replies go
    ada = make_person(tenant=acme, roles=["agent"], username="ada", first_name="Ada")
    agent = pages()
    sign_in(agent, ada)
    wait_live(agent)
    card = agent.locator("#list-queue .item", has_text="Kim")
    expect(card).to_be_visible()
    card.locator("button.claim").click()
    expect(agent.locator("form.composer textarea")).to_have_attribute(
        "placeholder", re.compile("e-mailed to kim@example.com if they have left the chat")
    )


def test_a_request_nobody_can_take_live_says_someone_will_answer_later(acme, pages):
    customer = pages(viewport=(480, 800))  # no person of the team is online: it is queued
    start_chat(customer, name="Kim", text="Hello")

    customer_says(customer, "I want to talk to a human please")

    status = customer.locator("#chat-status")
    expect(status).to_contain_text(re.compile(r"will answer here"))
    customer.reload()  # the chat's snapshot says the same
    expect(status).to_contain_text(re.compile(r"will answer here"))

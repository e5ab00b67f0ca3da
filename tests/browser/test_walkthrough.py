"""The README's "Try it" walkthrough on the demo tenant (issue 19, point 11), in Chromium
against a real ASGI server, as `./run up` leaves it: the demo data of ``seed_demo``; a
customer opens the chat and asks for a person; agent1 claims it, answers and hands it back;
the customer asks for a refund of the whole order (240 EUR, above the front desk's 100 EUR
approval threshold); the approver approves it and it is carried out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from approvals.models import ApprovalRequest, LedgerEntry
from core.models import BusinessHours, Tenant
from stacks.demo import DEMO_SLUG, seed_demo
from tests.browser.conftest import screenshot, sign_in, wait_live

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(transactional_db):
    """The demo tenant exactly as seed_demo loads it, open all week (the walkthrough works
    outside business hours too, with a queued handoff; the test does not depend on the
    clock)."""
    seed_demo()
    tenant = Tenant.objects.get(slug=DEMO_SLUG)
    BusinessHours.objects.filter(tenant=tenant).delete()
    BusinessHours.objects.bulk_create(
        BusinessHours(tenant=tenant, weekday=day, opens=dt.time(0), closes=dt.time(23, 59))
        for day in range(7)
    )
    return get_user_model().objects.in_bulk(["agent1", "approver"], field_name="username")


def test_the_readme_walkthrough_reaches_an_approval_on_the_demo_data(demo, pages, asgi_server):
    agent = pages()
    sign_in(agent, demo["agent1"])  # /inbox/
    wait_live(agent)
    customer = pages(viewport=(480, 800))

    # 1. open the chat and ask for a person
    customer.goto(f"/chat/{DEMO_SLUG}/")
    customer.fill("#start-name", "Sam")
    customer.fill("#start-text", "Hi, I'd like to talk to a person")
    customer.click("#start-button")
    expect(customer.locator(".chat")).to_have_attribute("data-connection", "open")

    # 2. claim it as agent1, answer, hand it back to the AI
    card = agent.locator("#list-offers .item", has_text="Sam")
    expect(card).to_be_visible()
    card.locator("button.claim").click()
    composer = agent.locator(".composer textarea")
    expect(composer).to_be_focused()
    composer.fill("Hi Sam, Ada here. Our assistant can refund orders; I'll pass you back.")
    composer.press("Enter")
    expect(customer.locator(".msg.from-human")).to_contain_text("Ada here")
    agent.get_by_role("button", name="Hand back to AI").click()
    expect(customer.locator("#chat-status")).to_contain_text("AI assistant")

    # 3. a refund above the threshold: it waits for an approver
    customer.fill("#composer-text", "I want a refund for my whole order")
    customer.press("#composer-text", "Enter")
    expect(customer.locator(".msg.from-agent", has_text="full refund")).to_be_visible()
    screenshot(customer, "walkthrough-chat")
    request = ApprovalRequest.objects.get(action="issue_refund")
    assert request.status == "pending"
    assert request.params["amount"] == 240.0

    # 4. approve it as approver
    approver = pages()
    sign_in(approver, demo["approver"], path="/approvals/")
    pending = approver.locator(f"#pending-list .request[data-approval='{request.pk}']")
    expect(pending).to_contain_text("Refund €240.00 for order ORDER-1002")
    pending.locator(".request-link").click()
    approver.get_by_role("button", name="Approve").click()
    expect(approver.locator(".messages")).to_contain_text("Approved and carried out")
    screenshot(approver, "walkthrough-approved")
    expect(
        customer.locator(".msg", has_text="was approved and has been carried out")
    ).to_be_visible()
    request.refresh_from_db()
    assert request.status == "executed"
    assert request.decided_by == demo["approver"]
    assert LedgerEntry.objects.filter(action="issue_refund").count() == 1

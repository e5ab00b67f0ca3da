"""Manager insight in Chromium against a real ASGI server (issue 7, point 6): the metrics
dashboard with its SVG charts and filters, a backtest run from the admin and its result, and a
conversation timeline opened from it."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.models import Workflow
from approvals.models import ActionExecution, ApprovalRequest
from conversations.models import (
    Conversation,
    DecisionEvent,
)
from conversations.services import conversation_start
from handover.models import Handoff
from orchestration.turns import conversation_receive_message
from tests.browser.conftest import (
    make_support_team,
    sign_in,
)
from tests.factories import TenantFactory, make_person

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def _moved(conversation: Conversation, days_ago: int) -> dt.datetime:
    """Shift a conversation and its events back in time, to spread the chart over days;
    returns its new start."""
    delta = dt.timedelta(days=days_ago)
    started = conversation.created_at - delta
    Conversation.objects.filter(pk=conversation.pk).update(created_at=started)
    for event in DecisionEvent.objects.filter(conversation=conversation):
        DecisionEvent.objects.filter(pk=event.pk).update(created_at=event.created_at - delta)
    return started


@pytest.fixture
def acme(transactional_db):
    """A front desk sending billing to a billing specialist, a week of conversations through
    the real pipeline, and some handoffs, actions and approvals. Made on another thread:
    Playwright keeps an event loop on this one, where the pipeline's after-commit
    notifications cannot run."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_seed).result()


def _seed():
    tenant = TenantFactory(slug="acme", name="Acme Outfitters")
    desk = make_support_team(tenant)
    returns = Workflow.objects.create(tenant=tenant, name="Returns")
    script = [
        ("I was charged twice", {"intent": "billing"}),
        ("I want to talk to a human", {"intent": "human_agent"}),
        ("Hello there", {}),
        ("Why was I charged twice?", {"intent": "billing"}),
        ("Get me a person", {"intent": "human_agent"}),
    ]
    now = timezone.now()
    for number in range(14):
        text, signals = script[number % len(script)]
        conversation, _ = conversation_start(
            tenant=tenant, agent=desk, channel="web", customer={"id": f"c{number}"}
        )
        result = conversation_receive_message(conversation=conversation, text=text, signals=signals)
        conversation = result.conversation
        started = _moved(conversation, number % 7)
        # history written as it would have been (a seed, not a transition)
        Conversation.objects.filter(pk=conversation.pk)._state_update(
            state="resolved",
            resolved_at=started + dt.timedelta(minutes=10 + 7 * number),
            workflow=returns if number % 3 == 0 else None,
        )
        handoff = Handoff.objects.filter(conversation=conversation).first()
        if handoff is not None:
            opened = started + dt.timedelta(minutes=1)
            Handoff.objects.filter(pk=handoff.pk)._state_update(
                created_at=opened,
                status="resolved" if number % 3 else "queued",
                claimed_at=opened + dt.timedelta(minutes=5 + 20 * number) if number % 3 else None,
            )
        ActionExecution.objects.create(
            tenant=tenant,
            conversation=conversation,
            action="issue_refund",
            params={"orderId": f"A{number}", "amount": 10},
            execution_key=f"browser:{number}",
            requested_by_label="agent:agent-billing",
            status="failed" if number % 5 == 0 else "succeeded",
            attempts=1 + number % 3,
            finished_at=now - dt.timedelta(hours=number),
        )
        ApprovalRequest.objects.create(
            tenant=tenant,
            conversation=conversation,
            action="issue_refund",
            params={"orderId": f"A{number}", "amount": 500},
            idempotency_key=f"browser-{number}",
            status="approved",
            requested_by_label="agent:agent-billing",
            created_at=now - dt.timedelta(hours=number, minutes=30),
            decided_at=now - dt.timedelta(hours=number, minutes=30 - number),
            expires_at=now + dt.timedelta(days=1),
        )
    return tenant


def shot(page, name: str) -> None:
    """The whole page (the dashboard is taller than the window)."""
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_a_manager_reads_the_dashboard_and_backtests_a_draft(acme, pages):
    manager = make_person(tenant=acme, roles=["manager"], username="maria")
    page = pages()

    sign_in(page, manager, path=reverse("admin:insight_dashboard"))
    expect(page.locator("svg[data-chart='rates'] polyline").first).to_be_visible()
    expect(page.locator("svg[data-chart='handoffs']")).to_be_visible()
    expect(page.locator("svg[data-chart='resolution-agent'] rect").first).to_be_visible()
    expect(page.locator("svg[data-chart='resolution-workflow']")).to_contain_text("Returns")
    expect(page.locator("svg[data-chart='approvals'] rect")).to_have_count(3)
    expect(page.locator("[data-metric='conversations']")).to_have_text("14")
    shot(page, "insight-dashboard")
    # on a phone the charts shrink and the people's table scrolls on its own: the page fits
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1440, "height": 900})

    page.select_option("select[name='agentId']", "agent-billing")
    page.click("#filters input[type='submit']")
    expect(page).to_have_url(re.compile(r"agentId=agent-billing"))
    expect(page.locator("[data-metric='conversations']")).not_to_have_text("14")
    shot(page, "insight-dashboard-billing")
    with page.expect_download() as download:
        page.click("#csv-export")
    assert download.value.suggested_filename.startswith("metrics-acme-")

    page.goto(reverse("admin:insight_backtest_add"))
    page.select_option("select[name='agent']", label="agent-desk (Front desk)")
    page.fill("input[name='size']", "60")  # over the limit: the Celery path
    page.fill(
        "textarea[name='draft']",
        json.dumps(
            {
                "escalation": {"intents": ["human_agent"], "escalateToHuman": True},
                "handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "agent-desk"}],
            }
        ),
    )
    page.click("input[name='run']")
    expect(page.locator(".field-draft .errorlist")).to_contain_text(
        "handoffs[0].targetAgentId: an agent cannot transfer to itself"
    )
    page.fill(
        "textarea[name='draft']",
        json.dumps({"escalation": {"intents": ["billing"], "escalateToHuman": True}}),
    )
    page.click("input[name='run']")
    expect(page.locator("#progress")).to_have_attribute("data-status", "done")
    expect(page.locator("[data-figure='conversations']")).to_have_text("14")
    # the six billing conversations went to the billing agent live; the draft escalates them.
    # Requests for a person were escalated by risk auto-escalation before any rule ran, so
    # the draft cannot change them.
    expect(page.locator("[data-figure='differing']")).to_have_text("6")
    expect(page.locator("#differences tbody tr")).to_have_count(6)
    shot(page, "insight-backtest")

    page.locator("#differences a").first.click()
    expect(page.locator("#timeline tr[data-kind='event']").first).to_be_visible()
    expect(page.locator("#timeline .rule a").first).to_contain_text("agent-desk v1")
    shot(page, "insight-timeline")

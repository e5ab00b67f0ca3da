"""Groups in Chromium: the front desk's handoffs go to the group Front; Ada, of it, gets Kim's
live offer with the group on its card, and the manager's team view says who is of which group
(handover/groups.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents.models import Agent
from handover.models import Handoff, PeopleGroup
from handover.overflow import groups_overflow
from tests.browser.conftest import off_loop, screenshot, sign_in
from tests.browser.test_handover import acme, ada_and_kim, customer_says, offer  # noqa: F401
from tests.factories import make_person

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def test_a_groups_offer_shows_its_group_and_the_team_view_who_is_of_it(acme, pages):  # noqa: F811
    agent, customer = ada_and_kim(acme, pages, text="My boots came broken")
    front = PeopleGroup.objects.create(tenant=acme, name="Front")
    front.members.set([get_user_model().objects.get(username="ada")])
    front.ai_agents.set([Agent.objects.get(tenant=acme, slug="agent-desk")])

    customer_says(customer, "I want to talk to a human please")

    card = offer(agent, "Kim")
    expect(card.locator(".item-meta .group")).to_have_text("Front")
    screenshot(agent, "inbox-group-offer")
    boss = make_person(tenant=acme, roles=["manager"], username="boss")
    manager = pages(viewport=(1366, 768))
    sign_in(manager, boss, path="/inbox/team/")
    expect(manager.locator("#team tr[data-agent='ada'] .groups")).to_have_text("· Front")
    expect(manager.locator("#team-waiting")).to_contain_text("for Front")


def test_only_my_groups_leaves_the_other_groups_queue_out(acme, pages):  # noqa: F811
    from tests.browser.conftest import api_post
    from tests.factories import make_api_key

    agent, _chat = ada_and_kim(acme, pages, text="Hello")
    ada = get_user_model().objects.get(username="ada")
    desk = Agent.objects.get(tenant=acme, slug="agent-desk")
    PeopleGroup.objects.create(tenant=acme, name="Front").members.set([ada])
    billing = PeopleGroup.objects.create(tenant=acme, name="Billing")
    billing.members.set([make_person(tenant=acme, roles=["agent"], username="bob")])
    billing.ai_agents.set([desk])  # bob is not signed in: its handoff waits in the queue
    _, raw = make_api_key(tenant=acme)
    lee = api_post(
        agent,
        raw,
        "/api/v1/conversations",
        {"agentId": "agent-desk", "channel": "web", "customer": {"id": "c-lee", "name": "Lee"}},
    )
    api_post(
        agent,
        raw,
        f"/api/v1/conversations/{lee['id']}/messages",
        {"text": "I want to talk to a human please"},
    )
    agent.reload()  # the page knows her groups when it is rendered
    queued = agent.locator("#list-queue .item", has_text="Lee")
    expect(queued.locator(".group")).to_have_text("Billing")

    agent.get_by_label("Only my groups (Front) and none").check()

    expect(queued).to_have_count(0)
    expect(agent.locator(".queue-filter .others")).to_have_text("1 more for other groups")
    agent.reload()  # the choice is kept
    expect(agent.get_by_label("Only my groups (Front) and none")).to_be_checked()
    expect(agent.locator("#list-queue .item", has_text="Lee")).to_have_count(0)
    agent.get_by_label("Only my groups (Front) and none").uncheck()
    expect(agent.locator("#list-queue .item", has_text="Lee")).to_have_count(1)

    # nobody of Billing took it within its 10 minutes: the sweep opens it to everyone (its
    # event reaching the inboxes is tests/handover/test_group_overflow.py's; this server runs
    # no sweeps, so the page is read again)
    agent.get_by_label("Only my groups (Front) and none").check()
    expect(queued).to_have_count(0)
    PeopleGroup.objects.filter(pk=billing.pk).update(overflow_after=10)
    Handoff.objects.update(queued_at=timezone.now() - dt.timedelta(minutes=11))
    assert off_loop(groups_overflow) == 1
    agent.reload()
    expect(queued.locator(".group")).to_have_text("Billing → everyone")
    expect(agent.locator(".queue-filter .others")).to_be_hidden()
    screenshot(agent, "inbox-group-overflow")

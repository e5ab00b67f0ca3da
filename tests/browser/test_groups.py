"""Groups in Chromium: the front desk's handoffs go to the group Front; Ada, of it, gets Kim's
live offer with the group on its card, and the manager's team view says who is of which group
(handover/groups.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from agents.models import Agent
from handover.models import PeopleGroup
from tests.browser.conftest import screenshot, sign_in
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

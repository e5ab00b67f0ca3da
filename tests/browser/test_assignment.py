"""Giving the queue out in Chromium (handover/assignment.py): a customer who waits in the queue
is the person's at once."""

from __future__ import annotations

import pytest

from agents.orchestrator_settings import settings_update
from core.models import Tenant
from handover.models import Handoff
from tests.browser.conftest import sign_in, wait_live
from tests.browser.test_handover import acme, start_chat  # noqa: F401
from tests.factories import make_person

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def test_a_queue_given_out_lands_in_the_persons_conversations(acme, pages):  # noqa: F811
    """Where the tenant gives its queue out (handover/assignment.py), a customer who waits in
    the queue is the person's at once: in "My conversations", with a toast."""
    Tenant.objects.filter(pk=acme.pk).update(assign_queue=True)
    settings_update(level="tenant", tenant=acme, changes={"handoffMode": "cold"})
    ada = make_person(tenant=acme, roles=["agent"], username="ada", first_name="Ada")
    agent = pages()
    sign_in(agent, ada)
    wait_live(agent)

    start_chat(pages(viewport=(480, 800)), name="Kim", text="I want to talk to a human")

    expect(agent.locator("#list-mine .item", has_text="Kim")).to_be_visible()
    expect(agent.locator("#toasts")).to_contain_text("Kim was given to you from the queue.")
    expect(agent.locator("#list-queue .item")).to_have_count(0)
    assert Handoff.objects.get().claimed_by == ada


def test_a_manager_gives_a_waiting_conversation_from_the_team_view(acme, pages):  # noqa: F811
    settings_update(level="tenant", tenant=acme, changes={"handoffMode": "cold"})
    ada = make_person(tenant=acme, roles=["agent"], username="ada", first_name="Ada")
    mo = make_person(tenant=acme, roles=["manager"], username="mo", first_name="Mo")
    agent = pages()
    sign_in(agent, ada)
    wait_live(agent)
    start_chat(pages(viewport=(480, 800)), name="Kim", text="I want to talk to a human")
    expect(agent.locator("#list-queue .item", has_text="Kim")).to_be_visible()
    manager = pages()
    sign_in(manager, mo, path="/inbox/team/")

    waiting = manager.locator("#team-waiting li", has_text="Kim")
    waiting.get_by_label("Give Kim to").select_option("ada")
    waiting.get_by_role("button", name="Give").click()

    expect(manager.locator(".messages")).to_contain_text("Kim was given to ada.")
    expect(manager.locator("tr[data-agent=ada] .held")).to_contain_text("Kim")
    expect(agent.locator("#list-mine .item", has_text="Kim")).to_be_visible()
    expect(agent.locator("#toasts")).to_contain_text("Mo gave you Kim.")
    assert Handoff.objects.get().claimed_by == ada

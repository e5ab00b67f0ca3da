"""Quiet conversations resolved by themselves (handover/quiet.py), where the tenant asks for it:
only those in which we answered last and nobody wrote for the tenant's time; never one whose
customer waits, that its holder snoozed, that an AI answer is on its way to, that waits for a
person, or of a tenant that did not ask."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from agents.models import Agent
from conversations.messages import message_post
from conversations.models import Conversation, DecisionEvent, Message
from conversations.services import conversation_start
from core.events import tenant_inbox_group
from handover.models import Handoff
from handover.quiet import quiet_resolve_sweep, span_text
from handover.services import handoff_claim, human_send_message
from handover.snooze import handoff_snooze
from orchestration.turns import conversation_receive_message
from tests.conftest import login
from tests.factories import tenant_admin_form
from tests.handover.test_agent_tools import Listener, handed_over

pytestmark = pytest.mark.django_db

TWO_DAYS = dt.timedelta(days=2)


@pytest.fixture
def resolves_quiet(tenant):
    tenant.resolve_quiet_after = TWO_DAYS
    tenant.save(update_fields=["resolve_quiet_after"])
    return tenant


def answered(tenant, customer: str = "kim") -> Conversation:
    """A web conversation the AI answered last."""
    entry = Agent.objects.get(tenant=tenant, slug="agent-sup")
    conversation, _ = conversation_start(
        tenant=tenant, agent=entry, channel="web", customer={"id": customer, "name": customer}
    )
    conversation_receive_message(conversation=conversation, text="Where is order A-12345?")
    conversation.refresh_from_db()
    assert conversation.state == "active"
    assert Message.objects.filter(conversation=conversation).last().role == "agent"
    return conversation


def quiet_for(conversation: Conversation, **delta) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(
        last_activity_at=timezone.now() - dt.timedelta(**delta)
    )


def state(conversation: Conversation) -> str:
    return Conversation.objects.get(pk=conversation.pk).state


def test_a_conversation_we_answered_last_is_resolved_after_the_tenants_time(
    team, resolves_quiet, django_capture_on_commit_callbacks
):
    quiet = answered(resolves_quiet)
    recent = answered(resolves_quiet, customer="lee")
    quiet_for(quiet, days=2, minutes=1)
    quiet_for(recent, days=1, hours=23)
    inbox = Listener(tenant_inbox_group(resolves_quiet.pk))

    with django_capture_on_commit_callbacks(execute=True):
        assert quiet_resolve_sweep() == 1

    done = Conversation.objects.get(pk=quiet.pk)
    assert done.state == "resolved" and done.resolved_at is not None
    assert state(recent) == "active"
    change = DecisionEvent.objects.filter(conversation=quiet, type="state.changed").last()
    assert (change.detail["to"], change.detail["reason"]) == ("resolved", "quiet for 2 days")
    note = Message.objects.filter(conversation=quiet).last()
    assert (note.role, note.author) == ("note", "system")
    assert note.text == (
        "Resolved by itself: nobody wrote for 2 days (the team resolves quiet conversations "
        "after 2 days)."
    )
    told = [e for e in inbox.events() if e["type"] == "conversation.updated"]
    assert told == [
        {"type": "conversation.updated", "conversationId": str(quiet.pk), "state": "resolved"}
    ]
    assert quiet_resolve_sweep() == 0  # once


def test_a_conversation_whose_customer_waits_stays_open(team, resolves_quiet):
    waiting = answered(resolves_quiet)
    message_post(conversation=waiting, role="customer", text="Hello? Anyone?")
    turn_pending = answered(resolves_quiet, customer="lee")
    Conversation.objects.filter(pk=turn_pending.pk).update(ai_turn_at=timezone.now())
    for conversation in (waiting, turn_pending):
        quiet_for(conversation, days=5)

    assert quiet_resolve_sweep() == 0

    assert state(waiting) == state(turn_pending) == "active"


def test_a_tenant_that_did_not_ask_keeps_its_conversations_open(team, tenant):
    conversation = answered(tenant)
    quiet_for(conversation, days=400)

    assert quiet_resolve_sweep() == 0

    assert state(conversation) == "active"


def test_the_persons_quiet_conversation_is_resolved_and_frees_their_seat(
    key_client, team, online, ada, resolves_quiet
):
    held = handed_over(key_client)
    handoff_claim(handoff=held, user=ada)
    human_send_message(conversation=held.conversation, user=ada, text="Your parcel left today.")
    snoozed = handed_over(key_client, customer="c-2")
    handoff_claim(handoff=snoozed, user=ada)
    human_send_message(conversation=snoozed.conversation, user=ada, text="I'll check tomorrow.")
    handoff_snooze(
        handoff=Handoff.objects.get(pk=snoozed.pk),
        user=ada,
        until=(timezone.now() + dt.timedelta(days=1)).isoformat(),
    )
    waiting = handed_over(key_client, customer="c-3")  # nobody claimed it yet
    for handoff in (held, snoozed, waiting):
        quiet_for(handoff.conversation, days=3)

    assert quiet_resolve_sweep() == 1

    assert state(held.conversation) == "resolved"
    assert Handoff.objects.get(pk=held.pk).status == "resolved"
    assert Conversation.objects.filter(assignee=ada, state="with_human").count() == 1
    assert state(snoozed.conversation) == "with_human"  # its holder put it aside
    assert state(waiting.conversation) == "handing_off"  # the customer waits for a person


def test_each_tenant_has_its_own_time(team, resolves_quiet, globex):
    globex.resolve_quiet_after = dt.timedelta(hours=1)
    globex.save(update_fields=["resolve_quiet_after"])
    ours = answered(resolves_quiet)
    theirs = answered(globex)
    for conversation in (ours, theirs):
        quiet_for(conversation, hours=2)

    assert quiet_resolve_sweep() == 1

    assert (state(ours), state(theirs)) == ("active", "resolved")


def test_the_sweep_goes_past_conversations_it_leaves_open(team, resolves_quiet, monkeypatch):
    from handover import quiet

    monkeypatch.setattr(quiet, "BATCH", 2)
    waiting = [answered(resolves_quiet, customer=f"w{i}") for i in range(3)]
    for conversation in waiting:
        message_post(conversation=conversation, role="customer", text="Hello?")
        quiet_for(conversation, days=9)
    done = answered(resolves_quiet, customer="done")
    quiet_for(done, days=3)  # newer than the three it leaves open: in a later batch

    assert quiet_resolve_sweep() == 1

    assert state(done) == "resolved"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("00:05:00", "greater than or equal to 0:10:00"),
        ("1000 00:00:00", "less than or equal to 999 days"),
        ("soon", "Enter a valid duration"),
    ],
)
def test_the_admin_refuses_a_time_out_of_range(tenant, manager, value, problem):
    url = f"/admin/core/tenant/{tenant.pk}/change/"
    form = tenant_admin_form(tenant, resolve_quiet_after=value)
    client = login(manager)

    refused = client.post(url, form)
    saved = client.post(url, {**form, "resolve_quiet_after": "2 00:00:00"})

    assert refused.status_code == 200 and problem in refused.content.decode()
    assert saved.status_code == 302
    tenant.refresh_from_db()
    assert tenant.resolve_quiet_after == TWO_DAYS


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (dt.timedelta(days=1), "1 day"),
        (dt.timedelta(days=2), "2 days"),
        (dt.timedelta(hours=36), "36 hours"),
        (dt.timedelta(minutes=90), "90 minutes"),
        (dt.timedelta(hours=1), "1 hour"),
    ],
)
def test_the_time_is_said_in_words(span, text):
    assert span_text(span) == text

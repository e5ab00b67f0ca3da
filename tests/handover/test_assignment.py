"""Giving the queue out (handover/assignment.py): where a tenant turns it on, queued handoffs go
to the available agent holding the fewest, highest priority first; nobody away, busy, offline
or at their limit gets one; a tenant that does not turn it on is left alone; two runs at once
give each handoff to one person; queueing a handoff and freeing a seat start a run."""

from __future__ import annotations

import pytest

from core.events import person_group
from core.models import OutboxEvent, Tenant
from handover.assignment import give_out, queue_assign
from handover.models import AgentSetting, AgentStatus, Handoff, Status
from handover.presence import presence_leave
from handover.services import (
    ASSIGN_TASK,
    conversation_resolve,
    handoff_claim,
    handoff_make_cold,
)
from tests.handover.test_agent_tools import Listener, as_person, handed_over

pytestmark = pytest.mark.django_db


def queued(key_client, customer: str, *, priority: int = 0) -> Handoff:
    handoff = handed_over(key_client, customer=customer)
    if handoff.status == Status.OFFERED:
        handoff_make_cold(handoff_id=handoff.pk, reason="nobody claimed it in time")
    Handoff.objects.filter(pk=handoff.pk).update(priority=priority)
    return Handoff.objects.get(pk=handoff.pk)


def giving_out(tenant, on: bool = True) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(assign_queue=on)


def holder(handoff: Handoff) -> str | None:
    handoff.refresh_from_db()
    return handoff.claimed_by.get_username() if handoff.claimed_by_id else None


def test_the_queue_goes_to_whoever_holds_fewest_highest_priority_first(
    key_client, team, online, ada, bob, tenant, django_capture_on_commit_callbacks
):
    busy_with = queued(key_client, "c-0")
    handoff_claim(handoff=busy_with, user=ada)  # Ada holds one already
    low = queued(key_client, "c-low", priority=1)
    high = queued(key_client, "c-high", priority=30)
    giving_out(tenant)
    to_bob = Listener(person_group(bob.pk))

    with django_capture_on_commit_callbacks(execute=True):
        given = queue_assign(tenant.pk)

    assert given == 2
    assert holder(high) == "bob"  # he held none: the most urgent is his
    assert holder(low) == "ada"  # then one each: Ada's name comes first
    (told,) = [e for e in to_bob.events() if e["type"] == "handoff.assigned"]
    assert told == {
        "type": "handoff.assigned",
        "handoffId": high.pk,
        "conversationId": str(high.conversation_id),
        "customer": "c-high",
    }


def test_nobody_away_busy_offline_or_at_their_limit_gets_one(
    key_client, team, online, ada, bob, tenant
):
    waiting = queued(key_client, "c-1")
    giving_out(tenant)
    AgentSetting.objects.create(tenant=tenant, user=ada, status=AgentStatus.AWAY)
    AgentSetting.objects.create(tenant=tenant, user=bob, max_conversations=0)

    assert queue_assign(tenant.pk) == 0
    AgentSetting.objects.filter(user=ada).update(status=AgentStatus.ONLINE)
    presence_leave(user=ada)
    assert queue_assign(tenant.pk) == 0  # online in status, but her inbox is closed
    assert holder(waiting) is None and Handoff.objects.get(pk=waiting.pk).status == "queued"


def test_a_tenant_that_does_not_give_its_queue_out_is_left_alone(
    key_client, team, online, tenant, other_tenant
):
    waiting = queued(key_client, "c-1")
    giving_out(other_tenant)  # another tenant's switch does not reach this one

    assert queue_assign(tenant.pk) == 0
    assert holder(waiting) is None
    assert not OutboxEvent.objects.filter(payload__task=ASSIGN_TASK).exists()


def test_queueing_a_handoff_and_freeing_a_seat_start_a_run(
    key_client, team, online, ada, bob, tenant, eager_tasks, django_capture_on_commit_callbacks
):
    giving_out(tenant)
    AgentSetting.objects.create(tenant=tenant, user=ada, max_conversations=1)
    AgentSetting.objects.create(tenant=tenant, user=bob, status=AgentStatus.BUSY)

    with django_capture_on_commit_callbacks(execute=True):
        first = queued(key_client, "c-1")
    assert holder(first) == "ada"  # queued, and given out at once
    with django_capture_on_commit_callbacks(execute=True):
        second = queued(key_client, "c-2")
    assert holder(second) is None  # she is at her limit, Bob is busy

    with django_capture_on_commit_callbacks(execute=True):
        conversation_resolve(conversation=first.conversation, user=ada)
    assert holder(second) == "ada"  # her seat freed: the queue came to her


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_give_each_handoff_to_one_person(key_client, team, online, tenant):
    """Two processes at once (``give_out`` without the process's lock): the claims decide,
    in the database (PostgreSQL; SQLite takes one writer at a time)."""
    from django.db import connection

    from tests.concurrency import race

    if connection.vendor != "postgresql":
        pytest.skip("two writers at once: PostgreSQL (SQLite refuses the second)")
    waiting = [queued(key_client, f"c-{i}") for i in range(4)]
    giving_out(tenant)

    results = race(2, lambda _: give_out(tenant.pk))

    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 4
    assert sorted(holder(h) for h in waiting) == ["ada", "ada", "bob", "bob"]


@pytest.mark.django_db(transaction=True)
def test_two_runs_of_one_process_take_turns(key_client, team, online, tenant):
    """The trigger and the sweep on the in-process runner's threads: one after the other (on
    the embedded default's SQLite a second writer at once would fail)."""
    from tests.concurrency import race

    waiting = [queued(key_client, f"c-{i}") for i in range(4)]
    giving_out(tenant)

    results = race(2, lambda _: queue_assign(tenant.pk))

    assert sorted(results) == [0, 4], results
    assert sorted(holder(h) for h in waiting) == ["ada", "ada", "bob", "bob"]


# --- a manager gives a waiting conversation to a person of their choice ---------------------------


def test_a_manager_gives_a_waiting_conversation_to_a_person_of_their_choice(
    key_client, team, online, ada, bob, manager, django_capture_on_commit_callbacks
):
    from conversations.models import Message

    waiting = queued(key_client, "c-kim")
    to_bob = Listener(person_group(bob.pk))
    page = as_person(manager)

    with django_capture_on_commit_callbacks(execute=True):
        given = page.post(f"/inbox/team/handoffs/{waiting.pk}/give", {"to": "bob"}, follow=True)

    assert given.status_code == 200
    assert "c-kim was given to bob." in given.content.decode()
    assert holder(waiting) == "bob"
    note = Message.objects.filter(conversation=waiting.conversation, role="note").last()
    assert note.text == "acme-manager gave the conversation to bob."
    (told,) = [e for e in to_bob.events() if e["type"] == "handoff.assigned"]
    assert (told["handoffId"], told["by"]) == (waiting.pk, "acme-manager")

    again = page.post(f"/inbox/team/handoffs/{waiting.pk}/give", {"to": "ada"}, follow=True)
    assert "c-kim was not given: This handoff has already been claimed" in again.content.decode()
    assert holder(waiting) == "bob"


def test_giving_keeps_the_persons_limit_and_the_tenants_and_roles_apart(
    key_client, team, online, ada, bob, manager, tenant, other_tenant
):
    from tests.factories import make_person

    waiting = queued(key_client, "c-kim")
    AgentSetting.objects.create(tenant=tenant, user=ada, max_conversations=0)
    page = as_person(manager)

    full = page.post(f"/inbox/team/handoffs/{waiting.pk}/give", {"to": "ada"}, follow=True)
    unknown = page.post(f"/inbox/team/handoffs/{waiting.pk}/give", {"to": "zed"}, follow=True)
    eve = make_person(tenant=other_tenant, roles=["agent"], username="eve")
    stranger = page.post(f"/inbox/team/handoffs/{waiting.pk}/give", {"to": "eve"}, follow=True)
    by_an_agent = as_person(bob).post(f"/inbox/team/handoffs/{waiting.pk}/give", {"to": "bob"})
    boss = make_person(tenant=other_tenant, roles=["manager"], username="globex-boss")
    theirs = as_person(boss).post(f"/inbox/team/handoffs/{waiting.pk}/give", {"to": "eve"})

    assert (
        "c-kim was not given: Ada already holds 0 conversations, the limit of 0: one must be "
        "resolved or handed back first, or their limit raised."
    ) in full.content.decode()
    assert "no human agent of this team has that username" in unknown.content.decode()
    assert "no human agent of this team has that username" in stranger.content.decode()
    assert by_an_agent.status_code == 403
    assert theirs.status_code == 404
    assert holder(waiting) is None and eve.pk

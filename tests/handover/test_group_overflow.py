"""A group's queue opened to everyone (PeopleGroup.overflow_after; handover/overflow.py): with
0, a live offer nobody of the group is available for rings for everyone at once, when the
handoff opens and when it is delivered; with minutes, a queued handoff nobody of the group took
in that time is opened to everyone once, the timeline says why, the inboxes re-read it and the
queue given out gives it to anyone; without, it waits for the group. The admin and the API
check the minutes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.decisions import HandoffOffered
from conversations.models import DecisionEvent
from core.events import person_group, tenant_inbox_group
from core.models import Tenant
from handover.assignment import give_out
from handover.models import Handoff, PeopleGroup, Status
from handover.overflow import groups_overflow
from handover.presence import presence_join
from handover.services import deliver_offer
from orchestration.inbox import inbox_snapshot
from tests.handover.test_agent_tools import Listener, handed_over
from tests.handover.test_groups import NO_HOURS, group_of, offered_to

pytestmark = pytest.mark.django_db


def timeline(handoff) -> list[str]:
    return [
        e.detail["why"]
        for e in DecisionEvent.objects.filter(conversation_id=handoff.conversation_id).order_by(
            "pk"
        )
        if e.type == HandoffOffered.type
    ]


def test_nobody_of_the_group_available_rings_for_everyone_at_once_with_overflow_zero(
    key_client, team, tenant, ada, bob
):
    presence_join(user=ada, tenant=tenant)  # ada online, but not of the group; bob away
    front = group_of(tenant, "Front", [bob], [team.sup])
    PeopleGroup.objects.filter(pk=front.pk).update(overflow_after=0)
    ada_hears = Listener(person_group(ada.pk))

    handoff = handed_over(key_client, "c-kim")
    deliver_offer(handoff.pk)

    handoff.refresh_from_db()
    assert (handoff.mode, handoff.status, handoff.group) == ("hot", Status.OFFERED, front)
    assert handoff.overflowed_at is not None  # the group stays; everyone is asked
    assert offered_to(ada_hears, handoff)
    assert timeline(handoff)[-1].startswith("nobody of the group Front is available, so everyone")
    shown = [h for h in inbox_snapshot(ada, tenant)["handoffs"] if h["id"] == handoff.pk]
    assert shown[0]["group"] == "Front" and shown[0]["overflowedAt"]


@pytest.mark.parametrize("overflow_after", [0, None])
def test_the_groups_people_gone_when_the_offer_is_delivered(
    key_client, team, tenant, online, ada, bob, overflow_after
):
    front = group_of(tenant, "Front", [bob], [team.sup])
    PeopleGroup.objects.filter(pk=front.pk).update(overflow_after=overflow_after)
    handoff = handed_over(key_client, "c-kim")  # bob online: it rings for the group
    assert handoff.overflowed_at is None
    bob.inbox_presence.delete()  # bob closed his laptop before the offer went out
    ada_hears = Listener(person_group(ada.pk))

    delivered = deliver_offer(handoff.pk)

    handoff.refresh_from_db()
    if overflow_after == 0:  # everyone at once: ada hears it live
        assert delivered and handoff.status == Status.OFFERED and handoff.overflowed_at
        assert offered_to(ada_hears, handoff)
        assert timeline(handoff)[-1] == (
            "nobody of the group is available: open to every human agent"
        )
    else:  # it waits for the group, in the queue
        assert not delivered and handoff.status == Status.QUEUED
        assert handoff.overflowed_at is None and not offered_to(ada_hears, handoff)


def test_a_queued_handoff_nobody_of_the_group_took_is_opened_to_everyone_after_its_minutes(
    key_client, team, tenant, ada, bob, django_capture_on_commit_callbacks
):
    presence_join(user=ada, tenant=tenant)  # ada is free, but not of the group
    front = group_of(tenant, "Front", [bob], [team.sup])
    PeopleGroup.objects.filter(pk=front.pk).update(overflow_after=10)
    handoff = handed_over(key_client, "c-kim")
    assert (handoff.status, handoff.group) == (Status.QUEUED, front)
    Tenant.objects.filter(pk=tenant.pk).update(assign_queue=True)
    assert give_out(tenant.pk) == 0  # nobody of Front is free: it waits for them
    inboxes = Listener(tenant_inbox_group(tenant.pk))

    Handoff.objects.filter(pk=handoff.pk).update(queued_at=timezone.now() - dt.timedelta(minutes=9))
    assert groups_overflow() == 0  # not yet
    Handoff.objects.filter(pk=handoff.pk).update(
        queued_at=timezone.now() - dt.timedelta(minutes=11)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert groups_overflow() == 1
    assert groups_overflow() == 0  # once

    handoff.refresh_from_db()
    assert handoff.overflowed_at is not None and handoff.group == front
    assert timeline(handoff)[-1] == (
        "nobody of the group Front took it within 10 min: open to every human agent"
    )
    assert any(
        e["type"] == "handoff.queued" and e["handoffId"] == handoff.pk for e in inboxes.events()
    )
    assert give_out(tenant.pk) == 1  # now anyone: ada
    handoff.refresh_from_db()
    assert handoff.claimed_by == ada


def test_a_group_without_overflow_keeps_its_queue(key_client, team, tenant, ada, bob):
    presence_join(user=ada, tenant=tenant)
    group_of(tenant, "Front", [bob], [team.sup])  # overflow_after empty: never
    handoff = handed_over(key_client, "c-kim")
    Handoff.objects.filter(pk=handoff.pk).update(queued_at=timezone.now() - dt.timedelta(days=6))
    Tenant.objects.filter(pk=tenant.pk).update(assign_queue=True)

    assert groups_overflow() == 0
    assert give_out(tenant.pk) == 0
    handoff.refresh_from_db()
    assert handoff.overflowed_at is None and handoff.status == Status.QUEUED


def test_the_admin_checks_the_minutes(team, tenant, manager_client, bob):
    url = reverse("admin:handover_peoplegroup_add")

    too_long = manager_client.post(
        url, {"name": "Front", "overflow_after": 7 * 24 * 60 + 1, **NO_HOURS}
    )
    fields = {"name": "Front", "members": [bob.pk], "ai_agents": [team.sup.pk], **NO_HOURS}
    made = manager_client.post(url, {**fields, "overflow_after": 15})

    assert too_long.status_code == 200
    assert "Ensure this value is less than or equal to 10080" in too_long.content.decode()
    assert made.status_code == 302, made.content.decode()[:2000]
    assert PeopleGroup.objects.get().overflow_after == 15
    listing = manager_client.get(reverse("admin:handover_peoplegroup_changelist")).content
    assert "after 15 min in the queue" in listing.decode()

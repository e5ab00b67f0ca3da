"""A group's own hours (handover.GroupHours): a group that works by hours of its own is asked
only within them (the team's business hours do not count for it); outside them its handoff
waits in the queue and the customer is told when that group is back, or, with an overflow of
0, everyone is asked at once; the API and the admin keep the hours and refuse bad ones naming
the field."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.models import Message, MessageRole
from core.models import BusinessHours
from handover.models import GroupHours, PeopleGroup, Status
from tests.handover.test_agent_tools import handed_over
from tests.handover.test_group_overflow import timeline
from tests.handover.test_groups import NO_HOURS, group_of

pytestmark = pytest.mark.django_db


def today(tenant) -> int:
    return timezone.localtime(timezone.now(), tenant.tzinfo).weekday()


def billing_works(tenant, group, *, weekday: int, opens="09:00", closes="10:00") -> None:
    GroupHours.objects.create(
        tenant=tenant,
        group=group,
        weekday=weekday,
        opens=dt.time.fromisoformat(opens),
        closes=dt.time.fromisoformat(closes),
    )


def test_outside_its_hours_the_group_waits_and_the_customer_hears_when_it_is_back(
    key_client, team, tenant, online, ada, bob
):
    front = group_of(tenant, "Front", [bob], [team.sup])  # bob is online and free
    billing_works(tenant, front, weekday=(today(tenant) + 1) % 7)  # tomorrow 9-10 only

    handoff = handed_over(key_client, "c-kim")

    assert (handoff.mode, handoff.status) == ("cold", Status.QUEUED)
    assert timeline(handoff)[-1] == "outside the hours of the group Front"
    told = Message.objects.filter(
        conversation_id=handoff.conversation_id, role=MessageRole.SYSTEM
    ).last()
    assert "Our team is away right now and back tomorrow at 09:00" in told.text


def test_within_its_hours_the_group_works_when_the_team_is_closed(
    key_client, team, tenant, online, ada, bob
):
    BusinessHours.objects.filter(tenant=tenant).delete()  # the team: closed all week
    BusinessHours.objects.create(
        tenant=tenant, weekday=(today(tenant) + 1) % 7, opens=dt.time(9), closes=dt.time(10)
    )
    front = group_of(tenant, "Front", [bob], [team.sup])
    billing_works(tenant, front, weekday=today(tenant), opens="00:00", closes="00:00")  # all day

    handoff = handed_over(key_client, "c-kim")

    assert (handoff.mode, handoff.status) == ("hot", Status.OFFERED)
    assert handoff.group == front


def test_outside_its_hours_with_overflow_zero_everyone_is_asked(
    key_client, team, tenant, online, ada, bob
):
    front = group_of(tenant, "Front", [bob], [team.sup])
    PeopleGroup.objects.filter(pk=front.pk).update(overflow_after=0)
    billing_works(tenant, front, weekday=(today(tenant) + 1) % 7)

    handoff = handed_over(key_client, "c-kim")

    assert (handoff.mode, handoff.status) == ("hot", Status.OFFERED)
    assert handoff.overflowed_at is not None
    assert timeline(handoff)[-1].startswith("outside the hours of the group Front, so everyone: ")


def test_the_api_keeps_the_hours_and_refuses_bad_ones_naming_the_field(key_client, team, tenant):
    made = key_client.post(
        "/api/v1/groups",
        {"name": "Billing", "hours": [{"weekday": 0, "opens": "09:00", "closes": "17:00"}]},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["hours"] == [{"weekday": 0, "opens": "09:00", "closes": "17:00"}]
    url = f"/api/v1/groups/{made.json()['id']}"
    night = {"weekday": 4, "opens": "22:00", "closes": "00:00"}  # Friday until midnight
    changed = key_client.patch(url, {"hours": [night]}, format="json")
    assert changed.json()["hours"] == [night]  # a list replaces the one it had
    for bad in (
        "9-17",
        [{"weekday": 7, "opens": "09:00", "closes": "17:00"}],
        [{"weekday": True, "opens": "09:00", "closes": "17:00"}],
        [{"weekday": 0, "opens": "9:00", "closes": "17:00"}],
        [{"weekday": 0, "opens": "17:00", "closes": "09:00"}],
        [{"weekday": 0, "opens": "09:00", "closes": "25:00"}],
        [{"weekday": 0, "opens": "09:00"}],
        [{"weekday": 0, "opens": "09:00", "closes": "17:00", "tz": "UTC"}],
        [night] * 51,
    ):
        refused = key_client.patch(url, json.dumps({"hours": bad}), content_type="application/json")
        assert refused.status_code == 400, bad
        assert list(refused.json()["error"]["fields"]) == ["hours"], bad
    (listed,) = key_client.get("/api/v1/groups").json()
    assert listed["hours"] == [night]  # nothing changed
    cleared = key_client.patch(url, {"hours": []}, format="json")
    assert cleared.json()["hours"] == [] and not GroupHours.objects.exists()


def test_the_admin_keeps_a_groups_hours_and_refuses_one_closing_before_it_opens(
    team, tenant, manager_client
):
    url = reverse("admin:handover_peoplegroup_add")
    form = {
        "name": "Billing",
        **NO_HOURS,
        "hours-TOTAL_FORMS": "1",
        "hours-0-weekday": "0",
        "hours-0-opens": "17:00",
        "hours-0-closes": "09:00",
    }

    refused = manager_client.post(url, form)
    made = manager_client.post(url, {**form, "hours-0-opens": "09:00", "hours-0-closes": "17:00"})

    assert refused.status_code == 200
    assert "Opening time must be before closing time." in refused.content.decode()
    assert made.status_code == 302, made.content.decode()[:3000]
    (hours,) = GroupHours.objects.all()
    assert (hours.group.name, hours.tenant_id) == ("Billing", tenant.pk)
    assert str(hours) == "Monday 09:00-17:00"
    listing = manager_client.get(reverse("admin:handover_peoplegroup_changelist")).content
    assert "Monday 09:00-17:00" in listing.decode()

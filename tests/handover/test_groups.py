"""Groups of human agents (handover/groups.py): the handoffs of the AI agents a group takes ring
for its members only, go to the queue when none of them is available, reach a freed seat and a
snapshot only when the person is of the group, and the queue given out by itself gives them to
its members; a conversation no group takes goes to everyone. The admin keeps an AI agent in one
group and the members in the tenant."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conversations.decisions import HandoffOffered
from conversations.models import DecisionEvent
from core.events import person_group
from core.models import Tenant
from handover.assignment import give_out
from handover.models import Handoff, PeopleGroup, Status
from handover.presence import presence_join
from handover.services import _offers_for_freed_seat, deliver_offer, handoff_make_cold
from orchestration.inbox import inbox_snapshot
from tests.factories import make_person
from tests.handover.test_agent_tools import Listener, handed_over

pytestmark = pytest.mark.django_db


# the admin's form of a group carries its hours' inline: none here
NO_HOURS = {
    "hours-TOTAL_FORMS": "0",
    "hours-INITIAL_FORMS": "0",
    "hours-MIN_NUM_FORMS": "0",
    "hours-MAX_NUM_FORMS": "1000",
}


def group_of(tenant, name, members, agents) -> PeopleGroup:
    group = PeopleGroup.objects.create(tenant=tenant, name=name)
    group.members.set(members)
    group.ai_agents.set(agents)
    return group


def offered_to(listener, handoff) -> bool:
    return any(e.get("handoffId") == handoff.pk for e in listener.events())


def test_a_groups_handoff_rings_for_its_members_only(key_client, team, tenant, online, ada, bob):
    front = group_of(tenant, "Front", [bob], [team.sup])
    ada_hears = Listener(person_group(ada.pk))
    bob_hears = Listener(person_group(bob.pk))

    handoff = handed_over(key_client, "c-kim")
    deliver_offer(handoff.pk)

    assert handoff.group_id == front.pk and handoff.status == Status.OFFERED
    assert offered_to(bob_hears, handoff) and not offered_to(ada_hears, handoff)
    # ada's inbox shows no live offer of it; bob's does; both see it once queued
    assert handoff.pk not in [h["id"] for h in inbox_snapshot(ada, tenant)["handoffs"]]
    shown = [h for h in inbox_snapshot(bob, tenant)["handoffs"] if h["id"] == handoff.pk]
    assert shown[0]["group"] == "Front"
    handoff_make_cold(handoff_id=handoff.pk, reason="nobody claimed it in time")
    assert handoff.pk in [h["id"] for h in inbox_snapshot(ada, tenant)["handoffs"]]


def test_a_conversation_no_group_takes_goes_to_everyone(key_client, team, tenant, online, ada, bob):
    group_of(tenant, "Billing", [bob], [team.by_name["billing"]])  # not the front desk's
    group_of(tenant, "Empty", [], [team.sup])  # no member: takes nothing
    ada_hears = Listener(person_group(ada.pk))

    handoff = handed_over(key_client, "c-kim")
    deliver_offer(handoff.pk)

    assert handoff.group_id is None
    assert offered_to(ada_hears, handoff)


def test_nobody_of_the_group_available_queues_it_and_says_why(key_client, team, tenant, ada):
    presence_join(user=ada, tenant=tenant)  # ada online, but not of the group
    bob = make_person(tenant=tenant, roles=["agent"], username="bob")
    group_of(tenant, "Front", [bob], [team.sup])

    handoff = handed_over(key_client, "c-kim")

    assert (handoff.mode, handoff.status) == ("cold", Status.QUEUED)
    offered = [
        e
        for e in DecisionEvent.objects.filter(conversation_id=handoff.conversation_id)
        if e.type == HandoffOffered.type
    ]
    assert "no human agent of the group Front is online" in str(offered[-1].detail)


def test_a_freed_seat_hears_only_the_offers_of_its_groups(
    key_client, team, tenant, online, ada, bob, django_capture_on_commit_callbacks
):
    group_of(tenant, "Front", [bob], [team.sup])
    handoff = handed_over(key_client, "c-kim")
    ada_hears = Listener(person_group(ada.pk))
    bob_hears = Listener(person_group(bob.pk))

    with django_capture_on_commit_callbacks(execute=True):
        _offers_for_freed_seat(ada, tenant.pk)
        _offers_for_freed_seat(bob, tenant.pk)

    assert offered_to(bob_hears, handoff) and not offered_to(ada_hears, handoff)


def test_the_queue_given_out_gives_a_groups_handoff_to_its_members(
    key_client, team, tenant, online, ada, bob
):
    group_of(tenant, "Front", [bob], [team.sup])
    for_front = handed_over(key_client, "c-kim")
    handoff_make_cold(handoff_id=for_front.pk, reason="nobody claimed it in time")
    PeopleGroup.objects.update(name="Front desk")  # still the group it went to
    PeopleGroup.ai_agents.through.objects.all().delete()  # the next goes to everyone
    for_anyone = handed_over(key_client, "c-lee")
    handoff_make_cold(handoff_id=for_anyone.pk, reason="nobody claimed it in time")
    Handoff.objects.filter(pk=for_anyone.pk).update(priority=50)  # given out first
    Tenant.objects.filter(pk=tenant.pk).update(assign_queue=True)

    assert give_out(tenant.pk) == 2

    for_front.refresh_from_db()
    for_anyone.refresh_from_db()
    # ada held fewer when the first went out, so it went to her; the group's went to bob
    assert for_anyone.claimed_by == ada
    assert for_front.claimed_by == bob


def test_the_admin_keeps_an_ai_agent_in_one_group_and_the_members_in_the_tenant(
    team, tenant, other_tenant, manager_client, ada, bob
):
    outsider = make_person(tenant=other_tenant, roles=["agent"], username="zed")
    url = reverse("admin:handover_peoplegroup_add")
    made = manager_client.post(
        url, {"name": "Front", "members": [bob.pk], "ai_agents": [team.sup.pk], **NO_HOURS}
    )
    assert made.status_code == 302, made.content.decode()[:2000]

    again = manager_client.post(url, {"name": "Desk", "ai_agents": [team.sup.pk], **NO_HOURS})
    assert "handoffs go to the group Front already" in again.content.decode()
    foreign = manager_client.post(url, {"name": "Other", "members": [outsider.pk], **NO_HOURS})
    assert foreign.status_code == 200 and "Select a valid choice" in foreign.content.decode()
    twice = manager_client.post(url, {"name": "Front", **NO_HOURS})
    assert "The team has a group of this name already." in twice.content.decode()
    assert list(PeopleGroup.objects.values_list("name", flat=True)) == ["Front"]

    page = manager_client.get("/inbox/team/").content.decode()
    assert "· Front" in page  # bob's groups


def test_the_holder_puts_it_back_in_the_queue_for_a_group_or_everyone(
    key_client, team, tenant, other_tenant, online, ada, bob
):
    import json

    from conversations.models import Message
    from handover.services import handoff_claim
    from tests.handover.test_agent_tools import as_person

    front = group_of(tenant, "Front", [ada], [team.sup])
    billing = group_of(tenant, "Billing", [bob], [])
    theirs = PeopleGroup.objects.create(tenant=other_tenant, name="Theirs")
    handoff = handed_over(key_client, "c-kim")
    handoff_claim(handoff=handoff, user=ada)
    url = reverse("inbox-requeue", args=[handoff.conversation_id])
    page = as_person(ada)

    def requeue(body):
        return page.post(url, json.dumps(body), content_type="application/json")

    for bad in ({"group": theirs.pk}, {"group": "1"}, {"group": 0}, {"group": [1]}):
        refused = requeue(bad)
        assert refused.status_code == 400, bad
        assert list(refused.json()["error"]["fields"]) == ["group"], bad

    done = requeue({"group": billing.pk})

    assert done.status_code == 200, done.content
    again = Handoff.objects.get(pk=done.json()["handoffId"])
    assert again.group == billing
    note = Message.objects.filter(conversation_id=handoff.conversation_id, role="note").last()
    assert note.text.endswith("put the conversation back in the queue for the group Billing.")
    # bob takes it and puts it back as it is: it stays Billing's; then for everyone
    handoff_claim(handoff=again, user=bob)
    kept = as_person(bob).post(url, "{}", content_type="application/json")
    assert Handoff.objects.get(pk=kept.json()["handoffId"]).group == billing
    handoff_claim(handoff=Handoff.objects.get(pk=kept.json()["handoffId"]), user=bob)
    everyone = as_person(bob).post(url, '{"group": null}', content_type="application/json")
    assert Handoff.objects.get(pk=everyone.json()["handoffId"]).group is None
    assert front.pk  # the front desk's group was never asked


def test_the_api_makes_and_changes_groups_within_the_tenant_and_roles(
    key_client, team, tenant, other_tenant, ada, bob
):
    import json

    from rest_framework.test import APIClient

    from tests.factories import make_api_key
    from tests.handover.test_agent_tools import as_person

    outsider = make_person(tenant=other_tenant, roles=["agent"], username="zed")
    made = key_client.post(
        "/api/v1/groups",
        {"name": "Front", "members": ["ada"], "aiAgents": [team.sup.slug]},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json() == {
        "id": made.json()["id"],
        "name": "Front",
        "members": ["ada"],
        "aiAgents": [team.sup.slug],
        "overflowAfter": None,
        "hours": [],
    }
    url = f"/api/v1/groups/{made.json()['id']}"
    for body, field in (
        ({"name": "Front"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x\x00"}, "name"),
        ({"name": "\ud800"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "Desk", "members": [outsider.username]}, "members"),
        ({"name": "Desk", "members": "ada"}, "members"),
        ({"name": "Desk", "aiAgents": [team.sup.slug]}, "aiAgents"),
        ({"name": "Desk", "aiAgents": ["nobody"]}, "aiAgents"),
        ({"name": "Desk", "colour": "red"}, "colour"),
        ({"name": "Desk", "overflowAfter": -1}, "overflowAfter"),
        ({"name": "Desk", "overflowAfter": "10"}, "overflowAfter"),
        ({"name": "Desk", "overflowAfter": True}, "overflowAfter"),
        ({"name": "Desk", "overflowAfter": 2.5}, "overflowAfter"),
        ({"name": "Desk", "overflowAfter": 7 * 24 * 60 + 1}, "overflowAfter"),
    ):
        refused = key_client.post(
            "/api/v1/groups", json.dumps(body), content_type="application/json"
        )
        assert refused.status_code == 400, (body, refused.content)
        assert list(refused.json()["error"]["fields"]) == [field], body
    changed = key_client.patch(url, {"members": ["ada", "bob"]}, format="json")
    assert changed.json()["members"] == ["ada", "bob"] and changed.json()["name"] == "Front"

    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")
    assert theirs.get("/api/v1/groups").json() == []
    assert theirs.patch(url, {"name": "Mine"}, format="json").status_code == 404
    assert theirs.delete(url).status_code == 404
    assert as_person(ada).get("/api/v1/groups").status_code == 403
    assert key_client.delete(url).status_code == 204
    assert not PeopleGroup.objects.exists()


def test_the_history_export_and_api_find_the_conversations_handed_to_a_group(
    key_client, team, tenant, online, ada, bob, manager
):
    from tests.handover.test_agent_tools import as_person

    front = group_of(tenant, "Front", [bob], [team.sup])
    theirs = handed_over(key_client, "c-kim")
    PeopleGroup.ai_agents.through.objects.all().delete()
    anyone = handed_over(key_client, "c-lee")
    boss = as_person(manager)

    page = boss.get("/inbox/history/", {"group": front.pk}).content.decode()
    csv = boss.get("/inbox/history/export.csv", {"group": front.pk}).content.decode()
    api = key_client.get("/api/v1/conversations", {"group": front.pk}).json()

    assert str(theirs.conversation_id) in page and str(anyone.conversation_id) not in page
    assert str(theirs.conversation_id) in csv and str(anyone.conversation_id) not in csv
    (row,) = [line for line in csv.splitlines() if line.startswith(str(theirs.conversation_id))]
    assert row.split(",")[13] == "Front"  # the export's group column
    found = api["results"] if isinstance(api, dict) else api
    assert [c["id"] for c in found] == [str(theirs.conversation_id)]
    assert f'<option value="{front.pk}" selected>Front</option>' in page
    bad = boss.get("/inbox/history/", {"group": "x"})
    assert bad.status_code == 400 and "group" in bad.content.decode()
    assert key_client.get("/api/v1/conversations", {"group": "-1"}).status_code == 400

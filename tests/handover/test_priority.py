"""A handoff's priority set by hand (handover/priority.py): the band replaces the detectors'
score, the queue's order and the response targets follow, the colleagues read who changed it
and the inboxes hear it; a bad band is refused naming ``priority``, a closed handoff is a 409;
the doors check who is there and tenants stay apart."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from conversations.models import Message
from core.events import tenant_inbox_group
from handover.models import Handoff
from handover.services import conversation_resolve, handoff_claim
from tests.factories import make_api_key, make_person
from tests.handover.test_agent_tools import Listener, as_person, handed_over

pytestmark = pytest.mark.django_db


def page_post(person, handoff_id: int, body) -> object:
    client = Client()
    client.force_login(person)
    return client.post(
        f"/inbox/handoffs/{handoff_id}/priority", body, content_type="application/json"
    )


def test_a_person_makes_a_waiting_handoff_urgent_and_the_queue_and_targets_follow(
    key_client, team, online, ada, django_capture_on_commit_callbacks
):
    first = handed_over(key_client, customer="c-1")
    second = handed_over(key_client, customer="c-2")
    assert first.priority == second.priority  # the detectors scored them the same
    inbox = Listener(tenant_inbox_group(first.tenant_id))

    with django_capture_on_commit_callbacks(execute=True):
        answered = page_post(ada, second.pk, {"priority": "urgent"})

    assert answered.status_code == 200, answered.content
    assert answered.json() == {"priority": 40, "band": "urgent"}
    queue = key_client.get("/api/v1/handoffs").json()
    assert [h["id"] for h in queue][:2] == [second.pk, first.pk]
    shown = next(h for h in queue if h["id"] == second.pk)
    assert shown["priorityBand"] == "urgent"
    assert (
        shown["responseTargetMinutes"]
        < next(h for h in queue if h["id"] == first.pk)["responseTargetMinutes"]
    )
    note = Message.objects.filter(conversation_id=second.conversation_id).last()
    assert (note.role, note.text) == ("note", "Ada set the priority to urgent (it was medium).")
    (told,) = [e for e in inbox.events() if e["type"] == "handoff.prioritized"]
    assert told == {
        "type": "handoff.prioritized",
        "handoffId": second.pk,
        "conversationId": str(second.conversation_id),
        "priority": 40,
        "band": "urgent",
        "by": "Ada",
    }


def test_the_same_band_again_changes_nothing(key_client, team, online, ada):
    handoff = handed_over(key_client)
    notes = Message.objects.filter(conversation_id=handoff.conversation_id, role="note")

    page_post(ada, handoff.pk, {"priority": "high"})
    page_post(ada, handoff.pk, {"priority": "high"})

    assert notes.count() == 1
    assert Handoff.objects.get(pk=handoff.pk).priority == 20


@pytest.mark.parametrize("band", ["asap", "", None, 40, ["urgent"], "URGENT"])
def test_a_bad_band_is_refused_naming_it(key_client, team, online, ada, band):
    handoff = handed_over(key_client)
    before = Handoff.objects.get(pk=handoff.pk).priority

    by_page = page_post(ada, handoff.pk, {"priority": band})
    by_api = key_client.post(
        f"/api/v1/handoffs/{handoff.pk}/priority", {"priority": band}, format="json"
    )

    for refused in (by_page, by_api):
        assert refused.status_code == 400, refused.content
        assert "priority" in refused.json()["error"]["fields"]
    assert Handoff.objects.get(pk=handoff.pk).priority == before


def test_a_closed_handoff_takes_no_priority(key_client, team, online, ada):
    handoff = handed_over(key_client)
    handoff_claim(handoff=handoff, user=ada)
    conversation_resolve(conversation=handoff.conversation, user=ada)

    refused = page_post(ada, handoff.pk, {"priority": "urgent"})

    assert refused.status_code == 409
    assert "closed" in refused.json()["error"]["message"]


def test_an_integration_sets_it_and_is_named(key_client, team, tenant):
    handoff = handed_over(key_client)

    answered = key_client.post(
        f"/api/v1/handoffs/{handoff.pk}/priority", {"priority": "low"}, format="json"
    )

    assert answered.status_code == 200, answered.content
    assert (answered.json()["priority"], answered.json()["priorityBand"]) == (0, "low")
    note = Message.objects.filter(conversation_id=handoff.conversation_id).last()
    assert note.text == "The integration “integration” set the priority to low (it was medium)."


def test_the_doors_check_who_is_there(key_client, team, tenant, other_tenant, online, ada):
    handoff = handed_over(key_client)
    approver = make_person(tenant=tenant, roles=["approver"], username="priya2")
    stranger = make_person(tenant=other_tenant, roles=["agent", "manager"], username="eve")
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")
    url = f"/api/v1/handoffs/{handoff.pk}/priority"

    assert page_post(approver, handoff.pk, {"priority": "urgent"}).status_code == 403
    assert page_post(stranger, handoff.pk, {"priority": "urgent"}).status_code == 404
    assert as_person(approver).post(url, {"priority": "urgent"}, format="json").status_code == 403
    assert theirs.post(url, {"priority": "urgent"}, format="json").status_code == 404
    assert Handoff.objects.get(pk=handoff.pk).priority == handoff.priority

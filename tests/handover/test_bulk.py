"""Many conversations at once from the history (handover/bulk.py): a manager resolves, tags,
untags or gives to a person the conversations they tick; each one is done on its own, one that
cannot be (resolved already, another team's, a tag too many, not tagged so, held by someone, a
person at their limit) is left alone with why; bad input is a 400 naming
the field with nothing done; a human agent may not; another tenant's conversations are never
touched."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from conversations.models import Conversation, ConversationTag, DecisionEvent, State
from handover.models import Handoff, Status
from handover.services import handoff_claim
from tests.factories import make_person
from tests.handover.test_agent_tools import as_person, handed_over
from tests.handover.test_customer_details import start, start_other

pytestmark = pytest.mark.django_db

URL = "/inbox/history/bulk"


def post(client, body):
    return client.post(URL, json.dumps(body), content_type="application/json")


def test_a_manager_resolves_many_and_each_is_told_apart(
    key_client, team, tenant, other_tenant, manager_client, ada, django_capture_on_commit_callbacks
):
    held = handed_over(key_client, "c-held")
    handoff_claim(handoff=held, user=ada)
    queued = handed_over(key_client, "c-queued")
    with_ai = start(tenant, "c-ai")
    done_before = start(tenant, "c-done")
    post_one = post(manager_client, {"ids": [str(done_before.pk)], "action": "resolve"})
    assert post_one.json() == {"done": [str(done_before.pk)], "left": {}}
    theirs = start_other(other_tenant)
    ids = [str(c) for c in (held.conversation_id, queued.conversation_id, with_ai.pk)]

    with django_capture_on_commit_callbacks(execute=True):
        answer = post(
            manager_client,
            {"ids": [*ids, str(done_before.pk), str(theirs.pk)], "action": "resolve"},
        )

    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "done": ids,
        "left": {str(done_before.pk): "resolved already", str(theirs.pk): "not found"},
    }
    states = dict(Conversation.objects.values_list("pk", "state"))
    assert all(
        states[c] == State.RESOLVED
        for c in (held.conversation_id, queued.conversation_id, with_ai.pk)
    )
    assert states[theirs.pk] != State.RESOLVED  # another tenant's: never touched
    # the handoffs closed with them
    closed = dict(Handoff.objects.filter(pk__in=[held.pk, queued.pk]).values_list("pk", "status"))
    assert closed == {held.pk: Status.RESOLVED, queued.pk: Status.EXPIRED}  # nobody had that one
    reasons = DecisionEvent.objects.filter(conversation_id=with_ai.pk, type="state.changed")
    said = "resolved by acme-manager from the history (4 at once)"  # the 4 found
    assert any(said in json.dumps(e.detail) for e in reasons)


def test_a_manager_tags_many_and_a_full_one_is_left_alone(team, tenant, manager_client):
    one, two, full = (start(tenant, f"c-{n}") for n in range(3))
    for n in range(20):
        ConversationTag.objects.create(tenant=tenant, conversation=full, name=f"t{n}")

    answer = post(
        manager_client,
        {"ids": [str(one.pk), str(two.pk), str(full.pk)], "action": "tag", "tag": "Carrier late"},
    )

    assert answer.status_code == 200
    assert answer.json()["done"] == [str(one.pk), str(two.pk)]
    assert answer.json()["left"] == {str(full.pk): "a conversation holds at most 20 tags"}
    assert set(
        ConversationTag.objects.filter(name="carrier-late").values_list("conversation", flat=True)
    ) == {one.pk, two.pk}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": [], "action": "resolve"}, "ids"),
        ({"ids": "all", "action": "resolve"}, "ids"),
        ({"ids": ["not-a-uuid"], "action": "resolve"}, "ids"),
        ({"ids": [7], "action": "resolve"}, "ids"),
        ({"ids": ["THE"] * 101, "action": "resolve"}, "ids"),
        ({"ids": ["THE"], "action": "delete"}, "action"),
        ({"ids": ["THE"], "action": ["tag"]}, "action"),
        ({"ids": ["THE"], "action": "tag"}, "tag"),
        ({"ids": ["THE"], "action": "untag", "tag": ""}, "tag"),
        ({"ids": ["THE"], "action": "tag", "tag": "x\x00"}, "tag"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_done(
    team, tenant, manager_client, body, field
):
    conversation = start(tenant, "c-1")
    if isinstance(body["ids"], list):  # "THE": this conversation's id
        body = {**body, "ids": [str(conversation.pk) if i == "THE" else i for i in body["ids"]]}

    refused = post(manager_client, body)

    assert refused.status_code == 400, refused.content
    assert list(refused.json()["error"]["fields"]) == [field]
    assert Conversation.objects.get(pk=conversation.pk).state != State.RESOLVED
    assert not ConversationTag.objects.exists()


def test_a_human_agent_may_not_and_the_history_shows_the_boxes_to_managers_only(
    team, tenant, manager_client, ada
):
    conversation = start(tenant, "c-1")

    refused = post(as_person(ada), {"ids": [str(conversation.pk)], "action": "resolve"})

    assert refused.status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).state != State.RESOLVED
    page = manager_client.get(reverse("inbox-history")).content.decode()
    assert 'id="bulk"' in page and f'class="pick" value="{conversation.pk}"' in page
    assert 'id="bulk"' not in as_person(ada).get(reverse("inbox-history")).content.decode()
    approver = make_person(tenant=tenant, roles=["approver"], username="appr")
    assert (
        post(as_person(approver), {"ids": [str(conversation.pk)], "action": "resolve"}).status_code
        == 403
    )


def test_the_api_does_it_for_a_manager_or_an_integration_within_the_tenant(
    key_client, team, tenant, other_tenant, manager, ada
):
    from rest_framework.test import APIClient

    from tests.factories import make_api_key

    one, two = start(tenant, "c-1"), start(tenant, "c-2")
    theirs = start_other(other_tenant)
    url = "/api/v1/conversations/bulk"

    tagged = key_client.post(
        url, {"ids": [str(one.pk), str(theirs.pk)], "action": "tag", "tag": "spam"}, format="json"
    )
    resolved = as_person(manager).post(
        url, {"ids": [str(one.pk), str(two.pk)], "action": "resolve"}, format="json"
    )

    assert tagged.status_code == 200, tagged.content
    assert tagged.json() == {"done": [str(one.pk)], "left": {str(theirs.pk): "not found"}}
    assert resolved.json() == {"done": [str(one.pk), str(two.pk)], "left": {}}
    events = DecisionEvent.objects.filter(conversation_id=one.pk, type="state.changed")
    assert any("resolved by acme-manager (2 at once)" in json.dumps(e.detail) for e in events)
    refused = key_client.post(url, {"ids": [str(two.pk)], "action": "archive"}, format="json")
    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == ["action"]
    agent_tries = as_person(ada).post(url, {"ids": [], "action": "resolve"}, format="json")
    assert agent_tries.status_code == 403
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")
    crossing = other.post(url, {"ids": [str(one.pk)], "action": "tag", "tag": "x"}, format="json")
    assert crossing.json() == {"done": [], "left": {str(one.pk): "not found"}}
    assert Conversation.objects.get(pk=theirs.pk).state != State.RESOLVED


def test_a_manager_takes_a_tag_off_many_and_one_without_it_is_told_apart(
    team, tenant, manager_client
):
    one, two, bare = (start(tenant, f"c-{n}") for n in range(3))
    for conversation in (one, two):
        ConversationTag.objects.create(tenant=tenant, conversation=conversation, name="spam")
    ConversationTag.objects.create(tenant=tenant, conversation=one, name="vip")

    answer = post(
        manager_client,
        {"ids": [str(one.pk), str(two.pk), str(bare.pk)], "action": "untag", "tag": "Spam"},
    )

    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "done": [str(one.pk), str(two.pk)],
        "left": {str(bare.pk): "not tagged so"},
    }
    assert list(ConversationTag.objects.values_list("conversation_id", "name")) == [(one.pk, "vip")]


def test_a_manager_gives_the_waiting_ones_to_a_person_within_their_limit(
    key_client, team, tenant, manager_client, ada, bob, django_capture_on_commit_callbacks
):
    from core.events import person_group
    from handover.models import AgentSetting
    from tests.handover.test_agent_tools import Listener

    waiting = [handed_over(key_client, f"c-wait-{n}") for n in range(3)]
    held = handed_over(key_client, "c-held")
    handoff_claim(handoff=held, user=ada)
    with_ai = start(tenant, "c-ai")
    AgentSetting.objects.create(tenant=tenant, user=bob, max_conversations=2)
    ids = [str(h.conversation_id) for h in (*waiting, held)] + [str(with_ai.pk)]
    bobs = Listener(person_group(bob.pk))

    with django_capture_on_commit_callbacks(execute=True):
        answer = post(manager_client, {"ids": ids, "action": "assign", "to": "bob"})

    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "done": ids[:2],
        "left": {
            ids[2]: "at their limit",
            ids[3]: "someone holds it",
            ids[4]: "not waiting for a person",
        },
    }
    statuses = dict(Handoff.objects.values_list("conversation_id", "status"))
    assert [statuses[h.conversation_id] for h in waiting] == [
        Status.CLAIMED,
        Status.CLAIMED,
        waiting[2].status,  # the claim refused by the limit rolled back: still waiting
    ]
    assert set(Conversation.objects.filter(assignee=bob).values_list("pk", flat=True)) == {
        h.conversation_id for h in waiting[:2]
    }
    note = waiting[0].conversation.messages.filter(role="note").last()
    assert note.text == "acme-manager gave the conversation to bob."
    assert [e["type"] for e in bobs.events()].count("handoff.assigned") == 2

    again = post(manager_client, {"ids": ids[:1], "action": "assign", "to": "bob"})
    assert again.json() == {"done": [], "left": {ids[0]: "theirs already"}}


@pytest.mark.parametrize("to", ["nobody", "", None, ["bob"], "acme-manager"])
def test_giving_to_no_human_agent_is_a_400_naming_to(key_client, team, tenant, manager_client, to):
    waiting = handed_over(key_client, "c-wait")

    refused = post(
        manager_client, {"ids": [str(waiting.conversation_id)], "action": "assign", "to": to}
    )

    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["fields"] == {
        "to": ["no human agent of this team has that username"]
    }
    assert Handoff.objects.get(pk=waiting.pk).status == waiting.status


def test_an_integration_gives_the_queue_out_over_the_api(key_client, team, tenant, bob, globex):
    waiting = handed_over(key_client, "c-wait")
    url = "/api/v1/conversations/bulk"

    given = key_client.post(
        url, {"ids": [str(waiting.conversation_id)], "action": "assign", "to": "bob"}, format="json"
    )

    assert given.status_code == 200, given.content
    assert given.json() == {"done": [str(waiting.conversation_id)], "left": {}}
    assert Conversation.objects.get(pk=waiting.conversation_id).assignee == bob
    note = waiting.conversation.messages.filter(role="note").last()
    assert note.text.endswith("gave the conversation to bob.") and "integration" in note.text


def test_another_tenants_person_gets_nothing(
    key_client, team, tenant, other_tenant, manager_client
):
    outsider = make_person(tenant=other_tenant, roles=["agent"], username="zoe")
    waiting = handed_over(key_client, "c-wait")

    refused = post(
        manager_client,
        {"ids": [str(waiting.conversation_id)], "action": "assign", "to": outsider.username},
    )

    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == ["to"]
    assert Conversation.objects.get(pk=waiting.conversation_id).assignee is None

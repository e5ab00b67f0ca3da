"""Merging a conversation into another of the same customer (handover/merge.py): the one merged
into gets a note of what was said and its tags; the merged one's customer is told, it is
resolved (the holder's seat frees) and points there; the inboxes and webhooks hear it; a mail
answering its thread goes on there. Refused in words: itself, another customer's or tenant's,
one beyond the person's reach, a resolved one, hostile input; two merges at once cannot both
pass."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from conversations.models import Conversation, Message
from conversations.tags import conversation_tag
from core.events import tenant_inbox_group
from core.models import WebhookDelivery
from handover.merge import MERGED_TEXT
from handover.models import Handoff
from handover.services import conversation_resolve, handoff_claim
from orchestration.webhooks import endpoint_create
from tests.handover.test_agent_tools import Listener, as_person, handed_over

pytestmark = pytest.mark.django_db


def merge(client, source, into):
    return client.post(
        reverse("inbox-merge", args=[source.pk if hasattr(source, "pk") else source]),
        json.dumps({"into": into if isinstance(into, str) or into is None else str(into.pk)})
        if not isinstance(into, dict)
        else json.dumps(into),
        content_type="application/json",
    )


def test_a_person_merges_the_customers_second_chat_into_the_one_they_hold(
    key_client, team, tenant, online, ada, bob, django_capture_on_commit_callbacks
):
    endpoint, _ = endpoint_create(
        tenant_id=tenant.pk, url="https://crm.example.com/h", events=["conversation.merged"]
    )
    kept = handed_over(key_client, customer="c-kim")
    second = handed_over(key_client, customer="c-kim")
    handoff_claim(handoff=kept, user=ada)
    handoff_claim(handoff=second, user=bob)
    source = Conversation.objects.get(pk=second.conversation_id)
    target = Conversation.objects.get(pk=kept.conversation_id)
    key_client.post(
        f"/api/v1/conversations/{source.pk}/messages",
        {"text": "It is about parcel P-778, it came damaged."},
        format="json",
    )
    conversation_tag(conversation=source, name="damaged")
    conversation_tag(conversation=target, name="vip")
    inbox = Listener(tenant_inbox_group(tenant.pk))

    with django_capture_on_commit_callbacks(execute=True):
        done = merge(as_person(ada), source, target)

    assert done.status_code == 200, done.content
    assert done.json() == {"into": str(target.pk), "state": "resolved"}
    source.refresh_from_db()
    assert (source.state, source.merged_into_id) == ("resolved", target.pk)
    told = Message.objects.filter(conversation=source, role="system").last()
    assert told.text == MERGED_TEXT  # the customer of the merged one, told
    assert "Ada merged this conversation into the one of" in (
        Message.objects.filter(conversation=source, role="note").last().text
    )
    record = Message.objects.filter(conversation=target, role="note").last()
    assert record.text.startswith("Ada merged the conversation of")
    assert "c-kim: It is about parcel P-778, it came damaged." in record.text
    assert reverse("inbox-conversation-page", args=[source.pk]) in record.text
    assert sorted(target.tags.values_list("name", flat=True)) == ["damaged", "vip"]
    # the merged one's handoff closed with it: bob's seat frees, ada keeps hers
    assert Handoff.objects.get(pk=second.pk).status == "resolved"
    assert Handoff.objects.get(pk=kept.pk).status == "claimed"
    target.refresh_from_db()
    assert target.state == "with_human" and target.assignee == ada
    heard = [e for e in inbox.events() if e["type"] == "conversation.merged"]
    assert heard == [
        {"type": "conversation.merged", "conversationId": str(source.pk), "into": str(target.pk)}
    ]
    (hook,) = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert hook.payload["data"]["conversation"]["mergedInto"] == str(target.pk)
    assert hook.payload["data"]["into"]["id"] == str(target.pk)
    shown = key_client.get(f"/api/v1/conversations/{source.pk}").json()
    assert shown["mergedInto"] == str(target.pk) and shown["state"] == "resolved"
    assert key_client.get(f"/api/v1/conversations/{target.pk}").json()["mergedInto"] is None
    page = as_person(ada).get(reverse("inbox-conversation-page", args=[source.pk]))
    assert "Merged into" in page.content.decode()


def test_the_merges_that_cannot_be_are_refused_in_words_and_change_nothing(
    key_client, team, tenant, globex, online, ada
):
    from tests.factories import make_api_key

    kim = handed_over(key_client, customer="c-kim")
    kims_second = handed_over(key_client, customer="c-kim")
    lee = handed_over(key_client, customer="c-lee")
    made = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "c-kim"}},
        format="json",
    ).json()  # Kim's, never handed to people: beyond a human agent's reach
    other_key = make_api_key(tenant=globex)[1]
    from rest_framework.test import APIClient

    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    elsewhere = theirs.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "c-kim"}},
        format="json",
    ).json()["id"]
    person = as_person(ada)
    source = str(kims_second.conversation_id)

    for into, words in (
        (source, "must be another conversation than the one merged"),
        (str(lee.conversation_id), "must be a conversation of the same customer"),
        (made["id"], "must be the id of a conversation of this team"),
        (elsewhere, "must be the id of a conversation of this team"),
        ("not-a-uuid", "must be the id of a conversation of this team"),
        ("\ud800", "lone surrogate"),  # the body's one door says so
        ("a\x00b", "NUL character"),
        ("x" * 300, "must be the id of a conversation of this team"),
        (None, "must be the id of a conversation of this team"),
    ):
        refused = merge(person, source, into)
        assert refused.status_code == 400, (into[:20] if into else into, refused.content)
        assert words in refused.json()["error"]["fields"]["into"][0], into
    for body in ({"into": ["a"]}, {"into": {"id": 1}}):
        assert merge(person, source, body).status_code == 400
    for garbage in ("[" * 100_000 + "]" * 100_000, json.dumps({"into": "x" * 100_000}), "{"):
        answer = person.post(
            reverse("inbox-merge", args=[source]), garbage, content_type="application/json"
        )
        assert answer.status_code in (400, 413), answer.content  # a 4xx, never a 500
    # over the API: the same words
    api = key_client.post(f"/api/v1/conversations/{source}/merge", {"into": source}, format="json")
    assert api.status_code == 400 and "into" in api.json()["error"]["fields"]
    assert (
        key_client.post(
            f"/api/v1/conversations/{source}/merge", {"into": elsewhere}, format="json"
        ).status_code
        == 400
    )
    assert (
        theirs.post(
            f"/api/v1/conversations/{source}/merge", {"into": elsewhere}, format="json"
        ).status_code
        == 404
    )

    # resolved, either way round: 409
    handoff_claim(handoff=kim, user=ada)
    conversation_resolve(conversation=Conversation.objects.get(pk=kim.conversation_id), user=ada)
    into_resolved = merge(person, source, str(kim.conversation_id))
    assert into_resolved.status_code == 409
    assert into_resolved.json()["error"]["code"] == "merge_refused"
    assert merge(person, str(kim.conversation_id), source).status_code == 409
    assert not Conversation.objects.filter(merged_into__isnull=False).exists()
    assert Conversation.objects.get(pk=source).state == "handing_off"


def test_an_approver_may_not_merge_and_an_integration_may(key_client, team, tenant, online):
    from tests.factories import make_person

    one = handed_over(key_client, customer="c-kim")
    two = handed_over(key_client, customer="c-kim")
    approver = as_person(make_person(tenant=tenant, roles=["approver"], username="pat"))
    url = f"/api/v1/conversations/{two.conversation_id}/merge"
    body = {"into": str(one.conversation_id)}

    assert approver.post(url, body, format="json").status_code in (403, 404)
    assert merge(approver, two.conversation_id, str(one.conversation_id)).status_code == 403

    done = key_client.post(url, body, format="json")

    assert done.status_code == 200, done.json()
    assert done.json()["id"] == str(one.conversation_id)
    note = Message.objects.filter(conversation_id=one.conversation_id, role="note").last()
    assert note.text.startswith("The integration “integration” merged the conversation of")


def test_the_same_address_is_the_same_customer_and_a_reply_to_the_merged_thread_goes_on_there(
    tenant, team, key_client, django_capture_on_commit_callbacks, eager_tasks
):
    """Kim wrote by e-mail, and left that address in the chat: the mail is merged into the
    chat (its replies go by e-mail too); her answer to the mail's thread lands in the chat."""
    from django.core import mail

    from conversations.email import email_channel_setup
    from tests.handover.test_email_channel import form, post

    channel = email_channel_setup(
        tenant=tenant, from_address="help@acme.example", from_name="Acme support"
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = post(channel, form())
    by_mail = Conversation.objects.get(pk=first.json()["conversationId"])
    chat = key_client.post(
        "/api/v1/conversations",
        {
            "agentId": "agent-sup",
            "channel": "web",
            "customer": {"id": "web-kim", "email": "Kim@Example.com"},
        },
        format="json",
    ).json()
    Conversation.objects.filter(pk=chat["id"]).update(email_follow_up=True)
    ai_mail = [m for m in mail.outbox if m.to == ["kim@example.com"]][-1]

    with django_capture_on_commit_callbacks(execute=True):
        done = key_client.post(
            f"/api/v1/conversations/{by_mail.pk}/merge", {"into": chat["id"]}, format="json"
        )
    assert done.status_code == 200, done.json()
    told = [m for m in mail.outbox if m.to == ["kim@example.com"]][-1]
    assert "we'll go on there" in told.body  # the e-mail customer is told by e-mail

    with django_capture_on_commit_callbacks(execute=True):
        answer = post(
            channel,
            form(
                "Any news?",
                subject="Re: Invoice question",
                mail_id="<c9@mail.example.com>",
                in_reply_to=ai_mail.extra_headers["Message-ID"],
            ),
        )

    assert answer.json()["conversationId"] == chat["id"]
    assert answer.json()["matchedBy"] == "thread (merged)"
    assert Message.objects.filter(conversation_id=chat["id"], text="Any news?").exists()


@pytest.mark.django_db(transaction=True)
def test_two_merges_at_once_each_way_round_cannot_both_pass(key_client, team, online, ada):
    from django.db import connection

    from core.errors import DomainError
    from handover.merge import conversation_merge
    from tests.concurrency import race

    if connection.vendor != "postgresql":
        pytest.skip("two writers at once: PostgreSQL (SQLite takes one writer at a time)")
    one = Conversation.objects.get(pk=handed_over(key_client, customer="c-kim").conversation_id)
    two = Conversation.objects.get(pk=handed_over(key_client, customer="c-kim").conversation_id)
    pairs = [(one, two), (two, one)]

    results = race(2, lambda i: conversation_merge(source=pairs[i][0], into=pairs[i][1], by="x"))

    passed = [r for r in results if isinstance(r, Conversation)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert (len(passed), len(refused)) == (1, 1), results
    assert refused[0].code == "merge_refused"
    merged = Conversation.objects.filter(merged_into__isnull=False)
    assert merged.count() == 1
    assert Conversation.objects.get(pk=merged.get().merged_into_id).state != "resolved"


def test_the_customer_panel_lists_her_conversations_by_the_same_address_to_merge_them(
    key_client, team, tenant, online, ada
):
    def hand_over(customer: dict) -> Handoff:
        made = key_client.post(
            "/api/v1/conversations",
            {"agentId": "agent-sup", "channel": "web", "customer": customer},
            format="json",
        ).json()
        said = key_client.post(
            f"/api/v1/conversations/{made['id']}/messages",
            {"text": "I want to talk to a human please"},
            format="json",
        )
        assert said.json()["state"] == "handing_off"
        return Handoff.objects.get(conversation_id=made["id"])

    chat = hand_over({"id": "web-kim", "name": "Kim", "email": "Kim@Example.com"})
    by_mail = hand_over({"id": "crm-881", "name": "Kim", "email": "kim@example.com"})
    stranger = hand_over({"id": "web-lee", "name": "Lee"})
    handoff_claim(handoff=chat, user=ada)

    panel = as_person(ada).get(reverse("inbox-conversation", args=[chat.conversation_id]))

    listed = [c["id"] for c in panel.json()["customerHistory"]]
    assert listed == [str(by_mail.conversation_id)]
    assert str(stranger.conversation_id) not in listed
    done = merge(as_person(ada), by_mail.conversation_id, str(chat.conversation_id))
    assert done.status_code == 200, done.content

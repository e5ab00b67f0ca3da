"""A signed-in visitor's conversations in the web chat (handover/chat_history.py): "Your
conversations" lists those the chat started for them (open and resolved, the latest first, the
last message they were shown and whether a reply came after they last looked), and opens any of
them on this device. Nobody else's: not another visitor's, not an anonymous one's, not an
integration's with the same customer id, not another tenant's."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.messages import message_post
from conversations.models import Conversation, MessageRole
from conversations.selectors import conversation_locked
from conversations.services import customer_saw, customer_token_matches
from core.chat_identity import identity_secret_new
from handover.services import conversation_close, note_post
from tests.handover.test_blocking import OURS
from tests.handover.test_chat_identity import signed, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret(tenant):
    return identity_secret_new(tenant)


def listed(token, slug="acme", address="203.0.113.9"):
    return Client(REMOTE_ADDR=address).post(
        f"/chat/{slug}/conversations",
        {"identity": token},
        content_type="application/json",
        headers=OURS,
    )


def opened(token, conversation_id, slug="acme"):
    return Client(REMOTE_ADDR="203.0.113.9").post(
        f"/chat/{slug}/resume",
        {"identity": token, "conversationId": conversation_id},
        content_type="application/json",
        headers=OURS,
    )


def resolve(pk) -> None:
    with transaction.atomic():
        conversation_close(conversation_locked(pk), reason="resolved by a test")


def active_at(pk, minutes_ago: int) -> None:
    Conversation.objects.filter(pk=pk).update(
        last_activity_at=timezone.now() - dt.timedelta(minutes=minutes_ago)
    )


def test_a_signed_in_visitor_lists_their_conversations_and_nobody_elses(
    team, tenant, secret, key_client, ada
):
    lee = signed(secret, sub="user-42", name="Lee")
    older = start(identity=lee, text="My boots came broken").json()["conversationId"]
    newer = start(identity=lee, text="Where is my order?").json()["conversationId"]
    start(identity=signed(secret, sub="user-7", name="Kim"))  # another visitor
    start(name="Lee")  # an anonymous visitor, whatever name they type
    key_client.post(  # an integration's conversation with the same customer id
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "user-42"}},
        format="json",
    )
    # the older one: the customer saw everything, then a person answered while they were
    # away and resolved it; a note to colleagues came last
    conversation = Conversation.objects.get(pk=older)
    last_seen = conversation.messages.order_by("-id").first()
    customer_saw(conversation_id=older, tenant_id=tenant.pk, message_id=last_seen.pk)
    message_post(
        conversation=conversation,
        role=MessageRole.HUMAN,
        text="Ada here:  a new pair\nis on its way.",
        author="Ada",
    )
    resolve(older)
    note_post(conversation=Conversation.objects.get(pk=older), user=ada, text="Sent by courier")
    # the newer one: the customer had the assistant's answer on screen
    conversation = Conversation.objects.get(pk=newer)
    reply = conversation.messages.exclude(role=MessageRole.CUSTOMER).order_by("-id").first()
    customer_saw(conversation_id=newer, tenant_id=tenant.pk, message_id=reply.pk)
    active_at(older, 60)
    active_at(newer, 5)

    answer = listed(signed(secret, sub="user-42"))

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["who"] == "user-42"
    assert [c["conversationId"] for c in body["conversations"]] == [newer, older]
    first, second = body["conversations"]
    assert (first["open"], first["unread"]) == (True, False)
    assert first["last"]["from"] == "assistant" and first["last"]["text"] == reply.text
    assert first["last"]["author"] == ""  # the AI is the tenant's one assistant
    # the person's reply after the last message the customer saw; the resolving notice and the
    # private note are no reply, and the note is never shown
    assert (second["open"], second["unread"]) == (False, True)
    assert second["last"]["from"] in ("team", "notice")
    assert "courier" not in str(body)
    assert listed(signed(secret, sub="user-8")).json() == {"who": "user-8", "conversations": []}


def test_the_last_message_is_a_short_line_and_a_file_says_its_name(team, tenant, secret):
    lee = signed(secret, sub="user-42")
    pk = start(identity=lee, text="Hello").json()["conversationId"]
    conversation = Conversation.objects.get(pk=pk)
    message_post(
        conversation=conversation, role=MessageRole.HUMAN, text="word " * 100, author="Ada"
    )

    last = listed(lee).json()["conversations"][0]["last"]

    assert (last["from"], last["author"]) == ("team", "Ada")
    assert len(last["text"]) == 140 and last["text"].endswith("…")
    assert "  " not in last["text"]


def test_listing_takes_the_same_queries_for_two_conversations_or_twelve(
    team, tenant, secret, settings
):
    settings.CHAT_START_RATE_LIMIT = "off"
    lee = signed(secret, sub="user-42")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert listed(lee).status_code == 200
        return len(captured.captured_queries)

    for _ in range(2):
        start(identity=lee)
    few = queries()
    for _ in range(10):
        start(identity=lee, text="Another question")
    many = queries()

    assert len(listed(lee).json()["conversations"]) == 12
    assert few == many


def test_the_list_ends_at_twenty_the_latest_first(team, tenant, secret, settings):
    settings.CHAT_START_RATE_LIMIT = "off"
    lee = signed(secret, sub="user-42")
    started = [start(identity=lee).json()["conversationId"] for _ in range(22)]
    for minutes, pk in enumerate(reversed(started)):
        active_at(pk, minutes)

    shown = [c["conversationId"] for c in listed(lee).json()["conversations"]]

    assert shown == list(reversed(started))[:20]


def test_a_signed_in_visitor_opens_any_of_theirs_and_sees_their_rating(team, tenant, secret):
    lee = signed(secret, sub="user-42", name="Lee")
    pk = start(identity=lee).json()["conversationId"]
    resolve(pk)

    first = opened(lee, pk)

    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["conversationId"], body["who"], body["rating"]) == (pk, "user-42", None)
    assert customer_token_matches(Conversation.objects.get(pk=pk), body["token"])
    rated = Client().post(
        "/chat/acme/rate",
        {"conversationId": pk, "token": body["token"], "score": 4},
        content_type="application/json",
        headers=OURS,
    )
    assert rated.status_code == 201
    # on their phone: the chat knows it is rated, and offers no second rating
    assert opened(lee, pk).json()["rating"] == {"score": 4, "commented": False}


def test_nobody_opens_a_conversation_that_is_not_theirs(team, tenant, secret, key_client, globex):
    lee = signed(secret, sub="user-42")
    kims = start(identity=signed(secret, sub="user-7")).json()["conversationId"]
    anonymous = start(name="Lee").json()["conversationId"]
    integration = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "user-42"}},
        format="json",
    ).json()["id"]
    lees = start(identity=lee).json()["conversationId"]
    globex_lee = signed(identity_secret_new(globex), sub="user-42")

    for pk in (kims, anonymous, integration, "7d8e0f1a-3b2c-4d5e-8f6a-9b0c1d2e3f4a"):
        refused = opened(lee, pk)
        assert refused.status_code == 404, pk
        assert refused.json()["error"]["code"] == "not_found"
    for bad in ("nope", 42, ["x"], {"id": lees}, "", "\x00"):
        refused = opened(lee, bad)
        assert refused.status_code == 400, bad
        assert list(refused.json()["error"]["fields"]) == ["conversationId"]
    assert opened(lee, "nope").json()["error"]["fields"] == {
        "conversationId": ["must be a conversation's id"]
    }
    # another tenant's signature for the same customer id: not this chat's visitor
    assert opened(globex_lee, lees).status_code == 400
    assert listed(globex_lee).status_code == 400
    # and on that tenant's chat, Lee of acme is nobody
    assert opened(globex_lee, lees, slug="globex").status_code == 404
    assert listed(globex_lee, slug="globex").json()["conversations"] == []


def test_a_token_that_does_not_check_out_lists_nothing(team, tenant, secret):
    forged = listed(signed("not-" + secret, sub="user-42"))
    missing = listed(None)

    assert forged.status_code == 400
    assert forged.json()["error"]["fields"] == {
        "identity": ["is not signed with this chat's identity secret"]
    }
    assert missing.json()["error"]["fields"] == {
        "identity": ["must be the identity token your website signed, as text"]
    }
    assert listed(signed(secret, sub="user-42"), slug="nowhere").status_code == 404


def test_identity_checks_are_limited_per_address(team, tenant, secret, settings):
    settings.CHAT_IDENTITY_RATE_LIMIT = "3/min"
    lee = signed(secret, sub="user-42")
    pk = start(identity=lee).json()["conversationId"]

    answers = [listed(lee).status_code, opened(lee, pk).status_code, listed(lee).status_code]
    refused = listed(lee)

    assert answers == [200, 200, 200]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert listed(lee, address="198.51.100.99").status_code == 200  # another address
    # a signed-in visitor's page views do not use up the starts' allowance
    assert start(identity=lee).status_code == 201


def test_what_a_later_page_says_of_the_visitor_reaches_their_open_conversation(
    team, tenant, secret
):
    first = signed(
        secret, sub="user-42", name="Lee", email="lee@example.com", attributes={"plan": "free"}
    )
    pk = start(identity=first).json()["conversationId"]
    Conversation.objects.filter(pk=pk).update(
        customer_attributes={"plan": "free", "orders": 3}  # and what the team added
    )
    later = signed(
        secret,
        sub="user-42",
        name="Lee Marvin",
        email="lee@example.com",
        attributes={"plan": "pro"},
    )

    answer = opened(later, pk)

    assert answer.status_code == 200, answer.content
    assert answer.json()["name"] == "Lee Marvin"
    conversation = Conversation.objects.get(pk=pk)
    assert conversation.customer_name == "Lee Marvin"
    assert conversation.customer_attributes == {"plan": "pro", "orders": 3}  # none taken off
    notes = list(conversation.messages.filter(role=MessageRole.NOTE).values_list("text", flat=True))
    assert notes == [
        "Your website changed the customer's name from “Lee” to “Lee Marvin” and plan from "
        "“free” to “pro”."
    ]
    # the next page says the same: nothing written
    assert opened(later, pk).status_code == 200
    assert conversation.messages.filter(role=MessageRole.NOTE).count() == 1
    # a resolved conversation keeps what it was
    resolve(pk)
    opened(signed(secret, sub="user-42", name="Someone Else"), pk)
    assert Conversation.objects.get(pk=pk).customer_name == "Lee Marvin"

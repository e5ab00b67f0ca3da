"""Canned replies that act, as Zendesk's and Intercom's macros (handover/canned.py): sent as a
reply on the inbox's socket with ``cannedReplyId``, one also tags the conversation and then
resolves it, snoozes it until the customer writes or hands it back, all or nothing; another
team's reply, or a bad id, is refused in words and nothing is sent. Managers and keys set the
actions in the admin and the API, checked as tags are."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from conversations.models import Conversation, Message
from handover.models import CannedReply, Handoff
from handover.services import handoff_claim
from tests.handover.test_agent_tools import handed_over
from tests.handover.test_consumers import inbox, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


def _claimed(key_client, ada, customer="c-kim") -> Conversation:
    handoff = handed_over(key_client, customer=customer)
    handoff_claim(handoff=handoff, user=ada)
    return Conversation.objects.get(pk=handoff.conversation_id)


def _reply(tenant, **fields) -> CannedReply:
    return CannedReply.objects.create(
        tenant=tenant, shortcut=fields.pop("shortcut", "done"), text="All sorted!", **fields
    )


async def _send(user, conversation, **extra) -> dict:
    socket, _, _ = await inbox(user)
    await socket.send_json_to(
        {"type": "message.send", "conversationId": str(conversation.pk), "text": "x", **extra}
    )
    result = await receive_until(socket, "message.send.result", limit=40)
    await socket.disconnect()
    return result


@pytest.mark.asyncio
async def test_a_canned_reply_sent_tags_the_conversation_and_resolves_it(
    key_client, team, tenant, online, ada
):
    conversation = await sync_to_async(_claimed)(key_client, ada)
    reply = await sync_to_async(_reply)(tenant, tags=["Solved fast", "vip"], then="resolve")

    result = await _send(ada, conversation, text="All sorted, Kim!", cannedReplyId=reply.pk)

    assert result["ok"] is True and result["then"] == "resolve", result

    def check():
        done = Conversation.objects.get(pk=conversation.pk)
        assert done.state == "resolved"
        assert sorted(done.tags.values_list("name", flat=True)) == ["solved-fast", "vip"]
        sent = Message.objects.get(pk=result["messageId"])
        assert (sent.role, sent.text) == ("human", "All sorted, Kim!")
        assert Handoff.objects.get(conversation=done).status == "resolved"

    await sync_to_async(check)()


@pytest.mark.asyncio
async def test_snooze_and_hand_back_as_the_inbox_does_them(key_client, team, tenant, online, ada):
    waiting = await sync_to_async(_claimed)(key_client, ada, "c-kim")
    back = await sync_to_async(_claimed)(key_client, ada, "c-lee")
    snooze = await sync_to_async(_reply)(tenant, shortcut="wait", then="snooze")
    hand_back = await sync_to_async(_reply)(tenant, shortcut="ai", then="hand_back")

    snoozed = await _send(ada, waiting, cannedReplyId=snooze.pk)
    handed = await _send(ada, back, cannedReplyId=hand_back.pk)

    assert snoozed["ok"] and handed["ok"], (snoozed, handed)

    def check():
        held = Handoff.objects.get(conversation=waiting)
        assert held.status == "claimed" and held.snoozed_until is not None
        assert Conversation.objects.get(pk=back.pk).state == "active"  # the AI has it again

    await sync_to_async(check)()


@pytest.mark.asyncio
async def test_another_teams_reply_or_a_bad_id_sends_nothing(
    key_client, team, tenant, globex, online, ada, bob
):
    conversation = await sync_to_async(_claimed)(key_client, ada)
    theirs = await sync_to_async(_reply)(globex, then="resolve")
    mine = await sync_to_async(_reply)(tenant, tags=["vip"], then="resolve")
    before = await sync_to_async(Message.objects.filter(conversation=conversation).count)()

    for bad in (theirs.pk, 0, -1, "1", 1.5, True, [1], 10**30):
        refused = await _send(ada, conversation, cannedReplyId=bad)
        assert refused["ok"] is False, bad
        assert list(refused["fields"]) == ["cannedReplyId"], (bad, refused)
    not_his = await _send(bob, conversation, cannedReplyId=mine.pk)  # he does not hold it
    assert not_his["ok"] is False

    def check():
        assert Message.objects.filter(conversation=conversation).count() == before
        kept = Conversation.objects.get(pk=conversation.pk)
        assert kept.state == "with_human" and not kept.tags.exists()

    await sync_to_async(check)()


@pytest.mark.django_db
def test_the_actions_are_set_in_the_api_and_the_admin_and_checked(
    key_client, tenant, manager_client
):
    made = key_client.post(
        "/api/v1/canned-replies",
        {"shortcut": "done", "text": "Sorted!", "tags": ["Carrier late"], "then": "resolve"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert (made.json()["tags"], made.json()["then"]) == (["carrier-late"], "resolve")
    for body, field in (
        ({"tags": ["ok", "no way!"]}, "tags"),
        ({"tags": "vip"}, "tags"),
        ({"tags": [f"t{i}" for i in range(6)]}, "tags"),
        ({"then": "delete"}, "then"),
        ({"then": ["resolve"]}, "then"),
    ):
        refused = key_client.patch(
            f"/api/v1/canned-replies/{made.json()['id']}", body, format="json"
        )
        assert refused.status_code == 400, body
        assert list(refused.json()["error"]["fields"]) == [field], body

    url = reverse("admin:handover_cannedreply_add")
    bad = manager_client.post(
        url, {"shortcut": "wait", "text": "One moment", "tags": "ok, no way!", "then": ""}
    )
    assert "no way!" in bad.content.decode() and "may hold letters" in bad.content.decode()
    good = manager_client.post(
        url, {"shortcut": "wait", "text": "One moment", "tags": "Waiting, vip", "then": "snooze"}
    )
    assert good.status_code == 302, good.content.decode()[:2000]
    saved = CannedReply.objects.get(shortcut="wait")
    assert (saved.tags, saved.then) == (["waiting", "vip"], "snooze")


@pytest.mark.django_db
def test_a_persons_reply_over_the_api_does_the_canned_replys_actions_too(
    key_client, team, tenant, globex, online, ada
):
    from tests.handover.test_agent_tools import as_person

    conversation = _claimed(key_client, ada)
    handoff = Handoff.objects.get(conversation=conversation)
    mine = _reply(tenant, tags=["vip"], then="resolve")
    theirs = _reply(globex, then="resolve")
    url = f"/api/v1/handoffs/{handoff.pk}/messages"
    person = as_person(ada)

    for bad in (theirs.pk, "1", True, 0):
        refused = person.post(url, {"text": "x", "cannedReplyId": bad}, format="json")
        assert refused.status_code == 400, bad
        assert list(refused.json()["error"]["fields"]) == ["cannedReplyId"], bad
    sent = person.post(url, {"text": "Sorted!", "cannedReplyId": mine.pk}, format="json")

    assert sent.status_code == 201, sent.json()
    done = Conversation.objects.get(pk=conversation.pk)
    assert done.state == "resolved" and list(done.tags.values_list("name", flat=True)) == ["vip"]
    assert Message.objects.filter(conversation=done, role="human").count() == 1

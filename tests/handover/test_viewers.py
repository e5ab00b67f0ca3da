"""Who else has a conversation open in the inbox, and who is writing in it (handover.viewing):
the tenant's inboxes hear each conversation's viewers whenever they change (and the snapshot
carries them); a colleague's reply or private note being written reaches the inboxes that have
the conversation open, never the customer when it is a note; another tenant hears nothing; a
socket gone without a goodbye stops counting once its heartbeat is old, and the sweep tells."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from core.events import conversation_group
from handover.models import Viewing
from handover.viewing import sweep_viewers, viewers_of
from tests.handover.test_conversation_watch import _two_conversations, events_heard, watch
from tests.handover.test_socket_access import (
    _person,
    layer,  # noqa: F401 (the fixture)
    open_inbox,
    until,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def heard(socket, kind: str, seconds: float = 0.8) -> list[dict]:
    return await events_heard(socket, (kind,), seconds)


def names(event) -> tuple[str, list[str]]:
    return event["conversationId"], [p["username"] for p in event["viewers"]]


async def test_the_tenants_inboxes_hear_who_has_each_conversation_open(
    layer,  # noqa: F811
    tenant,
    other_tenant,
):
    one, two = await sync_to_async(_two_conversations)(tenant)
    ada_user = await sync_to_async(_person)(tenant, ["agent"], "ada")
    ada = await open_inbox(ada_user)
    bob = await open_inbox(await sync_to_async(_person)(tenant, ["agent"], "bob"))
    cy = await open_inbox(await sync_to_async(_person)(tenant, ["agent"], "cy"))
    theirs = await open_inbox(await sync_to_async(_person)(other_tenant, ["agent"], "dan"))

    assert (await watch(ada, one))["viewers"] == [
        {"id": ada_user.pk, "username": "ada", "name": "ada"}
    ]
    assert [names(e) for e in await heard(cy, "conversation.viewers")] == [(one, ["ada"])]
    assert await heard(theirs, "conversation.viewers") == []  # another tenant hears nothing

    answer = await watch(bob, one)
    assert [p["username"] for p in answer["viewers"]] == ["ada", "bob"]
    assert [names(e) for e in await heard(cy, "conversation.viewers")] == [(one, ["ada", "bob"])]

    await watch(ada, two)  # ada moves on: both conversations' viewers change
    assert sorted(names(e) for e in await heard(cy, "conversation.viewers")) == sorted(
        [(one, ["bob"]), (two, ["ada"])]
    )

    await bob.disconnect()  # closed: gone from the conversation it had open
    assert [names(e) for e in await heard(cy, "conversation.viewers")] == [(one, [])]

    await cy.send_json_to({"type": "resync"})  # the snapshot carries every list
    snapshot = await until(cy, "inbox.snapshot")
    assert {k: [p["username"] for p in v] for k, v in snapshot["viewers"].items()} == {two: ["ada"]}
    await theirs.send_json_to({"type": "resync"})
    assert (await until(theirs, "inbox.snapshot"))["viewers"] == {}

    await watch(ada, None)  # nothing open any more
    assert [names(e) for e in await heard(cy, "conversation.viewers")] == [(two, [])]
    assert await sync_to_async(Viewing.objects.count)() == 0
    for socket in (ada, cy, theirs):
        await socket.disconnect()


async def test_a_colleagues_reply_or_note_being_written_reaches_who_has_it_open(
    layer,  # noqa: F811
    tenant,
    other_tenant,
):
    one, two = await sync_to_async(_two_conversations)(tenant)
    (their_one, _) = await sync_to_async(_two_conversations)(other_tenant)
    ada = await open_inbox(await sync_to_async(_person)(tenant, ["agent"], "ada"))
    bob = await open_inbox(await sync_to_async(_person)(tenant, ["agent"], "bob"))
    cy = await open_inbox(await sync_to_async(_person)(tenant, ["agent"], "cy"))
    dan = await open_inbox(await sync_to_async(_person)(other_tenant, ["agent"], "dan"))
    await watch(ada, one)
    await watch(bob, one)
    await watch(cy, two)
    await watch(dan, their_one)
    customer = get_channel_layer()  # what the customer's chat of `one` would hear
    customer_channel = await customer.new_channel()
    await customer.group_add(conversation_group(one), customer_channel)

    await ada.send_json_to({"type": "typing", "conversationId": one, "note": True})

    typing = await heard(bob, "colleague.typing")
    assert [(e["conversationId"], e["username"], e["note"]) for e in typing] == [(one, "ada", True)]
    assert await heard(cy, "colleague.typing", 0.3) == []  # another conversation open there
    with pytest.raises(asyncio.TimeoutError):  # a note is never the customer's to hear
        await asyncio.wait_for(customer.receive(customer_channel), 0.3)

    # another tenant's conversation: nobody there hears of it
    await ada.send_json_to({"type": "typing", "conversationId": their_one, "note": True})
    assert await heard(dan, "colleague.typing", 0.5) == []

    await ada.send_json_to({"type": "typing", "conversationId": one, "note": "yes"})
    refused = await until(ada, "error")
    assert (refused["code"], refused["field"]) == ("invalid", "note")
    for socket in (ada, bob, cy, dan):
        await socket.disconnect()


async def test_a_socket_gone_without_a_goodbye_stops_counting_and_the_sweep_tells(
    layer,  # noqa: F811
    tenant,
):
    one, _ = await sync_to_async(_two_conversations)(tenant)
    ada = await open_inbox(await sync_to_async(_person)(tenant, ["agent"], "ada"))
    cy = await open_inbox(await sync_to_async(_person)(tenant, ["agent"], "cy"))
    await watch(ada, one)
    await heard(cy, "conversation.viewers", 0.3)

    await ada.send_json_to({"type": "heartbeat"})  # a beat keeps it fresh
    await until(ada, "heartbeat.ack")
    row = await sync_to_async(Viewing.objects.get)()
    assert timezone.now() - row.seen_at < dt.timedelta(seconds=5)
    # a laptop closed: the heartbeat stops and the process never hears a goodbye
    long_ago = timezone.now() - dt.timedelta(minutes=2)
    await sync_to_async(Viewing.objects.update)(seen_at=long_ago)

    assert await sync_to_async(viewers_of)(row.tenant_id) == {}  # no longer counts
    assert await sync_to_async(sweep_viewers)() == 1
    assert [names(e) for e in await heard(cy, "conversation.viewers")] == [(one, [])]
    assert await sync_to_async(Viewing.objects.count)() == 0
    assert await sync_to_async(sweep_viewers)() == 0
    for socket in (ada, cy):
        await socket.disconnect()

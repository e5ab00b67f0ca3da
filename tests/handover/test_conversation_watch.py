"""The inbox hears who is typing only in the conversation it has open (``conversation.watch``):
an AI agent's typing and the customer's reach the inbox sockets that watch that conversation
and no other inbox of the tenant (under load every inbox heard every conversation's typing,
about 40% of all it was sent); the answer says whether the AI is writing now; a watch of
another tenant's conversation, or of anything that is not a conversation's id, is refused as
not found, and an approver (no agent role) may not watch."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from conversations.models import Conversation
from conversations.services import conversation_start
from handover.services import typing_from_customer
from orchestration.pipeline import typing_on_commit
from tests.factories import TO_PEOPLE, make_team
from tests.handover.test_socket_access import (
    _person,
    layer,  # noqa: F401 (the fixture)
    open_inbox,
    until,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
TYPING = ("agent.typing", "customer.typing")


def _two_conversations(tenant) -> list[str]:
    sup = make_team(tenant, **TO_PEOPLE).sup
    return [
        str(conversation_start(tenant=tenant, agent=sup, channel="web", customer={"id": c})[0].pk)
        for c in ("c-1", "c-2")
    ]


def _typing_in(conversation_id: str) -> None:
    """The AI starts writing (told after commit, as the turn tells it) and the customer types."""
    conversation = Conversation.objects.get(pk=conversation_id)
    with transaction.atomic():
        typing_on_commit(conversation, typing=True)
    typing_from_customer(conversation_id=conversation.pk, tenant_id=conversation.tenant_id)


async def events_heard(socket, kinds, seconds: float = 0.8) -> list[dict]:
    """The events of ``kinds`` a socket hears within ``seconds`` (other events pass by)."""
    heard = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        if await socket.receive_nothing(timeout=left):  # (a timed-out read ends the socket)
            break
        event = await socket.receive_json_from()
        if event["type"] in kinds:
            heard.append(event)
    return heard


async def typing_heard(socket, seconds: float = 0.8) -> list[tuple[str, str]]:
    """The typing events a socket hears within ``seconds``: (kind, conversation id)."""
    return [(e["type"], e["conversationId"]) for e in await events_heard(socket, TYPING, seconds)]


async def watch(socket, conversation_id) -> dict:
    await socket.send_json_to({"type": "conversation.watch", "conversationId": conversation_id})
    return await until(socket, "conversation.watch.result")


async def test_typing_reaches_only_the_inboxes_that_have_the_conversation_open(
    layer,  # noqa: F811
    tenant,
):
    one, two = await sync_to_async(_two_conversations)(tenant)
    ada_user = await sync_to_async(_person)(tenant, ["agent"], "ada")
    bob_user = await sync_to_async(_person)(tenant, ["agent"], "bob")
    ada_id, bob_id = ada_user.pk, bob_user.pk
    ada = await open_inbox(ada_user)
    bob = await open_inbox(bob_user)
    idle = await open_inbox(await sync_to_async(_person)(tenant, ["agent"], "cy"))
    assert (await watch(ada, one))["ok"] is True
    assert (await watch(bob, two))["ok"] is True

    await sync_to_async(_typing_in)(one)

    assert await typing_heard(ada) == [("agent.typing", one), ("customer.typing", one)]
    assert await typing_heard(bob) == []
    assert await typing_heard(idle) == []  # an inbox with nothing open hears no typing

    assert await watch(ada, two) == {
        "type": "conversation.watch.result",
        "ok": True,
        "conversationId": two,
        "agentTyping": False,
        "viewers": [  # bob has it open too (handover.viewing)
            {"id": ada_id, "username": "ada", "name": "ada"},
            {"id": bob_id, "username": "bob", "name": "bob"},
        ],
    }
    await sync_to_async(_typing_in)(one)
    await sync_to_async(_typing_in)(two)

    assert await typing_heard(ada) == [("agent.typing", two), ("customer.typing", two)]
    assert await typing_heard(bob) == [("agent.typing", two), ("customer.typing", two)]

    assert (await watch(ada, None))["ok"] is True  # nothing open any more
    await sync_to_async(_typing_in)(two)
    assert await typing_heard(ada) == []
    for socket in (ada, bob, idle):
        await socket.disconnect()


async def test_a_watch_says_whether_the_ai_is_writing_there_now(
    layer,  # noqa: F811
    tenant,
):
    one, _ = await sync_to_async(_two_conversations)(tenant)
    ada = await open_inbox(await sync_to_async(_person)(tenant, ["agent"], "ada"))
    assert (await watch(ada, one))["agentTyping"] is False
    # an AI turn pending (its agent.typing went out before this inbox watched)
    pending = Conversation.objects.filter(pk=one)
    await sync_to_async(pending.update)(ai_turn=1, ai_turn_at="2026-12-04T10:00Z")

    assert (await watch(ada, one))["agentTyping"] is True
    await ada.disconnect()


@pytest.mark.parametrize(
    "conversation_id",
    ["theirs", "not-a-uuid", "00000000-0000-0000-0000-000000000000", 12, {"id": 1}, [], True],
)
async def test_a_watch_of_another_tenants_conversation_or_of_garbage_is_not_found(
    layer,  # noqa: F811
    tenant,
    other_tenant,
    conversation_id,
):
    theirs = conversation_id == "theirs"
    if theirs:
        conversation_id = (await sync_to_async(_two_conversations)(other_tenant))[0]
    ada = await open_inbox(await sync_to_async(_person)(tenant, ["agent"], "ada"))

    answer = await watch(ada, conversation_id)

    assert answer["ok"] is False and answer["code"] == "not_found", answer
    assert await typing_heard(ada, 0.2) == []
    if theirs:
        await sync_to_async(_typing_in)(conversation_id)  # theirs types: not heard here
        assert await typing_heard(ada) == []
    await ada.disconnect()


async def test_an_approver_may_not_watch_a_conversation(
    layer,  # noqa: F811
    tenant,
):
    one, _ = await sync_to_async(_two_conversations)(tenant)
    priya = await open_inbox(await sync_to_async(_person)(tenant, ["approver"], "priya"))

    await priya.send_json_to({"type": "conversation.watch", "conversationId": one})

    refused = await until(priya, "error")
    assert refused["code"] == "forbidden" and refused["action"] == "conversation.watch"
    await priya.disconnect()

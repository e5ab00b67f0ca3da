"""The public chat under flood: chat starts are limited per client address and per tenant (429
with Retry-After and a JSON error), and customer socket messages per conversation and per
client address (an error frame ``rate_limited`` with ``retryAfter``; the socket stays open).
Nothing refused reaches the orchestrator: no conversation is started, no message stored.

Unmarked tests run on whatever the suite runs on: Redis when REDIS_URL is set, the in-process
counter on the embedded default."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from config.asgi import application
from conversations.models import (
    Conversation,
    Message,
    MessageRole,
)
from tests.factories import TO_PEOPLE, make_team
from tests.sockets import Socket

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture
def desks(tenant, other_tenant):
    make_team(tenant, **TO_PEOPLE)
    make_team(other_tenant, **TO_PEOPLE)


def start(slug="acme", address="198.51.100.1", body=None, **meta):
    return Client().post(
        f"/chat/{slug}/start",
        data=json.dumps(body if body is not None else {"name": "Kim", "text": "hello"}),
        content_type="application/json",
        REMOTE_ADDR=address,
        **meta,
    )


def test_chat_starts_over_the_address_limit_get_429_with_retry_after(settings, desks):
    settings.CHAT_START_RATE_LIMIT = "3/min"

    codes = [start().status_code for _ in range(3)]
    refused = start()

    assert codes == [201, 201, 201]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "Try again in" in refused.json()["error"]["message"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert Conversation.objects.count() == 3


def test_a_flood_from_one_address_does_not_stop_another_address(settings, desks):
    settings.CHAT_START_RATE_LIMIT = "2/min"
    for _ in range(5):
        start(address="192.0.2.66")

    assert start(address="198.51.100.7").status_code == 201


def test_the_address_limit_holds_across_tenants_and_counts_invalid_starts(settings, desks):
    settings.CHAT_START_RATE_LIMIT = "3/min"

    codes = [
        start(slug="acme").status_code,
        start(slug="acme", body={"text": ""}).status_code,
        start(slug="globex").status_code,
        start(slug="globex").status_code,
    ]

    assert codes == [201, 400, 201, 429]


def test_the_tenant_limit_holds_across_addresses_and_spares_other_tenants(settings, desks):
    settings.CHAT_START_TENANT_RATE_LIMIT = "3/min"

    codes = [start(address=f"203.0.113.{i}").status_code for i in range(4)]
    elsewhere = start(slug="globex", address="203.0.113.9").status_code

    assert codes == [201, 201, 201, 429]
    assert elsewhere == 201
    assert Conversation.objects.filter(tenant__slug="acme").count() == 3


def test_invalid_starts_do_not_use_up_the_tenants_allowance(settings, desks):
    settings.CHAT_START_TENANT_RATE_LIMIT = "2/min"
    for i in range(5):
        assert start(address=f"203.0.113.{i}", body={"text": "\x00"}).status_code == 400

    assert start(address="203.0.113.50").status_code == 201


def test_behind_a_proxy_starts_are_counted_on_the_address_the_proxy_appended(settings, desks):
    settings.BEHIND_PROXY = True
    settings.CHAT_START_RATE_LIMIT = "2/min"

    same = [
        start(address="127.0.0.1", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}, 203.0.113.5").status_code
        for i in range(3)
    ]
    other = start(address="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.6").status_code

    assert same == [201, 201, 429]
    assert other == 201


def test_chat_starts_pass_when_redis_is_down(settings, desks, caplog):
    from tests.abuse.test_api_rate_limits import _closed_port

    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.CHAT_START_RATE_LIMIT = "1/min"

    codes = [start().status_code for _ in range(3)]

    assert codes == [201, 201, 201]
    assert "rate limits not enforced" in caplog.text


# -- the customer's socket ----------------------------------------------------------------------


def _conversation_with_token(tenant):
    from agents.models import Agent
    from conversations.services import conversation_start

    agent = Agent.objects.get(tenant=tenant, slug="agent-sup")
    return conversation_start(tenant=tenant, agent=agent, channel="web", customer={"id": "c-1"})


async def customer_socket(tenant, address="198.51.100.1") -> Socket:
    conversation, token = await sync_to_async(_conversation_with_token)(tenant)
    socket = Socket(
        application, f"/ws/conversations/{conversation.pk}/?token={token}", headers=[ORIGIN]
    )
    socket.scope["client"] = [address, 50000]
    socket.conversation = conversation
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from(timeout=3))["type"] == "conversation.snapshot"
    return socket


async def answers(socket, sent: int) -> list[dict]:
    """For ``sent`` messages: the error frames and the customer's own messages coming back."""
    frames: list[dict] = []
    while len(frames) < sent:
        frame = await socket.receive_json_from(timeout=5)
        if frame["type"] == "error" or (
            frame["type"] == "message.created" and frame["message"]["role"] == "customer"
        ):
            frames.append(frame)
    return frames


def _customer_messages(conversation) -> int:
    return Message.objects.filter(conversation=conversation, role=MessageRole.CUSTOMER).count()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_burst_on_a_customer_socket_is_cut_at_the_limit_and_the_socket_stays_open(
    settings, tenant
):
    settings.CHAT_MESSAGE_RATE_LIMIT = "3/min"
    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    socket = await customer_socket(tenant)

    for i in range(6):
        await socket.send_json_to({"type": "message.send", "text": f"message {i}"})
    frames = await answers(socket, 6)
    await socket.send_json_to({"type": "resync"})
    snapshot = await socket.receive_json_from(timeout=3)

    refused = [f for f in frames if f["type"] == "error"]
    assert len(refused) == 3
    assert {f["code"] for f in refused} == {"rate_limited"}
    assert all(1 <= f["retryAfter"] <= 60 for f in refused)
    assert "too fast" in refused[0]["error"]
    assert snapshot["type"] == "conversation.snapshot"  # still open
    assert await sync_to_async(_customer_messages)(socket.conversation) == 3
    await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_one_conversations_flood_does_not_limit_another(settings, tenant):
    settings.CHAT_MESSAGE_RATE_LIMIT = "2/min"
    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    flooder = await customer_socket(tenant, address="192.0.2.66")
    neighbour = await customer_socket(tenant, address="198.51.100.7")

    for i in range(4):
        await flooder.send_json_to({"type": "message.send", "text": f"spam {i}"})
    await answers(flooder, 4)
    await neighbour.send_json_to({"type": "message.send", "text": "hello"})
    (frame,) = await answers(neighbour, 1)

    assert frame["type"] == "message.created"
    await flooder.disconnect()
    await neighbour.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_address_limit_holds_across_conversations(settings, tenant):
    settings.CHAT_MESSAGE_RATE_LIMIT = "off"
    settings.CHAT_MESSAGE_IP_RATE_LIMIT = "3/min"
    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    first = await customer_socket(tenant, address="192.0.2.66")
    second = await customer_socket(tenant, address="192.0.2.66")
    elsewhere = await customer_socket(tenant, address="198.51.100.7")

    for i in range(2):
        await first.send_json_to({"type": "message.send", "text": f"one {i}"})
    await answers(first, 2)
    # its messages are told at their commit, before their after-commit work ends: the socket
    # closing waits for that work (SQLite's shared in-memory test database takes one writer)
    await first.disconnect()
    for i in range(2):
        await second.send_json_to({"type": "message.send", "text": f"two {i}"})
    frames = await answers(second, 2)
    await elsewhere.send_json_to({"type": "message.send", "text": "hello"})
    (other,) = await answers(elsewhere, 1)

    assert sorted(f["type"] for f in frames) == ["error", "message.created"]
    assert next(f for f in frames if f["type"] == "error")["code"] == "rate_limited"
    assert other["type"] == "message.created"
    for socket in (second, elsewhere):
        await socket.disconnect()

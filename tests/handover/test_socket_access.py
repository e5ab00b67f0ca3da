"""The inbox socket keeps checking who is there (issue 15, part 3): a person deactivated,
stripped of the role the socket needs, or signed out everywhere is refused at their next
action and their open sockets close, on the in-memory channel layer and on Redis. Who may do
what on the socket comes from the permission matrix."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from config.asgi import application
from conversations.services import conversation_start
from core import services
from core.models import PersonSession
from handover.models import Handoff
from orchestration.turns import conversation_receive_message
from tests.conftest import need_service
from tests.factories import make_person
from tests.sockets import Socket

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
def layer(request, settings):
    """Each test runs on the in-memory channel layer and on Redis (a prefix of its own)."""
    if request.param == "redis":
        if not django_settings.REDIS_URL:
            need_service("Redis: set REDIS_URL")
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "config.channel_layer.BatchingRedisChannelLayer",
                "CONFIG": {
                    "hosts": [django_settings.REDIS_URL],
                    "prefix": f"test-access-{uuid.uuid4().hex}",
                },
            }
        }
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield request.param
    channel_layers.backends.clear()


def _signed_in(user) -> tuple[Client, tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return client, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def open_inbox(user) -> Socket:
    _, cookie = await sync_to_async(_signed_in)(user)
    socket = Socket(application, "/ws/inbox/", headers=[ORIGIN, cookie])
    connected, code = await socket.connect()
    assert connected, code
    await until(socket, "inbox.snapshot")
    return socket


async def until(socket, kind: str, limit: int = 20) -> dict:
    for _ in range(limit):
        event = await socket.receive_json_from(timeout=3)
        if event.get("type") == kind:
            return event
    raise AssertionError(f"no {kind} event")


async def closes(socket, limit: int = 20) -> tuple[int, list[dict]]:
    """Read until the server closes the socket: its close code and the frames before it."""
    frames = []
    for _ in range(limit):
        output = await socket.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            return output["code"], frames
        frames.append(json.loads(output["text"]))
    raise AssertionError(f"the socket stayed open: {frames}")


def _person(tenant, roles, username):
    return make_person(tenant=tenant, roles=roles, username=username)


def _queued_handoff(tenant) -> Handoff:
    from tests.factories import TO_PEOPLE, make_team

    sup = make_team(tenant, **TO_PEOPLE).sup
    conversation, _ = conversation_start(
        tenant=tenant, agent=sup, channel="email", customer={"id": "c-1"}
    )
    conversation_receive_message(conversation=conversation, text="I want a human")
    return Handoff.objects.get(conversation=conversation)


# --- deactivated ---------------------------------------------------------------------------------


async def test_a_deactivated_agents_socket_closes_4401(layer, tenant):
    ada = await sync_to_async(_person)(tenant, ["agent"], "ada")
    socket = await open_inbox(ada)

    await sync_to_async(services.person_set_active)(user=ada, active=False)

    code, frames = await closes(socket)
    assert code == 4401
    assert frames[-1] == {"type": "error", "code": "signed_out", "error": "You are signed out."}
    assert not await sync_to_async(PersonSession.objects.filter(user_id=ada.pk).exists)()


async def test_a_deactivated_agent_is_refused_at_the_next_action_even_without_the_event(
    layer, tenant
):
    handoff = await sync_to_async(_queued_handoff)(tenant)
    ada = await sync_to_async(_person)(tenant, ["agent"], "ada")
    socket = await open_inbox(ada)
    # written behind the services' back: no close event is sent, the next frame finds out
    User = get_user_model()
    await sync_to_async(User.objects.filter(pk=ada.pk).update)(is_active=False)

    await socket.send_json_to({"type": "handoff.claim", "handoffId": handoff.pk})

    code, frames = await closes(socket)
    assert code == 4401
    assert [f["type"] for f in frames if f["type"].endswith(".result")] == []
    await sync_to_async(handoff.refresh_from_db)()
    assert handoff.status == "queued" and handoff.claimed_by_id is None


# --- a role taken away ---------------------------------------------------------------------------


async def test_an_agent_who_loses_the_role_has_the_socket_closed_4403(layer, tenant):
    ada = await sync_to_async(_person)(tenant, ["agent"], "ada")
    socket = await open_inbox(ada)

    await sync_to_async(services.membership_set)(user=ada, tenant=tenant, roles=[])

    code, frames = await closes(socket)
    assert code == 4403
    assert frames[-1]["code"] == "forbidden"


async def test_an_agent_who_lost_the_role_cannot_claim_or_send_even_without_the_event(
    layer, tenant
):
    from core.models import Membership

    handoff = await sync_to_async(_queued_handoff)(tenant)
    ada = await sync_to_async(_person)(tenant, ["agent", "approver"], "ada")
    socket = await open_inbox(ada)
    await sync_to_async(Membership.objects.filter(user=ada).update)(is_agent=False)

    await socket.send_json_to(
        {"type": "message.send", "conversationId": str(handoff.conversation_id), "text": "hi"}
    )

    code, frames = await closes(socket)
    assert code == 4403
    assert not [f for f in frames if f["type"] == "message.send.result"]
    await sync_to_async(handoff.refresh_from_db)()
    assert handoff.status == "queued"


async def test_an_approver_removed_from_their_only_approver_group_is_closed(layer, tenant):
    from core.models import ApproverGroup

    fin = await sync_to_async(_person)(tenant, [], "fin")
    group = await sync_to_async(ApproverGroup.objects.create)(tenant=tenant, name="finance")
    await sync_to_async(group.members.add)(fin)
    socket = await open_inbox(fin)
    manager = await sync_to_async(_person)(tenant, ["manager"], "boss")

    def remove_through_the_admin():
        client = Client()
        client.force_login(manager)
        response = client.post(
            f"/admin/core/approvergroup/{group.pk}/change/",
            {"name": "finance", "members": []},
        )
        assert response.status_code == 302, response.content[:500]

    await sync_to_async(remove_through_the_admin)()

    code, _ = await closes(socket)
    assert code == 4403


async def test_gaining_a_role_keeps_the_socket_open(layer, tenant):
    ada = await sync_to_async(_person)(tenant, ["agent"], "ada")
    socket = await open_inbox(ada)

    await sync_to_async(services.membership_set)(
        user=ada, tenant=tenant, roles=["agent", "approver"]
    )
    await socket.send_json_to({"type": "heartbeat"})

    assert (await until(socket, "heartbeat.ack"))["type"] == "heartbeat.ack"
    await socket.disconnect()


# --- signed out everywhere -----------------------------------------------------------------------


async def test_signing_out_everywhere_closes_every_socket_of_the_person(layer, tenant):
    ada = await sync_to_async(_person)(tenant, ["agent"], "ada")
    bob = await sync_to_async(_person)(tenant, ["agent"], "bob")
    laptop = await open_inbox(ada)
    phone = await open_inbox(ada)
    colleague = await open_inbox(bob)

    def sign_out_from_a_third_browser():
        client, _ = _signed_in(ada)
        response = client.post("/accounts/sign-out-everywhere/")
        assert response.status_code == 302

    await sync_to_async(sign_out_from_a_third_browser)()

    assert (await closes(laptop))[0] == 4401
    assert (await closes(phone))[0] == 4401
    await colleague.send_json_to({"type": "heartbeat"})
    assert (await until(colleague, "heartbeat.ack"))["type"] == "heartbeat.ack"
    await colleague.disconnect()


async def test_a_socket_whose_session_ended_is_refused_at_the_next_action(layer, tenant):
    ada = await sync_to_async(_person)(tenant, ["agent"], "ada")
    socket = await open_inbox(ada)
    await sync_to_async(PersonSession.objects.filter(user_id=ada.pk).delete)()  # no event

    await socket.send_json_to({"type": "resync"})

    code, frames = await closes(socket)
    assert code == 4401
    assert not [f for f in frames if f["type"] == "inbox.snapshot"]


# --- the matrix on the socket --------------------------------------------------------------------


async def test_an_approver_only_socket_may_not_claim_and_hears_no_handoffs(layer, tenant):
    handoff = await sync_to_async(_queued_handoff)(tenant)
    priya = await sync_to_async(_person)(tenant, ["approver"], "priya")
    _, cookie = await sync_to_async(_signed_in)(priya)
    socket = Socket(application, "/ws/inbox/", headers=[ORIGIN, cookie])
    assert (await socket.connect())[0]
    snapshot = await until(socket, "inbox.snapshot")

    await socket.send_json_to({"type": "handoff.claim", "handoffId": handoff.pk})
    refused = await until(socket, "error")

    assert snapshot["handoffs"] == [] and snapshot["online"] == []
    assert refused == {
        "type": "error",
        "code": "forbidden",
        "action": "handoff.claim",
        "error": "This needs the agent role.",
    }
    await sync_to_async(handoff.refresh_from_db)()
    assert handoff.status == "queued"
    await socket.send_json_to({"type": "heartbeat"})  # still open: the roles did not change
    assert (await until(socket, "heartbeat.ack"))["type"] == "heartbeat.ack"
    await socket.disconnect()


async def test_approval_events_reach_approvers_and_handoff_events_reach_agents(layer, tenant):
    from core.events import (
        notify_on_commit,
        tenant_inbox_group,
    )

    ada = await sync_to_async(_person)(tenant, ["agent"], "ada")
    priya = await sync_to_async(_person)(tenant, ["approver"], "priya")
    agent_socket = await open_inbox(ada)
    approver_socket = await open_inbox(priya)

    def announce():
        from django.db import transaction

        with transaction.atomic():
            for kind in ("approval.requested", "handoff.offered", "approval.decided"):
                notify_on_commit([tenant_inbox_group(tenant.pk)], {"type": kind, "marker": kind})

    await sync_to_async(announce)()
    heard_by_agent, heard_by_approver = [], []
    for socket, heard in ((agent_socket, heard_by_agent), (approver_socket, heard_by_approver)):
        while not await socket.receive_nothing(timeout=0.5):
            event = await socket.receive_json_from()
            if "marker" in event:
                heard.append(event["type"])

    assert heard_by_agent == ["handoff.offered"]
    assert heard_by_approver == ["approval.requested", "approval.decided"]
    await agent_socket.disconnect()
    await approver_socket.disconnect()


async def test_a_frame_of_no_known_action_is_answered_and_the_socket_stays(layer, tenant):
    ada = await sync_to_async(_person)(tenant, ["agent"], "ada")
    socket = await open_inbox(ada)

    for frame in ({"type": ["handoff.claim"]}, {"type": "connect"}, {"type": "approve"}, [1]):
        await socket.send_json_to(frame)
        answer = await until(socket, "error")
        # a type that is not a known action's name is unknown_type; a frame that is not an
        # object is a bad_frame (the one frame decoder)
        assert answer["code"] == ("bad_frame" if frame == [1] else "unknown_type"), frame

    await socket.send_json_to({"type": "heartbeat"})
    assert (await until(socket, "heartbeat.ack"))["type"] == "heartbeat.ack"
    await socket.disconnect()


# --- frames and events at once --------------------------------------------------------------------


async def test_an_inbox_keeps_hearing_events_while_its_own_claim_waits_for_the_database(
    layer,
    tenant,
):
    """A claim that waits (here on a row another transaction holds) does not hold up the
    socket's events: an offer that arrives meanwhile is heard at once, and the claim's answer
    follows when the row is free."""
    import threading

    from django.db import connection, transaction

    from core.events import notify_now, tenant_inbox_group

    if connection.vendor != "postgresql":
        pytest.skip("a row lock that makes a claim wait: PostgreSQL")
    handoff = await sync_to_async(_queued_handoff)(tenant)
    ada = await sync_to_async(_person)(tenant, ["agent"], "ada")
    socket = await open_inbox(ada)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        with transaction.atomic():
            Handoff.objects.select_for_update().get(pk=handoff.pk)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert locked.wait(5)
    try:
        await socket.send_json_to({"type": "handoff.claim", "handoffId": handoff.pk})
        await asyncio.sleep(0.3)  # the claim waits for the row
        offer = {"type": "handoff.queued", "handoffId": 0}
        await notify_now([tenant_inbox_group(tenant.pk)], offer)

        heard = await until(socket, "handoff.queued")  # while the claim still waits
        assert heard["handoffId"] == 0
    finally:
        release.set()
        holder.join()
    answer = await until(socket, "handoff.claim.result")
    assert answer["ok"] is True
    await socket.disconnect()

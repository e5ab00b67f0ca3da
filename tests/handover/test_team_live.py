"""The managers' team view (who holds what) is live (issue 19): ``/ws/team/`` nudges the page
when a handoff, a claim, a resolution or someone's status changes, with no data of its own; the
page re-reads its table through its door (``?fragment=1``). Only those the page lets in open it."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from config.asgi import application
from core import services
from core.events import notify_now, tenant_inbox_group
from handover.presence import presence_join
from handover.services import agent_status_set, handoff_claim
from tests.handover.test_socket_access import (
    ORIGIN,
    _person,
    _queued_handoff,
    _signed_in,
    closes,
    layer,  # noqa: F401 (the fixture)
    until,
)
from tests.sockets import Socket

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def open_team(user) -> Socket:
    _, cookie = await sync_to_async(_signed_in)(user)
    socket = Socket(application, "/ws/team/", headers=[ORIGIN, cookie])
    connected, code = await socket.connect()
    assert connected, code
    await until(socket, "team.ready")
    return socket


def _fragment(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/inbox/team/?fragment=1")
    assert response.status_code == 200
    return response.content.decode()


async def test_a_claim_and_a_status_change_reach_the_managers_team_view_live(
    layer,  # noqa: F811
    tenant,
):
    handoff = await sync_to_async(_queued_handoff)(tenant)
    boss = await sync_to_async(_person)(tenant, ["manager"], "boss")
    ada = await sync_to_async(_person)(tenant, ["agent"], "ada")
    socket = await open_team(boss)
    before = await sync_to_async(_fragment)(boss)
    assert "Nobody is waiting" not in before

    await sync_to_async(handoff_claim)(handoff=handoff, user=ada)

    nudge = await until(socket, "team.changed")
    assert nudge == {"type": "team.changed", "cause": "handoff.claimed"}  # a nudge, no data
    after = await sync_to_async(_fragment)(boss)
    assert 'data-agent="ada"' in after and "1 / 5" in after
    assert "Nobody is waiting" in after

    await sync_to_async(presence_join)(user=ada, tenant=tenant)  # her inbox open
    await sync_to_async(agent_status_set)(user=ada, status="busy")
    assert (await until(socket, "team.changed"))["cause"] == "presence"
    assert ">busy<" in await sync_to_async(_fragment)(boss)
    await socket.disconnect()


async def test_messages_do_not_nudge_and_other_tenants_are_not_heard(
    layer,  # noqa: F811
    tenant,
    other_tenant,
):
    boss = await sync_to_async(_person)(tenant, ["manager"], "boss")
    socket = await open_team(boss)

    await notify_now([tenant_inbox_group(tenant.pk)], {"type": "message.created", "text": "x"})
    await notify_now([tenant_inbox_group(other_tenant.pk)], {"type": "handoff.queued"})

    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


@pytest.mark.parametrize("roles", [["agent"], ["approver"], []])
async def test_only_those_the_team_page_lets_in_open_the_socket(
    layer,  # noqa: F811
    tenant,
    roles,
):
    person = await sync_to_async(_person)(tenant, roles, "someone")
    _, cookie = await sync_to_async(_signed_in)(person)
    socket = Socket(application, "/ws/team/", headers=[ORIGIN, cookie])
    connected, code = await socket.connect()
    assert not connected and code == 4403

    anonymous = Socket(application, "/ws/team/", headers=[ORIGIN])
    connected, code = await anonymous.connect()
    assert not connected and code == 4401


async def test_a_manager_who_loses_the_role_is_closed_4403_at_the_next_nudge(
    layer,  # noqa: F811
    tenant,
):
    boss = await sync_to_async(_person)(tenant, ["manager", "agent"], "boss")
    socket = await open_team(boss)
    await sync_to_async(services.membership_set)(user=boss, tenant=tenant, roles=["agent"])

    await notify_now([tenant_inbox_group(tenant.pk)], {"type": "handoff.queued"})

    code, frames = await closes(socket)
    assert code == 4403
    assert frames == [
        {
            "type": "error",
            "code": "forbidden",
            "error": "Your roles changed; reconnect to see what they allow.",
        }
    ]
    await notify_now([tenant_inbox_group(tenant.pk)], {"type": "handoff.claimed"})
    assert await socket.receive_nothing(timeout=0.5)


async def test_a_deactivated_manager_is_closed_4401_at_the_next_nudge(
    layer,  # noqa: F811
    tenant,
):
    boss = await sync_to_async(_person)(tenant, ["manager"], "boss")
    socket = await open_team(boss)
    await sync_to_async(services.person_set_active)(user=boss, active=False)

    await notify_now([tenant_inbox_group(tenant.pk)], {"type": "presence"})

    code, frames = await closes(socket)
    assert code == 4401
    assert frames == [{"type": "error", "code": "signed_out", "error": "You are signed out."}]
    await notify_now([tenant_inbox_group(tenant.pk)], {"type": "handoff.queued"})
    assert await socket.receive_nothing(timeout=0.5)


async def test_a_manager_who_keeps_the_role_keeps_hearing_nudges(
    layer,  # noqa: F811
    tenant,
):
    boss = await sync_to_async(_person)(tenant, ["manager", "agent"], "boss")
    socket = await open_team(boss)
    await sync_to_async(services.membership_set)(user=boss, tenant=tenant, roles=["manager"])

    await notify_now([tenant_inbox_group(tenant.pk)], {"type": "handoff.queued"})

    assert await until(socket, "team.changed") == {
        "type": "team.changed",
        "cause": "handoff.queued",
    }
    await socket.disconnect()


@pytest.mark.parametrize(
    "change, code",
    [
        (lambda boss, tenant: services.membership_set(user=boss, tenant=tenant, roles=["agent"]),
         4403),
        (lambda boss, tenant: services.person_set_active(user=boss, active=False), 4401),
        (lambda boss, tenant: services.person_sign_out_everywhere(user=boss), 4401),
    ],
    ids=["role-lost", "deactivated", "signed-out-everywhere"],
)  # fmt: skip
async def test_a_manager_who_loses_access_is_closed_at_once_without_waiting_for_a_nudge(
    layer,  # noqa: F811
    tenant,
    change,
    code,
):
    boss = await sync_to_async(_person)(tenant, ["manager", "agent"], "boss")
    socket = await open_team(boss)

    await sync_to_async(change)(boss, tenant)  # nothing else happens in the tenant

    closed, frames = await closes(socket)
    assert closed == code
    assert [frame["type"] for frame in frames] == ["error"]


async def test_who_has_a_conversation_open_reaches_the_team_view(
    layer,  # noqa: F811
    tenant,
):
    from handover.viewing import viewers_told, viewing_set

    handoff = await sync_to_async(_queued_handoff)(tenant)
    boss = await sync_to_async(_person)(tenant, ["manager"], "boss")
    ada = await sync_to_async(_person)(tenant, ["agent"], "ada")
    socket = await open_team(boss)

    def ada_opens_it() -> None:  # as her inbox's conversation.watch does
        changed = viewing_set(
            tenant=tenant, user=ada, channel_name="ada-tab", conversation_id=handoff.conversation_id
        )
        viewers_told(tenant.pk, changed)

    await sync_to_async(ada_opens_it)()

    assert (await until(socket, "team.changed"))["cause"] == "conversation.viewers"
    page = await sync_to_async(_fragment)(boss)
    assert '<span class="viewers">· ada viewing</span>' in page  # on the waiting conversation
    assert '<span class="has-open">· has open <a href="' in page  # on ada's row
    await socket.disconnect()

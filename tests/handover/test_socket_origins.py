"""Websockets accept only pages of our own hosts (ALLOWED_HOSTS): with valid credentials, a
socket opened from a foreign Origin (another site's page riding on the person's cookies, or on
a leaked customer token) is refused before any consumer runs, on both socket paths."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from config.asgi import application
from tests.factories import make_person
from tests.handover.test_consumers import _open_conversation_with_token, session_cookie
from tests.sockets import Socket

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ALLOWED = [b"http://localhost", b"http://127.0.0.1:8000", b"https://localhost"]
FOREIGN = [
    b"https://evil.example",
    b"http://localhost.evil.example",  # a look-alike host
    b"http://evil.example:80",
    b"null",  # sandboxed frames and file:// pages
]


async def _inbox_credentials(tenant):
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    return [await sync_to_async(session_cookie)(ada)]


async def _conversation_path(tenant):
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    conversation, token = await sync_to_async(_open_conversation_with_token)(tenant)
    return f"/ws/conversations/{conversation.pk}/?token={token}"


async def _connect(path, headers):
    communicator = Socket(application, path, headers=headers)
    connected, _ = await communicator.connect()
    if connected:
        await communicator.disconnect()
    return connected


@pytest.mark.parametrize("origin", FOREIGN)
async def test_the_inbox_refuses_a_foreign_origin_even_with_a_valid_session(tenant, origin):
    cookie = await _inbox_credentials(tenant)

    assert await _connect("/ws/inbox/", [(b"origin", origin), *cookie]) is False


@pytest.mark.parametrize("origin", ALLOWED)
async def test_the_inbox_accepts_an_allowed_origin(tenant, origin):
    cookie = await _inbox_credentials(tenant)

    assert await _connect("/ws/inbox/", [(b"origin", origin), *cookie]) is True


async def test_the_inbox_refuses_a_socket_without_origin(tenant):
    cookie = await _inbox_credentials(tenant)

    assert await _connect("/ws/inbox/", cookie) is False


@pytest.mark.parametrize("origin", FOREIGN)
async def test_a_conversation_socket_refuses_a_foreign_origin_even_with_its_token(tenant, origin):
    path = await _conversation_path(tenant)

    assert await _connect(path, [(b"origin", origin)]) is False


@pytest.mark.parametrize("origin", ALLOWED)
async def test_a_conversation_socket_accepts_an_allowed_origin(tenant, origin):
    path = await _conversation_path(tenant)

    assert await _connect(path, [(b"origin", origin)]) is True


async def test_a_conversation_socket_refuses_a_socket_without_origin(tenant):
    path = await _conversation_path(tenant)

    assert await _connect(path, []) is False

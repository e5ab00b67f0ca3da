"""The ASGI application: HTTP reaches Django; websockets pass the origin check first."""

from __future__ import annotations

import pytest
from channels.testing import HttpCommunicator

from config.asgi import application
from tests.sockets import Socket


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_http_requests_reach_django():
    communicator = HttpCommunicator(
        application, "GET", "/accounts/login/", headers=[(b"host", b"localhost")]
    )

    response = await communicator.get_response()

    assert response["status"] == 200
    assert b"Sign in" in response["body"]


@pytest.mark.asyncio
async def test_a_websocket_from_a_foreign_origin_is_refused():
    communicator = Socket(application, "/ws/inbox/", headers=[(b"origin", b"https://evil.example")])

    connected, _ = await communicator.connect()

    assert connected is False

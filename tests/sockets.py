"""The websocket test client, with waits that fit a loaded CI machine.

Channels' ``WebsocketCommunicator`` gives a connect or a frame one second. On a CI machine
running PostgreSQL, Redis, Chromium and the suite on two CPUs, a socket's connect (session or
token, the tenant, the first snapshot) has taken longer than that: slow, not missing. Every test
opens its sockets through :class:`Socket`, which waits up to ``WAIT`` seconds unless the test
says otherwise; a test that asserts that nothing arrives still names its own short wait
(``receive_nothing``).
"""

from __future__ import annotations

from channels.testing import WebsocketCommunicator

WAIT = 15


class Socket(WebsocketCommunicator):
    async def connect(self, timeout: float = WAIT):
        return await super().connect(timeout)

    async def receive_from(self, timeout: float = WAIT):
        return await super().receive_from(timeout)

    async def receive_json_from(self, timeout: float = WAIT):
        return await super().receive_json_from(timeout)

    async def receive_output(self, timeout: float = WAIT):
        return await super().receive_output(timeout)

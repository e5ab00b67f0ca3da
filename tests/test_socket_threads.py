"""The sockets' database threads (config/socket_threads.py): a call runs on one of the
process's socket threads and gives its pooled connection back when it is done, also when the
socket that asked has gone meanwhile; an idle socket thread holds no connection, so the
threads never keep the pool's connections from the requests."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import connection, connections

from config.socket_threads import socket_db
from tests.conftest import need_service

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def _on_postgresql() -> None:
    if connection.vendor != "postgresql":  # SQLite's in-memory test database is never closed
        need_service("PostgreSQL with its connection pool: set DATABASE_URL")


seen: dict[str, object] = {}


@socket_db
def _query(seconds: float) -> str:
    wrapper = connections["default"]
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
    seen["wrapper"] = wrapper
    return threading.current_thread().name


@pytest.mark.services
async def test_a_call_runs_on_a_socket_thread_and_gives_its_connection_back():
    _on_postgresql()
    seen.clear()

    thread = await _query(0)

    assert thread.startswith("socket-db")
    assert seen["wrapper"].connection is None  # back in the pool, not held by the thread


@pytest.mark.services
async def test_a_call_whose_socket_went_away_meanwhile_still_gives_its_connection_back():
    _on_postgresql()
    seen.clear()
    call = asyncio.ensure_future(_query(0.3))
    await asyncio.sleep(0.1)  # the call is running on its thread
    call.cancel()  # the socket closed: nobody waits for the answer any more
    with pytest.raises(asyncio.CancelledError):
        await call

    for _ in range(50):  # the thread finishes the call on its own
        if "wrapper" in seen:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)
    assert seen["wrapper"].connection is None

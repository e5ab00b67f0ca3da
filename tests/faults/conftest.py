"""Fault tests: the product runs as it does in production (uvicorn ASGI processes and Celery
workers as subprocesses, on the test database in PostgreSQL and on a Redis server of the
test's own, so it can be stopped and started without touching anyone else's), and the test
breaks something real underneath it.

The data the test makes is committed (``transactional_db``) so the subprocesses see it; the
subprocesses are killed before the database is flushed.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from bench._procs import (  # the process helpers, shared with bench/load.py
    WAIT,
    Processes,
    RedisServer,
    free_port,
    product_env,
    wait_until,
)
from tests.conftest import need_service

__all__ = ["WAIT", "Processes", "RedisServer", "free_port", "wait_until"]


class SilentServer:
    """Accepts TCP connections and never answers: a broker that is 'there' but hangs."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)

    def close(self) -> None:
        self.sock.close()


def database_url() -> str:
    """The test database (pytest-django's), for the subprocesses."""
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    return f"postgres://{user}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def app_env(*, redis_url: str, **extra: str) -> dict[str, str]:
    # the test's own key, so the sessions it signs people in with are valid there
    return product_env(
        database_url=database_url(),
        redis_url=redis_url,
        secret_key=settings.SECRET_KEY,
        secrets_keys=",".join(settings.SECRETS_KEYS),
        **extra,
    )


@pytest.fixture
def services_only(transactional_db):
    if connection.vendor != "postgresql":
        need_service("PostgreSQL: set DATABASE_URL (the fault tests run the product on it)")
    if shutil.which("redis-server") is None:
        need_service("redis-server (the fault tests start Redis servers of their own)")


@pytest.fixture
def processes(services_only, tmp_path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
def redis_server(services_only) -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def _libpq_url() -> str:
    return database_url().replace("postgres://", "postgresql://", 1)


@pytest.fixture
def pg() -> Iterator[psycopg.Connection]:
    """A connection of the test's own to the test database, outside Django (to take locks
    and cut other connections)."""
    conn = psycopg.connect(_libpq_url())
    yield conn
    conn.close()


def waiting_backends(table: str) -> list[int]:
    """Backends blocked on a lock of ``table`` (asked on a connection of its own: inside a
    transaction, PostgreSQL answers from a snapshot of the statistics)."""
    with psycopg.connect(_libpq_url(), autocommit=True) as observer, observer.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT l.pid FROM pg_locks l "
            "WHERE NOT l.granted AND l.relation = %s::regclass",
            [table],
        )
        return [row[0] for row in cur.fetchall()]

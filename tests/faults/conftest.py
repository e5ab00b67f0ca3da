"""Fault tests: the product runs as it does in production (uvicorn ASGI processes and Celery
workers as subprocesses, on the test database in PostgreSQL and on a Redis server of the
test's own, so it can be stopped and started without touching anyone else's), and the test
breaks something real underneath it.

The data the test makes is committed (``transactional_db``) so the subprocesses see it; the
subprocesses are killed before the database is flushed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection

from tests.conftest import need_service

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0  # seconds: a bound on waiting for a process or a row, never a speed assertion


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], object], *, what: str, timeout: float = WAIT) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


class RedisServer:
    """A redis-server of the test's own on a free port; ``stop()`` and ``start()`` again."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            need_service("redis-server")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.ping, what=f"redis-server on {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


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
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEBUG"}
    }
    env.update(
        DEBUG="0",
        # the test's own key, so the sessions it signs people in with are valid there
        SECRET_KEY=settings.SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url,
        CELERY_TASK_ALWAYS_EAGER="0",
        # plain HTTP on loopback, as behind a proxy that ends TLS
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Processes:
    """The product's processes for one test; all killed at its end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: list[subprocess.Popen] = []

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}-{len(self.running)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = log.name  # type: ignore[attr-defined]
        self.running.append(process)
        return process

    def web(self, env: dict[str, str]) -> str:
        """An ASGI process (uvicorn, as in production); returns its base URL once it answers."""
        port = free_port()
        process = self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            env,
        )
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the web process died: {self.log(process)}")
            try:
                return requests.get(f"{base}/health/live", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(answers, what="the web process")
        return base

    def worker(self, env: dict[str, str]) -> subprocess.Popen:
        process = self._spawn(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ],
            env,
        )
        wait_until(lambda: b"ready." in Path(process.log_path).read_bytes(), what="the worker")
        return process

    def manage(self, env: dict[str, str], code: str) -> str:
        """Run ``code`` in a fresh Django process with ``env`` (e.g. the outbox sweep, as the
        beat-scheduled task runs it); returns what it printed."""
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    @staticmethod
    def log(process: subprocess.Popen) -> str:
        return Path(process.log_path).read_text(errors="replace")[-4000:]

    @staticmethod
    def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(WAIT)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(15)


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

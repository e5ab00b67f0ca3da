"""Benchmark of hot handoff delivery to the live inbox (issue 6) on PostgreSQL and Redis.

    DATABASE_URL=postgres://user@host:5432/db REDIS_URL=redis://host:6379/0 \\
        .venv/bin/python bench/handoff.py

Sets itself up: creates a database ``bench_handoff`` on the server of DATABASE_URL (dropped at
the end, and first if a previous run left it), migrates it, loads the demo tenant with business
hours open all week, and makes 500 people with the agent role and 2,000 with only the approver
role, each with a signed-in session (``orchestration.PersonSession``; one through the test client's
``force_login``, the rest in bulk with the same session data ``login()`` writes). Redis: the
server of REDIS_URL, but logical database 13 (BENCH_REDIS_DB; the test suite's autouse
``cache.clear()`` is a FLUSHDB of REDIS_URL's database and would wipe this run's groups), under
key prefixes of this run only, deleted at the end. Celery runs eagerly (a hot handoff queues no
task; nothing reaches a shared broker).

The ASGI server is uvicorn (uvloop, httptools, websockets-sansio, DEBUG=0) started as a
subprocess and killed (SIGKILL) after its phase. Sockets are held by BENCH_CLIENT_PROCS client
processes (asyncio and the ``websockets`` client; each socket sends its session cookie and an
Origin that ALLOWED_HOSTS accepts, offers permessage-deflate as browsers do, and sends a
heartbeat every 20 s as ``static/handover/inbox.js`` does), apart from the writer process.

Latency (one server with BENCH_WORKERS=2 workers, three steps):
1. 100 agents connect at once; the bench waits (at most 60 s) until the presence broadcasts
   that every agent's connect sends to every inbox socket stop, then opens 50 handoffs one
   after another through the real path: a new web conversation with the demo supervisor and
   the customer message "I want to speak to a human please" through
   ``conversation_receive_message`` (its escalation rule opens a HOT handoff: business hours
   all week, agents online), whose ``on_commit`` hook ``deliver_offer`` sends
   ``handoff.offered`` through the Redis layer. The writer runs the pipeline in a
   ``sync_to_async`` thread under an asyncio loop, as Django runs a view under ASGI, so the
   layer's Redis connection is reused as in the server.
   The clock starts at the COMMIT: the writer's database connection is wrapped so that the
   moment ``COMMIT`` returns from PostgreSQL is stamped (``time.time()``), before Django runs
   any ``on_commit`` hook. No socket can hear of the row earlier, so the figure is the whole
   delay a person sees after the row is durable. (``time.time()`` after
   ``conversation_receive_message`` returns would be too late: ``deliver_offer`` has already
   run by then; the row's ``created_at`` is too early: it is taken before the rest of the
   transaction and the commit. Both gaps are shown.) Each socket stamps ``time.time()`` when
   its ``handoff.offered`` frame is read; all processes share this machine's clock. The next
   handoff starts when every socket has the last one (at most 5 s); a receipt that never comes
   is counted as missing.
2. 400 approver-only people join (they send no presence on connect, and the permission matrix
   gives them no handoff events: their sockets receive every group event of the tenant and drop
   the offers): the 100 agents' receipts with 500 sockets in the group, without a presence
   storm; 50 handoffs.
3. The approvers leave and 400 more agents join (500 agents); tighter bounds (25 s connect,
   10 s settle, 15 s of handoffs): the presence storm grows with the square of the agents.
Open handoffs are resolved in the database before each group of connects (a snapshot lists at
most 200 and would grow), and the bench checks once that a socket connecting while handoffs are
open gets its snapshot.

Idle sockets: a server with ONE worker; 2,000 approver-only inbox sockets (agents' connects
would start a presence storm of 2,000 x 2,000 reads); VmRSS of that process from /proc before
(fresh, and after one socket opened and closed) and with the sockets open after a 10 s idle
hold; then one event through the layer (an ``approval.requested``, which approvers' sockets
forward) to check that the idle sockets still hear it.

Also printed: per phase the CPU of the server workers, the client processes and the writer while
the handoffs ran, and the server's reads per presence event measured in process.
BENCH_PROFILE=1 adds a cProfile of the server workers' event loops during each step's handoffs
(the profiler slows them: use it for where the time goes, not for the figures) and of the
writer.

Other knobs: BENCH_HANDOFFS (50), BENCH_AGENTS ("100,500"), BENCH_IDLE (2000), BENCH_WORKERS,
BENCH_CLIENT_PROCS (2), BENCH_PHASES ("latency,idle"), BENCH_HANDOFF_GAP (pause between
handoffs, 0.02 s), BENCH_DEFLATE=0 (clients offer no permessage-deflate),
BENCH_LAYER_SOCKET_TIMEOUT=none|seconds (sets socket_timeout on the channel
layer's Redis hosts in the server and the writer, to see the product with that settings change;
the product is not changed), bounds BENCH_CONNECT_SECONDS, BENCH_SETTLE_FIRST_SECONDS,
BENCH_SETTLE_SECONDS, BENCH_HANDOFF_SECONDS, BENCH_LARGE_*, BENCH_IDLE_CONNECT_SECONDS,
BENCH_IDLE_HOLD_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._db import database_urls, recreate_database  # noqa: E402
from bench._procs import STORE_KEYS  # noqa: E402
from bench._result import command_line, emit, figure  # noqa: E402
from tools.stats import percentile  # noqa: E402

# BENCH_DB names the database (bench/run_all gives each bench its own)
BENCH_DB = os.environ.get("BENCH_DB", "bench_handoff")
HANDOFFS = int(os.environ.get("BENCH_HANDOFFS", "50"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
CLIENT_PROCS = int(os.environ.get("BENCH_CLIENT_PROCS", "2"))
IDLE_SOCKETS = int(os.environ.get("BENCH_IDLE", "2000"))
CONNECT_SECONDS = float(os.environ.get("BENCH_CONNECT_SECONDS", "40"))
SETTLE_SECONDS = float(os.environ.get("BENCH_SETTLE_SECONDS", "20"))
HANDOFF_SECONDS = float(os.environ.get("BENCH_HANDOFF_SECONDS", "20"))
LARGE_CONNECT_SECONDS = float(os.environ.get("BENCH_LARGE_CONNECT_SECONDS", "25"))
LARGE_SETTLE_SECONDS = float(os.environ.get("BENCH_LARGE_SETTLE_SECONDS", "10"))
LARGE_HANDOFF_SECONDS = float(os.environ.get("BENCH_LARGE_HANDOFF_SECONDS", "15"))
DEFLATE = os.environ.get("BENCH_DEFLATE", "1") not in ("", "0")  # what browsers offer
PHASES = set(os.environ.get("BENCH_PHASES", "latency,idle").split(","))
IDLE_CONNECT_SECONDS = float(os.environ.get("BENCH_IDLE_CONNECT_SECONDS", "90"))
PROFILE = os.environ.get("BENCH_PROFILE", "") not in ("", "0")
# redis-py >= 8 reads with a 5 s socket timeout by default, the same 5 s for which channels_redis
# blocks in BZPOPMIN. BENCH_LAYER_SOCKET_TIMEOUT=none (or seconds) sets socket_timeout on the
# channel layer's Redis connections in the server and the writer, to measure the product as it
# would be with that settings change (the product itself is not changed).
LAYER_SOCKET_TIMEOUT = os.environ.get("BENCH_LAYER_SOCKET_TIMEOUT", "").strip()
# The test suite's autouse fixture calls cache.clear(), which is FLUSHDB on the Redis database
# of REDIS_URL: a suite running meanwhile would wipe this run's groups. The bench therefore uses
# its own logical database on the same server (BENCH_REDIS_DB; "same" keeps REDIS_URL's).
REDIS_DB = os.environ.get("BENCH_REDIS_DB", "13").strip()
AGENT_COUNTS = tuple(int(x) for x in os.environ.get("BENCH_AGENTS", "100,500").split(","))
QUIET_SECONDS = 1.0  # settled: no presence event on any socket for this long
PER_HANDOFF_WAIT = 5.0
# pause after every socket has a handoff before the next one; each handoff's own messages
# (message.created to every inbox socket) are still being delivered during a short pause
HANDOFF_GAP = float(os.environ.get("BENCH_HANDOFF_GAP", "0.02"))
HEARTBEAT_SECONDS = 20  # handover.presence.HEARTBEAT_SECONDS, what inbox.js sends
CONNECT_CONCURRENCY = 64  # handshakes in flight per client process
# latency phase: sockets numbered from here on are approver-only people, who hear no handoff
APPROVERS_FROM = 100_000
AIM_P50_MS = 10.0
AIM_P99_MS = 50.0
AIM_IDLE_BYTES = 1024**3
ESCALATE_TEXT = "I want to speak to a human please"
HOST = "127.0.0.1"
SECRET = "bench-handoff-not-secret-" + "x" * 32


def fail(message: str) -> None:
    print(f"bench/handoff.py: {message}", file=sys.stderr)
    sys.exit(2)


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# =============================================================================================
# Client processes: hold the sockets. No Django here (started with "spawn").
# =============================================================================================


def client_process(conn) -> None:
    import asyncio

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_SocketClient(conn).run())


class _SocketClient:
    def __init__(self, conn):
        self.conn = conn
        self.sockets: dict[int, object] = {}
        self.readers: dict[int, asyncio.Task] = {}
        self.offers: dict[int, list[float]] = defaultdict(list)
        self.presence = 0
        self.last_presence = 0.0
        self.other: Counter = Counter()
        self.closed: Counter = Counter()  # sockets the server closed, by close code
        self.stop = None
        self.tasks: set[asyncio.Future] = set()

    def send(self, *message) -> None:
        self.conn.send(message)

    def spawn(self, awaitable) -> asyncio.Future:
        task = asyncio.ensure_future(awaitable)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.stop = loop.create_future()
        loop.add_reader(self.conn.fileno(), self._readable)
        beat = asyncio.ensure_future(self._heartbeats())
        self.send("ready", os.getpid())
        await self.stop
        beat.cancel()
        await self._close(list(self.sockets), 2.0)

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self.spawn(self._handle(self.conn.recv()))
        except (EOFError, OSError):
            if not self.stop.done():
                self.stop.set_result(None)

    async def _handle(self, command) -> None:
        kind, args = command[0], command[1:]
        if kind == "connect":
            self.send("connected", *(await self._connect(*args)))
        elif kind == "stats":
            self.send(
                "stats",
                self.presence,
                self.last_presence,
                len(self.sockets),
                dict(self.other),
                dict(self.closed),
                self._hearing(),
            )
        elif kind == "collect":
            offers, self.offers = dict(self.offers), defaultdict(list)
            self.send("collected", offers)
        elif kind == "close":
            indices = list(self.sockets) if args[0] is None else args[0]
            await self._close(indices, args[1])
            self.send("closed", len(self.sockets))
        elif kind == "reset":
            self.presence, self.last_presence = 0, 0.0
            self.other.clear()
            self.closed.clear()
            self.offers.clear()
            self.send("reset")
        elif kind == "exit" and not self.stop.done():
            self.stop.set_result(None)

    async def _connect(self, url: str, origin: str, people: list[tuple[int, str]], bound: float):
        from websockets.asyncio.client import connect

        deadline = time.monotonic() + bound
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        times: list[float] = []
        failures: Counter = Counter()

        async def one(index: int, cookie: str) -> None:
            async with gate:
                left = deadline - time.monotonic()
                if left <= 0:
                    failures["not tried within the bound"] += 1
                    return
                began = time.perf_counter()
                ws = None
                try:
                    async with asyncio.timeout(left):
                        ws = await connect(
                            url,
                            origin=origin,
                            additional_headers={"Cookie": f"sessionid={cookie}"},
                            ping_interval=None,  # browsers do not ping; the server does
                            max_size=None,
                            max_queue=1024,
                            open_timeout=None,
                            close_timeout=2,
                            proxy=None,
                            compression="deflate" if DEFLATE else None,
                        )
                        while True:  # the inbox sends its snapshot first
                            raw = await ws.recv()
                            if raw.startswith('{"type": "inbox.snapshot"'):
                                break
                except TimeoutError:
                    failures["no snapshot within the bound"] += 1
                    if ws is not None:
                        ws.transport.abort()
                    return
                except Exception as exc:  # refused handshake, reset, closed with a code
                    failures[f"{type(exc).__name__}: {str(exc)[:60]}"] += 1
                    return
                times.append((time.perf_counter() - began) * 1000)
                self.sockets[index] = ws
                self.readers[index] = asyncio.ensure_future(self._read(index, ws))

        began = time.perf_counter()
        await asyncio.gather(*(one(i, c) for i, c in people))
        return len(times), dict(failures), times, time.perf_counter() - began

    def _hearing(self) -> int:
        """Open sockets that hear handoff offers (agents'; approvers' hear none)."""
        return sum(1 for index in self.sockets if index < APPROVERS_FROM)

    async def _read(self, index: int, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in ws:
                now = time.time()
                if raw.startswith('{"type": "handoff.offered"'):
                    handoff_id = json.loads(raw)["handoffId"]
                    got = self.offers[handoff_id]
                    got.append(now)
                    if len(got) == self._hearing():
                        self.send("done", handoff_id, len(got))
                elif raw.startswith('{"type": "presence"'):
                    self.presence += 1
                    self.last_presence = now
                elif raw.startswith('{"type": "heartbeat.ack"'):
                    pass
                else:
                    try:
                        self.other[json.loads(raw).get("type", "?")] += 1
                    except ValueError:
                        self.other["not JSON"] += 1
        except ConnectionClosed:
            pass
        finally:
            if self.sockets.get(index) is ws:  # closed by the server, not by us
                del self.sockets[index]
                self.readers.pop(index, None)
                code = ws.close_code if ws.close_code is not None else "none"
                self.closed[f"{code}"] += 1

    async def _heartbeats(self) -> None:
        """Every socket beats every HEARTBEAT_SECONDS, spread over the period (inbox.js)."""
        await asyncio.sleep(random.uniform(0, 1))
        while True:
            current = list(self.sockets.values())
            if not current:
                await asyncio.sleep(1)
                continue
            pause = HEARTBEAT_SECONDS / len(current)
            for ws in current:
                with contextlib.suppress(Exception):
                    await ws.send('{"type": "heartbeat"}')
                await asyncio.sleep(pause)

    async def _close(self, indices: list[int], bound: float) -> None:
        sockets = [self.sockets.pop(i) for i in indices if i in self.sockets]
        readers = [self.readers.pop(i) for i in indices if i in self.readers]
        if sockets:
            await asyncio.wait([asyncio.ensure_future(ws.close()) for ws in sockets], timeout=bound)
            for ws in sockets:
                with contextlib.suppress(Exception):
                    ws.transport.abort()
        for reader in readers:
            reader.cancel()


class ClientHandle:
    """The writer's side of one client process."""

    def __init__(self, ctx):
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=client_process, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        self.replies: asyncio.Queue | None = None
        self.on_done = None
        self.open = 0
        self.hearing = 0

    def attach(self, loop, on_done) -> None:
        self.replies = asyncio.Queue()
        self.on_done = on_done
        loop.add_reader(self.conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                message = self.conn.recv()
                if message[0] == "done":
                    self.on_done(self, message[1])
                else:
                    self.replies.put_nowait(message)
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self.conn.fileno())

    async def call(self, *command, timeout: float):
        self.conn.send(command)
        return await asyncio.wait_for(self.replies.get(), timeout)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("exit",))
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


# =============================================================================================
# The writer: database, server, handoffs.
# =============================================================================================


def server_version(maintenance_url: str) -> str:
    import psycopg

    with psycopg.connect(maintenance_url, connect_timeout=5) as conn:
        return conn.execute("SHOW server_version").fetchone()[0].split()[0]


def bench_redis_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        fail(f"REDIS_URL must be a redis:// URL, not {parts.scheme}://")
    if REDIS_DB == "same":
        return url
    if not REDIS_DB.isdigit():
        fail(f"BENCH_REDIS_DB must be a database number or 'same', not {REDIS_DB!r}")
    return urlunsplit(parts._replace(path=f"/{REDIS_DB}"))


def redis_delete_prefixes(url: str, prefixes: list[str]) -> int:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    deleted = 0
    try:
        for prefix in prefixes:
            batch = []
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += client.delete(*batch)
                    batch = []
            if batch:
                deleted += client.delete(*batch)
    finally:
        client.close()
    return deleted


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        *(
            ["--factory", "bench.handoff:patched_application"]
            if LAYER_SOCKET_TIMEOUT or PROFILE
            else ["config.asgi:application"]
        ),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        "--backlog",
        "4096",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def layer_patch() -> None:
    """BENCH_LAYER_SOCKET_TIMEOUT: set socket_timeout on the channel layer's Redis hosts, in
    Django's settings before the layer is first built (this process only)."""
    if not LAYER_SOCKET_TIMEOUT:
        return
    from django.conf import settings

    timeout = None if LAYER_SOCKET_TIMEOUT.lower() == "none" else float(LAYER_SOCKET_TIMEOUT)
    config = settings.CHANNEL_LAYERS["default"].setdefault("CONFIG", {})
    config["hosts"] = [
        {"address": h, "socket_timeout": timeout}
        if isinstance(h, str)
        else {**h, "socket_timeout": timeout}
        for h in config.get("hosts", [])
    ]


def patched_application():
    """The server's ASGI application with ``layer_patch`` and, with BENCH_PROFILE, a cProfile
    of the worker's event-loop thread: SIGUSR2 starts a fresh profile, SIGUSR1 writes it to
    BENCH_PROFILE_DIR/<pid>.prof (uvicorn --factory; runs in each worker)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    layer_patch()
    folder = os.environ.get("BENCH_PROFILE_DIR")
    if PROFILE and folder:
        import cProfile

        state = {"profile": cProfile.Profile()}

        def restart(*_):
            state["profile"].disable()
            state["profile"] = cProfile.Profile()
            state["profile"].enable()

        def dump(*_):
            state["profile"].disable()
            state["profile"].dump_stats(os.path.join(folder, f"{os.getpid()}.prof"))

        signal.signal(signal.SIGUSR2, restart)
        signal.signal(signal.SIGUSR1, dump)
    from config.asgi import application

    return application


def kill_server(process: subprocess.Popen | None) -> None:
    """SIGKILL the server's process group: its sockets drop at once and no disconnect handler
    runs (the bench resets presence and the layer's keys itself between phases)."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


async def wait_ready(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(f"GET /accounts/login/ HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            if line.startswith(b"HTTP/1.1 "):
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


def rss_bytes(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes, from /proc/<pid>/status."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _unit = line.split()
                values[key[:-1]] = int(amount) * 1024
    return values["VmRSS"], values["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


def read_profiles(folder: str) -> list[str]:
    """The workers' profiles (merged), top functions by own time, and the files removed."""
    import io
    import pstats

    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".prof")]
    if not files:
        return ["(no server profile written)"]
    out = io.StringIO()
    stats = pstats.Stats(*files, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(22)
    for path in files:
        os.remove(path)
    text = out.getvalue().splitlines()
    first = next((i for i, line in enumerate(text) if "function calls" in line), 0)
    return [line for line in text[first:] if line.strip()]


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


# --- set-up (synchronous, before the event loop) -----------------------------------------------


def seed(agents: int, approvers: int) -> dict:
    """The demo tenant with business hours all week; ``agents`` people with the agent role and
    ``approvers`` with only the approver role, each with a signed-in session."""
    import datetime as dt

    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password
    from django.test import Client
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from agents.models import Agent
    from core.models import (
        BusinessHours,
        Membership,
        PersonSession,
        Tenant,
    )
    from core.sessions import SessionStore
    from stacks.demo import seed_demo

    seed_demo()
    tenant = Tenant.objects.get(slug="demo")
    BusinessHours.objects.filter(tenant=tenant).delete()
    BusinessHours.objects.bulk_create(
        BusinessHours(tenant=tenant, weekday=day, opens=dt.time(0), closes=dt.time(0))
        for day in range(7)
    )
    tenant.holidays.all().delete()
    supervisor = Agent.objects.get(tenant=tenant, slug="agent-supervisor")

    user_model = get_user_model()
    unusable = make_password(None)  # these people sign in by session only; no password hash
    names = [f"bench-agent-{i:04d}" for i in range(agents)]
    names += [f"bench-approver-{i:04d}" for i in range(approvers)]
    user_model.objects.bulk_create(
        user_model(username=name, password=unusable, first_name=name) for name in names
    )
    users = {u.username: u for u in user_model.objects.filter(username__in=names)}
    Membership.objects.bulk_create(
        Membership(
            tenant=tenant,
            user=users[name],
            is_agent=name.startswith("bench-agent-"),
            is_approver=name.startswith("bench-approver-"),
        )
        for name in names
    )
    # One session through the test client's force_login (what login() writes), the rest in bulk
    # with the same data and encoding: login() for 2,500 people would only cost set-up time.
    client = Client()
    client.force_login(users[names[0]])
    first_key = client.cookies["sessionid"].value
    store = SessionStore()
    expires = timezone.now() + dt.timedelta(hours=2)
    backend = "django.contrib.auth.backends.ModelBackend"
    sessions, cookies = [], {names[0]: first_key}
    for name in names[1:]:
        user = users[name]
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: backend,
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        sessions.append(
            PersonSession(
                session_key=key,
                session_data=store.encode(data),
                expire_date=expires,
                user_id=user.pk,
            )
        )
        cookies[name] = key
    PersonSession.objects.bulk_create(sessions, batch_size=1000)
    return {
        "tenant": tenant,
        "supervisor": supervisor,
        "agents": [cookies[n] for n in names[:agents]],
        "approvers": [cookies[n] for n in names[agents:]],
    }


class Writer:
    """Opens handoffs through the pipeline and stamps the COMMIT of each handoff row."""

    def __init__(self, tenant, supervisor):
        from django.db.models.signals import post_save

        from handover.models import Handoff

        self.tenant = tenant
        self.supervisor = supervisor
        self.pending: list[tuple[int, float]] = []
        self.commits: dict[int, float] = {}
        self.sends: list[tuple[str, str, float, float]] = []
        self.number = 0
        post_save.connect(self._saved, sender=Handoff, weak=False)

    def _saved(self, sender, instance, created, **kwargs) -> None:
        if created:
            self.pending.append(instance.pk)

    def _install(self) -> None:
        """Wrap this thread's connection: stamp the moment COMMIT returns, before Django runs
        the on_commit hooks (deliver_offer among them)."""
        from django.db import connections

        connection = connections["default"]
        if getattr(connection, "_bench_wrapped", False):
            return
        original = type(connection).commit

        def commit():
            original(connection)
            now = time.time()
            for handoff_id in self.pending:
                self.commits[handoff_id] = now
            self.pending.clear()

        connection.commit = commit
        connection._bench_wrapped = True

    def install_layer_timer(self) -> None:
        """Time every group_send this process makes (deliver_offer's among them)."""
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        original = layer.group_send

        async def group_send(group, message):
            began = time.time()
            await original(group, message)
            self.sends.append((group, message.get("event", {}).get("type", ""), began, time.time()))

        layer.group_send = group_send

    def conversation(self):
        from conversations.services import conversation_start

        self.number += 1
        conversation, _ = conversation_start(
            tenant=self.tenant,
            agent=self.supervisor,
            channel="web",
            customer={"id": f"bench-{self.number}", "name": f"Customer {self.number}"},
        )
        return conversation

    def escalate(self, conversation) -> dict:
        from handover.models import Handoff
        from orchestration.turns import conversation_receive_message

        self._install()
        self.sends.clear()
        conversation_receive_message(conversation=conversation, text=ESCALATE_TEXT)
        returned = time.time()
        handoff = Handoff.objects.filter(conversation=conversation).order_by("-pk").first()
        if handoff is None:
            return {"id": None, "mode": "none"}
        offered = [s for s in self.sends if s[1] == "handoff.offered"]
        return {
            "id": handoff.pk,
            "mode": handoff.mode,
            "created": handoff.created_at.timestamp(),
            "commit": self.commits.get(handoff.pk),
            "returned": returned,
            "send_began": offered[0][2] if offered else None,
            "send_ended": offered[0][3] if offered else None,
        }

    def resolve_open(self) -> int:
        """Close the open handoffs in the database (no socket event): an inbox snapshot with an
        open handoff cannot be encoded (see the report), so the bench clears them before
        sockets connect."""
        from django.utils import timezone

        from handover.models import OPEN_STATUSES, Handoff

        return Handoff.objects.filter(tenant=self.tenant, status__in=OPEN_STATUSES).update(
            status="resolved", resolved_at=timezone.now()
        )

    def open_count(self) -> int:
        from handover.models import OPEN_STATUSES, Handoff

        return Handoff.objects.filter(tenant=self.tenant, status__in=OPEN_STATUSES).count()

    def reset(self) -> None:
        """Between phases: nobody online, no open handoff (the server was killed)."""
        from handover.models import Presence

        Presence.objects.filter(tenant=self.tenant).delete()
        self.resolve_open()

    async def probe(self) -> None:
        """A bare event to every inbox socket of the tenant through the layer: an
        ``approval.requested`` (approvers' sockets forward it as it is; the inbox forwards no
        type the permission matrix does not give the socket's roles), counted by type."""
        from channels.layers import get_channel_layer

        from core.events import tenant_inbox_group

        await get_channel_layer().group_send(
            tenant_inbox_group(self.tenant.pk),
            {
                "type": "broadcast",
                "event": {"type": "approval.requested", "approvalId": 0},
            },
        )


PROBE = "approval.requested"  # the type of the probe event (Writer.probe)


# --- phases ------------------------------------------------------------------------------------


class Bench:
    def __init__(self, env, clients: list[ClientHandle], writer: Writer, redis_url, prefixes):
        self.env = env
        self.clients = clients
        self.writer = writer
        self.redis_url = redis_url
        self.prefixes = prefixes
        self.done: dict[int, set] = defaultdict(set)
        self.done_event = asyncio.Event()
        self.server: subprocess.Popen | None = None
        self.workers = 0

    def on_done(self, client, handoff_id) -> None:
        self.done[handoff_id].add(id(client))
        self.done_event.set()

    async def start(self, workers: int) -> tuple[str, str]:
        port = free_port()
        self.workers = workers
        self.server = start_server(self.env, port, workers)
        await wait_ready(port, self.server)
        return f"ws://{HOST}:{port}/ws/inbox/", f"http://{HOST}:{port}"

    async def stop(self) -> None:
        from asgiref.sync import sync_to_async

        kill_server(self.server)
        self.server = None
        await asyncio.gather(*(c.call("close", None, 2.0, timeout=15) for c in self.clients))
        await asyncio.gather(*(c.call("reset", timeout=10) for c in self.clients))
        await sync_to_async(self.writer.reset)()
        # the layer's groups and queues of the killed server (this run's prefix only)
        await asyncio.to_thread(redis_delete_prefixes, self.redis_url, [self.prefixes["channels"]])

    async def connect(self, url: str, origin: str, people: list[tuple[int, str]], bound: float):
        """Spread ``people`` ((index, session key)) over the client processes; connect them
        all at once (CONNECT_CONCURRENCY handshakes in flight per process), bounded."""
        shares: list[list[tuple[int, str]]] = [[] for _ in self.clients]
        for n, person in enumerate(people):
            shares[n % len(self.clients)].append(person)
        began = time.perf_counter()
        replies = await asyncio.gather(
            *(
                c.call("connect", url, origin, share, bound, timeout=bound + 60)
                for c, share in zip(self.clients, shares, strict=True)
            )
        )
        ok, failures, times = 0, Counter(), []
        for _, n, failed, took, _ in replies:
            ok += n
            failures.update(failed)
            times += took
        return {
            "ok": ok,
            "asked": len(people),
            "failures": dict(failures),
            "times": times,
            "wall": time.perf_counter() - began,
        }

    async def close(self, indices: list[int]) -> None:
        await asyncio.gather(*(c.call("close", indices, 2.0, timeout=15) for c in self.clients))

    async def stats(self) -> dict:
        replies = await asyncio.gather(*(c.call("stats", timeout=60) for c in self.clients))
        other: Counter = Counter()
        closed: Counter = Counter()
        for client, reply in zip(self.clients, replies, strict=True):
            client.open = reply[3]
            client.hearing = reply[6]
            other.update(reply[4])
            closed.update(reply[5])
        return {
            "presence": sum(r[1] for r in replies),
            "last_presence": max(r[2] for r in replies),
            "open": sum(r[3] for r in replies),
            "other": other,
            "closed": closed,
        }

    async def settle(self, bound: float) -> dict:
        """Wait until no socket has had a presence event for QUIET_SECONDS (bounded)."""
        began = time.monotonic()
        while True:
            stats = await self.stats()
            last = stats["last_presence"]
            if time.time() - last >= QUIET_SECONDS if last else True:
                stats["settled"] = True
                break
            if time.monotonic() - began >= bound:
                stats["settled"] = False
                break
            await asyncio.sleep(0.25)
        stats["waited"] = time.monotonic() - began
        return stats

    async def handoffs(self, count: int, bound: float) -> dict:
        from asgiref.sync import sync_to_async

        writer = self.writer
        await self.stats()  # refreshes each client's count of open sockets
        listening = [c for c in self.clients if c.hearing]
        sockets = sum(c.hearing for c in listening)
        made: list[dict] = []
        cpu_before = self.cpu()
        began = time.monotonic()
        for _ in range(count):
            if time.monotonic() - began >= bound:
                break
            conversation = await sync_to_async(writer.conversation)()
            info = await sync_to_async(writer.escalate)(conversation)
            made.append(info)
            if info["id"] is None or info["mode"] != "hot":
                continue
            # every handoff made gets the full wait, also past the phase's bound
            wait_until = time.monotonic() + PER_HANDOFF_WAIT
            while len(self.done[info["id"]]) < len(listening):
                left = wait_until - time.monotonic()
                if left <= 0:
                    break
                self.done_event.clear()
                try:
                    await asyncio.wait_for(self.done_event.wait(), left)
                except TimeoutError:
                    break
            await asyncio.sleep(HANDOFF_GAP)  # one after another, not back to back
        await asyncio.sleep(0.5)  # late receipts of the last one
        cpu_after = self.cpu()
        replies = await asyncio.gather(*(c.call("collect", timeout=30) for c in self.clients))
        receipts: dict[int, list[float]] = defaultdict(list)
        for _, offers in replies:
            for handoff_id, times in offers.items():
                receipts[handoff_id] += times
        return {
            "made": made,
            "receipts": receipts,
            "sockets": sockets,
            "seconds": time.monotonic() - began,
            "cpu": {k: cpu_after[k] - cpu_before[k] for k in cpu_before},
        }

    def signal_workers(self, signum) -> None:
        if not PROFILE or self.server is None:
            return
        pids = children(self.server.pid) if self.workers > 1 else [self.server.pid]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the server's workers, the client processes and this process
        (the writer: the pipeline and its thread, the main loop)."""
        server = 0.0
        if self.server is not None:
            pids = children(self.server.pid) if self.workers > 1 else [self.server.pid]
            server = sum(cpu_seconds(p) for p in pids)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "server": server,
            "clients": sum(cpu_seconds(c.process.pid) for c in self.clients),
            "writer": usage.ru_utime + usage.ru_stime,
        }

    async def measure(
        self,
        label: str,
        connected: dict,
        settle_bound: float,
        start: dict,
        handoff_bound: float = HANDOFF_SECONDS,
    ):
        log(
            f"{label}: {connected['ok']}/{connected['asked']} new sockets in "
            f"{connected['wall']:.1f} s; waiting for the presence broadcasts to die down"
        )
        settled = await self.settle(settle_bound)
        log(
            f"{label}: {'quiet' if settled['settled'] else 'NOT quiet'} after "
            f"{settled['waited']:.1f} s more ({settled['presence'] - start['presence']} presence "
            f"events so far); {HANDOFFS} handoffs to {settled['open']} sockets"
        )
        self.signal_workers(signal.SIGUSR2)
        result = await self.handoffs(HANDOFFS, handoff_bound)
        self.signal_workers(signal.SIGUSR1)
        after = await self.stats()
        if PROFILE:
            await asyncio.sleep(1.0)
            result["server_profile"] = read_profiles(self.env["BENCH_PROFILE_DIR"])
        result.update(
            label=label,
            workers=self.workers,
            connected=connected,
            settled=settled,
            storm=settled["presence"] - start["presence"],
            presence_during=after["presence"] - settled["presence"],
            closed=dict(after["closed"] - start["closed"]),
            other=dict(after["other"] - start["other"]),
        )
        return result

    async def latency_run(self, agents: list[str], approvers: list[str]) -> dict:
        """One server (WORKERS workers) for three measurements, in this order: SMALL agents;
        the same plus LARGE-SMALL approver-only people (no presence storm); then the approvers
        leave and LARGE-SMALL more agents join (LARGE agents). Before each group of connects
        the open handoffs are resolved in the database (a snapshot with one fails)."""
        from asgiref.sync import sync_to_async

        small, large = AGENT_COUNTS
        log(f"latency: starting uvicorn with {WORKERS} workers")
        url, origin = await self.start(WORKERS)
        results: dict = {"phases": []}
        try:
            start = await self.stats()
            connected = await self.connect(
                url, origin, [(i, agents[i]) for i in range(small)], CONNECT_SECONDS
            )
            results["phases"].append(
                await self.measure(f"{small} agents", connected, SETTLE_FIRST_SECONDS, start)
            )

            # does an inbox socket get its snapshot while handoffs are open?
            open_now = await sync_to_async(self.writer.open_count)()
            check = await self.connect(url, origin, [(2 * APPROVERS_FROM, approvers[-1])], 15)
            await self.close([2 * APPROVERS_FROM])
            results["snapshot_check"] = {"open": open_now, **check}
            await sync_to_async(self.writer.resolve_open)()

            extra = [(APPROVERS_FROM + i, approvers[i]) for i in range(large - small)]
            start = await self.stats()
            connected = await self.connect(url, origin, extra, CONNECT_SECONDS)
            label = f"{small} agents + {large - small} approvers"
            results["phases"].append(await self.measure(label, connected, SETTLE_SECONDS, start))
            await self.close([i for i, _ in extra])
            await sync_to_async(self.writer.resolve_open)()

            # the presence storm of this step grows with the square of the agents: the step is
            # bounded tighter (LARGE_*), it cannot settle within the run anyway
            start = await self.stats()
            connected = await self.connect(
                url, origin, [(i, agents[i]) for i in range(small, large)], LARGE_CONNECT_SECONDS
            )
            results["phases"].append(
                await self.measure(
                    f"{large} agents",
                    connected,
                    LARGE_SETTLE_SECONDS,
                    start,
                    handoff_bound=LARGE_HANDOFF_SECONDS,
                )
            )
        finally:
            await self.stop()
        return results

    async def idle_phase(self, cookies: list[str]) -> dict:
        log(f"idle: starting uvicorn with 1 worker; {len(cookies)} idle sockets")
        url, origin = await self.start(1)
        pid = self.server.pid
        try:
            await asyncio.sleep(1.0)
            fresh = rss_bytes(pid)
            # one socket opened and closed: DB pool, Redis connection, lazy imports are warm
            await self.clients[0].call("connect", url, origin, [(0, cookies[0])], 10, timeout=40)
            await self.clients[0].call("close", None, 2.0, timeout=10)
            await asyncio.sleep(1.0)
            warm = rss_bytes(pid)
            fds_before = open_fds(pid)
            start = await self.stats()
            connected = await self.connect(
                url, origin, list(enumerate(cookies)), IDLE_CONNECT_SECONDS
            )
            log(
                f"idle: {connected['ok']} connected in {connected['wall']:.1f} s; holding "
                f"{IDLE_HOLD_SECONDS:.0f} s"
            )
            opened = (await self.stats())["open"]
            await asyncio.sleep(IDLE_HOLD_SECONDS)
            after = rss_bytes(pid)
            fds_after = open_fds(pid)
            end = await self.stats()
            # do the sockets still hear the channel layer after the idle hold?
            await self.writer.probe()
            await asyncio.sleep(3.0)
            probed = (await self.stats())["other"][PROBE] - end["other"][PROBE]
        finally:
            await self.stop()
        return {
            "fresh": fresh,
            "warm": warm,
            "after": after,
            "connected": connected,
            "fds": (fds_before, fds_after),
            "opened": opened,
            "still_open": end["open"],
            "probed": probed,
            "closed": dict(end["closed"] - start["closed"]),
        }


# --- what one presence event and one connect cost the server, measured in this process ---------


def _bench_agents(limit: int):
    from django.contrib.auth import get_user_model

    return list(
        get_user_model()
        .objects.filter(username__startswith="bench-agent-")
        .order_by("username")[:limit]
    )


def _set_presence(tenant, n: int) -> None:
    from django.utils import timezone

    from handover.models import Presence

    Presence.objects.filter(tenant=tenant).delete()
    now = timezone.now()
    Presence.objects.bulk_create(
        Presence(tenant=tenant, user=u, sockets=1, last_seen=now) for u in _bench_agents(n)
    )


def _median_ms(fn, repeat: int = 15) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return percentile(samples, 50)


def _sync_costs(tenant) -> dict:
    """Median time of the reads an inbox socket does, with the current presence rows:
    ``_online`` (run by EVERY socket for EVERY presence event), the snapshot (once per
    connect) and ``presence_join`` (once per agent connect)."""
    from handover.presence import online_names as _online
    from handover.presence import presence_join
    from orchestration.inbox import inbox_snapshot

    users = _bench_agents(2)
    return {
        "online": _median_ms(lambda: _online(tenant)),
        "snapshot": _median_ms(lambda: inbox_snapshot(users[0], tenant)),
        "join": _median_ms(lambda: presence_join(user=users[1], tenant=tenant)),
        "event_bytes": len(json.dumps({"type": "presence", "online": _online(tenant)})),
    }


async def server_costs(tenant) -> dict:
    """What the server does per presence event and per connect, measured here: the reads
    directly, and ``_online`` the way a consumer calls it (``database_sync_to_async`` from an
    event loop: a hop to the one database thread, close_old_connections, the pool)."""
    from asgiref.sync import sync_to_async
    from channels.db import database_sync_to_async

    from handover.presence import online_names as _online

    out = {}
    for n in AGENT_COUNTS:
        await sync_to_async(_set_presence)(tenant, n)
        costs = await sync_to_async(_sync_costs)(tenant)
        samples = []
        for _ in range(16):
            began = time.perf_counter()
            await database_sync_to_async(_online)(tenant)
            samples.append((time.perf_counter() - began) * 1000)
        costs["online_async"] = percentile(samples[1:], 50)
        out[n] = costs
    await sync_to_async(_set_presence)(tenant, 0)
    return out


# --- main --------------------------------------------------------------------------------------

SETTLE_FIRST_SECONDS = float(os.environ.get("BENCH_SETTLE_FIRST_SECONDS", "60"))
IDLE_HOLD_SECONDS = float(os.environ.get("BENCH_IDLE_HOLD_SECONDS", "10"))


def main() -> None:
    url = os.environ.get("DATABASE_URL", "").strip()
    redis_url = os.environ.get("REDIS_URL", "").strip()
    if not url or not redis_url:
        fail(
            "set DATABASE_URL (postgres://user@host:5432/db) and REDIS_URL (redis://host:6379/0): "
            f"the bench creates and drops its own database '{BENCH_DB}' on that server and uses "
            "Redis under key prefixes of its own, in its own logical database (BENCH_REDIS_DB)."
        )
    maintenance_url, bench_url = database_urls(url, BENCH_DB)
    redis_url = bench_redis_url(redis_url)
    try:
        import redis

        with redis.Redis.from_url(redis_url, socket_timeout=5) as probe:
            redis_keys = probe.dbsize()
    except Exception as exc:
        fail(f"cannot reach Redis at {redis_url}: {exc}")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = IDLE_SOCKETS * 2 + 1000
    if soft < need and (hard == resource.RLIM_INFINITY or hard > soft):
        target = need if hard == resource.RLIM_INFINITY else min(hard, need)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if fd_limit < IDLE_SOCKETS + 500:
        fail(f"the file-descriptor limit {fd_limit} is too low for {IDLE_SOCKETS} sockets")

    began = time.perf_counter()
    load_before = os.getloadavg()
    code = _code_version()
    tag = f"bench-handoff-{os.getpid()}"
    prefixes = {"channels": f"{tag}-ch", "cache": f"{tag}-cache"}
    try:
        version = server_version(maintenance_url)
        recreate_database(maintenance_url, BENCH_DB, create=True)
    except Exception as exc:
        fail(f"cannot create the database {BENCH_DB} on {urlsplit(url).hostname}: {exc}")
    env = {
        **os.environ,
        "DATABASE_URL": bench_url,
        "REDIS_URL": redis_url,
        "CHANNELS_PREFIX": prefixes["channels"],
        "CACHE_PREFIX": prefixes["cache"],
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "DEBUG": "0",
        # plain HTTP on loopback, as behind a proxy that ends TLS (production mode otherwise
        # redirects every request to https)
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECRET_KEY": SECRET,
        "SECRETS_KEYS": STORE_KEYS,
        "ALLOWED_HOSTS": f"{HOST},localhost",
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS", "config.settings"),
        "LOG_LEVEL": "WARNING",
    }
    profile_dir = None
    if PROFILE:
        import tempfile

        profile_dir = tempfile.mkdtemp(prefix="bench-handoff-profile-")
        env["BENCH_PROFILE_DIR"] = profile_dir
    os.environ.update(env)

    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    clients: list[ClientHandle] = []
    results: dict = {}
    setup = 0.0
    try:
        import django

        django.setup()
        layer_patch()
        from django.core.management import call_command

        log(f"migrating {BENCH_DB}")
        call_command("migrate", verbosity=0)
        small, large = AGENT_COUNTS
        approvers = max(IDLE_SOCKETS, large - small)
        log(f"seeding: {large} agents and {approvers} approvers, each with a session")
        people = seed(large, approvers)
        writer = Writer(people["tenant"], people["supervisor"])
        setup = time.perf_counter() - began
        clients = [ClientHandle(ctx) for _ in range(CLIENT_PROCS)]
        for client in clients:
            if not client.conn.poll(30):
                raise RuntimeError("a client process did not start")
            client.conn.recv()
        results = asyncio.run(run_phases(env, clients, writer, redis_url, prefixes, people))
    finally:
        for client in clients:
            client.stop()
        try:
            from django.db import connections

            for connection in connections.all():
                connection.close()
                close_pool = getattr(connection, "close_pool", None)
                if close_pool:
                    close_pool()
        except Exception:
            pass
        recreate_database(maintenance_url, BENCH_DB, create=False)
        if profile_dir:
            import shutil

            shutil.rmtree(profile_dir, ignore_errors=True)
        try:
            redis_delete_prefixes(redis_url, list(prefixes.values()))
        except Exception as exc:
            print(f"  could not delete this run's Redis keys: {exc}", file=sys.stderr)

    figures = report(
        results,
        version=version,
        setup=setup,
        total=time.perf_counter() - began,
        load=load_before,
        load_after=os.getloadavg(),
        redis_url=redis_url,
        redis_keys=redis_keys,
        code=code,
        fd_limit=fd_limit,
    )
    knobs = [
        f"{name}={os.environ[name]}"
        for name in ("BENCH_AGENTS", "BENCH_IDLE", "BENCH_HANDOFFS", "BENCH_PHASES")
        if name in os.environ
    ]
    emit(
        "handoff",
        figures,
        command_line("bench/handoff.py", env=[*knobs, "DATABASE_URL=...", "REDIS_URL=..."]),
    )


async def run_phases(env, clients, writer, redis_url, prefixes, people) -> dict:
    from asgiref.sync import sync_to_async

    loop = asyncio.get_running_loop()
    bench = Bench(env, clients, writer, redis_url, prefixes)
    for client in clients:
        client.attach(loop, bench.on_done)
    writer.install_layer_timer()
    results: dict = {}
    try:
        # warm the writer: tenant config cache, detectors, the layer's Redis connection
        for _ in range(2):
            conversation = await sync_to_async(writer.conversation)()
            await sync_to_async(writer.escalate)(conversation)
        await sync_to_async(writer.reset)()

        if "latency" in PHASES:
            results["latency"] = await bench.latency_run(people["agents"], people["approvers"])
        if "idle" in PHASES:
            results["idle"] = await bench.idle_phase(people["approvers"][:IDLE_SOCKETS])
        log("measuring the server's per-event reads in process")
        results["costs"] = await server_costs(writer.tenant)
        if PROFILE:
            results["profile"] = await profile_writer(bench)
    finally:
        kill_server(bench.server)
    return results


async def profile_writer(bench: Bench) -> list[str]:
    """cProfile of the writer's side of 20 escalations (an agent marked online by hand so the
    offers are hot; the group is empty: no server runs now)."""
    import cProfile
    import io
    import pstats

    from asgiref.sync import sync_to_async

    def run():
        from django.contrib.auth import get_user_model

        from handover.presence import presence_join

        user = get_user_model().objects.filter(username__startswith="bench-agent-").first()
        presence_join(user=user, tenant=bench.writer.tenant)
        profiler = cProfile.Profile()
        for _ in range(20):
            conversation = bench.writer.conversation()
            profiler.enable()
            bench.writer.escalate(conversation)
            profiler.disable()
        bench.writer.reset()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(25)
        return out.getvalue().splitlines()

    lines = await sync_to_async(run)()
    return ["cProfile of the writer, 20 escalations (cumulative)"] + ["  " + x for x in lines]


# --- report ------------------------------------------------------------------------------------


def ms(value: float) -> str:
    if value != value:  # nan
        return "-"
    return f"{value:.1f}" if value < 10000 else f"{value / 1000:.1f}s"


def report(results: dict, **info) -> list[dict]:
    """Print the report; return the summary's figures for the RESULT line."""
    import django

    figures: list[dict] = []

    print(
        f"handoff benchmark - PostgreSQL {info['version']} (database {BENCH_DB}, created and "
        f"dropped), Redis channel layer (channels_redis), DEBUG=0\n"
        f"code: git {info['code']}; Python {platform.python_version()}, Django "
        f"{django.get_version()}; {os.cpu_count()} "
        f"CPUs shared by the server, the client processes, the writer, PostgreSQL and Redis; "
        f"1-min load average {info['load'][0]:.1f} before the run, {info['load_after'][0]:.1f} "
        f"after (other processes compete above ~0.5)\n"
        f"server: uvicorn (uvloop, httptools, websockets-sansio), {WORKERS} workers for the "
        f"latency measurements, 1 for the idle sockets; Redis {info['redis_url']} "
        f"({info['redis_keys']} keys there before the run; this run's under its own prefixes); "
        f"redis-py "
        f"{_version('redis')}, channels_redis {_version('channels_redis')}, channels "
        f"{_version('channels')}; sockets held by {CLIENT_PROCS} client "
        f"processes (websockets client, "
        f"{'permessage-deflate as browsers' if DEFLATE else 'NO permessage-deflate'}, Origin "
        f"and session cookie, heartbeat every {HEARTBEAT_SECONDS} s); fd limit {info['fd_limit']}\n"
        f"handoffs: '{ESCALATE_TEXT}' on a new web conversation with the demo supervisor, "
        f"conversation_receive_message in the writer process, one after another (the next when "
        f"every socket has the last, at most {PER_HANDOFF_WAIT:.0f} s, then {HANDOFF_GAP:g} s "
        f"pause)\n"
        + (
            f"channel layer hosts given socket_timeout={LAYER_SOCKET_TIMEOUT} in the server and "
            f"the writer (BENCH_LAYER_SOCKET_TIMEOUT; NOT the product's settings)\n"
            if LAYER_SOCKET_TIMEOUT
            else "channel layer as configured by config/settings.py (redis-py's default socket "
            "timeout)\n"
        )
        + "latency = time.time() when a socket reads handoff.offered - time.time() when COMMIT of "
        "the transaction that created the handoff row returned (stamped before on_commit hooks)\n"
    )
    latency = results.get("latency") or {"phases": []}
    for phase in latency["phases"]:
        print("\n".join(_latency_rows(phase)))
        print()
    check = latency.get("snapshot_check")
    if check:
        verdict = "ok" if check["ok"] else f"FAILED {check['failures']}"
        print(
            f"inbox connect while {check['open']} handoffs are open (snapshot lists them): "
            f"{verdict}; the bench resolves open handoffs in the database before each group of "
            "connects\n"
        )
    idle = results.get("idle")
    if idle:
        print("\n".join(_idle_rows(idle)))
        print()
    costs = results.get("costs")
    if costs:
        print("server reads per inbox event, measured in the writer process (median ms):")
        for n, c in costs.items():
            print(
                f"  {n:>4} agents online: _online (every socket, every presence event) "
                f"{c['online']:.2f} ms, through database_sync_to_async {c['online_async']:.2f} ms; "
                f"presence event {c['event_bytes']} bytes; inbox_snapshot {c['snapshot']:.2f} ms; "
                f"presence_join {c['join']:.2f} ms"
            )
        print()

    print(f"{'summary':<52} {'measured':<24} aim")
    print("-" * 96)
    small = AGENT_COUNTS[0]
    for phase in latency["phases"]:
        lat, label = phase["lat"], phase["label"]
        aim_here = label == f"{small} agents"
        for name, q, aim in (("p50", 50, AIM_P50_MS), ("p99", 99, AIM_P99_MS)):
            value = percentile(lat, q)
            verdict = ""
            if aim_here:
                ok = bool(lat) and value <= aim and not phase["lost"]
                verdict = f"<= {aim:.0f} ms  {'ok' if ok else 'MISSED'}"
            text = f"{ms(value)} ms" + (f" ({phase['lost']} lost)" if phase["lost"] else "")
            print(f"{label + ': commit -> every socket ' + name:<52} {text:<24} {verdict}")
            figures.append(
                figure(
                    f"{label}: commit -> every socket {name}",
                    value,
                    "ms",
                    f"<= {aim:.0f}, none lost" if aim_here else "",
                    (bool(lat) and value <= aim and not phase["lost"]) if aim_here else None,
                )
            )
        figures.append(
            figure(
                f"{label}: offers lost (socket never heard)",
                phase["lost"],
                "",
                "= 0" if aim_here else "",
                phase["lost"] == 0 if aim_here else None,
            )
        )
    if idle:
        n = idle["connected"]["ok"]
        rss = idle["after"][0]
        ok = n >= IDLE_SOCKETS and idle["still_open"] >= IDLE_SOCKETS and rss < AIM_IDLE_BYTES
        text = f"{rss / 2**20:.0f} MiB, {idle['still_open']} open"
        print(
            f"{f'{IDLE_SOCKETS} idle sockets in 1 process: VmRSS':<52} {text:<24} "
            f"< 1024 MiB  {'ok' if ok else 'MISSED'}"
        )
        figures.append(
            figure(
                f"{IDLE_SOCKETS} idle sockets in 1 process: VmRSS (all open)",
                rss / 2**20,
                "MiB",
                "< 1024",
                ok,
            )
        )
    if idle:
        text = f"{idle['probed']} of {idle['still_open']}"
        ok = idle["probed"] >= IDLE_SOCKETS
        print(
            f"{f'idle sockets reached by an event after {IDLE_HOLD_SECONDS:.0f} s':<52} "
            f"{text:<24} all {IDLE_SOCKETS}  {'ok' if ok else 'MISSED'}"
        )
        figures.append(
            figure(
                f"idle sockets reached by an event after {IDLE_HOLD_SECONDS:.0f} s",
                idle["probed"],
                "sockets",
                f"= {IDLE_SOCKETS}",
                ok,
            )
        )
    print(f"\nset-up {info['setup']:.1f} s, whole run {info['total']:.1f} s")
    if results.get("profile"):
        print()
        print("\n".join(results["profile"]))
    return figures


def _code_version() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except OSError:
        return "?"
    return f"{head}" + (f" with {len(changed)} tracked files changed" if changed else "")


def _version(package: str) -> str:
    from importlib.metadata import version

    try:
        return version(package)
    except Exception:
        return "?"


def _latency_rows(phase: dict) -> list[str]:
    made = phase["made"]
    receipts = phase["receipts"]
    sockets = phase["sockets"]
    hot = [m for m in made if m["mode"] == "hot" and m.get("commit")]
    lat: list[float] = []
    slowest: list[float] = []
    spread: list[float] = []
    first: list[float] = []
    created_to_commit, commit_to_send, send_took, send_to_first, returned = [], [], [], [], []
    lost = 0
    for m in hot:
        these = [(t - m["commit"]) * 1000 for t in receipts.get(m["id"], [])]
        lost += max(0, sockets - len(these))
        lat += these
        if these:
            slowest.append(max(these))
            first.append(min(these))
            spread.append(max(these) - min(these))
        created_to_commit.append((m["commit"] - m["created"]) * 1000)
        returned.append((m["returned"] - m["commit"]) * 1000)
        if m.get("send_began"):
            commit_to_send.append((m["send_began"] - m["commit"]) * 1000)
            send_took.append((m["send_ended"] - m["send_began"]) * 1000)
            if these:
                send_to_first.append(min(these) - (m["send_ended"] - m["commit"]) * 1000)
    phase["lat"] = lat
    phase["lost"] = lost
    c, s = phase["connected"], phase["settled"]
    modes = Counter(m["mode"] for m in made)
    lines = [
        f"== {phase['label']}: {sockets} inbox sockets, uvicorn {phase['workers']} workers ==",
        f"connect: {c['ok']}/{c['asked']} new sockets open in {c['wall']:.1f} s (handshake to "
        f"snapshot p50 {ms(percentile(c['times'], 50))} ms, p99 "
        f"{ms(percentile(c['times'], 99))} ms)"
        + (f"; failed: {c['failures']}" if c["failures"] else ""),
        f"presence storm: {phase['storm']} presence events reached the sockets while connecting; "
        + (
            f"quiet {s['waited']:.1f} s after the last connect"
            if s["settled"]
            else f"STILL ARRIVING {s['waited']:.0f} s after the last connect (bound)"
        )
        + f"; {phase['presence_during']} more during the handoffs",
        f"handoffs: {len(made)} in {phase['seconds']:.1f} s (modes {dict(modes)}); "
        f"{len(lat)} (handoff, socket) receipts, {lost} missing"
        + (f"; sockets closed by the server: {phase['closed']}" if phase["closed"] else ""),
        f"commit -> handoff.offered on a socket: p50 {ms(percentile(lat, 50))} ms, p99 "
        f"{ms(percentile(lat, 99))} ms, max {ms(max(lat) if lat else float('nan'))} ms over "
        f"{len(lat)} pairs",
        f"slowest socket per handoff: p50 {ms(percentile(slowest, 50))} ms, max "
        f"{ms(max(slowest) if slowest else float('nan'))} ms; first socket p50 "
        f"{ms(percentile(first, 50))} ms; first-to-last spread p50 {ms(percentile(spread, 50))} ms",
        "  slowest socket of each handoff, in order (ms): " + " ".join(ms(x) for x in slowest),
        "  sockets reached by each handoff, in order: "
        + " ".join(str(len(receipts.get(m["id"], []))) for m in hot),
        f"  writer, medians: created_at -> COMMIT {ms(percentile(created_to_commit, 50))} ms; "
        f"COMMIT -> deliver_offer's group_send starts {ms(percentile(commit_to_send, 50))} ms; "
        f"group_send {ms(percentile(send_took, 50))} ms; group_send returned -> first socket "
        f"{ms(percentile(send_to_first, 50))} ms; COMMIT -> conversation_receive_message returns "
        f"{ms(percentile(returned, 50))} ms",
    ]
    cpu = phase.get("cpu")
    if cpu and made and lat:
        deliveries = max(1, len(lat))
        lines.append(
            f"  CPU while the handoffs ran ({phase['seconds']:.1f} s wall): server workers "
            f"{cpu['server']:.2f} s ({cpu['server'] * 1e6 / deliveries:.0f} us per socket "
            f"delivery), client processes {cpu['clients']:.2f} s "
            f"({cpu['clients'] * 1e6 / deliveries:.0f} us per receipt), writer "
            f"{cpu['writer']:.2f} s ({cpu['writer'] * 1000 / len(made):.1f} ms per handoff)"
        )
    if phase.get("other"):
        lines.append(f"  other events on the sockets: {phase['other']}")
    if phase.get("server_profile"):
        lines.append("  cProfile of the server workers' event-loop threads during these handoffs:")
        lines += ["    " + line for line in phase["server_profile"]]
    return lines


def _idle_rows(idle: dict) -> list[str]:
    c = idle["connected"]
    fresh, warm, after = idle["fresh"][0], idle["warm"][0], idle["after"][0]
    n = max(1, idle["still_open"])
    return [
        f"== idle: {c['ok']}/{c['asked']} inbox sockets of approver-only people, uvicorn 1 "
        f"worker (pid's VmRSS from /proc) ==",
        f"connect: {c['wall']:.1f} s (handshake to snapshot p50 {ms(percentile(c['times'], 50))} "
        f"ms, p99 {ms(percentile(c['times'], 99))} ms)"
        + (f"; failed: {c['failures']}" if c["failures"] else ""),
        f"held idle {IDLE_HOLD_SECONDS:.0f} s: {idle['opened']} open at the start, "
        f"{idle['still_open']} at the end"
        + (f" (closed by the server: {idle['closed']})" if idle["closed"] else "")
        + f"; then one event sent to the tenant's inbox group reached {idle['probed']} of them",
        f"VmRSS: started {fresh / 2**20:.1f} MiB; after one socket opened and closed "
        f"{warm / 2**20:.1f} MiB; with the sockets {after / 2**20:.1f} MiB (VmHWM "
        f"{idle['after'][1] / 2**20:.1f} MiB); (after - warm) / open sockets = "
        f"{(after - warm) / n / 1024:.1f} KiB per socket; open fds {idle['fds'][0]} -> "
        f"{idle['fds'][1]}",
    ]


if __name__ == "__main__":
    main()

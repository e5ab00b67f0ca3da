"""Benchmark of the orchestrator pipeline on PostgreSQL with the builtin runtime.

    DATABASE_URL=postgres://user@host:5432/db .venv/bin/python bench/pipeline.py [--profile]

Sets itself up: creates a database ``bench_pipeline`` on the server of DATABASE_URL (dropped at
the end, and first if a previous run left it), migrates it, loads the demo tenant, and prints

- messages per second and p50/p99 latency in process, calling ``conversation_receive_message``
  directly and through DRF's ``APIClient`` (the whole API stack without a socket);
- the same over HTTP with 8, 16 and 32 concurrent keep-alive clients (``http.client``, one
  thread each) against an ASGI server it starts as a subprocess (uvicorn, 2 workers) with
  DEBUG=0;
- the operators' view's cost: CPU ms per message in process with metrics and tracing off and
  on (tracing sampled at 10%, spans encoded for OTLP), each in a fresh process, in alternating
  rounds, and the overhead (aim: under 10%);
- the queries of a conversation's 1st, 10th and 50th message (``CaptureQueriesContext``),
  which should not grow with the conversation;
- with REDIS_URL set (issue 17): the floor next to the pipeline on the same server in the same
  run, for each server model of BENCH_SERVER_MODELS (default ``uvicorn,gunicorn``: uvicorn's
  ASGI workers as in production, and gunicorn's gthread WSGI workers, config/wsgi.py, when
  gunicorn is installed). The floor is ``POST /api/v1/bench/floor`` (core/bench_floor.py: API
  key, rate limit, one INSERT; served only with BENCH_FLOOR=1, which only this bench's server
  sets); the pipeline is ``POST .../messages`` with the turn dispatched through the outbox to
  Redis (the agent's run is a worker's, not measured here). Printed: req/s and msgs/s, their
  ratio (aim >= 0.5), p99, and CPU ms per request of the server's processes plus its
  PostgreSQL backends (/proc). The servers run side by side and the measurements alternate in
  BENCH_FLOOR_ROUNDS rounds (default 2), so a neighbour's load falls on each alike;
- SQL statements and Redis commands per customer message through the API on Redis (a
  subprocess, counted as tests/orchestration/test_hot_path.py counts them).

BENCH_ONLY=floor runs only the last two (the server-model question, in about two minutes).

Every measurement is bounded in time (BENCH_SECONDS, default 8 s each; the whole run stays
under about two minutes). ``--profile`` adds a cProfile of the in-process pipeline (top
functions by own time and by cumulative time).

The traffic is a fixed cycle of customer messages that keeps a conversation on the AI path
(routing by handoff rules, a knowledge answer, sometimes a proposed refund), 20 messages per
conversation, then a new conversation; starting conversations counts in the elapsed time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._db import analyze, database_urls, recreate_database  # noqa: E402
from bench._procs import (  # noqa: E402
    STORE_KEYS,
    postgres_seconds,
    postgres_ticks,
    server_cpu_seconds,
)
from bench._result import command_line, emit, figure  # noqa: E402
from tools.stats import percentile  # noqa: E402

# BENCH_DB names the database (bench/run_all gives each bench its own)
BENCH_DB = os.environ.get("BENCH_DB", "bench_pipeline")
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
WARMUP_SECONDS = 2.0
CLIENTS = (8, 16, 32)
SERVER = os.environ.get("BENCH_SERVER", "uvicorn")  # or daphne (one process)
SERVER_WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
# Django runs each ASGI request's sync code in a fresh thread (asgiref ThreadSensitiveContext),
# so a persistent connection (CONN_MAX_AGE > 0) is never reused and stays open until its thread
# is collected: under load PostgreSQL runs out of connections ("too many clients"). The server
# therefore runs with DB_CONN_MAX_AGE=0 (one connection per request), which the report prints.
SERVER_CONN_MAX_AGE = os.environ.get("BENCH_CONN_MAX_AGE", "0")
# Redis for the floor-vs-pipeline runs and the count (the rows before it run without Redis)
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
PER_CONVERSATION = 20
AIM_HTTP_RATE = 400
# floor vs pipeline (issue 17): the pipeline's msgs/s at least this share of the floor's req/s,
# each server model in turn (BENCH_SERVER_MODELS), on Redis (REDIS_URL) as in production
AIM_FLOOR_RATIO = 0.5
FLOOR_PATH = "/api/v1/bench/floor"
FLOOR_CLIENTS = int(os.environ.get("BENCH_FLOOR_CLIENTS", "16"))
SERVER_MODELS = tuple(
    m for m in os.environ.get("BENCH_SERVER_MODELS", "uvicorn,gunicorn").split(",") if m
)
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "8"))
GUNICORN = Path(sys.executable).with_name("gunicorn")
FLOOR_ROUNDS = int(os.environ.get("BENCH_FLOOR_ROUNDS", "2"))
# BENCH_ONLY=floor: only the floor-vs-pipeline runs and the count (the server-model question)
ONLY = os.environ.get("BENCH_ONLY", "")
QUERY_POINTS = (1, 10, 50)

# One cycle of customer messages; each is answered from the demo team's knowledge, consecutive
# ones differ (no "repeated question" stall) and none carries a risk (no hand-over).
MIX = (
    "Hi, I was charged twice for order 4411.",
    "Where can I find my invoice?",
    "The app keeps crashing when I open it.",
    "How do I return an item?",
    "Can I get a receipt for that order?",
)


def fail(message: str) -> None:
    print(f"bench/pipeline.py: {message}", file=sys.stderr)
    sys.exit(2)


# --- database --------------------------------------------------------------------------------


def server_version(maintenance_url: str) -> str:
    import psycopg

    with psycopg.connect(maintenance_url, connect_timeout=5) as conn:
        return conn.execute("SHOW server_version").fetchone()[0].split()[0]


# --- measurements ----------------------------------------------------------------------------


class Result:
    def __init__(
        self,
        label: str,
        latencies_ms: list[float],
        seconds: float,
        errors: int = 0,
        cpu_seconds: float | None = None,
    ):
        self.label = label
        self.latencies = latencies_ms
        self.seconds = seconds
        self.errors = errors
        self.cpu_seconds = cpu_seconds  # this process's CPU time (in-process measurements)

    @property
    def cpu_ms(self) -> str:
        if self.cpu_seconds is None or not self.latencies:
            return ""
        return f"{self.cpu_seconds * 1000 / len(self.latencies):.1f}"

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)

    @classmethod
    def joined(cls, label: str, parts: list[Result]) -> Result:
        """Rounds of one measurement as one."""
        cpu = [r.cpu_seconds for r in parts if r.cpu_seconds is not None]
        return cls(
            label,
            [x for r in parts for x in r.latencies],
            sum(r.seconds for r in parts),
            sum(r.errors for r in parts),
            cpu_seconds=sum(cpu) if cpu else None,
        )


def bench_direct(tenant, agent, seconds: float) -> Result:
    """``conversation_receive_message`` called in a loop, as a view would."""
    from conversations.services import conversation_start
    from orchestration.turns import conversation_receive_message

    latencies: list[float] = []
    start, cpu = time.perf_counter(), time.process_time()
    deadline = start + seconds
    number = 0
    while time.perf_counter() < deadline:
        conversation, _ = conversation_start(
            tenant=tenant, agent=agent, channel="web", customer={"id": f"direct-{number}"}
        )
        for i in range(PER_CONVERSATION):
            begin = time.perf_counter()
            result = conversation_receive_message(conversation=conversation, text=MIX[i % len(MIX)])
            latencies.append((time.perf_counter() - begin) * 1000)
            conversation = result.conversation
            if time.perf_counter() >= deadline:
                break
        number += 1
    return Result(
        "in process: conversation_receive_message",
        latencies,
        time.perf_counter() - start,
        cpu_seconds=time.process_time() - cpu,
    )


def bench_api_client(raw_key: str, seconds: float) -> Result:
    """The same through ``APIClient``: middleware, authentication, serializers, views."""
    from tools.simulation import InProcessTransport

    transport = InProcessTransport(raw_key)
    latencies: list[float] = []
    errors = 0
    start, cpu = time.perf_counter(), time.process_time()
    deadline = start + seconds
    number = 0
    while time.perf_counter() < deadline:
        status, body = transport.request(
            "POST", "/api/v1/conversations", _start_body(f"api-{number}")
        )
        if status != 201:
            errors += 1
            break
        for i in range(PER_CONVERSATION):
            begin = time.perf_counter()
            status, _ = transport.request(
                "POST", f"/api/v1/conversations/{body['id']}/messages", {"text": MIX[i % len(MIX)]}
            )
            latencies.append((time.perf_counter() - begin) * 1000)
            errors += status != 201
            if time.perf_counter() >= deadline:
                break
        number += 1
    return Result(
        "in process: APIClient POST .../messages",
        latencies,
        time.perf_counter() - start,
        errors,
        cpu_seconds=time.process_time() - cpu,
    )


class EncodingExporter:
    """Spans encoded as the OTLP exporter encodes them (protobuf), then dropped: the export's
    CPU without a collector on the network."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans):
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.sdk.trace.export import SpanExportResult

        encode_spans(spans).SerializeToString()
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


OBSERVE_ROUNDS = 2


def observed(mode: str, seconds: float) -> dict[str, list[float]]:
    """``--observe off|on``: this process (a subprocess of the bench, its database set up) sends
    the in-process traffic with the operators' view off (metrics and tracing off) or on
    (metrics on, tracing sampled at 10%, spans encoded as for OTLP by a batch processor); per
    path: [latencies in ms, seconds, CPU seconds of this process]."""
    import django

    django.setup()
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from agents.models import Agent
    from core.models import Tenant
    from core.observability import metrics, tracing

    tenant = Tenant.objects.get(slug="demo")
    agent = Agent.objects.get(tenant=tenant, slug="agent-supervisor")
    raw_key = os.environ["BENCH_RAW_KEY"]
    metrics.metrics_switch(mode == "on")
    provider = None
    if mode == "on":
        processor = BatchSpanProcessor(EncodingExporter())
        provider = tracing.tracing_configure(processor=processor, rate=0.1)
    bench_direct(tenant, agent, 1.0)  # warm: rules, detectors, imports, connections
    out = {}
    for result in (bench_direct(tenant, agent, seconds), bench_api_client(raw_key, seconds)):
        out[result.label] = [result.latencies, result.seconds, result.cpu_seconds]
    if provider is not None:
        provider.force_flush()  # the export's CPU is the process's, counted below
    return out


def bench_observability(env: dict[str, str], raw_key: str, seconds: float) -> list[Result]:
    """The operators' view's cost (core/observability): the same traffic with it off and on,
    each in a fresh process (tracing, once installed in a process, stays), in alternating
    rounds (off, on, then on, off), so that a neighbour's load and the database's growth fall
    on both alike; CPU per message of those processes."""
    rounds: dict[str, list[Result]] = {}
    for number in range(OBSERVE_ROUNDS):
        for mode in ("off", "on") if number % 2 == 0 else ("on", "off"):
            done = subprocess.run(
                [sys.executable, __file__, "--observe", mode],
                cwd=ROOT,
                env={**env, "BENCH_RAW_KEY": raw_key},
                capture_output=True,
                text=True,
                timeout=seconds * 4 + 120,
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("OBSERVE ")]
            if done.returncode or not lines:
                print(f"  note: the {mode} round failed: {done.stderr[-600:]}", file=sys.stderr)
                return []
            for label, (latencies, spent, cpu) in json.loads(lines[-1][8:]).items():
                key = label.replace("in process", f"observability {mode}")
                rounds.setdefault(key, []).append(Result(key, latencies, spent, cpu_seconds=cpu))
    return [Result.joined(label, parts) for label, parts in rounds.items()]


def _start_body(customer: str) -> dict:
    return {"agentId": "agent-supervisor", "channel": "web", "customer": {"id": customer}}


# The process's check for configuration changed elsewhere (core/config_version.py): one query at
# most once a second, whatever the conversation, so it lands on whichever message crosses the
# second; counted apart from the message's own queries.
CONFIG_CHECK_TABLE = '"core_configgeneration"'


def _own_queries(captured) -> tuple[int, int]:
    """(the message's own queries, the configuration checks among them)."""
    checks = sum(CONFIG_CHECK_TABLE in q["sql"] for q in captured.captured_queries)
    return len(captured) - checks, checks


def queries_per_message(tenant, agent, raw_key: str) -> tuple[dict[str, list[int]], int]:
    """Queries of every message of one 50-message conversation, directly and through the API,
    without the once-a-second configuration check; and how many of those checks there were."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.services import conversation_start
    from orchestration.turns import conversation_receive_message
    from tools.simulation import InProcessTransport

    counts: dict[str, list[int]] = {"pipeline": [], "API": []}
    config_checks = 0
    conversation, _ = conversation_start(
        tenant=tenant, agent=agent, channel="web", customer={"id": "queries-direct"}
    )
    states = set()
    for i in range(max(QUERY_POINTS)):
        with CaptureQueriesContext(connection) as captured:
            result = conversation_receive_message(conversation=conversation, text=MIX[i % len(MIX)])
        conversation = result.conversation
        states.add(conversation.state)
        own, checks = _own_queries(captured)
        counts["pipeline"].append(own)
        config_checks += checks
    transport = InProcessTransport(raw_key)
    _, body = transport.request("POST", "/api/v1/conversations", _start_body("queries-api"))
    for i in range(max(QUERY_POINTS)):
        with CaptureQueriesContext(connection) as captured:
            status, answer = transport.request(
                "POST", f"/api/v1/conversations/{body['id']}/messages", {"text": MIX[i % len(MIX)]}
            )
        states.add(answer.get("state") if status == 201 else f"HTTP {status}")
        own, checks = _own_queries(captured)
        counts["API"].append(own)
        config_checks += checks
    if states != {"active"}:
        print(f"  note: the query conversations went through {sorted(states)}", file=sys.stderr)
    return counts, config_checks


# --- HTTP ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], port: int, kind: str = SERVER) -> subprocess.Popen:
    if kind == "gunicorn":
        command = [
            str(GUNICORN),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(SERVER_WORKERS),
            "--worker-class",
            "gthread",
            "--threads",
            str(GUNICORN_THREADS),
            "--backlog",
            "1024",
            "--log-level",
            "warning",
        ]
    elif kind == "daphne":
        command = [
            str(Path(sys.executable).with_name("daphne")),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "-v",
            "0",
            "config.asgi:application",
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(SERVER_WORKERS),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "--backlog",
            "1024",
        ]
    # one key sends every message: API_RATE_LIMIT is off in env (the limit is not measured)
    server_env = {**env, "DB_CONN_MAX_AGE": SERVER_CONN_MAX_AGE}
    return subprocess.Popen(
        command, cwd=ROOT, env=server_env, start_new_session=True, stdout=subprocess.DEVNULL
    )


def server_label(kind: str = SERVER) -> str:
    if kind == "daphne":
        return "daphne, 1 process"
    if kind == "gunicorn":
        return f"gunicorn {SERVER_WORKERS} gthread workers x {GUNICORN_THREADS} threads"
    return f"uvicorn {SERVER_WORKERS} workers"


def stop_server(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def wait_ready(port: int, raw_key: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            fail(f"the server exited with {process.returncode} before answering")
        try:
            client = Client(port, raw_key)
            status, _ = client.call("GET", "/api/v1/agents")
            client.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    fail(f"the server did not answer within {timeout:.0f} s")


class Client:
    """One keep-alive HTTP/1.1 connection with the tenant key."""

    def __init__(self, port: int, raw_key: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | list]:
        payload = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=payload, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else {}

    def close(self) -> None:
        self.conn.close()


def http_load(
    port: int,
    raw_key: str,
    clients: int,
    seconds: float,
    tag: str,
    floor: bool = False,
    label: str = "",
) -> Result:
    """``clients`` threads, each with its own connection and conversations, for ``seconds``
    (``floor``: each posts to the floor endpoint instead, core/bench_floor.py)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    barrier = threading.Barrier(clients + 1)
    window: dict[str, float] = {}

    def worker(n: int) -> None:
        client = Client(port, raw_key)
        mine = latencies[n]
        number = 0
        barrier.wait()
        deadline = window["deadline"]
        try:
            while floor and time.perf_counter() < deadline:
                begin = time.perf_counter()
                status, _ = client.call("POST", FLOOR_PATH, {"text": MIX[number % len(MIX)]})
                end = time.perf_counter()
                number += 1
                if status == 201:
                    mine.append((end - begin) * 1000)
                else:
                    errors[n] += 1
            while time.perf_counter() < deadline:
                status, body = client.call(
                    "POST", "/api/v1/conversations", _start_body(f"{tag}-{n}-{number}")
                )
                number += 1
                if status != 201:
                    errors[n] += 1
                    continue
                path = f"/api/v1/conversations/{body['id']}/messages"
                for i in range(PER_CONVERSATION):
                    begin = time.perf_counter()
                    status, _ = client.call("POST", path, {"text": MIX[i % len(MIX)]})
                    end = time.perf_counter()
                    if status == 201:
                        mine.append((end - begin) * 1000)
                    else:
                        errors[n] += 1
                    if end >= deadline:
                        break
        except OSError:
            errors[n] += 1
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    window["deadline"] = time.perf_counter() + seconds
    start = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join(timeout=seconds + 30)
    elapsed = time.perf_counter() - start
    merged = [x for chunk in latencies for x in chunk]
    label = label or f"HTTP: {server_label()}, {clients} clients"
    return Result(label, merged, elapsed, sum(errors))


# --- floor vs pipeline, per server model -------------------------------------------------------


class Floor:
    """One server model: the floor endpoint and the pipeline, each loaded the same way, with
    the CPU the server's processes and its PostgreSQL backends spent on each."""

    def __init__(self, kind: str, floor: Result, pipeline: Result, cpu: dict[str, tuple]):
        self.kind, self.floor, self.pipeline, self.cpu = kind, floor, pipeline, cpu

    @property
    def ratio(self) -> float:
        return self.pipeline.rate / self.floor.rate if self.floor.rate else 0.0


def measured(port, raw_key, server, pg, floor: bool, tag: str, label: str):
    """One load with the CPU it cost: (result, server CPU s, PostgreSQL CPU s)."""
    server_before, pg_before = server_cpu_seconds(server.pid), postgres_ticks(pg, BENCH_DB)
    result = http_load(port, raw_key, FLOOR_CLIENTS, SECONDS, tag, floor=floor, label=label)
    server_after, pg_after = server_cpu_seconds(server.pid), postgres_ticks(pg, BENCH_DB)
    pg_seconds = postgres_seconds(pg_before, pg_after)
    return result, server_after - server_before, pg_seconds


def merged(parts: list[tuple[Result, float, float]]) -> tuple[Result, tuple[float, float]]:
    """Rounds of one measurement as one: (result, (server ms, PostgreSQL ms) per request)."""
    result = Result.joined(parts[0][0].label, [r for r, _, _ in parts])
    n = max(len(result.latencies), 1)
    return result, (
        sum(s for _, s, _ in parts) * 1000 / n,
        sum(p for _, _, p in parts) * 1000 / n,
    )


def floor_vs_pipeline(env: dict[str, str], raw_key: str, bench_url: str) -> list[Floor]:
    """The floor endpoint, then the pipeline (POST .../messages: decide, dispatch the turn
    through the outbox to the broker), on each server model, with REDIS_URL as in production:
    the rate limit counted in Redis (never refusing: 10^6/min), the channel layer and the broker
    on Redis. The turns go to a queue of this run's own that no worker consumes, and is dropped
    at the end: the agents' runs are a worker's CPU (the in-process rows above measure the whole
    turn). Every server model runs at once, idle while another is measured, and the
    measurements alternate in FLOOR_ROUNDS rounds, so a neighbour's burst on a shared machine
    falls on all of them rather than on one."""
    import psycopg
    import redis

    run = f"bench-pipeline-{os.getpid()}"
    server_env = {
        **env,
        "REDIS_URL": REDIS_URL,
        "BENCH_FLOOR": "1",
        "API_RATE_LIMIT": "1000000/min",
        "TURN_DISPATCH": "outbox",
        "CELERY_QUEUE": run,
        "CHANNELS_PREFIX": run,
        "CACHE_PREFIX": run,
    }
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    models = [m for m in SERVER_MODELS if m != "gunicorn" or GUNICORN.exists()]
    if len(models) < len(SERVER_MODELS):
        print(
            "  note: gunicorn is not installed (not in requirements.txt: README, Server model); "
            f"pip install gunicorn to compare it. Measuring {models}",
            file=sys.stderr,
        )
    parts: dict[tuple[str, str], list] = {}
    with psycopg.connect(bench_url, autocommit=True) as pg:
        from core.bench_floor import CREATE_TABLE

        pg.execute(CREATE_TABLE)
        try:
            for kind in models:
                port = free_port()
                servers[kind] = (start_server(server_env, port, kind), port)
                wait_ready(port, raw_key, servers[kind][0])
                http_load(port, raw_key, 8, WARMUP_SECONDS, "fw", floor=True, label="warm")
                http_load(port, raw_key, 8, WARMUP_SECONDS, f"pw-{kind}", label="warm")
            for round_ in range(FLOOR_ROUNDS):
                for kind, (server, port) in servers.items():
                    label = f"{server_label(kind)}, {FLOOR_CLIENTS} clients"
                    parts.setdefault((kind, "floor"), []).append(
                        measured(port, raw_key, server, pg, True, "f", f"floor: {label}")
                    )
                    parts.setdefault((kind, "pipeline"), []).append(
                        measured(
                            port,
                            raw_key,
                            server,
                            pg,
                            False,
                            f"p{round_}-{kind}",
                            f"pipeline: {label}",
                        )
                    )
        finally:
            for server, _ in servers.values():
                stop_server(server)
            client = redis.Redis.from_url(REDIS_URL)
            for pattern in (f"{run}*", f"*{run}*"):
                for key in client.scan_iter(match=pattern, count=1000):
                    client.delete(key)
            client.close()
    floors: list[Floor] = []
    for kind in servers:
        floor, floor_cpu = merged(parts[(kind, "floor")])
        pipeline, pipeline_cpu = merged(parts[(kind, "pipeline")])
        floors.append(Floor(kind, floor, pipeline, {"floor": floor_cpu, "pipeline": pipeline_cpu}))
    return floors


def count_per_message(messages: int = 10) -> dict:
    """Statements and Redis commands of each customer message through the API, in this process
    with REDIS_URL (``--count``: run as a subprocess of the bench, so its Django is set up on
    Redis), counted as tests/orchestration/test_hot_path.py counts them."""
    import django

    django.setup()
    import redis.asyncio.connection as async_connection
    import redis.connection as sync_connection
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from core.models import ApiKey  # noqa: F401  (the key comes from the environment)

    seen: list[str] = []
    counting = [False]
    for module in (sync_connection, async_connection):
        cls = module.AbstractConnection
        send, pack_many = cls.send_command, cls.pack_commands

        def counted_send(self, *args, _send=send, **kwargs):
            if counting[0]:
                seen.append(str(args[0]))
            return _send(self, *args, **kwargs)

        def counted_pack_many(self, commands, _pack=pack_many):
            commands = list(commands)
            if counting[0]:
                seen.extend(str(args[0]) for args in commands)
            return _pack(self, commands)

        cls.send_command, cls.pack_commands = counted_send, counted_pack_many

    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {os.environ['BENCH_RAW_KEY']}")
    conversation = client.post("/api/v1/conversations", _start_body("count"), format="json").json()[
        "id"
    ]
    path = f"/api/v1/conversations/{conversation}/messages"
    client.post(path, {"text": "Hello"}, format="json")
    statements, commands, kinds = [], [], []
    for i in range(messages):
        seen.clear()
        counting[0] = True
        with CaptureQueriesContext(connection) as queries:
            response = client.post(path, {"text": MIX[i % len(MIX)]}, format="json")
        counting[0] = False
        assert response.status_code == 201, response.content
        statements.append(
            sum(
                1
                for q in queries.captured_queries
                if q["sql"].split(" ")[0].upper() not in ("BEGIN", "COMMIT")
            )
        )
        commands.append(len(seen))
        # a message its agent keeps (a normal one) or one the router hands to another agent,
        # who is announced in a notice (a second message in the turn)
        kinds.append("transferred" if response.json()["notices"] else "normal")
    return {"statements": statements, "commands": commands, "kinds": kinds, "last": list(seen)}


def counted_in_subprocess(env: dict[str, str], raw_key: str) -> dict | None:
    run = f"bench-count-{os.getpid()}"
    child_env = {
        **env,
        "REDIS_URL": REDIS_URL,
        "TURN_DISPATCH": "outbox",
        "CELERY_QUEUE": run,
        "CHANNELS_PREFIX": run,
        "CACHE_PREFIX": run,
        "BENCH_RAW_KEY": raw_key,
        "API_RATE_LIMIT": "1000000/min",
    }
    done = subprocess.run(
        [sys.executable, __file__, "--count"],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"*{run}*", count=1000):
        client.delete(key)
    client.close()
    lines = [line for line in done.stdout.splitlines() if line.startswith("COUNT ")]
    if done.returncode or not lines:
        print(f"  note: counting failed: {done.stderr[-600:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1][6:])


# --- profile ---------------------------------------------------------------------------------


def profile_pipeline(tenant, agent, seconds: float) -> list[str]:
    """cProfile of the in-process pipeline: the top functions by own and cumulative time."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    result = bench_direct(tenant, agent, seconds)
    profiler.disable()
    lines = [f"cProfile of the in-process pipeline ({len(result.latencies)} messages)"]
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(25)
        text = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(text) if line.lstrip().startswith("ncalls"))
        lines += ["", f"  by {order}:"] + ["  " + line for line in text[start : start + 26]]
    return lines


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process pipeline")
    parser.add_argument("--count", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--observe", choices=("off", "on"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count:  # the bench's own subprocess (count_per_message)
        print("COUNT " + json.dumps(count_per_message()), flush=True)
        return
    if args.observe:  # the bench's own subprocess (bench_observability)
        seconds = SECONDS / OBSERVE_ROUNDS
        print("OBSERVE " + json.dumps(observed(args.observe, seconds)), flush=True)
        return

    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        fail(
            "set DATABASE_URL to a PostgreSQL server (postgres://user@host:5432/db); the bench "
            f"creates and drops its own database '{BENCH_DB}' there."
        )
    maintenance_url, bench_url = database_urls(url, BENCH_DB)
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    try:
        version = server_version(maintenance_url)
        recreate_database(maintenance_url, BENCH_DB, create=True)
    except Exception as exc:  # psycopg's errors: say what failed and stop
        fail(f"cannot create the database {BENCH_DB} on {urlsplit(url).hostname}: {exc}")
    env = {
        **os.environ,
        "DATABASE_URL": bench_url,
        "DEBUG": "0",
        # plain HTTP on loopback, as behind a proxy that ends TLS (production mode otherwise
        # redirects every request to https)
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECRET_KEY": "bench-pipeline-not-secret-" + "x" * 32,
        "SECRETS_KEYS": STORE_KEYS,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
        # the pipeline is measured, not the per-key limit (in process and in the server)
        "API_RATE_LIMIT": "off",
        # the whole turn in the request, the agent's run included, as before the turn was split
        # in phases (bench/turn.py measures the split turn with a slow agent)
        "TURN_DISPATCH": "inline",
        # the approvers' e-mail of a proposed refund is built and kept in memory, not printed
        # into the report
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    env.pop("REDIS_URL", None)  # the in-memory channel layer: measure the pipeline, not Redis
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    server = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        from agents.models import Agent
        from core import services
        from core.models import Tenant
        from stacks.demo import seed_demo

        call_command("migrate", verbosity=0)
        seed_demo()
        tenant = Tenant.objects.get(slug="demo")
        agent = Agent.objects.get(tenant=tenant, slug="agent-supervisor")
        _, raw_key = services.api_key_create(tenant=tenant, name="bench")
        analyze()
        setup = time.perf_counter() - began

        results: list[Result] = []
        queries: dict[str, list[int]] = {}
        config_checks = 0
        profile: list[str] = []
        if ONLY != "floor":
            bench_direct(tenant, agent, 1.0)  # warm caches: rules, detectors, imports
            results = [bench_direct(tenant, agent, SECONDS), bench_api_client(raw_key, SECONDS)]
            queries, config_checks = queries_per_message(tenant, agent, raw_key)
            results.extend(bench_observability(env, raw_key, SECONDS))
            profile = profile_pipeline(tenant, agent, SECONDS) if args.profile else []

            port = free_port()
            server = start_server(env, port)
            wait_ready(port, raw_key, server)
            http_load(port, raw_key, CLIENTS[0], WARMUP_SECONDS, "warmup")
            for clients in CLIENTS:
                results.append(http_load(port, raw_key, clients, SECONDS, f"c{clients}"))
            stop_server(server)
            server = None
        floors: list[Floor] = []
        counts = None
        if REDIS_URL:
            floors = floor_vs_pipeline(env, raw_key, bench_url)
            counts = counted_in_subprocess(env, raw_key)
        else:
            print("  note: REDIS_URL not set: no floor-vs-pipeline runs, no count", file=sys.stderr)
    finally:
        stop_server(server)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may not be set up yet
            pass
        recreate_database(maintenance_url, BENCH_DB, create=False)

    figures = report(
        results,
        queries,
        version=version,
        setup=setup,
        config_checks=config_checks,
        total=time.perf_counter() - began,
        load=load_before,
    )
    floor_report(floors, counts, figures)
    if profile:
        print()
        print("\n".join(profile))
    emit(
        "pipeline",
        figures,
        command_line("bench/pipeline.py", env=[f"BENCH_SECONDS={SECONDS:g}", "DATABASE_URL=..."]),
    )


def report(results: list[Result], queries: dict[str, list[int]], **info) -> list[dict]:
    """Print the report; return its figures for the RESULT line."""
    import django

    figures: list[dict] = []

    print(
        f"pipeline benchmark - PostgreSQL {info['version']} (database {BENCH_DB}, created and "
        f"dropped), builtin runtime, DEBUG=0, in-memory channel layer\n"
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"{os.cpu_count()} CPUs; client and server share them\n"
        f"traffic: {len(MIX)} customer messages cycled, {PER_CONVERSATION} per conversation, "
        f"{SECONDS:.0f} s per measurement\nserver: {server_label()}"
        f"{' (uvloop, httptools)' if SERVER != 'daphne' else ''}, DB_CONN_MAX_AGE="
        f"{SERVER_CONN_MAX_AGE}; clients: http.client keep-alive, one thread each\n"
    )
    header = f"{'measurement':<44}  {'msgs':>6}  {'msgs/s':>7}  {'p50 ms':>7}  {'p99 ms':>7}"
    header += f"  {'errors':>6}  {'cpu ms':>6}  aim"
    print(header)
    print("-" * (len(header) + 22))
    for r in results:
        aim = ""
        if r.label.startswith("HTTP"):
            ok = r.rate >= AIM_HTTP_RATE and not r.errors
            aim = f">= {AIM_HTTP_RATE} msgs/s  {'ok' if ok else 'MISSED'}"
        print(
            f"{r.label:<44}  {len(r.latencies):>6}  {r.rate:>7.0f}  {r.pct(50):>7.1f}  "
            f"{r.pct(99):>7.1f}  {r.errors:>6}  {r.cpu_ms:>6}  {aim}"
        )
        # the throughput aim is on the best HTTP row (below); errors must be 0 on every row
        figures.append(figure(f"{r.label}: throughput", r.rate, "msgs/s"))
        if r.label.startswith("HTTP"):
            figures.append(figure(f"{r.label}: errors", r.errors, "", "0", r.errors == 0))
        figures.append(figure(f"{r.label}: p50", r.pct(50), "ms"))
        figures.append(figure(f"{r.label}: p99", r.pct(99), "ms"))
    http = [r for r in results if r.label.startswith("HTTP")]
    if http:
        best = max(http, key=lambda r: r.rate)
        print(
            f"\nbest over HTTP: {best.rate:.0f} msgs/s ({best.label.split(', ')[-1]}); aim >= "
            f"{AIM_HTTP_RATE}: {'ok' if best.rate >= AIM_HTTP_RATE else 'MISSED'}"
        )
        figures.append(
            figure(
                f"best over HTTP ({best.label.split(', ')[-1]})",
                best.rate,
                "msgs/s",
                f">= {AIM_HTTP_RATE}",
                best.rate >= AIM_HTTP_RATE,
            )
        )

    observability_report(results, figures)

    print("\nqueries per customer message (CaptureQueriesContext, one 50-message conversation)")
    print(f"{'path':<10}" + "".join(f"  {'msg ' + str(n):>7}" for n in QUERY_POINTS) + "  aim")
    for path, counts in queries.items():
        at = [counts[n - 1] for n in QUERY_POINTS]
        # compare each message with the same message of the cycle earlier in the conversation:
        # more queries is growth (fewer is not: the conversation's second refund asks for an
        # approval, where its first, within the auto-approve budget, was executed)
        grows = [
            i + 1 for i in range(len(MIX) + 1, len(counts)) if counts[i] > counts[i - len(MIX)]
        ]
        verdict = "ok" if at[1] == at[2] and not grows else f"MISSED (grows at {grows[:5]})"
        for n, count in zip(QUERY_POINTS, at, strict=True):
            figures.append(figure(f"queries, {path}, message {n}", count, "queries"))
        figures.append(
            figure(
                f"queries per message grow with the conversation ({path})",
                len(grows),
                "messages that grew",
                "0 (constant)",
                at[1] == at[2] and not grows,
            )
        )
        print(
            f"{path:<10}"
            + "".join(f"  {n:>7}" for n in at)
            + f"  constant (10th == 50th, each message == the same one {len(MIX)} earlier)  "
            + verdict
        )
    print(
        "  (the 1st message also moves the conversation triaged -> active and transfers it from "
        f"the supervisor; not counted above: {info['config_checks']} configuration checks, one "
        "query at most once a second on whichever message crosses it)"
    )
    print(
        f"\nset-up {info['setup']:.1f} s, whole run {info['total']:.1f} s; 1-minute load average "
        f"before the run {info['load']:.1f} (above ~0.3 means other processes were competing "
        "for the CPUs and the figures are low)"
    )
    figures.append(figure("1-minute load average before the run", info["load"], ""))
    return figures


def floor_report(floors: list[Floor], counts: dict | None, figures: list[dict]) -> None:
    """The floor next to the pipeline, per server model; statements and Redis commands."""
    if floors:
        print(
            f"\nfloor vs pipeline, same server, same run (issue 17): REDIS_URL's Redis for the "
            f"rate limit (counted, never refusing), the channel layer and the broker; "
            f"{FLOOR_CLIENTS} keep-alive clients, {SECONDS:.0f} s each. floor = POST "
            f"{FLOOR_PATH} (API key, rate limit, one INSERT); pipeline = POST .../messages "
            "(decide, outbox, turn published; the agent's run is a worker's). CPU ms per "
            "request: the server's processes + its PostgreSQL backends"
        )
        header = (
            f"{'server':<44}  {'floor/s':>7}  {'msgs/s':>7}  {'ratio':>5}  "
            f"{'floor p99':>9}  {'msg p99':>7}  {'floor cpu':>15}  {'msg cpu':>15}  aim"
        )
        print(header)
        print("-" * (len(header) + 14))
    for f in floors:
        (fs, fp), (ps, pp) = f.cpu["floor"], f.cpu["pipeline"]
        ok = f.ratio >= AIM_FLOOR_RATIO and not f.floor.errors and not f.pipeline.errors
        print(
            f"{server_label(f.kind):<44}  {f.floor.rate:>7.0f}  {f.pipeline.rate:>7.0f}  "
            f"{f.ratio:>5.2f}  {f.floor.pct(99):>9.1f}  {f.pipeline.pct(99):>7.1f}  "
            f"{fs:>6.1f} + {fp:>4.1f} ms  {ps:>6.1f} + {pp:>4.1f} ms  "
            f">= {AIM_FLOOR_RATIO}  {'ok' if ok else 'MISSED'}"
            + (
                f"  errors {f.floor.errors}/{f.pipeline.errors}"
                if f.floor.errors or f.pipeline.errors
                else ""
            )
        )
        name = server_label(f.kind)
        for what, r in (("floor", f.floor), ("pipeline", f.pipeline)):
            figures.append(figure(f"{name}: {what} throughput", r.rate, "req/s"))
            figures.append(figure(f"{name}: {what} p50", r.pct(50), "ms"))
            figures.append(figure(f"{name}: {what} p99", r.pct(99), "ms"))
            figures.append(figure(f"{name}: {what} errors", r.errors, "", "0", r.errors == 0))
            server_ms, pg_ms = f.cpu[what]
            figures.append(figure(f"{name}: {what} CPU per request, server", server_ms, "ms"))
            figures.append(figure(f"{name}: {what} CPU per request, PostgreSQL", pg_ms, "ms"))
        figures.append(
            figure(
                f"{name}: pipeline msgs/s / floor req/s",
                f.ratio,
                "",
                f">= {AIM_FLOOR_RATIO}",
                f.ratio >= AIM_FLOOR_RATIO,
            )
        )
    if len(floors) > 1:
        best = max(floors, key=lambda f: f.pipeline.rate)
        print(f"  most messages per second: {server_label(best.kind)}")
    if counts:
        statements, commands = counts["statements"], counts["commands"]
        print(
            f"\nper customer message (POST .../messages through the API on Redis, "
            f"{len(statements)} messages; tests/orchestration/test_hot_path.py holds them): "
            f"SQL statements {statements} (aim <= 6, a refund <= 12), Redis commands "
            f"{min(commands)}-{max(commands)} (aim <= 3): {counts['last']}"
        )
        kinds = counts.get("kinds") or ["normal"] * len(statements)
        normal = sorted(n for n, kind in zip(statements, kinds, strict=True) if kind == "normal")
        moved = [n for n, kind in zip(statements, kinds, strict=True) if kind != "normal"]
        print(
            f"  a normal message (its agent keeps it): {normal}; a message routed to another "
            f"agent, who is announced: {moved}"
        )
        if normal:
            most = max(normal)
            figures.append(
                figure("SQL statements per normal message (max)", most, "", "<= 6", most <= 6)
            )
        if moved:
            figures.append(
                figure("SQL statements per message routed and announced (max)", max(moved), "")
            )
        figures.append(
            figure(
                "SQL statements per message (max: a refund)",
                max(statements),
                "",
                "<= 12",
                max(statements) <= 12,
            )
        )
        figures.append(
            figure(
                "Redis commands per message (max)", max(commands), "", "<= 3", max(commands) <= 3
            )
        )


OVERHEAD_AIM = 10.0  # % of a message's CPU, tracing sampled at 10%


def observability_report(results: list[Result], figures: list[dict]) -> None:
    """CPU per message with the operators' view off and on (same run), and the overhead."""
    by_label = {r.label: r for r in results}
    print(
        "\noperators' view (metrics on + tracing sampled at 10%, spans encoded for OTLP) vs off: "
        "CPU ms per message of this process"
    )
    for path in ("conversation_receive_message", "APIClient POST .../messages"):
        off = by_label.get(f"observability off: {path}")
        on = by_label.get(f"observability on: {path}")
        if not off or not on or not off.latencies or not on.latencies:
            continue
        cpu_off = off.cpu_seconds * 1000 / len(off.latencies)
        cpu_on = on.cpu_seconds * 1000 / len(on.latencies)
        overhead = (cpu_on - cpu_off) / cpu_off * 100 if cpu_off else 0.0
        ok = overhead < OVERHEAD_AIM
        print(
            f"  {path:<32} off {cpu_off:6.2f} ms  on {cpu_on:6.2f} ms  overhead {overhead:+5.1f}%"
            f"  aim < {OVERHEAD_AIM:.0f}%  {'ok' if ok else 'MISSED'}"
        )
        figures.append(figure(f"observability off: {path}: CPU per message", cpu_off, "ms"))
        figures.append(figure(f"observability on: {path}: CPU per message", cpu_on, "ms"))
        figures.append(
            figure(
                f"observability overhead: {path}",
                overhead,
                "% CPU",
                f"< {OVERHEAD_AIM:.0f}",
                ok,
            )
        )


if __name__ == "__main__":
    main()

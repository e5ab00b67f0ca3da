"""The agent's turn under load: N conversations each send one message at once, and their agent
is a local OpenAI-compatible endpoint that answers in 1.5 s (issue 17).

The product runs as in production (uvicorn, the Procfile's threads-pool ``turns`` worker, the
main worker) on a PostgreSQL database of the bench's own and a Redis server of its own, with
``DB_POOL_MAX_SIZE=5`` per process. Each customer listens on the conversation's socket; the
reply's latency is from the POST to the agent's ``message.created``. Printed:

- replies arrived (of N), and none twice;
- the most agent calls in flight at once (the endpoint counts them): with the run outside any
  transaction and without a pooled connection, nearly all N overlap, not DB_POOL_MAX_SIZE;
- the longest "idle in transaction" seen in ``pg_stat_activity`` (sampled every 20 ms): no
  transaction waits on the agent;
- the POST's latency (answered at once) and the reply's latency p50 / p95 next to the
  endpoint's own 1.5 s; and how long each reply came after its own POST was answered (the
  turn's own part: dispatch, the agent's run, apply, the socket; apart from the N POSTs
  queueing for the CPUs).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/turn.py \\
        [--conversations 100] [--delay 1.5]

``--embedded`` runs the same on the embedded default instead (what ``./run up`` serves: one
``runserver`` process on SQLite with the in-memory channel layer and the in-process runner, no
PostgreSQL, no Redis; default 24 conversations): every POST answered (no 503 while agents
think), every reply once. The "idle in transaction" figure is PostgreSQL's and is not printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._db import analyze, database_urls, recreate_database  # noqa: E402
from bench._llm import API_KEY, SlowLLM  # noqa: E402
from bench._procs import (  # noqa: E402
    STORE_KEYS,
    Processes,
    RedisServer,
    postgres_seconds,
    postgres_ticks,
    product_env,
    server_cpu_seconds,
)
from bench._result import command_line, emit, figure  # noqa: E402
from tools.stats import percentile  # noqa: E402

BENCH_DB = os.environ.get("BENCH_DB", "bench_turn")
# the environment this bench was started with: the embedded pass's process gets it, not the
# production set this process takes on (a broker-less Celery told not to run eagerly, DEBUG off)
STARTED_WITH = dict(os.environ)
SECRET = "bench-turn-not-a-secret-" + "x" * 32


def log(text: str) -> None:
    print(f"[turn] {text}", file=sys.stderr, flush=True)


class IdleWatch:
    """Samples pg_stat_activity: the longest a transaction of the bench database sat idle."""

    def __init__(self, url: str, database: str):
        self.url, self.database = url, database
        self.longest = 0.0
        self.query = ""  # the last statement of the longest idle transaction
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute(
                    "SELECT extract(epoch FROM now() - state_change), query "
                    "FROM pg_stat_activity WHERE datname = %s "
                    "AND state = 'idle in transaction' ORDER BY state_change LIMIT 1",
                    [self.database],
                ).fetchone()
                if row is not None and float(row[0]) > self.longest:
                    self.longest, self.query = float(row[0]), row[1]
                time.sleep(0.02)


class CpuSpent:
    """The CPU the product's processes (each a process group: uvicorn's workers, Celery's)
    and the bench database's PostgreSQL backends spent while the customers ran, and how long
    that took: whether the two CPUs were what bounded the run."""

    def __init__(self, url: str, processes: dict[str, Any]):
        self.url, self.processes = url, processes
        self.spent: dict[str, float] = {}
        self.seconds = 0.0

    def __enter__(self) -> CpuSpent:
        import psycopg

        self.pg = psycopg.connect(self.url, autocommit=True)
        self.began = time.perf_counter()
        self.before = {name: server_cpu_seconds(p.pid) for name, p in self.processes.items()}
        self.pg_before = postgres_ticks(self.pg, BENCH_DB)
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.began
        for name, process in self.processes.items():
            self.spent[name] = server_cpu_seconds(process.pid) - self.before[name]
        after = postgres_ticks(self.pg, BENCH_DB)
        self.spent["PostgreSQL"] = postgres_seconds(self.pg_before, after)
        self.pg.close()

    def report(self, messages: int) -> str:
        parts = ", ".join(
            f"{name} {seconds:.1f} s ({seconds * 1000 / max(messages, 1):.1f} ms a message)"
            for name, seconds in self.spent.items()
        )
        return f"{parts}; over {self.seconds:.1f} s"


def seed(llm_url: str, conversations: int):
    from agents.models import Agent
    from conversations.lifecycle import conversation_transition
    from conversations.services import conversation_start
    from core.secret_store import seal
    from core.services import api_key_create, tenant_create

    tenant = tenant_create(slug="bench", name="Bench")
    agent = Agent.objects.create(
        tenant=tenant,
        slug="agent-llm",
        name="Assistant",
        runtime="openai",
        runtime_config={"baseUrl": llm_url + "/v1", "model": "bench-model"},
        runtime_secret=seal(API_KEY),
    )
    _, key = api_key_create(tenant=tenant, name="bench")
    made = []
    for index in range(conversations):
        conversation, token = conversation_start(
            tenant=tenant, agent=agent, channel="web", customer={"id": f"c-{index}"}
        )
        conversation_transition(conversation=conversation, to="active", reason="bench")
        made.append((str(conversation.pk), token))
    return key, made


def customer(base: str, key: str, conversation_id: str, token: str, start: threading.Barrier):
    """One customer: open the socket, wait for everyone, post, wait for the agent's reply."""
    import requests
    from websockets.sync.client import connect

    ws_url = (
        base.replace("http://", "ws://") + f"/ws/conversations/{conversation_id}/?token={token}"
    )
    with connect(ws_url, additional_headers={"Origin": base}, open_timeout=60) as ws:
        json.loads(ws.recv(timeout=60))  # the snapshot
        start.wait(120)
        began = time.perf_counter()
        response = requests.post(
            f"{base}/api/v1/conversations/{conversation_id}/messages",
            json={"text": "Where is my invoice?"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        posted = time.perf_counter() - began
        if response.status_code != 201:
            return {"status": response.status_code, "posted": posted, "reply": None, "replies": 0}
        replies, reply_at = 0, None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
            if event.get("type") == "message.created" and event["message"]["role"] == "agent":
                replies += 1
                reply_at = reply_at or time.perf_counter() - began
                deadline = min(deadline, time.monotonic() + 1.0)  # a second reply would come soon
        return {"status": 201, "posted": posted, "reply": reply_at, "replies": replies}


def run_customers(base: str, key: str, made) -> list[dict]:
    start = threading.Barrier(len(made))
    cpu = time.process_time()
    try:
        with ThreadPoolExecutor(max_workers=len(made)) as pool:
            return list(
                pool.map(lambda m: customer(base, key, m[0], m[1], start), made, timeout=300)
            )
    finally:
        log(f"the customers took {time.process_time() - cpu:.2f} s of CPU in this process")


def embedded(args) -> int:
    """The embedded default: one runserver process on SQLite, the in-process runner."""
    conversations = args.conversations or 24
    logs = Path(tempfile.mkdtemp(prefix="bench-turn-embedded-"))
    llm = SlowLLM(args.delay)
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "CELERY_BROKER_URL",
            "CELERY_TASK_ALWAYS_EAGER",
            "DJANGO_SETTINGS_MODULE",
        }
    }
    env.update(
        DEBUG="1",
        SQLITE_PATH=str(logs / "db.sqlite3"),
        IN_PROCESS_RUNNER="1",
        PYTHONUNBUFFERED="1",
        RUNTIME_ALLOW_PRIVATE_NETWORKS="1",
        LOG_LEVEL="WARNING",
        API_RATE_LIMIT="off",
    )
    os.environ.clear()
    os.environ.update({**env, "DJANGO_SETTINGS_MODULE": "config.settings"})
    processes = Processes(logs)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    key, made = seed(llm.url, conversations)
    connections.close_all()
    log(f"{conversations} conversations on the embedded default (logs in {logs})")
    try:
        base = processes.runserver(env)
        results = run_customers(base, key, made)
    finally:
        processes.stop_all()
    n = len(results)
    refused = [r["status"] for r in results if r["status"] != 201]
    arrived = [r["reply"] * 1000 for r in results if r["reply"] is not None]
    twice = sum(1 for r in results if r["replies"] > 1)
    posts = [r["posted"] * 1000 for r in results]
    p50 = percentile(arrived, 50) if arrived else float("nan")
    print(f"embedded default (runserver, SQLite, in-process runner), {n} conversations at once")
    print(f"agent endpoint                 answers in {args.delay * 1000:.0f} ms")
    print(f"POST refused                   {len(refused)} {sorted(set(refused)) or ''}")
    print(f"replies arrived                {len(arrived)} of {n} ({twice} more than once)")
    print(f"agent calls in flight, most    {llm.max_in_flight}")
    post50, post95 = percentile(posts, 50), percentile(posts, 95)
    p95 = percentile(arrived, 95) if arrived else float("nan")
    print(f"POST answered, p50 / p95       {post50:.0f} / {post95:.0f} ms")
    print(f"reply latency, p50 / p95       {p50:.0f} / {p95:.0f} ms")
    figures = [
        figure("embedded: POST refused (503 or other)", len(refused), "", "= 0", not refused),
        figure(
            "embedded: replies arrived", len(arrived), "of " + str(n), f"= {n}", len(arrived) == n
        ),
        figure("embedded: replies sent twice", twice, "conversations", "= 0", twice == 0),
        figure("embedded: agent calls in flight at once", llm.max_in_flight, "calls"),
        figure("embedded: POST answered p95", percentile(posts, 95), "ms"),
        figure("embedded: reply latency p50", p50, "ms"),
    ]
    emit("turn-embedded", figures, command_line("bench/turn.py --embedded"))
    return 0 if all(f["met"] is not False for f in figures) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=0, help="default 100 (24 embedded)")
    parser.add_argument("--delay", type=float, default=1.5, help="the endpoint's answer time (s)")
    parser.add_argument("--web", type=int, default=2, help="ASGI processes")
    parser.add_argument("--embedded", action="store_true", help="on the embedded default")
    parser.add_argument("--no-embedded", action="store_true", help="skip the embedded pass")
    args = parser.parse_args()
    if args.embedded:
        return embedded(args)
    args.conversations = args.conversations or 100
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        print("bench/turn.py: set DATABASE_URL to a PostgreSQL server", file=sys.stderr)
        return 2
    maintenance_url, bench_url = database_urls(url, BENCH_DB)
    recreate_database(maintenance_url, BENCH_DB, create=True)
    redis = RedisServer()
    redis.start()
    llm = SlowLLM(args.delay)
    env = product_env(
        database_url=bench_url,
        redis_url=redis.url,
        secret_key=SECRET,
        secrets_keys=STORE_KEYS,
        DB_POOL_MAX_SIZE="5",
        RUNTIME_ALLOW_PRIVATE_NETWORKS="1",
        LOG_LEVEL="WARNING",
        API_RATE_LIMIT="off",
    )
    os.environ.update({**env, "DJANGO_SETTINGS_MODULE": "config.settings"})
    logs = Path(tempfile.mkdtemp(prefix="bench-turn-"))
    processes = Processes(logs)
    watch = IdleWatch(bench_url, BENCH_DB)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        key, made = seed(llm.url, args.conversations)
        analyze()
        connections.close_all()
        log(f"{args.conversations} conversations; starting the product (logs in {logs})")
        base = processes.web(env, workers=args.web)
        web = processes.running[-1]
        processes.worker(env, queues="celery")
        turns = processes.turns_worker({**env, "DB_POOL_MAX_SIZE": "5"}, concurrency=250)
        watch.thread.start()
        with CpuSpent(bench_url, {"web": web, "turns worker": turns}) as cpu:
            results = run_customers(base, key, made)
    finally:
        watch.stop.set()
        processes.stop_all()
        redis.stop()
        from django.db import connections

        connections.close_all()
        recreate_database(maintenance_url, BENCH_DB, create=False)
    n = len(results)
    refused = sum(1 for r in results if r["status"] != 201)
    arrived = [r["reply"] for r in results if r["reply"] is not None]
    twice = sum(1 for r in results if r["replies"] > 1)
    posts = [r["posted"] * 1000 for r in results]
    latencies = [value * 1000 for value in arrived]
    p50 = percentile(latencies, 50) if latencies else float("nan")
    p95 = percentile(latencies, 95) if latencies else float("nan")
    print(f"conversations                  {n}, each one message at once")
    print(f"agent endpoint                 answers in {args.delay * 1000:.0f} ms")
    print(f"POST refused                   {refused}")
    print(f"replies arrived                {len(arrived)} of {n} ({twice} more than once)")
    print(f"agent calls in flight, most    {llm.max_in_flight} (DB_POOL_MAX_SIZE=5 per process)")
    print(f"longest idle in transaction    {watch.longest * 1000:.0f} ms")
    print(f"  after the statement          {watch.query[:200]}")
    post50, post95 = percentile(posts, 50), percentile(posts, 95)
    print(f"POST answered, p50 / p95       {post50:.0f} / {post95:.0f} ms")
    print(f"reply latency, p50 / p95       {p50:.0f} / {p95:.0f} ms")
    # the turn's own part, apart from the queue of POSTs for the CPUs: how long each reply
    # came after its own POST was answered (the endpoint's delay included)
    after = [(r["reply"] - r["posted"]) * 1000 for r in results if r["reply"] is not None]
    after50, after95 = percentile(after, 50), percentile(after, 95)
    print(f"reply after its POST answered  {after50:.0f} / {after95:.0f} ms (p50 / p95)")
    print(f"CPU while the customers ran    {cpu.report(n)} (2 CPUs)")
    figures = [
        figure("replies arrived", len(arrived), "of " + str(n), f"= {n}", len(arrived) == n),
        figure("replies sent twice", twice, "conversations", "= 0", twice == 0),
        figure(
            "agent calls in flight at once",
            llm.max_in_flight,
            "calls",
            f">= {int(n * 0.75)}",
            llm.max_in_flight >= int(n * 0.75),
        ),
        figure(
            "longest idle in transaction",
            watch.longest * 1000,
            "ms",
            "< 100",
            watch.longest * 1000 < 100,
        ),
        figure("POST answered p95", post95, "ms"),
        figure(
            "reply latency p50",
            p50,
            "ms",
            f"< {args.delay * 1000 + 150:.0f}",
            p50 < args.delay * 1000 + 150,
        ),
        figure("reply latency p95", p95, "ms"),
        figure("reply after its POST answered p50", after50, "ms"),
    ]
    if not args.no_embedded:
        figures += embedded_in_subprocess(args.delay)
    emit("turn", figures, command_line("bench/turn.py", env=["DATABASE_URL=..."]))
    return 0 if all(f["met"] is not False for f in figures) else 1


def embedded_in_subprocess(delay: float) -> list[dict]:
    """The embedded pass (24 conversations), in a process of its own (its Django is set up on
    SQLite); its report is printed here and its figures join this run's."""
    import subprocess

    print()
    done = subprocess.run(
        [sys.executable, __file__, "--embedded", "--delay", str(delay)],
        cwd=ROOT,
        env=STARTED_WITH,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = done.stdout.splitlines()
    print("\n".join(line for line in lines if not line.startswith("RESULT ")))
    results = [line for line in lines if line.startswith("RESULT ")]
    if not results:
        print(f"the embedded pass failed:\n{done.stderr[-2000:]}")
        return [figure("embedded: pass ran", 0, "", "= 1", False)]
    return json.loads(results[-1][len("RESULT ") :])["figures"]


if __name__ == "__main__":
    sys.exit(main())

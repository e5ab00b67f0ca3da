"""Benchmark of approvals on PostgreSQL: 1,000 requests decided by 16 concurrent clients, then
their executions; exactly once, and how long an approved action waits to run.

    DATABASE_URL=postgres://user@host:5432/db [REDIS_URL=redis://host:6379/0] \\
        .venv/bin/python bench/approvals.py [--requests 1000] [--clients 16]

Sets itself up: creates a database ``bench_approvals`` on the server of DATABASE_URL (dropped
at the end, and first if a previous run left it), migrates it, and makes a tenant whose agent
needs approval for refunds over 100, with 16 approvers (a ``group:`` of the rule).

1. 1,000 refunds of 101..600 are proposed through the gate (``action_propose``), spread over
   100 conversations: 1,000 pending requests.
2. 16 client threads decide them in process through ``approval_decide`` (the service the API,
   the admin and the approvals page call; one database connection per thread). Every request
   is clicked by two clients at about the same time, so half the clicks race and must lose
   with a conflict (409 in the API).
3. The executions run:
   - with REDIS_URL set, on a real Celery worker (a subprocess, 4 processes) fed through Redis
     (database ``BENCH_REDIS_DB``, default 15, of the REDIS_URL server, so the bench does not
     mix with another broker's queues); the clicks and the worker overlap, as in production;
   - without it, in process (the embedded default): each task runs in the deciding thread
     right after the commit.
4. Every execution's task is then delivered once more (as a broker may after a lost ack), and
   the bench waits for the workers again.

It prints the executions, the duplicates (ledger rows or ``action.executed`` events beyond one
per approved request), the losses (approved requests without exactly one ledger row), and the
decision-to-execution latency (``finished_at - decided_at`` of each approved request)
p50/p99, with the aims: 1,000 executions, 0 duplicates, 0 losses.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
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
BENCH_DB = os.environ.get("BENCH_DB", "bench_approvals")
CONVERSATIONS = 100
WORKER_PROCESSES = 4
WAIT_SECONDS = float(os.environ.get("BENCH_WAIT_SECONDS", "180"))


def fail(message: str) -> None:
    print(f"bench/approvals.py: {message}", file=sys.stderr)
    sys.exit(2)


# --- the scenario -----------------------------------------------------------------------------


def set_up(approvers: int):
    from agents.models import Agent
    from agents.rule_sets import rules_replace
    from conversations.lifecycle import conversation_transition
    from conversations.services import conversation_start
    from core.models import ApproverGroup
    from core.services import (
        tenant_create,
        user_create,
    )

    tenant = tenant_create(slug="bench", name="Bench")
    people = [
        user_create(username=f"approver{i:02d}", tenant=tenant, roles=["approver"], password="x")[0]
        for i in range(approvers)
    ]
    group = ApproverGroup.objects.create(tenant=tenant, name="finance")
    group.members.add(*people)
    agent = Agent.objects.create(
        tenant=tenant, slug="agent-billing", name="Billing", role="specialist"
    )
    rules_replace(
        agent=agent,
        document={
            "approvals": {
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": ["group:finance"],
            }
        },
    )
    conversations = []
    for i in range(CONVERSATIONS):
        conv, _ = conversation_start(
            tenant=tenant, agent=agent, channel="api", customer={"id": f"customer-{i}"}
        )
        conversation_transition(conversation=conv, to="active", reason="bench")
        conversations.append(conv)
    return tenant, people, conversations


def propose_all(conversations, count: int) -> list[int]:
    from approvals.services import action_propose

    ids = []
    for n in range(count):
        conv = conversations[n % len(conversations)]
        proposal = action_propose(
            conversation=conv,
            action="issue_refund",
            params={"orderId": f"B-{n:05d}", "amount": 101 + n % 500},
            idempotency_key=f"bench-{n}",
            requested_by_label="agent:agent-billing",
        )
        assert proposal.waiting, "the rule should make every refund wait"
        ids.append(proposal.approval.pk)
    return ids


def decide_all(ids: list[int], people, clients: int) -> dict:
    """``clients`` threads; request r is clicked by clients r % n and (r + 1) % n."""
    from django.db import connection

    from approvals.models import ApprovalRequest
    from approvals.services import ApprovalConflict, approval_decide

    shares: list[list[int]] = [[] for _ in range(clients)]
    for index, approval_id in enumerate(ids):
        shares[index % clients].append(approval_id)
        shares[(index + 1) % clients].append(approval_id)
    outcome = {"approved": 0, "conflicts": 0, "errors": 0, "latencies": []}
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client(number: int) -> None:
        user = people[number % len(people)]
        mine = {"approved": 0, "conflicts": 0, "errors": 0, "latencies": []}
        try:
            barrier.wait(timeout=30)
            for approval_id in sorted(shares[number]):
                begin = time.perf_counter()
                try:
                    approval = ApprovalRequest.objects.get(pk=approval_id)
                    approval_decide(approval=approval, user=user, verdict="approve")
                    mine["approved"] += 1
                except ApprovalConflict:
                    mine["conflicts"] += 1
                except Exception as exc:
                    mine["errors"] += 1
                    print(f"  client {number}: {type(exc).__name__}: {exc}", file=sys.stderr)
                mine["latencies"].append((time.perf_counter() - begin) * 1000)
        finally:
            connection.close()
            with lock:
                for key in ("approved", "conflicts", "errors"):
                    outcome[key] += mine[key]
                outcome["latencies"].extend(mine["latencies"])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcome["seconds"] = time.perf_counter() - start
    return outcome


def wait_for_executions(expected: int, seconds: float) -> float:
    from approvals.models import ActionExecution

    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        done = ActionExecution.objects.filter(status__in=["succeeded", "failed"]).count()
        if done >= expected:
            break
        time.sleep(0.2)
    return time.perf_counter() - start


def redeliver_all(in_process: bool, clients: int) -> None:
    """Every execution's task once more: through the broker, or by ``clients`` threads."""
    from django.db import connection

    from approvals.models import ActionExecution
    from approvals.tasks import execute_action

    ids = list(ActionExecution.objects.values_list("pk", flat=True))
    if not in_process:
        for execution_id in ids:
            execute_action.delay(execution_id)
        return

    def deliver(part: list[int]) -> None:
        try:
            for execution_id in part:
                execute_action(execution_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(ids[i::clients],)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def wait_queue_drained(redis_url: str, seconds: float) -> float:
    """Until the broker holds no message, waiting or taken but not acknowledged (acks_late):
    every (re)delivered task has been run to its end."""
    import redis

    client = redis.Redis.from_url(redis_url)
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        if client.llen("celery") == 0 and client.hlen("unacked") == 0:
            break
        time.sleep(0.2)
    return time.perf_counter() - start


def tally(ids: list[int]) -> dict:
    from django.db.models import Count

    from approvals.models import ActionExecution, ApprovalRequest, LedgerEntry
    from conversations.decisions import ActionExecuted
    from conversations.models import DecisionEvent

    requests = {
        r.pk: r for r in ApprovalRequest.objects.filter(pk__in=ids).select_related("execution")
    }
    ledger = dict(
        LedgerEntry.objects.values_list("execution_key")
        .annotate(n=Count("id"))
        .values_list("execution_key", "n")
    )
    executed_events: dict[int, int] = {}
    for detail in DecisionEvent.objects.filter(type=ActionExecuted.type).values_list(
        "detail", flat=True
    ):
        execution_id = ActionExecuted.from_detail(detail).execution_id
        executed_events[execution_id] = executed_events.get(execution_id, 0) + 1
    approved = [r for r in requests.values() if r.decided_at is not None]
    duplicates = losses = 0
    latencies = []
    for request in approved:
        execution = getattr(request, "execution", None)
        key = f"approval:{request.pk}"
        rows = ledger.get(key, 0)
        events = executed_events.get(execution.pk, 0) if execution else 0
        duplicates += max(0, rows - 1) + max(0, events - 1)
        if execution is None or execution.status != "succeeded" or rows != 1:
            losses += 1
            continue
        latencies.append((execution.finished_at - request.decided_at).total_seconds() * 1000)
    attempts = ActionExecution.objects.filter(attempts__gt=1).count()
    return {
        "requests": len(requests),
        "approved": len(approved),
        "executions": ActionExecution.objects.filter(status="succeeded").count(),
        "execution rows": ActionExecution.objects.count(),
        "ledger rows": sum(ledger.values()),
        "duplicates": duplicates,
        "losses": losses,
        "executions run more than once": attempts,
        "statuses": dict(
            ApprovalRequest.objects.values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        ),
        "latencies": latencies,
    }


# --- the worker -------------------------------------------------------------------------------


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    return subprocess.Popen(
        [
            celery,
            "-A",
            "config",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            str(WORKER_PROCESSES),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_worker(process: subprocess.Popen, timeout: float = 30) -> None:
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            fail(f"the Celery worker exited with {process.returncode}: {process.stderr.read()}")
        if app.control.ping(timeout=0.5):
            return
    fail(f"the Celery worker did not answer within {timeout:.0f} s")


def bench_redis_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{os.environ.get('BENCH_REDIS_DB', '15')}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        fail(
            "set DATABASE_URL to a PostgreSQL server (postgres://user@host:5432/db); the bench "
            f"creates and drops its own database '{BENCH_DB}' there."
        )
    maintenance_url, bench_url = database_urls(url, BENCH_DB)
    redis_url = os.environ.get("REDIS_URL", "").strip()
    in_process = not redis_url
    try:
        recreate_database(maintenance_url, BENCH_DB, create=True)
    except Exception as exc:
        fail(f"cannot create the database {BENCH_DB} on {urlsplit(url).hostname}: {exc}")
    env = {
        **os.environ,
        "DATABASE_URL": bench_url,
        "DEBUG": "0",
        # plain HTTP on loopback, as behind a proxy that ends TLS (production mode otherwise
        # redirects every request to https)
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECRET_KEY": "bench-approvals-not-secret-" + "x" * 32,
        "SECRETS_KEYS": STORE_KEYS,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "LOG_LEVEL": "ERROR",
        # every client thread and worker process holds a connection while it decides
        "DB_POOL_MAX_SIZE": str(max(args.clients + 4, 20)),
    }
    if in_process:
        env.pop("REDIS_URL", None)
        os.environ.pop("REDIS_URL", None)
    else:
        env["REDIS_URL"] = bench_redis_url(redis_url)
    os.environ.update(env)
    worker = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        if not in_process:
            from config.celery import app

            app.control.purge()
            worker = start_worker(env)
            wait_worker(worker)

        began = time.perf_counter()
        _, people, conversations = set_up(args.clients)
        ids = propose_all(conversations, args.requests)
        proposed = time.perf_counter() - began

        decided = decide_all(ids, people, args.clients)
        from approvals.models import ActionExecution

        done_by_then = ActionExecution.objects.filter(status="succeeded").count()
        waited = wait_for_executions(decided["approved"], WAIT_SECONDS)
        first = tally(ids)
        redelivery_start = time.perf_counter()
        redeliver_all(in_process, args.clients)
        if not in_process:
            wait_queue_drained(env["REDIS_URL"], WAIT_SECONDS)
        waited_again = time.perf_counter() - redelivery_start
        final = tally(ids)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        from django.db import connections

        connections.close_all()
        recreate_database(maintenance_url, BENCH_DB, create=False)

    import django as dj

    mode = (
        f"Celery worker through Redis ({WORKER_PROCESSES} processes, acks_late)"
        if not in_process
        else "in process: each task runs in the deciding thread after commit (no REDIS_URL)"
    )
    print(
        f"Approvals benchmark - Python {platform.python_version()}, Django {dj.get_version()}, "
        f"PostgreSQL ({urlsplit(url).hostname})"
    )
    print(f"clients: {args.clients} threads calling approval_decide in process")
    print(f"executions: {mode}")
    print()
    print(f"  requests proposed            {len(ids):>8}   in {proposed:.1f} s (with setup)")
    clicks = decided["approved"] + decided["conflicts"] + decided["errors"]
    print(
        f"  clicks                       {clicks:>8}   in {decided['seconds']:.2f} s "
        f"({clicks / decided['seconds']:.0f}/s), "
        f"p50 {percentile(decided['latencies'], 50):.1f} ms, "
        f"p99 {percentile(decided['latencies'], 99):.1f} ms"
    )
    print(f"    decided (won the race)     {decided['approved']:>8}")
    print(f"    conflicts (409)            {decided['conflicts']:>8}")
    print(f"    errors                     {decided['errors']:>8}   (aim 0)")
    print(f"  executions done when the clicking ended  {done_by_then}")
    print(f"  executions finished after    {waited:>8.2f} s (last decision to last execution)")
    print(f"  {len(ids)} tasks redelivered, all run in {waited_again:.2f} s")
    print()
    aims = {"executions": args.requests, "duplicates": 0, "losses": 0}
    for name in ("executions", "duplicates", "losses"):
        value = final[name]
        ok = "ok" if value == aims[name] else "MISSED"
        print(f"  {name:<28} {value:>8}   aim {aims[name]:<5} {ok}")
    print(f"  execution rows               {final['execution rows']:>8}")
    print(f"  ledger rows                  {final['ledger rows']:>8}")
    print(f"  run more than once           {final['executions run more than once']:>8}")
    print(f"  request statuses             {final['statuses']}")
    print(
        f"  before redelivery: executions {first['executions']}, duplicates "
        f"{first['duplicates']}, losses {first['losses']}"
    )
    latencies = final["latencies"]
    print(
        f"  decision -> execution        p50 {percentile(latencies, 50):.1f} ms, "
        f"p99 {percentile(latencies, 99):.1f} ms, max {max(latencies or [0]):.1f} ms"
    )
    missed = any(final[name] != aims[name] for name in aims) or decided["errors"]
    figures = [
        figure(name, final[name], "", f"= {aims[name]}", final[name] == aims[name])
        for name in ("executions", "duplicates", "losses")
    ]
    figures += [
        figure("click errors", decided["errors"], "", "= 0", decided["errors"] == 0),
        figure("clicks", clicks / decided["seconds"], "clicks/s"),
        figure("click p50", percentile(decided["latencies"], 50), "ms"),
        figure("click p99", percentile(decided["latencies"], 99), "ms"),
        figure("decision -> execution p50", percentile(latencies, 50), "ms"),
        figure("decision -> execution p99", percentile(latencies, 99), "ms"),
        figure("last decision -> last execution", waited, "s"),
    ]
    env = ["DATABASE_URL=..."] + ([] if in_process else ["REDIS_URL=..."])
    emit("approvals", figures, command_line("bench/approvals.py", env=env))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()

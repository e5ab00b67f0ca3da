"""Benchmark of the metrics (SPEC 9, issue 7) on PostgreSQL with 1,000,000 decision events.

    DATABASE_URL=postgres://user@host:5432/db .venv/bin/python bench/metrics.py [--explain] [--keep]

Sets itself up: creates a database ``bench_metrics`` on the server of DATABASE_URL (dropped at
the end, and first if a previous run left it), migrates it, and loads with COPY two tenants'
worth of data spread over the last 60 days: conversations, 1,000,000 decision events (about
ten per conversation: routing, classification, replies, state changes, and some escalations,
stalls, re-routes, handoffs, actions and approvals), and the handoff, action execution and
approval rows behind them. Then it prints, for the larger tenant:

- the time of each query of the dashboard (one selector each), over the default 7-day window,
  over 30 days, and over 7 days for one agent;
- the whole dashboard page (admin view, in process through Django's test client) and
  ``GET /api/v1/metrics`` (in process through DRF's APIClient: middleware, authentication,
  view, JSON), each cold (the first request on a new database connection: PostgreSQL's
  catalog and plan caches empty; its shared buffers and the OS cache cannot be dropped
  without privileges, so they stay warm) and warm (median of the next runs);
- the queries per request, and with ``--explain`` the plan of each query (which index).

``--keep`` leaves the database in place, and a later run with ``--keep`` measures it again
without loading (to try a query or an index).

Aim: the metrics endpoint under 200 ms at this size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._db import database_urls, recreate_database  # noqa: E402
from bench._procs import STORE_KEYS  # noqa: E402
from bench._result import command_line, emit, figure  # noqa: E402
from tools.stats import percentile  # noqa: E402

# BENCH_DB names the database (bench/run_all gives each bench its own)
BENCH_DB = os.environ.get("BENCH_DB", "bench_metrics")
EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
DAYS = 60
WARM_RUNS = 7
AIM_MS = 200
SPECIALISTS = ("billing", "returns", "technical", "shipping", "accounts", "vision")


def fail(message: str) -> None:
    print(f"bench/metrics.py: {message}", file=sys.stderr)
    sys.exit(2)


# --- database ------------------------------------------------------------------------------------


def database_exists(maintenance_url: str) -> bool:
    import psycopg

    with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=5) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB])
        return found.fetchone() is not None


# --- data ----------------------------------------------------------------------------------------


class Loader:
    """Generates the rows in memory-light streams and writes them with COPY."""

    def __init__(self, now: dt.datetime, seed: int = 7):
        self.now = now
        self.rng = random.Random(seed)
        self.conversations: list[tuple] = []
        self.events: list[tuple] = []
        self.handoffs: list[tuple] = []
        self.executions: list[tuple] = []
        self.approvals: list[tuple] = []
        self.event_count = 0

    def team(self, tenant):
        from agents.models import Agent, Workflow

        sup = Agent.objects.create(
            tenant=tenant, slug="agent-sup", name="Front desk", role="supervisor"
        )
        specialists = [
            Agent.objects.create(
                tenant=tenant,
                slug=f"agent-{domain}",
                name=domain.title(),
                role="specialist",
                supervisor=sup,
                domains=[domain],
            )
            for domain in SPECIALISTS
        ]
        workflows = [
            Workflow.objects.create(tenant=tenant, name=name) for name in ("Returns", "Onboarding")
        ]
        return sup, specialists, workflows

    def event(self, tenant_id, conv_id, kind, at, agent="", rule="", detail=None, ms=0.0):
        self.events.append(
            (tenant_id, conv_id, kind, agent, rule, json.dumps(detail or {}), ms, at)
        )
        self.event_count += 1

    def conversation(self, tenant_id: int, team) -> None:
        rng = self.rng
        sup, specialists, workflows = team
        conv_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        start = self.now - dt.timedelta(seconds=rng.uniform(0, DAYS * 86400))
        t = start
        specialist = rng.choice(specialists)
        workflow = rng.choice(workflows) if rng.random() < 0.15 else None

        def tick(seconds=2.0):
            nonlocal t
            t += dt.timedelta(seconds=rng.uniform(0.2, seconds))
            return t

        self.event(tenant_id, conv_id, "agent.routed", t, sup.slug, detail={"to": sup.slug})
        current = sup
        turns = rng.randint(1, 3)
        escalated = rng.random() < 0.12
        for turn in range(turns):
            tick(60)
            self.event(
                tenant_id,
                conv_id,
                "message.classified",
                t,
                detail={"signals": {"intent": specialist.domains[0]}},
                ms=rng.uniform(0.5, 4),
            )
            if turn == 0:
                self.event(
                    tenant_id,
                    conv_id,
                    "state.changed",
                    t,
                    detail={"from": "triaged", "to": "active"},
                )
                self.event(
                    tenant_id,
                    conv_id,
                    "rule.fired",
                    t,
                    sup.slug,
                    f"{sup.slug} v3 handoffs[0]",
                    {"kind": "handoff", "to": specialist.slug},
                    rng.uniform(0.05, 0.5),
                )
                self.event(
                    tenant_id,
                    conv_id,
                    "agent.routed",
                    t,
                    specialist.slug,
                    f"{sup.slug} v3",
                    {"from": sup.slug, "to": specialist.slug},
                )
                current = specialist
            elif rng.random() < 0.12:
                other = rng.choice([s for s in specialists if s is not current])
                self.event(
                    tenant_id,
                    conv_id,
                    "agent.rerouted",
                    t,
                    other.slug,
                    detail={"from": current.slug, "to": other.slug, "reason": "topic shift"},
                )
                current = other
            self.event(
                tenant_id,
                conv_id,
                "agent.replied",
                tick(),
                current.slug,
                detail={"answered": rng.random() < 0.8},
                ms=rng.uniform(20, 900),
            )
        if rng.random() < 0.06:
            self.event(
                tenant_id, conv_id, "stall.detected", tick(), current.slug, detail={"reason": "x"}
            )
        claimed_at = resolved_at = None
        if escalated:
            self.event(
                tenant_id,
                conv_id,
                "escalated",
                tick(),
                current.slug,
                detail={"to": "human", "reason": "escalation rule"},
            )
            opened = tick()
            self.event(tenant_id, conv_id, "handoff.offered", opened, detail={"mode": "cold"})
            status = "queued"
            if rng.random() < 0.7:
                claimed_at = opened + dt.timedelta(seconds=rng.uniform(30, 7200))
                status = "claimed"
                self.event(tenant_id, conv_id, "handoff.claimed", claimed_at, detail={"by": "ada"})
            self.handoffs.append((tenant_id, conv_id, opened, claimed_at, status))
        if rng.random() < 0.1:
            finished = tick(30)
            failed = rng.random() < 0.1
            attempts = 5 if failed else (1 if rng.random() < 0.85 else 2)
            self.executions.append(
                (tenant_id, conv_id, finished, attempts, failed, f"agent:{current.slug}")
            )
            self.event(
                tenant_id,
                conv_id,
                "action.failed" if failed else "action.executed",
                finished,
                detail={"action": "issue_refund", "attempts": attempts},
            )
        if rng.random() < 0.05:
            requested = tick()
            decided = requested + dt.timedelta(seconds=rng.expovariate(1 / 600))
            self.approvals.append((tenant_id, conv_id, requested, decided, f"agent:{current.slug}"))
            self.event(tenant_id, conv_id, "approval.requested", requested, current.slug)
            self.event(tenant_id, conv_id, "approval.decided", decided)
        state = "active"
        if rng.random() < 0.7:
            resolved_at = (claimed_at or t) + dt.timedelta(seconds=rng.uniform(60, 7200))
            resolved_at = min(resolved_at, self.now)
            state = "resolved"
            self.event(tenant_id, conv_id, "state.changed", resolved_at, detail={"to": "resolved"})
        self.conversations.append(
            (
                conv_id,
                tenant_id,
                sup.pk,
                current.pk,
                workflow.pk if workflow else None,
                state,
                turns,
                start,
                t,
                resolved_at,
            )
        )

    # --- COPY ---

    def flush(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(
                "COPY orchestration_conversation (id, tenant_id, channel, customer_ref, "
                "customer_name, customer_email, customer_attributes, language, entry_agent_id, "
                "current_agent_id, workflow_id, workflow_state, budget_used, state, turns, "
                "attempts, "
                "runtime_failures, turns_without_progress, customer_token_hash, "
                "last_activity_at, created_at, updated_at, resolved_at) FROM STDIN"
            ) as copy:
                for c in self.conversations:
                    conv_id, tenant_id, entry, current, workflow, state, turns, start, last, res = c
                    copy.write_row(
                        (
                            conv_id,
                            tenant_id,
                            "web",
                            f"c-{conv_id.hex[:8]}",
                            "",
                            "",
                            "{}",
                            "",
                            entry,
                            current,
                            workflow,
                            "{}",
                            "{}",
                            state,
                            turns,
                            0,
                            0,
                            0,
                            "x" * 64,
                            last,
                            start,
                            res or last,
                            res,
                        )
                    )
            with raw.copy(
                "COPY orchestration_decisionevent (tenant_id, conversation_id, type, agent_slug, "
                "rule, detail, duration_ms, created_at) FROM STDIN"
            ) as copy:
                for row in self.events:
                    copy.write_row(row)
            with raw.copy(
                "COPY handover_handoff (tenant_id, conversation_id, mode, status, reason, "
                "priority, created_at, queued_at, claimed_at) FROM STDIN"
            ) as copy:
                for tenant_id, conv_id, opened, claimed, status in self.handoffs:
                    copy.write_row(
                        (tenant_id, conv_id, "cold", status, "bench", 0, opened, opened, claimed)
                    )
            with raw.copy(
                "COPY approvals_actionexecution (tenant_id, conversation_id, action, params, "
                "execution_key, idempotency_key, requested_by_label, status, attempts, error, "
                "created_at, updated_at, finished_at) FROM STDIN"
            ) as copy:
                for n, (tenant_id, conv_id, finished, attempts, failed, by) in enumerate(
                    self.executions
                ):
                    copy.write_row(
                        (
                            tenant_id,
                            conv_id,
                            "issue_refund",
                            '{"orderId": "A1", "amount": 10}',
                            f"bench:{n}",
                            f"k{n}",
                            by,
                            "failed" if failed else "succeeded",
                            attempts,
                            "",
                            finished,
                            finished,
                            finished,
                        )
                    )
            with raw.copy(
                "COPY approvals_approvalrequest (tenant_id, conversation_id, action, params, "
                "idempotency_key, status, requested_by_label, approvers, quorum, rule, "
                "rule_detail, reason, created_at, decided_at, expires_at) FROM STDIN"
            ) as copy:
                for n, (tenant_id, conv_id, requested, decided, by) in enumerate(self.approvals):
                    copy.write_row(
                        (
                            tenant_id,
                            conv_id,
                            "issue_refund",
                            '{"orderId": "A1", "amount": 500}',
                            f"a{n}",
                            "approved" if n % 4 else "denied",
                            by,
                            '["priya"]',
                            1,
                            "",
                            "[]",
                            "",
                            requested,
                            decided,
                            requested + dt.timedelta(days=1),
                        )
                    )


def load(now: dt.datetime):
    from django.db import connection

    from core import services
    from core.models import Tenant
    from tests.factories import make_person

    main = Tenant.objects.create(slug="bench", name="Bench")
    noise = Tenant.objects.create(slug="noise", name="Noise")
    loader = Loader(now)
    teams = {main.pk: loader.team(main), noise.pk: loader.team(noise)}
    while loader.event_count < EVENTS:
        tenant_id = main.pk if loader.rng.random() < 0.8 else noise.pk
        loader.conversation(tenant_id, teams[tenant_id])
    del loader.events[EVENTS:]
    # rows arrive in time order in production (append-only): keep that heap locality
    loader.conversations.sort(key=lambda c: c[7])
    loader.events.sort(key=lambda e: e[7])
    loader.handoffs.sort(key=lambda h: h[2])
    loader.executions.sort(key=lambda x: x[2])
    loader.approvals.sort(key=lambda a: a[2])
    loader.flush()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum keeps up in a steady state
    manager = make_person(tenant=main, roles=["manager"], username="bench-manager")
    _, raw_key = services.api_key_create(tenant=main, name="bench")
    return main, manager, raw_key, loader


class Counts:
    """What a kept database holds (``--keep`` on a second run)."""

    def __init__(self):
        from approvals.models import ActionExecution, ApprovalRequest
        from handover.models import Handoff

        self.handoffs = range(Handoff.objects.count())
        self.executions = range(ActionExecution.objects.count())
        self.approvals = range(ApprovalRequest.objects.count())


def reload():
    """The tenant, manager and a new key of a kept database, and the time it was loaded."""
    from django.db.models import Max

    from conversations.models import Conversation
    from core import services
    from core.models import (
        Membership,
        Tenant,
    )

    tenant = Tenant.objects.get(slug="bench")
    manager = Membership.objects.get(tenant=tenant, is_manager=True).user
    _, raw_key = services.api_key_create(tenant=tenant, name="bench")
    now = Conversation.objects.aggregate(last=Max("created_at"))["last"]
    return tenant, manager, raw_key, Counts(), now


# --- measurements --------------------------------------------------------------------------------


def timed(fn, runs: int = WARM_RUNS) -> tuple[float, float]:
    """(first run ms, median of the next ``runs`` ms)."""
    begin = time.perf_counter()
    fn()
    first = (time.perf_counter() - begin) * 1000
    laps = []
    for _ in range(runs):
        begin = time.perf_counter()
        fn()
        laps.append((time.perf_counter() - begin) * 1000)
    return first, percentile(laps, 50)


def fresh_connection() -> None:
    from django.db import connection

    connection.close()
    connection.ensure_connection()


def selector_timings(windows: dict[str, object]) -> list[tuple[str, str, float, float]]:
    from insight.metrics import selectors

    queries = {
        "conversations per day": lambda w: selectors._conversation_counts(w, by_day=True),
        "escalations/stalls/re-routes per day": lambda w: selectors._outcome_counts(w, by_day=True),
        "handoffs": selectors.handoff_figures,
        "time to resolution (agent, workflow)": selectors.resolution_times,
        "actions": selectors.action_figures,
        "approval turnaround": selectors.approval_turnaround,
    }
    rows = []
    for label, window in windows.items():
        for name, query in queries.items():
            fresh_connection()
            first, warm = timed(lambda q=query, w=window: q(w))
            rows.append((label, name, first, warm))
    return rows


def explain(windows: dict[str, object]) -> None:
    """EXPLAIN ANALYZE of every query the endpoint runs, over each window."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from insight.metrics.selectors import metrics_summary

    for label, window in windows.items():
        with CaptureQueriesContext(connection) as captured:
            metrics_summary(window)
        for query in captured.captured_queries:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {query['sql']}")
                plan = [row[0] for row in cursor.fetchall()]
            print(f"\n--- {label}: {query['sql'][:110]}...")
            for line in plan:
                print(f"    {line}")


def requests_timings(tenant, manager, raw_key) -> list[tuple[str, float, float, int]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    page = Client()
    page.force_login(manager)
    today = dt.date.today()
    month = {"from": (today - dt.timedelta(days=29)).isoformat()}
    cases = [
        ("GET /api/v1/metrics (7 days)", lambda: api.get("/api/v1/metrics")),
        ("GET /api/v1/metrics (30 days)", lambda: api.get("/api/v1/metrics", month)),
        (
            "GET /api/v1/metrics?agentId=agent-billing",
            lambda: api.get("/api/v1/metrics", {"agentId": "agent-billing"}),
        ),
        ("admin dashboard (7 days)", lambda: page.get("/admin/insight/metricsdashboard/")),
        (
            "admin dashboard (30 days)",
            lambda: page.get("/admin/insight/metricsdashboard/", month),
        ),
        (
            "dashboard CSV export (30 days)",
            lambda: page.get("/admin/insight/metricsdashboard/export.csv", month),
        ),
    ]
    rows = []
    for name, call in cases:
        response = call()  # the key's last use and the session are written once
        assert response.status_code == 200, (name, response.status_code)
        fresh_connection()
        first, warm = timed(call)
        with CaptureQueriesContext(connection) as captured:
            call()
        rows.append((name, first, warm, len(captured)))
    return rows


def report(*, loader, tenant, version, setup, selectors, requests, total) -> list[dict]:
    """Print the report; return its figures for the RESULT line."""
    from conversations.models import (
        Conversation,
        DecisionEvent,
    )

    events = DecisionEvent.objects.count()
    print(f"PostgreSQL {version}; loaded in {setup:.1f} s (COPY), {total:.1f} s in all")
    print(
        f"data: {events:,} decision events, {Conversation.objects.count():,} conversations, "
        f"{len(loader.handoffs):,} handoffs, {len(loader.executions):,} action executions, "
        f"{len(loader.approvals):,} approval requests over {DAYS} days; 2 tenants, the one "
        f"measured holds {DecisionEvent.objects.filter(tenant=tenant).count():,} events"
    )
    print()
    print(
        "dashboard queries (one query each; ms: cold = first on a new connection, warm = "
        f"median of {WARM_RUNS})"
    )
    print(f"  {'window':<22} {'query':<40} {'cold':>8} {'warm':>8}")
    for label, name, first, warm in selectors:
        print(f"  {label:<22} {name:<40} {first:8.1f} {warm:8.1f}")
    print()
    print(f"requests in process (ms; aim for the metrics endpoint: under {AIM_MS} ms)")
    print(f"  {'request':<44} {'cold':>8} {'warm':>8} {'queries':>8}")
    for name, first, warm, queries in requests:
        print(f"  {name:<44} {first:8.1f} {warm:8.1f} {queries:8d}")
    api = [warm for name, _, warm, _ in requests if name.startswith("GET /api/v1/metrics")]
    verdict = "met" if max(api) < AIM_MS else "MISSED"
    print(f"\naim (metrics endpoint under {AIM_MS} ms, warm): {verdict} (worst {max(api):.1f} ms)")
    figures = [figure("decision events loaded", events, "events")]
    for name, first, warm, queries in requests:
        aimed = name.startswith("GET /api/v1/metrics")
        figures.append(
            figure(
                f"{name}, warm",
                warm,
                "ms",
                f"< {AIM_MS}" if aimed else "",
                warm < AIM_MS if aimed else None,
            )
        )
        figures.append(figure(f"{name}, cold", first, "ms"))
        figures.append(figure(f"{name}, queries", queries, "queries"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--explain", action="store_true", help="print each query's plan")
    parser.add_argument(
        "--keep", action="store_true", help=f"keep the database {BENCH_DB} (and reuse it next time)"
    )
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        fail(
            "set DATABASE_URL to a PostgreSQL server (postgres://user@host:5432/db); the bench "
            f"creates and drops its own database '{BENCH_DB}' there."
        )
    maintenance_url, bench_url = database_urls(url, BENCH_DB)
    began = time.perf_counter()
    try:
        reuse = args.keep and database_exists(maintenance_url)
        if not reuse:
            recreate_database(maintenance_url, BENCH_DB, create=True)
    except Exception as exc:
        fail(f"cannot create the database {BENCH_DB} on {urlsplit(url).hostname}: {exc}")
    os.environ.update(
        {
            "DATABASE_URL": bench_url,
            "DEBUG": "0",
            # plain HTTP, as behind a proxy that ends TLS (else every request is redirected)
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "SECRET_KEY": "bench-metrics-not-secret-" + "x" * 32,
            "SECRETS_KEYS": STORE_KEYS,
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    try:
        import django

        django.setup()
        # the dashboard's admin pages, registered before the admin's URLs are first read
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.utils import timezone

        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
        call_command("migrate", verbosity=0)
        version = connection.cursor().connection.info.server_version
        version = f"{version // 10000}.{version % 10000}"
        loaded = time.perf_counter()
        if reuse:
            tenant, manager, raw_key, loader, now = reload()
        else:
            now = timezone.now()
            tenant, manager, raw_key, loader = load(now)
        setup = time.perf_counter() - loaded

        from insight.metrics.window import Window

        windows = {
            "7 days": Window(tenant=tenant, start=now - dt.timedelta(days=7), end=now),
            "30 days": Window(tenant=tenant, start=now - dt.timedelta(days=30), end=now),
            "7 days, agent-billing": Window(
                tenant=tenant, start=now - dt.timedelta(days=7), end=now, agent="agent-billing"
            ),
        }
        selectors = selector_timings(windows)
        requests = requests_timings(tenant, manager, raw_key)
        if args.explain:
            explain(windows)
        figures = report(
            loader=loader,
            tenant=tenant,
            version=version,
            setup=setup,
            selectors=selectors,
            requests=requests,
            total=time.perf_counter() - began,
        )
        knobs = [f"BENCH_EVENTS={EVENTS}"] if EVENTS != 1_000_000 else []
        emit("metrics", figures, command_line("bench/metrics.py", env=[*knobs, "DATABASE_URL=..."]))
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if not args.keep:
            recreate_database(maintenance_url, BENCH_DB, create=False)


if __name__ == "__main__":
    main()

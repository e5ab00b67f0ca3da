"""Benchmark of the stack canvas (issue 20): the customer-support stack drawn with the traffic of
the last 7 days, as the decision events grow.

    DATABASE_URL=postgres://user@host:5432/db .venv/bin/python bench/canvas.py [--events N]

Runs on a database ``bench_canvas`` (or BENCH_DB) on the PostgreSQL server of DATABASE_URL
(dropped first and at the end), or on a throwaway SQLite database without DATABASE_URL.
Imports the built-in customer-support template, then writes conversations with about ten
decision events each (the start, classifications, handoff-rule transfers, replies, risk
escalations and hand-overs to people) spread over the last 10 days. Prints, at each size:

- the traffic query alone (one grouped query over the 7-day window);
- ``stack_canvas`` (lint scope, settings, traffic, layout) and the whole admin page (in
  process through Django's test client: middleware, session, template, SVG), cold (the first
  on a new database connection) and warm (median of the next runs), with their queries.

Aim: the canvas page under 300 ms with 200,000 events, in the same number of queries at every
size (the tests assert the count; this shows the time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._db import analyze, database_urls, recreate_database  # noqa: E402
from bench._result import command_line, emit, figure  # noqa: E402
from tools.stats import percentile  # noqa: E402

BENCH_DB = os.environ.get("BENCH_DB", "bench_canvas")
WARM_RUNS = 7
AIM_MS = 300
SPECIALISTS = ("agent-billing", "agent-tech", "agent-returns", "agent-retention")


def _database() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        path = Path(tempfile.mkdtemp(prefix="bench-canvas-")) / "db.sqlite3"
        os.environ["SQLITE_PATH"] = str(path)
        return "SQLite (embedded default)"
    maintenance, bench = database_urls(url, BENCH_DB)
    recreate_database(maintenance, BENCH_DB, create=True)
    os.environ["DATABASE_URL"] = bench
    return "PostgreSQL"


def _drop(database: str) -> None:
    if database != "PostgreSQL" or os.environ.get("BENCH_KEEP"):
        return  # BENCH_KEEP=1 leaves it, to look at a query plan
    from django.db import connections

    connections.close_all()
    maintenance, _ = database_urls(os.environ["DATABASE_URL"], BENCH_DB)
    recreate_database(maintenance, BENCH_DB, create=False)


def _load(tenant, root, conversations: int, rng: random.Random) -> tuple[int, list]:
    """Write ``conversations`` conversations and their events; returns (events written, the
    conversations' ids)."""
    from conversations.decisions import (
        AgentReplied,
        AgentRouted,
        Escalated,
        EscalationReason,
        HandoffOffered,
        MessageClassified,
        RouteReason,
    )
    from conversations.models import Conversation, DecisionEvent

    agents = {a.slug: a for a in root.tenant.agents.all()}
    rows, events = [], []
    for _ in range(conversations):
        target = agents[rng.choice(SPECIALISTS)]
        rows.append(
            Conversation(
                id=uuid.uuid4(),
                tenant=tenant,
                channel="web",
                customer_ref=f"c-{rng.randrange(10**9)}",
                entry_agent=root,
                current_agent=target,
                customer_token_hash="x" * 64,
            )
        )
    Conversation.objects.bulk_create(rows, batch_size=2000)
    for conversation in rows:
        target = conversation.current_agent.slug
        detail = [
            (AgentRouted(to=root.slug, reason="start", reason_code=RouteReason.STARTED), root),
            (MessageClassified(signals={"intent": "billing", "sentiment": 0.0, "risk": []}), root),
            (
                AgentRouted(
                    from_=root.slug,
                    to=target,
                    reason="handoff rule",
                    reason_code=RouteReason.HANDOFF_RULE,
                ),
                root,
            ),
            *[(AgentReplied(answered=True), conversation.current_agent)] * rng.randint(3, 6),
        ]
        if rng.random() < 0.2:
            detail.append(
                (
                    Escalated(to="human", reason="risk", reason_code=EscalationReason.RISK),
                    conversation.current_agent,
                )
            )
            detail.append(
                (
                    HandoffOffered(handoff_id=None, mode="cold", why="risk", reason="risk"),
                    conversation.current_agent,
                )
            )
        for event, agent in detail:
            events.append(
                DecisionEvent(
                    tenant=tenant,
                    conversation=conversation,
                    type=event.type,
                    detail=event.to_detail(),
                    agent_slug=agent.slug,
                )
            )
    DecisionEvent.objects.bulk_create(events, batch_size=5000)
    return len(events), [conversation.id for conversation in rows]


def _spread(ids: list, rng: random.Random) -> None:
    """Spread these conversations' events over the last 10 days (``auto_now_add`` stamped
    them now): one UPDATE per day's share."""
    from django.db.models import F

    from conversations.models import DecisionEvent

    rng.shuffle(ids)
    days = 10
    for day in range(days):
        share = ids[day::days]
        for start in range(0, len(share), 5000):
            DecisionEvent.objects.filter(conversation_id__in=share[start : start + 5000]).update(
                created_at=F("created_at") - dt.timedelta(days=day, hours=rng.uniform(0, 20))
            )


def _timed(call) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    connection.close()  # cold: a new connection
    started = time.perf_counter()
    call()
    cold = (time.perf_counter() - started) * 1000
    warm = []
    for _ in range(WARM_RUNS):
        started = time.perf_counter()
        call()
        warm.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        call()
    return cold, percentile(warm, 50), len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        action="append",
        help="decision events to reach (several: measured at each); default 20000, 200000",
    )
    args = parser.parse_args()
    sizes = sorted(args.events or [20_000, 200_000])

    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("REDIS_URL", None)
    database = _database()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", verbosity=0)
    from agents.models import Agent
    from conversations.models import DecisionEvent
    from core.models import ApproverGroup, Tenant
    from core.services import user_create
    from stacks.canvas import stack_canvas, stack_traffic
    from stacks.selectors import builtin_template
    from stacks.services import stack_import

    rng = random.Random(20)
    rows = []
    try:
        tenant = Tenant.objects.create(slug="bench", name="Bench")
        user_create(username="approver", tenant=tenant, roles=["approver"])
        group = ApproverGroup.objects.create(tenant=tenant, name="finance")
        group.members.add(user_create(username="fin", tenant=tenant, roles=["approver"])[0])
        manager, _ = user_create(username="maria", tenant=tenant, roles=["manager"])
        stack_import(tenant=tenant, document=builtin_template("customer-support").document)
        root = Agent.objects.get(tenant=tenant, slug="agent-supervisor")
        page = Client()
        page.force_login(manager)
        url = f"/admin/stacks/stacktemplate/canvas/{root.pk}/"
        now = timezone.now()
        written = 0
        for size in sizes:
            added = []
            while written < size:
                batch = min(2000, max(1, (size - written) // 9))
                count, ids = _load(tenant, root, batch, rng)
                written += count
                added += ids
            _spread(added, rng)
            analyze()
            total = DecisionEvent.objects.count()
            since = now - dt.timedelta(days=7)
            in_window = DecisionEvent.objects.filter(created_at__gte=since).count()
            assert page.get(url).status_code == 200
            traffic = _timed(lambda since=since: stack_traffic(tenant=tenant, since=since))
            canvas = _timed(lambda: stack_canvas(root=root))
            whole = _timed(lambda: page.get(url))
            rows.append((total, in_window, traffic, canvas, whole))
    finally:
        _drop(database)

    print(f"stack canvas on {database}: the customer-support stack (5 agents, 2 workflows)")
    print(f"cold = first on a new connection; warm = median of {WARM_RUNS}")
    header = "events   in 7 days   what               cold ms   warm ms   queries"
    print(header)
    figures = []
    for total, in_window, *timings in rows:
        for name, (cold, warm, queries) in zip(
            ("traffic query", "stack_canvas()", "admin page"), timings, strict=True
        ):
            print(f"{total:7d}   {in_window:9d}   {name:<16} {cold:9.1f} {warm:9.1f} {queries:9d}")
        _, page_warm, page_queries = timings[2]
        met = page_warm < AIM_MS if total >= 200_000 else None
        figures += [
            figure(
                f"canvas page, {total} events, warm",
                page_warm,
                "ms",
                f"< {AIM_MS} ms at 200000" if met is not None else "",
                met,
            ),
            figure(f"canvas page, {total} events, cold", timings[2][0], "ms"),
            figure(f"traffic query, {total} events, warm", timings[0][1], "ms"),
            figure(f"canvas page queries, {total} events", page_queries, "queries"),
        ]
    counts = {row[4][2] for row in rows}
    print(f"queries per page at every size: {sorted(counts)} (the same: {len(counts) == 1})")
    figures.append(
        figure("same queries at every size", int(len(counts) == 1), "bool", "1", len(counts) == 1)
    )
    emit("canvas", figures, command_line("bench/canvas.py"))


if __name__ == "__main__":
    main()

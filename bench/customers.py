"""Benchmark of the customers (handover/customers.py): the inbox's Customers page and the API's
``GET /api/v1/customers`` are built from the conversations at every request (a customer is no
row of its own), so their cost grows with the tenant's conversations.

    DATABASE_URL=postgres://user@host:5432/db .venv/bin/python bench/customers.py

Sets itself up: a database ``bench_customers`` (dropped at the end), migrated, one tenant with
BENCH_CONVERSATIONS conversations (default 100,000) of BENCH_CUSTOMERS customers (default
20,000), each with one message, over the last 90 days, a quarter open; ANALYZE. Then, through
DRF's APIClient as an integration (middleware, authentication, view, JSON), the median of
BENCH_RUNS warm runs (default 7) of: the first page, the tenth page, a search by a name's
part, and one customer's page; and the queries each takes.

Aim: each under 300 ms at this size.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._db import analyze, database_urls, recreate_database  # noqa: E402
from bench._procs import STORE_KEYS  # noqa: E402
from bench._result import command_line, emit, figure  # noqa: E402
from tools.stats import percentile  # noqa: E402

BENCH_DB = os.environ.get("BENCH_DB", "bench_customers")
CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", "100000"))
CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "20000"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
AIM_MS = 300
BATCH = 5000
FIRST = ("Kim", "Lee", "Ada", "Bob", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hana")
LAST = ("Park", "Marvin", "Lovelace", "Stone", "Rivera", "Okafor", "Ito", "Berg")


def fail(message: str) -> None:
    print(f"bench/customers.py: {message}", file=sys.stderr)
    sys.exit(2)


def load(tenant, agent) -> None:
    """The conversations and their messages, written in batches (bulk INSERTs)."""
    from conversations.models import Channel, Conversation, Message, MessageRole, State

    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    names = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(CUSTOMERS)]
    done = 0
    while done < CONVERSATIONS:
        rows, messages = [], []
        for n in range(done, min(done + BATCH, CONVERSATIONS)):
            who = n % CUSTOMERS
            at = now - dt.timedelta(minutes=rng.randrange(90 * 24 * 60))
            conversation = Conversation(
                id=uuid.uuid4(),
                tenant=tenant,
                current_agent=agent,
                entry_agent=agent,
                channel=Channel.WEB if n % 3 else Channel.EMAIL,
                customer_ref=f"cust-{who}",
                customer_name=names[who],
                customer_email=f"c{who}@example.com" if who % 2 else "",
                customer_token_hash="0" * 64,
                state=State.ACTIVE if n % 4 == 0 else State.RESOLVED,
                last_activity_at=at,
            )
            rows.append(conversation)
            messages.append(
                Message(
                    tenant=tenant,
                    conversation=conversation,
                    role=MessageRole.CUSTOMER,
                    text=f"Where is my order {n}?",
                )
            )
        Conversation.objects.bulk_create(rows)
        Message.objects.bulk_create(messages)
        done += len(rows)


def measured(client, path: str, params: dict | None = None) -> tuple[float, int]:
    """The median ms of RUNS warm requests (after one), and the queries of one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(path, params or {})
    assert response.status_code == 200, (path, response.status_code, response.content[:300])
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            client.get(path, params or {})
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50), len(queries)


def main() -> None:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        fail("set DATABASE_URL to a PostgreSQL server; the bench makes its own database there")
    maintenance, bench_url = database_urls(url, BENCH_DB)
    recreate_database(maintenance, BENCH_DB, create=True)
    os.environ.update(
        {
            "DATABASE_URL": bench_url,
            "DEBUG": "0",
            "SECRET_KEY": "bench-customers-not-secret-" + "x" * 32,
            "SECRETS_KEYS": STORE_KEYS,
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "0",
            "API_RATE_LIMIT": "off",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    began = time.perf_counter()
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from rest_framework.test import APIClient

        from agents.services import agent_create
        from core import services
        from core.models import Tenant

        call_command("migrate", verbosity=0)
        tenant = Tenant.objects.create(slug="bench", name="Bench")
        agent = agent_create(tenant=tenant, slug="agent-desk", name="Desk", role="supervisor")
        load(tenant, agent)
        analyze()
        loaded = time.perf_counter() - began
        _, raw_key = services.api_key_create(tenant=tenant, name="bench")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        results = {
            "the first page": measured(client, "/api/v1/customers"),
            "the tenth page": measured(client, "/api/v1/customers", {"page": 10}),
            "a search by name": measured(client, "/api/v1/customers", {"q": "lovelace"}),
            "one customer": measured(client, "/api/v1/customers/cust-42"),
        }
    finally:
        from django.db import connections

        connections.close_all()
        recreate_database(maintenance, BENCH_DB, create=False)

    print(
        f"customers on PostgreSQL: {CONVERSATIONS:,} conversations of {CUSTOMERS:,} customers "
        f"(loaded in {loaded:.0f} s); medians of {RUNS} warm requests through APIClient"
    )
    figures = []
    for name, (ms, queries) in results.items():
        met = ms < AIM_MS
        print(f"  {name:18s} {ms:8.1f} ms   {queries} queries   aim < {AIM_MS} ms")
        figures.append(figure(name, ms, "ms", f"< {AIM_MS} ms", met))
        figures.append(figure(f"{name}: queries", queries, "queries"))
    emit(
        "customers",
        figures,
        command_line(
            "bench/customers.py",
            env=[
                f"BENCH_CONVERSATIONS={CONVERSATIONS}",
                f"BENCH_CUSTOMERS={CUSTOMERS}",
                "DATABASE_URL=...",
            ],
        ),
    )


if __name__ == "__main__":
    main()

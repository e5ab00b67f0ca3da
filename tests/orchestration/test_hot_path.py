"""The hot path, counted (issue 17 point 5): one customer message through ``POST
/api/v1/conversations/{id}/messages`` with an API key, decided and dispatched through the
outbox (its after-commit relay counted too; the AI turn's run and apply happen on a worker and
are not counted here). Counts, not wall-clock time: they may only go down."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator

import pytest
import redis.asyncio.connection as async_connection
import redis.connection as sync_connection
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from agents.models import Agent
from bench._procs import wait_until
from config.celery import app as celery_app
from conversations.models import Message
from conversations.services import conversation_start
from core.models import OutboxEvent
from orchestration.pipeline import LOCK, _locked
from orchestration.turn import RUN_TURN_TASK
from tests.conftest import need_service
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db(transaction=True)

# What a message costs (measured; issue 17's targets: 6 statements for a normal message, 12
# for a refund, 3 Redis commands). Lower these as the path gets leaner; never raise them.
# A normal message: the lock (with the tenant check and the previous customer message), the
# message, the outbox row, the conversation, the decision events; nothing after the commit (the
# outbox row, once published, is marked relayed with the process's next batch of marks, a
# statement for many messages: core/outbox.py, _Marks). Redis (REDIS_URL), counted as
# commands, each its own round trip:
# the rate limit's EVALSHA, the broker's LPUSH, and the turn's socket events (typing and the
# message, to the conversation and the inbox; for a refund also the transfer's notice) in one
# EVALSHA (config/channel_layer.py), on the process's one channel-layer connection (no
# HELLO/CLIENT/SELECT of a new connection per request). A refund costs the same three.
NORMAL_STATEMENTS = 5
REFUND_STATEMENTS = 6
REDIS_COMMANDS = 3
REFUND_REDIS_COMMANDS = 3

# The Redis commands sent in the counting context (contextvars follow async_to_sync into the
# channel layer's coroutines; a worker's or runner's thread has its own context).
_COUNTED: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("redis", default=None)


def _name(args) -> str:
    name = args[0]
    return (name.decode() if isinstance(name, bytes) else str(name)).upper()


@pytest.fixture
def redis_commands(monkeypatch) -> Iterator[list[str]]:
    """Every Redis command sent from here on (the cache, the channel layer, the broker),
    counted at redis-py's connection level, pipelined commands one by one."""
    for module in (sync_connection, async_connection):
        cls = module.AbstractConnection
        send, pack_many = cls.send_command, cls.pack_commands

        def counted_send(self, *args, _send=send, **kwargs):
            if (seen := _COUNTED.get()) is not None:
                seen.append(_name(args))
            return _send(self, *args, **kwargs)

        def counted_pack_many(self, commands, _pack=pack_many):
            commands = list(commands)
            if (seen := _COUNTED.get()) is not None:
                seen.extend(_name(args) for args in commands)
            return _pack(self, commands)

        monkeypatch.setattr(cls, "send_command", counted_send)
        monkeypatch.setattr(cls, "pack_commands", counted_pack_many)
    seen: list[str] = []
    token = _COUNTED.set(seen)
    yield seen
    _COUNTED.reset(token)


@pytest.fixture
def published(settings):
    """Dispatch through the outbox to the broker (REDIS_URL's Redis, or Celery's in-memory
    transport on the embedded default); nobody consumes it here, so no turn runs."""
    settings.TURN_DISPATCH = "outbox"
    settings.OUTBOX_MARK_BATCH_SECONDS = 0.5  # as in production: marked with the next batch
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = before


def start(client, agent: str) -> str:
    response = client.post(
        "/api/v1/conversations",
        {"agentId": agent, "channel": "web", "customer": {"id": "cust-1", "name": "Kim"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def send(client, conversation_id: str, text: str) -> dict:
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages", {"text": text}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def counted(client, conversation_id: str, text: str, redis_commands: list[str]):
    redis_commands.clear()
    with CaptureQueriesContext(connection) as queries:
        body = send(client, conversation_id, text)
    # the work, not the transaction's brackets (SQLite logs its BEGIN and COMMIT; PostgreSQL's
    # driver sends them unlogged): a savepoint would be counted
    statements = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].split(" ")[0].upper() not in ("BEGIN", "COMMIT")
    ]
    print(f"\n{text!r}: {len(statements)} statements, {len(redis_commands)} Redis commands")
    for sql in statements:
        print("  ", sql[:160])
    print("  ", redis_commands)
    return body, statements, list(redis_commands)


def test_a_normal_message_costs_a_fixed_few_statements_and_redis_commands(
    key_client, team, published, redis_commands
):
    conversation = start(key_client, "agent-billing")
    send(key_client, conversation, "Hello")  # the first: the state moves on

    body, statements, commands = counted(
        key_client, conversation, "Where is my invoice?", redis_commands
    )

    assert body["replyStatus"] == "pending"
    row = OutboxEvent.objects.order_by("id").last()
    assert row.payload["task"] == RUN_TURN_TASK and row.payload["args"][2] == body["message"]["id"]
    # published in the request (the broker's LPUSH, counted below), and marked relayed with
    # the process's next batch of marks, not by a statement of the request's
    assert not [sql for sql in statements if sql.startswith('UPDATE "orchestration_outboxevent"')]
    wait_until(
        lambda: OutboxEvent.objects.filter(pk=row.pk, relayed_at__isnull=False).exists(),
        what="the row marked relayed",
        timeout=10,
    )
    assert not [sql for sql in statements if "SAVEPOINT" in sql.upper()]
    # the lock reads the conversation alone: the tenant is the key's, the agent the cached
    # configuration's
    assert "orchestration_conversation" in statements[0] and " JOIN " not in statements[0]
    assert len(statements) <= NORMAL_STATEMENTS
    assert len(commands) <= REDIS_COMMANDS


def test_a_refund_message_costs_a_fixed_few_statements(key_client, team, published, redis_commands):
    conversation = start(key_client, "agent-sup")
    send(key_client, conversation, "Hello")

    body, statements, commands = counted(
        key_client, conversation, "I was charged twice, I want a refund", redis_commands
    )

    assert body["currentAgentId"] == "agent-billing"
    assert not [sql for sql in statements if "SAVEPOINT" in sql.upper()]
    assert len(statements) <= REFUND_STATEMENTS
    assert len(commands) <= REFUND_REDIS_COMMANDS


def test_the_tenant_check_in_the_lock_query_keeps_another_tenants_conversation_out_of_reach(
    key_client, team, other_tenant, published
):
    Agent.objects.create(tenant=other_tenant, slug="theirs", name="T", role="specialist")
    them = APIClient()
    them.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")
    theirs = start(them, "theirs")
    before = Message.objects.filter(conversation_id=theirs).count()

    response = key_client.post(
        f"/api/v1/conversations/{theirs}/messages", {"text": "hi"}, format="json"
    )

    assert response.status_code == 404
    assert Message.objects.filter(conversation_id=theirs).count() == before
    assert not OutboxEvent.objects.filter(tenant=other_tenant, kind="task").exists()


@pytest.mark.services
def test_the_lock_finds_the_conversation_by_its_primary_key_whatever_the_statistics(tenant):
    """The lock must not depend on the planner's statistics: on tables PostgreSQL had not
    analyzed yet (a fresh database, a restore, autovacuum off), it read the tenant's index and
    stepped through every conversation of the tenant to find one, on every message."""
    if connection.vendor != "postgresql":
        need_service("PostgreSQL: set DATABASE_URL (the plan is PostgreSQL's)")
    agent = Agent.objects.create(tenant=tenant, slug="a", name="A", role="specialist")
    made = [
        conversation_start(tenant=tenant, agent=agent, channel="web", customer={"id": f"c{i}"})[0]
        for i in range(60)
    ]
    target = made[30]
    with transaction.atomic():
        assert _locked(target.pk, tenant.pk).pk == target.pk  # compiles the lock's SQL
    sql, params = LOCK.sql(pk=target.pk, tenant=tenant.pk)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0][0]["Plan"]

    scans = list(_scans_of(plan, "orchestration_conversation"))
    assert scans == [("Index Scan", "orchestration_conversation_pkey")], scans


@pytest.mark.services
def test_postgresql_stops_parsing_and_planning_the_lock_once_a_connection_repeats_it(tenant):
    if connection.vendor != "postgresql":
        need_service("PostgreSQL: set DATABASE_URL (prepared statements are PostgreSQL's)")
    agent = Agent.objects.create(tenant=tenant, slug="a", name="A", role="specialist")
    conversation, _ = conversation_start(
        tenant=tenant, agent=agent, channel="web", customer={"id": "c"}
    )

    with transaction.atomic():  # one connection throughout
        for _ in range(6):
            _locked(conversation.pk, tenant.pk)
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [row[0] for row in cursor.fetchall()]

    assert [sql for sql in prepared if "FOR UPDATE" in sql and "orchestration_conversation" in sql]


def _scans_of(node: dict, table: str) -> Iterator[tuple[str, str]]:
    if node.get("Relation Name") == table:
        yield node["Node Type"], node.get("Index Name", "")
    for child in node.get("Plans", ()):
        yield from _scans_of(child, table)

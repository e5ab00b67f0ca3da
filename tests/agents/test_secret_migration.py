"""The data migration: webhook signing secrets kept in clear in runtime_config before the secret
store existed move into it, sealed, and nothing in clear stays behind."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.secret_store import unseal

BEFORE = [
    ("agents", "0002_guardrails_allowed_actions"),
    ("orchestration", "0011_guardrails_budgets"),
]
AFTER = [("agents", "0003_runtime_secret")]
CLEAR_SECRET = "whsec-kept-in-clear-before-0123456789"


@pytest.fixture
def migrator(transactional_db):
    executor = MigrationExecutor(connection)
    yield executor
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the current schema


def test_clear_webhook_secrets_move_into_the_store(migrator):
    migrator.migrate(BEFORE)
    old = migrator.loader.project_state(BEFORE).apps
    tenant = old.get_model("orchestration", "Tenant").objects.create(slug="acme", name="Acme")
    Agent = old.get_model("agents", "Agent")
    common = {"tenant": tenant, "role": "specialist"}
    Agent.objects.create(
        slug="hook",
        name="Hook",
        runtime="webhook",
        runtime_config={"url": "https://hooks.example.com/a", "secret": CLEAR_SECRET},
        **common,
    )
    Agent.objects.create(
        slug="llm",
        name="LLM",
        runtime="openai",
        runtime_config={"baseUrl": "https://llm.example.com/v1", "model": "m", "apiKeyEnv": "K"},
        **common,
    )
    Agent.objects.create(slug="plain", name="Plain", **common)

    migrator.loader.build_graph()
    migrator.migrate(AFTER)

    with connection.cursor() as cursor:
        cursor.execute("SELECT slug, runtime_config, runtime_secret FROM agents_agent")
        rows = {slug: (config, token) for slug, config, token in cursor.fetchall()}
    assert CLEAR_SECRET not in json.dumps(rows, default=str)
    config, token = rows["hook"]
    loaded = json.loads(config) if isinstance(config, str) else config
    assert loaded == {"url": "https://hooks.example.com/a"}
    assert unseal(token) == CLEAR_SECRET
    assert rows["llm"][1] == "" and rows["plain"][1] == ""

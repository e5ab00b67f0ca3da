"""Settings read the environment once and pick the run mode from it. Each case loads the
settings in a fresh interpreter with exactly the given environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json
import django
from django.conf import settings
django.setup()
from django.db import connection
journal = None
if connection.vendor == "sqlite":
    with connection.cursor() as c:
        c.execute("PRAGMA journal_mode")
        journal = c.fetchone()[0]
print(json.dumps({
    "debug": settings.DEBUG,
    "engine": settings.DATABASES["default"]["ENGINE"],
    "conn_max_age": settings.DATABASES["default"].get("CONN_MAX_AGE"),
    "health_checks": settings.DATABASES["default"].get("CONN_HEALTH_CHECKS"),
    "pool": settings.DATABASES["default"].get("OPTIONS", {}).get("pool"),
    "journal": journal,
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL,
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "asgi": settings.ASGI_APPLICATION,
    "allowed_hosts": settings.ALLOWED_HOSTS,
}))
"""


def load_settings(tmp_path, **env) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings"}
    base["SQLITE_PATH"] = str(tmp_path / "probe.sqlite3")
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def loaded(tmp_path, **env) -> dict:
    result = load_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_nothing_set_but_debug_is_the_embedded_default(tmp_path):
    conf = loaded(tmp_path, DEBUG="1")

    assert conf["engine"] == "django.db.backends.sqlite3"
    assert conf["journal"] == "wal"
    assert conf["layer"] == "channels.layers.InMemoryChannelLayer"
    assert conf["eager"] is True
    assert conf["broker"] == "memory://"
    assert conf["asgi"] == "config.asgi.application"


def test_database_url_switches_to_postgresql_with_a_checked_connection_pool(tmp_path):
    conf = loaded(tmp_path, DEBUG="1", DATABASE_URL="postgres://someone@db.invalid:5432/app")

    assert conf["engine"] == "django.db.backends.postgresql"
    assert conf["pool"] == {"min_size": 2, "max_size": 20, "timeout": 10}
    assert conf["health_checks"] is True  # each pooled connection is checked before use
    assert conf["conn_max_age"] == 0  # the pool keeps connections, not the request threads


def test_without_the_pool_connections_persist_per_thread_with_health_checks(tmp_path):
    conf = loaded(
        tmp_path,
        DEBUG="1",
        DATABASE_URL="postgres://someone@db.invalid:5432/app",
        DB_POOL="0",
        DB_CONN_MAX_AGE="60",
    )

    assert conf["pool"] is None
    assert conf["conn_max_age"] == 60
    assert conf["health_checks"] is True


def test_redis_url_switches_the_channel_layer_and_the_broker(tmp_path):
    conf = loaded(tmp_path, DEBUG="1", REDIS_URL="redis://cache.invalid:6379/0")

    assert conf["layer"] == "channels_redis.core.RedisChannelLayer"
    assert conf["broker"] == "redis://cache.invalid:6379/0"
    assert conf["eager"] is False


def test_without_debug_a_secret_key_is_required(tmp_path):
    result = load_settings(tmp_path, ALLOWED_HOSTS="example.com")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_without_debug_allowed_hosts_are_required(tmp_path):
    result = load_settings(tmp_path, SECRET_KEY="x" * 50)

    assert result.returncode != 0
    assert "ALLOWED_HOSTS is not set" in result.stderr


def test_production_values_come_from_the_environment(tmp_path):
    conf = loaded(
        tmp_path, SECRET_KEY="x" * 50, ALLOWED_HOSTS="support.example.com, api.example.com"
    )

    assert conf["debug"] is False
    assert conf["allowed_hosts"] == ["support.example.com", "api.example.com"]


def test_a_database_url_that_is_not_postgresql_is_refused(tmp_path):
    result = load_settings(tmp_path, DEBUG="1", DATABASE_URL="mysql://x@y/z")

    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_a_bad_boolean_is_refused_with_its_name(tmp_path):
    result = load_settings(tmp_path, DEBUG="maybe")

    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr

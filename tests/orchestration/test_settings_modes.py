"""Settings read the environment once and pick the run mode from it. Each case loads the
settings in a fresh interpreter with exactly the given environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEW_KEY = "bmV3LWtleS1mb3ItdGhlLXNlY3JldC1zdG9yZS0wMDE="
OLD_KEY = "b2xkLWtleS1mb3ItdGhlLXNlY3JldC1zdG9yZS0wMDE="
PRODUCTION = {"SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "support.example.com"}

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
    "binding": settings.DATABASES["default"].get("OPTIONS", {}).get("server_side_binding"),
    "prepare": settings.DATABASES["default"].get("OPTIONS", {}).get("prepare_threshold"),
    "journal": journal,
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL,
    "transport": getattr(settings, "CELERY_BROKER_TRANSPORT", None),
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "asgi": settings.ASGI_APPLICATION,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "secrets_keys": settings.SECRETS_KEYS,
    "site_url": settings.SITE_URL,
    "runtime_keys": settings.RUNTIME_KEYS_FROM_ENV,
    "key_origins": settings.RUNTIME_KEY_ORIGINS,
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


def test_statements_a_connection_repeats_are_prepared_unless_behind_a_pooler(tmp_path):
    url = "postgres://someone@db.invalid:5432/app"
    conf = loaded(tmp_path, DEBUG="1", DATABASE_URL=url)
    # Django leaves psycopg's preparing off unless OPTIONS name a threshold
    assert (conf["binding"], conf["prepare"]) == (True, 5)

    pooler = loaded(tmp_path, DEBUG="1", DATABASE_URL=url, DB_POOL="0", DB_SERVER_SIDE_BINDING="0")
    assert (pooler["binding"], pooler["prepare"]) == (False, None)

    assert loaded(tmp_path, DEBUG="1", DATABASE_URL=url, DB_PREPARE_THRESHOLD="2")["prepare"] == 2


def test_redis_url_switches_the_channel_layer_and_the_broker(tmp_path):
    conf = loaded(tmp_path, DEBUG="1", REDIS_URL="redis://cache.invalid:6379/0")

    assert conf["layer"] == "config.channel_layer.BatchingRedisChannelLayer"
    assert conf["broker"] == "redis://cache.invalid:6379/0"
    assert conf["transport"] == "config.broker:Transport"  # one client object per channel
    assert conf["eager"] is False


def test_a_tls_broker_keeps_kombus_own_transport(tmp_path):
    """kombu gives ``rediss://`` its TLS defaults by the transport's name."""
    conf = loaded(tmp_path, DEBUG="1", REDIS_URL="rediss://cache.invalid:6380/0")

    assert conf["broker"] == "rediss://cache.invalid:6380/0"
    assert conf["transport"] is None


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
        tmp_path,
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="support.example.com, api.example.com",
        SECRETS_KEYS=f"{NEW_KEY}, {OLD_KEY}",
    )

    assert conf["debug"] is False
    assert conf["allowed_hosts"] == ["support.example.com", "api.example.com"]
    assert conf["secrets_keys"] == [NEW_KEY, OLD_KEY]
    assert conf["site_url"] == "https://support.example.com"


def test_a_database_url_that_is_not_postgresql_is_refused(tmp_path):
    result = load_settings(tmp_path, DEBUG="1", DATABASE_URL="mysql://x@y/z")

    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_a_bad_boolean_is_refused_with_its_name(tmp_path):
    result = load_settings(tmp_path, DEBUG="maybe")

    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr


def test_without_debug_the_secret_store_keys_are_required(tmp_path):
    result = load_settings(tmp_path, **PRODUCTION)

    assert result.returncode != 0
    assert "SECRETS_KEYS is not set" in result.stderr


def test_a_secret_store_key_that_is_not_a_fernet_key_is_refused(tmp_path):
    result = load_settings(tmp_path, SECRETS_KEYS=f"{NEW_KEY},not-a-key", **PRODUCTION)

    assert result.returncode != 0
    assert "SECRETS_KEYS: key 2 is not a Fernet key" in result.stderr
    assert "not-a-key" not in result.stderr


def test_in_development_the_secret_store_key_is_derived_from_the_secret_key(tmp_path):
    first = loaded(tmp_path, DEBUG="1", SECRET_KEY="a" * 50)
    again = loaded(tmp_path, DEBUG="1", SECRET_KEY="a" * 50)
    other = loaded(tmp_path, DEBUG="1", SECRET_KEY="b" * 50)

    assert len(first["secrets_keys"]) == 1
    assert first["secrets_keys"] == again["secrets_keys"] != other["secrets_keys"]
    assert first["secrets_keys"][0] != "a" * 50


def test_only_the_variables_the_operator_lists_are_lent_to_runtimes(tmp_path):
    default = loaded(tmp_path, DEBUG="1", OPENAI_API_KEY="sk-operator")
    listed = loaded(
        tmp_path,
        DEBUG="1",
        RUNTIME_KEY_ENVS="AZURE_KEY@https://a.example.com,AZURE_KEY@b.example.com:8443,"
        "LOCAL_KEY@http://llm.internal:8080/v1",
        AZURE_KEY="sk-azure",
        OPENAI_API_KEY="sk-operator",
    )

    assert default["runtime_keys"] == {"OPENAI_API_KEY": "sk-operator"}
    assert default["key_origins"] == {"OPENAI_API_KEY": ["https://api.openai.com:443"]}
    assert listed["runtime_keys"] == {"AZURE_KEY": "sk-azure", "LOCAL_KEY": ""}
    assert listed["key_origins"] == {
        "AZURE_KEY": ["https://a.example.com:443", "https://b.example.com:8443"],
        "LOCAL_KEY": ["http://llm.internal:8080"],
    }


@pytest.mark.parametrize("entry", ["OPENAI_API_KEY", "OPENAI_API_KEY@", "openai@api.openai.com"])
def test_a_lent_key_names_its_variable_and_the_origin_it_is_sent_to(tmp_path, entry):
    result = load_settings(tmp_path, DEBUG="1", RUNTIME_KEY_ENVS=entry)

    assert result.returncode != 0
    assert "must be NAME@origin" in result.stderr


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SECRETS_KEYS", "CELERY_BROKER_URL"]
)
def test_the_server_never_lends_one_of_its_own_settings(tmp_path, name):
    result = load_settings(
        tmp_path, DEBUG="1", RUNTIME_KEY_ENVS=f"OPENAI_API_KEY@api.openai.com,{name}@evil.example"
    )

    assert result.returncode != 0
    assert f"RUNTIME_KEY_ENVS names {name}, a setting of the server itself" in result.stderr


@pytest.mark.parametrize(
    ("env", "site_url"),
    [
        ({"DEBUG": "1"}, "http://127.0.0.1:8000"),
        ({"SECRETS_KEYS": NEW_KEY, **PRODUCTION}, "https://support.example.com"),
        (
            {"SECRETS_KEYS": NEW_KEY, "SITE_URL": "https://help.example.com:8443/", **PRODUCTION},
            "https://help.example.com:8443",
        ),
    ],
)
def test_site_url_comes_from_the_environment_or_the_first_allowed_host(tmp_path, env, site_url):
    assert loaded(tmp_path, **env)["site_url"] == site_url


@pytest.mark.parametrize(
    "env",
    [
        {"SITE_URL": "support.example.com"},
        {"SITE_URL": "ftp://support.example.com"},
        {"ALLOWED_HOSTS": ".example.com"},  # no host to link to
    ],
)
def test_a_site_url_that_is_no_absolute_url_is_refused(tmp_path, env):
    result = load_settings(tmp_path, **{"SECRETS_KEYS": NEW_KEY, **PRODUCTION, **env})

    assert result.returncode != 0
    assert "SITE_URL" in result.stderr


# Where the environment may be read: the settings' reader, and the entry points that name the
# settings module (os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)).
ENVIRONMENT_READER = "config/env.py"
ENVIRONMENT_ACCESS = re.compile(r"\bos\.environ\b|\bgetenv\b|\benviron\b|\bos\.environb\b")
SETTINGS_MODULE = 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")'


def test_nothing_but_the_settings_reads_the_environment():
    # the API clients are separate programs (their examples read their own environment)
    skipped = {"tests", "bench", "clients", "staticfiles", "node_modules"}
    tops = [p for p in ROOT.iterdir() if not p.name.startswith(".") and p.name not in skipped]
    sources = [p for top in tops for p in ([top] if top.is_file() else top.rglob("*.py"))]
    offending = []
    for path in sorted(p for p in sources if p.suffix == ".py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative == ENVIRONMENT_READER:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if ENVIRONMENT_ACCESS.search(line) and line.strip() != SETTINGS_MODULE:
                offending.append(f"{relative}:{number}: {line.strip()}")

    assert offending == []

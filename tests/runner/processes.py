"""Another process of the product on the test's own database (PostgreSQL: the test database,
whose committed rows a ``transaction=True`` test shares with it)."""

from __future__ import annotations

import os
import subprocess
import sys

from django.db import connection

from bench._procs import ROOT, WAIT
from tests.conftest import need_service


def need_postgresql() -> None:
    if connection.vendor != "postgresql":
        need_service("PostgreSQL: set DATABASE_URL (another process shares the test database)")


def test_database_url() -> str:
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    return f"postgres://{user}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def manage_on_test_database(code: str) -> str:
    """Run ``code`` in ``manage.py shell`` on the test database; returns what it printed."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(DEBUG="1", DATABASE_URL=test_database_url(), DB_POOL="0", PYTHONUNBUFFERED="1")
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout

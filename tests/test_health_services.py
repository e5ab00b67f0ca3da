"""/health/ready on PostgreSQL and Redis: a real Celery worker answers the ping; Redis (and the
broker on it) unreachable makes the answer 503 at once, naming what failed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from tests.conftest import need_service

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[1]
CELERY = str(Path(sys.executable).with_name("celery"))
WORKER_START_TIMEOUT = 60
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def _services():
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        need_service("PostgreSQL and Redis (DATABASE_URL and REDIS_URL)")


def _test_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{connection.settings_dict['NAME']}"))


@pytest.fixture
def celery_worker(tmp_path):
    """A Celery worker process on the suite's broker and test database."""
    log = tmp_path / "worker.log"
    env = os.environ.copy()
    env.update(DATABASE_URL=_test_database_url(), DB_POOL_MIN_SIZE="1", PYTHONUNBUFFERED="1")
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                CELERY,
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--hostname",
                f"health-test-{os.getpid()}@%h",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_ready_is_ok_once_a_worker_answers(client, celery_worker):
    process, log = celery_worker
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while True:
        response = client.get("/health/ready")
        body = response.json()
        if body["checks"]["workers"]["status"] == "ok":
            break
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no worker answered:\n{log.read_text()}"
        time.sleep(0.5)

    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"


def test_without_workers_ready_is_503(client, settings):
    # a queue and a vhost nobody else uses: no worker of the suite or the machine answers
    from config.celery import app

    before = app.conf.broker_url
    parts = urlsplit(os.environ["REDIS_URL"])
    app.conf.broker_url = urlunsplit(parts._replace(path="/15"))
    try:
        response = client.get("/health/ready")
    finally:
        app.conf.broker_url = before

    assert response.status_code == 503
    assert response.json()["checks"]["workers"] == {
        "status": "fail",
        "error": "no worker answered",
        "ms": response.json()["checks"]["workers"]["ms"],
    }


@pytest.fixture
def dead_redis(settings):
    """Redis, and so the broker, at a port where nothing listens."""
    from config.celery import app

    before = app.conf.broker_url
    settings.REDIS_URL = DEAD_REDIS
    app.conf.broker_url = DEAD_REDIS
    yield
    app.conf.broker_url = before


def test_with_redis_down_ready_is_503_naming_it_at_once(client, dead_redis):
    response = client.get("/health/ready")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["redis"]["status"] == "fail"
    assert checks["workers"]["status"] == "fail"
    # both gave up on the refused connection, well before the deadline of the answer
    assert checks["redis"]["error"] == "ConnectionError"
    assert checks["workers"]["error"] != "timed out"
    assert "127.0.0.1" not in response.content.decode()

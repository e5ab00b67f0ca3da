"""Health endpoints for load balancers and process managers.

``GET /health/live``   the process answers; nothing else is touched.
``GET /health/ready``  the database answers a query (and tells the outbox's backlog), Redis
                       answers PING (when REDIS_URL is set) and a Celery worker answers a
                       broadcast ping (when tasks go through a broker; on the embedded
                       default they run in process).

Ready answers 200 when every check passes and 503 otherwise, with each check's status and
latency in milliseconds. The checks run side by side, each in its own thread, and the answer
never waits longer than ``HEALTH_CHECK_TIMEOUT_MS``: a check still running then counts as
failed. The body names no host, tenant or error message (only an error's class); the details
go to the log.

They are answered by a middleware placed first, before the HTTPS redirect and the allowed-hosts
check, so a load balancer can probe a process over plain HTTP by its address.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from config import runner
from config.celery import app
from core.outbox import outbox_pending

log = logging.getLogger(__name__)

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"


class CheckFailed(Exception):
    """A check that ran but found something wrong; its message is safe to show."""


def check_database() -> dict[str, Any]:
    """A query on a connection of this thread (from the pool on PostgreSQL), given back; with
    it, how much work waits in the outbox and for how long (a growing figure means the broker
    or the workers are away: the sweep relays it once they are back)."""

    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        outbox = outbox_pending()
    finally:
        connection.close()
    return {"outboxPending": outbox["pending"], "outboxOldestSeconds": outbox["oldestSeconds"]}


def check_redis(timeout: float) -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"status": "skipped"}
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        client.ping()
    finally:
        client.close()
    return {}


def check_workers(timeout: float) -> dict[str, Any]:

    if app.conf.task_always_eager:
        # the web process's runner (config/runner.py), or inline in the request without one
        return {"mode": "in-process runner" if runner.running() else "in process"}
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
        # the first answer is enough: do not wait the whole timeout for the others
        replies = app.control.ping(timeout=timeout, limit=1, connection=connection)
    if not replies:
        raise CheckFailed("no worker answered")
    return {}


def run_checks(checks: dict[str, Callable[[], dict[str, Any]]], timeout: float) -> dict:
    """Run the checks side by side; wait at most ``timeout`` seconds for all of them."""
    boxes: dict[str, dict[str, Any]] = {}
    threads: dict[str, threading.Thread] = {}

    def run(name: str, check: Callable[[], dict[str, Any]], box: dict[str, Any]) -> None:
        start = time.perf_counter()
        try:
            outcome = {"status": "ok", **check()}
        except CheckFailed as exc:
            outcome = {"status": "fail", "error": str(exc)}
        except Exception as exc:
            log.warning("health check %s failed: %r", name, exc)
            outcome = {"status": "fail", "error": type(exc).__name__}
        outcome["ms"] = round((time.perf_counter() - start) * 1000, 1)
        box.update(outcome)

    for name, check in checks.items():
        boxes[name] = {}
        threads[name] = threading.Thread(
            target=run, args=(name, check, boxes[name]), name=f"health-{name}", daemon=True
        )
        threads[name].start()
    deadline = time.monotonic() + timeout
    results = {}
    for name, thread in threads.items():
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            log.warning("health check %s gave no answer within %.1f s", name, timeout)
            results[name] = {"status": "fail", "error": "timed out", "ms": timeout * 1000}
        else:
            results[name] = boxes[name]
    return results


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def live(request: HttpRequest) -> HttpResponse:
    return _no_store(JsonResponse({"status": "ok"}))


def ready(request: HttpRequest) -> HttpResponse:
    timeout = settings.HEALTH_CHECK_TIMEOUT_MS / 1000
    # the ping waits its whole timeout for replies: leave room for the connection before it
    step = timeout / 2
    checks = run_checks(
        {
            "database": check_database,
            "redis": lambda: check_redis(step),
            "workers": lambda: check_workers(step),
        },
        timeout,
    )
    healthy = all(check["status"] in ("ok", "skipped") for check in checks.values())
    body = {"status": "ok" if healthy else "fail", "checks": checks}
    return _no_store(JsonResponse(body, status=200 if healthy else 503))


ENDPOINTS = {LIVE_PATH: live, READY_PATH: ready}


class HealthCheckMiddleware:
    """Answers the health endpoints before any other middleware sees the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = ENDPOINTS.get(request.path.rstrip("/"))
        if endpoint is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse({"status": "method not allowed"}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        return endpoint(request)

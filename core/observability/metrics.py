"""Every Prometheus series of the product, and the one-line hooks that feed them.

Several processes (uvicorn workers, Celery processes, the turns worker) each count their own;
with ``PROMETHEUS_MULTIPROC_DIR`` set (``./run prod`` and the Procfile set it) every process
writes its values to files there and ``/metrics`` adds them up (prometheus_client's
multiprocess mode). Without it (development, tests) the process's own registry answers.

Labels are bounded: a route's pattern (not its path), a status code, a task's name, a
runtime's name, a step, an outcome, an event type. **No series is labelled by tenant**:
tenants are many and grow with sign-ups, so a tenant label would multiply every series by an
unbounded number; per-tenant figures are the managers' dashboard (``insight``), which reads
the decision events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

PREFIX = "backoffice"
# seconds: from a cached page (5 ms) to a slow LLM (60 s)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
DECISION_BUCKETS = (10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600)

# --- HTTP -------------------------------------------------------------------------------------
http_requests = Counter(
    f"{PREFIX}_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
http_latency = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
# --- database ---------------------------------------------------------------------------------
db_queries = Counter(f"{PREFIX}_db_queries_total", "Database queries by kind", ["kind"])
db_latency = Histogram(
    f"{PREFIX}_db_query_duration_seconds",
    "Database query latency by kind",
    ["kind"],
    buckets=DB_BUCKETS,
)
# --- Celery -----------------------------------------------------------------------------------
celery_tasks = Counter(
    f"{PREFIX}_celery_tasks_total", "Celery task runs by task and outcome", ["task", "outcome"]
)
celery_latency = Histogram(
    f"{PREFIX}_celery_task_duration_seconds",
    "Celery task run time by task",
    ["task"],
    buckets=LATENCY_BUCKETS,
)
# --- sockets and the channel layer ------------------------------------------------------------
sockets_opened = Counter(f"{PREFIX}_socket_connections_opened_total", "Sockets accepted")
sockets_closed = Counter(
    f"{PREFIX}_socket_connections_closed_total", "Sockets closed by close code", ["code"]
)
# (open now = opened - closed, in PromQL: a process's own gauge would outlive the process in
# multiprocess mode, since uvicorn has no hook to mark a dead worker)
channel_sends = Counter(
    f"{PREFIX}_channel_layer_sends_total", "Channel-layer group sends by outcome", ["outcome"]
)
# how late a web process's event loop runs a timer (core/observability/loop_lag.py): every
# socket's events and every request's bytes wait that long too
event_loop_lag = Histogram(
    f"{PREFIX}_event_loop_lag_seconds",
    "How late the server's event loop ran a timer set every quarter second",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# --- the product ------------------------------------------------------------------------------
turns = Counter(
    f"{PREFIX}_turns_total", "Customer turns by outcome (answered, silent, dropped)", ["outcome"]
)
turn_steps = Histogram(
    f"{PREFIX}_turn_step_duration_seconds",
    "Turn latency by step (decide, agent_run, apply)",
    ["step"],
    buckets=LATENCY_BUCKETS,
)
agent_calls = Histogram(
    f"{PREFIX}_agent_call_duration_seconds",
    "Agent runtime call latency by runtime",
    ["runtime"],
    buckets=LATENCY_BUCKETS,
)
agent_failures = Counter(
    f"{PREFIX}_agent_call_failures_total",
    "Agent runtime calls that failed, by runtime",
    ["runtime"],
)
decisions = Counter(f"{PREFIX}_decision_events_total", "Decision events by type", ["type"])
handoffs = Counter(
    f"{PREFIX}_handoffs_total", "Handoffs offered, claimed, expired (by mode)", ["event", "mode"]
)
approval_decisions = Histogram(
    f"{PREFIX}_approval_decision_seconds",
    "Time from an approval's request to its decision, by outcome",
    ["outcome"],
    buckets=DECISION_BUCKETS,
)
guardrail_triggers = Counter(
    f"{PREFIX}_guardrail_triggers_total", "Guardrails that blocked or redacted a reply", ["action"]
)
budget_stops = Counter(f"{PREFIX}_budget_stops_total", "Turns stopped by a budget")
attachments = Counter(
    f"{PREFIX}_attachments_total",
    "Files sent in conversations: stored or refused, by who sent them",
    ["outcome", "sent_by"],
)
attachment_bytes = Counter(
    f"{PREFIX}_attachment_bytes_total", "Bytes of the files stored, by who sent them", ["sent_by"]
)

RUNTIMES = frozenset({"builtin", "openai", "webhook"})
STEPS = frozenset({"decide", "agent_run", "apply"})
_HANDOFF_EVENTS = {
    "handoff.offered": "offered",
    "handoff.claimed": "claimed",
    "handoff.expired": "expired",
}


# --- hooks (one call at each place) -----------------------------------------------------------

_on = True


def metrics_switch(on: bool) -> None:
    """Count (the default) or not (``METRICS_ENABLED=0``; the overhead bench compares both)."""
    global _on
    _on = on


def enabled() -> bool:
    return _on


@contextmanager
def timed(histogram: Histogram, **labels: str) -> Iterator[None]:
    if not _on:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(**labels).observe(time.perf_counter() - start)


def turn_done(outcome: str | None) -> None:
    """A turn ended: answered, silent or dropped (None: it was applied already)."""
    if outcome and _on:
        turns.labels(outcome=str(outcome)).inc()


def agent_call(runtime: str | None, seconds: float, *, failed: bool) -> None:
    if not _on:
        return
    name = runtime if runtime in RUNTIMES else "unknown"
    agent_calls.labels(runtime=name).observe(seconds)
    if failed:
        agent_failures.labels(runtime=name).inc()


def decision_recorded(event: Any) -> None:
    """A decision event was recorded (``conversations.events.record``): the handoffs,
    guardrails and budget stops are counted from their events."""
    if not _on:
        return
    kind = event.type
    decisions.labels(type=kind).inc()
    if kind in _HANDOFF_EVENTS:
        handoffs.labels(event=_HANDOFF_EVENTS[kind], mode=getattr(event, "mode", "") or "").inc()
    elif kind in ("guardrail.blocked", "guardrail.redacted"):
        guardrail_triggers.labels(action=kind.split(".")[1]).inc()
    elif kind == "budget.exceeded":
        budget_stops.inc()


def approval_decided(*, outcome: str, requested_at: Any, decided_at: Any) -> None:
    if not _on:
        return
    approval_decisions.labels(outcome=str(outcome)).observe(
        max(0.0, (decided_at - requested_at).total_seconds())
    )


def attachment_taken(*, sent_by: str, size: int | None) -> None:
    """A file sent in a conversation: stored (``size`` its bytes) or refused (``None``)."""
    if not _on:
        return
    attachments.labels(outcome="refused" if size is None else "stored", sent_by=sent_by).inc()
    if size is not None:
        attachment_bytes.labels(sent_by=sent_by).inc(size)


def channel_sent(outcome: str) -> None:
    """A channel-layer group send: sent, failed, or timed_out (a batch dropped)."""
    if _on:
        channel_sends.labels(outcome=outcome).inc()


def loop_lag(seconds: float) -> None:
    if _on:
        event_loop_lag.observe(seconds)


def socket_opened() -> None:
    if _on:
        sockets_opened.inc()


def socket_closed(code: int | None) -> None:
    if not _on:
        return
    sockets_closed.labels(code=str(code if isinstance(code, int) else "none")).inc()


# --- the database: a connection's execute wrapper --------------------------------------------


_QUERY_KINDS = ("select", "insert", "update", "delete", "other")
# the labelled children, looked up once (``labels()`` hashes and locks on every call)
_query_metrics: dict[str, tuple[Any, Any]] = {}


def _query_children(kind: str) -> tuple[Any, Any]:
    children = _query_metrics.get(kind)
    if children is None:
        children = (db_queries.labels(kind=kind), db_latency.labels(kind=kind))
        _query_metrics[kind] = children
    return children


def query_wrapper(execute, sql, params, many, context):
    if not _on:
        return execute(sql, params, many, context)
    start = time.perf_counter()
    kind = sql[:6].lower() if sql else "other"
    if kind not in _QUERY_KINDS:
        kind = (sql.lstrip().split(None, 1)[0].lower() if sql else "") or "other"
        if kind not in _QUERY_KINDS:
            kind = "other"
    try:
        return execute(sql, params, many, context)
    finally:
        count, latency = _query_children(kind)
        count.inc()
        latency.observe(time.perf_counter() - start)


def install_query_wrapper(sender: Any = None, connection: Any = None, **kwargs: Any) -> None:
    """``connection_created`` receiver: time every query of the connection (once)."""
    if connection is not None and query_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(query_wrapper)


# --- Celery: its signals ----------------------------------------------------------------------

_task_started: dict[str, float] = {}


def task_prerun(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


def task_postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **kw: Any):
    name = getattr(task, "name", "unknown")
    start = _task_started.pop(task_id or "", None)
    if not _on:
        return
    if start is not None:
        celery_latency.labels(task=name).observe(time.perf_counter() - start)
    outcome = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}.get(
        state or "", "other"
    )
    celery_tasks.labels(task=name, outcome=outcome).inc()


# --- the scrape -------------------------------------------------------------------------------


_STATE: dict[str, tuple[str, Callable[[str], str]]] = {}


def register_state(name: str, help: str, sql: Callable[[str], str]) -> None:
    """A gauge read at scrape time: ``sql(vendor)`` is a scalar subquery. Each app registers
    its own when it is ready (the core never imports the apps above it); a scrape reads them
    all in one query."""
    _STATE[f"{PREFIX}_{name}"] = (help, sql)


def seconds_since(column: str, vendor: str) -> str:
    """SQL: seconds from ``column`` to now, on PostgreSQL or SQLite."""
    if vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM (now() - {column}))"
    return f"(julianday('now') - julianday({column})) * 86400"


class StateCollector:
    """The gauges read at scrape time (``register_state``), in one query."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db import connection

        if not _STATE:
            return
        names = list(_STATE)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join(f"({_STATE[n][1](connection.vendor)})" for n in names)
            )
            row = cursor.fetchone()
        for name, value in zip(names, row, strict=True):
            yield GaugeMetricFamily(name, _STATE[name][0], float(value or 0))


def exposition() -> bytes:
    """The exposition text: every process's series (multiprocess mode) or this one's, and
    the state read now."""
    registry = CollectorRegistry()
    registry.register(StateCollector())
    if settings.PROMETHEUS_MULTIPROC_DIR:
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY) + generate_latest(registry)

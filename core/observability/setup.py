"""Wire the operators' view in when the apps are ready: the query timer on every database
connection, Celery's signals, the outbox's gauges, and tracing when it is configured."""

from __future__ import annotations

from celery import signals as celery_signals
from django.conf import settings
from django.db.backends.signals import connection_created

from core.models import OutboxEvent
from core.observability import context, metrics, tracing


def _outbox_backlog(vendor: str) -> str:
    return f"SELECT COUNT(*) FROM {OutboxEvent._meta.db_table} WHERE relayed_at IS NULL"  # noqa: S608 (no input: a table name)


def _outbox_age(vendor: str) -> str:
    age = metrics.seconds_since("MIN(created_at)", vendor)
    return f"SELECT {age} FROM {OutboxEvent._meta.db_table} WHERE relayed_at IS NULL"  # noqa: S608 (no input: a table name)


def _task_ids(task_id: str | None = None, **kwargs) -> None:
    """A Celery task's run is a door: its logs carry the task's id as the request id."""
    context.bind(request_id=task_id)


def observability_install() -> None:
    metrics.metrics_switch(settings.METRICS_ENABLED)
    connection_created.connect(metrics.install_query_wrapper, dispatch_uid="obs-query-wrapper")
    celery_signals.task_prerun.connect(_task_ids, weak=False, dispatch_uid="obs-task-ids")
    celery_signals.task_prerun.connect(metrics.task_prerun, weak=False, dispatch_uid="obs-prerun")
    celery_signals.task_postrun.connect(
        metrics.task_postrun, weak=False, dispatch_uid="obs-postrun"
    )
    metrics.register_state("outbox_backlog", "Outbox rows not relayed", _outbox_backlog)
    metrics.register_state(
        "outbox_oldest_age_seconds", "Age of the oldest outbox row not relayed", _outbox_age
    )
    tracing.tracing_install()

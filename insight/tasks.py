"""Celery tasks of manager insight: long backtests and the metric alert sweep. They take ids,
are bounded, and running one twice changes nothing (the services claim their row first)."""

from __future__ import annotations

from celery import shared_task

from insight.alerts import TASK_NAME as ALERT_TASK
from insight.alerts import alerts_sweep
from insight.backtests import BACKTEST_TASK, backtest_run


@shared_task(
    name=BACKTEST_TASK, acks_late=True, ignore_result=True, soft_time_limit=900, time_limit=960
)
def run_backtest(backtest_id: int) -> str:
    """Replay a queued backtest (a second delivery finds it claimed and does nothing)."""
    return backtest_run(backtest_id=backtest_id).status


@shared_task(name=ALERT_TASK, acks_late=True, ignore_result=True, soft_time_limit=120)
def sweep_alerts() -> int:
    """E-mail managers whose alert thresholds are reached (at most once per window)."""
    return alerts_sweep()

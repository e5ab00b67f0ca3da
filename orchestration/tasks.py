"""Celery tasks of the orchestrator. Tasks take ids, are idempotent and bounded."""

from __future__ import annotations

from celery import shared_task

from orchestration.insight_tasks import run_backtest, sweep_alerts  # noqa: F401  (discovered here)
from orchestration.outbox import SWEEP_TASK, outbox_sweep
from orchestration.silence import TASK_NAME, silence_sweep


@shared_task(name=TASK_NAME, acks_late=True, ignore_result=True, soft_time_limit=120)
def sweep_silence() -> int:
    """Stall conversations that went silent (safe to run twice, or two at once)."""
    return silence_sweep()


@shared_task(name=SWEEP_TASK, acks_late=True, ignore_result=True, soft_time_limit=120)
def relay_outbox() -> int:
    """Relay the outbox events that were not relayed after their commit (safe to run twice,
    or two at once)."""
    return outbox_sweep()

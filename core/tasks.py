"""Celery tasks of the core: the outbox relay sweep. Tasks take ids, are idempotent and bounded."""

from __future__ import annotations

from celery import shared_task

from core.outbox import SWEEP_TASK, outbox_sweep


@shared_task(name=SWEEP_TASK, acks_late=True, ignore_result=True, soft_time_limit=120)
def relay_outbox() -> int:
    """Relay the outbox events that were not relayed after their commit (safe to run twice,
    or two at once)."""
    return outbox_sweep()

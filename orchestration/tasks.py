"""Celery tasks of the conductor. Tasks take ids, are idempotent and bounded."""

from __future__ import annotations

from celery import shared_task

from handover.services import BUILD_PACK_TASK
from orchestration.packs import pack_build
from orchestration.silence import TASK_NAME, silence_sweep


@shared_task(name=TASK_NAME, acks_late=True, ignore_result=True, soft_time_limit=120)
def sweep_silence() -> int:
    """Stall conversations that went silent (safe to run twice, or two at once)."""
    return silence_sweep()


@shared_task(
    name=BUILD_PACK_TASK,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    max_retries=3,
    retry_backoff=2,
)
def build_pack(handoff_id: int) -> None:
    """Build a cold handoff's pack (a second delivery finds it built)."""
    pack_build(handoff_id=handoff_id)

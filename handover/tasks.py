"""Celery tasks of the handover. They take ids and are idempotent."""

from __future__ import annotations

from celery import shared_task

from handover.packs import pack_build
from handover.services import hot_offers_expire

EXPIRE_TASK = "handover.expire_hot_offers"


@shared_task(
    name="handover.build_pack",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    max_retries=3,
    retry_backoff=2,
)
def build_pack(handoff_id: int) -> None:
    pack_build(handoff_id=handoff_id)


@shared_task(name=EXPIRE_TASK, acks_late=True, ignore_result=True, soft_time_limit=60)
def expire_hot_offers() -> int:
    return hot_offers_expire()

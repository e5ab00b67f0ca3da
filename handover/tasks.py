"""Celery tasks of the handover. They take ids and are idempotent."""

from __future__ import annotations

from celery import shared_task

from handover.services import (
    EMAIL_FOLLOW_UP_TASK,
    EXPIRE_TASK,
    follow_up_email_send,
    hot_offers_expire,
)


@shared_task(name=EXPIRE_TASK, acks_late=True, ignore_result=True, soft_time_limit=60)
def expire_hot_offers() -> int:
    return hot_offers_expire()


@shared_task(
    name=EMAIL_FOLLOW_UP_TASK,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    max_retries=3,
    soft_time_limit=60,
)
def email_follow_up(handoff_id: int) -> bool:
    """Tell an e-mail customer someone will follow up (once, whatever the deliveries)."""
    return follow_up_email_send(handoff_id)

"""Celery tasks of the conductor. Tasks take ids, are idempotent and bounded."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from handover.services import BUILD_PACK_TASK
from orchestration.packs import pack_build
from orchestration.retention import TASK_NAME as RETENTION_TASK
from orchestration.retention import conversations_retention_sweep
from orchestration.silence import TASK_NAME, silence_sweep
from orchestration.turn import RUN_TURN_TASK, SWEEP_TURNS_TASK
from orchestration.turns import execute, turn_sweep
from orchestration.webhooks import (
    DELIVER_TASK,
    DISABLED_MAIL_TASK,
    SWEEP_TASK,
    deliveries_sweep,
    endpoint_disabled_mail,
    webhook_deliver,
)


@shared_task(name=TASK_NAME, acks_late=True, ignore_result=True, soft_time_limit=120)
def sweep_silence() -> int:
    """Stall conversations that went silent (safe to run twice, or two at once)."""
    return silence_sweep()


@shared_task(
    name=DELIVER_TASK, acks_late=True, ignore_result=True, soft_time_limit=60, time_limit=90
)
def deliver_webhook(delivery_id: int) -> bool:
    """One attempt at a webhook delivery; a failed one writes its own retry to the outbox."""
    return webhook_deliver(delivery_id)


@shared_task(
    name=DISABLED_MAIL_TASK,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=60,
    autoretry_for=(OSError,),  # the mail server (smtplib's errors are OSErrors)
    max_retries=5,
    retry_backoff=30,
)
def mail_webhook_disabled(endpoint_id: int) -> int:
    """Tell the managers an endpoint was switched off by itself (once)."""
    return endpoint_disabled_mail(endpoint_id)


@shared_task(name=SWEEP_TASK, acks_late=True, ignore_result=True, soft_time_limit=300)
def sweep_webhook_deliveries() -> int:
    """Delete webhook deliveries done with for more than a month."""
    return deliveries_sweep()


@shared_task(name=RETENTION_TASK, acks_late=True, ignore_result=True, soft_time_limit=300)
def sweep_conversation_retention() -> int:
    """Delete conversations past their tenant's retention (safe to run twice, or at once)."""
    return conversations_retention_sweep()


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


@shared_task(
    name=RUN_TURN_TASK,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    max_retries=3,
    retry_backoff=2,
    soft_time_limit=settings.TURN_SOFT_TIME_LIMIT,
    time_limit=settings.TURN_TIME_LIMIT,
)
def run_turn(conversation_id: str, ai_turn: int, message_id: int) -> None:
    """Run one AI turn and apply its outcome (a second delivery applies nothing twice). The
    runtime calls run with no transaction open and no database connection held."""
    if connection.in_atomic_block:
        # published in process inside a transaction (an eager relay): run once it commits
        transaction.on_commit(
            lambda: execute(conversation_id=conversation_id, ai_turn=ai_turn, message_id=message_id)
        )
        return
    execute(conversation_id=conversation_id, ai_turn=ai_turn, message_id=message_id)


@shared_task(name=SWEEP_TURNS_TASK, acks_late=True, ignore_result=True, soft_time_limit=120)
def sweep_turns() -> int:
    """AI turns that never came back: sent again once, then given up (safe to run twice)."""
    return turn_sweep()

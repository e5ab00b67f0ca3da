"""Celery tasks of the handover. They take ids and are idempotent."""

from __future__ import annotations

from celery import shared_task

from handover.assignment import queue_assign, queues_assign
from handover.mentions import MENTION_EMAIL_TASK, mention_email_send
from handover.overflow import TASK_NAME as OVERFLOW_TASK
from handover.overflow import groups_overflow
from handover.quiet import TASK_NAME as QUIET_TASK
from handover.quiet import quiet_resolve_sweep
from handover.services import (
    ASSIGN_TASK,
    EXPIRE_TASK,
    hot_offers_expire,
)
from handover.transcripts import TASK_NAME as TRANSCRIPT_TASK
from handover.transcripts import TRANSCRIPT_ATTEMPTS, transcript_send
from handover.viewing import TASK_NAME as VIEWERS_TASK
from handover.viewing import sweep_viewers as viewers_sweep


@shared_task(name=EXPIRE_TASK, acks_late=True, ignore_result=True, soft_time_limit=60)
def expire_hot_offers() -> int:
    return hot_offers_expire()


@shared_task(name="handover.email_follow_up", ignore_result=True)
def email_follow_up(handoff_id: int) -> bool:
    """Retired: the follow-up is now the handover's notice, e-mailed through the outbox like
    every reply (conversations.email). Kept so an outbox row written before the upgrade is
    relayed (and does nothing) instead of failing forever."""
    return False


@shared_task(
    name=MENTION_EMAIL_TASK,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    max_retries=3,
    soft_time_limit=60,
)
def email_mention(mention_id: int) -> bool:
    """E-mail a person named in a note who has not read it and has no inbox open."""
    return mention_email_send(mention_id)


@shared_task(name=ASSIGN_TASK, acks_late=True, ignore_result=True, soft_time_limit=60)
def assign_queue(tenant_id: int) -> int:
    """Give a tenant's queue to its available agents (where it gives the queue out)."""
    return queue_assign(tenant_id)


@shared_task(name="handover.assign_queues", acks_late=True, ignore_result=True, soft_time_limit=60)
def assign_queues() -> int:
    """The sweep: every tenant that gives its queue out."""
    return queues_assign()


@shared_task(name=QUIET_TASK, acks_late=True, ignore_result=True, soft_time_limit=120)
def resolve_quiet() -> int:
    """Resolve the conversations nobody wrote in for the tenant's ``resolve_quiet_after``
    (handover.quiet)."""
    return quiet_resolve_sweep()


@shared_task(name=VIEWERS_TASK, acks_late=True, ignore_result=True, soft_time_limit=60)
def sweep_viewers() -> int:
    """Forget the inboxes that had a conversation open and stopped beating (handover.viewing)."""
    return viewers_sweep()


@shared_task(name=OVERFLOW_TASK, acks_late=True, ignore_result=True, soft_time_limit=60)
def overflow_groups() -> int:
    """Open to everyone the queued handoffs their group did not take in time
    (handover.overflow)."""
    return groups_overflow()


@shared_task(
    name=TRANSCRIPT_TASK,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=30,
    max_retries=TRANSCRIPT_ATTEMPTS - 1,
    soft_time_limit=60,
)
def email_transcript(mail_id: int) -> bool:
    """E-mail the copy of a conversation a person asked for."""
    return transcript_send(mail_id)

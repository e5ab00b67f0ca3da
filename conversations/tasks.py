"""Celery tasks of conversations. They take ids and are idempotent."""

from __future__ import annotations

from celery import shared_task

from conversations.attachments import attachments_unsent_sweep
from conversations.email import EMAIL_SEND_TASK, email_send
from conversations.file_retention import files_retention_sweep


@shared_task(name=EMAIL_SEND_TASK, acks_late=True, ignore_result=True, soft_time_limit=60)
def send_email(message_id: int) -> bool:
    """E-mail one reply to its customer (conversations.email). A failed attempt writes its
    own retry to the outbox (with backoff), at most EMAIL_MAX_ATTEMPTS in all, counted on the
    message; the last failure is recorded in the conversation's timeline."""
    return email_send(message_id)


@shared_task(name="conversations.sweep_unsent_attachments", ignore_result=True, soft_time_limit=120)
def sweep_unsent_attachments() -> int:
    """Files that no message took within the hour (conversations.attachments): dropped."""
    return attachments_unsent_sweep()


@shared_task(name="conversations.sweep_file_retention", ignore_result=True, soft_time_limit=300)
def sweep_file_retention() -> int:
    """Files of conversations resolved longer ago than their tenant keeps files
    (conversations.file_retention): deleted, their names kept in the transcript."""
    return files_retention_sweep()

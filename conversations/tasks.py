"""Celery tasks of conversations. They take ids and are idempotent."""

from __future__ import annotations

from celery import shared_task

from conversations.email import EMAIL_SEND_TASK, email_send


@shared_task(name=EMAIL_SEND_TASK, acks_late=True, ignore_result=True, soft_time_limit=60)
def send_email(message_id: int) -> bool:
    """E-mail one reply to its customer (conversations.email). A failed attempt writes its
    own retry to the outbox (with backoff), at most EMAIL_MAX_ATTEMPTS in all, counted on the
    message; the last failure is recorded in the conversation's timeline."""
    return email_send(message_id)

"""Celery tasks of conversations. They take ids and are idempotent."""

from __future__ import annotations

from celery import shared_task

from conversations.email import EMAIL_MAX_ATTEMPTS, EMAIL_SEND_TASK, email_send, retry_countdown
from conversations.models import Message


@shared_task(
    name=EMAIL_SEND_TASK,
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=EMAIL_MAX_ATTEMPTS,  # the message's own count stops it first
    soft_time_limit=60,
)
def send_email(self, message_id: int) -> bool:
    """E-mail one reply to its customer (conversations.email): retried with backoff, at most
    EMAIL_MAX_ATTEMPTS attempts in all (counted on the message, whoever retries: Celery here,
    the outbox when the task runs eagerly); the last failure is recorded in the timeline."""
    try:
        return email_send(message_id)
    except Exception as exc:
        attempts = (
            Message.objects.filter(pk=message_id).values_list("email_attempts", flat=True).first()
        )
        raise self.retry(exc=exc, countdown=retry_countdown(attempts or 1)) from exc

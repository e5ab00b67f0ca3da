"""Celery tasks of conversations. They take ids and are idempotent."""

from __future__ import annotations

from celery import shared_task

from conversations.email import EMAIL_MAX_ATTEMPTS, EMAIL_SEND_TASK, email_send, retry_countdown


@shared_task(
    name=EMAIL_SEND_TASK,
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=EMAIL_MAX_ATTEMPTS - 1,
    soft_time_limit=60,
)
def send_email(self, message_id: int) -> bool:
    """E-mail one reply to its customer (conversations.email): retried with backoff, at most
    EMAIL_MAX_ATTEMPTS attempts in all; the last failure is recorded in the timeline."""
    attempt = self.request.retries + 1
    try:
        return email_send(message_id, attempt=attempt)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=retry_countdown(attempt)) from exc

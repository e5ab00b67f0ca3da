"""Celery tasks of approvals. They take ids, call a service, and are safe to run twice (or two
at once): the execution is idempotent by its execution key, under a lock of its row."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from approvals.models import ActionExecution, ExecutionStatus
from approvals.notifications import approval_email_send
from approvals.services import (
    MAX_ATTEMPTS,
    approvals_expire,
    execution_run,
    executions_resend,
    retry_delay,
)
from approvals.task_names import EMAIL_TASK, EXECUTE_TASK, EXPIRE_SCHEDULE, EXPIRE_TASK  # noqa: F401


@shared_task(
    bind=True,
    name=EXECUTE_TASK,
    acks_late=True,
    ignore_result=True,
    # the action's own failures are bounded by MAX_ATTEMPTS (counted in the row); this bound
    # also covers database hiccups, retried with backoff
    max_retries=MAX_ATTEMPTS + 5,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    retry_backoff_max=300,
    soft_time_limit=120,
)
def execute_action(self, execution_id: int) -> str:
    """Run an execution (once, whatever the deliveries); retry a failed attempt with
    backoff until the execution succeeds or is failed (after ``MAX_ATTEMPTS``)."""
    in_process = self.request.is_eager or self.request.called_directly
    for _ in range(MAX_ATTEMPTS):
        try:
            execution = execution_run(execution_id=execution_id)
        except ActionExecution.DoesNotExist:
            return "missing"
        if execution.status != ExecutionStatus.QUEUED:
            return execution.status
        # the attempt failed and more are allowed: a worker retries later through the broker;
        # run in process (no broker, the embedded default), the next attempt follows at once
        if not in_process:
            raise self.retry(countdown=retry_delay(execution.attempts))
    return execution.status


@shared_task(name=EXPIRE_TASK, acks_late=True, ignore_result=True, soft_time_limit=120)
def expire_pending() -> int:
    """Expire pending requests past their deadline and re-send executions whose task was
    lost (safe to run twice, or two at once)."""
    expired = approvals_expire()
    executions_resend()
    return expired


@shared_task(
    name=EMAIL_TASK,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    max_retries=3,
    soft_time_limit=60,
)
def email_approvers(approval_id: int) -> int:
    """E-mail a new request to its approvers (nothing when it is no longer pending)."""
    return approval_email_send(approval_id)

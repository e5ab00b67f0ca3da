"""The names of approvals' Celery tasks. Services put work on the outbox by name and never
import the tasks module (the tasks import the services)."""

EXECUTE_TASK = "approvals.execute_action"
EXPIRE_TASK = "approvals.expire_pending"
EMAIL_TASK = "approvals.email_approvers"
EXPIRE_SCHEDULE = "Approvals: expiry sweep"

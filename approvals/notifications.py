"""Telling people about approvals, always after commit: the inbox socket (through
``core.events.notify_on_commit``) and e-mail to the approvers (a Celery task sent
through the outbox, ``core.outbox``, so a broker that is down loses nothing).

A notification is never the truth: the request is a row first, and a client that reconnects
re-reads the rows (``approvals.selectors``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from agents.action_registry import get_action
from approvals.models import ApprovalRequest
from approvals.selectors import approver_people
from approvals.task_names import EMAIL_TASK
from core.events import (
    notify_on_commit,
    tenant_inbox_group,
)
from core.links import absolute_reverse
from core.models import WebhookEventType
from core.outbox import outbox_task
from core.webhooks import webhook_event


def notify_requested(approval: ApprovalRequest) -> None:
    """The approvers' inbox hears of a new request, and they get an e-mail."""
    notify_on_commit(
        [tenant_inbox_group(approval.tenant_id)],
        {
            "type": "approval.requested",
            "approvalId": approval.pk,
            "conversationId": str(approval.conversation_id),
        },
    )
    outbox_task(tenant_id=approval.tenant_id, task=EMAIL_TASK, args=[approval.pk])
    approval_told(approval, WebhookEventType.APPROVAL_REQUESTED)


def approval_told(approval: ApprovalRequest, event: str) -> None:
    """The tenant's webhooks that want it hear of the request (``core.webhooks``): requested,
    or decided (approved, denied, expired)."""
    webhook_event(
        approval.tenant_id,
        event,
        lambda: {
            "approval": {
                "id": approval.pk,
                "conversationId": str(approval.conversation_id),
                "action": approval.action,
                "params": approval.params,
                "status": approval.status,
                "requestedBy": approval.requested_by_label,
                "reason": approval.reason,
                "createdAt": approval.created_at,
                "decidedAt": approval.decided_at,
                "expiresAt": approval.expires_at,
            }
        },
        conversation_id=approval.conversation_id,
    )


def notify_decided(approval: ApprovalRequest) -> None:
    """A decision, an expiry, or the execution's outcome changed the request."""
    notify_on_commit(
        [tenant_inbox_group(approval.tenant_id)],
        {
            "type": "approval.decided",
            "approvalId": approval.pk,
            "conversationId": str(approval.conversation_id),
            "status": approval.status,
        },
    )


def approver_emails(approval: ApprovalRequest) -> list[str]:
    people = approver_people(tenant_id=approval.tenant_id, approvers=approval.approvers)
    causers = approval.causes.filter(user__isnull=False).values("user")  # NOT IN meets no NULL
    emails = people.exclude(email="").exclude(pk__in=causers)
    if approval.requested_by_id:
        emails = emails.exclude(pk=approval.requested_by_id)
    return sorted(set(emails.values_list("email", flat=True)))


# A worker that took the e-mail and died before sending it (SIGKILL, a lost node) leaves it
# to the task's next delivery once this has passed; longer than the task's time limit, so a
# slow send is never sent twice by a second worker.
EMAIL_LEASE = dt.timedelta(minutes=5)


def approval_email_send(approval_id: int) -> int:
    """E-mail a pending request to its approvers, once; returns how many addresses were sent
    to. No transaction is open while the mail server is called: the send is taken by one
    conditional UPDATE (a lease), the mail sent, then marked sent. A second delivery of the
    task finds it sent or taken and sends nothing; a failed send gives the lease back and
    raises, so the task's retry sends it."""
    now = timezone.now()
    taken = (
        ApprovalRequest.objects.filter(pk=approval_id, status="pending", emailed_at__isnull=True)
        .filter(Q(email_taken_at__isnull=True) | Q(email_taken_at__lt=now - EMAIL_LEASE))
        .update(email_taken_at=now)
    )
    if not taken:
        return 0
    mine = ApprovalRequest.objects.filter(pk=approval_id, email_taken_at=now)
    approval = ApprovalRequest.objects.select_related("tenant", "conversation").get(pk=approval_id)
    recipients = approver_emails(approval)
    if recipients:
        spec = get_action(approval.action)
        context = {
            "approval": approval,
            "tenant": approval.tenant,
            "conversation": approval.conversation,
            "description": spec.description if spec else approval.action,
            "params": sorted(approval.params.items()),
            "url": absolute_reverse("approval-detail", approval.pk),
        }
        subject = render_to_string("approvals/email/requested_subject.txt", context)
        body = render_to_string("approvals/email/requested_body.txt", context)
        try:
            send_mail(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, recipients)
        except Exception:
            mine.update(email_taken_at=None)  # the retry takes it again
            raise
    mine.update(emailed_at=timezone.now())
    return len(recipients)

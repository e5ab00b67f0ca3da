"""Telling people about approvals, always after commit: the inbox socket (through
``orchestration.events.notify_on_commit``), e-mail to the approvers (a Celery task), and the
hand-off of work to Celery (``dispatch_on_commit``).

A notification is never the truth: the request is a row first, and a client that reconnects
re-reads the rows (``approvals.selectors``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from approvals.models import ApprovalRequest
from approvals.registry import get_action
from approvals.selectors import approver_people
from orchestration.events import notify_on_commit, tenant_inbox_group

log = logging.getLogger(__name__)


def dispatch_on_commit(task, *args: Any, countdown: float | None = None) -> None:
    """Send ``task`` to the workers once the current transaction commits. A broker that is
    down loses nothing: the row stays queued and the periodic sweep sends it again."""

    def send() -> None:
        try:
            if countdown:
                task.apply_async(args=args, countdown=countdown)
            else:
                task.apply_async(args=args)
        except Exception:
            log.exception("could not send %s%r; the sweep will send it again", task.name, args)

    transaction.on_commit(send)


def notify_requested(approval: ApprovalRequest) -> None:
    """The approvers' inbox hears of a new request, and they get an e-mail."""
    from approvals.tasks import email_approvers

    notify_on_commit(
        [tenant_inbox_group(approval.tenant_id)],
        {
            "type": "approval.requested",
            "approvalId": approval.pk,
            "conversationId": str(approval.conversation_id),
        },
    )
    dispatch_on_commit(email_approvers, approval.pk)


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
    emails = people.exclude(email="")
    if approval.requested_by_id:
        emails = emails.exclude(pk=approval.requested_by_id)
    return sorted(set(emails.values_list("email", flat=True)))


def approval_email_send(approval_id: int) -> int:
    """E-mail a pending request to its approvers; returns how many addresses were sent to."""
    approval = (
        ApprovalRequest.objects.select_related("tenant", "conversation")
        .filter(pk=approval_id, status="pending")
        .first()
    )
    if approval is None:
        return 0
    recipients = approver_emails(approval)
    if not recipients:
        return 0
    spec = get_action(approval.action)
    context = {
        "approval": approval,
        "tenant": approval.tenant,
        "conversation": approval.conversation,
        "description": spec.description if spec else approval.action,
        "params": sorted(approval.params.items()),
        "url": f"{getattr(settings, 'SITE_URL', '').rstrip('/')}/approvals/{approval.pk}/",
    }
    subject = render_to_string("approvals/email/requested_subject.txt", context)
    body = render_to_string("approvals/email/requested_body.txt", context)
    send_mail(
        " ".join(subject.split()),
        body,
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )
    return len(recipients)

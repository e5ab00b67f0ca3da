"""Expiry: pending requests past the tenant's timeout expire in a periodic sweep (batched, safe
to overlap); the conversation is told and carries on."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from approvals.models import ApprovalRequest, AuditLog
from approvals.services import ApprovalConflict, action_propose, approval_decide, approvals_expire
from approvals.tasks import expire_pending
from conversations.models import (
    DecisionEvent,
    Message,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def request_made(conversation, key, *, at):
    proposal = action_propose(
        conversation=conversation,
        action="modify_account",
        params={"changes": {"plan": "pro"}},
        idempotency_key=key,
        requested_by_label="agent:agent-billing",
    )
    approval = proposal.approval
    ApprovalRequest.objects.filter(pk=approval.pk).update(
        created_at=at, expires_at=at + conversation.tenant.approval_timeout
    )
    approval.refresh_from_db()
    return approval


def test_a_request_past_the_tenants_timeout_expires_and_the_conversation_is_told(conversation):
    old = request_made(conversation, "old", at=NOW - dt.timedelta(hours=25))
    fresh = request_made(conversation, "fresh", at=NOW - dt.timedelta(hours=23))

    assert approvals_expire(now=NOW) == 1

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.status, fresh.status) == ("expired", "pending")
    assert old.decided_at == NOW
    assert old.reason == "No decision within 1 day."
    told = Message.objects.filter(conversation=conversation).order_by("id").last()
    assert (told.role, told.text) == (
        "system",
        "Your account change (plan) could not be reviewed in time, so it has not been "
        "carried out. We can keep looking into this together.",
    )
    conversation.refresh_from_db()
    assert conversation.state == "active"  # it carries on
    event = DecisionEvent.objects.get(conversation=conversation, type="approval.decided")
    assert (event.detail["outcome"], event.detail["approvalId"]) == ("expired", old.pk)
    audit = AuditLog.objects.get(kind="expiry")
    assert (audit.approval_id, audit.actor_label) == (old.pk, "system")


def test_a_shorter_tenant_timeout_expires_sooner(tenant, conversation):
    tenant.approval_timeout = dt.timedelta(minutes=30)
    tenant.save()
    conversation.tenant.refresh_from_db()
    approval = request_made(conversation, "k", at=NOW - dt.timedelta(minutes=31))

    assert approvals_expire(now=NOW) == 1
    approval.refresh_from_db()
    assert approval.reason == "No decision within 30 minutes."


def test_the_sweep_works_in_batches_and_a_second_run_changes_nothing(conversation):
    for i in range(7):
        request_made(conversation, f"k{i}", at=NOW - dt.timedelta(days=2))

    assert approvals_expire(now=NOW, batch_size=3) == 7
    assert approvals_expire(now=NOW, batch_size=3) == 0
    assert ApprovalRequest.objects.filter(status="expired").count() == 7


def test_a_decided_request_never_expires(people, conversation):
    approval = request_made(conversation, "k", at=NOW - dt.timedelta(days=2))
    ApprovalRequest.objects.filter(pk=approval.pk).update(
        expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    approval_decide(approval=approval, user=people["alice"], verdict="deny", reason="no")

    assert approvals_expire(now=timezone.now() + dt.timedelta(days=3)) == 0
    approval.refresh_from_db()
    assert approval.status == "denied"


def test_deciding_a_request_past_its_deadline_is_a_conflict_and_expires_it(people, conversation):
    approval = request_made(conversation, "k", at=timezone.now() - dt.timedelta(days=2))

    with pytest.raises(ApprovalConflict, match="expired"):
        approval_decide(approval=approval, user=people["alice"], verdict="approve")

    approval.refresh_from_db()
    assert approval.status == "expired"
    assert not approval.decisions.exists()


def test_the_task_runs_the_sweep(conversation):
    request_made(conversation, "k", at=timezone.now() - dt.timedelta(days=2))

    assert expire_pending() == 1

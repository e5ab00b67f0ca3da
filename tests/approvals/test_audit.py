"""The audit log: every request, decision and execution with actor, time, address and user
agent; it cannot be changed or deleted through the model layer or the admin."""

from __future__ import annotations

import pytest

from approvals.models import AppendOnlyError, ApprovalRequest, AuditLog
from tests.approvals.conftest import client_for, propose
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(people, key_client, conversation, django_capture_on_commit_callbacks, eager_tasks):
    response = key_client.post(
        f"/api/v1/conversations/{conversation.pk}/actions",
        {
            "action": "issue_refund",
            "params": {"orderId": "A", "amount": 300},
            "idempotencyKey": "a",
        },
        format="json",
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT="integration/1.0",
    )
    approval = ApprovalRequest.objects.get(pk=response.json()["approval"]["id"])
    with django_capture_on_commit_callbacks(execute=True):
        client_for(people["alice"]).post(
            f"/api/v1/approvals/{approval.pk}/approve",
            {"reason": "ok"},
            format="json",
            REMOTE_ADDR="198.51.100.4",
            HTTP_USER_AGENT="Firefox/140",
        )
    return approval


def test_every_request_decision_and_execution_is_in_the_audit_log(trail, people):
    rows = list(AuditLog.objects.filter(approval_id=trail.pk).order_by("id"))

    assert [(r.kind, r.actor_label) for r in rows] == [
        ("request", "api-key:integration"),
        ("decision", "alice"),
        ("execution", "alice"),  # created (queued) by the approval
        ("execution", "worker"),  # its outcome
    ]
    request, decision, queued, done = rows
    assert (request.ip, request.user_agent) == ("203.0.113.7", "integration/1.0")
    assert request.detail["params"] == {"orderId": "A", "amount": 300, "currency": "EUR"}
    assert (decision.ip, decision.user_agent, decision.actor_id) == (
        "198.51.100.4",
        "Firefox/140",
        people["alice"].pk,
    )
    assert decision.detail["verdict"] == "approve"
    assert queued.detail["status"] == "queued"
    assert done.detail["status"] == "succeeded"
    assert done.execution_id == queued.execution_id is not None
    assert all(r.tenant_id == trail.tenant_id and r.created_at for r in rows)
    assert all(r.conversation_id == trail.conversation_id for r in rows)


def test_an_action_run_at_once_is_audited_too(key_client, conversation, eager_tasks):
    propose(key_client, conversation, params={"orderId": "A", "amount": 1})

    assert list(AuditLog.objects.values_list("kind", "detail__status")) == [
        ("execution", "succeeded"),
        ("execution", "queued"),
    ]


def test_an_audit_row_cannot_be_changed(trail):
    row = AuditLog.objects.first()
    row.actor_label = "someone else"

    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.save(update_fields=["actor_label"])
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.filter(pk=row.pk).update(actor_label="x")
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.bulk_update([row], ["actor_label"])
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.update_or_create(pk=row.pk, defaults={"actor_label": "x"})
    assert AuditLog.objects.get(pk=row.pk).actor_label != "someone else"


def test_an_audit_row_cannot_be_deleted(trail):
    row = AuditLog.objects.first()
    count = AuditLog.objects.count()

    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.filter(pk=row.pk).delete()
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.all().delete()
    assert AuditLog.objects.count() == count


def test_a_tenant_with_an_audit_trail_cannot_be_deleted(trail, tenant):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        tenant.delete()


def test_the_admin_shows_the_audit_log_read_only(trail, tenant):
    from tests.factories import make_person

    manager = make_person(tenant=tenant, roles=["manager"], username="boss")
    client = login(manager)
    row = AuditLog.objects.first()

    listing = client.get("/admin/approvals/auditlog/")
    detail = client.get(f"/admin/approvals/auditlog/{row.pk}/change/")
    change = client.post(f"/admin/approvals/auditlog/{row.pk}/change/", {"actor_label": "x"})
    delete = client.post(f"/admin/approvals/auditlog/{row.pk}/delete/", {"post": "yes"})
    bulk = client.post(
        "/admin/approvals/auditlog/",
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )

    assert listing.status_code == 200
    assert b"api-key:integration" in listing.content
    assert detail.status_code == 200
    assert b'name="actor_label"' not in detail.content
    assert change.status_code == 403
    assert delete.status_code == 403
    assert bulk.status_code in (200, 302)
    assert client.get("/admin/approvals/auditlog/add/").status_code == 403
    assert AuditLog.objects.filter(pk=row.pk, actor_label=row.actor_label).exists()
    assert AuditLog.objects.count() == 4

"""How long a tenant keeps its conversations (orchestration/retention.py): the hourly sweep
deletes those resolved longer ago than the tenant's ``conversation_retention_days``, with their
messages and files; an open one, a recent one, one whose approval is under way and another
tenant's stay; batch by batch; the manager sets it in the tenant's admin page (7 to 3650)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from approvals.models import ApprovalRequest
from conversations.models import Attachment, Conversation, Message
from orchestration import retention
from orchestration.retention import conversations_retention_sweep
from tests.conftest import login
from tests.factories import tenant_admin_form
from tests.handover.test_file_storage import _conversation_with_a_file, _used

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def keep_for(tenant, days: int) -> None:
    tenant.conversation_retention_days = days
    tenant.save(update_fields=["conversation_retention_days"])


def test_conversations_resolved_past_the_retention_go_with_what_is_in_them(
    team, tenant, globex, django_capture_on_commit_callbacks
):
    keep_for(tenant, 30)
    old, old_sent = _conversation_with_a_file(resolved_days_ago=31)
    recent, _ = _conversation_with_a_file(resolved_days_ago=10)
    still_open, _ = _conversation_with_a_file(resolved_days_ago=None)
    Conversation.objects.filter(pk=still_open).update(
        created_at=timezone.now() - dt.timedelta(days=400)
    )
    theirs, _ = _conversation_with_a_file(resolved_days_ago=400, slug="globex")  # keeps all
    waits, _ = _conversation_with_a_file(resolved_days_ago=90)
    ApprovalRequest.objects.create(
        tenant=tenant,
        conversation_id=waits,
        action="issue_refund",
        idempotency_key="k-1",
        requested_by_label="agent:agent-sup",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    stored = Attachment.objects.get(pk=old_sent["attachment"]["id"]).file.name

    with django_capture_on_commit_callbacks(execute=True):
        deleted = conversations_retention_sweep()

    assert deleted == 1
    left = {str(pk) for pk in Conversation.objects.values_list("pk", flat=True)}
    assert left == {recent, still_open, theirs, waits}
    assert not Message.objects.filter(conversation_id=old).exists()
    assert not default_storage.exists(stored)
    assert _used(tenant) == 3 * Attachment.objects.get(conversation_id=recent).size
    assert conversations_retention_sweep() == 0  # nothing more to do


def test_the_sweep_goes_batch_by_batch(team, tenant, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)
    keep_for(tenant, 7)
    for _ in range(5):
        _conversation_with_a_file(resolved_days_ago=8)

    assert conversations_retention_sweep() == 5

    assert not Conversation.objects.exists() and _used(tenant) == 0


def test_the_manager_sets_it_in_the_tenant_page_within_its_range(tenant, manager):
    url = f"/admin/core/tenant/{tenant.pk}/change/"
    client = login(manager)

    refused = client.post(url, tenant_admin_form(tenant, conversation_retention_days="3"))
    assert "Ensure this value is greater than or equal to 7" in refused.content.decode()
    saved = client.post(url, tenant_admin_form(tenant, conversation_retention_days="730"))

    assert saved.status_code == 302, saved.content.decode()[:2000]
    tenant.refresh_from_db()
    assert tenant.conversation_retention_days == 730

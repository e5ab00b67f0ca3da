"""How long a tenant keeps the files sent in its conversations (``Tenant.file_retention_days``,
set by its manager in the admin): a customer's photo of their ID or a receipt should not be kept
for ever because a conversation once needed it, and a tenant's file storage has a limit
(``conversations.file_quota``).

``files_retention_sweep`` (the sweep "Conversations: files past the tenant's retention") deletes
the files of conversations resolved longer ago than that. Their messages keep each file's name,
kind and size with ``deleted`` (when), and no link: the transcript still says what came, and
the pages show it as a name ("Deleted on 3 March, as the team keeps files 30 days").
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from conversations.models import Attachment, Message, State
from core.models import Tenant

BATCH = 200  # files deleted in one transaction
RUN_MAX = 5000  # files one run deletes at most; the next run goes on


def files_retention_sweep(*, now: dt.datetime | None = None) -> int:
    """Delete the files of conversations resolved longer ago than their tenant's
    ``file_retention_days``. Returns how many were deleted."""
    now = now or timezone.now()
    deleted = 0
    kept_for = Tenant.objects.filter(file_retention_days__gte=1)
    for tenant_id, days in kept_for.values_list("pk", "file_retention_days"):
        before = now - dt.timedelta(days=days or 0)  # at least 1: filtered above
        while deleted < RUN_MAX:
            done = _batch_deleted(tenant_id, before, now)
            deleted += done
            if done < BATCH:
                break
    return deleted


def _batch_deleted(tenant_id: int, before: dt.datetime, now: dt.datetime) -> int:
    """One transaction: up to ``BATCH`` files of the tenant's conversations resolved before
    ``before``, their messages' entries marked ``deleted``, then their rows (their bytes come
    off the tenant's count, what was stored goes once it commits)."""
    with transaction.atomic():
        files = list(
            Attachment.objects.select_for_update(of=("self",))
            .filter(
                tenant_id=tenant_id,
                message__isnull=False,
                conversation__state=State.RESOLVED,
                conversation__resolved_at__lt=before,
            )
            .order_by("created_at")[:BATCH]
        )
        if not files:
            return 0
        gone = {str(f.pk) for f in files}
        messages = Message.objects.select_for_update().filter(
            tenant_id=tenant_id, pk__in={f.message_id for f in files}
        )
        for message in messages:
            message.attachments = [_deleted(entry, gone, now) for entry in message.attachments]
            message.save(update_fields=["attachments"])
        for attachment in files:
            attachment.delete()
        return len(files)


def _deleted(entry: dict, gone: set[str], now: dt.datetime) -> dict:
    if entry.get("id") not in gone:
        return entry
    shown = {key: value for key, value in entry.items() if key != "id"}
    return {**shown, "deleted": now.isoformat()}

"""What a tenant's files may take in all (``Tenant.files_limit_bytes``: its own
``files_limit_mb``, set by the server's operator, or ``TENANT_FILES_MAX_MB``), so that one
tenant's customers cannot fill the server's disk or bucket.

``core.FileUsage`` counts the bytes stored. A file is counted before it is stored, by one
conditional UPDATE that passes only while the count stays within the limit: two uploads at once
cannot both pass it, whatever the database. A file's row deleted (its message refused, the
retention's sweep, its conversation deleted) takes its bytes off in the same transaction.
"""

from __future__ import annotations

import logging

from django.db.models import F
from django.db.models.functions import Greatest

from core.errors import Invalid
from core.limits import size_text
from core.models import FileUsage, Tenant

log = logging.getLogger(__name__)


def files_reserve(tenant_id: int, size: int) -> None:
    """Count ``size`` more bytes against the tenant's limit; raises Invalid naming ``file``
    when they do not fit (nothing counted then)."""
    limit = Tenant.objects.get(pk=tenant_id).files_limit_bytes
    if size <= limit:
        if _counted(tenant_id, size, limit):
            return
        FileUsage.objects.get_or_create(tenant_id=tenant_id)  # the tenant's first file
        if _counted(tenant_id, size, limit):
            return
    log.warning(
        "tenant %s: a file of %s refused, the file storage limit (%s) reached",
        tenant_id,
        size_text(size),
        size_text(limit),
    )
    reason = (
        "this team does not take files"
        if limit == 0
        else f"this team's file storage is full ({size_text(limit)})"
    )
    raise Invalid(f"The file cannot be sent: {reason}", fields={"file": reason})


def _counted(tenant_id: int, size: int, limit: int) -> bool:
    rows = FileUsage.objects.filter(tenant_id=tenant_id, bytes__lte=limit - size)
    return rows.update(bytes=F("bytes") + size) == 1


def files_release(tenant_id: int, size: int) -> None:
    """Take ``size`` bytes off the tenant's count (a file deleted, or never stored)."""
    FileUsage.objects.filter(tenant_id=tenant_id).update(bytes=Greatest(F("bytes") - size, 0))

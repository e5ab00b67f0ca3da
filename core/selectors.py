"""Reads for tenants and credentials."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from core.models import (
    ApiKey,
    PersonalToken,
    Tenant,
)
from core.services import (
    API_KEY_KIND,
    PERSONAL_TOKEN_KIND,
    hash_secret,
)

# last_used_at is refreshed at most this often, so a busy key does not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def credential_for_bearer(raw: str) -> ApiKey | PersonalToken | None:
    """The key or token a bearer secret names (revoked ones included), or None."""
    kind = raw.partition("_")[0]
    queryset: QuerySet[ApiKey] | QuerySet[PersonalToken]
    if kind == API_KEY_KIND:
        queryset = ApiKey.objects.select_related("tenant")
    elif kind == PERSONAL_TOKEN_KIND:
        queryset = PersonalToken.objects.select_related("user")
    else:
        return None
    credential = queryset.filter(key_hash=hash_secret(raw)).first()
    if credential is not None and credential.is_active:
        _touch(credential)
    return credential


def _touch(credential: ApiKey | PersonalToken) -> None:
    now = timezone.now()
    last = credential.last_used_at
    if last is None or now - last >= LAST_USED_RESOLUTION:
        type(credential).objects.filter(pk=credential.pk).update(last_used_at=now)
        credential.last_used_at = now


def tenant_is_open(*, tenant: Tenant, at: dt.datetime | None = None) -> bool:
    """Whether ``at`` (default now) falls within the tenant's business hours, in its time zone,
    and not on one of its holidays."""
    local = timezone.localtime(at or timezone.now(), tenant.tzinfo)
    if tenant.holidays.filter(date=local.date()).exists():
        return False
    local_time = local.time().replace(tzinfo=None)
    return any(
        interval.contains(local_time)
        for interval in tenant.business_hours.filter(weekday=local.weekday())
    )

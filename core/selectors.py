"""Reads for tenants and credentials."""

from __future__ import annotations

import copy
import datetime as dt
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from core.config_version import CREDENTIALS_KEY, generation, generation_key
from core.config_version import moves as config_moves
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

# API keys this process has looked up, by key hash: (credentials generation, tenant
# generation, the key with its tenant). An entry is used only while both generations are the
# ones it was read under: revoking a key moves the credentials generation on, changing or
# deleting its tenant moves the tenant's (core.config_version), and every process sees either
# within CONFIG_CHECK_SECONDS. A hash that names no key is not kept (nothing to revoke).
_api_keys: dict[str, tuple[int, int, ApiKey]] = {}
API_KEYS_KEPT = 10_000


def credential_for_bearer(raw: str) -> ApiKey | PersonalToken | None:
    """The key or token a bearer secret names (revoked ones included), or None. An API key
    is read from this process's cache when nothing changed since it was read (no query)."""
    kind = raw.partition("_")[0]
    if kind == API_KEY_KIND:
        return _api_key(hash_secret(raw))
    if kind != PERSONAL_TOKEN_KIND:
        return None
    token = PersonalToken.objects.select_related("user").filter(key_hash=hash_secret(raw)).first()
    if token is not None and token.is_active:
        _touch(token)
    return token


def _api_key(digest: str) -> ApiKey | None:
    credentials = generation(CREDENTIALS_KEY)
    kept = _api_keys.get(digest)
    if kept is not None and (
        kept[0] != credentials or kept[1] != generation(generation_key(kept[2].tenant_id))
    ):
        kept = None
    if kept is None:
        before = config_moves()
        api_key = ApiKey.objects.select_related("tenant").filter(key_hash=digest).first()
        if api_key is None:
            return None
        kept = (credentials, generation(generation_key(api_key.tenant_id)), api_key)
        if config_moves() == before:  # else its tenant may have changed after the read
            if len(_api_keys) >= API_KEYS_KEPT:
                _api_keys.clear()
            _api_keys[digest] = kept
    api_key = kept[2]
    if api_key.is_active:
        _touch(api_key)
    # each request gets copies of its own: nothing it sets on them reaches the cache
    mine = copy.copy(api_key)
    mine.tenant = copy.copy(api_key.tenant)
    return mine


def forget_kept() -> None:
    """Drop the API keys and the tenants this process keeps (tests)."""
    _api_keys.clear()
    _tenants.clear()


# Tenants this process has read, by id: (the tenant's generation, the tenant), used while the
# generation is the one it was read under. Editing a tenant (its admin page, its business
# hours and holidays there) moves its generation, as every configuration change does, and
# every process sees that within CONFIG_CHECK_SECONDS. The turns worker reads a turn's tenant
# here instead of joining it to every conversation it loads.
_tenants: dict[int, tuple[int, Tenant]] = {}
TENANTS_KEPT = 10_000


def tenant_by_id(tenant_id: int) -> Tenant:
    """The tenant, from this process's memory when nothing changed since it was read (no
    query); the caller gets a copy of its own. Tenant.DoesNotExist when there is none."""
    current = generation(generation_key(tenant_id))
    kept = _tenants.get(tenant_id)
    if kept is None or kept[0] != current:
        before = config_moves()
        kept = (current, Tenant.objects.get(pk=tenant_id))
        if config_moves() == before:  # else it may have changed after the read
            if len(_tenants) >= TENANTS_KEPT:
                _tenants.clear()
            _tenants[tenant_id] = kept
    return copy.copy(kept[1])


def _touch(credential: ApiKey | PersonalToken) -> None:
    now = timezone.now()
    last = credential.last_used_at
    if last is None or now - last >= LAST_USED_RESOLUTION:
        type(credential).objects.filter(pk=credential.pk).update(last_used_at=now)
        credential.last_used_at = now


def tenant_is_open(
    *, tenant: Tenant, at: dt.datetime | None = None, hours: QuerySet | None = None
) -> bool:
    """Whether ``at`` (default now) falls within the tenant's business hours (``hours``: these
    opening intervals instead, a group's), in its time zone, and not on one of its holidays."""
    local = timezone.localtime(at or timezone.now(), tenant.tzinfo)
    if tenant.holidays.filter(date=local.date()).exists():
        return False
    local_time = local.time().replace(tzinfo=None)
    hours = tenant.business_hours.all() if hours is None else hours
    return any(interval.contains(local_time) for interval in hours.filter(weekday=local.weekday()))


OPENING_SEARCH_DAYS = 366  # how far ahead the next opening is looked for (holidays may stack)


def tenant_opens_next(
    *, tenant: Tenant, at: dt.datetime | None = None, hours: QuerySet | None = None
) -> dt.datetime | None:
    """When the tenant next opens after ``at`` (default now), in its time zone: the first of
    its business hours' intervals (``hours``: these instead, a group's) to start after ``at``
    on a day that is no holiday. None when it has no business hours (or only holidays for a
    year ahead). Two queries."""
    tz = tenant.tzinfo
    local = timezone.localtime(at or timezone.now(), tz)
    intervals: dict[int, list[dt.time]] = {}
    hours = tenant.business_hours.all() if hours is None else hours
    for weekday, opens in hours.values_list("weekday", "opens"):
        intervals.setdefault(weekday, []).append(opens)
    if not intervals:
        return None
    last_day = local.date() + dt.timedelta(days=OPENING_SEARCH_DAYS)
    closed = set(
        tenant.holidays.filter(date__gte=local.date(), date__lte=last_day).values_list(
            "date", flat=True
        )
    )
    for offset in range(OPENING_SEARCH_DAYS + 1):
        day = local.date() + dt.timedelta(days=offset)
        if day in closed:
            continue
        for opens in sorted(intervals.get(day.weekday(), ())):
            moment = dt.datetime.combine(day, opens, tzinfo=tz)
            if moment > local:
                return moment
    return None

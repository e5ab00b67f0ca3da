"""The time window and agent a metrics request asks for: ``from``, ``to`` (ISO 8601, read by
the one date parser, ``core.dates``) and ``agentId``, shared by the API and the admin
dashboard so both read parameters alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils import timezone

from agents.models import Agent
from core.dates import (
    DateRefused,
    parse_moment,
)
from core.errors import Invalid
from core.models import Tenant

DEFAULT_DAYS = 7
MAX_DAYS = 366


@dataclass(frozen=True)
class Window:
    """``[start, end)`` for ``tenant``, optionally narrowed to one agent (its slug)."""

    tenant: Tenant
    start: dt.datetime
    end: dt.datetime
    agent: str | None = None

    @property
    def days(self) -> list[dt.date]:
        """Every day the window touches, in the tenant's time zone."""
        tz = self.tenant.tzinfo
        first = timezone.localtime(self.start, tz).date()
        last = timezone.localtime(self.end - dt.timedelta(microseconds=1), tz).date()
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


class WindowInvalid(Invalid):
    """``errors`` maps each bad parameter to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), fields=errors)


def parse_window(
    params: Mapping[str, str],
    *,
    tenant: Tenant,
    now: dt.datetime | None = None,
) -> Window:
    """Read ``from``, ``to`` and ``agentId``; raises WindowInvalid naming each bad one.

    Defaults: ``to`` is now, ``from`` is seven days before ``to``. A date alone is a whole
    day: ``from=2025-03-01&to=2025-03-31`` is March."""

    errors: dict[str, list[str]] = {}
    tz = tenant.tzinfo
    moments: dict[str, dt.datetime | None] = {}
    for name in ("from", "to"):
        raw = params.get(name)
        if raw in (None, ""):
            moments[name] = None
            continue
        try:
            moments[name] = parse_moment(str(raw), tz, end=name == "to")
        except DateRefused as exc:
            errors[name] = [str(exc)]
            moments[name] = None
    end = moments["to"] or now or timezone.now()
    start = moments["from"] or end - dt.timedelta(days=DEFAULT_DAYS)
    if not errors:
        if start >= end:
            errors["to"] = ["must be after from"]
        elif end - start > dt.timedelta(days=MAX_DAYS):
            errors["from"] = [f"the window is at most {MAX_DAYS} days"]
    agent = params.get("agentId") or None
    if agent is not None:
        agent = str(agent)
        if not Agent.objects.filter(tenant=tenant, slug=agent).exists():
            errors["agentId"] = [f"unknown agent '{agent[:63]}'"]
    if errors:
        raise WindowInvalid(errors)
    return Window(tenant=tenant, start=start, end=end, agent=agent)

"""Configuration generations: every write to a tenant's configuration moves its generation on,
so every snapshot built from older data (``orchestration.tenant_config``) stops being read.

``config_changed(tenant_id)`` (``None`` for the global defaults) bumps the generation at once
and again after commit. Generations live in Django's cache (Redis in production, shared by
every process).
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import transaction

GLOBAL_KEY = "tenant-config:generation:global"


def generation_key(tenant_id: int) -> str:
    return f"tenant-config:generation:{tenant_id}"


def generation(key: str) -> int:
    value = cache.get(key)
    if value is None:
        # a fresh number, never one an older snapshot was stored under
        value = time.time_ns()
        cache.add(key, value, timeout=None)
        value = cache.get(key, value)
    return value


def _bump(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:  # missing: any fresh number will do
        cache.set(key, time.time_ns(), timeout=None)


def config_changed(tenant_id: int | None) -> None:
    """Call from every service that changes configuration (``None``: the global defaults)."""
    key = GLOBAL_KEY if tenant_id is None else generation_key(tenant_id)
    _bump(key)
    transaction.on_commit(lambda: _bump(key))

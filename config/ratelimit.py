"""Request rate limits: fixed-window counters, counted atomically in Redis.

``hit(scope, ident, rate)`` counts one request of ``ident`` (an API key, a username, a client
address) in the current window of ``rate`` and says whether it is within the limit. With
``REDIS_URL`` the count is one Lua script on that Redis (INCR, and EXPIRE on the window's first
hit), so every process of a deployment shares it and concurrent hits never lose a count. On the
embedded default (no Redis) an in-process counter under a lock has the same semantics.

The limiter fails open: when Redis is down or slower than ``RATE_LIMIT_REDIS_TIMEOUT_MS``, the
request passes and a warning is logged; Redis is then left alone for ``RETRY_AFTER`` seconds, so
an outage costs one bounded wait, not one per request. A rate limit protects the service; it
must never be the reason the service is down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

if TYPE_CHECKING:
    from django.http import HttpRequest

log = logging.getLogger(__name__)

RETRY_AFTER = 5.0
"""Seconds the limiter leaves a failed Redis alone (requests pass meanwhile)."""

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE_RE = re.compile(r"(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?")
_OFF = {"", "off", "none", "0"}

# count = INCR key; the window's first hit sets its expiry. One script: atomic in Redis.
_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""
_REFUND_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    period: int  # seconds

    def __str__(self) -> str:
        unit = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}.get(self.period)
        return f"{self.limit} per {unit}" if unit else f"{self.limit} per {self.period} s"


def parse_rate(text: str, *, setting: str = "rate") -> Rate | None:
    """``"600/min"``, ``"10/m"``, ``"5/30s"``, ``"1000/hour"``; ``"off"`` (or empty, or 0)
    -> None (no limit). Raises ImproperlyConfigured for anything else."""
    value = (text or "").strip().lower()
    if value in _OFF:
        return None
    match = _RATE_RE.fullmatch(value)
    if not match or match.group(3) not in _UNITS:
        raise ImproperlyConfigured(
            f"{setting} must look like 600/min, 10/m, 5/30s or 1000/hour (or off); got {text!r}"
        )
    limit = int(match.group(1))
    period = (int(match.group(2)) if match.group(2) else 1) * _UNITS[match.group(3)]
    if limit == 0:
        return None
    if period == 0:
        raise ImproperlyConfigured(f"{setting}: the period must be longer than 0; got {text!r}")
    return Rate(limit, period)


def parse_rate_overrides(text: str, *, setting: str) -> dict[str, str]:
    """``"acme=1200/min,globex=off"`` -> ``{"acme": "1200/min", "globex": "off"}``, each rate
    checked."""
    overrides: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        slug, sep, rate = item.partition("=")
        if not sep or not slug.strip():
            raise ImproperlyConfigured(
                f"{setting} must look like 'tenant-slug=1200/min,other=off'; got {item!r}"
            )
        parse_rate(rate, setting=f"{setting} ({slug.strip()})")
        overrides[slug.strip()] = rate.strip()
    return overrides


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    count: int  # this request's number in the window (0 when not counted: failed open)
    rate: Rate
    retry_after: int  # whole seconds until the window ends
    key: str = ""  # the window's counter, for ``refund``


def hit(scope: str, ident: str, rate: Rate) -> Verdict:
    """Count one request of ``ident`` under ``scope`` and judge it against ``rate``."""
    now = time.time()
    window = int(now // rate.period)
    retry_after = max(1, math.ceil((window + 1) * rate.period - now))
    key = f"{settings.RATE_LIMIT_PREFIX}:{scope}:{_digest(ident)}:{rate.period}:{window}"
    ttl = rate.period + 1
    url = settings.REDIS_URL
    count = _redis_count(url, key, ttl) if url else _local.count(key, ttl, now)
    if count is None:  # Redis unavailable: fail open
        return Verdict(True, 0, rate, retry_after)
    return Verdict(count <= rate.limit, count, rate, retry_after, key)


def refund(verdict: Verdict) -> None:
    """Take back the hit that ``verdict`` counted, in its own window (a counter that has
    expired meanwhile is left alone): for limits that count only failures, where each attempt
    is counted before it is tried, so concurrent attempts cannot slip past, and given back
    when it succeeds."""
    if not verdict.key or verdict.count == 0:
        return
    url = settings.REDIS_URL
    if url:
        _redis_refund(url, verdict.key)
    else:
        _local.refund(verdict.key, time.time())


def _digest(ident: str) -> str:
    """Keys hold no usernames or addresses in clear, and stay short whatever the input."""
    return hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# -- Redis ----------------------------------------------------------------------------------

_clients: dict[tuple[str, int], tuple[redis.Redis, object, object]] = {}
_clients_lock = threading.Lock()
_down_until: dict[str, float] = {}


def _client(url: str) -> tuple[redis.Redis, object, object]:
    timeout_ms = settings.RATE_LIMIT_REDIS_TIMEOUT_MS
    key = (url, timeout_ms)
    found = _clients.get(key)
    if found is None:
        with _clients_lock:
            found = _clients.get(key)
            if found is None:
                timeout = timeout_ms / 1000
                client = redis.Redis.from_url(
                    url,
                    socket_timeout=timeout,
                    socket_connect_timeout=timeout,
                    retry=Retry(NoBackoff(), 0),  # one try: a slow Redis is a down Redis here
                    health_check_interval=30,
                )
                found = _clients[key] = (
                    client,
                    client.register_script(_SCRIPT),
                    client.register_script(_REFUND_SCRIPT),
                )
    return found


def _redis_count(url: str, key: str, ttl: int) -> int | None:
    if time.monotonic() < _down_until.get(url, 0.0):
        return None
    _, script, _ = _client(url)
    try:
        return int(script(keys=[key], args=[ttl]))  # type: ignore[operator]
    except redis.RedisError as exc:
        _redis_failed(url, exc)
        return None


def _redis_refund(url: str, key: str) -> None:
    if time.monotonic() < _down_until.get(url, 0.0):
        return
    _, _, script = _client(url)
    try:
        script(keys=[key])  # type: ignore[operator]
    except redis.RedisError as exc:
        _redis_failed(url, exc)


def _redis_failed(url: str, exc: Exception) -> None:
    _down_until[url] = time.monotonic() + RETRY_AFTER
    log.warning(
        "rate limits not enforced for %s s: Redis is unavailable (%s: %s)",
        RETRY_AFTER,
        type(exc).__name__,
        exc,
    )


# -- embedded default -------------------------------------------------------------------------


class _LocalCounter:
    """The same counting in process memory, for the embedded default (one process)."""

    MAX_KEYS = 50_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def count(self, key: str, ttl: int, now: float) -> int:
        with self._lock:
            current, expires = self._counts.get(key, (0, 0.0))
            if expires <= now:
                if len(self._counts) >= self.MAX_KEYS:
                    self._prune(now)
                current, expires = 0, now + ttl
            current += 1
            self._counts[key] = (current, expires)
            return current

    def refund(self, key: str, now: float) -> None:
        with self._lock:
            current, expires = self._counts.get(key, (0, 0.0))
            if current > 0 and expires > now:
                self._counts[key] = (current - 1, expires)

    def _prune(self, now: float) -> None:
        self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        if len(self._counts) >= self.MAX_KEYS:  # all live: drop the oldest half
            ordered = sorted(self._counts.items(), key=lambda item: item[1][1])
            self._counts = dict(ordered[len(ordered) // 2 :])


_local = _LocalCounter()


# -- who is asking ----------------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str:
    """The client's address: the peer's, or behind a proxy (``BEHIND_PROXY``) the last address
    in X-Forwarded-For, the one our own proxy appended (earlier entries are the client's word)."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR") or "unknown"


def socket_client_ip(scope: dict) -> str:
    """``client_ip`` for a websocket's ASGI scope: the peer's address, or behind a proxy the
    last X-Forwarded-For entry."""
    if settings.BEHIND_PROXY:
        forwarded = ",".join(
            value.decode("latin-1")
            for name, value in scope.get("headers") or []
            if name.lower() == b"x-forwarded-for"
        )
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    client = scope.get("client")
    return str(client[0]) if client and client[0] else "unknown"

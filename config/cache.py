"""Django's Redis cache, except that Redis being away is a cache miss and a lost write, never
an error: the cache holds copies (tenant configuration snapshots), so a request can go on
without it, rebuilding what it needs from the database. After a failure the process leaves
Redis alone for ``RETRY_AFTER`` seconds rather than paying the connection attempt (and
redis-py's retries) on every call."""

from __future__ import annotations

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError, TimeoutError

log = logging.getLogger(__name__)

UNAVAILABLE = (ConnectionError, TimeoutError)
RETRY_AFTER = 5.0


class Unavailable(ConnectionError):
    """Redis failed a moment ago; not tried again yet."""


class ResilientRedisCache(RedisCache):
    _down_until = 0.0

    @property
    def _cache(self):
        if time.monotonic() < ResilientRedisCache._down_until:
            raise Unavailable(f"Redis failed less than {RETRY_AFTER} s ago")
        client = self.__dict__.get("_client")
        if client is None:
            client = self.__dict__["_client"] = self._class(self._servers, **self._options)
        return client

    def _unavailable(self, operation: str, exc: Exception) -> None:
        if not isinstance(exc, Unavailable):
            ResilientRedisCache._down_until = time.monotonic() + RETRY_AFTER
            log.warning("cache %s skipped, Redis is unavailable: %s", operation, exc)

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except UNAVAILABLE as exc:
            self._unavailable("get", exc)
            return default

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except UNAVAILABLE as exc:
            self._unavailable("get_many", exc)
            return {}

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except UNAVAILABLE as exc:
            self._unavailable("add", exc)
            return False

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except UNAVAILABLE as exc:
            self._unavailable("set", exc)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        except UNAVAILABLE as exc:
            self._unavailable("set_many", exc)
            return list(data)

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except UNAVAILABLE as exc:
            self._unavailable("incr", exc)
            raise ValueError(f"Key '{key}' not found (the cache is unavailable)") from exc

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except UNAVAILABLE as exc:
            self._unavailable("delete", exc)
            return False

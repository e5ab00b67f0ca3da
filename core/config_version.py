"""Configuration generations: every write to a tenant's configuration moves its generation on,
so every snapshot built from older data (``orchestration.tenant_config``) stops being read; every
change to API credentials moves the ``credentials`` generation on, so no process keeps using a
key it cached before the key was revoked (``core.selectors``).

The generations live in the database (``ConfigGeneration``, one row per scope), so a change made
by any process (a second server, a Celery worker, ``manage.py shell``) reaches every other one,
on the embedded default (SQLite, no Redis) as in production:

- ``config_changed(tenant_id)`` (``None`` for the global defaults) and ``credentials_changed()``
  bump in the caller's transaction: one upsert moves the ``clock`` row on, a second gives the
  scope the clock's new value. The clock's row lock (PostgreSQL) or the write lock (SQLite)
  orders the bumping transactions, so they commit in the clock's order.
- Each process keeps the generations it read and checks the database at most once every
  ``CONFIG_CHECK_SECONDS`` (default 1): one indexed query for the rows whose value passed the
  largest it has seen, which is no row at all when nothing changed. Between checks a read costs
  nothing.
- The process that bumps sees its change at once, before the commit, under a number of its own
  (its own thread reads its own uncommitted data; other threads of the process may build a
  snapshot from the older data under that number, which nobody reads after the commit), and
  the committed number after the commit. A bump that is rolled back leaves nothing behind.
- A scope never bumped reads the database's ``epoch``, a number made when the table was first
  used, so a snapshot kept in Redis from an earlier database is never taken for a current one.
"""

from __future__ import annotations

import secrets
import threading
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from core.models import ConfigGeneration

GLOBAL_KEY = "global"
CREDENTIALS_KEY = "credentials"
_CLOCK = "clock"
_EPOCH = "epoch"


def generation_key(tenant_id: int) -> str:
    return f"tenant:{tenant_id}"


class _Bump:
    """A bump not committed yet, in this process: its number until the commit, then the
    committed one. Registered as the transaction's on-commit callback, so it is alive exactly
    while it is in the bumping connection's list of callbacks (a rollback empties that list)."""

    def __init__(self, scope: str, value: int) -> None:
        self.scope = scope
        self.value = value
        self.number = -secrets.randbits(62) - 1  # never a committed value, nor another's
        self.connection = connections[DEFAULT_DB_ALIAS]  # the bumping thread's own

    def alive(self) -> bool:
        conn = self.connection
        return conn.in_atomic_block and any(entry[1] is self for entry in conn.run_on_commit)

    def __call__(self) -> None:
        _view.committed(self.scope, self.value)
        if _view.pending.get(self.scope) is self:
            _view.pending.pop(self.scope, None)


class _View:
    """What this process knows of the generations."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset(checked=False)

    def reset(self, *, checked: bool) -> None:
        self.values: dict[str, int] = {}
        self.pending: dict[str, _Bump] = {}
        self.moves = 0  # how many times a generation moved here (see ``moves()``)
        self.seen = 0  # the largest clock value read
        self.epoch: int | None = None
        self.checked_at: float | None = None
        if checked:  # tests: a fresh view that does not ask the database until told to
            self.epoch = time.time_ns()
            self.checked_at = time.monotonic()

    def committed(self, scope: str, value: int) -> None:
        with self.lock:
            if value > self.values.get(scope, 0):
                self.values[scope] = value
                self.moves += 1

    def due(self) -> bool:
        checked_at = self.checked_at
        return checked_at is None or time.monotonic() - checked_at >= settings.CONFIG_CHECK_SECONDS

    def check(self, *, force: bool = False) -> None:
        """Read the generations that moved since the last check (at most once per interval)."""
        if not force and not self.due():
            return
        if _bumped_here():
            return  # this connection would read its own uncommitted bumps
        first = self.epoch is None
        if not self.lock.acquire(blocking=first or force):
            return  # another thread is checking: the values of the last check will do
        try:
            if not force and not self.due():
                return
            rows = ConfigGeneration.objects.filter(value__gt=self.seen)
            if not first:
                rows = rows.exclude(scope=_EPOCH)
            for scope, value in rows.values_list("scope", "value"):
                if scope == _EPOCH:
                    self.epoch = value
                    continue
                if value > self.values.get(scope, 0):
                    self.values[scope] = value
                    self.moves += 1
                self.seen = max(self.seen, value)
            if self.epoch is None:
                self.epoch = _make_epoch()
            self.checked_at = time.monotonic()
        finally:
            self.lock.release()

    def generation(self, scope: str) -> int:
        self.check()
        bump = self.pending.get(scope)
        if bump is not None:
            if bump.alive():
                return bump.number
            self.pending.pop(scope, None)
        value = self.values.get(scope)
        return value if value is not None else (self.epoch or 0)


_view = _View()


def _bumped_here() -> bool:
    return connection.in_atomic_block and any(
        isinstance(entry[1], _Bump) for entry in connection.run_on_commit
    )


# ConfigGeneration's table (its Meta names it); two upserts, the same on PostgreSQL and SQLite
_MOVE_CLOCK = (
    "INSERT INTO core_configgeneration (scope, value) VALUES (%s, %s) ON CONFLICT (scope) "
    "DO UPDATE SET value = core_configgeneration.value + 1 RETURNING value"
)
_SET_SCOPE = (
    "INSERT INTO core_configgeneration (scope, value) VALUES (%s, %s) ON CONFLICT (scope) "
    "DO UPDATE SET value = excluded.value"
)
_ADD_EPOCH = (
    "INSERT INTO core_configgeneration (scope, value) VALUES (%s, %s) ON CONFLICT (scope) "
    "DO NOTHING"
)


def _make_epoch() -> int:
    with connection.cursor() as cursor:
        cursor.execute(_ADD_EPOCH, [_EPOCH, time.time_ns()])
    return ConfigGeneration.objects.values_list("value", flat=True).get(scope=_EPOCH)


def generation(scope: str) -> int:
    """The current generation of ``scope`` (``GLOBAL_KEY``, ``generation_key(tenant_id)``,
    ``CREDENTIALS_KEY``) as this process knows it: checked against the database at most once
    every ``CONFIG_CHECK_SECONDS``."""
    return _view.generation(scope)


def moves() -> int:
    """A number that changes whenever a generation moves in this process: a reader that built
    something from the database keeps it under the generations it read only when this did not
    change meanwhile (else a change that landed in between would hide under the new number)."""
    return _view.moves


def check_now() -> None:
    """Read the generations from the database now, whatever the interval."""
    _view.check(force=True)


def forget(*, checked: bool = False) -> None:
    """Drop what this process knows (tests). ``checked``: start with a number of its own for
    every scope and do not ask the database before the interval has passed."""
    with _view.lock:
        _view.reset(checked=checked)


def bump(scope: str) -> None:
    """Move ``scope`` on, in the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(_MOVE_CLOCK, [_CLOCK, time.time_ns()])
        (value,) = cursor.fetchone()
        cursor.execute(_SET_SCOPE, [scope, value])
    change = _Bump(scope, value)
    _view.pending[scope] = change
    _view.moves += 1
    transaction.on_commit(change)  # outside a transaction: at once


def config_changed(tenant_id: int | None) -> None:
    """Call from every service that changes configuration (``None``: the global defaults)."""
    bump(GLOBAL_KEY if tenant_id is None else generation_key(tenant_id))


def credentials_changed() -> None:
    """Call from every service that revokes a credential or removes its tenant."""
    bump(CREDENTIALS_KEY)

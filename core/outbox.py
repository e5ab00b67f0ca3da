"""The transactional outbox: the one door for work that must not be lost.

``outbox_task`` and ``outbox_offer`` write an ``OutboxEvent`` row in the caller's transaction,
so the work exists exactly when the change that calls for it commits. After the commit the
same process relays it (publishes the Celery task, or offers the handoff to the online
agents); whatever that could not relay (the broker or Redis is down, the process died between
the commit and the relay) is relayed by ``outbox_sweep``, which the schedule runs every few
seconds (Celery beat, or the in-process runner on the embedded default), with backoff per row.

On the embedded default (no broker) a task is run by the in-process runner of the web process
when one runs there (``config.runner``), off the request's thread; a task with a countdown
waits in its row until it is due (so it is not lost if the process stops meanwhile). Where no
runner runs (tests, ``manage.py shell``) it runs inline, as Celery's eager mode does.

Delivery is at least once: a relay that published but died before marking the row is relayed
again. Every consumer is idempotent (the execution by its key under a row lock, the pack build
by its handoff, the approvers' e-mail by a conditional update, the offer by the handoff's
status).

Relaying never hangs a request: the broker connection has short timeouts, and after a failed
publish this process stops trying to publish for ``OUTBOX_BROKER_BACKOFF`` seconds and leaves
the rows to the sweep.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config import runner
from config.celery import app
from core.models import (
    OutboxEvent,
    OutboxKind,
)

log = logging.getLogger(__name__)

SWEEP_TASK = "orchestration.relay_outbox"
SWEEP_SCHEDULE = "Outbox: relay sweep"
SWEEP_BATCH = 200
BACKOFF_BASE_SECONDS = 2
BACKOFF_MAX_SECONDS = 300
KEEP_RELAYED = dt.timedelta(days=7)


class _Breaker:
    """Per process: after a failed publish, skip publishing for a while (the sweep will)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open_until = 0.0

    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self) -> None:
        with self._lock:
            self._open_until = time.monotonic() + settings.OUTBOX_BROKER_BACKOFF

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0


broker = _Breaker()


class BrokerSkipped(Exception):
    """Not published: a recent publish failed, so this process leaves it to the sweep."""


class NotDue(Exception):
    """Not relayed yet: the row waits until ``until`` (a countdown on the in-process runner)."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__(f"due at {until.isoformat()}")
        self.until = until


# --- writing ----------------------------------------------------------------------------------


def outbox_task(
    *, tenant_id: int, task: str, args: Iterable[Any] = (), countdown: float | None = None
) -> OutboxEvent:
    """Run the Celery task ``task`` with ``args`` (ids) once the current transaction commits;
    never lost if the broker is down then."""
    payload: dict[str, Any] = {"task": task, "args": list(args)}
    if countdown:
        payload["countdown"] = float(countdown)
    return _write(tenant_id=tenant_id, kind=OutboxKind.TASK, payload=payload)


def outbox_offer(*, tenant_id: int, handoff_id: int) -> OutboxEvent:
    """Offer a hot handoff to the tenant's online agents once the transaction commits."""
    return _write(
        tenant_id=tenant_id, kind=OutboxKind.HANDOFF_OFFER, payload={"handoffId": handoff_id}
    )


def _write(*, tenant_id: int, kind: str, payload: dict[str, Any]) -> OutboxEvent:
    event = OutboxEvent.objects.create(
        tenant_id=tenant_id, kind=kind, payload=payload, available_at=timezone.now()
    )
    event_id = event.pk
    transaction.on_commit(lambda: outbox_relay(ids=[event_id]))
    return event


# --- relaying ---------------------------------------------------------------------------------


def _submit_in_process(event: OutboxEvent) -> None:
    """The embedded default with a runner in this process: the task runs on it once the
    relay commits. A countdown not over yet leaves the row for later, and the runner relays
    it when it is due (or the sweep does, after a restart)."""
    payload = event.payload
    if payload.get("countdown"):
        due = event.created_at + dt.timedelta(seconds=payload["countdown"])
        left = (due - timezone.now()).total_seconds()
        if left > 0:
            raise NotDue(due)
    task, args = payload["task"], payload.get("args", [])
    transaction.on_commit(lambda: runner.submit(task, args))


def _publish_task(event: OutboxEvent) -> None:
    if app.conf.task_always_eager and runner.running():
        _submit_in_process(event)
        return
    if broker.is_open() and not app.conf.task_always_eager:
        raise BrokerSkipped("the broker failed recently")
    payload = event.payload
    options: dict[str, Any] = {
        # a short, bounded retry: a request must never hang on a broker that is away
        "retry": True,
        "retry_policy": {"max_retries": 1, "interval_start": 0.1, "interval_step": 0.2},
    }
    if payload.get("countdown"):
        options["countdown"] = payload["countdown"]
    if payload["task"] not in app.tasks:
        app.loader.import_default_modules()  # every app's tasks.py (not imported yet here)
    try:
        app.tasks[payload["task"]].apply_async(args=payload.get("args", []), **options)
    except Exception:
        if not app.conf.task_always_eager:
            broker.trip()
        raise
    broker.reset()


HANDLERS: dict[str, Callable[[OutboxEvent], None]] = {OutboxKind.TASK: _publish_task}


def register_relay(kind: str, handler: Callable[[OutboxEvent], None]) -> None:
    """Say how events of ``kind`` are relayed. An app above the core registers its kinds when
    it is ready (``handover`` relays hot offers), so the outbox never imports the apps it
    serves."""
    HANDLERS[kind] = handler


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(
        seconds=min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    )


def _relay_locked(rows: list[OutboxEvent], now: dt.datetime) -> int:
    """Relay rows locked by the caller's transaction; returns how many were relayed."""
    relayed = 0
    for event in rows:
        try:
            with transaction.atomic():  # a handler's own writes commit with its "relayed"
                HANDLERS[event.kind](event)
        except NotDue as wait:
            event.available_at = wait.until
            event.save(update_fields=["available_at"])
            left = (wait.until - now).total_seconds() + 0.05
            transaction.on_commit(partial(runner.submit, SWEEP_TASK, countdown=left))
            continue
        except Exception as exc:
            event.attempts += 1
            event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            event.available_at = now + backoff(event.attempts)
            event.save(update_fields=["attempts", "last_error", "available_at"])
            if not isinstance(exc, BrokerSkipped):
                log.warning("outbox %s not relayed (attempt %s): %s", event, event.attempts, exc)
            continue
        event.relayed_at = now
        event.save(update_fields=["relayed_at"])
        relayed += 1
    return relayed


def outbox_relay(*, ids: list[int]) -> int:
    """Relay the given events now (after the commit that wrote them). Rows another relay
    holds, or already relayed, are skipped. Never raises: what fails stays for the sweep."""
    now = timezone.now()
    try:
        with transaction.atomic():
            rows = list(
                OutboxEvent.objects.select_for_update(skip_locked=True).filter(
                    pk__in=ids, relayed_at__isnull=True, available_at__lte=now
                )
            )
            return _relay_locked(rows, now)
    except Exception:
        log.exception("outbox relay of %s failed; the sweep will relay them", ids)
        return 0


def outbox_sweep(*, now: dt.datetime | None = None, batch_size: int = SWEEP_BATCH) -> int:
    """Relay every pending event that is due, oldest first, in batches, each in its own
    transaction with ``SKIP LOCKED`` (two sweeps, or a sweep and an after-commit relay, never
    take the same row). Then forget relayed rows older than ``KEEP_RELAYED``. Returns how
    many were relayed."""
    now = now or timezone.now()
    broker.reset()  # the sweep runs on a worker: the broker was reachable a moment ago
    relayed = 0
    while True:
        with transaction.atomic():
            rows = list(
                OutboxEvent.objects.select_for_update(skip_locked=True)
                .filter(relayed_at__isnull=True, available_at__lte=now)
                .order_by("available_at", "id")[:batch_size]
            )
            relayed += _relay_locked(rows, now)
        if len(rows) < batch_size:
            break
    old = OutboxEvent.objects.filter(relayed_at__lt=now - KEEP_RELAYED)
    ids = list(old.values_list("pk", flat=True)[:10_000])
    if ids:
        OutboxEvent.objects.filter(pk__in=ids).delete()
    return relayed


def outbox_pending() -> dict[str, Any]:
    """How much is waiting, and for how long (for the health endpoint and the admin)."""
    pending = OutboxEvent.objects.filter(relayed_at__isnull=True)
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "pending": pending.count(),
        "oldestSeconds": round((timezone.now() - oldest).total_seconds(), 1) if oldest else 0,
    }

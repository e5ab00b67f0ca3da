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

No transaction is open while a relay publishes (see "relaying" below): rows are claimed for
a lease in one statement, published, then marked.

Relaying never hangs a request: the broker connection has short timeouts, and after a failed
publish this process stops trying to publish for ``OUTBOX_BROKER_BACKOFF`` seconds and leaves
the rows to the sweep.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config import runner
from config.celery import app
from core.compiled import DATETIME_MARK, INT_MARK, CompiledInsert, CompiledUpdate, Marker
from core.models import (
    OutboxEvent,
    OutboxKind,
)
from core.observability import tracing

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
    payload: dict[str, Any] = {"task": task, "args": list(args), **tracing.trace_carrier()}
    if countdown:
        payload["countdown"] = float(countdown)
    return _write(tenant_id=tenant_id, kind=OutboxKind.TASK, payload=payload)


def outbox_offer(*, tenant_id: int, handoff_id: int) -> OutboxEvent:
    """Offer a hot handoff to the tenant's online agents once the transaction commits."""
    return _write(
        tenant_id=tenant_id, kind=OutboxKind.HANDOFF_OFFER, payload={"handoffId": handoff_id}
    )


_INSERT = CompiledInsert(OutboxEvent)  # its SQL written once (core/compiled.py)


def _write(*, tenant_id: int, kind: str, payload: dict[str, Any]) -> OutboxEvent:
    # written leased to this process: its after-commit relay needs no claim, and the sweep
    # takes the row only if that relay did not happen within the lease (the process died)
    event = _INSERT.create(
        tenant_id=tenant_id, kind=kind, payload=payload, available_at=timezone.now() + _lease()
    )
    transaction.on_commit(partial(_relay_written, [event]))
    return event


# --- relaying ---------------------------------------------------------------------------------
#
# No transaction is open while a relay publishes. A relay first claims its rows in one
# statement, by moving their ``available_at`` a lease ahead (``UPDATE ... WHERE id IN (SELECT
# ... FOR UPDATE SKIP LOCKED) RETURNING``; on SQLite the one statement holds the write lock),
# so no other relay takes them meanwhile; then it publishes with no transaction open; then it
# marks the relayed rows in one statement, and backs each failed one off. A relay that dies
# after its claim leaves the rows to the sweep once the lease is over. The after-commit relay
# of a row this process just wrote needs no claim at all: the row was written already leased;
# and when it published to the broker, its mark waits for the process's next batch of marks
# (``_Marks``), so a request writes no statement of its own after its commit.


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)


def _submit_in_process(event: OutboxEvent) -> Callable[[], Any] | None:
    """The embedded default with a runner in this process: the task runs on it once the row
    is marked relayed. A countdown not over yet leaves the row for later, and the runner
    relays it when it is due (or the sweep does, after a restart)."""
    payload = event.payload
    if payload.get("countdown"):
        due = event.created_at + dt.timedelta(seconds=payload["countdown"])
        left = (due - timezone.now()).total_seconds()
        if left > 0:
            raise NotDue(due)
    return partial(runner.submit, payload["task"], payload.get("args", []))


def _publish_task(event: OutboxEvent) -> Callable[[], Any] | None:
    if app.conf.task_always_eager and runner.running():
        return _submit_in_process(event)
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
        with tracing.joined(payload.get("trace")):  # the writer's trace, even from the sweep
            app.tasks[payload["task"]].apply_async(args=payload.get("args", []), **options)
    except Exception:
        if not app.conf.task_always_eager:
            broker.trip()
        raise
    broker.reset()
    return None


# A relay handler publishes one event, with no transaction open; one that writes to the
# database opens its own short transaction. It may return a callable to run once the row is
# marked relayed (the in-process runner's submit).
Handler = Callable[[OutboxEvent], "Callable[[], Any] | None"]
HANDLERS: dict[str, Handler] = {OutboxKind.TASK: _publish_task}


def register_relay(kind: str, handler: Handler) -> None:
    """Say how events of ``kind`` are relayed. An app above the core registers its kinds when
    it is ready (``handover`` relays hot offers), so the outbox never imports the apps it
    serves."""
    HANDLERS[kind] = handler


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(
        seconds=min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    )


_COLUMNS = (
    "id, tenant_id, kind, payload, created_at, available_at, relayed_at, attempts, last_error"
)


def _claim(*, now: dt.datetime, limit: int, ids: list[int] | None = None) -> list[OutboxEvent]:
    """Take up to ``limit`` due, pending rows (of ``ids`` if given) for one lease, in one
    statement that commits on its own; rows another relay holds are skipped."""
    table = OutboxEvent._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = [adapt(now + _lease()), adapt(now)]
    only = ""
    if ids is not None:
        only = f" AND id IN ({', '.join(['%s'] * len(ids))})"
        params += ids
    skip_locked = connection.features.has_select_for_update_skip_locked
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    params.append(limit)
    # only the model's own table name and placeholders are formatted in; values are parameters
    sql = (
        f"UPDATE {table} SET available_at = %s WHERE id IN ("  # noqa: S608
        f"SELECT id FROM {table} WHERE relayed_at IS NULL AND available_at <= %s{only}"
        f" ORDER BY available_at, id LIMIT %s{lock}) RETURNING {_COLUMNS}"
    )
    rows = list(OutboxEvent.objects.raw(sql, params))
    rows.sort(key=lambda event: (event.created_at, event.pk))
    return rows


# one relayed row marked, compiled once per process (core/compiled.py): after every request
# that wrote one, compiling the ORM's UPDATE cost more CPU than running it
_MARK_RELAYED = CompiledUpdate(
    lambda pk, at: (OutboxEvent.objects.filter(pk=pk), {"relayed_at": at}),
    pk=Marker(INT_MARK),
    at=Marker(DATETIME_MARK, OutboxEvent._meta.get_field("relayed_at")),
)


class _Marks:
    """The rows this process relayed to the broker after its own commits, marked together: one
    UPDATE every ``OUTBOX_MARK_BATCH_SECONDS`` for all of them, by a thread of this process,
    instead of a statement (and a transaction) of its own after every request that wrote one
    (issue 17: a customer message's hot path). The rows were written leased (``_write``), so no
    sweep takes one before its lease is over, long after the batch is marked. A process that
    stops marks what it holds at exit; one that dies first leaves its rows to the sweep once
    their lease is over: published twice then, as a relay that dies between publishing and
    marking always was (every consumer is idempotent)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: list[int] = []
        self._thread: threading.Thread | None = None

    def add(self, ids: list[int]) -> None:
        with self._lock:
            self._ids.extend(ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="outbox-marks", daemon=True)
                self._thread.start()

    def _interval(self) -> float:
        # well inside the lease, whatever the settings say
        return min(settings.OUTBOX_MARK_BATCH_SECONDS, settings.OUTBOX_LEASE_SECONDS / 4)

    def _loop(self) -> None:
        while True:
            time.sleep(self._interval())
            try:
                self.flush()
            except Exception:
                log.exception("outbox: marking relayed rows failed; the sweep will relay them")
            finally:
                connection.close()  # this thread's connection back to the pool between batches
            with self._lock:
                if not self._ids:  # idle: the next add starts a thread again
                    self._thread = None
                    return

    def flush(self) -> int:
        """Mark every row gathered so far as relayed, in one statement; returns how many."""
        with self._lock:
            ids, self._ids = self._ids, []
        if ids:
            OutboxEvent.objects.filter(pk__in=ids, relayed_at__isnull=True).update(
                relayed_at=timezone.now()
            )
        return len(ids)


marks = _Marks()


@atexit.register
def _mark_at_exit() -> None:
    try:
        marks.flush()
    except Exception:  # the database may be gone already: the sweep relays them again
        log.warning("outbox: relayed rows left unmarked at exit; the sweep will relay them")


def _relay(rows: list[OutboxEvent], now: dt.datetime, *, batched: bool = False) -> int:
    """Publish claimed rows (no transaction open), then mark them; returns how many were
    relayed. What fails is backed off, one statement a row; the rest is marked in one, or,
    when ``batched`` (a request's own rows, published to the broker), with the process's next
    batch of marks (``_Marks``)."""
    relayed: list[int] = []
    after: list[Callable[[], Any]] = []
    for event in rows:
        try:
            then = HANDLERS[event.kind](event)
        except NotDue as wait:
            OutboxEvent.objects.filter(pk=event.pk).update(available_at=wait.until)
            runner.submit(SWEEP_TASK, countdown=(wait.until - now).total_seconds() + 0.05)
            continue
        except Exception as exc:
            attempts = event.attempts + 1
            OutboxEvent.objects.filter(pk=event.pk).update(
                attempts=attempts,
                last_error=f"{type(exc).__name__}: {exc}"[:2000],
                available_at=now + backoff(attempts),
            )
            if not isinstance(exc, BrokerSkipped):
                log.warning("outbox %s not relayed (attempt %s): %s", event, attempts, exc)
            continue
        relayed.append(event.pk)
        if then is not None:
            after.append(then)
    if relayed and batched and not after and settings.OUTBOX_MARK_BATCH_SECONDS > 0:
        marks.add(relayed)  # a request's own rows, after its commit: the usual case
    elif len(relayed) == 1:
        _MARK_RELAYED.run(pk=relayed[0], at=now)
    elif relayed:
        OutboxEvent.objects.filter(pk__in=relayed).update(relayed_at=now)
    for then in after:
        then()
    return len(relayed)


def _relay_written(events: list[OutboxEvent]) -> None:
    """After the commit that wrote ``events`` (leased by this process since they were
    written): publish and mark them. Never raises: what fails stays for the sweep."""
    try:
        _relay(events, timezone.now(), batched=not app.conf.task_always_eager)
    except Exception:
        log.exception("outbox relay of %s failed; the sweep will relay them", events)


def outbox_relay(*, ids: list[int]) -> int:
    """Relay the given events now, if due. Rows another relay holds, or already relayed,
    are skipped. Never raises: what fails stays for the sweep."""
    now = timezone.now()
    try:
        return _relay(_claim(now=now, limit=len(ids), ids=ids), now)
    except Exception:
        log.exception("outbox relay of %s failed; the sweep will relay them", ids)
        return 0


def outbox_sweep(*, now: dt.datetime | None = None, batch_size: int = SWEEP_BATCH) -> int:
    """Relay every pending event that is due, oldest first, in batches, each claimed for a
    lease in one statement (two sweeps, or a sweep and an after-commit relay, never take the
    same row within a lease). Then forget relayed rows older than ``KEEP_RELAYED``. Returns
    how many were relayed."""
    now = now or timezone.now()
    broker.reset()  # the sweep runs on a worker: the broker was reachable a moment ago
    relayed = 0
    while True:
        rows = _claim(now=now, limit=batch_size)
        done = _relay(rows, now)
        relayed += done
        if len(rows) < batch_size or not done:  # a batch that all failed: the next sweep
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

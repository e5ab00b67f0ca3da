"""The in-process runner: on the embedded default (no broker), Celery tasks and the periodic
sweeps run on threads inside the web process instead of inside the request that queued them,
so one command (``./run up``) serves everything and the sweeps' socket events reach the sockets
of the process that holds them (the in-memory channel layer reaches no other process).

``config/asgi.py`` starts it when ``IN_PROCESS_RUNNER`` is on and tasks are not sent to a
broker (``CELERY_TASK_ALWAYS_EAGER``), and stops it at exit. It has:

- a pool of ``IN_PROCESS_RUNNER_THREADS`` threads: ``submit(task, args)`` runs the Celery task
  named ``task`` there. A task runs with a database connection of its own thread, closed when
  it ends; a task that fails is logged and the runner goes on.
- one scheduler thread: ``submit(..., countdown=s)`` runs the task ``s`` seconds later, and
  every sweep of ``config.celery.SCHEDULE`` is submitted every N seconds (the first time at
  start), unless its previous run is still going or an operator paused it: a
  django_celery_beat ``PeriodicTask`` row of the same name with ``enabled`` off (the runner
  adds the rows that are missing at start, as beat does, so the admin lists them).

``submit()`` answers ``False`` when no runner runs in this process (tests, a worker,
``manage.py shell``); the caller then runs the task its own way (inline, or through the
broker). A task waiting for its countdown when the process stops is not run: the outbox keeps
its own countdowns in its rows (``core.outbox``), so none of its work is lost that way.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.apps import apps as django_apps
from django.db import close_old_connections
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery import SCHEDULE, app

log = logging.getLogger(__name__)

_lock = threading.Lock()
_import_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_scheduler: _Scheduler | None = None


def _run(task: str, args: list[Any]) -> None:
    close_old_connections()
    try:
        if task not in app.tasks:
            _import_tasks()
        result = app.tasks[task].apply(args=args, throw=False)
        if result.failed():
            if _interrupted(result.traceback or ""):
                log.warning(INTERRUPTED, task, tuple(args))
            else:
                log.error(
                    "in-process task %s%s failed:\n%s", task, tuple(args), result.traceback or ""
                )
    except Exception as exc:
        if _interrupted(str(exc)):
            log.warning(INTERRUPTED, task, tuple(args))
        else:
            log.exception("in-process task %s%s failed", task, tuple(args))
    finally:
        close_old_connections()


# The server is stopping: a task cut short by the interpreter's shutdown did not fail on its
# own; said as a warning, apart from real failures (what it had not done yet is not done).
INTERRUPTED = "runner stopping: %s%s was cut short by the shutdown"


def _interrupted(text: str) -> bool:
    return "interpreter shutdown" in text


def _import_tasks() -> None:
    """Import every app's ``tasks.py``, one thread at a time: threads importing them side by
    side could find a module half imported, its tasks not registered yet. (Not Celery's
    ``import_default_modules``, which sets Django up again and runs the system checks.)"""
    with _import_lock:
        app.loader.autodiscover_tasks(
            [config.name for config in django_apps.get_app_configs()], related_name="tasks"
        )


def _submit_now(task: str, args: list[Any]) -> Future | None:
    executor = _executor
    if executor is None:
        return None
    try:
        return executor.submit(_run, task, args)
    except RuntimeError:  # the pool is shutting down (the process is exiting)
        return None


class _Scheduler(threading.Thread):
    """Submits the delayed tasks when they are due and the sweeps on their schedule."""

    def __init__(self, schedule: Mapping[str, tuple[str, float]]) -> None:
        super().__init__(name="runner-scheduler", daemon=True)
        self.schedule = dict(schedule)
        self.wake = threading.Condition()
        self.later: list[tuple[float, int, str, list[Any]]] = []
        self.order = itertools.count()
        self.stopping = False
        now = time.monotonic()
        self.next_run = dict.fromkeys(self.schedule, now)
        self.runs: dict[str, Future] = {}

    def add(self, due: float, task: str, args: list[Any]) -> None:
        with self.wake:
            heapq.heappush(self.later, (due, next(self.order), task, args))
            self.wake.notify()

    def stop(self) -> None:
        with self.wake:
            self.stopping = True
            self.wake.notify()

    def run(self) -> None:
        try:
            install_schedule(self.schedule)
        except Exception:
            log.exception("the runner could not add the schedule's rows; it runs the sweeps anyway")
        finally:
            close_old_connections()
        while True:
            with self.wake:
                if self.stopping:
                    return
                now = time.monotonic()
                due_tasks = []
                while self.later and self.later[0][0] <= now:
                    _, _, task, args = heapq.heappop(self.later)
                    due_tasks.append((task, args))
                due_sweeps = [name for name, at in self.next_run.items() if at <= now]
                for name in due_sweeps:
                    self.next_run[name] = now + self.schedule[name][1]
            for task, args in due_tasks:
                _submit_now(task, args)
            if due_sweeps:
                self.sweep(due_sweeps)
            with self.wake:
                if self.stopping:
                    return
                wakes = list(self.next_run.values())
                if self.later:
                    wakes.append(self.later[0][0])
                self.wake.wait(timeout=max(0.0, min(wakes) - time.monotonic()) if wakes else None)

    def sweep(self, names: list[str]) -> None:
        try:
            paused = set(
                PeriodicTask.objects.filter(name__in=names, enabled=False).values_list(
                    "name", flat=True
                )
            )
        except Exception:
            log.exception("the runner could not read which sweeps are paused; it skips a round")
            return
        finally:
            close_old_connections()
        for name in names:
            previous = self.runs.get(name)
            if name in paused or (previous is not None and not previous.done()):
                continue
            future = _submit_now(self.schedule[name][0], [])
            if future is not None:
                self.runs[name] = future


def install_schedule(schedule: Mapping[str, tuple[str, float]] = SCHEDULE) -> None:
    """Add the ``PeriodicTask`` rows of the schedule that are missing (as beat's database
    scheduler does), so an operator can pause a sweep in the admin; rows there are left as
    they are."""
    for name, (task, seconds) in schedule.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        every = max(1, round(seconds))
        interval = IntervalSchedule.objects.filter(
            every=every, period=IntervalSchedule.SECONDS
        ).first() or IntervalSchedule.objects.create(every=every, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval})


def start(
    *, workers: int = 16, schedule: Mapping[str, tuple[str, float]] | None = SCHEDULE
) -> None:
    """Start the runner in this process (idempotent). ``schedule=None``: no sweeps."""
    global _executor, _scheduler
    with _lock:
        if _executor is not None:
            return
        _import_tasks()
        _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="runner")
        _scheduler = _Scheduler(schedule or {})
        _scheduler.start()
    # Celery says "Task ... succeeded" at INFO for every run: for the sweeps, several lines
    # every 5 s in ./run up's console. Failures still show (ERROR, and our own line).
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    log.info("in-process runner: %d threads, %d sweeps", workers, len(schedule or {}))


def stop() -> None:
    """Stop the scheduler, then let the tasks that were submitted finish."""
    global _executor, _scheduler
    with _lock:
        executor, _executor = _executor, None
        scheduler, _scheduler = _scheduler, None
    if scheduler is not None:
        scheduler.stop()
        scheduler.join(timeout=10)
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=False)


def running() -> bool:
    return _executor is not None


def submit(task: str, args: Iterable[Any] = (), *, countdown: float | None = None) -> bool:
    """Run the Celery task named ``task`` on the runner (``countdown`` seconds from now);
    ``False`` if no runner runs here."""
    scheduler = _scheduler
    if _executor is None or scheduler is None:
        return False
    if countdown and countdown > 0:
        scheduler.add(time.monotonic() + countdown, task, list(args))
        return True
    return _submit_now(task, list(args)) is not None

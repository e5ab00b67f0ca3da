"""The in-process runner: on the embedded default (no broker), Celery tasks run on a small pool
of threads inside the web process instead of inside the request that queued them.

``submit(task, args)`` answers ``False`` when no runner runs in this process (tests, a worker,
``manage.py shell``); the caller then runs the task its own way (inline, or through the broker).
A task runs with its own database connection, which is closed when it ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def start(*, workers: int = 16) -> None:
    """Start the runner in this process (idempotent)."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="runner")


def stop() -> None:
    global _executor
    with _lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=False)


def running() -> bool:
    return _executor is not None


def _run(task: str, args: list[Any]) -> None:
    from django.db import close_old_connections

    from config.celery import app

    close_old_connections()
    try:
        if task not in app.tasks:
            app.loader.import_default_modules()
        app.tasks[task].apply(args=args, throw=False)
    except Exception:
        log.exception("in-process task %s%s failed", task, tuple(args))
    finally:
        close_old_connections()


def submit(task: str, args: Iterable[Any] = ()) -> bool:
    """Run the Celery task named ``task`` on the runner; ``False`` if none runs here."""
    executor = _executor
    if executor is None:
        return False
    executor.submit(_run, task, list(args))
    return True

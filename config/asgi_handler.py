"""Django's ASGI handler, cheaper per request: one trip to a thread for the middleware and the
view, on a thread kept from an earlier request.

- **One trip.** Django builds its middleware chain for async mode under ASGI. Every middleware
  of ours is sync-only, so each request went from the event loop to a thread for the
  middleware, back to the loop (``AsyncToSync``) to resolve the view, and to a thread again for
  the view. Here the chain is built in sync mode and runs whole on the request's thread, as
  under WSGI. Every view is sync; an async one would still work (Django adapts it).
- **A kept thread.** Django runs each request in a ``ThreadSensitiveContext`` of its own, and
  asgiref gives each such context a new one-thread executor: a thread started for every request
  (its signals, its middleware and view, its response's close) and another to join it at the
  end. Here the context is given an executor kept from an earlier request (asgiref leaves an
  executor it was given to its owner). A request's thread-sensitive calls still run on one
  thread, one at a time, so the database connection the request took goes back to the pool at
  its end as before (``request_finished`` runs on that thread). An executor is kept again only
  when nothing is left on it.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

IDLE_THREADS_KEPT = 64  # per process; a burst beyond them gets threads that end with it


class _OneThread(ThreadPoolExecutor):
    """A one-thread executor that counts the calls queued or running on it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="http-request")
        self.calls = 0

    def submit(self, fn, /, *args: Any, **kwargs: Any) -> Future:
        with _lock:
            self.calls += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future) -> None:
        with _lock:
            self.calls -= 1


_lock = threading.Lock()
_idle: list[_OneThread] = []


def _take() -> _OneThread:
    with _lock:
        if _idle:
            return _idle.pop()
    return _OneThread()


def _give_back(executor: _OneThread) -> None:
    with _lock:
        if executor.calls == 0 and len(_idle) < IDLE_THREADS_KEPT:
            _idle.append(executor)
            return
    executor.shutdown(wait=False)  # its thread ends once what is left on it is done


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = _take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            _give_back(executor)

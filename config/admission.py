"""At most ``HTTP_CONCURRENCY`` HTTP requests of a process inside Django at once; the rest wait
their turn on the event loop, in arrival order.

Under ASGI Django runs each request's sync code on a thread of its own, so a burst of N
requests is N threads of one process taking turns on the GIL: each runs a few milliseconds
every N x 5 ms (CPython's switch interval). A request that holds the conversation's row lock
then sits "idle in transaction" for hundreds of milliseconds between two statements while the
others run (bench/turn.py measured 228-719 ms with 200 customers at once), and every request
of the burst finishes late instead of most of them finishing early. Admitted requests are
bounded instead, so a transaction's thread competes with a few others, not with the burst.

Websockets are not admitted here (their database work has its own bounded threads,
``config/socket_threads.py``). A request that waits for something without working (the API's
``wait`` for an agent's reply, ``orchestration.turns.turn_wait``) gives its place back
meanwhile (``released``), so waiting callers never keep working ones out.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings


class _Slot:
    """A request's place: the loop and semaphore it was admitted by, whether the request holds
    it now (not while it waits, ``released``) and whether the request is over."""

    __slots__ = ("done", "held", "lock", "loop", "semaphore")

    def __init__(self, loop: asyncio.AbstractEventLoop, semaphore: asyncio.Semaphore) -> None:
        self.loop, self.semaphore = loop, semaphore
        self.held, self.done = True, False
        self.lock = threading.Lock()


_slot: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("admission", default=None)


class Admission:
    """ASGI middleware around the HTTP application (``config/asgi.py``)."""

    def __init__(self, app: Any, limit: int | None = None) -> None:
        self.app = app
        self.limit = settings.HTTP_CONCURRENCY if limit is None else limit
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def _semaphore(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        semaphore = self._semaphores.get(loop)
        if semaphore is None:  # one per event loop (a server runs one; tests may run several)
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return semaphore

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or self.limit <= 0:
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        semaphore = self._semaphore(loop)
        await semaphore.acquire()
        slot = _Slot(loop, semaphore)
        token = _slot.set(slot)  # copied into the request's sync thread by asgiref
        try:
            await self.app(scope, receive, send)
        finally:
            _slot.reset(token)
            # a request cancelled (the client left) while its thread waits in ``released``:
            # the thread gives the place back when it takes one again
            with slot.lock:
                slot.done = True
                held, slot.held = slot.held, False
            if held:
                semaphore.release()


@contextmanager
def released() -> Iterator[None]:
    """In a request's sync code: give the request's place back while it only waits (no
    database work, no CPU), and take a place again after, in line with the others. Outside
    an admitted request (a worker, a test's client, WSGI) it does nothing."""
    slot = _slot.get()
    if slot is None:
        yield
        return
    with slot.lock:
        mine = slot.held and not slot.done
        slot.held = False
    if not mine:
        yield
        return
    slot.loop.call_soon_threadsafe(slot.semaphore.release)
    try:
        yield
    finally:
        if not slot.loop.is_closed():  # the server is stopping: nothing to take back
            asyncio.run_coroutine_threadsafe(slot.semaphore.acquire(), slot.loop).result()
            with slot.lock:
                give_back = slot.done
                slot.held = not slot.done
            if give_back:
                slot.loop.call_soon_threadsafe(slot.semaphore.release)


# --- bounded sections of a process's threads ----------------------------------------------------
#
# The same trouble in a threads-pool worker: the turns worker runs a hundred agents' runs at
# once, each mostly waiting on its LLM; when their answers come back together, a hundred threads
# want the GIL, and one that holds the conversation's lock to apply its answer sits idle in its
# transaction between two statements while the others run. ``section`` lets at most ``limit``
# threads of the process into a named section (the database phases of a turn) at once; the
# others wait on the semaphore, asleep, not taking turns on the GIL.

_sections: dict[str, threading.BoundedSemaphore] = {}
_sections_lock = threading.Lock()


@contextmanager
def section(name: str, limit: int) -> Iterator[None]:
    """At most ``limit`` threads of this process inside the section ``name`` at once (0 or
    less: no bound)."""
    if limit <= 0:
        yield
        return
    semaphore = _sections.get(name)
    if semaphore is None:
        with _sections_lock:
            semaphore = _sections.setdefault(name, threading.BoundedSemaphore(limit))
    with semaphore:
        yield

"""The threads the sockets' database work runs on (channels consumers), a bounded pool per
process (issue 17, point 6).

channels' ``database_sync_to_async`` is thread-sensitive: a consumer runs in no
``ThreadSensitiveContext``, so every call of every socket of a process (the customer socket's
lookup and snapshot, the inbox's checks and actions, each message's re-read for the sockets
that hear it, the session's user at the handshake) queues for asgiref's one shared thread, and
channels adds one more trip to it before every event it dispatches (``aclose_old_connections``).
``socket_db`` runs such a call on SOCKET_DB_THREADS threads of their own instead, closing the
thread's database connection before and after as ``database_sync_to_async`` does (back to the
pool). None of these calls needs a particular thread: each reads or writes in its own
transaction. SOCKET_DB_THREADS=0 (the default on SQLite) keeps channels' one shared thread.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from channels.db import DatabaseSyncToAsync
from django.conf import settings

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    """The process's socket threads (made on first use, in the process that uses them)."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.SOCKET_DB_THREADS, thread_name_prefix="socket-db"
            )
        return _executor


def socket_db(func: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """``func`` as a coroutine function run on the socket threads."""

    @functools.wraps(func)
    async def call(*args: Any, **kwargs: Any) -> T:
        if not settings.SOCKET_DB_THREADS:  # channels' way (SQLite): the one shared thread
            return await DatabaseSyncToAsync(func)(*args, **kwargs)
        run = DatabaseSyncToAsync(func, thread_sensitive=False, executor=executor())
        return await run(*args, **kwargs)

    return call


def auth_middleware_stack(inner: Any) -> Any:
    """channels' ``AuthMiddlewareStack`` with the session's user read on the socket threads
    (channels' ``get_user`` is thread-sensitive: asgiref's one shared thread)."""
    from channels.auth import AuthMiddleware, get_user
    from channels.sessions import CookieMiddleware, SessionMiddleware

    read_user = socket_db(get_user.func)

    class SocketAuthMiddleware(AuthMiddleware):
        async def resolve_scope(self, scope: dict[str, Any]) -> None:
            scope["user"]._wrapped = await read_user(scope)

    return CookieMiddleware(SessionMiddleware(SocketAuthMiddleware(inner)))

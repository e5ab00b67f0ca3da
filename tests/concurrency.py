"""Races for the tests that check what the database decides under concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections, connection


def race(n: int, work: Callable[[int], Any], *, join_timeout: float = 120) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released together; each thread has its own
    connection. Returns the results (or the exceptions raised) by index."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=join_timeout)
    return results

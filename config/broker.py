"""The Celery broker's Redis transport: kombu's, with one client object per channel.

kombu's Redis channel builds a new ``redis.Redis`` object for every synchronous operation
(``Channel._create_client``): each publish of a task, and in a worker each received task's
"unacked" bookkeeping and each acknowledgement. Building one copies the client's table of
about 300 response callbacks: 8% of the turns worker's GIL time under a burst of turns
(py-spy, ``bench/turn.py``). With one client per channel a publish took 361-393 us of CPU
instead of 444-473, and a threads-pool worker 673-707 us a task instead of 840-897
(BENCHMARKS.md, pipeline). The object holds no
connection of its own (each command takes one from the channel's pool, which is thread-safe),
so the channel keeps one and builds it again only when its pool is replaced (after a fork or
a lost connection, kombu makes a new pool).

Used for ``redis://`` brokers (``CELERY_BROKER_TRANSPORT`` in config/settings.py). A
``rediss://`` broker keeps kombu's own transport: kombu gives that scheme its TLS defaults by
the transport's name.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _sync_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the event loop's client: kombu keeps it already (``client``)
            return super()._create_client(asynchronous=True)
        client = self._sync_client
        if client is None or client.connection_pool is not self.pool:
            client = self._sync_client = super()._create_client(asynchronous=False)
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel

"""The Redis channel layer, with a turn's socket events in one Redis command (issue 17, point 5).

channels_redis's ``group_send`` costs two round trips per group with nobody listening
(ZREMRANGEBYSCORE, ZRANGE) and four with listeners (those, the queues' expiry, the send script):
a customer message's four events (typing and the message, to the conversation and the inbox)
were eight to sixteen commands. ``group_send_many`` sends a list of ``(group, message)`` in one
Lua call (EVALSHA): it expires and reads each group once, then adds every message to every
member's queue, in the given order, under the same capacity and expiry rules as ``group_send``.

The queues' entries are built byte for byte as channels_redis builds them (a 12-byte unique
prefix, then the message packed with msgpack, with ``__asgi_channel__`` naming the channels of
that queue), so an unchanged ``receive`` reads them. The script only appends that last map entry
to the packed message; the message itself is never decoded in Lua. A layer configured
otherwise (encryption, several hosts, per-channel capacities, another serializer or prefix
length) sends through ``group_send``, one group at a time.

``run_sync`` is the door for sync code (a view, a Celery task): every call runs on one event loop
thread per process, so the layer's connection pool (channels_redis keeps one per event loop)
lives as long as the process. ``async_to_sync`` in a thread without an outer loop starts a new
loop per call, and with it a new Redis connection (HELLO, CLIENT SETINFO x2, SELECT, ...).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgpack
from channels_redis.core import RedisChannelLayer
from channels_redis.serializers import MsgPackSerializer

T = TypeVar("T")
log = logging.getLogger(__name__)

# KEYS: the groups' keys, each once. ARGV: 1 now, 2 the groups' expiry cutoff, 3 the queues'
# expiry cutoff, 4 a queue's expiry (s), 5 the capacity, 6 the layer's prefix, 7 an 8-byte
# nonce; then per message, in order: its group's index in KEYS, its map's entry count, and the
# map packed by msgpack without its header byte.
GROUP_SEND_MANY = """
local now = tonumber(ARGV[1])
local capacity = tonumber(ARGV[5])
local members = {}
for g = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[g], 0, ARGV[2])
  members[g] = redis.call('ZRANGE', KEYS[g], 0, -1)
end
local channel_key = cmsgpack.pack('__asgi_channel__')
local expired = {}
local sent = 0
local over = 0
for m = 8, #ARGV, 3 do
  local order, names = {}, {}
  for _, channel in ipairs(members[tonumber(ARGV[m])]) do
    local bang = string.find(channel, '!', 1, true)
    local key = ARGV[6] .. (bang and string.sub(channel, 1, bang) or channel)
    if names[key] == nil then
      names[key] = {}
      order[#order + 1] = key
    end
    table.insert(names[key], channel)
  end
  local header = string.char(128 + tonumber(ARGV[m + 1]) + 1)
  for _, key in ipairs(order) do
    if not expired[key] then
      redis.call('ZREMRANGEBYSCORE', key, 0, ARGV[3])
      expired[key] = true
    end
    if redis.call('ZCOUNT', key, '-inf', '+inf') < capacity then
      sent = sent + 1
      local entry = ARGV[7] .. string.format('%04x', sent) .. header .. ARGV[m + 2]
        .. channel_key .. cmsgpack.pack(names[key])
      redis.call('ZADD', key, now + sent / 1000000, entry)
      redis.call('EXPIRE', key, ARGV[4])
    else
      over = over + 1
    end
  end
end
return over
"""


# KEYS: 1 a process's queue, 2 its backup ("in flight") queue. ARGV: 1 "1" when the previous
# batch reached the process's buffer (its backup entries are dropped) or "0" (the call that took
# it was cancelled: they go back to the queue, as channels_redis's cleanup does), 2 how many to
# take, 3 the backup's expiry (s). Takes the oldest entries (ZPOPMIN) and keeps a copy of them in
# the backup until the next call says they arrived; returns [member, score, ...].
TAKE_MANY = """
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[2])
else
  local backed_up = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  for i = #backed_up, 1, -2 do
    redis.call('ZADD', KEYS[1], backed_up[i], backed_up[i - 1])
  end
  redis.call('DEL', KEYS[2])
end
local taken = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[2]))
for i = 1, #taken, 2 do
  redis.call('ZADD', KEYS[2], taken[i + 1], taken[i])
end
if #taken > 0 then
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return taken
"""

# Entries one call takes off a process's queue (bounded: they wait in the process's memory).
RECEIVE_BATCH = 200
# seconds between tries of a failed read, doubling up to the last
PUMP_PAUSE, PUMP_PAUSE_MAX = 0.5, 5.0


class BatchingRedisChannelLayer(RedisChannelLayer):
    """channels_redis's layer plus ``group_send_many``: several group sends, one command; and a
    process's queue read in batches by one pump per process.

    channels_redis reads the one queue a process's sockets share (``specific.<id>!``) one entry
    at a time, with four Redis round trips each, one after the other (restore the backup,
    BZPOPMIN, back the entry up, drop the backup), under one lock: about 100 entries a second
    per process on a busy 2-CPU machine. Under the load test (bench/load.py) a customer
    message's events outran it and the queues held 500-800 entries, so every socket event
    (a human's message to the customer, the customer's own message back) waited 5-20 s in
    Redis. Here ``_take_many`` takes up to RECEIVE_BATCH waiting entries in one script call
    (``TAKE_MANY``); it blocks (BZPOPMIN, as channels_redis does) only when the queue is empty.
    The backup keeps its meaning: a batch stays in it until the next call says the batch
    reached the process's memory; a call cancelled on its way back puts the entries back in
    the queue.

    Handing the entries out: channels_redis passes its receive lock from socket to socket, one
    entry per turn of the lock, each turn several trips round the event loop among every other
    socket's and request's callbacks. With a hundred sockets a process that capped its
    deliveries near 200 entries a second, and under the load test the entries waited 0.5 to 3 s
    (in Redis and in memory) while the loop itself ran on time (measured: bench/load.py). Here
    one task per process and event loop (``_pump``) moves every entry it takes straight into the
    buffers of the sockets it names, and a socket's ``receive`` only waits on its own buffer.
    The pump lives as long as its loop (a server process's: the process's); it is never
    cancelled while a read may be blocked in Redis, except by ``flush`` and ``close_pools``.
    A failed read is logged and retried after a pause: the entries wait in Redis meanwhile
    and the sockets stay open."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._taken: dict[str, collections.deque[bytes]] = {}
        self._settled: dict[str, bool] = {}
        self._pumps: dict[str, asyncio.Task[None]] = {}

    def _batches(self) -> bool:
        serializer = self._serializer
        return (
            self.ring_size == 1
            and not self.channel_capacity
            and isinstance(serializer, MsgPackSerializer)
            and serializer.crypter is None
            and serializer.random_prefix_length == 12
        )

    async def receive(self, channel: str) -> dict[str, Any]:
        if "!" not in channel or not self._batches():
            return await super().receive(channel)
        assert self.require_valid_channel_name(channel)
        process_channel = self.non_local_name(channel)
        assert process_channel.endswith(self.client_prefix + "!"), "Wrong client prefix"
        self._pump_running(process_channel)
        buffer = self.receive_buffer[channel]
        try:
            # cancelled while waiting (the socket going), it takes nothing
            return await buffer.get()
        finally:  # an empty buffer goes; the pump makes a new one for the channel's next entry
            if buffer.empty() and self.receive_buffer.get(channel) is buffer:
                del self.receive_buffer[channel]

    def _pump_running(self, process_channel: str) -> None:
        loop = asyncio.get_running_loop()
        pump = self._pumps.get(process_channel)
        if pump is None or pump.done() or pump.get_loop() is not loop:
            pump = loop.create_task(self._pump(process_channel), name="channel-layer-pump")
            pump.add_done_callback(_pump_ended)
            self._pumps[process_channel] = pump

    async def _pump(self, process_channel: str) -> None:
        """Take the process's queue in batches and put each entry in the buffers of the
        sockets it names, for as long as the loop runs."""
        index = self.consistent_hash(process_channel)
        channel_key = self.prefix + process_channel
        taken = self._taken.setdefault(channel_key, collections.deque())
        pause = PUMP_PAUSE
        while True:
            if not taken:
                try:
                    await self._take_many(index, channel_key, taken)
                except Exception as error:  # Redis away: the entries wait there
                    _end_if_cancelled()
                    log.warning("a channel-layer read failed (again in %.1f s): %r", pause, error)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, PUMP_PAUSE_MAX)
                    continue
                pause = PUMP_PAUSE
                _end_if_cancelled()
            while taken:
                message = self.deserialize(taken.popleft())
                to = message.pop("__asgi_channel__", process_channel)
                for name in to if isinstance(to, list) else [to]:
                    self.receive_buffer[name].put_nowait(message)

    async def _take_many(self, index: int, channel_key: str, taken: collections.deque) -> None:
        """Move the waiting entries of a process's queue into ``taken`` (one script call), or,
        when none wait, block up to ``brpop_timeout`` seconds for one."""
        connection = self.connection(index)
        backup = self._backup_channel_name(channel_key)
        settled = self._settled.get(channel_key, True)
        # until the answer is in ``taken``: a call cancelled on its way puts its batch back
        self._settled[channel_key] = False
        script = connection.register_script(TAKE_MANY)
        flat = await script(
            keys=[channel_key, backup],
            args=["1" if settled else "0", RECEIVE_BATCH, int(self.expiry)],
        )
        taken.extend(flat[0::2])
        self._settled[channel_key] = True
        if taken or _cancelling():
            return
        # none waiting: block for one (as channels_redis does, without a backup for it)
        result = await connection.bzpopmin(channel_key, timeout=self.brpop_timeout)
        if result is not None:
            _, member, _ = result
            taken.append(member)

    async def flush(self) -> None:
        self._stop_pumps()
        self._taken.clear()
        self._settled.clear()
        await super().flush()

    async def close_pools(self) -> None:
        self._stop_pumps()
        await super().close_pools()

    def _stop_pumps(self) -> None:
        for pump in self._pumps.values():
            if not pump.get_loop().is_closed():
                pump.cancel()
        self._pumps.clear()

    async def group_send_many(self, sends: list[tuple[str, dict[str, Any]]]) -> int:
        """Send each ``(group, message)``, in order, in one Lua call; returns how many queue
        entries were dropped because the queue was full (as ``group_send`` logs them)."""
        if not sends:
            return 0
        packed = [msgpack.packb(message) for _, message in sends]
        if not self._batches() or any(
            not 0x80 <= body[0] < 0x8F or "__asgi_channel__" in message
            for body, (_, message) in zip(packed, sends, strict=True)
        ):
            for group, message in sends:
                await self.group_send(group, message)
            return 0
        keys: list[bytes] = []
        index: dict[str, int] = {}
        for group, _ in sends:
            assert self.require_valid_group_name(group), "Group name not valid"
            if group not in index:
                keys.append(self._group_key(group))
                index[group] = len(keys)
        now = time.time()
        args: list[Any] = [
            repr(now),
            int(now) - self.group_expiry,
            int(now) - int(self.expiry),
            self.expiry,
            self.capacity,
            self.prefix,
            os.urandom(4).hex(),
        ]
        for (group, _), body in zip(sends, packed, strict=True):
            args += [index[group], body[0] & 0x0F, body[1:]]
        connection = self.connection(0)
        script = connection.register_script(GROUP_SEND_MANY)
        return int(await script(keys=keys, args=args))


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _end_if_cancelled() -> None:
    """End the running task if it was cancelled. redis-py (8.1) can swallow a cancellation that
    lands while a command is on its way (measured: cancelled while busy, the pump often went on
    reading), and a pump that outlives its cancellation keeps its loop from closing (a test
    run hung in teardown)."""
    if _cancelling():
        raise asyncio.CancelledError


def _pump_ended(task: asyncio.Future[None]) -> None:
    """A pump only ends cancelled (flush, close_pools, its loop closing); anything else is a
    bug, logged here (the next ``receive`` starts a new pump)."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("the channel-layer pump stopped: %r", error)


# --- one event loop per process for sync callers ------------------------------------------

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0


def _the_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _lock:
        # a forked child (a Celery prefork process) does not have its parent's thread
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="channel-layer-loop", daemon=True
            ).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``make()`` on the process's channel-layer loop and wait for its result,
    in the caller's context (its context variables are seen by the coroutine)."""
    loop = _the_loop()
    if threading.current_thread().name == "channel-layer-loop":
        raise RuntimeError(
            "run_sync called from the channel layer's own loop: it would wait forever"
        )
    context = contextvars.copy_context()
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def start() -> None:
        async def call() -> T:
            return await make()

        task = loop.create_task(call(), context=context)

        def finished(task: asyncio.Task[T]) -> None:
            if task.cancelled():
                done.cancel()
            elif (error := task.exception()) is not None:
                done.set_exception(error)
            else:
                done.set_result(task.result())

        task.add_done_callback(finished)

    loop.call_soon_threadsafe(start)
    return done.result()

"""The Redis channel layer (config/channel_layer.py): several group sends in one Redis command,
delivered exactly as channels_redis's ``group_send`` would have delivered them (every message,
to every member, in order); a process's queue read in batches by one pump that hands each entry
to the sockets it names; a failed read tried again, losing nothing."""

from __future__ import annotations

import asyncio
import collections
import uuid

import pytest
from django.conf import settings as django_settings

from config.channel_layer import BatchingRedisChannelLayer, run_sync
from tests.conftest import need_service

pytestmark = [pytest.mark.services]


@pytest.fixture
def make_layer():
    if not django_settings.REDIS_URL:
        need_service("Redis: set REDIS_URL")
    prefix = f"test-layer-{uuid.uuid4().hex}"

    def make(**config) -> BatchingRedisChannelLayer:
        return BatchingRedisChannelLayer(hosts=[django_settings.REDIS_URL], prefix=prefix, **config)

    return make


async def received(layer, channel: str, count: int) -> list[dict]:
    return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]


@pytest.mark.asyncio
async def test_every_member_of_every_group_gets_every_message_in_order(make_layer):
    layer = make_layer(capacity=100)
    # two sockets of this process (one Redis queue between them), one of another process, and
    # a plain channel
    one, two = await layer.new_channel(), await layer.new_channel()
    other = make_layer(capacity=100)
    elsewhere = await other.new_channel()
    await layer.group_add("conversation.1", one)
    await layer.group_add("conversation.1", elsewhere)
    await layer.group_add("tenant.1.inbox", two)
    await layer.group_add("tenant.1.inbox", "plain.channel")
    sends = [
        ("conversation.1", {"type": "broadcast", "event": {"type": "typing", "on": True}}),
        ("tenant.1.inbox", {"type": "broadcast", "event": {"type": "typing", "on": True}}),
        ("conversation.1", {"type": "broadcast", "event": {"type": "message.created", "id": 7}}),
        ("tenant.1.inbox", {"type": "broadcast", "event": {"type": "message.created", "id": 7}}),
        ("nobody.listens", {"type": "broadcast", "event": {"type": "lost", "x": None}}),
    ]
    # every value msgpack carries survives the trip unchanged
    sends.append(
        (
            "conversation.1",
            {
                "type": "broadcast",
                "event": {"a": None, "b": 1.0, "c": [1, "é", b"\x00bin"], "d": {}, "e": []},
            },
        )
    )

    assert await layer.group_send_many(sends) == 0

    conversation = [m for g, m in sends if g == "conversation.1"]
    inbox = [m for g, m in sends if g == "tenant.1.inbox"]
    assert await received(layer, one, 3) == conversation
    assert await received(other, elsewhere, 3) == conversation
    assert await received(layer, two, 2) == inbox
    assert await received(layer, "plain.channel", 2) == inbox
    await layer.flush()
    await other.close_pools()
    await layer.close_pools()


@pytest.mark.asyncio
async def test_a_full_queue_drops_as_group_send_does_and_says_how_many(make_layer):
    layer = make_layer(capacity=2)
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    sends = [("g", {"type": "broadcast", "n": n}) for n in range(3)]

    assert await layer.group_send_many(sends) == 1

    assert await received(layer, channel, 2) == [m for _, m in sends[:2]]
    await layer.flush()
    await layer.close_pools()


@pytest.mark.asyncio
async def test_a_layer_it_cannot_batch_for_sends_one_group_at_a_time(make_layer):
    layer = make_layer(capacity=100, channel_capacity={"http.*": 5})
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    sends = [("g", {"type": "broadcast", "n": n}) for n in range(3)]

    await layer.group_send_many(sends)

    assert await received(layer, channel, 3) == [m for _, m in sends]
    await layer.flush()
    await layer.close_pools()


def test_sync_callers_share_one_loop_and_its_connections(make_layer):
    layer = make_layer()

    async def pool_id() -> int:
        await layer.group_send_many([("g", {"type": "x"})])
        return id(layer.connection(0).connection_pool)

    assert len({run_sync(pool_id) for _ in range(5)}) == 1
    run_sync(layer.flush)


@pytest.mark.asyncio
async def test_a_process_reads_its_queue_in_batches_every_entry_once_in_order(make_layer):
    """The load test's backlog (hundreds of entries on a process's queue): read back in a few
    Redis calls instead of four per entry, every socket getting its own, once, in order."""
    layer = make_layer(capacity=10_000)
    sockets = [await layer.new_channel() for _ in range(3)]
    for k, channel in enumerate(sockets):
        await layer.group_add(f"conversation.{k}", channel)
    sends = [
        (f"conversation.{n % 3}", {"type": "broadcast", "event": {"n": n}}) for n in range(450)
    ]
    for start in range(0, len(sends), 50):
        assert await layer.group_send_many(sends[start : start + 50]) == 0
    calls = 0
    take = layer._take_many

    async def counted(*args):
        nonlocal calls
        calls += 1
        await take(*args)

    layer._take_many = counted
    for k, channel in enumerate(sockets):
        expected = [m for g, m in sends if g == f"conversation.{k}"]
        assert await received(layer, channel, len(expected)) == expected
    assert calls <= 4  # 450 entries, RECEIVE_BATCH at a time, then the wait for more
    process_queue = layer.prefix + sockets[0].split("!")[0] + "!"
    connection = layer.connection(0)
    assert await connection.zcard(process_queue) == 0
    with pytest.raises(asyncio.TimeoutError):  # nothing more, nothing twice
        await asyncio.wait_for(layer.receive(sockets[0]), 0.5)
    assert await connection.zcard(layer._backup_channel_name(process_queue)) == 0
    await layer.flush()
    await layer.close_pools()


@pytest.mark.asyncio
async def test_a_batch_whose_answer_never_arrived_is_read_again(make_layer):
    """A read cancelled on its way back (the socket that held the lock went away): the entries
    it took wait in the backup, and the next read puts them back in the queue first."""
    layer = make_layer(capacity=100)
    channel = await layer.new_channel()
    await layer.group_add("conversation.1", channel)
    sends = [("conversation.1", {"type": "broadcast", "event": {"n": n}}) for n in range(3)]
    await layer.group_send_many(sends)
    process_queue = layer.prefix + channel.split("!")[0] + "!"
    lost: collections.deque = collections.deque()
    await layer._take_many(0, process_queue, lost)
    assert len(lost) == 3
    layer._settled[process_queue] = False  # as if the answer had been cancelled on its way
    assert await received(layer, channel, 3) == [m for _, m in sends]
    await layer.flush()
    await layer.close_pools()


@pytest.mark.asyncio
async def test_a_reader_that_goes_away_while_waiting_loses_nothing(make_layer):
    """A socket closes while the process's read waits (BZPOPMIN): the read is the layer's
    pump, not the socket's, so what arrives then reaches the socket it is for."""
    layer = make_layer(capacity=100)
    one, two = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("conversation.1", one)
    await layer.group_add("conversation.2", two)
    waiting = asyncio.ensure_future(layer.receive(one))
    await asyncio.sleep(0.3)  # the pump's read is blocked in Redis
    waiting.cancel()
    message = {"type": "broadcast", "event": {"type": "message.created", "id": 1}}
    await layer.group_send_many([("conversation.2", message)])
    assert await asyncio.wait_for(layer.receive(two), 5) == message
    await layer.flush()
    await layer.close_pools()


@pytest.mark.asyncio
async def test_every_socket_of_a_busy_process_gets_its_events_in_order(make_layer):
    """A hundred sockets in one process, each its own conversation and one shared inbox: the
    pump hands every entry to the sockets it names, while all of them wait at once."""
    layer = make_layer(capacity=10_000)
    sockets = [await layer.new_channel() for _ in range(100)]
    for k, channel in enumerate(sockets):
        await layer.group_add(f"conversation.{k}", channel)
        await layer.group_add("inbox", channel)
    readers = [asyncio.ensure_future(received(layer, channel, 6)) for channel in sockets]
    await asyncio.sleep(0.1)  # every socket waits before anything is sent
    for n in range(3):
        await layer.group_send_many(
            [(f"conversation.{k}", {"type": "broadcast", "k": k, "n": n}) for k in range(100)]
        )
        await layer.group_send("inbox", {"type": "broadcast", "inbox": n})
    heard = await asyncio.gather(*readers)
    for k, got in enumerate(heard):
        mine = [m for m in got if "k" in m]
        assert [m["n"] for m in mine] == [0, 1, 2] and {m["k"] for m in mine} == {k}
        assert [m["inbox"] for m in got if "inbox" in m] == [0, 1, 2]
    await layer.flush()
    await layer.close_pools()


@pytest.mark.asyncio
async def test_a_read_that_fails_is_tried_again_and_loses_nothing(make_layer, caplog):
    """Redis drops the connection of the process's blocked read: the pump says so in the log,
    tries again, and the events sent meanwhile reach their socket; the socket never saw an
    error."""
    import redis.asyncio

    layer = make_layer(capacity=100)
    channel = await layer.new_channel()
    await layer.group_add("conversation.1", channel)
    waiting = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.3)  # the pump's read is blocked in Redis (BZPOPMIN)
    async with redis.asyncio.Redis.from_url(django_settings.REDIS_URL) as admin:
        blocked = [c for c in await admin.client_list() if c.get("cmd") == "bzpopmin"]
        assert blocked
        for client in blocked:
            await admin.client_kill_filter(_id=client["id"])
    message = {"type": "broadcast", "event": {"type": "message.created", "id": 7}}
    await layer.group_send_many([("conversation.1", message)])

    assert await asyncio.wait_for(waiting, 10) == message
    assert "a channel-layer read failed" in caplog.text
    await layer.flush()
    await layer.close_pools()


@pytest.mark.asyncio
async def test_a_pump_cancelled_while_busy_ends(make_layer):
    """The pump is cancelled (flush, close_pools, its loop closing) while events pour in: it
    ends every time. redis-py can swallow a cancellation that lands mid-command, and a pump
    that outlived its cancellation kept a test's event loop from closing (the suite hung)."""
    layer = make_layer(capacity=100_000)
    channel = await layer.new_channel()
    await layer.group_add("conversation.1", channel)

    async def flood() -> None:
        while not asyncio.current_task().cancelling():  # (the same swallowing, here too)
            await layer.group_send_many([("conversation.1", {"type": "broadcast", "n": 1})])

    sender = asyncio.ensure_future(flood())
    survived = 0
    for round_ in range(20):
        reader = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0.005 * (round_ % 7))
        (pump,) = layer._pumps.values()
        pump.cancel()
        done, _ = await asyncio.wait([pump], timeout=2)
        survived += not done
        reader.cancel()
    sender.cancel()
    await asyncio.gather(sender, return_exceptions=True)

    assert survived == 0
    await layer.flush()
    await layer.close_pools()

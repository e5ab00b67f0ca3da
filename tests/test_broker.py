"""The broker's Redis transport (config/broker.py): kombu's, keeping one client object per
channel for its synchronous commands instead of building one per command; tasks still go
through and come back, and a channel whose pool is replaced builds a client on the new one."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from kombu import Connection, Exchange, Queue

from config.broker import Channel, Transport
from tests.conftest import need_service

pytestmark = pytest.mark.services


@pytest.fixture
def broker_url() -> str:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        need_service("Redis as the broker: set REDIS_URL")
    return url


def test_the_app_publishes_through_this_transport(broker_url):
    from config.celery import app

    with app.connection_for_write() as connection:
        assert isinstance(connection.default_channel, Channel)


def test_a_channel_keeps_one_client_until_its_pool_is_replaced(broker_url):
    with Connection(broker_url, transport=Transport) as connection:
        channel = connection.default_channel
        first = channel._create_client()

        assert channel._create_client() is first  # not a new object per command
        assert first.connection_pool is channel.pool

        channel._disconnect_pools()  # kombu does this after a fork or a lost connection
        second = channel._create_client()

        assert second is not first
        assert second.connection_pool is channel.pool
        assert second.ping()


def test_messages_go_through_and_are_acknowledged(broker_url):
    name = f"test-broker-{uuid.uuid4().hex}"
    queue = Queue(name, Exchange(name), routing_key=name)
    with Connection(broker_url, transport=Transport) as connection:
        producer = connection.Producer()
        for number in range(3):
            producer.publish(
                {"n": number},
                exchange=queue.exchange,
                routing_key=name,
                declare=[queue],
                serializer="json",
            )
        got, tags = [], []
        with connection.SimpleQueue(queue) as simple:
            channel = simple.channel
            for _ in range(3):
                message = simple.get(timeout=5)
                assert channel.client.hexists(channel.unacked_key, message.delivery_tag)
                got.append(message.payload["n"])
                tags.append(message.delivery_tag)
                message.ack()
            with pytest.raises(simple.Empty):
                simple.get(timeout=0.2)
            # acknowledged: kombu's "unacked" bookkeeping (kept through the one client) is gone
            assert not any(channel.client.hexists(channel.unacked_key, tag) for tag in tags)

    assert got == [0, 1, 2]

"""The outbox relay holds no transaction while it publishes: it claims rows for a lease in one
statement, publishes with no transaction open, then marks them (core/outbox.py)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core import outbox
from core.models import OutboxEvent
from core.outbox import _claim, outbox_relay, outbox_sweep, outbox_task, register_relay
from tests.conftest import need_service

pytestmark = pytest.mark.django_db(transaction=True)

PROBE = "tests.relay_probe"
SEEN: list[tuple[int, bool, str]] = []  # (value, in a transaction?, thread)
FAIL = {"left": 0}
SEEN_LOCK = threading.Lock()


def probe(event: OutboxEvent) -> None:
    """A relay handler owned by these tests: it records whether a transaction was open while
    it "published", and can be told to fail."""
    if FAIL["left"] > 0:
        FAIL["left"] -= 1
        raise ConnectionError("the broker went away")
    time.sleep(0.002)  # a publish takes a moment: concurrent sweeps overlap
    with SEEN_LOCK:
        SEEN.append(
            (event.payload["value"], connection.in_atomic_block, threading.current_thread().name)
        )


@pytest.fixture(autouse=True)
def _probe():
    SEEN.clear()
    FAIL["left"] = 0
    register_relay(PROBE, probe)
    outbox.broker.reset()
    yield
    outbox.HANDLERS.pop(PROBE, None)


def _pending(tenant, n: int, *, at: dt.datetime | None = None) -> list[OutboxEvent]:
    """Rows left pending and due, as when every after-commit relay failed."""
    at = at or timezone.now()
    return OutboxEvent.objects.bulk_create(
        OutboxEvent(tenant=tenant, kind=PROBE, payload={"value": i}, available_at=at)
        for i in range(n)
    )


def test_the_after_commit_relay_publishes_with_no_transaction_open(tenant, eager_tasks):
    with transaction.atomic():
        event = outbox._write(tenant_id=tenant.pk, kind=PROBE, payload={"value": 1})
        assert SEEN == []

    assert [(1, False, threading.current_thread().name)] == SEEN
    event.refresh_from_db()
    assert event.relayed_at is not None and event.attempts == 0


@shared_task(name="tests.outbox_relay_task")
def relay_task(value: int) -> None:
    """A task owned by these tests: it records whether a transaction was open as it ran
    (eagerly, so within the publish)."""
    TASK_RUNS.append((value, connection.in_atomic_block))


TASK_RUNS: list[tuple[int, bool]] = []


def test_a_task_is_published_with_no_transaction_open(tenant, eager_tasks):
    TASK_RUNS.clear()
    with transaction.atomic():
        outbox_task(tenant_id=tenant.pk, task=relay_task.name, args=[4])
    _pending(tenant, 1)
    outbox_sweep()

    assert TASK_RUNS == [(4, False)]
    assert [(value, atomic) for value, atomic, _ in SEEN] == [(0, False)]


def test_a_failed_publish_backs_off_and_is_relayed_when_due(tenant):
    (event,) = _pending(tenant, 1)
    FAIL["left"] = 1
    now = timezone.now()

    assert outbox_sweep(now=now) == 0

    event.refresh_from_db()
    assert event.relayed_at is None and event.attempts == 1
    assert "the broker went away" in event.last_error
    assert event.available_at == now + outbox.backoff(1)
    assert outbox_sweep(now=now + dt.timedelta(seconds=1)) == 0  # backing off
    assert outbox_sweep(now=event.available_at) == 1
    assert [value for value, _, _ in SEEN] == [0]


def test_a_relay_that_dies_after_claiming_is_retried_after_the_lease(tenant):
    (event,) = _pending(tenant, 1)
    now = timezone.now()
    (claimed,) = _claim(now=now, limit=10)  # ... and the relay dies here
    assert claimed.pk == event.pk and claimed.payload == {"value": 0}

    lease = dt.timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    assert outbox_sweep(now=now + lease - dt.timedelta(seconds=1)) == 0  # still leased
    assert outbox_relay(ids=[event.pk]) == 0
    assert SEEN == []

    assert outbox_sweep(now=now + lease) == 1
    assert [value for value, _, _ in SEEN] == [0]
    event.refresh_from_db()
    assert event.relayed_at is not None


@pytest.mark.services
def test_concurrent_sweeps_never_publish_a_row_twice_within_a_lease(tenant):
    if connection.vendor != "postgresql":
        need_service("PostgreSQL: set DATABASE_URL (SKIP LOCKED decides who claims)")
    events = _pending(tenant, 200)
    start = threading.Barrier(4)
    totals: list[int] = []

    def sweep() -> None:
        start.wait()
        try:
            totals.append(outbox_sweep(batch_size=10))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep, name=f"sweep-{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(totals) == len(events)
    assert sorted(value for value, _, _ in SEEN) == list(range(200))  # each exactly once
    assert not any(atomic for _, atomic, _ in SEEN)
    assert len({name for _, _, name in SEEN}) > 1  # the sweeps did run at once
    assert not OutboxEvent.objects.filter(relayed_at__isnull=True).exists()

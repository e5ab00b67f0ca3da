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
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench._procs import wait_until
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


@pytest.fixture
def to_a_broker(settings):
    """Tasks go to a broker (not run in process), and the rows relayed after their commits are
    marked with the process's batch of marks, every ``seconds``."""
    from config.celery import app as celery_app

    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False

    def batch(seconds: float) -> None:
        settings.OUTBOX_MARK_BATCH_SECONDS = seconds

    yield batch
    celery_app.conf.task_always_eager = before


def test_rows_relayed_after_their_commits_are_marked_together_not_each_by_its_request(
    tenant, to_a_broker
):
    to_a_broker(3600)  # the batch's thread waits (a quarter of the lease at most): flushed here
    outbox.marks.flush()  # what another test's relays left in this process's batch
    ids = []
    with CaptureQueriesContext(connection) as queries:
        for value in range(3):
            with transaction.atomic():
                ids.append(
                    outbox._write(tenant_id=tenant.pk, kind=PROBE, payload={"value": value}).pk
                )

    assert [value for value, _, _ in SEEN] == [0, 1, 2]  # published after each commit
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert writes == []  # ... and not marked by a statement of the requests
    assert not OutboxEvent.objects.filter(pk__in=ids, relayed_at__isnull=False).exists()
    outbox_sweep()  # leased to this process: the sweep leaves them alone
    assert len(SEEN) == 3

    assert set(ids) <= set(outbox.marks._ids)  # waiting in the batch
    with CaptureQueriesContext(connection) as queries:
        assert outbox.marks.flush() >= 3  # (a runner's thread of another test may add its own)
    assert len(queries.captured_queries) == 1  # all of them in one statement
    assert not OutboxEvent.objects.filter(pk__in=ids, relayed_at__isnull=True).exists()


def test_the_batch_of_marks_is_written_by_the_process_on_its_own(tenant, to_a_broker):
    to_a_broker(0.2)
    with transaction.atomic():
        event = outbox._write(tenant_id=tenant.pk, kind=PROBE, payload={"value": 7})

    wait_until(
        lambda: OutboxEvent.objects.filter(pk=event.pk, relayed_at__isnull=False).exists(),
        what="the row marked by the batch's thread",
        timeout=10,
    )
    assert [value for value, _, _ in SEEN] == [7]


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

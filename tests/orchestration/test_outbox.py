"""The transactional outbox: work is a row written with the change, relayed after commit, and
by the sweep when that failed; consumers are idempotent."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.models import OutboxEvent
from core.outbox import (
    KEEP_RELAYED,
    broker,
    outbox_relay,
    outbox_sweep,
    outbox_task,
)
from tests.conftest import need_service

RUNS: list[int] = []
FAIL = {"left": 0}


@shared_task(name="tests.outbox_probe")
def outbox_probe(value: int) -> None:
    """A consumer owned by these tests: it counts its runs, and can be told to fail first."""
    if FAIL["left"] > 0:
        FAIL["left"] -= 1
        raise ConnectionError("the broker went away")
    RUNS.append(value)


@pytest.fixture(autouse=True)
def _reset():
    RUNS.clear()
    FAIL["left"] = 0
    broker.reset()
    yield
    broker.reset()


def test_the_event_is_written_with_the_change_and_rolled_back_with_it(tenant):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox_task(tenant_id=tenant.pk, task=outbox_probe.name, args=[1])
        raise RuntimeError("the change failed")

    assert not OutboxEvent.objects.exists()
    assert RUNS == []


def test_the_event_is_relayed_after_commit_and_only_then(
    tenant, django_capture_on_commit_callbacks, eager_tasks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = outbox_task(tenant_id=tenant.pk, task=outbox_probe.name, args=[7])
    assert RUNS == []  # nothing leaves before commit

    for callback in callbacks:
        callback()

    event.refresh_from_db()
    assert RUNS == [7]
    assert event.relayed_at is not None
    assert event.attempts == 0


def test_a_failed_relay_stays_pending_with_backoff_and_the_sweep_relays_it_later(
    tenant, django_capture_on_commit_callbacks, eager_tasks
):
    FAIL["left"] = 1
    with django_capture_on_commit_callbacks(execute=True):
        event = outbox_task(tenant_id=tenant.pk, task=outbox_probe.name, args=[3])

    event.refresh_from_db()
    assert event.relayed_at is None
    assert event.attempts == 1
    assert "the broker went away" in event.last_error
    assert event.available_at > timezone.now()  # backing off
    assert outbox_sweep() == 0  # not due yet

    relayed = outbox_sweep(now=event.available_at + dt.timedelta(seconds=1))

    event.refresh_from_db()
    assert relayed == 1
    assert RUNS == [3]
    assert event.relayed_at is not None
    assert outbox_sweep(now=timezone.now() + dt.timedelta(hours=1)) == 0  # never twice


def test_a_relay_of_an_event_already_relayed_does_nothing(
    tenant, django_capture_on_commit_callbacks, eager_tasks
):
    with django_capture_on_commit_callbacks(execute=True):
        event = outbox_task(tenant_id=tenant.pk, task=outbox_probe.name, args=[5])
    assert RUNS == [5]
    assert outbox_relay(ids=[event.pk]) == 0
    assert outbox_sweep(now=timezone.now() + dt.timedelta(hours=1)) == 0
    assert RUNS == [5]


def test_an_event_is_written_leased_and_the_sweep_leaves_it_to_its_writer_until_the_lease_ends(
    tenant, django_capture_on_commit_callbacks, eager_tasks
):
    """The after-commit relay of a row it just wrote needs no claim: the row is written
    leased. A process that died before relaying leaves it to the sweep after the lease."""
    with django_capture_on_commit_callbacks(execute=False):  # the writer died after commit
        event = outbox_task(tenant_id=tenant.pk, task=outbox_probe.name, args=[6])

    assert event.available_at >= event.created_at + dt.timedelta(
        seconds=settings.OUTBOX_LEASE_SECONDS - 1
    )
    assert outbox_sweep() == 0 and outbox_relay(ids=[event.pk]) == 0  # the writer's lease
    assert outbox_sweep(now=event.available_at) == 1
    assert RUNS == [6]


def test_relaying_a_requests_event_marks_that_event_and_no_other(
    tenant, django_capture_on_commit_callbacks, eager_tasks
):
    waiting = outbox_task(tenant_id=tenant.pk, task=outbox_probe.name, args=[1])  # not relayed
    with django_capture_on_commit_callbacks(execute=True):
        event = outbox_task(tenant_id=tenant.pk, task=outbox_probe.name, args=[2])

    assert RUNS == [2]
    assert OutboxEvent.objects.get(pk=event.pk).relayed_at is not None
    assert OutboxEvent.objects.get(pk=waiting.pk).relayed_at is None


def test_the_sweep_forgets_relayed_events_after_a_week_and_keeps_pending_ones(
    tenant, django_capture_on_commit_callbacks, eager_tasks
):
    with django_capture_on_commit_callbacks(execute=True):
        old = outbox_task(tenant_id=tenant.pk, task=outbox_probe.name, args=[1])
    FAIL["left"] = 10
    with django_capture_on_commit_callbacks(execute=True):
        pending = outbox_task(tenant_id=tenant.pk, task=outbox_probe.name, args=[2])

    outbox_sweep(now=timezone.now() + KEEP_RELAYED + dt.timedelta(minutes=1))

    assert not OutboxEvent.objects.filter(pk=old.pk).exists()
    assert OutboxEvent.objects.filter(pk=pending.pk, relayed_at__isnull=True).exists()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_relay_every_event_exactly_once(tenant, eager_tasks):
    if connection.vendor != "postgresql":
        need_service("PostgreSQL: set DATABASE_URL (SKIP LOCKED decides who relays)")
    # left pending, as when every after-commit relay failed
    now = timezone.now()
    events = OutboxEvent.objects.bulk_create(
        OutboxEvent(
            tenant=tenant,
            kind="task",
            payload={"task": outbox_probe.name, "args": [i]},
            available_at=now,
        )
        for i in range(300)
    )
    start = threading.Barrier(4)
    totals: list[int] = []

    def sweep() -> None:
        start.wait()
        try:
            totals.append(outbox_sweep(batch_size=20))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(totals) == len(events)
    assert sorted(RUNS) == list(range(300))  # each exactly once
    assert not OutboxEvent.objects.filter(relayed_at__isnull=True).exists()

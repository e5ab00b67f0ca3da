"""The outbox on the embedded default (core/outbox.py): with a runner in the process, a task
runs on it once the writing transaction commits, not in the request; a countdown waits in its
row (durable) and the runner relays it when due. Without a runner it runs inline, as before."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import transaction

from bench._procs import wait_until
from core.models import OutboxEvent
from core.outbox import outbox_sweep, outbox_task
from tests.runner.tasks import runs_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_task_runs_on_the_runner_after_the_commit_not_in_the_request(in_process, tenant):
    in_process()
    with transaction.atomic():
        event = outbox_task(tenant_id=tenant.pk, task="tests.runner.count_tenants", args=[7])
        assert runs_of("count_tenants") == []

    (run,) = wait_until(lambda: runs_of("count_tenants"), what="the task", timeout=30)
    assert run.args == (7,)
    assert run.thread.startswith("runner")
    event.refresh_from_db()
    assert event.relayed_at is not None and event.attempts == 0


def test_a_countdown_waits_in_its_row_and_the_runner_relays_it_when_due(in_process, tenant):
    in_process()
    with transaction.atomic():
        event = outbox_task(
            tenant_id=tenant.pk, task="tests.runner.count_tenants", args=[8], countdown=2
        )

    event.refresh_from_db()
    assert event.relayed_at is None and event.attempts == 0
    assert event.available_at == event.created_at + dt.timedelta(seconds=2)
    assert outbox_sweep() == 0  # not due yet: a sweep leaves it alone
    assert runs_of("count_tenants") == []

    (run,) = wait_until(lambda: runs_of("count_tenants"), what="the task, when due", timeout=30)
    assert run.args == (8,) and run.thread.startswith("runner")
    wait_until(
        lambda: OutboxEvent.objects.filter(pk=event.pk, relayed_at__isnull=False).exists(),
        what="the row relayed",
        timeout=30,
    )
    assert OutboxEvent.objects.get(pk=event.pk).attempts == 0


def test_without_a_runner_the_task_runs_inline_after_the_commit(eager_tasks, tenant):
    from tests.runner import tasks

    tasks.RUNS.clear()
    with transaction.atomic():
        outbox_task(tenant_id=tenant.pk, task="tests.runner.count_tenants", args=[9])
        assert runs_of("count_tenants") == []

    (run,) = runs_of("count_tenants")
    assert run.thread == threading.current_thread().name

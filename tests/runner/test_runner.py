"""The in-process runner (config/runner.py): tasks off the caller's thread, each on a database
connection of its own thread, countdowns, the schedule's sweeps with the operator's pauses,
and failures that are logged without stopping it."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.db import connection, connections
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from bench._procs import wait_until
from config import runner
from tests.runner.tasks import runs_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_without_a_runner_submit_says_no():
    assert not runner.running()
    assert runner.submit("tests.runner.count_tenants", [1]) is False


def test_a_task_runs_on_a_runner_thread_with_a_connection_of_its_own(in_process):
    in_process()
    assert runner.running()

    assert runner.submit("tests.runner.count_tenants", [1]) is True

    (run,) = wait_until(lambda: runs_of("count_tenants"), what="the task", timeout=30)
    assert run.args == (1,)
    assert run.thread.startswith("runner") and run.thread != threading.current_thread().name
    assert run.connection is not connections["default"]
    if connection.vendor == "postgresql":  # (Django never closes an in-memory SQLite database)
        wait_until(lambda: run.connection.connection is None, what="closed", timeout=30)


def test_a_countdown_runs_the_task_that_much_later(in_process):
    in_process()
    asked = time.monotonic()

    runner.submit("tests.runner.count_tenants", ["later"], countdown=2)
    runner.submit("tests.runner.count_tenants", ["now"])

    runs = wait_until(
        lambda: len(runs_of("count_tenants")) == 2 and runs_of("count_tenants"),
        what="both tasks",
        timeout=30,
    )
    assert [run.args for run in runs] == [("now",), ("later",)]
    assert runs[1].at - asked >= 2


def test_the_schedule_runs_each_sweep_again_and_again_unless_an_operator_paused_it(in_process):
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="Sweep B", task="tests.runner.sweep_b", interval=every, enabled=False
    )

    in_process(
        schedule={
            "Sweep A": ("tests.runner.sweep_a", 0.2),
            "Sweep B": ("tests.runner.sweep_b", 0.2),
        }
    )

    wait_until(lambda: len(runs_of("sweep_a")) >= 3, what="sweep A, three times", timeout=30)
    assert runs_of("sweep_b") == []
    # the runner added the row that was missing, as beat does, so the admin lists it
    added = PeriodicTask.objects.get(name="Sweep A")
    assert (added.task, added.enabled) == ("tests.runner.sweep_a", True)

    PeriodicTask.objects.filter(name="Sweep B").update(enabled=True)  # resumed in the admin
    wait_until(lambda: runs_of("sweep_b"), what="sweep B once resumed", timeout=30)
    PeriodicTask.objects.filter(name="Sweep A").update(enabled=False)  # paused in the admin
    time.sleep(1)  # a round of A that had started when it was paused may still end
    paused_at = len(runs_of("sweep_a"))
    wait_until(lambda: len(runs_of("sweep_b")) >= 4, what="sweep B, again", timeout=30)
    assert len(runs_of("sweep_a")) == paused_at


def test_a_failing_task_is_logged_and_the_runner_goes_on(in_process, caplog):
    caplog.set_level(logging.ERROR, logger="config.runner")
    in_process(schedule={"Failing sweep": ("tests.runner.fail", 0.2)})

    runner.submit("tests.runner.fail", ["once"])
    wait_until(lambda: len(runs_of("fail")) >= 3, what="the failing sweep, three times", timeout=30)
    runner.submit("tests.runner.count_tenants", ["after"])

    wait_until(lambda: runs_of("count_tenants"), what="a task after the failures", timeout=30)
    failures = [r for r in caplog.records if "tests.runner.fail" in r.getMessage()]
    assert failures and all(r.levelno == logging.ERROR for r in failures)
    assert any("the task failed on purpose" in r.getMessage() for r in failures)
    assert any("('once',)" in r.getMessage() for r in failures)


def test_stop_lets_submitted_tasks_finish_and_then_submit_says_no(in_process):
    in_process(workers=1)
    for n in range(5):
        runner.submit("tests.runner.count_tenants", [n])

    runner.stop()

    assert [run.args for run in runs_of("count_tenants")] == [(n,) for n in range(5)]
    assert not runner.running()
    assert runner.submit("tests.runner.count_tenants", ["late"]) is False

"""Celery tasks of the runner's tests: each run is noted, with the thread and the database
connection it ran on."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from celery import shared_task
from django.db import connections

from core.models import Tenant


@dataclass
class Run:
    name: str
    args: tuple
    thread: str
    connection: object
    at: float = field(default_factory=time.monotonic)


RUNS: list[Run] = []
RAN = threading.Condition()


def note(name: str, args: tuple) -> None:
    with RAN:
        RUNS.append(Run(name, args, threading.current_thread().name, connections["default"]))
        RAN.notify_all()


def runs_of(name: str) -> list[Run]:
    with RAN:
        return [run for run in RUNS if run.name == name]


@shared_task(name="tests.runner.count_tenants")
def count_tenants(*args) -> int:
    count = Tenant.objects.count()  # a query: the task's thread opens its own connection
    note("count_tenants", args)
    return count


@shared_task(name="tests.runner.sweep_a")
def sweep_a() -> None:
    note("sweep_a", ())


@shared_task(name="tests.runner.sweep_b")
def sweep_b() -> None:
    note("sweep_b", ())


@shared_task(name="tests.runner.fail")
def fail(*args) -> None:
    note("fail", args)
    raise RuntimeError("the task failed on purpose")

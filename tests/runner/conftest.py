from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from config import runner
from tests.runner import tasks


@pytest.fixture
def in_process(eager_tasks) -> Iterator[Callable[..., None]]:
    """Start the in-process runner (as config/asgi.py does on the embedded default) with the
    given schedule (none by default); stopped at the end of the test."""
    tasks.RUNS.clear()

    def start(schedule=None, workers: int = 2) -> None:
        runner.start(workers=workers, schedule=schedule)

    yield start
    runner.stop()
    tasks.RUNS.clear()

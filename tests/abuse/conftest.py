from __future__ import annotations

import time

import pytest


def wait_for_a_fresh_window(period: int, margin: float) -> None:
    """Counts are per fixed window: start a test where it cannot straddle two windows."""
    into = time.time() % period
    if into > period - margin:
        time.sleep(period - into + 0.01)


@pytest.fixture(autouse=True)
def _not_at_the_end_of_a_minute():
    wait_for_a_fresh_window(60, margin=5)

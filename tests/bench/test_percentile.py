"""The one percentile of the benches and the simulator (tools/stats.py): nearest-rank."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from tools.stats import percentile

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0, 15),
        (5, 15),
        (30, 20),  # rank ceil(0.3 x 5) = 2
        (40, 20),  # rank 2 exactly: no step up
        (50, 35),  # rank ceil(2.5) = 3: the middle value, not an average
        (95, 50),
        (100, 50),
    ],
)
def test_nearest_rank_on_the_textbook_sample(q, expected):
    # The sample of the nearest-rank method's usual example, given unsorted.
    assert percentile([35, 20, 50, 40, 15], q) == expected


def test_a_percentile_is_always_one_of_the_values_never_an_interpolation():
    values = [float(v) for v in range(1, 21)]  # 1 .. 20

    assert percentile(values, 50) == 10.0  # the lower middle of an even count
    assert percentile(values, 95) == 19.0  # rank 19 of 20
    assert percentile(values, 99) == 20.0
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([7.5], 99) == 7.5


def test_no_values_give_nan_or_the_default_asked_for():
    assert math.isnan(percentile([], 95))
    assert percentile([], 95, empty=0.0) == 0.0
    assert percentile(iter([3, 1, 2]), 50) == 2


@pytest.mark.parametrize("q", [-1, 100.5])
def test_q_outside_0_to_100_is_refused(q):
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1, 2, 3], q)


def test_no_bench_and_no_tool_has_a_percentile_or_median_of_its_own():
    own = re.compile(
        r"def (percentile|pct|_?p\d\d|_?median\w*)\(.*\n(?:.*\n){0,3}?.*sorted\("
        r"|statistics\.(median|quantiles)|numpy\.percentile|\[int\(len\(\w+\) \* 0\.\d+\)"
    )
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("bench", "tools")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "stats.py" and own.search(path.read_text())
    ]

    assert offenders == []

"""The one percentile of every figure we print: the benches (``bench/``), their BENCHMARKS.md,
and the traffic simulator's summary. Plain Python, no Django: the benches' client processes
import it too."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float, *, empty: float = math.nan) -> float:
    """The ``q``-th percentile (``q`` in 0..100) by the **nearest-rank** method: the smallest
    value such that at least ``q`` % of the values are at or below it, i.e. the value of rank
    ``ceil(q / 100 * n)`` (1-based) in the sorted values; ``q`` = 0 gives the smallest value.

    Always one of the measured values, never an interpolation between two: a p95 over 20
    samples is the 19th smallest, over 100 samples the 95th. ``empty`` is returned for no
    values (NaN by default; benches print it as "-").
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile: q must be within 0..100, not {q!r}")
    ordered = sorted(values)
    if not ordered:
        return empty
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]

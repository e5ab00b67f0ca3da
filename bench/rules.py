"""Benchmark of the condition language: compile time, evaluations per second, 50-rule scan.

Run: .venv/bin/python bench/rules.py [--repeat N]   (single core; pure Python, no Django, no
database; each timing is the best of N runs, default 5)
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._result import command_line, emit, figure
from rules import (
    approval_schema,
    compile_condition,
    handoff_schema,
    interpret,
)
from tools.stats import percentile

AIM_EVALS_PER_SECOND = 200_000
AIM_FIFTY_RULES_US = 100.0

CONTEXT = {
    "intent": "billing",
    "sentiment": -0.2,
    "risk": ["frustration", "churn"],
    "channel": "email",
    "attempts": 1,
    "turns": 4,
    "language": "en",
    "customer": {"vip": False, "tier": "silver", "address": {"country": "NL"}},
    "params": {"amount": 150, "currency": "EUR"},
}

TYPICAL = [
    'intent == "billing"',
    "sentiment < -0.5",
    'risk contains "frustration"',
    'intent in ["billing", "refund", "cancel"]',
    "customer.vip and attempts >= 3",
    'customer.address.country == "NL"',
    "params.amount > 100",
    'not (channel == "email") and language != "en"',
    'intent == "billing" and sentiment < -0.5 or customer.tier == "gold" and turns > 10',
    "customer.tier == null or attempts > turns",
]


def fifty_rules() -> list[str]:
    """50 handoff rules of the usual shapes, none of which fires for CONTEXT."""
    intents = ["refund", "cancel", "legal", "fraud", "shipping", "account", "technical"]
    rules = []
    for i in range(50):
        intent = intents[i % len(intents)]
        shape = i % 5
        if shape == 0:
            rules.append(f'intent == "{intent}" and sentiment < -0.{(i % 9) + 1}')
        elif shape == 1:
            rules.append(f'risk contains "{intent}" or attempts >= {i + 3}')
        elif shape == 2:
            rules.append(f'intent in ["{intent}", "{intent}-{i}"] and channel == "chat"')
        elif shape == 3:
            rules.append(f'customer.vip and turns > {i + 10} or customer.tier == "gold{i}"')
        else:
            rules.append(f'not (language == "en") and intent != "billing" or turns > {100 + i}')
    return rules


REPEAT = 5  # best of; --repeat


def best_time(fn, repeat: int | None = None) -> float:
    return min(fn() for _ in range(repeat or REPEAT))


def compile_microseconds(text: str, schema) -> float:
    loops = 300

    def run() -> float:
        start = time.perf_counter()
        for _ in range(loops):
            compile_condition(text, schema)
        return time.perf_counter() - start

    return best_time(run) / loops * 1e6


def evaluations_per_second(fn, context) -> float:
    loops = 100_000

    def run() -> float:
        start = time.perf_counter()
        for _ in range(loops):
            fn(context)
        return time.perf_counter() - start

    return loops / best_time(run)


def scan_microseconds(rules, context) -> tuple[float, float]:
    """Median and best time of one first-match scan over all rules (none matches)."""
    samples = []
    for _ in range(2_000):
        start = time.perf_counter()
        for rule in rules:
            if rule(context):
                break
        samples.append(time.perf_counter() - start)
    return percentile(samples, 50) * 1e6, min(samples) * 1e6


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    global REPEAT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=REPEAT, help="each timing is the best of N")
    REPEAT = max(1, parser.parse_args().repeat)
    handoff = handoff_schema()
    approval = approval_schema({"amount": "number", "currency": "string"})
    print(f"condition language benchmark - Python {platform.python_version()}, single core\n")

    width = max(len(text) for text in TYPICAL)
    header = f"{'condition':<{width}}  {'compile µs':>10}  {'compiled eval/s':>15}"
    header += f"  {'interpreted/s':>13}  {'aim eval/s':>10}"
    print(header)
    print("-" * len(header))
    slowest = float("inf")
    for text in TYPICAL:
        schema = approval if text.startswith("params") else handoff
        condition = compile_condition(text, schema)
        compile_us = compile_microseconds(text, schema)
        rate = evaluations_per_second(condition, CONTEXT)
        interpreted = evaluations_per_second(lambda c, n=condition.node: interpret(n, c), CONTEXT)
        slowest = min(slowest, rate)
        print(
            f"{text:<{width}}  {compile_us:>10.1f}  {rate:>15,.0f}  {interpreted:>13,.0f}"
            f"  {AIM_EVALS_PER_SECOND:>10,}  {verdict(rate >= AIM_EVALS_PER_SECOND)}"
        )

    rules = [compile_condition(text, handoff) for text in fifty_rules()]
    assert not any(rule(CONTEXT) for rule in rules), "the scan must be a worst case"
    median_us, best_us = scan_microseconds(rules, CONTEXT)
    print()
    print(f"{'measure':<44}  {'value':>12}  {'aim':>10}")
    print("-" * 72)
    aim = f">= {AIM_EVALS_PER_SECOND:,}"
    print(
        f"{'slowest typical condition, evaluations/s':<44}  {slowest:>12,.0f}  "
        f"{aim:>10}  {verdict(slowest >= AIM_EVALS_PER_SECOND)}"
    )
    print(
        f"{'50 handoff rules, none match (median µs)':<44}  {median_us:>12.1f}  "
        f"{'< ' + format(AIM_FIFTY_RULES_US, '.0f'):>10}  {verdict(median_us < AIM_FIFTY_RULES_US)}"
    )
    print(f"{'50 handoff rules, none match (best µs)':<44}  {best_us:>12.1f}")
    compile_all = best_time(
        lambda: _time_compile_all(fifty_rules(), handoff), repeat=min(3, REPEAT)
    )
    print(f"{'compile all 50 rules (ms)':<44}  {compile_all * 1e3:>12.2f}")
    emit(
        "rules",
        [
            figure(
                "slowest typical condition, compiled",
                slowest,
                "evaluations/s",
                aim,
                slowest >= AIM_EVALS_PER_SECOND,
            ),
            figure(
                "50 handoff rules, none match, median",
                median_us,
                "µs",
                f"< {AIM_FIFTY_RULES_US:.0f}",
                median_us < AIM_FIFTY_RULES_US,
            ),
            figure("50 handoff rules, none match, best", best_us, "µs"),
            figure("compile all 50 rules", compile_all * 1e3, "ms"),
        ],
        command_line("bench/rules.py"),
    )


def _time_compile_all(texts, schema) -> float:
    start = time.perf_counter()
    for text in texts:
        compile_condition(text, schema)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()

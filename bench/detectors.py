"""Accuracy and speed of the infrastructure agents on the labelled customer messages.

    .venv/bin/python bench/detectors.py [--verbose] [--split tune|test|all] [--repeat N]

Prints, for the tuning split and the held-out split (every 5th line of the file is held out),
and for a separate blind set written after the rules were frozen,
precision / recall / F1 per risk category, intent accuracy, sentiment polarity accuracy (with and
without the customer-service adjustments) and messages per second of ``detect``, with the aims
beside them. ``--verbose`` lists the misclassified messages of the chosen split(s). Exits 1 when
an aim is missed on the whole file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.detectors import CATEGORIES, Signals, detect, polarity, sentiment_score  # noqa: E402
from agents.detectors.text import clear_caches  # noqa: E402
from bench._result import command_line, emit, figure  # noqa: E402

DATA = ROOT / "tests" / "data" / "customer_messages.jsonl"
# Written after the rules were frozen and labelled without running the detectors: the honest
# estimate of how they do on phrasings they were not built around.
BLIND = ROOT / "tests" / "data" / "customer_messages_blind.jsonl"
HELD_OUT_EVERY = 5  # line i (0-based) is held out when i % 5 == 4

# category -> (minimum recall, minimum precision)
AIMS: dict[str, tuple[float, float]] = {
    "human_request": (0.90, 0.85),
    "legal_threat": (0.90, 0.85),
}


@dataclass
class Row:
    line: int
    text: str
    risk: frozenset[str]
    intent: str | None
    sentiment: str

    @property
    def held_out(self) -> bool:
        return self.line % HELD_OUT_EVERY == HELD_OUT_EVERY - 1


def load(path: Path = DATA) -> list[Row]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            data = json.loads(line)
            rows.append(
                Row(i, data["text"], frozenset(data["risk"]), data["intent"], data["sentiment"])
            )
    return rows


@dataclass
class Report:
    name: str
    n: int = 0
    tp: dict[str, int] = field(default_factory=dict)
    fp: dict[str, int] = field(default_factory=dict)
    fn: dict[str, int] = field(default_factory=dict)
    intent_ok: int = 0
    sentiment_ok: int = 0
    sentiment_plain_ok: int = 0
    errors: list[str] = field(default_factory=list)

    def prf(self, category: str) -> tuple[float, float, float, int]:
        tp, fp, fn = self.tp.get(category, 0), self.fp.get(category, 0), self.fn.get(category, 0)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1, tp + fn

    def misses(self) -> list[str]:
        missed = []
        for category, (min_recall, min_precision) in AIMS.items():
            precision, recall, _, _ = self.prf(category)
            if recall < min_recall:
                missed.append(f"{category} recall {recall:.3f} < {min_recall}")
            if precision < min_precision:
                missed.append(f"{category} precision {precision:.3f} < {min_precision}")
        return missed


def evaluate(name: str, rows: list[Row], signals: dict[int, Signals]) -> Report:
    report = Report(name, n=len(rows))
    for row in rows:
        s = signals[row.line]
        got = frozenset(s.risk)
        problems = []
        for category in CATEGORIES:
            if category in got and category in row.risk:
                report.tp[category] = report.tp.get(category, 0) + 1
            elif category in got:
                report.fp[category] = report.fp.get(category, 0) + 1
                rules = [f"{m.rule}: {m.text!r}" for m in s.risk_matches if m.category == category]
                problems.append(f"+{category} ({'; '.join(rules)})")
            elif category in row.risk:
                report.fn[category] = report.fn.get(category, 0) + 1
                problems.append(f"-{category}")
        if s.intent == row.intent:
            report.intent_ok += 1
        else:
            problems.append(f"intent {s.intent} != {row.intent} {list(s.intent_terms)}")
        if polarity(s.sentiment) == row.sentiment:
            report.sentiment_ok += 1
        else:
            problems.append(f"sentiment {s.sentiment:+.3f} != {row.sentiment}")
        if polarity(sentiment_score(row.text, adjusted=False)) == row.sentiment:
            report.sentiment_plain_ok += 1
        if problems:
            report.errors.append(
                f"  [{row.line + 1}] {row.text}\n      " + "\n      ".join(problems)
            )
    return report


def print_report(report: Report) -> None:
    print(f"\n== {report.name}: {report.n} messages")
    print(f"  {'category':<14} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}   aim")
    for category in CATEGORIES:
        precision, recall, f1, support = report.prf(category)
        aim = ""
        if category in AIMS:
            min_recall, min_precision = AIMS[category]
            ok = recall >= min_recall and precision >= min_precision
            aim = (
                f"recall >= {min_recall}, precision >= {min_precision}: {'ok' if ok else 'MISSED'}"
            )
        print(f"  {category:<14} {precision:>9.3f} {recall:>7.3f} {f1:>6.3f} {support:>8}   {aim}")
    n = report.n or 1
    print(f"  intent accuracy             {report.intent_ok / n:.3f}")
    print(
        f"  sentiment polarity accuracy {report.sentiment_ok / n:.3f}"
        f"   (plain VADER: {report.sentiment_plain_ok / n:.3f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="list misclassified messages")
    parser.add_argument(
        "--split",
        choices=("tune", "test", "blind", "all"),
        default="all",
        help="which split's errors --verbose lists (default: all)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="passes for the speed figure")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)

    rows = load(args.data)
    texts = [row.text for row in rows]
    detect("warm up")
    elapsed = 0.0
    for _ in range(args.repeat):
        clear_caches()  # each pass sees the texts for the first time
        started = time.perf_counter()
        for text in texts:
            detect(text)
        elapsed += time.perf_counter() - started
    signals = {row.line: detect(row.text) for row in rows}

    tune = evaluate("tuning split", [r for r in rows if not r.held_out], signals)
    test = evaluate("held-out split (every 5th line)", [r for r in rows if r.held_out], signals)
    whole = evaluate("whole file", rows, signals)
    reports = [tune, test, whole]
    if args.data == DATA and BLIND.exists():
        blind_rows = load(BLIND)
        blind_signals = {row.line: detect(row.text) for row in blind_rows}
        reports.append(evaluate(f"blind set ({BLIND.name})", blind_rows, blind_signals))
    for report in reports:
        print_report(report)
    rate = len(texts) * args.repeat / elapsed if elapsed else float("inf")
    print(f"\nspeed: {rate:,.0f} messages/second of detect() ({len(texts)} x {args.repeat})")

    if args.verbose:
        chosen = {
            "tune": [tune],
            "test": [test],
            "blind": reports[3:],
            "all": [tune, test, *reports[3:]],
        }[args.split]
        for report in chosen:
            print(f"\n-- misclassified, {report.name} ({len(report.errors)})")
            print("\n".join(report.errors))

    missed = whole.misses()
    if missed:
        print("\naims missed: " + "; ".join(missed))
    else:
        print("\naims met on the whole file")
    emit("detectors", result_figures(reports, rate), command_line("bench/detectors.py"))
    return 1 if missed else 0


def result_figures(reports: list[Report], rate: float) -> list[dict]:
    """The aims hold on the whole file; the held-out split and the blind set are shown
    beside them (the honest estimate on unseen phrasings), without an aim of their own."""
    labels = {
        "whole file": "whole file",
        "held-out split (every 5th line)": "held-out",
    }
    figures = []
    for report in reports:
        label = labels.get(report.name, "blind set" if report.name.startswith("blind") else None)
        if label is None:
            continue
        for category, (min_recall, min_precision) in AIMS.items():
            precision, recall, _, _ = report.prf(category)
            aimed = label == "whole file"
            figures.append(
                figure(
                    f"{category} recall, {label}",
                    recall,
                    "",
                    f">= {min_recall}" if aimed else "",
                    recall >= min_recall if aimed else None,
                )
            )
            figures.append(
                figure(
                    f"{category} precision, {label}",
                    precision,
                    "",
                    f">= {min_precision}" if aimed else "",
                    precision >= min_precision if aimed else None,
                )
            )
        n = report.n or 1
        figures.append(figure(f"intent accuracy, {label}", report.intent_ok / n, ""))
        figures.append(figure(f"sentiment polarity accuracy, {label}", report.sentiment_ok / n, ""))
    figures.append(figure("detect() speed", rate, "messages/s"))
    return figures


if __name__ == "__main__":
    sys.exit(main())

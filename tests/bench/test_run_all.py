"""bench/run_all: finding the benches, reading their RESULT lines, writing BENCHMARKS.md; and
one real (quick) bench through it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from bench._run_all import ROOT, Outcome, discover, parse_result, render

FACTS = {"CPU": "AMD EPYC, 2 cores", "RAM": "23.5 GiB", "Python": "3.11.7"}


def result_line(bench: str, figures: list[dict]) -> str:
    return "RESULT " + json.dumps({"bench": bench, "figures": figures, "command": "x"})


def test_the_last_result_line_of_the_output_is_read():
    output = "\n".join(
        [
            "figures for people",
            result_line("a", [{"name": "old", "value": 1, "unit": "", "aim": "", "met": None}]),
            "more output",
            result_line(
                "a", [{"name": "rate", "value": 2.5, "unit": "/s", "aim": "", "met": True}]
            ),
        ]
    )

    result = parse_result(output)

    assert [f["name"] for f in result["figures"]] == ["rate"]


def test_output_without_a_result_line_has_no_result():
    assert parse_result("Traceback (most recent call last):\n  boom") is None


@pytest.mark.parametrize(
    "line",
    [
        "RESULT {not json",
        'RESULT {"bench": "a"}',
        'RESULT {"bench": "a", "figures": [{"value": 1}]}',
        'RESULT {"bench": "a", "figures": [{"name": "x", "value": 1, "met": "yes"}]}',
    ],
)
def test_a_malformed_result_line_is_an_error(line):
    with pytest.raises(ValueError):
        parse_result(line)


def test_every_bench_script_is_found_but_not_the_helpers(tmp_path):
    for name in ("rules.py", "newcomer.py", "_procs.py", "run_all", "load.py"):
        (tmp_path / name).write_text("")

    # the known ones in their order, then a bench nobody listed
    assert discover(tmp_path) == ["rules", "load", "newcomer"]


def test_the_benches_of_the_repository_are_all_found():
    names = discover()

    assert {"rules", "detectors", "pipeline", "approvals", "handoff", "metrics", "load"} <= set(
        names
    )
    assert not [n for n in names if n.startswith("_")]


def test_the_report_shows_each_figure_with_its_aim_and_a_failed_bench_with_its_output():
    ran = Outcome("rules", ".venv/bin/python bench/rules.py", seconds=4.0, returncode=0)
    ran.result = parse_result(
        result_line(
            "rules",
            [
                {
                    "name": "evals",
                    "value": 933143.2,
                    "unit": "evaluations/s",
                    "aim": ">= 200,000",
                    "met": True,
                },
                {"name": "scan", "value": 127.5, "unit": "µs", "aim": "< 100", "met": False},
                {"name": "compile", "value": 4.26, "unit": "ms", "aim": "", "met": None},
            ],
        )
    )
    failed = Outcome("metrics", "DATABASE_URL=... .venv/bin/python bench/metrics.py", 900.0)
    failed.timed_out = True
    failed.error = "timed out after 900 s"
    failed.tail = "loading 1,000,000 events\nstill loading"

    text = render(
        [ran, failed],
        facts=FACTS,
        commit="abc1234 (branch main)",
        started=dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC),
        seconds=904.0,
        quick=False,
        only=None,
        load=(0.2, 0.3),
    )

    assert "| CPU | AMD EPYC, 2 cores |" in text
    assert "| commit | abc1234 (branch main) |" in text
    assert "2026-11-22 08:00 UTC" in text
    assert "**nearest-rank** in every bench" in text
    assert ".venv/bin/python bench/rules.py" in text
    assert "| evals | 933,143 | evaluations/s | >= 200,000 | met |" in text
    assert "| scan | 127.5 | µs | < 100 | **MISSED** |" in text
    assert "| compile | 4.26 | ms |  |  |" in text
    assert "**FAILED**: timed out after 900 s" in text
    assert "still loading" in text
    assert "1 failed (metrics)" in text
    assert "aims met 1 of 2; missed: rules: scan" in text


def test_the_quickest_real_bench_runs_through_run_all(tmp_path):
    report = tmp_path / "BENCHMARKS.md"

    finished = subprocess.run(
        [
            str(ROOT / "bench" / "run_all"),
            "--only",
            "rules",
            "--quick",
            "--output",
            str(report),
            "--logs",
            str(tmp_path / "logs"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert finished.returncode == 0, finished.stdout + finished.stderr
    text = report.read_text()
    assert "## rules" in text
    assert ".venv/bin/python bench/rules.py --repeat 1" in text
    assert "| slowest typical condition, compiled |" in text
    assert "FAILED" not in text
    assert "RESULT " in (tmp_path / "logs" / "rules.log").read_text()

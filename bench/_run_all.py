"""The body of ``bench/run_all``: run every bench, collect their RESULT lines, write
BENCHMARKS.md.

    bench/run_all [--quick] [--only NAME[,NAME]] [--output FILE] [--logs DIR]

Every ``bench/*.py`` whose name does not start with ``_`` is a bench (a new one is picked up
without being listed). Each runs as a subprocess, bounded in time, with the services it needs:
DATABASE_URL (default ``postgres://postgres@127.0.0.1:5432/postgres``; each bench makes and
drops a database of its own there, named ``<BENCH_DB_PREFIX>_<bench>``, prefix default
``bench``) and REDIS_URL (default ``redis://127.0.0.1:6379/0``; BENCH_REDIS_DB, when set,
picks the logical database the benches use). Nothing is started here: the benches start the
product's processes they measure themselves.

The last ``RESULT {json}`` line of a bench's output holds its figures (notes in
bench/_result.py). A bench that exits without one, or runs out of time, is reported as failed
with the tail of its output. A full run writes BENCHMARKS.md at the top of the repository; a
partial one (``--quick`` or ``--only``) writes bench/last-run.md unless ``--output`` says
otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TAIL_LINES = 30


@dataclass(frozen=True)
class Spec:
    """How to run one bench: arguments and environment, for a full and for a quick run."""

    services: tuple[str, ...] = ()  # "postgres", "redis"
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    quick_args: tuple[str, ...] = ()
    quick_env: tuple[tuple[str, str], ...] = ()
    timeout: float = 900.0
    quick_timeout: float = 300.0


# The benches known when this was written; a bench not listed runs with both services' URLs,
# no arguments, and the default bounds.
SPECS: dict[str, Spec] = {
    "rules": Spec(quick_args=("--repeat", "1"), timeout=300),
    "detectors": Spec(quick_args=("--repeat", "1"), timeout=300),
    "pipeline": Spec(
        services=("postgres", "redis"), quick_env=(("BENCH_SECONDS", "2"),), timeout=900
    ),
    "approvals": Spec(
        services=("postgres", "redis"),
        quick_args=("--requests", "200", "--clients", "8"),
        timeout=900,
    ),
    "metrics": Spec(services=("postgres",), quick_env=(("BENCH_EVENTS", "100000"),), timeout=1800),
    "handoff": Spec(
        services=("postgres", "redis"),
        quick_env=(
            ("BENCH_AGENTS", "20,60"),
            ("BENCH_IDLE", "200"),
            ("BENCH_HANDOFFS", "10"),
            ("BENCH_IDLE_HOLD_SECONDS", "3"),
        ),
        timeout=1800,
        quick_timeout=600,
    ),
    "guardrails": Spec(quick_args=("--repeat", "200"), timeout=300),
    "stacks": Spec(services=("postgres",), quick_args=("--runs", "3"), timeout=300),
    "turn": Spec(
        services=("postgres",),  # it starts a Redis server of its own
        args=("--conversations", "200"),
        quick_args=("--conversations", "24"),
        timeout=900,
    ),
    "consult": Spec(quick_args=("--delay", "0.3", "--runs", "1"), timeout=120),
    "canvas": Spec(services=("postgres",), quick_args=("--events", "20000"), timeout=900),
    # its own SQLite file and server: no service
    "embedded": Spec(quick_args=("--rounds", "2"), timeout=600),
    "customers": Spec(
        services=("postgres",),
        quick_env=(("BENCH_CONVERSATIONS", "20000"), ("BENCH_CUSTOMERS", "4000")),
        timeout=900,
    ),
    "load": Spec(
        services=("postgres", "redis"),
        quick_args=("--seconds", "15", "--customers", "10", "--agents", "3"),
        timeout=900,
    ),
}
ORDER = [
    "rules",
    "detectors",
    "guardrails",
    "pipeline",
    "approvals",
    "metrics",
    "handoff",
    "stacks",
    "turn",
    "consult",
    "canvas",
    "customers",
    "load",
]


@dataclass
class Outcome:
    name: str
    command: str
    seconds: float = 0.0
    returncode: int | None = None
    timed_out: bool = False
    result: dict | None = None
    error: str = ""  # why it failed, when it did
    tail: str = ""

    @property
    def failed(self) -> bool:
        return self.result is None


# --- discovery and running ----------------------------------------------------------------------


def discover(bench_dir: Path = BENCH_DIR) -> list[str]:
    """Every bench script: bench/*.py except helpers (``_*.py``), known ones in ORDER first."""
    names = [p.stem for p in bench_dir.glob("*.py") if not p.name.startswith("_")]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def parse_result(output: str) -> dict | None:
    """The last ``RESULT {json}`` line of a bench's output, checked; None when there is none.
    Raises ValueError when the line is there but malformed."""
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    if not lines:
        return None
    try:
        data = json.loads(lines[-1][len("RESULT ") :])
    except json.JSONDecodeError as exc:
        raise ValueError(f"RESULT line is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("figures"), list):
        raise ValueError("RESULT line lacks a list of figures")
    for f in data["figures"]:
        if not isinstance(f, dict) or "name" not in f or "value" not in f:
            raise ValueError(f"RESULT figure without a name and value: {f!r}")
        if f.get("met") not in (True, False, None):
            raise ValueError(f"RESULT figure 'met' must be true, false or null: {f!r}")
    return data


def mask(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def bench_env(name: str, spec: Spec, *, quick: bool, base: dict[str, str]) -> dict[str, str]:
    """What the bench is given beyond the inherited environment (shown in its command)."""
    env: dict[str, str] = {}
    if spec.services or name not in SPECS:
        env["DATABASE_URL"] = base["DATABASE_URL"]
        env["REDIS_URL"] = base["REDIS_URL"]
        env["BENCH_DB"] = f"{base['BENCH_DB_PREFIX']}_{name}"
        if base.get("BENCH_REDIS_DB"):
            env["BENCH_REDIS_DB"] = base["BENCH_REDIS_DB"]
    env.update(dict(spec.env))
    if quick:
        env.update(dict(spec.quick_env))
    return env


def command_text(name: str, args: list[str], env: dict[str, str]) -> str:
    shown = [f"{k}={mask(v) if k.endswith('_URL') else v}" for k, v in env.items()]
    return " ".join([*shown, ".venv/bin/python", f"bench/{name}.py", *args])


def run_one(name: str, *, quick: bool, base: dict[str, str], logs: Path) -> Outcome:
    spec = SPECS.get(name, Spec(services=()))
    args = list(spec.args) + (list(spec.quick_args) if quick else [])
    extra = bench_env(name, spec, quick=quick, base=base)
    outcome = Outcome(name, command_text(name, args, extra))
    timeout = spec.quick_timeout if quick else spec.timeout
    log_path = logs / f"{name}.log"
    started = time.monotonic()
    with open(log_path, "w+b") as log:
        process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / f"{name}.py"), *args],
            cwd=ROOT,
            env={**os.environ, **extra, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            outcome.returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            outcome.timed_out = True
            stop(process)
            outcome.returncode = process.returncode
        except KeyboardInterrupt:
            stop(process)
            raise
        outcome.seconds = time.monotonic() - started
        log.seek(0)
        output = log.read().decode("utf-8", errors="replace")
    outcome.tail = "\n".join(output.rstrip().splitlines()[-TAIL_LINES:])
    try:
        outcome.result = parse_result(output)
    except ValueError as exc:
        outcome.error = str(exc)
    if outcome.timed_out:
        outcome.result = None
        outcome.error = f"timed out after {timeout:.0f} s"
    elif outcome.result is None and not outcome.error:
        outcome.error = f"exited with {outcome.returncode} without a RESULT line"
    return outcome


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the bench's process group (the benches clean up on it), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def service_problems(base: dict[str, str], needed: set[str]) -> dict[str, str]:
    """The needed services that do not answer, with why."""
    problems = {}
    if "postgres" in needed:
        try:
            import psycopg

            url = urlsplit(base["DATABASE_URL"])._replace(scheme="postgresql")
            with psycopg.connect(urlunsplit(url), connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            problems["postgres"] = f"PostgreSQL at {mask(base['DATABASE_URL'])}: {exc}"
    if "redis" in needed:
        try:
            import redis

            with redis.Redis.from_url(base["REDIS_URL"], socket_timeout=5) as client:
                client.ping()
        except Exception as exc:
            problems["redis"] = f"Redis at {mask(base['REDIS_URL'])}: {exc}"
    return problems


# --- the machine --------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine(base: dict[str, str]) -> dict[str, str]:
    cpu = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    os_name = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', _read("/etc/os-release"), re.M)
    facts = {
        "CPU": f"{cpu.group(1).strip() if cpu else platform.processor() or '?'}, "
        f"{os.cpu_count()} cores",
        "RAM": f"{int(mem.group(1)) / 2**20:.1f} GiB" if mem else "?",
        "OS": f"{os_name.group(1) if os_name else platform.system()}, "
        f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
    }
    try:
        import psycopg

        url = urlunsplit(urlsplit(base["DATABASE_URL"])._replace(scheme="postgresql"))
        with psycopg.connect(url, connect_timeout=5) as conn:
            facts["PostgreSQL"] = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    except Exception as exc:
        facts["PostgreSQL"] = f"not reachable ({type(exc).__name__})"
    try:
        import redis

        with redis.Redis.from_url(base["REDIS_URL"], socket_timeout=5) as client:
            facts["Redis"] = client.info("server")["redis_version"]
    except Exception as exc:
        facts["Redis"] = f"not reachable ({type(exc).__name__})"
    return facts


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    text = f"{head}" + (f" (branch {branch})" if branch and branch != "HEAD" else "")
    if changed:
        text += f", with {len(changed)} uncommitted changes to tracked files"
    return text


# --- the report ---------------------------------------------------------------------------------


def format_value(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def verdict(met) -> str:
    return {True: "met", False: "**MISSED**", None: ""}[met]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# Every bench computes its percentiles with tools.stats.percentile; the report says which.
PERCENTILES_NOTE = (
    "Percentiles (p50, p95, p99) and medians are **nearest-rank** in every bench: the value of "
    "rank ceil(q/100 x n) among the n sorted samples, always a measured value "
    "(`tools/stats.py`)."
)


def render(
    outcomes: list[Outcome],
    *,
    facts: dict[str, str],
    commit: str,
    started: dt.datetime,
    seconds: float,
    quick: bool,
    only: list[str] | None,
    load: tuple[float, float],
) -> str:
    ran = [o for o in outcomes if not o.failed]
    failed = [o for o in outcomes if o.failed]
    aimed = [f for o in ran for f in o.result["figures"] if f.get("met") is not None]
    missed = [
        f"{o.name}: {f['name']}" for o in ran for f in o.result["figures"] if f.get("met") is False
    ]
    kind = "a `--quick` run: shorter runs, a smoke test" if quick else "a full run"
    if only:
        kind += f", only {', '.join(only)}"
    lines = [
        "# Benchmarks",
        "",
        f"Written by `bench/run_all` ({kind}) on {started:%Y-%m-%d %H:%M} UTC; the run took "
        f"{seconds / 60:.1f} min. Each bench's figures come from the `RESULT` line it printed "
        "last; its whole output is in the log folder of the run.",
        "",
        PERCENTILES_NOTE,
        "",
        "| | |",
        "| --- | --- |",
        f"| commit | {_cell(commit)} |",
        *[f"| {k} | {_cell(v)} |" for k, v in facts.items()],
        f"| load average (1 min) | {load[0]:.2f} before the run, {load[1]:.2f} after |",
        "",
    ]
    if max(load) > 0.5 * (os.cpu_count() or 1):
        lines += [
            "Other processes shared the CPUs during the run (the load average above; after "
            "the run it includes the last bench's own): the throughput and latency figures "
            "are lower and noisier than on a quiet machine.",
            "",
        ]
    lines += [
        f"**Summary:** {len(outcomes)} benches, {len(ran)} ran, {len(failed)} failed"
        + (f" ({', '.join(o.name for o in failed)})" if failed else "")
        + f"; aims met {sum(1 for f in aimed if f['met'])} of {len(aimed)}"
        + (f"; missed: {'; '.join(missed)}" if missed else "")
        + ".",
        "",
    ]
    for o in outcomes:
        lines += [f"## {o.name}", ""]
        lines += ["```sh", o.command, "```", ""]
        if o.failed:
            lines += [
                f"**FAILED**: {o.error} ({o.seconds:.1f} s). The end of its output:",
                "",
                "```",
                o.tail or "(no output)",
                "```",
                "",
            ]
            continue
        status = f"{o.seconds:.1f} s, exit {o.returncode}"
        if o.returncode:
            status += " (the bench exits non-zero when an aim is missed)"
        lines += [status, ""]
        if o.error:
            lines += [f"Note: {o.error}", ""]
        lines += ["| figure | value | unit | aim | |", "| --- | ---: | --- | --- | --- |"]
        for f in o.result["figures"]:
            lines.append(
                f"| {_cell(f['name'])} | {format_value(f['value'])} | {_cell(f.get('unit', ''))}"
                f" | {_cell(f.get('aim', ''))} | {verdict(f.get('met'))} |"
            )
        lines.append("")
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every bench and write BENCHMARKS.md.")
    parser.add_argument("--quick", action="store_true", help="shorter runs, for a smoke test")
    parser.add_argument(
        "--only", action="append", help="run only these benches (repeat, or comma-separated)"
    )
    parser.add_argument("--output", type=Path, help="where to write the report")
    parser.add_argument("--logs", type=Path, help="folder for each bench's whole output")
    args = parser.parse_args(argv)

    every = discover()
    only = [n.strip() for value in args.only or [] for n in value.split(",") if n.strip()]
    unknown = [n for n in only if n not in every]
    if unknown:
        parser.error(f"no such bench: {', '.join(unknown)} (there are: {', '.join(every)})")
    names = [n for n in every if not only or n in only]
    output = args.output or (
        ROOT / "BENCHMARKS.md" if not (args.quick or only) else BENCH_DIR / "last-run.md"
    )
    logs = args.logs or Path(tempfile.mkdtemp(prefix="bench-run-all-"))
    logs.mkdir(parents=True, exist_ok=True)
    base = {
        "DATABASE_URL": os.environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
        "REDIS_URL": os.environ.get("REDIS_URL", "").strip() or DEFAULT_REDIS_URL,
        "BENCH_DB_PREFIX": os.environ.get("BENCH_DB_PREFIX", "").strip() or "bench",
        "BENCH_REDIS_DB": os.environ.get("BENCH_REDIS_DB", "").strip(),
    }
    needed = {s for n in names for s in SPECS.get(n, Spec()).services}
    problems = service_problems(base, needed)

    started = dt.datetime.now(dt.UTC)
    began = time.monotonic()
    load_before = os.getloadavg()[0]
    facts = machine(base)
    commit = git_commit()  # the code the benches run, before anything changes meanwhile
    print(f"bench/run_all: {', '.join(names)}; logs in {logs}", flush=True)
    outcomes = []
    for name in names:
        spec = SPECS.get(name, Spec())
        missing = [problems[s] for s in spec.services if s in problems]
        if missing:
            extra = bench_env(name, spec, quick=args.quick, base=base)
            outcome = Outcome(name, command_text(name, [], extra))
            outcome.error = "a service it needs does not answer: " + "; ".join(missing)
            outcomes.append(outcome)
            print(f"  {name}: FAILED ({outcome.error})", flush=True)
            continue
        print(f"  {name}: running ...", flush=True)
        outcome = run_one(name, quick=args.quick, base=base, logs=logs)
        outcomes.append(outcome)
        if outcome.failed:
            print(f"  {name}: FAILED ({outcome.error}) in {outcome.seconds:.0f} s", flush=True)
        else:
            figures = outcome.result["figures"]
            missed = sum(1 for f in figures if f.get("met") is False)
            print(
                f"  {name}: {len(figures)} figures, {missed} aims missed, {outcome.seconds:.0f} s",
                flush=True,
            )
    text = render(
        outcomes,
        facts=facts,
        commit=commit,
        started=started,
        seconds=time.monotonic() - began,
        quick=args.quick,
        only=only or None,
        load=(load_before, os.getloadavg()[0]),
    )
    output.write_text(text + "\n")
    print(f"bench/run_all: wrote {output}", flush=True)
    return 1 if any(o.failed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())

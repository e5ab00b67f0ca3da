"""Benchmark of stack templates (issue 10): importing the built-in customer-support template and
exporting the stack it made, time and queries per operation.

    .venv/bin/python bench/stacks.py [--runs N]

Runs on a throwaway SQLite database (the embedded default, migrated first) unless
DATABASE_URL is set, in which case it uses a database ``bench_stacks`` (or BENCH_DB) on that
PostgreSQL server (dropped first and at the end). Each run imports the template under a new
prefix (one transaction: validation, agents, rules, settings, workflows) and exports the stack
back; the figures are medians over the runs, after one warm-up.

Aims: an import under 500 ms and an export under 200 ms (a manager's click in the admin).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._db import database_urls, recreate_database  # noqa: E402
from tools.stats import percentile  # noqa: E402

BENCH_DB = os.environ.get("BENCH_DB", "bench_stacks")
AIM_IMPORT_MS = 500
AIM_EXPORT_MS = 200


def _database() -> str:
    """Point the settings at a fresh database; returns what it is, for the report."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        path = Path(tempfile.mkdtemp(prefix="bench-stacks-")) / "db.sqlite3"
        os.environ["SQLITE_PATH"] = str(path)
        return "SQLite (embedded default)"
    maintenance, bench = database_urls(url, BENCH_DB)
    recreate_database(maintenance, BENCH_DB, create=True)
    os.environ["DATABASE_URL"] = bench
    return "PostgreSQL"


def _drop(database: str) -> None:
    if database != "PostgreSQL":
        return
    from django.db import connections

    connections.close_all()
    maintenance, _ = database_urls(os.environ["DATABASE_URL"], BENCH_DB)
    recreate_database(maintenance, BENCH_DB, create=False)


class _Null:
    def write(self, text: str) -> None:
        pass


def _timed(fn):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = fn()
        elapsed = (time.perf_counter() - started) * 1000
    return result, elapsed, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    database = _database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from agents.models import Agent
    from core.models import Tenant
    from stacks.documents import stack_export
    from stacks.selectors import builtin_template
    from stacks.services import stack_import

    try:
        tenant = Tenant.objects.create(slug="bench", name="Bench")
        call_command(
            "create_user", "ann", "--tenant", "bench", "--role", "approver", stdout=_Null()
        )
        document = builtin_template("customer-support").document
        imports, exports, import_queries, export_queries = [], [], [], []
        for run in range(args.runs + 1):
            plan, import_ms, nq_import = _timed(
                lambda run=run: stack_import(
                    tenant=tenant, document=document, prefix=f"r{run}", approvers=["ann"]
                )
            )
            root = Agent.objects.get(tenant=tenant, slug=plan["rootAgentId"])
            exported, export_ms, nq_export = _timed(lambda root=root: stack_export(root=root))
            if run == 0:
                agents = len(exported["agents"])
                continue  # warm-up: first compiles and caches
            imports.append(import_ms)
            exports.append(export_ms)
            import_queries.append(nq_import)
            export_queries.append(nq_export)
    finally:
        _drop(database)

    import_ms, export_ms = percentile(imports, 50), percentile(exports, 50)
    print(f"stack templates on {database}: the built-in customer-support template, {agents} agents")
    print(f"runs: {args.runs} (after one warm-up), medians")
    for name, ms, queries, aim in (
        ("import", import_ms, max(import_queries), AIM_IMPORT_MS),
        ("export", export_ms, max(export_queries), AIM_EXPORT_MS),
    ):
        print(f"  {name}   {ms:8.1f} ms   {queries:4d} queries   aim < {aim} ms")
    figures = [
        {
            "name": "import of the customer-support template",
            "value": round(import_ms, 1),
            "unit": "ms",
            "aim": f"< {AIM_IMPORT_MS} ms",
            "met": import_ms < AIM_IMPORT_MS,
        },
        {
            "name": "queries per import",
            "value": max(import_queries),
            "unit": "queries",
            "aim": "",
            "met": None,
        },
        {
            "name": "export of that stack",
            "value": round(export_ms, 1),
            "unit": "ms",
            "aim": f"< {AIM_EXPORT_MS} ms",
            "met": export_ms < AIM_EXPORT_MS,
        },
        {
            "name": "queries per export",
            "value": max(export_queries),
            "unit": "queries",
            "aim": "",
            "met": None,
        },
    ]
    command = ".venv/bin/python bench/stacks.py"
    print("RESULT " + json.dumps({"bench": "stacks", "figures": figures, "command": command}))


if __name__ == "__main__":
    main()

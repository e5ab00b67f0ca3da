"""The PostgreSQL database a bench makes for itself next to DATABASE_URL's, and drops."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def database_urls(url: str, name: str) -> tuple[str, str]:
    """(maintenance database URL, the bench database ``name``'s URL) on the server of ``url``;
    exits with a message when ``url`` is not PostgreSQL's."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        bench = Path(sys.argv[0]).name
        print(
            f"{bench}: DATABASE_URL must be a postgres:// URL, not {parts.scheme}://",
            file=sys.stderr,
        )
        sys.exit(2)
    return (
        urlunsplit(parts._replace(scheme="postgresql", path="/postgres")),
        urlunsplit(parts._replace(path=f"/{name}")),
    )


def recreate_database(maintenance_url: str, name: str, *, create: bool) -> None:
    """Drop the database ``name`` (closing its connections), then create it when asked."""
    import psycopg

    with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def analyze() -> None:
    """ANALYZE the bench's database, through Django's connection, once its data is loaded: the
    statistics autovacuum keeps in production, by which the planner picks its indexes. This
    machine's PostgreSQL (as CI's) runs with autovacuum off, so without this a bench's tables
    never have any."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

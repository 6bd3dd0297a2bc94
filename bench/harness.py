"""What every benchmark shares: its own throwaway database, and Django configured on it."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"


@contextmanager
def throwaway_database(
    db: str, area: str, postgres_server: str, log: Callable[[str], None]
) -> Iterator[str]:
    """A database URL for one run, removed afterwards: a temporary SQLite file, or the
    PostgreSQL database `qinglian_bench_<area>` (dropped first if an interrupted run left it)."""
    if db == "sqlite":
        directory = tempfile.mkdtemp(prefix=f"qinglian-bench-{area}-")
        try:
            yield f"sqlite:///{directory}/bench.sqlite3"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    import psycopg

    name = f"qinglian_bench_{area}"

    def admin(statement: str) -> None:
        with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as connection:
            connection.execute(statement)

    admin(f"DROP DATABASE IF EXISTS {name}")
    admin(f"CREATE DATABASE {name}")
    log(f"created database {name}")
    try:
        yield f"{postgres_server}/{name}"
    finally:
        from django.db import connections

        connections.close_all()
        admin(f"DROP DATABASE IF EXISTS {name}")
        log(f"dropped database {name}")


def setup_django(database_url: str, *, queued_jobs: bool = False) -> None:
    """Django on the test settings. Their Huey runs each task at once, inside the call that
    queues it; with `queued_jobs` it queues them in memory and never runs them (no worker), so
    a measurement counts what a user waits for — the request and its enqueue — and not the
    background work a worker does afterwards."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["DATABASE_URL"] = database_url
    if queued_jobs:
        os.environ["QINGLIAN_HUEY_QUEUE"] = "memory"
    sys.path.insert(0, str(REPO))
    import django

    django.setup()

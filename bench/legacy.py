"""Benchmark: the legacy import of a generated year of history, then the full supervision run.

    python bench/legacy.py --db sqlite|postgresql [--rows 1000000] [--seed 1]

Sets up a throwaway database (SQLite: a temporary file; PostgreSQL: the database
`qinglian_bench_legacy`, dropped at the end) and migrates it. Then:

1. **generates** — not measured, in a child process so that its memory does not count in the
   peak — about `--rows` rows of one year of a group's history (the twelve months ending
   `--end`, default the generator's own end date) in the legacy interchange format
   (`qinglian.legacy.generator.generate`, `--seed`);
2. **imports** it with `qinglian.legacy.loader.legacy_import` — what `manage.py legacy_import`
   and the upload page call: the check of every file, then one atomic batch, commit included
   (`import_s`, `import_rows_per_s` over the rows in the files, the loader's own phases and
   the records written per table). Background jobs queue in memory meanwhile
   (`harness.setup_django(queued_jobs=True)`): the import's time is what the person
   importing waits for;
3. **runs the background jobs** the commit queued — the trading warnings of what was loaded —
   as the worker would (`background_s`), then **imports the folder again**: it is recognised
   and nothing is written (`reimport_s`, `reimport_noop`);
4. **runs every enabled rule** with `qinglian.supervision.services.run_rules` — what
   `manage.py supervision_run` calls — recording the findings (`supervision_run_s`), as of
   09:00 on the day after the history ends, after refreshing the planner's statistics
   (`analyze_s`, PostgreSQL: as after any bulk load).

Peak memory is the process's maximum resident set (`resource.getrusage`), so it covers the
import and the run (the generator's is reported apart). `--folder DIR` keeps the generated
folder in DIR and reuses it when it already holds the same size, seed and period; `--profile
FILE` writes a cProfile of the import to FILE. Progress goes to stderr; the last line of stdout
is one JSON object (see bench/README.md). Target (issue 7): at least 20,000 rows a second for
1,000,000 rows on PostgreSQL.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness import DEFAULT_POSTGRES_SERVER, REPO, setup_django, throwaway_database

STAMP = "bench-legacy.json"  # what a kept folder was generated with (not a CSV: never read)
# Generating runs in a child process; it prints its summary as JSON.
GENERATE = """
import datetime, json, resource, sys
from qinglian.legacy.generator import generate
folder, rows, seed, start, end = sys.argv[1:6]
summary = generate(
    folder, rows=int(rows), seed=int(seed),
    start=datetime.date.fromisoformat(start), end=datetime.date.fromisoformat(end),
)
print(json.dumps({
    "rows": summary.rows, "counts": summary.counts, "seconds": summary.seconds,
    "planted": len(summary.planted),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def log(message: str) -> None:
    print(f"[bench legacy] {message}", file=sys.stderr, flush=True)


def parse_arguments() -> argparse.Namespace:
    from qinglian.legacy.records import DEFAULT_END

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument(
        "--rows",
        type=int,
        default=1_000_000,
        help="rows of history generated, about (default 1000000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--end",
        type=datetime.date.fromisoformat,
        default=DEFAULT_END,
        help=f"last day of the generated year (default {DEFAULT_END})",
    )
    parser.add_argument("--folder", help="generate into this folder and keep it (reused)")
    parser.add_argument("--profile", help="write a cProfile of the import to this file")
    parser.add_argument(
        "--postgres-server",
        default=os.environ.get("BENCH_POSTGRES_SERVER", DEFAULT_POSTGRES_SERVER),
        help=f"PostgreSQL server URL without a database name (default {DEFAULT_POSTGRES_SERVER})",
    )
    arguments = parser.parse_args()
    if arguments.rows < 500:
        parser.error("--rows must be at least 500")
    return arguments


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def generate(arguments: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """The folder's history (generated in a child process, or found there already)."""
    start = arguments.end.replace(year=arguments.end.year - 1) + datetime.timedelta(days=1)
    wanted = {
        "rows": arguments.rows,
        "seed": arguments.seed,
        "start": start.isoformat(),
        "end": arguments.end.isoformat(),
    }
    stamp = folder / STAMP
    if stamp.is_file():
        kept = json.loads(stamp.read_text(encoding="utf-8"))
        if kept["wanted"] == wanted:
            log(f"reusing the history in {folder}")
            return {**kept["summary"], "seconds": 0.0, "reused": True}
    log(f"generating about {arguments.rows:,} rows (seed {arguments.seed}, {start} to "
        f"{arguments.end}) into {folder}")  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    finished = subprocess.run(
        [sys.executable, "-c", GENERATE, str(folder), *map(str, wanted.values())],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    summary: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    stamp.write_text(json.dumps({"wanted": wanted, "summary": summary}), encoding="utf-8")
    return {**summary, "reused": False}


def run(arguments: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from qinglian.core.actors import SYSTEM_ACTOR
    from qinglian.legacy.loader import legacy_import
    from qinglian.supervision.enums import RunStatus, RunTrigger
    from qinglian.supervision.services import run_rules

    call_command("migrate", verbosity=0, interactive=False)
    generated = generate(arguments, folder)
    log(
        f"{generated['rows']:,} rows, {generated['planted']} planted cases "
        f"(generated in {generated['seconds']:.1f} s)"
    )

    log(f"importing with legacy_import (peak so far {peak_rss_mb():.0f} MB)")
    profiler = None
    if arguments.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    report = legacy_import(folder, label="bench-legacy")
    import_s = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(arguments.profile)
        log(f"profile of the import written to {arguments.profile}")
    import_peak = peak_rss_mb()
    rows_per_s = report.row_total / import_s
    log(
        f"imported batch {report.batch_id}: {report.row_total:,} rows in {import_s:.1f} s "
        f"({rows_per_s:,.0f} rows/s; check {report.check_seconds:.1f} s; peak {import_peak:.0f} MB)"
    )
    for name, seconds in report.phases.items():
        log(f"  {name}: {seconds:.2f} s")

    # What a background worker does once the batch committed (the trading warnings of what
    # it loaded): jobs queue in memory here and are run now, timed apart, so that rule 16
    # sees the warnings.
    from huey.contrib.djhuey import HUEY

    started = time.perf_counter()
    jobs = 0
    while (task := HUEY.dequeue()) is not None:
        HUEY.execute(task)
        jobs += 1
    background_s = time.perf_counter() - started
    log(f"background jobs: {jobs} in {background_s:.1f} s")

    started = time.perf_counter()
    again = legacy_import(folder, label="bench-legacy")
    reimport_s = time.perf_counter() - started
    log(f"imported again in {reimport_s:.1f} s: created {again.created}")

    started = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    analyze_s = time.perf_counter() - started
    manifest = json.loads((folder / "planted.json").read_text(encoding="utf-8"))
    as_of = datetime.date.fromisoformat(manifest["period"]["end"]) + datetime.timedelta(days=1)
    now = timezone.make_aware(datetime.datetime.combine(as_of, datetime.time(9)))
    log(f"full supervision run as of {now:%Y-%m-%d %H:%M}")
    started = time.perf_counter()
    supervision = run_rules(actor=SYSTEM_ACTOR, trigger=RunTrigger.COMMAND, now=now)
    supervision_run_s = time.perf_counter() - started
    log(f"run {supervision.pk}: {supervision.new_count} findings in {supervision_run_s:.2f} s")
    failed = [code for code, stats in supervision.stats.items() if "error" in stats]
    return {
        "bench": "legacy",
        "db": arguments.db,
        "rows": report.row_total,
        "rows_requested": arguments.rows,
        "seed": arguments.seed,
        "period": manifest["period"],
        "generate_s": round(generated["seconds"], 2),
        "import_s": round(import_s, 2),
        "import_rows_per_s": round(rows_per_s),
        "check_s": round(report.check_seconds, 2),
        "phases_s": {name: round(seconds, 2) for name, seconds in report.phases.items()},
        "rows_per_table": report.rows,
        "written": report.written,
        "skipped": report.skipped,
        "background_jobs": jobs,
        "background_s": round(background_s, 2),
        "reimport_s": round(reimport_s, 2),
        "reimport_noop": not again.created and again.batch_id == report.batch_id,
        "analyze_s": round(analyze_s, 2),
        "supervision_run_s": round(supervision_run_s, 2),
        "findings": supervision.new_count,
        "findings_by_rule": {
            code: stats.get("new", 0)
            for code, stats in supervision.stats.items()
            if isinstance(stats, dict)
        },
        "failed_rules": failed,
        "run_ok": supervision.status == RunStatus.FINISHED and not failed,
        "peak_rss_mb": peak_rss_mb(),
        "import_peak_rss_mb": import_peak,
        "generate_peak_rss_mb": round(generated.get("peak_rss_mb", 0.0), 1),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def main() -> int:
    sys.path.insert(0, str(REPO))
    arguments = parse_arguments()
    with ExitStack() as stack:
        if arguments.folder:
            folder = Path(arguments.folder)
        else:
            folder = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="qinglian-bench-legacy-"))
            )
        url = stack.enter_context(
            throwaway_database(arguments.db, "legacy", arguments.postgres_server, log)
        )
        setup_django(url, queued_jobs=True)
        result = run(arguments, folder)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["run_ok"] and result["reimport_noop"] else 1


if __name__ == "__main__":
    sys.exit(main())

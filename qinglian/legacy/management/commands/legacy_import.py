"""`manage.py legacy_import FOLDER [--dry-run] [--online] [--json]`: check a folder in the
legacy interchange format and load it as history in one atomic batch (nothing when it has
errors); print the report: rows per table, records written, seconds, rows per second."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from qinglian.legacy.loader import LoadRefused, legacy_import


class Command(BaseCommand):
    help = (
        "Check every file of a legacy folder, then load it as history in one atomic batch "
        "(nothing when there are errors; loading the same folder again changes nothing). "
        "Prints rows per table, records written, seconds and rows per second; --json prints "
        "the report as JSON. Exits 1 when the folder is refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder")
        parser.add_argument("--dry-run", action="store_true", help="check only, load nothing")
        parser.add_argument(
            "--online",
            action="store_true",
            help=(
                "others use the installation meanwhile: lock no table for the load (PostgreSQL "
                "checks its references row by row at commit, slower)"
            ),
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(
        self, *args: Any, folder: str, dry_run: bool, online: bool, json: bool, **options: Any
    ) -> None:
        path = Path(folder)
        if not path.is_dir():
            raise CommandError(f"{path} is not a folder")
        try:
            report = legacy_import(path, dry_run=dry_run, online=online)
        except LoadRefused as refused:
            for problem in refused.problems[:1000]:
                self.stderr.write(str(problem))
            self.stderr.write(str(refused))
            raise SystemExit(1) from refused
        data = report.as_dict()
        if json:
            self.stdout.write(_dumps(data))
            return
        if not report.created:
            self.stdout.write(
                f"Already loaded as batch {report.batch_id} (same fingerprint): nothing changed."
            )
        elif dry_run:
            self.stdout.write("Dry run: the folder is clean; nothing was loaded.")
        else:
            self.stdout.write(f"Loaded batch {report.batch_id}.")
        for table, count in report.rows.items():
            self.stdout.write(f"  {table:<24} {count:>9}")
        for table, count in report.written.items():
            self.stdout.write(f"  → {table:<30} {count:>9}")
        for reason, count in report.skipped.items():
            self.stdout.write(f"  skipped: {reason}: {count}")
        self.stdout.write(
            f"{report.row_total} rows in {report.seconds:.2f} s "
            f"({report.rows_per_second:,.0f} rows/s; check {report.check_seconds:.2f} s)"
        )


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)

"""`manage.py legacy_check FOLDER`: check a folder in the legacy interchange format without
loading anything; lists every problem (file, row, column) and exits 1 when there are errors."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from qinglian.legacy.reader import read_folder


class Command(BaseCommand):
    help = (
        "Check every file of a legacy folder (headers, types, dates, keys, references between "
        "files; USCC check characters as warnings) and list the problems as FILE:ROW [COLUMN]. "
        "The last line is a JSON summary (rows, seconds, rows per second, errors, warnings, "
        "fingerprint). Exits 1 when the folder has errors. Loads nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder")
        parser.add_argument(
            "--max-problems", type=int, default=1000, help="problems listed at most (all counted)"
        )

    def handle(self, *args: Any, folder: str, max_problems: int, **options: Any) -> None:
        path = Path(folder)
        if not path.is_dir():
            raise CommandError(f"{path} is not a folder")
        batch = read_folder(path, keep_rows=False, max_problems=max_problems)
        for problem in batch.problems:
            self.stdout.write(str(problem))
        errors = batch.error_count
        self.stdout.write(
            json.dumps(
                {
                    "rows": batch.row_total,
                    "seconds": round(batch.seconds, 2),
                    "rows_per_s": round(batch.row_total / batch.seconds) if batch.seconds else 0,
                    "errors": errors,
                    "warnings": batch.problem_total - errors,
                    "fingerprint": batch.fingerprint,
                }
            )
        )
        if errors:
            raise SystemExit(1)

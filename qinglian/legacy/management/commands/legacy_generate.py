"""`manage.py legacy_generate OUT_DIR --rows N --seed S`: a folder of realistic history in the
legacy interchange format, with planted violations of the supervision rules listed in
OUT_DIR/planted.json. Writes files only (no database)."""

import datetime
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from qinglian.legacy.generator import generate
from qinglian.legacy.records import DEFAULT_END, DEFAULT_START


class Command(BaseCommand):
    help = (
        "Write a group's history in the legacy interchange format (one CSV per table, about "
        "--rows rows in all) with planted violations of the supervision rules, listed in "
        "planted.json. The same --rows and --seed give the same files. Prints one JSON line: "
        "rows, seconds, rows per second, planted cases."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out_dir", help="the folder to write (created if missing)")
        parser.add_argument("--rows", type=int, default=20_000, help="rows in all (about)")
        parser.add_argument("--seed", type=int, default=1, help="random seed")
        parser.add_argument(
            "--start",
            type=datetime.date.fromisoformat,
            default=DEFAULT_START,
            help=f"first day of the history (default {DEFAULT_START})",
        )
        parser.add_argument(
            "--end",
            type=datetime.date.fromisoformat,
            default=DEFAULT_END,
            help=f"last day of the history (default {DEFAULT_END})",
        )

    def handle(
        self,
        *args: Any,
        out_dir: str,
        rows: int,
        seed: int,
        start: datetime.date,
        end: datetime.date,
        **options: Any,
    ) -> None:
        folder = Path(out_dir)
        if folder.exists() and not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        if rows < 500:
            raise CommandError("--rows must be at least 500")
        try:
            summary = generate(folder, rows=rows, seed=seed, start=start, end=end)
        except ValueError as error:
            raise CommandError(str(error)) from error
        for item in summary.skipped:
            self.stderr.write(f"not planted: {item['rule']} {item['check']} ({item['reason']})")
        self.stdout.write(
            json.dumps(
                {
                    "folder": str(folder),
                    "rows": summary.rows,
                    "seconds": round(summary.seconds, 2),
                    "rows_per_s": round(summary.rows_per_second),
                    "planted": len(summary.planted),
                    "rules": sorted({item["rule"] for item in summary.planted}),
                }
            )
        )

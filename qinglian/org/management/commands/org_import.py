from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.org.importing import MAX_FILE_BYTES, org_workbook_import


class Command(BaseCommand):
    help = (
        "Import companies, departments and users from an .xlsx workbook (see docs/import.md), "
        "all or nothing, as the system actor. Exits non-zero and lists every problem if any row "
        "is wrong."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The .xlsx workbook")
        parser.add_argument(
            "--dry-run", action="store_true", help="Only check the workbook; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CommandError(f"The file is larger than {MAX_FILE_BYTES // 2**20} MB.")
        with path.open("rb") as source:
            result = org_workbook_import(
                actor=SYSTEM_ACTOR, source=source, filename=path.name, dry_run=options["dry_run"]
            )
        if not result.is_success:
            for problem in result.problems:
                self.stderr.write(str(problem))
            raise CommandError(
                f"Nothing was imported: {len(result.problems)} problem(s) in {path.name}."
            )
        counts = result.counts
        summary = (
            f"{counts.companies} companies, {counts.departments} departments, "
            f"{counts.users} users, {counts.role_assignments} role assignments, "
            f"{counts.department_heads} department heads"
        )
        if result.dry_run:
            self.stdout.write(f"Dry run: the workbook is valid; it would create {summary}.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported {summary}."))

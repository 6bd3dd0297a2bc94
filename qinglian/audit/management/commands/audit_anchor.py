from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from qinglian.audit.services import audit_anchor_export


class Command(BaseCommand):
    help = "Write today's audit head hashes to a file kept outside the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, default=None, help="default: AUDIT_ANCHOR_DIR")

    def handle(self, *args: Any, dir: Path | None, **options: Any) -> None:
        self.stdout.write(str(audit_anchor_export(dir)))

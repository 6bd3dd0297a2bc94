import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import ApplicationError
from qinglian.supervision.services import rule_parameters_export, rule_parameters_load


class Command(BaseCommand):
    help = (
        "Move the inspectors' rule parameters between environments: --export FILE writes every "
        "rule's current parameters as JSON, --load FILE applies such a file (all or nothing; "
        "each changed rule gets a new, audited parameter version)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--export", type=Path, metavar="FILE")
        group.add_argument("--load", type=Path, metavar="FILE")

    def handle(self, *args: Any, export: Path | None, load: Path | None, **options: Any) -> None:
        if export is not None:
            export.write_text(
                json.dumps(rule_parameters_export(), ensure_ascii=False, indent=2) + "\n",
                encoding="utf-8",
            )
            self.stdout.write(f"parameters written to {export}")
            return
        assert load is not None
        try:
            document = json.loads(load.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot read {load}: {error}") from error
        if not isinstance(document, dict):
            raise CommandError(f"{load}: expected a JSON object")
        try:
            changed = rule_parameters_load(actor=SYSTEM_ACTOR, document=document)
        except ApplicationError as error:
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.fields.items())
            raise CommandError(f"{error.message} {detail}".strip()) from error
        self.stdout.write(
            f"{len(changed)} rules changed" + (f": {', '.join(changed)}" if changed else "")
        )

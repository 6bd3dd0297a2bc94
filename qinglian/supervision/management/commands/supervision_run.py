import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import ApplicationError
from qinglian.supervision.enums import RunStatus, RunTrigger
from qinglian.supervision.reports import run_finding_lines
from qinglian.supervision.services import run_rules


class Command(BaseCommand):
    help = (
        "Run the supervision rules (every enabled rule, or those named with --rule) and record "
        "their findings. A rule whose inputs did not change since its last run is skipped and its "
        "findings are seen again; --full runs every rule in full. --json prints one JSON line "
        "per finding hit (rule code, severity, the identifiers of the documents, people and "
        "companies involved, and under source_ids the old systems' identifiers of the imported "
        "documents, partners, people and companies); "
        "the summary goes to stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON line per finding")
        parser.add_argument("--rule", action="append", default=[], help="a rule code (repeatable)")
        parser.add_argument(
            "--full", action="store_true", help="run every rule, also those with unchanged inputs"
        )

    def handle(self, *args: Any, json: bool, rule: list[str], full: bool, **options: Any) -> None:
        try:
            run = run_rules(
                actor=SYSTEM_ACTOR,
                trigger=RunTrigger.COMMAND,
                rule_codes=rule or None,
                full=full,
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        if json:
            for line in run_finding_lines(run):
                self.stdout.write(_dumps(line))
        summary = (
            f"run {run.pk}: {run.new_count} new, {run.seen_again_count} seen again; "
            f"ran: {', '.join(run.ran_rule_codes) or '-'}; "
            f"skipped as unchanged: {', '.join(run.skipped_rule_codes) or '-'}"
        )
        (self.stderr if json else self.stdout).write(summary)
        if run.status == RunStatus.FAILED:
            raise CommandError(f"some rules failed:\n{run.error}")


def _dumps(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False, sort_keys=True)

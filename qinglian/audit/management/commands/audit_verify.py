import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from qinglian.audit.services import audit_anchor_check, audit_chain_verify


class Command(BaseCommand):
    help = "Recompute every audit hash chain; name the first broken event. Exit 1 when broken."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            type=Path,
            action="append",
            default=[],
            help="an anchor file written by audit_anchor (repeatable): its heads must still match",
        )

    def handle(self, *args: Any, anchor: list[Path], **options: Any) -> None:
        report = audit_chain_verify()
        breaks = list(report.breaks)
        for path in anchor:
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise CommandError(f"cannot read anchor {path}: {error}") from error
            breaks.extend(audit_anchor_check(document))
        if not breaks:
            self.stdout.write(
                f"intact: {report.chains} chains, {report.events} events verified"
                + (f", {len(anchor)} anchor(s) match" if anchor else "")
            )
            return
        for problem in breaks:
            self.stdout.write(
                f"BROKEN: chain {problem.chain} at sequence {problem.seq}"
                + (f" (event id {problem.event_id})" if problem.event_id else "")
                + f": {problem.reason}"
            )
        raise CommandError(
            f"audit trail broken: first bad sequence {breaks[0].seq} in chain {breaks[0].chain}",
            returncode=1,
        )

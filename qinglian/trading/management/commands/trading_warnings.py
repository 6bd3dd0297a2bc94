"""`manage.py trading_warnings [--refresh] --summary`: the open warnings per kind as one JSON
object on stdout, for operators' monitoring and cron."""

import datetime
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import ApplicationError
from qinglian.org.models import Company
from qinglian.trading.selectors.warnings import warning_counts_unscoped
from qinglian.trading.services.warnings import warnings_refresh


class Command(BaseCommand):
    help = (
        "Print the trading warnings not yet resolved per kind as one JSON object, e.g. "
        '{"credit": 3, "overdue": 5, "contract": 7, "shipment": 2, "warehouse": 1, "total": 18}. '
        "--refresh runs the detection first (its own figures go to stderr); --state open counts "
        "only warnings nobody has acknowledged yet; --company CODE limits both to one company."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--refresh", action="store_true", help="run the detection first")
        parser.add_argument(
            "--summary",
            action="store_true",
            help="print the counts per kind (the default output)",
        )
        parser.add_argument(
            "--state",
            choices=["unresolved", "open", "acknowledged", "resolved"],
            default="unresolved",
            help="which warnings to count (default: unresolved = open or acknowledged)",
        )
        parser.add_argument("--company", metavar="CODE", help="one company (its code)")
        parser.add_argument(
            "--date", type=datetime.date.fromisoformat, help="detect as of this day (YYYY-MM-DD)"
        )

    def handle(
        self,
        *args: Any,
        refresh: bool,
        summary: bool,
        state: str,
        company: str | None,
        date: datetime.date | None,
        **options: Any,
    ) -> None:
        company_ids: list[int] | None = None
        if company:
            found = Company.objects.filter(code=company).values_list("pk", flat=True).first()
            if found is None:
                raise CommandError(f"no company with the code {company!r}")
            company_ids = [found]
        if refresh:
            try:
                result = warnings_refresh(
                    company=company_ids[0] if company_ids else None,
                    on_date=date,
                    actor=SYSTEM_ACTOR,
                )
            except ApplicationError as error:
                raise CommandError(error.message) from error
            self.stderr.write(json.dumps({"refresh": result.as_dict()}))
        counts = warning_counts_unscoped(company_ids=company_ids)
        self.stdout.write(json.dumps(counts.summary(state)))

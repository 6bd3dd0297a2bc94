from typing import Any

from django.core.management.base import BaseCommand
from django.utils import translation

from qinglian.approvals.demo import (
    approval_requests_load,
    approval_templates_load,
    expense_history_load,
)
from qinglian.org.demo import DEMO_PASSWORD, demo_load
from qinglian.org.enums import RoleCode
from qinglian.supervision.demo import supervision_demo_run
from qinglian.trading.demo import project_supply_demo_load, trading_demo_load


class Command(BaseCommand):
    help = (
        "Load the demo organisation (东港集团), its approval flows and a few demo requests, a "
        "year of expense claims and of trading, and run the supervision rules once; safe to "
        "run again. Prints the demo logins."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override("zh-hans"):
            result = demo_load()
            templates = approval_templates_load()
            requests = approval_requests_load()
            claims = expense_history_load()
            trading = trading_demo_load()
            supply = project_supply_demo_load()
            run = supervision_demo_run()
            by_role: dict[str, list[str]] = {}
            for role, username, name, company in result.logins:
                by_role.setdefault(role, []).append(f"{username}（{name}·{company}）")
            self.stdout.write(
                f"Demo organisation 东港集团 ready ({result.created} records created)."
            )
            self.stdout.write(
                f"Approval flows ready ({templates} saved); "
                f"{requests} demo approval requests created."
            )
            self.stdout.write(f"Expense claims of 东港建设 over the year: {claims} created.")
            self.stdout.write(
                f"Trading demo 东港商贸 ready ({trading.flows} approval flows saved, "
                f"{trading.created} records created"
                + (f": {trading.summary()}" if trading.created else "")
                + ")."
            )
            self.stdout.write(
                f"Materials purchasing of 东港建设 ready ({supply.created} records created"
                + (f": {supply.summary()}" if supply.created else "")
                + ")."
            )
            if run is None:
                self.stdout.write("Supervision: rules already run, no new run.")
            else:
                self.stdout.write(f"Supervision rules run once: {run.new_count} findings.")
                if run.error:
                    self.stderr.write(f"Some supervision rules failed:\n{run.error}")
            self.stdout.write(
                f"Sign in at http://127.0.0.1:8000 — demo password for everyone: {DEMO_PASSWORD}"
            )
            for role in RoleCode:
                accounts = by_role.get(str(role.label), [])
                self.stdout.write(f"  {role.label}: {', '.join(accounts)}")

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import translation

from qinglian.org.demo import DEMO_PASSWORD, demo_load


class Command(BaseCommand):
    help = "Load the demo organisation (东港集团); safe to run again. Prints the demo logins."

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override("zh-hans"):
            result = demo_load()
        self.stdout.write(f"Demo organisation ready ({result.created} records created).")
        self.stdout.write(f"Every demo account's password: {DEMO_PASSWORD}")
        self.stdout.write("Sign-ins by role (role · user name · name · company):")
        seen: set[str] = set()
        for role, username, name, company in sorted(result.logins):
            marker = "" if role in seen else "*"
            seen.add(role)
            self.stdout.write(f"  {marker}{role:<10} {username:<14} {name:<4} {company}")
        self.stdout.write("  (* = suggested account for that role)")

"""Benchmark: the supervision rules over a generated group's history with planted violations.

    python bench/detection.py --db sqlite|postgresql [--rows 200000] [--seed 1] [--tag NAME]

Sets up a throwaway database (SQLite: a temporary file; PostgreSQL: the database
`qinglian_bench_detection`, or `qinglian_bench_detection_NAME` with `--tag`, dropped at the
end) and migrates it. Then:

1. **generates** — not measured — about `--rows` rows of a group's history in the legacy
   interchange format into a temporary folder (`qinglian.legacy.generator.generate`: companies,
   people, partners, approvals, contracts, receipts, issues, invoices, payments, stocktakes of
   clean trade, plus the planted violations listed in `planted.json`, each with its rule code
   and the source identifiers of the records involved);
2. **loads** it as history with `qinglian.legacy.loader.legacy_import` (one batch; `import_s`);
3. **runs every enabled rule** with `qinglian.supervision.services.run_rules` — what
   `manage.py supervision_run` calls — and records the findings (`full_run_s`), as of 09:00
   on the day after the history ends (`--as-of` for another day): the rules look back from
   their `now`, so the figures do not drift with today's date;
4. **runs them again**, incrementally as `run_rules` does by default: a rule whose inputs
   (the tables it reads, its parameters, its code, the day or the moment its result depends
   on) did not change since its last run is skipped and its findings are seen again. First
   ten minutes later with nothing changed (`rerun_s`: the rules that depend on the exact
   moment run, the others are skipped; no finding is new), then ten minutes after that with
   one small change made through the services — a finance clerk (created before the full
   run) posts one customer receipt of 1,000 yuan against an effective sales contract
   (`small_change_rerun_s`: the rules that read payments, the ledgers or the contracts the
   receipt touched run, and those of the moment; `rerun_ran`, `rerun_skipped`,
   `small_change_ran`, `small_change_skipped` name them). A re-import cannot stand for a
   small change: an import may touch any table, so after one every rule runs. Last, a full
   run (`full=True`) at the same moment checks that the incremental run found exactly what
   running everything finds (`incremental_matches_full`: no new finding, the same findings
   seen; not timed);
5. **scores** the findings of the full run against the planted cases.

Matching a finding to a planted case. The source identifiers of a finding are those
`supervision_run --json` prints (`qinglian.supervision.reports.run_finding_lines`, key
`source_ids`), grouped as documents (approval requests, contracts, receipts, issues, invoices,
payments, stocktakes …), partners, people and companies. The identifiers of a planted case are
grouped the same way (its `ids` tables: approval_requests, contracts, goods_receipts,
goods_issues, invoices, payments, stocktakes → documents; partners; employees → people;
companies). A finding **involves** a planted case when both are of the same rule code and, at
the most specific group in which BOTH name something — documents first, then partners, then
people, then companies — they share at least one identifier. (So a finding that names
documents is judged by its documents only: sharing an accountant or a company with a planted
case is not enough; a company-year finding naming only a company is judged by the company.)

- a planted case is **recalled** when at least one finding of its rule involves it;
- a finding is a **true positive** when it involves at least one planted case of its rule;
  several findings about one planted case are all true positives;
- per rule: `recall` = recalled cases / planted cases, `precision` = true-positive findings /
  findings (null when the rule had no case planted, or found nothing);
- overall: the same over every rule that had cases planted. Findings of rules the generator
  plants nothing for (rule 16, trading warnings) are counted under `unplanted_findings` and
  left out of the overall figures.

Targets (issue 6): recall ≥ 0.95 and precision ≥ 0.9 per rule; a full run over 1,000,000
documents in under 60 s on PostgreSQL. `documents` counts the document records the load
wrote: approval requests, contracts, stock documents (receipts and issues), invoices, payments
and stocktakes (lines, steps, ledgers and master data not counted; `documents_in_files` counts
the same tables' rows in the folder, receivables included — the old systems' payments that
are not supplier payments or customer receipts stay in the approval requests that decided
them). Progress goes to stderr; the last line
of stdout is one JSON object (see bench/README.md). With `--dump FILE` the findings and the
planted cases with their verdicts are written to FILE as JSON (for looking at misses).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import DEFAULT_POSTGRES_SERVER, setup_django, throwaway_database

# What the load writes that counts as a document.
LOADED_DOCUMENTS = (
    "approvals.approvalrequest",
    "trading.contract",
    "trading.stockdocument",
    "trading.invoice",
    "trading.payment",
    "trading.stocktake",
)
DOCUMENT_TABLES = (
    "approval_requests",
    "contracts",
    "goods_receipts",
    "goods_issues",
    "invoices",
    "payments",
    "receivables",
    "stocktakes",
)


def log(message: str) -> None:
    print(f"[bench detection] {message}", file=sys.stderr, flush=True)


def tag(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9_]{0,20}", text):
        raise argparse.ArgumentTypeError("lower-case letters, digits and _ only")
    return f"_{text}" if text else ""


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument(
        "--rows",
        type=int,
        default=200_000,
        help="rows of history generated, about (default 200000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--dump", help="write the findings and planted cases with verdicts here")
    parser.add_argument(
        "--as-of",
        type=datetime.date.fromisoformat,
        help="the day the rules run on (default: the day after the history ends)",
    )
    parser.add_argument(
        "--tag",
        default="",
        type=tag,
        help="appended to the PostgreSQL database's name, to run several benchmarks at once",
    )
    parser.add_argument(
        "--postgres-server",
        default=os.environ.get("BENCH_POSTGRES_SERVER", DEFAULT_POSTGRES_SERVER),
        help=f"PostgreSQL server URL without a database name (default {DEFAULT_POSTGRES_SERVER})",
    )
    arguments = parser.parse_args()
    if arguments.rows < 500:
        parser.error("--rows must be at least 500")
    return arguments


# ---------------------------------------------------------------- the small change


def receipt_setup() -> tuple[Any, Any]:
    """An effective sales contract, and a finance clerk of its company who may post a
    receipt against it (imported staff cannot sign in)."""
    from qinglian.org.enums import RoleCode
    from qinglian.org.factories import make_user
    from qinglian.trading.enums import ContractKind, ContractStatus
    from qinglian.trading.models import Contract

    contract = (
        Contract.objects.filter(kind=ContractKind.SALES, status=ContractStatus.EFFECTIVE)
        .select_related("company")
        .order_by("-id")
        .first()
    )
    assert contract is not None, "the generated history has no effective sales contract"
    clerk = make_user(
        company=contract.company,
        roles=(RoleCode.FINANCE,),
        username="bench-finance",
        employee_number="BENCH-FIN",
        name="基准财务",
    )
    return contract, clerk


def receipt_post_one(contract: Any, clerk: Any, as_of: datetime.date) -> str:
    """The small change: one customer receipt of 1,000 yuan, recorded and posted."""
    from qinglian.core import clock
    from qinglian.trading.services.money import payment_create, receipt_post

    paid_on = min(as_of - datetime.timedelta(days=1), clock.today())
    receipt = payment_create(
        actor=clerk, contract_id=contract.pk, amount="1000.00", paid_on=paid_on
    )
    return receipt_post(actor=clerk, payment_id=receipt.pk).number


# ---------------------------------------------------------------- the run


def run(arguments: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from qinglian.core.actors import SYSTEM_ACTOR
    from qinglian.legacy.generator import generate
    from qinglian.legacy.loader import legacy_import
    from qinglian.legacy.scoring import score
    from qinglian.supervision.enums import RunStatus, RunTrigger
    from qinglian.supervision.models import Finding
    from qinglian.supervision.reports import run_finding_lines
    from qinglian.supervision.services import run_rules

    call_command("migrate", verbosity=0, interactive=False)
    log(f"generating about {arguments.rows:,} rows (seed {arguments.seed}) into {folder}")
    started = time.perf_counter()
    summary = generate(folder, rows=arguments.rows, seed=arguments.seed)
    generate_s = time.perf_counter() - started
    manifest = json.loads((folder / "planted.json").read_text(encoding="utf-8"))
    planted = manifest["planted"]
    for item in manifest.get("skipped") or []:
        log(f"not planted: {item['rule']} {item['check']} ({item['reason']})")
    documents_in_files = sum(summary.counts.get(table, 0) for table in DOCUMENT_TABLES)
    log(
        f"generated {summary.rows:,} rows ({documents_in_files:,} documents) in "
        f"{generate_s:.1f} s, "
        f"{len(planted)} planted cases"
    )

    log("loading with legacy_import")
    started = time.perf_counter()
    report = legacy_import(folder, label="bench-detection")
    import_s = time.perf_counter() - started
    documents = sum(report.written.get(key, 0) for key in LOADED_DOCUMENTS)
    log(f"loaded batch {report.batch_id} ({documents:,} documents) in {import_s:.1f} s")
    with connection.cursor() as cursor:  # fresh statistics, as after any bulk load
        cursor.execute("ANALYZE")
    contract, clerk = receipt_setup()

    as_of = arguments.as_of or (
        datetime.date.fromisoformat(manifest["period"]["end"]) + datetime.timedelta(days=1)
    )
    # The rules look back from `now` (a year, by default): run them on the morning after the
    # history ends, as on the day it was taken over, whatever today's date.
    now = timezone.make_aware(datetime.datetime.combine(as_of, datetime.time(9)))
    log(f"full run of every enabled rule as of {now:%Y-%m-%d %H:%M}")
    started = time.perf_counter()
    first = run_rules(actor=SYSTEM_ACTOR, trigger=RunTrigger.COMMAND, now=now)
    full_run_s = time.perf_counter() - started
    log(f"full run {first.pk}: {first.new_count} findings in {full_run_s:.2f} s ({first.status})")
    for code, stats in first.stats.items():
        log(f"  {code}: {stats}")
    lines = list(run_finding_lines(first))

    log("second run ten minutes later, nothing changed")
    started = time.perf_counter()
    second = run_rules(
        actor=SYSTEM_ACTOR, trigger=RunTrigger.COMMAND, now=now + datetime.timedelta(minutes=10)
    )
    rerun_s = time.perf_counter() - started
    log(
        f"second run {second.pk}: {second.new_count} new, {second.seen_again_count} seen again "
        f"in {rerun_s:.2f} s; ran {second.ran_rule_codes}"
    )

    receipt = receipt_post_one(contract, clerk, as_of)
    log(f"posted receipt {receipt} against contract {contract.number}")
    started = time.perf_counter()
    third = run_rules(
        actor=SYSTEM_ACTOR, trigger=RunTrigger.COMMAND, now=now + datetime.timedelta(minutes=20)
    )
    small_change_rerun_s = time.perf_counter() - started
    log(
        f"third run {third.pk}: {third.new_count} new, {third.seen_again_count} seen again "
        f"in {small_change_rerun_s:.2f} s; ran {third.ran_rule_codes}"
    )
    log("check: a full run at the same moment finds exactly what the incremental one did")
    check = run_rules(
        actor=SYSTEM_ACTOR,
        trigger=RunTrigger.COMMAND,
        now=now + datetime.timedelta(minutes=20),
        full=True,
    )
    incremental_matches_full = (
        check.new_count == 0
        and check.seen_again_count == third.new_count + third.seen_again_count
        and not Finding.objects.filter(last_run_id=third.pk).exists()
    )
    log(f"full run {check.pk}: incremental matches full: {incremental_matches_full}")

    rule_seconds = {
        code: float(stats.get("seconds", 0.0))
        for code, stats in first.stats.items()
        if isinstance(stats, dict)
    }
    rules, overall, verdicts = score(planted, lines, rule_seconds)
    for code, figures in rules.items():
        log(
            f"  {code}: planted {figures['planted']}, recalled {figures['recalled']}, "
            f"found {figures['found']} ({figures['true_positives']} true), "
            f"recall {figures['recall']}, precision {figures['precision']}"
        )
    if arguments.dump:
        Path(arguments.dump).write_text(
            json.dumps(verdicts, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        log(f"verdicts written to {arguments.dump}")
    failed = [code for code, stats in first.stats.items() if "error" in stats]
    return {
        "bench": "detection",
        "db": arguments.db,
        "rows": summary.rows,
        "rows_requested": arguments.rows,
        "seed": arguments.seed,
        "as_of": as_of.isoformat(),
        "documents": documents,
        "documents_in_files": documents_in_files,
        "generate_s": round(generate_s, 2),
        "import_s": round(import_s, 2),
        "full_run_s": round(full_run_s, 2),
        "rerun_s": round(rerun_s, 2),
        "rerun_new": second.new_count,
        "rerun_ran": second.ran_rule_codes,
        "rerun_skipped": second.skipped_rule_codes,
        "small_change_rerun_s": round(small_change_rerun_s, 2),
        "small_change_new": third.new_count,
        "small_change_ran": third.ran_rule_codes,
        "small_change_skipped": third.skipped_rule_codes,
        "incremental_matches_full": incremental_matches_full,
        "findings": len(lines),
        "failed_rules": failed,
        "run_ok": incremental_matches_full
        and all(run.status == RunStatus.FINISHED for run in (first, second, third, check)),
        "recall": overall["recall"],
        "precision": overall["precision"],
        "overall": overall,
        "rules": rules,
    }


def main() -> int:
    arguments = parse_arguments()
    with (
        tempfile.TemporaryDirectory(prefix="qinglian-bench-detection-") as folder,
        throwaway_database(
            arguments.db, f"detection{arguments.tag}", arguments.postgres_server, log
        ) as url,
    ):
        setup_django(url)
        result = run(arguments, Path(folder))
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["run_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

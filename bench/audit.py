"""Benchmark: appending to the hash-chained audit trail, and verifying it.

    python bench/audit.py --db sqlite|postgresql --events N [--writers K]

Sets up a throwaway database (SQLite: a temporary file; PostgreSQL: the database
`qinglian_bench_audit`, dropped at the end), migrates it, creates a small group, then appends
N events through the real service path — `audit_record` inside `transaction.atomic()`, one
transaction (one commit) per event, as a service does — first with one writer, then with K
threads writing N events in all to K different companies' chains; finally it verifies every
chain and requires it intact. Progress goes to stderr; the last line of stdout is one JSON
object with the figures (see bench/README.md). Durability stays as the application configures
it: every event is a real commit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from harness import DEFAULT_POSTGRES_SERVER, setup_django, throwaway_database


def log(message: str) -> None:
    print(f"[bench audit] {message}", file=sys.stderr, flush=True)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument(
        "--events", type=int, default=20000, help="events per phase (default 20000)"
    )
    parser.add_argument(
        "--writers",
        type=int,
        default=4,
        help="threads of the concurrent phase, one company each (default 4; 0 skips the phase)",
    )
    parser.add_argument(
        "--postgres-server",
        default=os.environ.get("BENCH_POSTGRES_SERVER", DEFAULT_POSTGRES_SERVER),
        help=f"PostgreSQL server URL without a database name (default {DEFAULT_POSTGRES_SERVER})",
    )
    arguments = parser.parse_args()
    if arguments.events < 1 or arguments.writers < 0:
        parser.error("--events must be at least 1 and --writers at least 0")
    return arguments


# ---------------------------------------------------------------- the throwaway database


# ---------------------------------------------------------------- the work


def make_org(writers: int) -> tuple[Any, list[Any]]:
    """A group, one subsidiary for the single writer and one per concurrent writer, and the
    user who acts. Through the services, like the application."""
    from qinglian.org.enums import RoleCode
    from qinglian.org.factories import make_company, make_user

    group = make_company(parent=None, name="基准测试集团", code="BENCH")
    companies = [
        make_company(parent=group, name=f"基准子公司{n}", code=f"BENCH{n}")
        for n in range(writers + 1)
    ]
    actor = make_user(company=group, roles=(RoleCode.HANDLER,), username="bench", name="基准经办")
    return actor, companies


def append_events(
    *, actor: Any, company_id: int, start: int, count: int, progress: Callable[[int], None]
) -> list[float]:
    """`count` events on one company's chain, one transaction each; returns each commit's
    latency in seconds."""
    from django.db import transaction

    from qinglian.core.audit import audit_record
    from qinglian.core.request_context import RequestContext, request_context_scope

    latencies = []
    for number in range(start, start + count):
        began = time.perf_counter()
        context = RequestContext(uuid.uuid4().hex, "10.0.0.8")
        with request_context_scope(context), transaction.atomic():
            audit_record(
                actor=actor,
                action="trading.contract.updated",
                company_id=company_id,
                object_type="trading.contract",
                object_id=str(number),
                object_repr=f"采购合同 HT-2026-{number:06d}",
                changes={
                    "amount": [f"{number}.00", f"{number + 1}.50"],
                    "remarks": ["", f"第{number}次修改"],
                },
            )
        latencies.append(time.perf_counter() - began)
        progress(1)
    return latencies


class Progress:
    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.step = max(total // 10, 1)
        self.lock = threading.Lock()
        self.started = time.perf_counter()

    def __call__(self, count: int) -> None:
        with self.lock:
            before, self.done = self.done, self.done + count
            if self.done // self.step != before // self.step or self.done == self.total:
                rate = self.done / max(time.perf_counter() - self.started, 1e-9)
                log(f"{self.label}: {self.done}/{self.total} events ({rate:,.0f}/s)")


def single_writer(actor: Any, company_id: int, events: int) -> tuple[float, list[float]]:
    progress = Progress("single writer", events)
    began = time.perf_counter()
    latencies = append_events(
        actor=actor, company_id=company_id, start=1, count=events, progress=progress
    )
    return time.perf_counter() - began, latencies


def concurrent_writers(actor: Any, company_ids: list[int], events: int) -> float:
    """`events` in all, split over one thread per company; wall time from a common start."""
    from django.db import connection

    shares = [events // len(company_ids)] * len(company_ids)
    shares[0] += events - sum(shares)
    progress = Progress(f"{len(company_ids)} writers", events)
    start = threading.Barrier(len(company_ids) + 1)
    errors: list[BaseException] = []

    def work(company_id: int, count: int) -> None:
        try:
            start.wait()
            append_events(
                actor=actor, company_id=company_id, start=1, count=count, progress=progress
            )
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(company_id, count))
        for company_id, count in zip(company_ids, shares, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"a writer failed: {errors[0]!r}") from errors[0]
    return elapsed


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from qinglian.audit.models import AuditEvent
    from qinglian.audit.services import audit_chain_verify

    log(f"migrating ({connection.vendor})")
    call_command("migrate", verbosity=0, interactive=False)
    actor, companies = make_org(arguments.writers)
    setup_events = AuditEvent.objects.count()

    log(f"single writer: {arguments.events} events, one transaction each")
    seconds, latencies = single_writer(actor, companies[0].pk, arguments.events)
    concurrent_seconds = None
    if arguments.writers:
        log(f"{arguments.writers} concurrent writers, {arguments.events} events in all")
        concurrent_seconds = concurrent_writers(
            actor, [company.pk for company in companies[1:]], arguments.events
        )

    log("verifying every chain")
    began = time.perf_counter()
    report = audit_chain_verify()
    verify_seconds = time.perf_counter() - began
    expected = setup_events + arguments.events * (2 if arguments.writers else 1)
    if report.events != expected:
        log(f"verification saw {report.events} events, expected {expected}")
    for problem in report.breaks:
        log(f"BROKEN: {problem.chain} at #{problem.seq}: {problem.reason}")
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "bench": "audit",
        "db": arguments.db,
        "events": arguments.events,
        "writers": arguments.writers,
        "events_per_s": round(arguments.events / seconds, 1),
        "commit_p50_ms": round(quantiles[49] * 1000, 3),
        "commit_p99_ms": round(quantiles[98] * 1000, 3),
        "concurrent_events_per_s": (
            round(arguments.events / concurrent_seconds, 1) if concurrent_seconds else None
        ),
        "verified_events": report.events,
        "verify_events_per_s": round(report.events / verify_seconds, 1),
        "chain_intact": report.is_intact and report.events == expected,
    }


def main() -> int:
    arguments = parse_arguments()
    with throwaway_database(arguments.db, "audit", arguments.postgres_server, log) as url:
        setup_django(url)
        result = run(arguments)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["chain_intact"] else 1


if __name__ == "__main__":
    sys.exit(main())

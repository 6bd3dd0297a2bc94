"""Benchmark: stock postings per second against the plain-SQL ceiling, the PSI summary over a
million ledger entries, and the revaluation after a backdated receipt at the start of a
million-entry history.

    python bench/trading.py --db sqlite|postgresql [--documents 100000]

Sets up a throwaway database (SQLite: a temporary file; PostgreSQL: the database
`qinglian_bench_trading`, dropped at the end), migrates it, creates a group, a trading company,
its warehouse keeper, two warehouses, commodities, a supplier and a customer, and an effective
purchase and sales contract, then measures:

1. postings through the services: `--documents` goods receipts and issues (5 lines each, one
   commodity per line, receipts and issues alternating), each created and posted by
   `services.stock.stock_document_create(post=True)` in its own transaction inside a request
   context, as a web request does. What a user waits for: the posting and the enqueue of its
   warning refresh (a Huey task), not the refresh, which the worker runs afterwards — so
   Huey queues in memory here and runs nothing (`harness.setup_django(queued_jobs=True)`);
2. the ceiling: as many identical documents written by plain SQL from one driver connection
   (psycopg / sqlite3 with the application's pragmas), one transaction each, issuing the same
   statements the service issues: lock the contract, read its lines (with the warehouse), lock
   the balances, take the document number, insert the header, the lines and the ledger entries,
   update the balances, the monthly totals and the contract lines' executed quantities, and
   append the audit event (real hash) to the company's chain and move its head;
3. `selectors.stock.psi_summary` over `--entries` ledger entries (default 1,000,000) seeded in
   bulk (not measured) for 200 series over two years, for a period that starts and ends inside
   a month (so both the monthly totals and the ledger are read), repeated;
4. a backdated goods receipt dated at the start of a `--history`-entry series (default
   1,000,000: receipts and issues of one commodity in one warehouse, seeded in bulk), posted
   through the service: it re-costs the whole series and appends a revaluation entry for every
   later issue whose cost changed.

It checks that both ways of posting left balances equal to their ledger, that every audit
chain verifies, and that the re-costed series equals its balance; it exits 1 when a check
fails. Progress goes to stderr; the last line of stdout is one JSON object (see
bench/README.md). Durability stays as the application configures it: every document is a real
commit.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from harness import DEFAULT_POSTGRES_SERVER, setup_django, throwaway_database

LINES = 5
COMMODITIES = 10  # the posting phases use 5 per document, rotating
PSI_WAREHOUSES = 4
PSI_COMMODITIES = 50
PSI_DAYS = 730


def log(message: str) -> None:
    print(f"[bench trading] {message}", file=sys.stderr, flush=True)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument(
        "--documents", type=int, default=100000, help="documents posted each way (default 100000)"
    )
    parser.add_argument(
        "--raw-documents",
        type=int,
        default=None,
        help="documents written by plain SQL (default: as many as --documents)",
    )
    parser.add_argument(
        "--entries", type=int, default=1_000_000, help="ledger entries under the PSI summary"
    )
    parser.add_argument(
        "--history", type=int, default=1_000_000, help="entries of the series revalued"
    )
    parser.add_argument("--repeats", type=int, default=5, help="PSI summary runs (default 5)")
    parser.add_argument(
        "--block",
        type=int,
        default=100,
        help="documents each way before switching to the other (default 100)",
    )
    parser.add_argument(
        "--postgres-server",
        default=os.environ.get("BENCH_POSTGRES_SERVER", DEFAULT_POSTGRES_SERVER),
        help=f"PostgreSQL server URL without a database name (default {DEFAULT_POSTGRES_SERVER})",
    )
    arguments = parser.parse_args()
    if arguments.documents < 2 or arguments.entries < 1000 or arguments.history < 10:
        parser.error("--documents must be at least 2, --entries 1000, --history 10")
    if arguments.raw_documents is None:
        arguments.raw_documents = arguments.documents
    return arguments


# ---------------------------------------------------------------- the organisation


@dataclass
class World:
    company: Any
    keeper: Any
    finance: Any
    warehouse: Any  # the posting phases' warehouse
    raw_warehouse: Any  # the plain-SQL phase's (same shape, its own balances)
    commodities: list[Any]
    purchase: Any
    sales: Any


def make_world() -> World:
    from qinglian.org.enums import RoleCode
    from qinglian.org.factories import make_company, make_user
    from qinglian.trading.enums import ContractKind, PartnerKind
    from qinglian.trading.factories import (
        make_commodity,
        make_contract,
        make_partner,
        make_warehouse,
    )
    from qinglian.trading.services.credit import exposure_refresh

    group = make_company(parent=None, name="基准测试集团", code="BENCH")
    company = make_company(parent=group, name="基准贸易公司", code="BENCHT")
    keeper = make_user(
        company=company, roles=(RoleCode.WAREHOUSE_KEEPER,), username="keeper", name="库管"
    )
    finance = make_user(company=company, roles=(RoleCode.FINANCE,), username="finance", name="财务")
    purchaser = make_user(
        company=company, roles=(RoleCode.PURCHASER,), username="purchaser", name="采购"
    )
    supplier = make_partner(company=group, kind=PartnerKind.SUPPLIER, name="基准供应商")
    customer = make_partner(company=group, kind=PartnerKind.CUSTOMER, name="基准客户")
    commodities = [
        make_commodity(company=group, code=f"C{n:02d}", name=f"钢材{n}") for n in range(COMMODITIES)
    ]
    huge = "1000000000"
    purchase = make_contract(
        company=company,
        partner=supplier,
        owner=purchaser,
        kind=ContractKind.PURCHASE,
        lines=[(c, huge, f"{4000 + 10 * n}.00") for n, c in enumerate(commodities)],
    )
    sales = make_contract(
        company=company,
        partner=customer,
        owner=purchaser,
        kind=ContractKind.SALES,
        lines=[(c, huge, f"{4500 + 10 * n}.00") for n, c in enumerate(commodities)],
    )
    # the customer's credit exposure row, brought up to its sources (both ways of posting
    # move it)
    exposure_refresh(partner_id=customer.pk)
    return World(
        company=company,
        keeper=keeper,
        finance=finance,
        warehouse=make_warehouse(company=company, code="W1", name="一号库"),
        raw_warehouse=make_warehouse(company=company, code="W2", name="二号库"),
        commodities=commodities,
        purchase=purchase,
        sales=sales,
    )


@dataclass
class Plan:
    """One document: kind, and (commodity id, quantity) per line."""

    kind: str
    lines: list[tuple[int, Decimal]]


def plans(world: World, count: int, seed: int) -> list[Plan]:
    """Receipts and issues alternating, 5 lines each over rotating commodities; receipts bring
    more than issues take, so stock never runs out."""
    rng = random.Random(seed)
    ids = [c.pk for c in world.commodities]
    result = []
    for number in range(count):
        start = (number // 2) % COMMODITIES
        chosen = [ids[(start + offset) % COMMODITIES] for offset in range(LINES)]
        if number % 2 == 0:
            result.append(Plan("receipt", [(c, Decimal(rng.randrange(20, 60))) for c in chosen]))
        else:
            result.append(Plan("issue", [(c, Decimal(rng.randrange(5, 20))) for c in chosen]))
    return result


def settle() -> None:
    """Planner statistics and a checkpoint, so seeding's deferred work stays out of timings."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("CHECKPOINT")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# ---------------------------------------------------------------- 1. through the services


class ServicePoster:
    """Documents through `stock_document_create(post=True)`, each in a request context."""

    def __init__(self, world: World) -> None:
        from qinglian.core import clock

        self.world = world
        self.contracts = {"receipt": world.purchase.pk, "issue": world.sales.pk}
        self.today = clock.today()

    def post(self, plan: Plan) -> None:
        from qinglian.core.request_context import RequestContext, request_context_scope
        from qinglian.trading.services import stock as services

        with request_context_scope(RequestContext(uuid.uuid4().hex, "10.0.0.8")):
            services.stock_document_create(
                actor=self.world.keeper,
                kind=plan.kind,
                contract_id=self.contracts[plan.kind],
                warehouse_id=self.world.warehouse.pk,
                posting_date=self.today,
                lines=[
                    services.StockLineInput(quantity=quantity, commodity_id=commodity)
                    for commodity, quantity in plan.lines
                ],
                post=True,
            )

    def capture(self, plan: Plan) -> int:
        """Post one document with its statements listed: how many went to the database (the
        ones sent on the driver's own cursor counted from PostgreSQL's statistics)."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from qinglian.trading.services import stock_ledger as services

        driver: list[str] = []
        fetch, execute = services.fetch, services.execute

        def counted_fetch(statement: str, params: Any) -> Any:
            driver.append(statement)
            return fetch(statement, params)

        def counted_execute(statement: str, params: Any) -> None:
            driver.append(statement)
            execute(statement, params)

        services.fetch, services.execute = counted_fetch, counted_execute
        try:
            with CaptureQueriesContext(connection) as captured:
                self.post(plan)
        finally:
            services.fetch, services.execute = fetch, execute
        log("one posted issue: statements through Django's cursor")
        for query in captured.captured_queries:
            log(f"    {query['sql'][:140]}")
        log("… and through the driver's cursor (server-side binding, prepared when repeated)")
        for statement in driver:
            log(f"    {' '.join(statement.split())[:140]}")
        # Django logs BEGIN and COMMIT among its own statements; on SQLite the posting's own
        # statements go through Django's cursor too, so they are among them already
        if connection.vendor == "sqlite":
            return len(captured.captured_queries)
        return len(captured.captured_queries) + len(driver)


def post_both_ways(
    world: World,
    documents: list[Plan],
    raw_documents: list[Plan],
    database_url: str,
    vendor: str,
    block: int,
) -> tuple[float, list[float], float, int]:
    """Both ways in alternating blocks, so both meet the same load on the machine: services
    time, their latencies, plain-SQL time, and the statements of one service posting."""
    services = ServicePoster(world)
    services.post(documents[0])  # warm up: a receipt, then an issue with its statements listed
    statements = services.capture(documents[1])
    log(f"one posted issue: {statements} statements, BEGIN and COMMIT included")
    writer = RawWriter(database_url, vendor, world)
    service_seconds = raw_seconds = 0.0
    latencies: list[float] = []
    pending, raw_pending = documents[2:], list(raw_documents)
    done = raw_done = 0
    step = max((len(pending) + len(raw_pending)) // 10, 1)
    try:
        while pending or raw_pending:
            for plan in pending[:block]:
                started = time.perf_counter()
                services.post(plan)
                latencies.append(time.perf_counter() - started)
                service_seconds += latencies[-1]
            began = time.perf_counter()
            for plan in raw_pending[:block]:
                writer.post(plan)
            raw_seconds += time.perf_counter() - began
            before = (done + raw_done) // step
            done += len(pending[:block])
            raw_done += len(raw_pending[:block])
            pending, raw_pending = pending[block:], raw_pending[block:]
            if (done + raw_done) // step != before:
                service_rate = done / max(service_seconds, 1e-9)
                raw_rate = raw_done / max(raw_seconds, 1e-9)
                log(
                    f"services {done}/{len(documents) - 2} ({service_rate:.0f}/s), "
                    f"plain SQL {raw_done}/{len(raw_documents)} ({raw_rate:.0f}/s)"
                )
    finally:
        writer.close()
    return service_seconds, latencies, raw_seconds, statements


# ---------------------------------------------------------------- 2. the ceiling: plain SQL


class RawWriter:
    """The statements `stock_document_create(post=True)` issues for one document, by plain
    SQL on one driver connection, one transaction each."""

    def __init__(self, database_url: str, vendor: str, world: World) -> None:
        from django.conf import settings

        from qinglian.audit.models import AuditChain, AuditEvent
        from qinglian.trading.models import Commodity, Contract, ContractLine, Partner, Warehouse
        from qinglian.trading.models.credit import CreditExposure
        from qinglian.trading.models.numbering import DocumentCounter
        from qinglian.trading.models.stock import (
            StockBalance,
            StockDocument,
            StockDocumentLine,
            StockLedgerEntry,
            StockMonthlyTotal,
        )

        self.vendor = vendor
        self.world = world
        self.t = {
            "contract": Contract._meta.db_table,
            "line": ContractLine._meta.db_table,
            "commodity": Commodity._meta.db_table,
            "warehouse": Warehouse._meta.db_table,
            "balance": StockBalance._meta.db_table,
            "counter": DocumentCounter._meta.db_table,
            "document": StockDocument._meta.db_table,
            "docline": StockDocumentLine._meta.db_table,
            "entry": StockLedgerEntry._meta.db_table,
            "month": StockMonthlyTotal._meta.db_table,
            "chain": AuditChain._meta.db_table,
            "event": AuditEvent._meta.db_table,
            "exposure": CreditExposure._meta.db_table,
            "partner": Partner._meta.db_table,
        }
        if vendor == "postgresql":
            import psycopg

            self.connection: Any = psycopg.connect(database_url)
            self.mark = "%s"
        else:
            import sqlite3

            path = settings.DATABASES["default"]["NAME"]
            self.connection = sqlite3.connect(path, isolation_level=None, timeout=25)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                self.connection.execute(f"PRAGMA {pragma}")
            self.mark = "?"

    def close(self) -> None:
        self.connection.close()

    def _sql(self, statement: str) -> str:
        return statement.format(**self.t).replace("%s", self.mark)

    def _value(self, value: Any) -> Any:
        """What the driver is given: PostgreSQL takes Python values; SQLite text, as Django
        stores it."""
        if self.vendor == "postgresql":
            return value
        if isinstance(value, datetime.datetime):
            return str(value.astimezone(datetime.UTC).replace(tzinfo=None))
        if isinstance(value, (Decimal, datetime.date)):
            return str(value)
        return value

    def _json(self, value: Any) -> Any:
        if self.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            return Jsonb(value)
        return json.dumps(value, ensure_ascii=False)

    def post(self, plan: Plan) -> None:
        from qinglian.audit.hashing import event_hash, jsonable
        from qinglian.audit.services import chain_key
        from qinglian.core import clock
        from qinglian.trading import costing

        sql, V = self._sql, self._value
        world = self.world
        company_id = world.company.pk
        warehouse_id = world.raw_warehouse.pk
        contract_id = world.purchase.pk if plan.kind == "receipt" else world.sales.pk
        lock = " FOR UPDATE" if self.vendor == "postgresql" else ""
        returning = " RETURNING id"
        cursor = self.connection.cursor()
        if self.vendor == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        now = clock.now()
        today = clock.today()
        # the contract, locked; its lines with their commodities; the warehouse
        cursor.execute(
            sql("SELECT id, company_id, partner_id, status, kind FROM {contract} WHERE id = %s")
            + lock,
            (contract_id,),
        )
        _contract, _company, partner_id, _status, _kind = cursor.fetchone()
        cursor.execute(
            sql(
                "SELECT l.id, l.commodity_id, l.quantity, l.unit_price, l.tax_rate, "
                "l.quantity_tolerance_percent, l.executed_quantity, c.tolerance_percent, "
                "(SELECT company_id FROM {warehouse} WHERE id = %s), "
                "(SELECT is_active FROM {warehouse} WHERE id = %s) "
                "FROM {line} l JOIN {commodity} c ON c.id = l.commodity_id "
                "WHERE l.contract_id = %s ORDER BY l.line_number"
            ),
            (warehouse_id, warehouse_id, contract_id),
        )
        contract_lines = {row[1]: row[:8] for row in cursor.fetchall()}
        # the balances, locked in key order (created on first use)
        commodity_ids = sorted(c for c, _q in plan.lines)
        marks = ", ".join([self.mark] * len(commodity_ids))
        select_balances = sql(
            "SELECT id, commodity_id, quantity, value FROM {balance} WHERE company_id = %s "
            f"AND warehouse_id = %s AND commodity_id IN ({marks}) ORDER BY commodity_id"
        )
        cursor.execute(select_balances + lock, (company_id, warehouse_id, *commodity_ids))
        balances = {row[1]: [row[0], Decimal(row[2]), Decimal(row[3])] for row in cursor}
        missing = [c for c in commodity_ids if c not in balances]
        if missing:
            for commodity_id in missing:
                cursor.execute(
                    sql(
                        "INSERT INTO {balance} (company_id, warehouse_id, commodity_id, "
                        "quantity, value, updated_at) VALUES (%s, %s, %s, 0, 0, %s) "
                        "ON CONFLICT DO NOTHING"
                    ),
                    (company_id, warehouse_id, commodity_id, V(now)),
                )
            cursor.execute(select_balances + lock, (company_id, warehouse_id, *commodity_ids))
            balances = {row[1]: [row[0], Decimal(row[2]), Decimal(row[3])] for row in cursor}
        # value the lines
        lines = []
        for number, (commodity_id, quantity) in enumerate(plan.lines, start=1):
            line_id, _c, _q, price, tax_rate, _tol, _executed, _weigh = contract_lines[commodity_id]
            balance = balances[commodity_id]
            if plan.kind == "receipt":
                value = costing.net_value(quantity, Decimal(price), Decimal(tax_rate))
                signed = quantity
            else:
                signed = -quantity
                value = (
                    -balance[2]
                    if balance[1] == quantity
                    else -costing.money(quantity * balance[2] / balance[1])
                )
            balance[1] += signed
            balance[2] += value
            amount = costing.amount_of(quantity, Decimal(price))
            lines.append((number, line_id, commodity_id, quantity, signed, value, price, amount))
        # the number
        prefix = "RK" if plan.kind == "receipt" else "CK"
        cursor.execute(
            sql(
                "INSERT INTO {counter} (company_id, prefix, day, last) VALUES (%s, %s, %s, 1) "
                "ON CONFLICT (company_id, prefix, day) DO UPDATE SET last = {counter}.last + 1 "
                "RETURNING last"
            ),
            (company_id, prefix + "X", V(today)),
        )
        (last,) = cursor.fetchone()
        number_text = f"{prefix}X{today:%Y%m%d}-{last:04d}"
        total_quantity = sum((line[3] for line in lines), Decimal(0))
        total_amount = sum((line[7] for line in lines), Decimal(0))
        total_cost = sum(
            ((line[5] if plan.kind == "receipt" else -line[5]) for line in lines), Decimal(0)
        )
        cursor.execute(
            sql(
                "INSERT INTO {document} (created_at, updated_at, company_id, number, kind, "
                "status, warehouse_id, contract_id, partner_id, posting_date, reverses_id, "
                "keeper_id, total_quantity, total_amount, total_cost, remarks, created_by_id, "
                "posted_by_id, posted_at, idempotency_key, version) VALUES (%s, %s, %s, %s, %s, "
                "'posted', %s, %s, %s, %s, NULL, %s, %s, %s, %s, '', %s, %s, %s, '', 1)"
            )
            + returning,
            (
                V(now),
                V(now),
                company_id,
                number_text,
                plan.kind,
                warehouse_id,
                contract_id,
                partner_id,
                V(today),
                world.keeper.pk,
                V(total_quantity),
                V(total_amount),
                V(total_cost),
                world.keeper.pk,
                world.keeper.pk,
                V(now),
            ),
        )
        (document_id,) = cursor.fetchone()
        values_sql = ", ".join(["(%s, %s, %s, %s, %s, NULL, '', %s, %s, %s)"] * len(lines)).replace(
            "%s", self.mark
        )
        parameters: list[Any] = []
        for number, line_id, commodity_id, quantity, _signed, value, price, amount in lines:
            cost = value if plan.kind == "receipt" else -value
            parameters += [
                document_id,
                number,
                line_id,
                commodity_id,
                V(quantity),
                V(Decimal(price)),
                V(amount),
                V(cost),
            ]
        cursor.execute(
            sql(
                "INSERT INTO {docline} (document_id, line_number, contract_line_id, "
                "commodity_id, quantity, weighed_quantity, difference_reason, unit_price, "
                "amount, cost) VALUES "
            )
            + values_sql
            + returning,
            parameters,
        )
        line_ids = [row[0] for row in cursor.fetchall()]
        direction = "in" if plan.kind == "receipt" else "out"
        rows_sql = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(lines))
        parameters = [company_id, V(today), plan.kind, document_id, V(now)]
        for (_n, _l, commodity_id, _q, signed, value, _p, _a), line_id in zip(
            lines, line_ids, strict=True
        ):
            parameters += [
                warehouse_id,
                commodity_id,
                plan.kind,
                direction,
                V(signed),
                V(value),
                line_id,
                None,
            ]
        cursor.execute(
            sql(
                "INSERT INTO {entry} (company_id, warehouse_id, commodity_id, posting_date, "
                "kind, direction, quantity, value, voucher_type, voucher_id, voucher_line_id, "
                "reverses_id, created_at) SELECT %s, column1, column2, %s, column3, column4, "
                "column5, column6, %s, %s, CAST(column7 AS bigint), CAST(column8 AS bigint), %s "
                f"FROM (VALUES {rows_sql}) AS movements RETURNING id"
            ),
            parameters,
        )
        cursor.fetchall()
        # the balances, one statement
        ids = [balances[c][0] for c in commodity_ids]
        quantity_case = " ".join(f"WHEN id = {self.mark} THEN {self.mark}" for _ in ids)
        value_case = quantity_case
        parameters = []
        for c in commodity_ids:
            parameters += [balances[c][0], V(balances[c][1])]
        for c in commodity_ids:
            parameters += [balances[c][0], V(balances[c][2])]
        cursor.execute(
            sql(
                f"UPDATE {{balance}} SET quantity = CASE {quantity_case} END, "
                f"value = CASE {value_case} END, last_posting_date = %s, updated_at = %s "
                f"WHERE id IN ({', '.join([self.mark] * len(ids))})"
            ),
            [*parameters, V(today), V(now), *ids],
        )
        # the monthly totals, one upsert
        month = today.replace(day=1)
        rows_sql = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(lines)).replace(
            "%s", self.mark
        )
        parameters = []
        for _n, _l, commodity_id, quantity, _s, value, _p, _a in sorted(lines, key=lambda x: x[2]):
            if plan.kind == "receipt":
                figures = [quantity, value, Decimal(0), Decimal(0)]
            else:
                figures = [Decimal(0), Decimal(0), quantity, -value]
            parameters += [company_id, warehouse_id, commodity_id, V(month)]
            parameters += [str(f) for f in figures]
        cursor.execute(
            sql(
                "INSERT INTO {month} (company_id, warehouse_id, commodity_id, month, "
                "in_quantity, in_value, out_quantity, out_value) VALUES "
            )
            + rows_sql
            + sql(
                " ON CONFLICT (company_id, warehouse_id, commodity_id, month) DO UPDATE SET "
                "in_quantity = {month}.in_quantity + excluded.in_quantity, "
                "in_value = {month}.in_value + excluded.in_value, "
                "out_quantity = {month}.out_quantity + excluded.out_quantity, "
                "out_value = {month}.out_value + excluded.out_value"
            ),
            parameters,
        )
        # the contract lines' executed quantities, one statement
        executed_case = " ".join(
            f"WHEN id = {self.mark} THEN executed_quantity + {self.mark}" for _ in lines
        )
        parameters = []
        for _n, line_id, _c, quantity, _s, _v, _p, _a in lines:
            parameters += [line_id, V(quantity)]
        cursor.execute(
            sql(
                f"UPDATE {{line}} SET executed_quantity = CASE {executed_case} END "
                f"WHERE id IN ({', '.join([self.mark] * len(lines))})"
            ),
            [*parameters, *[line[1] for line in lines]],
        )
        if plan.kind == "issue":
            # the customer's credit exposure: its row locked, the limit read, the issue's
            # value moved from open orders to issued-not-invoiced (the same row the service
            # keeps; the service recomputes it from its sources and checks the policy)
            cursor.execute(
                sql("SELECT id, receivable, uninvoiced, open_orders FROM {exposure} ")
                + sql("WHERE partner_id = %s")
                + lock,
                (partner_id,),
            )
            exposure_id, _receivable, uninvoiced, open_orders = cursor.fetchone()
            cursor.execute(
                sql("SELECT credit_limit, credit_grade FROM {partner} WHERE id = %s"),
                (partner_id,),
            )
            cursor.fetchone()
            cursor.execute(
                sql(
                    "UPDATE {exposure} SET uninvoiced = %s, open_orders = %s, updated_at = %s "
                    "WHERE id = %s"
                ),
                (
                    V(Decimal(uninvoiced) + total_amount),
                    V(max(Decimal(0), Decimal(open_orders) - total_amount)),
                    V(now),
                    exposure_id,
                ),
            )
        # the audit event and the chain head
        key = chain_key(company_id)
        cursor.execute(
            sql("SELECT id, last_seq, last_hash FROM {chain} WHERE key = %s") + lock, (key,)
        )
        chain_id, last_seq, last_hash = cursor.fetchone()
        changes = jsonable(
            {
                "number": [None, number_text],
                "kind": [None, plan.kind],
                "contract": [None, contract_id],
                "warehouse": [None, warehouse_id],
                "posting_date": [None, today.isoformat()],
                "total_quantity": [None, str(total_quantity)],
                "total_amount": [None, str(total_amount)],
                "total_cost": [None, str(total_cost)],
            }
        )
        event = {
            "seq": last_seq + 1,
            "occurred_at": now,
            "actor_id": world.keeper.pk,
            "actor_name": world.keeper.name,
            "action": "trading.stock_document.posted",
            "object_type": "trading.stockdocument",
            "object_id": str(document_id),
            "object_repr": number_text,
            "changes": changes,
            "request_id": uuid.uuid4().hex,
            "ip_address": "10.0.0.8",
            "prev_hash": last_hash,
        }
        digest = event_hash(chain_key=key, **event)
        cursor.execute(
            sql(
                "INSERT INTO {event} (chain_id, seq, occurred_at, actor_id, actor_name, action, "
                "object_type, object_id, object_repr, changes, request_id, ip_address, "
                "prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            (
                chain_id,
                event["seq"],
                V(now),
                event["actor_id"],
                event["actor_name"],
                event["action"],
                event["object_type"],
                event["object_id"],
                event["object_repr"],
                self._json(changes),
                event["request_id"],
                event["ip_address"],
                last_hash,
                digest,
            ),
        )
        cursor.execute(
            sql("UPDATE {chain} SET last_seq = %s, last_hash = %s WHERE id = %s"),
            (event["seq"], digest, chain_id),
        )
        if self.vendor == "sqlite":
            cursor.execute("COMMIT")
        else:
            self.connection.commit()


# ---------------------------------------------------------------- seeding ledger history


class Seeder:
    """Ledger entries, balances and monthly totals written in bulk (COPY on PostgreSQL),
    consistent with each other as the postings would have left them."""

    def __init__(self, world: World) -> None:
        from django.db import connection

        self.world = world
        self.connection = connection
        self.voucher = 10_000_000  # fake voucher ids, far from real ones

    def entries(self, rows: list[tuple[Any, ...]]) -> None:
        """rows: (warehouse_id, commodity_id, posting_date, kind, direction, quantity, value)"""
        from qinglian.trading.models.stock import StockLedgerEntry

        table = StockLedgerEntry._meta.db_table
        columns = (
            "company_id, warehouse_id, commodity_id, posting_date, kind, direction, quantity, "
            "value, voucher_type, voucher_id, voucher_line_id, created_at"
        )
        company_id = self.world.company.pk
        stamp = datetime.datetime.now(datetime.UTC)
        if self.connection.vendor == "postgresql":
            buffer = io.StringIO()
            for warehouse_id, commodity_id, on, kind, direction, quantity, value in rows:
                self.voucher += 1
                buffer.write(
                    f"{company_id}\t{warehouse_id}\t{commodity_id}\t{on.isoformat()}\t{kind}\t"
                    f"{direction}\t{quantity}\t{value}\t{kind}\t{self.voucher}\t"
                    f"{self.voucher}\t{stamp.isoformat()}\n"
                )
            statement = f"COPY {table} ({columns}) FROM STDIN"
            with self.connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
                copy.write(buffer.getvalue())
            return
        text_stamp = str(stamp.replace(tzinfo=None))
        batch = []
        for warehouse_id, commodity_id, on, kind, direction, quantity, value in rows:
            self.voucher += 1
            batch.append(
                (
                    company_id,
                    warehouse_id,
                    commodity_id,
                    on.isoformat(),
                    kind,
                    direction,
                    str(quantity),
                    str(value),
                    kind,
                    self.voucher,
                    self.voucher,
                    text_stamp,
                )
            )
        with self.connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * 12)})", batch
            )

    def totals(self) -> None:
        """Balances and monthly totals of every seeded series, from the ledger (set-wise)."""
        from qinglian.trading.models.stock import (
            StockBalance,
            StockLedgerEntry,
            StockMonthlyTotal,
        )

        ledger = StockLedgerEntry._meta.db_table
        sqlite = self.connection.vendor == "sqlite"
        month = (
            "date(posting_date, 'start of month')"
            if sqlite
            else ("date_trunc('month', posting_date)::date")
        )

        def total(expression: str, places: int) -> str:
            """SUM exactly: SQLite keeps decimals as floating point, so sum whole units."""
            if not sqlite:
                return f"SUM({expression})"
            scale = 10**places
            return f"(SUM(CAST(ROUND(({expression}) * {scale}) AS INTEGER)) / {scale}.0)"

        with self.connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {StockMonthlyTotal._meta.db_table}")
            cursor.execute(f"DELETE FROM {StockBalance._meta.db_table}")
            cursor.execute(
                f"INSERT INTO {StockMonthlyTotal._meta.db_table} (company_id, warehouse_id, "
                "commodity_id, month, in_quantity, in_value, out_quantity, out_value) "
                f"SELECT company_id, warehouse_id, commodity_id, {month}, "
                + ", ".join(
                    total(f"CASE WHEN direction = '{side}' THEN {sign}{column} ELSE 0 END", places)
                    for side, sign, column, places in (
                        ("in", "", "quantity", 3),
                        ("in", "", "value", 2),
                        ("out", "-", "quantity", 3),
                        ("out", "-", "value", 2),
                    )
                )
                + f" FROM {ledger} GROUP BY company_id, warehouse_id, commodity_id, {month}"
            )
            cursor.execute(
                f"INSERT INTO {StockBalance._meta.db_table} (company_id, warehouse_id, "
                "commodity_id, quantity, value, last_posting_date, updated_at) "
                f"SELECT company_id, warehouse_id, commodity_id, {total('quantity', 3)}, "
                f"{total('value', 2)}, MAX(posting_date), %s FROM {ledger} "
                "GROUP BY company_id, warehouse_id, commodity_id",
                [
                    self.connection.ops.adapt_datetimefield_value(
                        datetime.datetime.now(datetime.UTC)
                    )
                ],
            )


def seed_psi(world: World, entries: int) -> tuple[datetime.date, datetime.date]:
    """`entries` entries for 200 series (4 warehouses × 50 commodities) over two years ending
    yesterday, valued by moving average so the series are what postings would have made."""
    from django.db import transaction

    from qinglian.core import clock
    from qinglian.trading import costing
    from qinglian.trading.factories import make_commodity, make_warehouse

    group = world.commodities[0].company
    warehouses = [
        make_warehouse(company=world.company, code=f"P{n}", name=f"报表库{n}")
        for n in range(PSI_WAREHOUSES)
    ]
    commodities = [
        make_commodity(company=group, code=f"P{n:03d}", name=f"报表商品{n}")
        for n in range(PSI_COMMODITIES)
    ]
    series = [(w.pk, c.pk) for w in warehouses for c in commodities]
    rng = random.Random(4)
    end = clock.today() - datetime.timedelta(days=1)
    start = end - datetime.timedelta(days=PSI_DAYS - 1)
    per_series = entries // len(series)
    seeder = Seeder(world)
    began = time.perf_counter()
    for index, (warehouse_id, commodity_id) in enumerate(series):
        state = costing.SeriesCosting()
        rows = []
        for number in range(per_series):
            on = start + datetime.timedelta(days=number * PSI_DAYS // per_series)
            if number % 3 == 0 or state.quantity < 10:
                quantity = Decimal(rng.randrange(10, 50))
                value = state.apply(
                    0, quantity, costing.Valuation.FIXED, quantity * rng.randrange(3800, 4200)
                )
                rows.append((warehouse_id, commodity_id, on, "receipt", "in", quantity, value))
            else:
                quantity = Decimal(rng.randrange(1, 10))
                value = state.apply(0, -quantity, costing.Valuation.AVERAGE, Decimal(0))
                rows.append((warehouse_id, commodity_id, on, "issue", "out", -quantity, value))
        with transaction.atomic():
            seeder.entries(rows)
        if (index + 1) % 20 == 0:
            log(f"seeded {(index + 1) * per_series:,} PSI entries")
    with transaction.atomic():
        seeder.totals()
    log(f"seeded the PSI history in {time.perf_counter() - began:.0f} s")
    return start, end


def seed_history(world: World, entries: int) -> tuple[Any, Any, datetime.date]:
    """One series of `entries` entries: an opening of 1,000,000 t, then issues and receipts of
    1 t at varying prices over ~three years; returns the warehouse, commodity and first day."""
    from django.db import transaction

    from qinglian.core import clock
    from qinglian.trading import costing
    from qinglian.trading.factories import make_warehouse

    warehouse = make_warehouse(company=world.company, code="H1", name="历史库")
    commodity = world.commodities[0]
    rng = random.Random(7)
    days = 1000
    first = clock.today() - datetime.timedelta(days=days + 1)
    state = costing.SeriesCosting()
    seeder = Seeder(world)
    began = time.perf_counter()
    chunk: list[tuple[Any, ...]] = []
    one = Decimal(1)
    value = state.apply(0, Decimal(1_000_000), costing.Valuation.FIXED, Decimal("4000000000.00"))
    chunk.append((warehouse.pk, commodity.pk, first, "receipt", "in", Decimal(1_000_000), value))
    for number in range(1, entries):
        on = first + datetime.timedelta(days=1 + number * days // entries)
        if number % 2:
            value = state.apply(0, -one, costing.Valuation.AVERAGE, Decimal(0))
            chunk.append((warehouse.pk, commodity.pk, on, "issue", "out", -one, value))
        else:
            price = Decimal(rng.randrange(380000, 420000)) / 100
            value = state.apply(0, one, costing.Valuation.FIXED, price)
            chunk.append((warehouse.pk, commodity.pk, on, "receipt", "in", one, value))
        if len(chunk) == 100_000:
            with transaction.atomic():
                seeder.entries(chunk)
            chunk = []
            log(f"seeded {number + 1:,} history entries")
    if chunk:
        with transaction.atomic():
            seeder.entries(chunk)
    with transaction.atomic():
        seeder.totals()
    log(f"seeded the history in {time.perf_counter() - began:.0f} s")
    return warehouse, commodity, first


# ---------------------------------------------------------------- 3. and 4.


def measure_psi(
    world: World, start: datetime.date, end: datetime.date, repeats: int
) -> list[float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from qinglian.trading.selectors.stock import psi_summary

    # a quarter that starts and ends inside a month, in the second year
    date_from = start + datetime.timedelta(days=400)
    date_from = date_from.replace(day=10)
    date_to = (date_from + datetime.timedelta(days=100)).replace(day=20)
    rows = psi_summary(user=world.finance, date_from=date_from, date_to=date_to)
    log(f"PSI summary {date_from} – {date_to}: {len(rows)} rows")
    with CaptureQueriesContext(connection) as captured:
        psi_summary(user=world.finance, date_from=date_from, date_to=date_to)
    prefix = (
        "EXPLAIN (ANALYZE, BUFFERS)" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
    )
    for query in captured.captured_queries:
        log(f"    {float(query['time']) * 1000:.1f} ms {query['sql'][:120]}")
        if "GROUP BY" in query["sql"]:
            with connection.cursor() as cursor:
                cursor.execute(f"{prefix} {query['sql']}")
                plan = "\n      ".join(" ".join(str(p) for p in row) for row in cursor.fetchall())
            log(f"      {plan}")
    samples = []
    for _repeat in range(repeats):
        began = time.perf_counter()
        psi_summary(user=world.finance, date_from=date_from, date_to=date_to)
        samples.append(time.perf_counter() - began)
    return samples


def measure_backdated(
    world: World, warehouse: Any, commodity: Any, first: datetime.date
) -> tuple[float, int, bool]:
    from qinglian.core.request_context import RequestContext, request_context_scope
    from qinglian.trading.models.stock import StockBalance, StockLedgerEntry
    from qinglian.trading.selectors.stock import stock_balance_mismatches
    from qinglian.trading.services import stock as services

    before = StockBalance.objects.get(warehouse=warehouse, commodity=commodity)
    began = time.perf_counter()
    with request_context_scope(RequestContext(uuid.uuid4().hex, "10.0.0.8")):
        document = services.stock_document_create(
            actor=world.keeper,
            kind="receipt",
            contract_id=world.purchase.pk,
            warehouse_id=warehouse.pk,
            posting_date=first,
            lines=[services.StockLineInput(quantity=Decimal(50_000), commodity_id=commodity.pk)],
            post=True,
        )
    seconds = time.perf_counter() - began
    entry = StockLedgerEntry.objects.get(voucher_type="receipt", voucher_id=document.pk)
    revaluations = StockLedgerEntry.objects.filter(caused_by=entry).count()
    after = StockBalance.objects.get(warehouse=warehouse, commodity=commodity)
    log(
        f"backdated receipt: {seconds:.2f} s, {revaluations:,} revaluation entries; balance "
        f"{before.quantity}/{before.value} → {after.quantity}/{after.value}"
    )
    consistent = stock_balance_mismatches(world.company.pk) == []
    return seconds, revaluations, consistent


def run(arguments: argparse.Namespace, database_url: str) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from qinglian.audit.services import audit_chain_verify
    from qinglian.trading.selectors.stock import stock_balance_mismatches

    log(f"migrating ({connection.vendor})")
    call_command("migrate", verbosity=0, interactive=False)
    world = make_world()
    settle()

    documents = plans(world, arguments.documents, seed=1)
    raw_documents = plans(world, arguments.raw_documents, seed=1)
    log(
        f"{len(documents)} documents of {LINES} lines through the services and "
        f"{len(raw_documents)} by plain SQL, one transaction each, alternating in blocks of "
        f"{arguments.block}"
    )
    seconds, latencies, raw_seconds, queries = post_both_ways(
        world, documents, raw_documents, database_url, connection.vendor, arguments.block
    )
    rate = (len(documents) - 2) / seconds
    raw_rate = len(raw_documents) / raw_seconds
    log(f"services: {rate:.1f} documents/s; plain SQL: {raw_rate:.1f} documents/s")
    from huey.contrib.djhuey import HUEY

    log(f"{HUEY.pending_count()} warning refreshes queued for the worker, not run here")
    HUEY.flush()
    consistent = stock_balance_mismatches() == []
    report = audit_chain_verify()
    for problem in report.breaks:
        log(f"BROKEN: {problem.chain} at #{problem.seq}: {problem.reason}")

    log(f"seeding {arguments.entries:,} ledger entries for the PSI summary")
    start, end = seed_psi(world, arguments.entries)
    settle()
    psi = measure_psi(world, start, end, arguments.repeats)

    log(f"seeding a {arguments.history:,}-entry history of one series")
    warehouse, commodity, first = seed_history(world, arguments.history)
    settle()
    backdated_seconds, revaluations, history_consistent = measure_backdated(
        world, warehouse, commodity, first
    )
    return {
        "bench": "trading",
        "db": arguments.db,
        "documents": arguments.documents,
        "lines_per_document": LINES,
        "statements_per_document": queries,
        "post_docs_per_s": round(rate, 1),
        "post_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "post_p95_ms": round(statistics.quantiles(latencies, n=20)[18] * 1000, 2)
        if len(latencies) > 20
        else None,
        "raw_documents": arguments.raw_documents,
        "raw_docs_per_s": round(raw_rate, 1),
        "ratio": round(rate / raw_rate, 3),
        "psi_entries": arguments.entries,
        "psi_summary_s": round(statistics.median(psi), 3),
        "psi_summary_max_s": round(max(psi), 3),
        "history_entries": arguments.history,
        "backdated_revalue_s": round(backdated_seconds, 2),
        "revaluation_entries": revaluations,
        "balances_match_ledger": consistent and history_consistent,
        "chain_intact": report.is_intact,
    }


def main() -> int:
    arguments = parse_arguments()
    with throwaway_database(arguments.db, "trading", arguments.postgres_server, log) as url:
        setup_django(url, queued_jobs=True)
        result = run(arguments, url)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["balances_match_ledger"] and result["chain_intact"] else 1


if __name__ == "__main__":
    sys.exit(main())

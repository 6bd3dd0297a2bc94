"""Benchmark: the trading warnings refreshed over a year of trading on N contracts.

    python bench/trading_warnings.py --db sqlite|postgresql [--contracts 20000]

Sets up a throwaway database (SQLite: a temporary file; PostgreSQL: the database
`qinglian_bench_warnings`, dropped at the end), migrates it, creates a group with four trading
companies (a salesperson, a purchaser, a keeper and finance each, one warehouse), twenty
commodities, customers and suppliers with their qualifications, then seeds in bulk — not
measured — `--contracts` sales and purchase contracts (half each) signed over the last year,
with what a year of trading leaves behind them: goods receipts and issues, sales and purchase
invoices (a few reversed), receipts and payments (prepayments, payments on or after the due
date, partial and missing ones, a few reversed), the partner ledger and balances, the
customers' credit limits, and draft stocktakes. Then it measures, through the services:

1. `services.warnings.warnings_refresh()` for every company: the first run (every warning is
   new: detection plus creating the register) and the second (nothing changed: detection plus
   finding every warning again);
2. `services.warnings.warnings_refresh_for_contract()` — what a posting triggers — for
   `--samples` contracts (default 200) picked at random, one at a time: its median and 95th
   percentile;
3. `selectors.credit.open_receivables()` over every company: the open receivable items
   (FIFO by due date per company, customer and contract chain) the ageing, the credit
   standings and the overdue warnings read.

It checks that the second refresh and the per-contract refreshes changed nothing (no warning
opened, reopened or resolved) and exits 1 otherwise. Progress goes to stderr; the last line of
stdout is one JSON object (see bench/README.md).
"""

from __future__ import annotations

import sys

# This file is named like the standard library's `warnings`, and the script's directory comes
# first on sys.path: load the standard module before anything imports it by name.
_here = sys.path.pop(0)
import warnings  # noqa: E402, F401  (the standard library's, cached in sys.modules)

sys.path.insert(0, _here)

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from decimal import Decimal  # noqa: E402
from typing import Any  # noqa: E402

from harness import DEFAULT_POSTGRES_SERVER, setup_django, throwaway_database  # noqa: E402

COMPANIES = 4
COMMODITIES = 20
DAYS = 365
BATCH = 2000
ZERO = Decimal("0")
CENT = Decimal("0.01")
MILLI = Decimal("0.001")


def log(message: str) -> None:
    print(f"[bench warnings] {message}", file=sys.stderr, flush=True)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument(
        "--contracts", type=int, default=20_000, help="contracts seeded (default 20000)"
    )
    parser.add_argument(
        "--samples", type=int, default=200, help="contracts refreshed one by one (default 200)"
    )
    parser.add_argument("--seed", type=int, default=5, help="random seed (default 5)")
    parser.add_argument(
        "--postgres-server",
        default=os.environ.get("BENCH_POSTGRES_SERVER", DEFAULT_POSTGRES_SERVER),
        help=f"PostgreSQL server URL without a database name (default {DEFAULT_POSTGRES_SERVER})",
    )
    arguments = parser.parse_args()
    if arguments.contracts < 100:
        parser.error("--contracts must be at least 100")
    return arguments


# ---------------------------------------------------------------- the organisation


@dataclass
class Company:
    row: Any
    salesperson: Any
    purchaser: Any
    keeper: Any
    finance: Any
    warehouse: Any


@dataclass
class World:
    companies: list[Company]
    customers: list[Any]
    suppliers: list[Any]
    commodities: list[Any]


def make_world(contracts: int) -> World:
    from qinglian.org.enums import RoleCode
    from qinglian.org.factories import make_company, make_user
    from qinglian.trading.enums import PartnerKind
    from qinglian.trading.factories import make_commodity, make_warehouse
    from qinglian.trading.models import Partner

    group = make_company(parent=None, name="基准测试集团", code="BENCH")
    companies = []
    for n in range(COMPANIES):
        row = make_company(parent=group, name=f"基准贸易{n + 1}公司", code=f"BT{n + 1}")

        def person(role: str, label: str, row: Any = row, n: int = n) -> Any:
            return make_user(
                company=row, roles=(role,), username=f"{role}_{n + 1}", name=f"{label}{n + 1}"
            )

        companies.append(
            Company(
                row=row,
                salesperson=person(RoleCode.SALESPERSON, "销售"),
                purchaser=person(RoleCode.PURCHASER, "采购"),
                keeper=person(RoleCode.WAREHOUSE_KEEPER, "库管"),
                finance=person(RoleCode.FINANCE, "财务"),
                warehouse=make_warehouse(company=row, code=f"W{n + 1}", name=f"{n + 1}号库"),
            )
        )
    commodities = [
        make_commodity(company=group, code=f"C{n:02d}", name=f"钢材{n}") for n in range(COMMODITIES)
    ]

    def partners(kind: str, prefix: str, label: str, count: int) -> list[Any]:
        Partner.objects.bulk_create(
            (
                Partner(
                    company=group,
                    code=f"{prefix}{n:05d}",
                    name=f"{label}{n}",
                    kind=kind,
                    admission_status="admitted",
                    payment_days=30,
                )
                for n in range(count)
            ),
            batch_size=BATCH,
        )
        return list(Partner.objects.filter(code__startswith=prefix).order_by("code"))

    return World(
        companies=companies,
        customers=partners(PartnerKind.CUSTOMER, "KH", "基准客户", max(20, contracts // 40)),
        suppliers=partners(PartnerKind.SUPPLIER, "GYS", "基准供应商", max(10, contracts // 80)),
        commodities=commodities,
    )


# ---------------------------------------------------------------- a year of trading


@dataclass
class Plan:
    """One contract and what a year left behind it (before it has ids)."""

    company: Company
    contract: Any
    lines: list[Any] = field(default_factory=list)
    documents: list[Any] = field(default_factory=list)
    invoices: list[Any] = field(default_factory=list)  # (invoice, reversal or None)
    payments: list[Any] = field(default_factory=list)  # (payment, reversal or None)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def _clip(day: datetime.date, low: datetime.date, high: datetime.date) -> datetime.date:
    return max(low, min(high, day))


def plan_contracts(world: World, count: int, rng: random.Random) -> list[Plan]:
    """Contracts with their lines, documents, invoices and payments, as Python objects."""
    from qinglian.core import clock
    from qinglian.trading.enums import (
        ApprovedPostingStatus,
        ContractKind,
        ContractStatus,
        InvoiceDirection,
        PaymentDirection,
        PaymentKind,
        PaymentTerm,
        PostingStatus,
        StockDocumentKind,
    )
    from qinglian.trading.models import Contract, ContractLine, Invoice, Payment, StockDocument
    from qinglian.trading.selectors.money import invoice_number_key

    today = clock.today()
    yesterday = today - datetime.timedelta(days=1)
    start = today - datetime.timedelta(days=DAYS)
    now = clock.now()
    plans = []
    serial = 0
    for i in range(count):
        company = world.companies[i % len(world.companies)]
        sales = i % 2 == 0
        partner = rng.choice(world.customers if sales else world.suppliers)
        owner = company.salesperson if sales else company.purchaser
        effective = start + datetime.timedelta(days=rng.randrange(0, DAYS - 25))
        duration = rng.randrange(60, 200)
        end_on = effective + datetime.timedelta(days=duration)
        delivery_end = effective + datetime.timedelta(days=int(duration * 0.8))
        status, terminated_on, completed_on = ContractStatus.EFFECTIVE, None, None
        draw = rng.random()
        if draw < 0.03:
            status = ContractStatus.PENDING
        elif draw < 0.06:
            day = effective + datetime.timedelta(days=rng.randrange(10, duration))
            if day < today:
                status, terminated_on = ContractStatus.TERMINATED, day
        elif end_on < today and rng.random() < 0.7:
            status, completed_on = ContractStatus.COMPLETED, end_on
        if sales:
            term = PaymentTerm.PREPAYMENT if rng.random() < 0.2 else PaymentTerm.CREDIT
        else:
            term = rng.choice(
                (
                    PaymentTerm.CREDIT,
                    PaymentTerm.CREDIT,
                    PaymentTerm.ON_DELIVERY,
                    PaymentTerm.PREPAYMENT,
                )
            )
        prepayment = Decimal("30") if term == PaymentTerm.PREPAYMENT else Decimal("0")
        credit_days = rng.choice((30, 45, 60)) if term == PaymentTerm.CREDIT else 0
        # progress of delivery as of yesterday
        horizon = min(yesterday, delivery_end, terminated_on or delivery_end)
        span = max(1, (delivery_end - effective).days)
        elapsed = max(0.0, min(1.0, (horizon - effective).days / span))
        if status == ContractStatus.PENDING:
            fraction = 0.1 if rng.random() < 0.1 else 0.0  # a few booked while not in force
        elif status == ContractStatus.COMPLETED:
            fraction = rng.uniform(0.97, 1.03)
        elif status == ContractStatus.TERMINATED:
            fraction = elapsed * rng.uniform(0.5, 1.0)
        elif elapsed >= 1:
            fraction = rng.uniform(0.97, 1.03) if rng.random() < 0.6 else rng.uniform(0.5, 0.9)
        else:
            fraction = elapsed * rng.uniform(0.8, 1.0)
        if status != ContractStatus.PENDING and elapsed > 0 and rng.random() < 0.01:
            fraction = 1.08  # beyond the 5 % tolerance
        contract = Contract(
            company=company.row,
            number=f"B{'XS' if sales else 'CG'}-{i:07d}",
            kind=ContractKind.SALES if sales else ContractKind.PURCHASE,
            partner=partner,
            status=status,
            signed_on=effective - datetime.timedelta(days=rng.randrange(0, 10)),
            effective_on=None if status == ContractStatus.PENDING else effective,
            delivery_start=effective,
            delivery_end=delivery_end,
            end_on=end_on,
            terminated_on=terminated_on,
            completed_on=completed_on,
            payment_term=term,
            prepayment_percent=prepayment,
            credit_days=credit_days,
            owner=owner,
            created_by=owner,
        )
        plan = Plan(company=company, contract=contract)
        total = delivered = quantity_total = ZERO
        for number, commodity in enumerate(
            rng.sample(world.commodities, rng.choice((1, 1, 2, 3))), start=1
        ):
            quantity = Decimal(rng.randrange(50, 1000))
            price = Decimal(rng.randrange(300000, 600000)) / 100
            amount = _money(quantity * price)
            executed = (quantity * Decimal(str(round(fraction, 4)))).quantize(MILLI)
            plan.lines.append(
                ContractLine(
                    line_number=number,
                    commodity=commodity,
                    quantity=quantity,
                    unit_price=price,
                    tax_rate=commodity.tax_rate,
                    amount=amount,
                    quantity_tolerance_percent=commodity.quantity_tolerance_percent,
                    executed_quantity=executed,
                )
            )
            total += amount
            quantity_total += quantity
            delivered += _money(executed * price)
        contract.total_amount = total
        contract.total_quantity = quantity_total
        contract.total_tax = _money(total - total / Decimal("1.13"))
        # goods: one to three documents between the start and the horizon
        dates = []
        if delivered > 0:
            first_day = effective
            if status != ContractStatus.PENDING and rng.random() < 0.01:
                first_day = effective - datetime.timedelta(days=5)  # before it took effect
            last_day = max(first_day, horizon if status != ContractStatus.PENDING else yesterday)
            pieces = rng.randint(1, 3)
            for k in range(pieces):
                day = first_day + datetime.timedelta(
                    days=((last_day - first_day).days * (k + 1)) // (pieces + 1)
                )
                dates.append(min(day, yesterday))
                serial += 1
                plan.documents.append(
                    StockDocument(
                        company=company.row,
                        number=f"B{'CK' if sales else 'RK'}-{serial:08d}",
                        kind=StockDocumentKind.ISSUE if sales else StockDocumentKind.RECEIPT,
                        status=PostingStatus.POSTED,
                        warehouse=company.warehouse,
                        partner=partner,
                        posting_date=dates[-1],
                        keeper=company.keeper,
                        total_quantity=(quantity_total * Decimal(str(fraction)) / pieces).quantize(
                            MILLI
                        ),
                        total_amount=_money(delivered / pieces),
                        created_by=company.keeper,
                        posted_by=company.keeper,
                        posted_at=now,
                    )
                )
        # invoices for what was delivered (all of it once completed)
        invoiced_target = _money(
            delivered
            * Decimal(
                "1" if status == ContractStatus.COMPLETED else str(round(rng.uniform(0.6, 1), 3))
            )
        )
        direction = InvoiceDirection.ISSUED if sales else InvoiceDirection.RECEIVED
        days_to_pay = credit_days or partner.payment_days
        invoice_dates = [
            min(yesterday, day + datetime.timedelta(days=rng.randrange(0, 10)))
            for day in dates[: min(2, len(dates))]
            if status != ContractStatus.PENDING
        ]
        remaining = invoiced_target
        for k, day in enumerate(invoice_dates):
            amount = remaining if k == len(invoice_dates) - 1 else _money(invoiced_target / 2)
            remaining -= amount
            if amount <= 0:
                continue
            wrong = k == 0 and rng.random() < 0.02
            for is_wrong in (True, False) if wrong else (False,):
                serial += 1
                number = f"{serial:08d}"
                invoice = Invoice(
                    company=company.row,
                    direction=direction,
                    invoice_number=number,
                    number_key=invoice_number_key("", number),
                    partner=partner,
                    amount=amount,
                    tax_rate=Decimal("0.13"),
                    tax_amount=_money(amount - amount / Decimal("1.13")),
                    invoice_date=day,
                    due_date=day + datetime.timedelta(days=days_to_pay),
                    status=PostingStatus.REVERSED if is_wrong else PostingStatus.POSTED,
                    created_by=company.finance,
                    posted_by=company.finance,
                    posted_at=now,
                )
                reversal = None
                if is_wrong:
                    serial += 1
                    number = f"{serial:08d}"
                    reversal = Invoice(
                        company=company.row,
                        direction=direction,
                        invoice_number=number,
                        number_key=invoice_number_key("", number),
                        partner=partner,
                        amount=-amount,
                        tax_rate=Decimal("0.13"),
                        tax_amount=-invoice.tax_amount,
                        invoice_date=min(yesterday, day + datetime.timedelta(days=3)),
                        due_date=invoice.due_date,
                        status=PostingStatus.POSTED,
                        reason="开错",
                        created_by=company.finance,
                        posted_by=company.finance,
                        posted_at=now,
                    )
                plan.invoices.append((invoice, reversal))
        # money: the prepayment, then each invoice on or after its due date (or not at all)
        pay_direction = PaymentDirection.IN if sales else PaymentDirection.OUT
        pay_kind = PaymentKind.CUSTOMER_RECEIPT if sales else PaymentKind.SUPPLIER_PAYMENT

        moneys: list[tuple[Decimal, datetime.date]] = []  # (amount, day)
        prepaid = ZERO
        if prepayment and status != ContractStatus.PENDING and (dates or rng.random() < 0.5):
            prepaid = _money(total * prepayment / 100)
            if dates and rng.random() < 0.15:  # after the first issue
                day = dates[0] + datetime.timedelta(days=rng.randrange(5, 30))
            elif dates:
                day = dates[0] - datetime.timedelta(days=rng.randrange(1, 20))
            else:
                day = effective + datetime.timedelta(days=rng.randrange(0, 20))
            moneys.append((prepaid, _clip(day, effective, yesterday)))
        for invoice, _reversal in plan.invoices:
            if invoice.status != PostingStatus.POSTED:
                continue
            used = min(prepaid, invoice.amount)
            prepaid -= used
            owed = invoice.amount - used
            if owed <= 0:
                continue
            draw = rng.random()
            if invoice.due_date <= yesterday:
                day = invoice.due_date + datetime.timedelta(days=rng.randrange(-10, 6))
                if draw < 0.8:
                    moneys.append((owed, _clip(day, invoice.invoice_date, yesterday)))
                elif draw < 0.9:
                    moneys.append((_money(owed / 2), _clip(day, invoice.invoice_date, yesterday)))
            elif draw < 0.25:
                moneys.append(
                    (
                        owed,
                        min(
                            yesterday,
                            invoice.invoice_date + datetime.timedelta(days=rng.randrange(0, 5)),
                        ),
                    )
                )
        for amount, day in moneys:
            if amount <= 0:
                continue
            serial += 1
            payment = Payment(
                company=company.row,
                number=f"B{'SK' if sales else 'FK'}-{serial:08d}",
                direction=pay_direction,
                kind=pay_kind,
                partner=partner,
                amount=amount,
                paid_on=day,
                status=ApprovedPostingStatus.POSTED,
                created_by=company.finance,
                posted_by=company.finance,
                posted_at=now,
            )
            reversal = None
            if rng.random() < 0.01:  # a receipt or payment booked by mistake, reversed
                payment.status = ApprovedPostingStatus.REVERSED
                serial += 1
                reversal = Payment(
                    company=company.row,
                    number=f"B{'SK' if sales else 'FK'}-{serial:08d}",
                    direction=pay_direction,
                    kind=pay_kind,
                    partner=partner,
                    amount=-amount,
                    paid_on=min(yesterday, day + datetime.timedelta(days=2)),
                    status=ApprovedPostingStatus.POSTED,
                    reason="收错",
                    created_by=company.finance,
                    posted_by=company.finance,
                    posted_at=now,
                )
            plan.payments.append((payment, reversal))
        plans.append(plan)
    return plans


def seed(world: World, count: int, rng: random.Random) -> dict[str, int]:
    """Write the planned year in bulk: contracts (their own chain), lines, documents,
    invoices and payments (reversals after what they reverse), the partner ledger and the
    balances, credit limits, qualifications and draft stocktakes."""
    from django.db import connection, transaction
    from django.db.models import F

    from qinglian.core import clock
    from qinglian.trading.enums import (
        ApprovedPostingStatus,
        ContractKind,
        ContractStatus,
        PartnerAccount,
        PartnerEntryKind,
        QualificationKind,
        StocktakeKind,
    )
    from qinglian.trading.models import (
        Contract,
        ContractLine,
        Invoice,
        Partner,
        PartnerBalance,
        PartnerLedgerEntry,
        Payment,
        Qualification,
        StockDocument,
    )
    from qinglian.trading.models.stock import Stocktake, StocktakeLine

    began = time.perf_counter()
    today = clock.today()
    plans = plan_contracts(world, count, rng)
    log(f"planned {len(plans):,} contracts in {time.perf_counter() - began:.0f} s")
    entries: list[PartnerLedgerEntry] = []
    with transaction.atomic():
        Contract.objects.bulk_create([plan.contract for plan in plans], batch_size=BATCH)
        Contract.objects.filter(original__isnull=True).update(original_id=F("id"))
        lines, documents = [], []
        for plan in plans:
            for line in plan.lines:
                line.contract = plan.contract
                lines.append(line)
            for document in plan.documents:
                document.contract = plan.contract
                documents.append(document)
        ContractLine.objects.bulk_create(lines, batch_size=BATCH)
        StockDocument.objects.bulk_create(documents, batch_size=BATCH)
        log(f"{len(plans):,} contracts, {len(lines):,} lines, {len(documents):,} documents")

        invoices, reversed_invoices, payments, reversed_payments = [], [], [], []
        for plan in plans:
            plan.contract.invoiced_amount = Decimal("0")
            plan.contract.settled_amount = Decimal("0")
            for invoice, reversal in plan.invoices:
                invoice.contract = plan.contract
                invoices.append(invoice)
                if reversal is not None:
                    reversal.contract = plan.contract
                    reversed_invoices.append((invoice, reversal))
                else:
                    plan.contract.invoiced_amount += invoice.amount
            for payment, reversal in plan.payments:
                payment.contract = plan.contract
                payments.append(payment)
                if reversal is not None:
                    reversal.contract = plan.contract
                    reversed_payments.append((payment, reversal))
                else:
                    plan.contract.settled_amount += payment.amount
        Invoice.objects.bulk_create(invoices, batch_size=BATCH)
        Payment.objects.bulk_create(payments, batch_size=BATCH)
        for original, reversal in reversed_invoices:
            reversal.reverses = original
        for original, reversal in reversed_payments:
            reversal.reverses = original
        Invoice.objects.bulk_create([r for _o, r in reversed_invoices], batch_size=BATCH)
        Payment.objects.bulk_create([r for _o, r in reversed_payments], batch_size=BATCH)
        Contract.objects.bulk_update(
            [plan.contract for plan in plans],
            ["invoiced_amount", "settled_amount"],
            batch_size=BATCH,
        )
        log(
            f"{len(invoices) + len(reversed_invoices):,} invoices "
            f"({len(reversed_invoices):,} reversed), "
            f"{len(payments) + len(reversed_payments):,} receipts and payments "
            f"({len(reversed_payments):,} reversed)"
        )

        def account(contract: Any) -> str:
            return (
                PartnerAccount.RECEIVABLE
                if contract.kind == ContractKind.SALES
                else PartnerAccount.PAYABLE
            )

        for invoice in [*invoices, *(r for _o, r in reversed_invoices)]:
            entries.append(
                PartnerLedgerEntry(
                    company_id=invoice.company_id,
                    partner_id=invoice.partner_id,
                    contract_id=invoice.contract_id,
                    account=account(invoice.contract),
                    kind=PartnerEntryKind.INVOICE,
                    amount=invoice.amount,
                    posting_date=invoice.invoice_date,
                    due_date=invoice.due_date,
                    voucher_type="invoice",
                    voucher_id=invoice.pk,
                )
            )
        for payment in [*payments, *(r for _o, r in reversed_payments)]:
            entries.append(
                PartnerLedgerEntry(
                    company_id=payment.company_id,
                    partner_id=payment.partner_id,
                    contract_id=payment.contract_id,
                    account=account(payment.contract),
                    kind=PartnerEntryKind.PAYMENT,
                    amount=-payment.amount,
                    posting_date=payment.paid_on,
                    due_date=None,
                    voucher_type="payment",
                    voucher_id=payment.pk,
                )
            )
        entries.sort(key=lambda entry: (entry.posting_date, entry.voucher_type, entry.voucher_id))
        PartnerLedgerEntry.objects.bulk_create(entries, batch_size=BATCH)
        balances: dict[tuple[int, int], dict[str, Decimal]] = defaultdict(
            lambda: {PartnerAccount.RECEIVABLE: Decimal("0"), PartnerAccount.PAYABLE: Decimal("0")}
        )
        for entry in entries:
            balances[(entry.company_id, entry.partner_id)][entry.account] += entry.amount
        PartnerBalance.objects.bulk_create(
            (
                PartnerBalance(
                    company_id=company_id,
                    partner_id=partner_id,
                    receivable=sums[PartnerAccount.RECEIVABLE],
                    payable=sums[PartnerAccount.PAYABLE],
                )
                for (company_id, partner_id), sums in balances.items()
            ),
            batch_size=BATCH,
        )
        log(f"{len(entries):,} partner ledger entries, {len(balances):,} balances")

        # credit limits: most customers have one, a few of them below their exposure
        exposure: dict[int, Decimal] = defaultdict(Decimal)
        for (_company, partner_id), sums in balances.items():
            exposure[partner_id] += sums[PartnerAccount.RECEIVABLE]
        for plan in plans:
            contract = plan.contract
            if contract.kind != ContractKind.SALES or contract.status == ContractStatus.PENDING:
                continue
            issued = sum(
                (line.executed_quantity * line.unit_price for line in plan.lines), Decimal(0)
            )
            exposure[contract.partner_id] += max(Decimal(0), issued - contract.invoiced_amount)
            if contract.status == ContractStatus.EFFECTIVE:
                exposure[contract.partner_id] += max(
                    Decimal(0), contract.total_amount - max(issued, contract.invoiced_amount)
                )
        for customer in world.customers:
            if rng.random() < 0.7:
                factor = Decimal(str(round(rng.uniform(0.8, 3.0), 2)))
                customer.credit_limit = max(
                    Decimal("100000"), (exposure[customer.pk] * factor).quantize(Decimal("10000"))
                )
        Partner.objects.bulk_update(world.customers, ["credit_limit"], batch_size=BATCH)

        # qualifications: three required ones each, a few partners with one expired
        required = (
            QualificationKind.BUSINESS_LICENCE,
            QualificationKind.OPERATING_PERMIT,
            QualificationKind.QUALITY_CERTIFICATE,
        )
        qualifications = []
        for partner in [*world.customers, *world.suppliers]:
            lapsed = rng.choice(required) if rng.random() < 0.05 else None
            for kind in required:
                expires = today + datetime.timedelta(days=rng.randrange(30, 700))
                if kind == lapsed:
                    expires = today - datetime.timedelta(days=rng.randrange(1, 60))
                qualifications.append(
                    Qualification(
                        partner=partner,
                        kind=kind,
                        name=str(kind),
                        number=f"Q{partner.pk}-{kind}",
                        issued_on=today - datetime.timedelta(days=800),
                        expires_on=expires,
                    )
                )
        Qualification.objects.bulk_create(qualifications, batch_size=BATCH)

        # draft stocktakes: five per company, ten commodities counted each
        stocktakes = [
            Stocktake(
                company=company.row,
                number=f"BPD-{company.row.pk}-{n}",
                kind=StocktakeKind.COUNT,
                warehouse=company.warehouse,
                counted_on=today - datetime.timedelta(days=rng.randrange(0, 20)),
                status=ApprovedPostingStatus.DRAFT,
                counter=company.keeper,
            )
            for company in world.companies
            for n in range(5)
        ]
        Stocktake.objects.bulk_create(stocktakes)
        counted = []
        for stocktake in stocktakes:
            for commodity in rng.sample(world.commodities, 10):
                book = Decimal(rng.randrange(100, 1000))
                spread = 0.02 if rng.random() < 0.15 else 0.002  # most within the 0.3 %
                variance = Decimal(str(round(rng.uniform(-spread, spread), 4)))
                counted.append(
                    StocktakeLine(
                        stocktake=stocktake,
                        commodity=commodity,
                        book_quantity=book,
                        counted_quantity=(book * (1 + variance)).quantize(MILLI),
                    )
                )
        StocktakeLine.objects.bulk_create(counted, batch_size=BATCH)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("CHECKPOINT")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    seconds = time.perf_counter() - began
    log(f"seeded in {seconds:.0f} s")
    return {
        "contracts": len(plans),
        "customers": len(world.customers),
        "suppliers": len(world.suppliers),
        "stock_documents": len(documents),
        "invoices": len(invoices) + len(reversed_invoices),
        "payments": len(payments) + len(reversed_payments),
        "ledger_entries": len(entries),
        "seed_s": round(seconds, 1),
    }


# ---------------------------------------------------------------- the measurements


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext

    from qinglian.core import clock
    from qinglian.trading.models import Contract
    from qinglian.trading.models.warnings import TradingWarning
    from qinglian.trading.selectors import credit as credit_selectors
    from qinglian.trading.services import warnings as warning_services

    log(f"migrating ({connection.vendor})")
    call_command("migrate", verbosity=0, interactive=False)
    rng = random.Random(arguments.seed)
    world = make_world(arguments.contracts)
    seeded = seed(world, arguments.contracts, rng)
    today = clock.today()

    began = time.perf_counter()
    first = warning_services.warnings_refresh(on_date=today)
    first_s = time.perf_counter() - began
    log(f"first refresh: {first.as_dict()} in {first_s:.2f} s")
    with CaptureQueriesContext(connection) as queries:
        began = time.perf_counter()
        second = warning_services.warnings_refresh(on_date=today)
        second_s = time.perf_counter() - began
    log(f"second refresh: {second.as_dict()} in {second_s:.2f} s, {len(queries)} queries")

    ids = list(Contract.objects.order_by("pk").values_list("pk", flat=True))
    sample = rng.sample(ids, min(arguments.samples, len(ids)))
    timings = []
    changed = 0
    for contract_id in sample:
        began = time.perf_counter()
        result = warning_services.warnings_refresh_for_contract(contract_id, on_date=today)
        timings.append((time.perf_counter() - began) * 1000)
        changed += result.opened + result.reopened + result.resolved
    with CaptureQueriesContext(connection) as contract_queries:
        warning_services.warnings_refresh_for_contract(sample[0], on_date=today)
    log(
        f"per contract: p50 {statistics.median(timings):.1f} ms, "
        f"p95 {percentile(timings, 0.95):.1f} ms, {len(contract_queries)} queries"
    )

    began = time.perf_counter()
    items = credit_selectors.open_receivables(as_of=today)
    open_s = time.perf_counter() - began
    log(f"open receivables: {len(items):,} items in {open_s:.2f} s")

    present = TradingWarning.objects.filter(is_present=True)
    by_kind = dict(present.values_list("kind").annotate(n=Count("pk")).order_by("kind"))
    by_code = dict(present.values_list("code").annotate(n=Count("pk")).order_by("code"))
    unchanged = second.opened + second.reopened + second.resolved == 0 and changed == 0
    return {
        "bench": "warnings",
        "db": arguments.db,
        "contracts": seeded["contracts"],
        "first_refresh_s": round(first_s, 2),
        "second_refresh_s": round(second_s, 2),
        "per_contract_refresh_ms_p50": round(statistics.median(timings), 1),
        "per_contract_refresh_ms_p95": round(percentile(timings, 0.95), 1),
        "warnings": by_kind,
        "warnings_by_code": by_code,
        "opened_first": first.opened,
        "second_refresh_queries": len(queries),
        "per_contract_refresh_queries": len(contract_queries),
        "samples": len(sample),
        "open_receivables_s": round(open_s, 2),
        "open_receivable_items": len(items),
        **{key: value for key, value in seeded.items() if key != "contracts"},
        "unchanged_when_nothing_changed": unchanged,
    }


def main() -> int:
    arguments = parse_arguments()
    with throwaway_database(arguments.db, "warnings", arguments.postgres_server, log) as url:
        setup_django(url)
        result = run(arguments)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["unchanged_when_nothing_changed"] else 1


if __name__ == "__main__":
    sys.exit(main())

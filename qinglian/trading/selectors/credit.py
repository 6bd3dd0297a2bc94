"""Trading selectors: customer credit (信用) — exposure, overdue debt and ageing, credit
exceptions. The pure rules first, then the unscoped computations the services (and scheduled
jobs) use, then the reads for users, always scoped.

Definitions (the documentation the warnings and reports read):

- **Exposure** of a customer is group-wide (its credit limit lives on the shared partner):
  the sum of the components the customer's credit policy includes —
  ``receivable`` (the receivable balance of the partner ledger over every company: invoices
  and opening balances less receipts, negative when the customer has paid in advance),
  ``uninvoiced`` (per sales contract in force, goods issued beyond what was invoiced, valued at
  the contract price incl. VAT) and ``open_orders`` (per effective sales contract, the amount
  not yet issued or invoiced). Per contract: issued = Σ executed quantity × unit price;
  uninvoiced = max(0, issued − invoiced); open order = max(0, amount − max(issued, invoiced)),
  only while the contract is effective (terminating or completing it releases the rest).
- **Credit limit**: `Partner.credit_limit`. A limit of 0 means "no limit set" and the overrun
  check does not apply — unless the customer's grade is D ("no credit"), where 0 is enforced.
- **Open receivables and ageing**: receipts are allocated first in first out by due date
  within each (company, customer, contract) — the same rule as
  `selectors.money.open_items` (a reversal cancels the voucher it reverses; receipts without a
  contract stay as unapplied credits). An item is overdue from the day after its due date;
  buckets by days past due: not yet due (0), "0–30" (1–30), "31–60", "61–90", ">90".
- **Overdue block**: the customer's open receivables more than `overdue_block_days` past due,
  over every company, exceeding `overdue_block_amount` (policy) block new goods issues and
  sales contracts.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.core import clock
from qinglian.core.errors import NotFound
from qinglian.core.rows import rows_read, select_list
from qinglian.org.models import Company

from ..enums import ContractKind, ContractStatus, CreditGrade, PartnerAccount, PartnerKind
from ..models import (
    Contract,
    ContractLine,
    CreditException,
    CreditExceptionStatus,
    CreditExposure,
    CreditPolicy,
    Invoice,
    Partner,
    PartnerBalance,
    PartnerLedgerEntry,
    Payment,
)
from ..models.money import OpeningBalance
from ..permissions import can_read_master_data, master_data_company_ids, scoped
from .contracts import EXECUTABLE_STATUSES
from .money import Key, LedgerItem, allocate_open_items

ZERO = Decimal("0")
MONEY = Decimal("0.01")


# ---------------------------------------------------------------- plain reads for the hot path
# The credit check runs inside every goods-issue posting. Its reads are fixed statements built
# once from the models' meta and run through Django's cursor (bound and prepared on the server
# on PostgreSQL, config.settings OPTIONS): compiling the equivalent querysets costs the posting
# more CPU than the database takes to answer them. Every identifier comes from the models' meta,
# every value is a parameter.

_statements: dict[tuple[str, str], str] = {}


def plain_statement(name: str, build: Any) -> str:
    """The statement `build(table)` makes (`table(model)`: its quoted table name), built once
    per name and database vendor."""
    key = (name, connection.vendor)
    if key not in _statements:
        quote = connection.ops.quote_name

        def table(model: Any) -> str:
            return str(quote(model._meta.db_table))

        _statements[key] = build(table)
    return _statements[key]


def _rows(name: str, build: Any, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(plain_statement(name, build), params)
        return list(cursor.fetchall())


def _decimal(value: Any, places: Decimal = MONEY) -> Decimal:
    """A numeric column read by a plain cursor (SQLite hands back an int or a float)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(places)


def _day_param(day: datetime.date) -> Any:
    return connection.ops.adapt_datefield_value(day)


# ---------------------------------------------------------------- policy


@dataclass(frozen=True)
class PolicyValues:
    """The credit policy in force for a customer: the nearest CreditPolicy row among the
    customer's owning company and its ancestors, or DEFAULT_POLICY."""

    include_receivables: bool = True
    include_uninvoiced: bool = True
    include_open_orders: bool = True
    overdue_block_enabled: bool = True
    overdue_block_days: int = 30
    overdue_block_amount: Decimal = ZERO
    company_id: int | None = None  # the company whose policy row this is; None: the defaults
    version: int | None = None


DEFAULT_POLICY = PolicyValues()


def _policy_values(policy: CreditPolicy) -> PolicyValues:
    return PolicyValues(
        include_receivables=policy.include_receivables,
        include_uninvoiced=policy.include_uninvoiced,
        include_open_orders=policy.include_open_orders,
        overdue_block_enabled=policy.overdue_block_enabled,
        overdue_block_days=policy.overdue_block_days,
        overdue_block_amount=policy.overdue_block_amount,
        company_id=policy.company_id,
        version=policy.version,
    )


def _ancestry(company_id: int, path: str | None = None) -> list[int]:
    """The company and its ancestors, nearest first (`path`: the company's, when known)."""
    if path is None:
        path = Company.objects.filter(pk=company_id).values_list("path", flat=True).first()
    ids = [int(part) for part in (path or "").strip("/").split("/") if part]
    return list(reversed(ids)) or [company_id]


def credit_policy_for(*, company_id: int, company_path: str | None = None) -> PolicyValues:
    """The policy for customers owned by `company_id` (unscoped: rules, not data).
    `company_path`: that company's materialised path, when the caller has read it (saves a
    query)."""
    chain = _ancestry(company_id, company_path)
    statement = plain_statement(
        f"policies:{len(chain)}",
        lambda table: (
            f"SELECT {select_list(CreditPolicy, 'p')} FROM {table(CreditPolicy)} p "  # noqa: S608
            f"WHERE p.company_id IN ({', '.join(['%s'] * len(chain))})"
        ),
    )
    rows = {row.company_id: row for (row,) in rows_read(statement, chain, [CreditPolicy])}
    for candidate in chain:
        if candidate in rows:
            return _policy_values(rows[candidate])
    return DEFAULT_POLICY


# ---------------------------------------------------------------- pure rules


@dataclass(frozen=True)
class Components:
    receivable: Decimal = ZERO
    uninvoiced: Decimal = ZERO
    open_orders: Decimal = ZERO

    def exposure(self, policy: PolicyValues) -> Decimal:
        """The exposure the policy's formula makes of these components."""
        total = ZERO
        if policy.include_receivables:
            total += self.receivable
        if policy.include_uninvoiced:
            total += self.uninvoiced
        if policy.include_open_orders:
            total += self.open_orders
        return total


def order_exposure(
    *, amount: Decimal, issued: Decimal, invoiced: Decimal, is_open: bool
) -> tuple[Decimal, Decimal]:
    """(open order, uninvoiced) of one sales contract: what it still promises beyond what was
    issued or invoiced (only while it is open), and what was issued beyond what was
    invoiced. The invoiced part is in the receivables already."""
    uninvoiced = max(ZERO, issued - invoiced)
    open_order = max(ZERO, amount - max(issued, invoiced)) if is_open else ZERO
    return open_order.quantize(MONEY), uninvoiced.quantize(MONEY)


def credit_limit_applies(partner: Partner) -> bool:
    """0 means "no limit set" — except for grade D ("no credit"), where 0 is the limit."""
    return partner.credit_limit > 0 or partner.credit_grade == CreditGrade.D


AGEING_BUCKETS: tuple[tuple[str, Any], ...] = (
    ("not_due", gettext_lazy("Not yet due")),
    ("days_0_30", gettext_lazy("0–30 days")),
    ("days_31_60", gettext_lazy("31–60 days")),
    ("days_61_90", gettext_lazy("61–90 days")),
    ("over_90", gettext_lazy("Over 90 days")),
)


def ageing_bucket(days_overdue: int) -> str:
    """The bucket of an open charge `days_overdue` days past due (0: not yet due)."""
    if days_overdue <= 0:
        return "not_due"
    if days_overdue <= 30:
        return "days_0_30"
    if days_overdue <= 60:
        return "days_31_60"
    if days_overdue <= 90:
        return "days_61_90"
    return "over_90"


# ---------------------------------------------------------------- unscoped computations


@dataclass(frozen=True)
class ContractFigures:
    """What a sales contract adds to its customer's exposure."""

    contract_id: int
    amount: Decimal
    issued: Decimal
    invoiced: Decimal
    is_open: bool  # effective (not terminated, completed or superseded)


def _issued_by_contract(contract_ids: Iterable[int]) -> dict[int, Decimal]:
    issued: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for contract_id, quantity, price in ContractLine.objects.filter(
        contract_id__in=list(contract_ids)
    ).values_list("contract_id", "executed_quantity", "unit_price"):
        if quantity:
            issued[contract_id] += quantity * price
    return {key: value.quantize(MONEY) for key, value in issued.items()}


def sales_contract_figures(contract: Contract) -> ContractFigures:
    """A contract's figures as they stand (any status)."""
    issued = _issued_by_contract([contract.pk]).get(contract.pk, ZERO)
    return ContractFigures(
        contract_id=contract.pk,
        amount=contract.total_amount,
        issued=issued,
        invoiced=contract.invoiced_amount,
        is_open=contract.status == ContractStatus.EFFECTIVE,
    )


def _contract_figures_statement(partners: str) -> Any:
    """The statement reading the sales contracts in force that may add exposure, of the
    customers `partners` selects (an SQL condition on c.partner_id): every effective one, and
    terminated or completed ones that issued more than was invoiced — their lines with the
    contract's figures. The issued value is summed exactly in Python (the SQL comparison only
    picks the contracts — on SQLite it compares floats, and a contract picked by a rounding
    error adds nothing)."""
    statuses = sorted(EXECUTABLE_STATUSES)

    def build(table: Any) -> str:
        marks = ", ".join(["%s"] * len(statuses))
        return (
            "SELECT c.partner_id, c.id, c.status, c.total_amount, c.invoiced_amount, "  # noqa: S608
            f"l.executed_quantity, l.unit_price FROM {table(Contract)} c "
            f"JOIN {table(ContractLine)} l ON l.contract_id = c.id "
            f"WHERE c.partner_id {partners} AND c.kind = %s AND c.status IN ({marks}) "
            "AND (c.status = %s OR c.invoiced_amount < (SELECT SUM(x.executed_quantity * "
            f"x.unit_price) FROM {table(ContractLine)} x WHERE x.contract_id = c.id))"
        )

    return build, [ContractKind.SALES.value, *statuses, ContractStatus.EFFECTIVE.value]


def _figures_by_partner(rows: Iterable[tuple[Any, ...]]) -> dict[int, list[ContractFigures]]:
    """The rows of `_contract_figures_statement` → each customer's contract figures."""
    figures: dict[int, dict[int, list[Any]]] = defaultdict(dict)
    for partner_id, pk, status, amount, invoiced, quantity, price in rows:
        row = figures[partner_id].setdefault(
            pk, [status, _decimal(amount), _decimal(invoiced), ZERO]
        )
        if quantity:
            row[3] += _decimal(quantity, Decimal("0.001")) * _decimal(price, Decimal("0.0001"))
    return {
        partner_id: [
            ContractFigures(
                contract_id=pk,
                amount=amount,
                issued=issued.quantize(MONEY),
                invoiced=invoiced,
                is_open=status == ContractStatus.EFFECTIVE,
            )
            for pk, (status, amount, invoiced, issued) in sorted(contracts.items())
        ]
        for partner_id, contracts in figures.items()
    }


def _contract_figures(partner_id: int) -> list[ContractFigures]:
    """The customer's sales contracts in force that may add exposure (one statement)."""
    build, params = _contract_figures_statement("= %s")
    rows = _rows("contract_figures", build, [partner_id, *params])
    return _figures_by_partner(rows).get(partner_id, [])


def _receivable_balance(partner_id: int) -> Decimal:
    """The customer's receivable balance over every company (summed exactly in Python)."""

    def build(table: Any) -> str:
        return f"SELECT receivable FROM {table(PartnerBalance)} WHERE partner_id = %s"  # noqa: S608

    return sum(
        (_decimal(value) for (value,) in _rows("receivable", build, [partner_id])), ZERO
    ).quantize(MONEY)


def _components(receivable: Decimal, figures: Iterable[ContractFigures]) -> Components:
    open_orders = uninvoiced = ZERO
    for row in figures:
        open_order, not_invoiced = order_exposure(
            amount=row.amount, issued=row.issued, invoiced=row.invoiced, is_open=row.is_open
        )
        open_orders += open_order
        uninvoiced += not_invoiced
    return Components(receivable=receivable, uninvoiced=uninvoiced, open_orders=open_orders)


def exposure_components(
    *,
    partner_id: int,
    assume: ContractFigures | None = None,
    replacing: int | None = None,
) -> Components:
    """The customer's exposure components computed from their sources (unscoped: for the
    services, under the exposure row's lock). `assume` adds a contract as if it were in
    force (a sales contract being submitted), `replacing` leaves out the revision it amends."""
    receivable = _receivable_balance(partner_id)
    figures = [
        row
        for row in _contract_figures(partner_id)
        if row.contract_id not in {replacing, assume.contract_id if assume else None}
    ]
    if assume is not None:
        figures.append(assume)
    return _components(receivable, figures)


def exposure_components_of(partner_ids: Collection[int]) -> dict[int, Components]:
    """`exposure_components` of several customers at once (unscoped; two statements, the
    customers named in the SQL — call it with a few hundred at a time)."""
    if not partner_ids:
        return {}
    marks = ", ".join(["%s"] * len(partner_ids))
    receivables: dict[int, Decimal] = defaultdict(lambda: ZERO)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT partner_id, receivable FROM {quote(PartnerBalance._meta.db_table)} "  # noqa: S608
            f"WHERE partner_id IN ({marks})",
            list(partner_ids),
        )
        for partner_id, value in cursor.fetchall():
            receivables[partner_id] += _decimal(value)
        build, params = _contract_figures_statement(f"IN ({marks})")
        cursor.execute(
            build(lambda model: str(quote(model._meta.db_table))), [*partner_ids, *params]
        )
        figures = _figures_by_partner(cursor.fetchall())
    return {
        partner_id: _components(
            receivables[partner_id].quantize(MONEY), figures.get(partner_id, [])
        )
        for partner_id in partner_ids
    }


@dataclass(frozen=True)
class OpenReceivable:
    """One receivable charge a customer still (partly) owes a company."""

    company_id: int
    partner_id: int
    contract_id: int | None  # the first revision of the contract
    voucher_type: str
    voucher_id: int
    posting_date: datetime.date
    due_date: datetime.date
    outstanding: Decimal
    days_overdue: int


def _chain_key() -> Any:
    return Coalesce(F("contract__original_id"), F("contract_id"))


REVERSIBLE_VOUCHERS = (("invoice", Invoice), ("payment", Payment), ("opening", OpeningBalance))


def _reversals(company_id: int | None, partner_filter: Q) -> dict[Key, Key]:
    """Which voucher each reversal reverses, for the vouchers of a company (or every company)
    and the partners asked for: reversals are rare, so reading them all beats naming the
    vouchers read (one query per voucher type, no lists in the SQL)."""
    targets: dict[Key, Key] = {}
    for voucher_type, model in REVERSIBLE_VOUCHERS:
        reversals = model.objects.filter(partner_filter, reverses__isnull=False)
        if company_id is not None:
            reversals = reversals.filter(company_id=company_id)
        for pk, reverses_id in reversals.values_list("pk", "reverses_id"):
            targets[(voucher_type, pk)] = (voucher_type, reverses_id)
    return targets


def open_receivables(
    *,
    as_of: datetime.date,
    company_id: int | None = None,
    partner_ids: Iterable[int] | QuerySet[Any] | None = None,
    entries: QuerySet[PartnerLedgerEntry] | None = None,
) -> list[OpenReceivable]:
    """Open receivable items as of a day (entries posted up to it): per (company, customer,
    contract chain) group, receipts settle the charges first in first out by due date
    (`selectors.money.allocate_open_items`, a reversal cancelling the voucher it reverses).
    Unscoped: of `company_id` (None: every company), of `partner_ids` (ids or a query of them;
    None: every customer), within `entries` (a scoped ledger; None: the whole ledger).

    Set-wise, a fixed number of queries whatever the size of the book: the entries of the
    groups whose balance is positive (a grouped subquery: the owing contract chains — a chain
    belongs to one company and customer — and, for entries without a contract, the customers
    owing without one pick them; no condition per group in the SQL, so no limit on the number
    of groups), then the reversals (`_reversals`). Groups are summed again in Python, and those
    that do not owe skipped: they have no open charge (FIFO)."""
    receivables = (entries if entries is not None else PartnerLedgerEntry.objects.all()).filter(
        account=PartnerAccount.RECEIVABLE, posting_date__lte=as_of
    )
    if company_id is not None:
        receivables = receivables.filter(company_id=company_id)
    partner_filter = Q()
    if partner_ids is not None:
        if not isinstance(partner_ids, QuerySet):
            partner_ids = sorted(set(partner_ids))
            if not partner_ids:
                return []
        partner_filter = Q(partner_id__in=partner_ids)
        receivables = receivables.filter(partner_filter)
    receivables = receivables.annotate(chain=_chain_key())
    owing = (
        receivables.order_by()
        .values("company_id", "partner_id", "chain")
        .annotate(balance=Sum("amount"))
        .filter(balance__gt=0)
    )
    rows = list(
        receivables.filter(
            Q(chain__in=owing.filter(chain__isnull=False).values("chain"))
            | Q(
                chain__isnull=True,
                partner_id__in=owing.filter(chain__isnull=True).values("partner_id"),
            )
        )
        .order_by()
        .values_list(
            "company_id",
            "partner_id",
            "chain",
            "voucher_type",
            "voucher_id",
            "amount",
            "posting_date",
            "due_date",
        )
    )
    if not rows:
        return []
    targets = _reversals(company_id, partner_filter)
    grouped: dict[tuple[int, int, int | None], list[LedgerItem]] = defaultdict(list)
    for company, partner, chain, voucher_type, voucher_id, amount, posted, due in rows:
        key = (voucher_type, voucher_id)
        grouped[(company, partner, chain)].append(
            LedgerItem(
                key=key,
                amount=amount,
                posting_date=posted,
                due_date=due,
                against=targets.get(key),
            )
        )
    result = []
    for (company, partner, chain), items in grouped.items():
        if not sum((item.amount for item in items), ZERO) > 0:
            continue  # picked through its chain or customer owing elsewhere; owes nothing
        for item in allocate_open_items(items):
            if item.outstanding <= 0:
                continue  # an unused credit inside an owing group cannot happen (FIFO)
            result.append(
                OpenReceivable(
                    company_id=company,
                    partner_id=partner,
                    contract_id=chain,
                    voucher_type=item.key[0],
                    voucher_id=item.key[1],
                    posting_date=item.posting_date,
                    due_date=item.due_date,
                    outstanding=item.outstanding,
                    days_overdue=max(0, (as_of - item.due_date).days),
                )
            )
    return sorted(
        result,
        key=lambda item: (item.due_date, item.company_id, item.partner_id, item.voucher_id),
    )


def _may_be_overdue(partner_id: int, day: datetime.date, due_before: datetime.date) -> bool:
    """Whether one of the customer's owing (company, contract chain) groups as of `day` holds a
    charge due before `due_before` — a necessary condition for an open charge that old (FIFO
    settles within a group), read by one plain statement so that the overdue block costs a
    customer in good standing next to nothing; `open_receivables` then answers exactly."""

    def build(table: Any) -> str:
        return (
            "SELECT 1 FROM (SELECT e.company_id AS company_id, "  # noqa: S608
            "COALESCE(c.original_id, e.contract_id) AS chain, e.amount AS amount, "
            f"e.due_date AS due_date FROM {table(PartnerLedgerEntry)} e "
            f"LEFT JOIN {table(Contract)} c ON c.id = e.contract_id "
            "WHERE e.partner_id = %s AND e.account = %s AND e.posting_date <= %s) g "
            "GROUP BY g.company_id, g.chain "
            "HAVING SUM(g.amount) > 0 AND MIN(CASE WHEN g.amount > 0 THEN g.due_date END) < %s "
            "LIMIT 1"
        )

    return bool(
        _rows(
            "may_be_overdue",
            build,
            [
                partner_id,
                PartnerAccount.RECEIVABLE.value,
                _day_param(day),
                _day_param(due_before),
            ],
        )
    )


def overdue_amount(
    *, partner_id: int, more_than_days: int = 0, as_of: datetime.date | None = None
) -> Decimal:
    """What the customer owes, over every company, more than `more_than_days` days past due
    (unscoped: the overdue block and scheduled jobs)."""
    day = as_of or clock.today()
    if not _may_be_overdue(partner_id, day, day - datetime.timedelta(days=more_than_days)):
        return ZERO
    items = open_receivables(as_of=day, partner_ids=[partner_id])
    return sum(
        (item.outstanding for item in items if item.days_overdue > more_than_days), ZERO
    ).quantize(MONEY)


# ---------------------------------------------------------------- ageing


@dataclass
class AgeingRow:
    """Open receivables of one customer with one company (or a total: ids None), by bucket.
    `credits` are receipts and advances not applied to any charge (shown positive);
    `balance` = open − credits = the ledger balance."""

    company_id: int | None
    company_name: str
    partner_id: int | None
    partner_name: str
    not_due: Decimal = ZERO
    days_0_30: Decimal = ZERO
    days_31_60: Decimal = ZERO
    days_61_90: Decimal = ZERO
    over_90: Decimal = ZERO
    credits: Decimal = ZERO

    @property
    def overdue(self) -> Decimal:
        return self.days_0_30 + self.days_31_60 + self.days_61_90 + self.over_90

    @property
    def open(self) -> Decimal:
        return self.not_due + self.overdue

    @property
    def balance(self) -> Decimal:
        return self.open - self.credits

    def bucket(self, key: str) -> Decimal:
        value: Decimal = getattr(self, key)
        return value

    def add(self, key: str, amount: Decimal) -> None:
        setattr(self, key, getattr(self, key) + amount)


@dataclass
class AgeingReport:
    as_of: datetime.date
    rows: list[AgeingRow] = field(default_factory=list)
    total: AgeingRow = field(default_factory=lambda: AgeingRow(None, "", None, ""))
    # The open items behind the rows (for drill-down), oldest due first.
    items: list[OpenReceivable] = field(default_factory=list)


def _ageing(
    entries: QuerySet[PartnerLedgerEntry],
    as_of: datetime.date,
    partner_id: int | None,
    company_id: int | None,
) -> AgeingReport:
    if partner_id:
        entries = entries.filter(partner_id=partner_id)
    if company_id:
        entries = entries.filter(company_id=company_id)
    items = open_receivables(
        as_of=as_of,
        company_id=company_id or None,
        partner_ids=[partner_id] if partner_id else None,
        entries=entries,
    )
    balances = dict(
        (
            (company_id, partner_id),
            total,
        )
        for company_id, partner_id, total in entries.filter(
            account=PartnerAccount.RECEIVABLE, posting_date__lte=as_of
        )
        .order_by()
        .values("company_id", "partner_id")
        .annotate(total=Sum("amount"))
        .values_list("company_id", "partner_id", "total")
    )
    keys = set(balances) | {(item.company_id, item.partner_id) for item in items}
    companies = dict(
        Company.objects.filter(pk__in={key[0] for key in keys}).values_list("pk", "name")
    )
    partners = dict(
        Partner.objects.filter(pk__in={key[1] for key in keys}).values_list("pk", "name")
    )
    rows: dict[tuple[int, int], AgeingRow] = {
        key: AgeingRow(key[0], companies.get(key[0], ""), key[1], partners.get(key[1], ""))
        for key in keys
    }
    for item in items:
        rows[(item.company_id, item.partner_id)].add(
            ageing_bucket(item.days_overdue), item.outstanding
        )
    for key, row in rows.items():
        # whatever the open charges do not explain is unapplied credit
        row.credits = (row.open - (balances.get(key) or ZERO)).quantize(MONEY)
    report = AgeingReport(as_of=as_of, items=items)
    report.rows = sorted(
        (row for row in rows.values() if row.open or row.credits),
        key=lambda row: (row.partner_name, row.company_name),
    )
    for row in report.rows:
        for bucket, _label in AGEING_BUCKETS:
            report.total.add(bucket, row.bucket(bucket))
        report.total.credits += row.credits
    return report


def receivable_ageing(
    *,
    user: Any,
    as_of: datetime.date | None = None,
    partner_id: int | None = None,
    company_id: int | None = None,
) -> AgeingReport:
    """Receivables ageing the user reads (their companies' ledgers), per (company, customer)
    with totals and the open items behind them."""
    entries = scoped(PartnerLedgerEntry.objects.all(), user)
    return _ageing(entries, as_of or clock.today(), partner_id, company_id)


def receivable_ageing_unscoped(
    *,
    as_of: datetime.date | None = None,
    partner_id: int | None = None,
    company_id: int | None = None,
) -> AgeingReport:
    """The same for scheduled jobs (no user: every company)."""
    return _ageing(PartnerLedgerEntry.objects.all(), as_of or clock.today(), partner_id, company_id)


# ---------------------------------------------------------------- standing


@dataclass(frozen=True)
class CreditStanding:
    """A customer's credit position: the stored exposure row (components as of the last
    posting), the policy's formula applied, the limit, and today's overdue debt."""

    partner: Partner
    policy: PolicyValues
    components: Components
    exposure: Decimal
    credit_limit: Decimal
    limit_applies: bool
    overdue_amount: Decimal  # more than policy.overdue_block_days past due
    updated_at: datetime.datetime | None

    @property
    def headroom(self) -> Decimal | None:
        """What may still be added before the limit (None: no limit set)."""
        return self.credit_limit - self.exposure if self.limit_applies else None

    @property
    def over_limit(self) -> Decimal:
        if not self.limit_applies:
            return ZERO
        return max(ZERO, self.exposure - self.credit_limit)

    @property
    def is_over_limit(self) -> bool:
        return self.over_limit > 0

    @property
    def is_overdue_blocked(self) -> bool:
        return (
            self.policy.overdue_block_enabled
            and self.overdue_amount > self.policy.overdue_block_amount
        )

    @property
    def is_blocked(self) -> bool:
        """New goods issues and sales contracts need an approved credit exception."""
        return self.is_over_limit or self.is_overdue_blocked

    @property
    def usage_percent(self) -> Decimal | None:
        if not self.limit_applies or self.credit_limit <= 0:
            return None
        return (self.exposure * 100 / self.credit_limit).quantize(Decimal("0.1"))


def credit_standing(
    *,
    partner: Partner,
    as_of: datetime.date | None = None,
    exposure_row: CreditExposure | None = None,
    policy: PolicyValues | None = None,
    open_items: list[OpenReceivable] | None = None,
) -> CreditStanding:
    """The customer's standing (unscoped). Without an exposure row yet (no posting since
    credit control started) the components are computed from their sources. `policy` and
    `open_items` (the customer's open receivables) may be given when already loaded."""
    policy = policy or credit_policy_for(company_id=partner.company_id)
    row = exposure_row or CreditExposure.objects.filter(partner_id=partner.pk).first()
    if row is None:
        components = exposure_components(partner_id=partner.pk)
        updated_at = None
    else:
        components = Components(row.receivable, row.uninvoiced, row.open_orders)
        updated_at = row.updated_at
    if open_items is None:
        overdue = overdue_amount(
            partner_id=partner.pk, more_than_days=policy.overdue_block_days, as_of=as_of
        )
    else:
        overdue = sum(
            (
                item.outstanding
                for item in open_items
                if item.days_overdue > policy.overdue_block_days
            ),
            ZERO,
        ).quantize(MONEY)
    return CreditStanding(
        partner=partner,
        policy=policy,
        components=components,
        exposure=components.exposure(policy),
        credit_limit=partner.credit_limit,
        limit_applies=credit_limit_applies(partner),
        overdue_amount=overdue,
        updated_at=updated_at,
    )


def credit_exposure_get(
    *, user: Any, partner_id: int, as_of: datetime.date | None = None
) -> CreditStanding:
    """The standing of a customer whose master data the user reads; NotFound otherwise (and
    for partners that are not customers)."""
    partner = Partner.objects.filter(pk=partner_id).first()
    if (
        partner is None
        or not partner.is_customer
        or not can_read_master_data(user, partner.company_id)
    ):
        raise NotFound(_("Customer not found."))
    return credit_standing(partner=partner, as_of=as_of)


def _standings(
    partners: QuerySet[Partner], as_of: datetime.date | None, blocked_only: bool
) -> list[CreditStanding]:
    """Standings of the customers with an exposure row, in a fixed number of queries."""
    exposures = CreditExposure.objects.filter(partner__in=partners)
    rows = list(exposures.select_related("partner"))
    day = as_of or clock.today()
    items: dict[int, list[OpenReceivable]] = defaultdict(list)
    for item in open_receivables(as_of=day, partner_ids=exposures.values("partner_id")):
        items[item.partner_id].append(item)
    policies: dict[int, PolicyValues] = {}
    result = []
    for row in rows:
        owner = row.partner.company_id
        if owner not in policies:
            policies[owner] = credit_policy_for(company_id=owner)
        standing = credit_standing(
            partner=row.partner,
            as_of=day,
            exposure_row=row,
            policy=policies[owner],
            open_items=items[row.partner_id],
        )
        if blocked_only and not standing.is_blocked:
            continue
        result.append(standing)
    return sorted(result, key=lambda standing: (-standing.exposure, standing.partner.name))


def credit_exposure_list(
    *, user: Any, blocked_only: bool = False, as_of: datetime.date | None = None
) -> list[CreditStanding]:
    """Standings of the customers (with an exposure row) whose master data the user reads,
    largest exposure first; `blocked_only`: over the limit or blocked by overdue debt."""
    partners = Partner.objects.filter(
        company_id__in=master_data_company_ids(user),
        kind__in=[PartnerKind.CUSTOMER, PartnerKind.BOTH],
    )
    return _standings(partners, as_of, blocked_only)


def credit_exposure_list_unscoped(
    *, blocked_only: bool = False, as_of: datetime.date | None = None
) -> list[CreditStanding]:
    """Every customer's standing, for scheduled jobs."""
    partners = Partner.objects.filter(kind__in=[PartnerKind.CUSTOMER, PartnerKind.BOTH])
    return _standings(partners, as_of, blocked_only)


# ---------------------------------------------------------------- credit exceptions


def credit_exception_list(
    *,
    user: Any,
    status: str | None = None,
    partner_id: int | None = None,
    company_id: int | None = None,
) -> QuerySet[CreditException]:
    """Credit exceptions of the companies the user reads, newest first."""
    exceptions = scoped(CreditException.objects.all(), user).select_related(
        "partner", "company", "requested_by", "approved_by", "contract"
    )
    if status:
        exceptions = exceptions.filter(status=status)
    if partner_id:
        exceptions = exceptions.filter(partner_id=partner_id)
    if company_id:
        exceptions = exceptions.filter(company_id=company_id)
    return exceptions.order_by("-id")


def credit_exception_access(*, user: Any, id: int) -> CreditException:
    """One exception the user reads; missing and out of scope are both "not found"."""
    found = (
        scoped(CreditException.objects.all(), user)
        .select_related(
            "partner",
            "company",
            "requested_by",
            "approved_by",
            "used_by",
            "contract",
            "stock_document",
            "approval_request",
        )
        .filter(pk=id)
        .first()
    )
    if found is None:
        raise NotFound(_("Credit exception not found."))
    return found


def usable_credit_exceptions(
    *,
    company_id: int,
    partner_id: int,
    on: datetime.date,
    contract_chain_id: int | None = None,
    stock_document_id: int | None = None,
) -> QuerySet[CreditException]:
    """Approved, unused, unexpired exceptions that may serve a document of `company_id` for
    `partner_id` (unscoped: the credit check). Most specific first (for this goods issue,
    then for this contract, then general), then the smallest amount, the earliest expiry."""
    chain = (
        Q(contract__isnull=True)
        if contract_chain_id is None
        else Q(contract__isnull=True)
        | Q(contract_id=contract_chain_id)
        | Q(contract__original_id=contract_chain_id)
    )
    document = (
        Q(stock_document__isnull=True)
        if stock_document_id is None
        else Q(stock_document__isnull=True) | Q(stock_document_id=stock_document_id)
    )
    return (
        CreditException.objects.filter(
            company_id=company_id,
            partner_id=partner_id,
            status=CreditExceptionStatus.APPROVED,
            valid_until__gte=on,
            import_batch="",  # imported history let its own documents through, not ours
        )
        .filter(chain, document)
        .order_by(
            F("stock_document_id").asc(nulls_last=True),
            F("contract_id").asc(nulls_last=True),
            "amount",
            "valid_until",
            "id",
        )
    )


def sales_contracts_for_exception(
    *, user: Any, partner_id: int | None = None
) -> QuerySet[Contract]:
    """Sales contracts an exception may name (draft, pending or effective; the user's
    companies)."""
    contracts = scoped(Contract.objects.all(), user).filter(
        kind=ContractKind.SALES,
        status__in=[ContractStatus.DRAFT, ContractStatus.PENDING, ContractStatus.EFFECTIVE],
    )
    if partner_id:
        contracts = contracts.filter(partner_id=partner_id)
    return contracts.select_related("partner").order_by("-id")


# ---------------------------------------------------------------- policies


@dataclass(frozen=True)
class CompanyPolicy:
    company: Company
    policy: PolicyValues  # the policy in force for customers the company owns
    is_own: bool  # the company has its own row (else inherited, or the defaults)


def credit_policy_list(*, user: Any) -> list[CompanyPolicy]:
    """The policy in force for each company the user reads, in tree order."""
    companies = list(scoped(Company.objects.all(), user, field="pk").order_by("path"))
    result = []
    for company in companies:
        policy = credit_policy_for(company_id=company.pk)
        result.append(CompanyPolicy(company, policy, policy.company_id == company.pk))
    return result


def credit_policy_get(*, user: Any, company_id: int) -> CompanyPolicy:
    """One company's policy; NotFound outside the user's scope."""
    company = scoped(Company.objects.all(), user, field="pk").filter(pk=company_id).first()
    if company is None:
        raise NotFound(_("Company not found."))
    policy = credit_policy_for(company_id=company.pk)
    return CompanyPolicy(company, policy, policy.company_id == company.pk)

"""The legacy interchange format as data: every table, its columns and their types, whether a
value is required, the primary key, the references to other tables' keys and the load order.

The format is described for people in /work/shared/legacy-format/README.md (and docs); this
module is what the reader checks and the loader follows. Pure: no ORM, no I/O.

Typed values, as the reader returns them:

| type | text in the file | value |
| --- | --- | --- |
| text | anything | the text verbatim ("" when empty) |
| code | an old system's identifier | verbatim, never trimmed or re-cased (None when empty) |
| uscc | a unified social credit code | verbatim; a wrong check character is a warning |
| date | `YYYY-MM-DD` | `datetime.date` |
| moment | ISO 8601 with offset, `2025-03-04T09:15:00+08:00` | aware `datetime.datetime` |
| money | CNY incl. VAT, at most 2 decimals, `1234.50` | `Decimal` |
| quantity | tonnes, at most 3 decimals | `Decimal` |
| percent | 0–100, at most 2 decimals | `Decimal` |
| rate | 0–1, at most 4 decimals (a tax rate: `0.13`) | `Decimal` |
| integer | digits | `int` |
| enum | one of the allowed values | the text |

Empty optional values are None (text: ""). Numbers are never negative unless the column says so.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property


class ColumnType(enum.StrEnum):
    TEXT = "text"
    CODE = "code"
    USCC = "uscc"
    DATE = "date"
    MOMENT = "moment"
    MONEY = "money"
    QUANTITY = "quantity"
    PERCENT = "percent"
    RATE = "rate"
    INTEGER = "integer"
    ENUM = "enum"


# Decimal places each numeric type allows.
DECIMAL_PLACES = {
    ColumnType.MONEY: 2,
    ColumnType.QUANTITY: 3,
    ColumnType.PERCENT: 2,
    ColumnType.RATE: 4,
    ColumnType.INTEGER: 0,
}
# Upper bounds (inclusive) of the bounded numeric types.
MAXIMA = {ColumnType.PERCENT: 100, ColumnType.RATE: 1}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    choices: tuple[str, ...] = ()  # enum only
    signed: bool = False  # numbers: may be negative
    description: str = ""


@dataclass(frozen=True)
class Reference:
    """`columns` of a row name the key of a row of `table` (its primary key, column by
    column). Skipped when any of the columns is empty; `when` = (column, value): only rows
    whose `column` holds `value` (a reference that depends on a type column)."""

    columns: tuple[str, ...]
    table: str
    when: tuple[str, str] | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    references: tuple[Reference, ...] = ()
    description: str = ""

    @property
    def file(self) -> str:
        return f"{self.name}.csv"

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @cached_property
    def positions(self) -> dict[str, int]:
        """Column name → its index in a typed row (the spec's column order)."""
        return {name: index for index, name in enumerate(self.column_names)}

    def column(self, name: str) -> Column:
        return self.columns[self.positions[name]]

    def key_of(self, row: tuple[object, ...]) -> object:
        """The primary key of a typed row: the value itself for a one-column key, else a
        tuple."""
        positions = [self.positions[name] for name in self.key]
        if len(positions) == 1:
            return row[positions[0]]
        return tuple(row[position] for position in positions)


T = ColumnType


def _text(name: str, required: bool = False, description: str = "") -> Column:
    return Column(name, T.TEXT, required, description=description)


def _code(name: str, required: bool = False, description: str = "") -> Column:
    return Column(name, T.CODE, required, description=description)


def _enum(name: str, choices: tuple[str, ...], required: bool = True) -> Column:
    return Column(name, T.ENUM, required, choices=choices)


def _date(name: str, required: bool = False) -> Column:
    return Column(name, T.DATE, required)


def _moment(name: str, required: bool = False) -> Column:
    return Column(name, T.MOMENT, required)


def _money(name: str, required: bool = False, *, signed: bool = False) -> Column:
    return Column(name, T.MONEY, required, signed=signed)


def _quantity(name: str, required: bool = False) -> Column:
    return Column(name, T.QUANTITY, required)


def _percent(name: str, required: bool = False) -> Column:
    return Column(name, T.PERCENT, required)


def _rate(name: str, required: bool = False) -> Column:
    return Column(name, T.RATE, required)


def _integer(name: str, required: bool = False) -> Column:
    return Column(name, T.INTEGER, required)


ROLES = (
    "gm",
    "deputy_gm",
    "chairman",
    "group_leader",
    "dept_head",
    "purchaser",
    "sales",
    "accountant",
    "risk_officer",
    "keeper",
    "clerk",
    "engineer",
    "cost_auditor",
    "inspector",
)
COMPANY_KINDS = ("group", "subsidiary", "branch")
PARTNER_KINDS = ("supplier", "customer", "both")
ADMISSION_STATUSES = ("pending", "admitted", "suspended", "blacklisted", "not_admitted")
WAREHOUSE_KINDS = ("own", "third_party")
REQUEST_TYPES = ("contract", "payment", "engineering_payment", "expense", "credit_exception")
SUBJECT_TYPES = ("contract", "payment", "expense_claim", "customer")
REQUEST_STATUSES = ("pending", "approved", "rejected", "withdrawn")
DECISIONS = ("approved", "rejected")
CONTRACT_KINDS = ("purchase", "sales", "engineering")
CONTRACT_STATUSES = ("signed", "effective", "completed")
INVOICE_DIRECTIONS = ("received", "issued")
PAYMENT_DIRECTIONS = ("out", "in")
PAYMENT_KINDS = (
    "supplier_payment",
    "engineering_payment",
    "expense_reimbursement",
    "customer_receipt",
)
# The direction each kind of payment goes.
PAYMENT_KIND_DIRECTIONS = {
    "supplier_payment": "out",
    "engineering_payment": "out",
    "expense_reimbursement": "out",
    "customer_receipt": "in",
}

COMPANIES = Table(
    "companies",
    (
        _code("code", True),
        _text("name", True),
        _text("short_name"),
        _code("parent_code", description="empty for the group (the root)"),
        Column("uscc", T.USCC, True),
        _text("region"),
        _text("address"),
        _enum("kind", COMPANY_KINDS),
    ),
    key=("code",),
    references=(Reference(("parent_code",), "companies"),),
    description="The group and its companies: exactly one has no parent.",
)
DEPARTMENTS = Table(
    "departments",
    (
        _code("code", True),
        _code("company", True),
        _text("name", True),
        _code("head", description="employee_no"),
    ),
    key=("company", "code"),
    references=(
        Reference(("company",), "companies"),
        Reference(("head",), "employees"),
    ),
)
EMPLOYEES = Table(
    "employees",
    (
        _code("employee_no", True),
        _text("name", True),
        _code("company", True),
        _code("department"),
        _enum("role", ROLES),
        _text("title"),
        _text("phone"),
        _text("bank_name"),
        _text("bank_account"),
        _text("home_address"),
        _date("hired_on"),
    ),
    key=("employee_no",),
    references=(
        Reference(("company",), "companies"),
        Reference(("company", "department"), "departments"),
    ),
    description="People are identified by employee_no only: names repeat.",
)
PARTNERS = Table(
    "partners",
    (
        _code("code", True),
        _text("name", True),
        Column("uscc", T.USCC),
        _enum("kind", PARTNER_KINDS),
        _text("bank_name"),
        _text("bank_account"),
        _text("phone"),
        _text("address"),
        _enum("admission_status", ADMISSION_STATUSES),
        _date("admission_date"),
        _date("qualification_expiry"),
        _money("credit_limit"),
        _integer("payment_terms_days"),
        _date("created_on"),
    ),
    key=("code",),
    description="Suppliers and customers; the admission status as at the export date.",
)
PARTNER_STATUS_HISTORY = Table(
    "partner_status_history",
    (
        _code("partner", True),
        _enum("status", ADMISSION_STATUSES),
        _date("valid_from", True),
        _text("reason"),
    ),
    key=("partner", "valid_from"),
    references=(Reference(("partner",), "partners"),),
    description="The status on a date is that of the last row with valid_from on or before it; "
    "none: pending.",
)
COMMODITIES = Table(
    "commodities",
    (
        _code("code", True),
        _text("name", True),
        _text("spec"),
        _text("unit", True),
        _percent("tolerance_pct", True),
        _percent("contract_qty_tolerance_pct", True),
        _rate("tax_rate", True),
    ),
    key=("code",),
    description="tolerance_pct: the weighing and stocktake tolerance.",
)
WAREHOUSES = Table(
    "warehouses",
    (
        _code("code", True),
        _code("company", True),
        _text("name", True),
        _enum("kind", WAREHOUSE_KINDS),
        _text("address"),
    ),
    key=("code",),
    references=(Reference(("company",), "companies"),),
)
OPENING_STOCK = Table(
    "opening_stock",
    (
        _code("warehouse", True),
        _code("commodity", True),
        _quantity("qty", True),
        _money("unit_cost", True),
        _date("as_of", True),
    ),
    key=("warehouse", "commodity"),
    references=(
        Reference(("warehouse",), "warehouses"),
        Reference(("commodity",), "commodities"),
    ),
    description="Balances on the first day.",
)
APPROVAL_REQUESTS = Table(
    "approval_requests",
    (
        _code("request_id", True),
        _enum("type", REQUEST_TYPES),
        _code("company", True),
        _code("department"),
        _code("requester", True),
        _code("partner"),
        _money("amount"),
        _enum("subject_type", SUBJECT_TYPES, required=False),
        _code("subject_id"),
        _text("title", True),
        _moment("submitted_at", True),
        _enum("status", REQUEST_STATUSES),
        _moment("completed_at"),
    ),
    key=("request_id",),
    references=(
        Reference(("company",), "companies"),
        Reference(("company", "department"), "departments"),
        Reference(("requester",), "employees"),
        Reference(("partner",), "partners"),
        Reference(("subject_id",), "contracts", when=("subject_type", "contract")),
        Reference(("subject_id",), "payments", when=("subject_type", "payment")),
        Reference(("subject_id",), "partners", when=("subject_type", "customer")),
    ),
    description="subject: a contract_no, payment_id, expense-claim number or customer code.",
)
APPROVAL_STEPS = Table(
    "approval_steps",
    (
        _code("request_id", True),
        _integer("seq", True),
        _code("node", True),
        _code("approver", True),
        _enum("decision", DECISIONS),
        _moment("decided_at", True),
        _text("comment"),
    ),
    key=("request_id", "seq"),
    references=(
        Reference(("request_id",), "approval_requests"),
        Reference(("approver",), "employees"),
    ),
    description="A rejected step ends the route.",
)
CONTRACTS = Table(
    "contracts",
    (
        _code("contract_no", True),
        _enum("kind", CONTRACT_KINDS),
        _code("company", True),
        _code("partner", True),
        _code("owner", True),
        _date("signed_date", True),
        _date("effective_date"),
        _date("end_date"),
        _date("terminated_date"),
        _money("amount", True),
        _enum("status", CONTRACT_STATUSES),
        _code("approval_request_id"),
        _integer("payment_terms_days"),
    ),
    key=("contract_no",),
    references=(
        Reference(("company",), "companies"),
        Reference(("partner",), "partners"),
        Reference(("owner",), "employees"),
        Reference(("approval_request_id",), "approval_requests"),
    ),
    description="An empty effective_date: the contract never took effect.",
)
CONTRACT_LINES = Table(
    "contract_lines",
    (
        _code("contract_no", True),
        _integer("line_no", True),
        _code("commodity"),
        _quantity("quantity"),
        _money("unit_price"),
        _money("amount", True),
        _percent("qty_tolerance_pct"),
        _rate("tax_rate", True),
    ),
    key=("contract_no", "line_no"),
    references=(
        Reference(("contract_no",), "contracts"),
        Reference(("commodity",), "commodities"),
    ),
    description="Engineering lines have no commodity.",
)


def _stock_document(name: str, number: str, moment: str) -> Table:
    return Table(
        name,
        (
            _code(number, True),
            _code("company", True),
            _code("warehouse", True),
            _code("contract_no"),
            _code("partner", True),
            _moment(moment, True),
            _code("keeper"),
        ),
        key=(number,),
        references=(
            Reference(("company",), "companies"),
            Reference(("warehouse",), "warehouses"),
            Reference(("contract_no",), "contracts"),
            Reference(("partner",), "partners"),
            Reference(("keeper",), "employees"),
        ),
    )


def _stock_lines(name: str, number: str, header: str, price: str) -> Table:
    return Table(
        name,
        (
            _code(number, True),
            _integer("line_no", True),
            _code("contract_no"),
            _integer("contract_line_no"),
            _code("commodity", True),
            _quantity("doc_qty", True),
            _quantity("weighed_qty"),
            _money(price, True),
            _money("amount", True),
        ),
        key=(number, "line_no"),
        references=(
            Reference((number,), header),
            Reference(("contract_no", "contract_line_no"), "contract_lines"),
            Reference(("commodity",), "commodities"),
        ),
        description="Stock is booked at doc_qty; weighed_qty is the weighbridge reading.",
    )


GOODS_RECEIPTS = _stock_document("goods_receipts", "receipt_no", "received_at")
GOODS_RECEIPT_LINES = _stock_lines(
    "goods_receipt_lines", "receipt_no", "goods_receipts", "unit_cost"
)
GOODS_ISSUES = _stock_document("goods_issues", "issue_no", "issued_at")
GOODS_ISSUE_LINES = _stock_lines("goods_issue_lines", "issue_no", "goods_issues", "unit_price")
INVOICES = Table(
    "invoices",
    (
        _code("invoice_id", True),
        _enum("direction", INVOICE_DIRECTIONS),
        _code("invoice_no", True, description="byte for byte: leading zeros, dashes, case"),
        _code("invoice_code"),
        _code("company", True),
        _code("partner", True),
        _code("contract_no"),
        _money("amount", True, signed=True),
        _rate("tax_rate", True),
        _date("invoice_date", True),
        _date("due_date"),
    ),
    key=("invoice_id",),
    references=(
        Reference(("company",), "companies"),
        Reference(("partner",), "partners"),
        Reference(("contract_no",), "contracts"),
    ),
    description="Invoice numbers may repeat (a duplicate is history); invoice_id is the key.",
)
PAYMENTS = Table(
    "payments",
    (
        _code("payment_id", True),
        _enum("direction", PAYMENT_DIRECTIONS),
        _enum("kind", PAYMENT_KINDS),
        _code("company", True),
        _code("partner"),
        _code("contract_no"),
        _code("invoice_id"),
        _money("amount", True),
        _date("paid_date", True),
        _code("approval_request_id"),
        _code("payee_employee"),
        _text("note"),
    ),
    key=("payment_id",),
    references=(
        Reference(("company",), "companies"),
        Reference(("partner",), "partners"),
        Reference(("contract_no",), "contracts"),
        Reference(("invoice_id",), "invoices"),
        Reference(("approval_request_id",), "approval_requests"),
        Reference(("payee_employee",), "employees"),
    ),
    description="Customer receipts name the invoice they settle.",
)
RECEIVABLES = Table(
    "receivables",
    (
        _code("invoice_id", True),
        _code("invoice_no", True),
        _code("company", True),
        _code("customer", True),
        _code("contract_no"),
        _money("amount", True, signed=True),
        _date("invoice_date", True),
        _date("due_date"),
        _date("settled_date"),
        _money("outstanding_at_year_end", signed=True),
    ),
    key=("invoice_id",),
    references=(
        Reference(("invoice_id",), "invoices"),
        Reference(("company",), "companies"),
        Reference(("customer",), "partners"),
        Reference(("contract_no",), "contracts"),
    ),
    description="Derived from the issued invoices and the receipts, for convenience.",
)
STOCKTAKES = Table(
    "stocktakes",
    (
        _code("stocktake_id", True),
        _code("company", True),
        _code("warehouse", True),
        _code("commodity", True),
        _moment("counted_at", True),
        _quantity("book_qty", True),
        _quantity("counted_qty", True),
        _code("counter"),
    ),
    key=("stocktake_id", "commodity"),
    references=(
        Reference(("company",), "companies"),
        Reference(("warehouse",), "warehouses"),
        Reference(("commodity",), "commodities"),
        Reference(("counter",), "employees"),
    ),
    description="The difference was posted to the ledger at moving-average cost.",
)

# The load order: a table comes after the tables it references, except for the references
# marked deferred (`Format.deferred`), which point forward and are set once both exist.
TABLES: tuple[Table, ...] = (
    COMPANIES,
    DEPARTMENTS,
    EMPLOYEES,
    PARTNERS,
    PARTNER_STATUS_HISTORY,
    COMMODITIES,
    WAREHOUSES,
    OPENING_STOCK,
    APPROVAL_REQUESTS,
    APPROVAL_STEPS,
    CONTRACTS,
    CONTRACT_LINES,
    GOODS_RECEIPTS,
    GOODS_RECEIPT_LINES,
    GOODS_ISSUES,
    GOODS_ISSUE_LINES,
    INVOICES,
    PAYMENTS,
    RECEIVABLES,
    STOCKTAKES,
)


@dataclass(frozen=True)
class Format:
    tables: tuple[Table, ...]
    by_name: dict[str, Table] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {table.name: table for table in self.tables})

    def __getitem__(self, name: str) -> Table:
        return self.by_name[name]

    def __iter__(self) -> Iterator[Table]:
        return iter(self.tables)

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(table.file for table in self.tables)

    def load_order(self) -> tuple[str, ...]:
        return tuple(table.name for table in self.tables)

    def is_deferred(self, table: Table, reference: Reference) -> bool:
        """Does the reference point at a table loaded at the same time or later (the row is
        loaded first, the link set afterwards)?"""
        order = self.load_order()
        return order.index(reference.table) >= order.index(table.name)

    def referenced_tables(self) -> tuple[str, ...]:
        """The tables other tables point at (their keys must be kept while reading)."""
        names = {reference.table for table in self.tables for reference in table.references}
        return tuple(name for name in self.load_order() if name in names)


FORMAT = Format(TABLES)

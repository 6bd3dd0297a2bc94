"""Loading a checked legacy folder as history: one atomic batch.

`legacy_import(folder)` reads and checks every file first (`reader.read_folder`) and loads
nothing unless the batch has no errors. Then, in ONE transaction, in the format's load order, it
maps the old systems' identifiers to new ids and hands each app's own history writer its rows
(`org.history`, `approvals.history`, `trading.services.history`): bulk inserts, never today's
services or controls — a self-approval, a shipment to an overdue customer, a payment beyond its
contract are loaded as they happened. The stock and partner ledgers are rebuilt from the
documents. Every imported record keeps its source identifier verbatim (`source_id`) and the
batch id (`import_batch`); the batch row (`ImportBatch`) holds the fingerprint — the same
folder loads once, a second load returns the first batch — and the report. Audit events: one
for the batch and one per table written, not one per row.

Companies this installation has already (the same USCC, else the same code) and their
departments are matched, not made again: their history is booked on them.

What the old formats hold that Qinglian has no place for is counted in the report's
`skipped` (docs/legacy-import.md lists it).
"""

from __future__ import annotations

import datetime
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from qinglian.approvals import history as approval_history
from qinglian.approvals.history import HistoryStep
from qinglian.core import clock
from qinglian.core.audit import audit_record
from qinglian.core.history import cyclic_collection_paused, foreign_keys_checked_in_bulk
from qinglian.org import history as org_history
from qinglian.org.enums import RoleCode
from qinglian.org.models import Company
from qinglian.org.scopes import data_scope
from qinglian.trading.enums import ApprovedPostingStatus as Approved
from qinglian.trading.enums import (
    ContractKind,
    ContractStatus,
    PaymentTerm,
    PostingStatus,
    StockDocumentKind,
    StocktakeKind,
)
from qinglian.trading.models import CreditExceptionStatus
from qinglian.trading.selectors.money import due_date_for, invoice_number_key
from qinglian.trading.services import credit as credit_services
from qinglian.trading.services import history as trading_history
from qinglian.trading.services.warnings import warnings_refresh_after_commit

from .models import ImportBatch
from .reader import Batch, Problem, read_folder
from .spec import FORMAT

CENT = Decimal("0.01")
ZERO = Decimal("0")

# The old systems' roles → Qinglian's roles (docs/legacy-import.md shows this table). Each is
# granted over the employee's own company and the companies below it.
ROLE_MAP: dict[str, str] = {
    "chairman": RoleCode.GENERAL_MANAGER,
    "gm": RoleCode.GENERAL_MANAGER,
    "deputy_gm": RoleCode.LEADER_IN_CHARGE,
    "group_leader": RoleCode.LEADER_IN_CHARGE,
    "dept_head": RoleCode.DEPARTMENT_HEAD,
    "purchaser": RoleCode.PURCHASER,
    "sales": RoleCode.SALESPERSON,
    "accountant": RoleCode.FINANCE,
    "risk_officer": RoleCode.LEGAL_REVIEWER,
    "keeper": RoleCode.WAREHOUSE_KEEPER,
    "clerk": RoleCode.HANDLER,
    "engineer": RoleCode.HANDLER,
    "cost_auditor": RoleCode.COST_AUDITOR,
    "inspector": RoleCode.INSPECTOR,
}

# Request types → the approval flow (template code) they are filed under; a flow this
# installation does not have is created inactive, named "…（历史）".
FLOWS: dict[str, tuple[str, str]] = {
    "contract": ("trading_contract", "购销合同审批"),
    "payment": ("trading_payment", "付款审批"),
    "engineering_payment": ("engineering_payment", "工程款支付"),
    "expense": ("expense_claim", "费用报销"),
    "credit_exception": ("trading_credit_exception", "信用例外审批"),
}

# A credit-exception request's status → its credit exception's.
CREDIT_EXCEPTION_STATUSES: dict[str, str] = {
    "approved": CreditExceptionStatus.APPROVED,
    "rejected": CreditExceptionStatus.REJECTED,
    "withdrawn": CreditExceptionStatus.CANCELLED,
    "pending": CreditExceptionStatus.PENDING,
}

# The trading models know purchase and sales contracts, supplier payments and customer receipts;
# the rest of the old systems' history stays in the approval requests that decided it.
CONTRACT_KINDS = frozenset({ContractKind.PURCHASE, ContractKind.SALES})
PAYMENT_KINDS = frozenset({"supplier_payment", "customer_receipt"})


def _is_trade(contract: dict[str, Any]) -> bool:
    """A contract row loaded as a trading contract."""
    return contract["kind"] in CONTRACT_KINDS


def _is_settlement(payment: dict[str, Any]) -> bool:
    """A payment row loaded as a trading payment (it settles with a partner)."""
    return payment["kind"] in PAYMENT_KINDS and bool(payment["partner"])


# A company of the file that cannot be told apart from, or matched onto, one here.
COMPANIES = "companies.csv"
CONFLICT = "company_conflict"


class LoadRefused(Exception):
    """The folder has errors (nothing was loaded), or its history cannot be booked."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass
class LoadReport:
    batch_id: str
    fingerprint: str
    folder: str
    rows: dict[str, int]  # data rows per file of the format
    written: dict[str, int] = field(default_factory=dict)  # records per target table
    skipped: dict[str, int] = field(default_factory=dict)  # rows with no place, by reason
    seconds: float = 0.0
    check_seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    created: bool = True  # False: this folder was loaded before (nothing written now)
    dry_run: bool = False
    warnings: int = 0

    @property
    def row_total(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.row_total / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "fingerprint": self.fingerprint,
            "folder": self.folder,
            "created": self.created,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "row_total": self.row_total,
            "written": self.written,
            "skipped": self.skipped,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "check_seconds": round(self.check_seconds, 3),
            "phases": {name: round(value, 3) for name, value in self.phases.items()},
            "rows_per_second": round(self.rows_per_second),
        }


def can_import_legacy(user: Any) -> bool:
    """Who may load a legacy folder: IT administrators and inspectors over a group (a root
    company: a load creates companies, users and every kind of document)."""
    scope = data_scope(user)
    companies = scope.companies_with_role(RoleCode.IT_ADMIN) | scope.companies_with_role(
        RoleCode.INSPECTOR
    )
    return (
        bool(companies) and Company.objects.filter(pk__in=companies, parent__isnull=True).exists()
    )


def legacy_import(
    folder: str | Path,
    *,
    actor: Any = None,
    dry_run: bool = False,
    label: str = "",
    online: bool = False,
) -> LoadReport:
    """Check the folder, then load it as one batch (or, `dry_run`, only check it). Raises
    LoadRefused, having written nothing, when the folder has errors or its history cannot be
    booked. The same folder again returns the earlier batch's report (`created` False).

    `online`: others are using the installation meanwhile — the foreign keys of large tables
    stay in place and are checked row by row at commit (slower), instead of being dropped and
    checked in one pass at the end, which locks those tables, and the tables they refer to
    (people, companies, partners …), until the batch commits."""
    with cyclic_collection_paused():
        return _import(folder, actor=actor, dry_run=dry_run, label=label, online=online)


def _import(
    folder: str | Path, *, actor: Any, dry_run: bool, label: str, online: bool
) -> LoadReport:
    started = time.perf_counter()
    batch = read_folder(folder)
    check_seconds = time.perf_counter() - started
    if not batch.is_clean:
        raise LoadRefused(
            f"{batch.error_count} errors in {batch.folder}: nothing was loaded", batch.errors
        )
    existing = ImportBatch.objects.filter(fingerprint=batch.fingerprint).first()
    if existing is not None:
        return _report_of(existing)
    report = LoadReport(
        batch_id="",
        fingerprint=batch.fingerprint,
        folder=(label or Path(folder).name)[:255],
        rows=dict(batch.counts),
        check_seconds=check_seconds,
        dry_run=dry_run,
        warnings=len(batch.warnings),
    )
    if dry_run:
        report.seconds = time.perf_counter() - started
        return report
    now = clock.now()
    report.batch_id = f"{timezone.localtime(now):%Y%m%d%H%M%S}-{batch.fingerprint[:12]}"
    try:
        with transaction.atomic():
            loader = _Loader(batch, report, actor)
            with foreign_keys_checked_in_bulk(enabled=not online) as keys:
                loader.run()
            report.phases["foreign_keys"] = keys.seconds
            report.seconds = time.perf_counter() - started
            ImportBatch.objects.create(
                id=report.batch_id,
                fingerprint=batch.fingerprint,
                folder=report.folder,
                rows=report.rows,
                written=report.written,
                row_total=report.row_total,
                seconds=report.seconds,
                started_at=now,
                finished_at=clock.now(),
                actor=actor if getattr(actor, "pk", None) else None,
            )
            _audit(report, loader.root_id, actor)
            # As a posting does: once the batch commits, the trading warnings of what it
            # loaded are detected (in the background), so supervision's rule 16 sees them.
            warnings_refresh_after_commit(
                contract_ids=loader.contracts.values(), partner_ids=loader.partners.values()
            )
    except trading_history.HistoryRefused as error:
        raise LoadRefused(str(error)) from error
    except IntegrityError as error:
        raise LoadRefused(
            f"Records of this folder conflict with records already imported or made here "
            f"(a source identifier, number or code already exists): {error}"
        ) from error
    # The time the load took, its commit (and the deferred constraint checks) included.
    report.seconds = time.perf_counter() - started
    ImportBatch.objects.filter(pk=report.batch_id).update(seconds=report.seconds)
    return report


def _report_of(batch: ImportBatch) -> LoadReport:
    return LoadReport(
        batch_id=batch.id,
        fingerprint=batch.fingerprint,
        folder=batch.folder,
        rows=dict(batch.rows),
        written=dict(batch.written),
        seconds=batch.seconds,
        created=False,
    )


def _audit(report: LoadReport, company_id: int | None, actor: Any) -> None:
    common = {
        "actor": actor,
        "company_id": company_id,
        "object_type": "legacy.importbatch",
        "object_id": report.batch_id,
        "object_repr": report.folder,
    }
    for table, count in report.written.items():
        audit_record(
            action="legacy.table.loaded",
            changes={"table": [None, table], "rows": [None, count]},
            **common,
        )
    audit_record(
        action="legacy.batch.loaded",
        changes={
            "fingerprint": [None, report.fingerprint],
            "rows": [None, report.row_total],
            "written": [None, sum(report.written.values())],
        },
        **common,
    )


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def _local_date(moment: datetime.datetime) -> datetime.date:
    return timezone.localtime(moment).date()


def _tax_of(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount - amount / (1 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)


class _Loader:
    """One load: source identifiers → new ids, table by table in the format's load order."""

    def __init__(self, batch: Batch, report: LoadReport, actor: Any) -> None:
        self.batch = batch
        self.report = report
        self.actor = actor
        self.batch_id = report.batch_id
        self.root_id: int | None = None
        self.companies: dict[str, int] = {}
        self.departments: dict[tuple[str, str], int] = {}
        self.users: dict[str, int] = {}
        self.user_department: dict[str, int | None] = {}
        self.first_user: dict[int, int] = {}
        self.partners: dict[str, int] = {}
        self.partner_days: dict[str, int] = {}
        self.partner_kind: dict[str, str] = {}
        self.commodities: dict[str, int] = {}
        self.commodity_tax: dict[str, Decimal] = {}
        self.warehouses: dict[str, int] = {}
        self.warehouse_company: dict[str, int] = {}
        self.warehouse_kind: dict[str, str] = {}
        self.requests: dict[str, int] = {}
        self.request_requester: dict[str, str] = {}
        self.request_documents: dict[int, tuple[str, str]] = {}  # what each decided
        self.contracts: dict[str, int] = {}
        self.contract_owner: dict[str, str] = {}
        self.contract_days: dict[str, int] = {}
        self.contract_lines: dict[tuple[str, int], int] = {}
        self.contract_line_tax: dict[tuple[str, int], Decimal] = {}
        self.payments: dict[str, int] = {}

    # ------------------------------------------------------------ helpers

    def rows(self, table: str) -> Iterator[dict[str, Any]]:
        names = FORMAT[table].column_names
        for row in self.batch.iter_rows(table):
            yield dict(zip(names, row, strict=True))

    def written(self, counts: dict[str, int]) -> None:
        for name, count in counts.items():
            self.report.written[name] = self.report.written.get(name, 0) + count

    def skip(self, reason: str, count: int = 1) -> None:
        self.report.skipped[reason] = self.report.skipped.get(reason, 0) + count

    def someone(self, company_id: int, *employee_nos: str | None) -> int:
        """The first of the named employees, else the company's first employee, else the
        actor (documents need a person who made them)."""
        for number in employee_nos:
            if number and number in self.users:
                return self.users[number]
        if company_id in self.first_user:
            return self.first_user[company_id]
        if self.first_user:
            return next(iter(self.first_user.values()))
        return int(self.actor.pk)

    def run(self) -> None:
        for name, step in (
            ("org", self.load_org),
            ("master", self.load_master),
            ("approvals", self.load_approvals),
            ("contracts", self.load_contracts),
            ("stock", self.load_stock),
            ("money", self.load_money),
            ("credit", self.load_credit),
        ):
            started = time.perf_counter()
            step()
            self.report.phases[name] = time.perf_counter() - started
        self.skip("receivables (derived, checked only)", self.batch.counts.get("receivables", 0))
        self.report.skipped = {key: value for key, value in self.report.skipped.items() if value}

    # ------------------------------------------------------------ org

    def load_org(self) -> None:
        companies = list(self.rows("companies"))
        parents = {row["code"]: row["parent_code"] for row in companies}
        matched = self.match_companies(companies)
        created = org_history.companies_write(
            [
                {
                    "code": row["code"],
                    "name": row["name"],
                    "short_name": row["short_name"][:60],
                    "uscc": row["uscc"],
                    "address": row["address"][:255],
                    "source_id": row["code"],
                }
                for row in companies
                if row["code"] not in matched
            ],
            parents=parents,
            existing=matched,
            batch_id=self.batch_id,
        )
        self.companies = {**matched, **created}
        self.root_id = next(self.companies[code] for code, parent in parents.items() if not parent)
        self.written({"org.company": len(created)})
        self.skip("companies already here (matched by code or USCC)", len(matched))
        # The departments of a matched company that it has here already are its own.
        departments = list(self.rows("departments"))
        here = org_history.departments_existing(set(matched.values())) if matched else {}
        new = []
        for row in departments:
            pk = here.get((self.companies[row["company"]], row["code"]))
            if pk is None:
                new.append(row)
            else:
                self.departments[(row["company"], row["code"])] = pk
        ids = org_history.departments_write(
            [
                {
                    "company_id": self.companies[row["company"]],
                    "code": row["code"],
                    "name": row["name"][:100],
                    "source_id": row["code"],
                }
                for row in new
            ],
            batch_id=self.batch_id,
        )
        for row, pk in zip(new, ids, strict=True):
            self.departments[(row["company"], row["code"])] = pk
        self.written({"org.department": len(ids)})
        self.skip(
            "departments already here (matched by company and code)", len(departments) - len(new)
        )
        departments = new  # only those written here get their head from the file
        employees = list(self.rows("employees"))
        values = []
        for row in employees:
            department = (
                self.departments.get((row["company"], row["department"]))
                if row["department"]
                else None
            )
            self.user_department[row["employee_no"]] = department
            values.append(
                {
                    "username": f"legacy-{row['employee_no']}"[:150],
                    "name": row["name"][:60],
                    "employee_number": row["employee_no"],
                    "phone": row["phone"][:20],
                    "bank_name": row["bank_name"][:100],
                    "bank_account": row["bank_account"][:40],
                    "home_address": row["home_address"][:255],
                    "company_id": self.companies[row["company"]],
                    "department_id": department,
                    "position": row["title"][:60],
                    "date_joined": _day_start(row["hired_on"]) if row["hired_on"] else clock.now(),
                    "source_id": row["employee_no"],
                }
            )
        ids = org_history.users_write(values, batch_id=self.batch_id)
        assignments = []
        for row, value, pk in zip(employees, values, ids, strict=True):
            self.users[row["employee_no"]] = pk
            self.first_user.setdefault(value["company_id"], pk)
            if row["role"] in ROLE_MAP:
                assignments.append((pk, ROLE_MAP[row["role"]], value["company_id"]))
        self.written({"org.user": len(ids)})
        self.written({"org.roleassignment": org_history.role_assignments_write(assignments)})
        heads = {
            self.departments[(row["company"], row["code"])]: self.users[row["head"]]
            for row in departments
            if row["head"]
        }
        org_history.department_heads_write(heads)

    def match_companies(self, companies: list[dict[str, Any]]) -> dict[str, int]:
        """Code → id of the companies of the file this installation has already (the same
        unified social credit code, else the same code): their history is booked on them and
        no second company is made. A code here that belongs to a company with another USCC,
        or a code and a USCC naming two companies here, refuses the load."""
        found = org_history.companies_existing(
            codes=[row["code"] for row in companies], usccs=[row["uscc"] for row in companies]
        )
        by_code = {company.code: company for company in found}
        by_uscc = {company.uscc: company for company in found if company.uscc}
        matched: dict[str, int] = {}
        problems = []
        for number, row in enumerate(companies, start=2):  # the header is row 1
            named = by_code.get(row["code"])
            same = by_uscc.get(row["uscc"]) if row["uscc"] else None
            values = {"code": row["code"], "uscc": row["uscc"]}
            if same is not None and named is not None and named.pk != same.pk:
                values |= {"named": named.name, "same": same.name}
                message = _(
                    "The code %(code)s is %(named)s here and the unified social credit code "
                    "%(uscc)s is %(same)s: they cannot both be this company."
                )
                problems.append(Problem(COMPANIES, number, "uscc", CONFLICT, message % values))
            elif same is not None:
                matched[row["code"]] = same.pk
            elif named is not None and row["uscc"] and named.uscc and named.uscc != row["uscc"]:
                values |= {"named": named.name, "here": named.uscc}
                message = _(
                    "The code %(code)s is %(named)s here, whose unified social credit code is "
                    "%(here)s, not %(uscc)s."
                )
                problems.append(Problem(COMPANIES, number, "code", CONFLICT, message % values))
            elif named is not None:
                matched[row["code"]] = named.pk
        if problems:
            raise LoadRefused(
                f"{len(problems)} companies of {self.batch.folder} conflict with companies "
                f"here: nothing was loaded",
                problems,
            )
        return matched

    # ------------------------------------------------------------ master data

    def load_master(self) -> None:
        assert self.root_id is not None
        partners = list(self.rows("partners"))
        ids = trading_history.partners_write(
            [
                {
                    "company_id": self.root_id,
                    "code": row["code"],
                    "name": row["name"][:200],
                    "uscc": row["uscc"] or "",
                    "kind": row["kind"],
                    "bank_name": row["bank_name"][:100],
                    "bank_account": row["bank_account"][:40],
                    "phone": row["phone"][:30],
                    "address": row["address"][:255],
                    "admission_status": row["admission_status"],
                    "admitted_on": row["admission_date"],
                    "credit_limit": row["credit_limit"] or ZERO,
                    "payment_days": row["payment_terms_days"] or 0,
                    "source_id": row["code"],
                }
                for row in partners
            ],
            qualification_expiry=[row["qualification_expiry"] for row in partners],
            batch_id=self.batch_id,
        )
        for row, pk in zip(partners, ids, strict=True):
            self.partners[row["code"]] = pk
            self.partner_days[row["code"]] = row["payment_terms_days"] or 0
            self.partner_kind[row["code"]] = row["kind"]
        self.written({"trading.partner": len(ids)})
        # The admission status history (status from a day on): supervision judges each use of
        # a supplier by its status on that day.
        self.written(
            {
                "trading.partnerstatuschange": trading_history.partner_status_write(
                    [
                        {
                            "partner_id": self.partners[row["partner"]],
                            "status": row["status"],
                            "valid_from": row["valid_from"],
                            "reason": row["reason"][:255],
                            "source_id": f"{row['partner']}@{row['valid_from'].isoformat()}",
                        }
                        for row in self.rows("partner_status_history")
                    ],
                    batch_id=self.batch_id,
                )
            }
        )
        commodities = list(self.rows("commodities"))
        ids = trading_history.commodities_write(
            [
                {
                    "company_id": self.root_id,
                    "code": row["code"],
                    "name": row["name"][:100],
                    "spec": row["spec"][:100],
                    "unit": row["unit"][:10],
                    "tolerance_percent": row["tolerance_pct"],
                    "quantity_tolerance_percent": row["contract_qty_tolerance_pct"],
                    "tax_rate": row["tax_rate"],
                    "source_id": row["code"],
                }
                for row in commodities
            ],
            batch_id=self.batch_id,
        )
        for row, pk in zip(commodities, ids, strict=True):
            self.commodities[row["code"]] = pk
            self.commodity_tax[row["code"]] = row["tax_rate"]
        self.written({"trading.commodity": len(ids)})
        warehouses = list(self.rows("warehouses"))
        ids = trading_history.warehouses_write(
            [
                {
                    "company_id": self.companies[row["company"]],
                    "code": row["code"],
                    "name": row["name"][:100],
                    "kind": row["kind"],
                    "address": row["address"][:255],
                    "source_id": row["code"],
                }
                for row in warehouses
            ],
            batch_id=self.batch_id,
        )
        for row, pk in zip(warehouses, ids, strict=True):
            self.warehouses[row["code"]] = pk
            self.warehouse_company[row["code"]] = self.companies[row["company"]]
            self.warehouse_kind[row["code"]] = row["kind"]
        self.written({"trading.warehouse": len(ids)})

    # ------------------------------------------------------------ approvals

    def load_approvals(self) -> None:
        versions = approval_history.history_versions(FLOWS)
        steps: dict[str, list[HistoryStep]] = defaultdict(list)
        for row in self.rows("approval_steps"):
            steps[row["request_id"]].append(
                HistoryStep(
                    index=row["seq"],
                    node=row["node"],
                    approver_id=self.users[row["approver"]],
                    approved=row["decision"] == "approved",
                    decided_at=row["decided_at"],
                    comment=row["comment"],
                )
            )
        for own in steps.values():
            own.sort(key=lambda step: step.index)
        requests = list(self.rows("approval_requests"))
        payees = self.payees(
            {row["request_id"]: row["type"] for row in requests},
            approval_history.person_fields(
                {kind: version for kind, (_template, version) in versions.items()}
            ),
        )
        # Ids first, of the requests and of the documents they decided: each side is then
        # written once, pointing at the other.
        for row, pk in zip(
            requests, approval_history.request_ids_reserve(len(requests)), strict=True
        ):
            self.requests[row["request_id"]] = pk
            self.request_requester[row["request_id"]] = row["requester"]
        self.reserve_documents(requests)
        exceptions = self.credit_exceptions(requests, steps)
        values = []
        for row in requests:
            template_id, version_id = versions[row["type"]]
            company = row["company"]
            form = {
                "title": row["title"],
                "legacy_type": row["type"],
                "partner": row["partner"] or "",
                "subject_type": row["subject_type"] or "",
                "subject_id": row["subject_id"] or "",
            }
            if row["amount"] is not None:
                form["amount"] = str(row["amount"])
            form.update(payees.get(row["request_id"], {}))
            pk = self.requests[row["request_id"]]
            document_type, document_id = self.request_documents.get(pk, ("", ""))
            values.append(
                {
                    "id": pk,
                    "serial": row["request_id"][:32],
                    "company_id": self.companies[company],
                    "template_id": template_id,
                    "version_id": version_id,
                    "requester_id": self.users[row["requester"]],
                    "department_id": self.departments.get((company, row["department"]))
                    if row["department"]
                    else None,
                    "title": row["title"][:200],
                    "form_data": form,
                    "amount": row["amount"],
                    "status": row["status"],
                    "submitted_at": row["submitted_at"],
                    "finished_at": row["completed_at"],
                    "document_type": document_type,
                    "document_id": document_id,
                    "source_id": row["request_id"],
                }
            )
        _ids, counts = approval_history.requests_write(values, steps, batch_id=self.batch_id)
        self.written(counts)
        trading_history.credit_exceptions_write(exceptions, batch_id=self.batch_id)
        self.written({"trading.creditexception": len(exceptions)})

    def reserve_documents(self, requests: list[dict[str, Any]]) -> None:
        """The ids of the contracts and payments this load writes (as `load_contracts` and
        `load_money` select them), and the requests that decided them: request id →
        (document type, document id) in `request_documents`."""
        contracts = [row["contract_no"] for row in self.rows("contracts") if _is_trade(row)]
        self.contracts = dict(
            zip(contracts, trading_history.ids_reserve("contract", len(contracts)), strict=True)
        )
        payments = [row["payment_id"] for row in self.rows("payments") if _is_settlement(row)]
        self.payments = dict(
            zip(payments, trading_history.ids_reserve("payment", len(payments)), strict=True)
        )
        for row in requests:
            kind, source = row["subject_type"], row["subject_id"]
            pk = self.requests[row["request_id"]]
            if kind == "contract" and source in self.contracts:
                self.request_documents[pk] = ("trading.contract", str(self.contracts[source]))
            elif kind == "payment" and source in self.payments:
                self.request_documents[pk] = ("trading.payment", str(self.payments[source]))

    def credit_exceptions(
        self, requests: list[dict[str, Any]], steps: dict[str, list[HistoryStep]]
    ) -> list[dict[str, Any]]:
        """The credit exceptions the old platform's credit-exception requests decided (their
        rows, each with its reserved id): one per request, granted (approved) by the last
        person who approved it, refused, given back (withdrawn) or still under approval as
        the request stands; the customer's standing when it was asked for is not in the
        format (left at zero). Granted ones were valid on the day they were granted only: they
        never let a document booked here through."""
        values = []
        for row in requests:
            if row["type"] != "credit_exception":
                continue
            customer = row["partner"] or (
                row["subject_id"] if row["subject_type"] == "customer" else None
            )
            if customer is None or customer not in self.partners:
                self.skip("credit_exception requests without a customer")
                continue
            status = CREDIT_EXCEPTION_STATUSES[row["status"]]
            approvers = [
                step.approver_id for step in steps.get(row["request_id"], ()) if step.approved
            ]
            decided = row["completed_at"] if row["status"] != "pending" else None
            amount = row["amount"] or ZERO
            values.append(
                {
                    "company_id": self.companies[row["company"]],
                    "number": row["request_id"][:40],
                    "partner_id": self.partners[customer],
                    "status": status,
                    "amount": amount,
                    "allow_overdue": amount <= 0,  # no amount: it lifted the overdue block
                    "reason": row["title"],
                    "valid_until": _local_date(decided or row["submitted_at"]),
                    "requested_by_id": self.users[row["requester"]],
                    "approval_request_id": self.requests[row["request_id"]],
                    "submitted_at": row["submitted_at"],
                    "decided_at": decided,
                    "approved_by_id": approvers[-1]
                    if status == CreditExceptionStatus.APPROVED and approvers
                    else None,
                    "source_id": row["request_id"],
                }
            )
        ids = trading_history.ids_reserve("credit_exception", len(values))
        for value, pk in zip(values, ids, strict=True):
            value["id"] = pk
            if value["status"] != CreditExceptionStatus.PENDING:
                # A request still under approval is not bound: nothing may decide it now.
                self.request_documents[value["approval_request_id"]] = (
                    credit_services.DOCUMENT_TYPE,
                    str(pk),
                )
        return values

    def payees(self, kinds: dict[str, str], fields: dict[str, str]) -> dict[str, dict[str, int]]:
        """Request id → {form field: user id} of the person its payment was paid to (payments'
        `payee_employee`: whom an expense claim reimbursed), in the person field of the
        request's flow (`fields`: request type → field key), where supervision's rule 1
        compares it with the requester and the approvers. `kinds`: request id → type."""
        found: dict[str, dict[str, int]] = {}
        for row in self.rows("payments"):
            if not row["payee_employee"]:
                continue
            request = row["approval_request_id"] or ""
            if request not in kinds:
                self.skip("payees of payments without an approval request")
                continue
            field_key = fields.get(kinds[request])
            if field_key is None:
                self.skip(f"payees of {kinds[request]} requests (the flow has no person field)")
                continue
            found[request] = {field_key: self.users[row["payee_employee"]]}
        return found

    # ------------------------------------------------------------ contracts

    def load_contracts(self) -> None:
        executed: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        for table in ("goods_receipt_lines", "goods_issue_lines"):
            for row in self.rows(table):
                if row["contract_no"] and row["contract_line_no"] is not None:
                    executed[(row["contract_no"], row["contract_line_no"])] += row["doc_qty"]
        invoiced: dict[str, Decimal] = defaultdict(Decimal)
        for row in self.rows("invoices"):
            if row["contract_no"]:
                invoiced[row["contract_no"]] += row["amount"]
        settled: dict[str, Decimal] = defaultdict(Decimal)
        for row in self.rows("payments"):
            if row["contract_no"] and row["kind"] in PAYMENT_KINDS:
                settled[row["contract_no"]] += row["amount"]
        lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
        skipped_lines = 0
        for row in self.rows("contract_lines"):
            if row["commodity"] is None or row["quantity"] is None or row["unit_price"] is None:
                skipped_lines += 1
                continue
            key = (row["contract_no"], row["line_no"])
            self.contract_line_tax[key] = row["tax_rate"]
            lines[row["contract_no"]].append(
                {
                    "line_number": row["line_no"],
                    "commodity_id": self.commodities[row["commodity"]],
                    "quantity": row["quantity"],
                    "unit_price": row["unit_price"],
                    "tax_rate": row["tax_rate"],
                    "amount": row["amount"],
                    "quantity_tolerance_percent": row["qty_tolerance_pct"] or ZERO,
                    "executed_quantity": executed.get(key, ZERO),
                }
            )
        contracts = []
        values = []
        for row in self.rows("contracts"):
            number = row["contract_no"]
            if not _is_trade(row):
                self.skip(f"contracts of kind {row['kind']} (kept in their approval requests)")
                continue
            own = lines.get(number, [])
            if row["terminated_date"]:
                status = ContractStatus.TERMINATED
            elif row["status"] == "signed":
                status = ContractStatus.PENDING
            else:
                status = ContractStatus(row["status"])
            days = row["payment_terms_days"] or 0
            owner = row["owner"]
            contracts.append(row)
            values.append(
                {
                    "id": self.contracts[number],
                    "company_id": self.companies[row["company"]],
                    "number": number,
                    "revision": 0,
                    "kind": row["kind"],
                    "partner_id": self.partners[row["partner"]],
                    "status": status,
                    "signed_on": row["signed_date"],
                    "effective_on": row["effective_date"],
                    "end_on": row["end_date"],
                    "terminated_on": row["terminated_date"],
                    "payment_term": PaymentTerm.CREDIT if days else PaymentTerm.ON_DELIVERY,
                    "credit_days": days,
                    "total_quantity": sum((line["quantity"] for line in own), ZERO),
                    "total_amount": row["amount"],
                    "total_tax": sum(
                        (_tax_of(line["amount"], line["tax_rate"]) for line in own), ZERO
                    ),
                    "invoiced_amount": invoiced.get(number, ZERO),
                    "settled_amount": settled.get(number, ZERO),
                    "owner_id": self.users[owner],
                    "department_id": self.user_department.get(owner),
                    "approval_request_id": self.requests.get(row["approval_request_id"] or ""),
                    "created_by_id": self.users[owner],
                    "source_id": number,
                }
            )
        ids, line_ids = trading_history.contracts_write(
            values, [lines.get(row["contract_no"], []) for row in contracts], batch_id=self.batch_id
        )
        for row, pk, own_ids in zip(contracts, ids, line_ids, strict=True):
            number = row["contract_no"]
            self.contracts[number] = pk
            self.contract_owner[number] = row["owner"]
            self.contract_days[number] = row["payment_terms_days"] or 0
            for line, line_id in zip(lines.get(number, []), own_ids, strict=True):
                self.contract_lines[(number, line["line_number"])] = line_id
        self.written({"trading.contract": len(ids)})
        self.written({"trading.contractline": sum(len(own) for own in line_ids)})
        self.skip("contract lines without a commodity (engineering)", skipped_lines)

    # ------------------------------------------------------------ stock

    def load_stock(self) -> None:
        openings: dict[tuple[int, datetime.date], trading_history.OpeningIn] = {}
        for row in self.rows("opening_stock"):
            company = self.warehouse_company[row["warehouse"]]
            key = (company, row["as_of"])
            opening = openings.get(key)
            if opening is None:
                opening = openings[key] = trading_history.OpeningIn(
                    values={
                        "company_id": company,
                        "number": f"LEGACY-{row['as_of']:%Y%m%d}",
                        "posting_date": row["as_of"],
                        "source": f"legacy {self.report.folder}",
                        "source_id": f"opening_stock@{row['as_of'].isoformat()}",
                    },
                    moment=_day_start(row["as_of"]),
                )
            opening.lines.append(
                (
                    self.warehouses[row["warehouse"]],
                    self.commodities[row["commodity"]],
                    row["qty"],
                    # Amounts of the format include VAT; the stock ledger is net of it.
                    row["unit_cost"] / (1 + self.commodity_tax[row["commodity"]]),
                )
            )
        documents = []
        for kind, header, lines, number, at, price in (
            (StockDocumentKind.RECEIPT, "goods_receipts", "goods_receipt_lines",
             "receipt_no", "received_at", "unit_cost"),
            (StockDocumentKind.ISSUE, "goods_issues", "goods_issue_lines",
             "issue_no", "issued_at", "unit_price"),
        ):  # fmt: skip
            by_number: dict[str, trading_history.StockDocumentIn] = {}
            for row in self.rows(header):
                company = self.companies[row["company"]]
                contract = row["contract_no"]
                moment = row[at]
                keeper = self.users.get(row["keeper"] or "")
                owner = self.contract_owner.get(contract or "")
                document = trading_history.StockDocumentIn(
                    values={
                        "company_id": company,
                        "number": row[number],
                        "kind": kind,
                        "status": PostingStatus.POSTED,
                        "warehouse_id": self.warehouses[row["warehouse"]],
                        "contract_id": self.contracts.get(contract or ""),
                        "partner_id": self.partners[row["partner"]],
                        "posting_date": _local_date(moment),
                        "keeper_id": keeper,
                        "created_by_id": self.someone(company, row["keeper"], owner),
                        "posted_by_id": keeper,
                        "posted_at": moment,
                        "total_quantity": ZERO,
                        "total_amount": ZERO,
                        "source_id": row[number],
                    },
                    moment=moment,
                )
                by_number[row[number]] = document
                documents.append(document)
            for row in self.rows(lines):
                document = by_number[row[number]]
                line_key = (row["contract_no"] or "", row["contract_line_no"] or 0)
                tax = self.contract_line_tax.get(line_key, self.commodity_tax[row["commodity"]])
                document.lines.append(
                    trading_history.StockLineIn(
                        values={
                            "line_number": row["line_no"],
                            "contract_line_id": self.contract_lines.get(line_key),
                            "commodity_id": self.commodities[row["commodity"]],
                            "quantity": row["doc_qty"],
                            "weighed_quantity": row["weighed_qty"],
                            "unit_price": row[price],
                            "amount": row["amount"],
                        },
                        tax_rate=tax,
                    )
                )
                document.values["total_quantity"] += row["doc_qty"]
                document.values["total_amount"] += row["amount"]
        stocktakes: dict[str, trading_history.StocktakeIn] = {}
        for row in self.rows("stocktakes"):
            number = row["stocktake_id"]
            stocktake = stocktakes.get(number)
            if stocktake is None:
                company = self.companies[row["company"]]
                stocktake = stocktakes[number] = trading_history.StocktakeIn(
                    values={
                        "company_id": company,
                        "number": number,
                        "kind": StocktakeKind.STATEMENT
                        if self.warehouse_kind[row["warehouse"]] == "third_party"
                        else StocktakeKind.COUNT,
                        "warehouse_id": self.warehouses[row["warehouse"]],
                        "counted_on": _local_date(row["counted_at"]),
                        "status": Approved.POSTED,
                        "counter_id": self.someone(company, row["counter"]),
                        "posted_at": row["counted_at"],
                        "source_id": number,
                    },
                    moment=row["counted_at"],
                )
            stocktake.lines.append(
                {
                    "commodity_id": self.commodities[row["commodity"]],
                    "book_quantity": row["book_qty"],
                    "counted_quantity": row["counted_qty"],
                }
            )
        self.written(
            trading_history.stock_history_write(
                list(openings.values()),
                documents,
                list(stocktakes.values()),
                batch_id=self.batch_id,
            )
        )

    # ------------------------------------------------------------ money

    def load_money(self) -> None:
        invoices: list[dict[str, Any]] = []
        index_of: dict[str, int] = {}
        for row in self.rows("invoices"):
            company = self.companies[row["company"]]
            contract = row["contract_no"] or ""
            due = row["due_date"] or due_date_for(
                row["invoice_date"],
                credit_days=self.contract_days.get(contract, 0),
                partner_days=self.partner_days.get(row["partner"], 0),
            )
            index_of[row["invoice_id"]] = len(invoices)
            invoices.append(
                {
                    "company_id": company,
                    "direction": row["direction"],
                    "invoice_number": row["invoice_no"],
                    "invoice_code": row["invoice_code"] or "",
                    "number_key": invoice_number_key(row["invoice_code"] or "", row["invoice_no"])[
                        :64
                    ],
                    "partner_id": self.partners[row["partner"]],
                    "contract_id": self.contracts.get(contract),
                    "amount": row["amount"],
                    "tax_rate": row["tax_rate"],
                    "tax_amount": _tax_of(row["amount"], row["tax_rate"]),
                    "invoice_date": row["invoice_date"],
                    "due_date": due,
                    "status": PostingStatus.POSTED,
                    "created_by_id": self.someone(company, self.contract_owner.get(contract)),
                    "posted_at": _day_start(row["invoice_date"]),
                    "source_id": row["invoice_id"],
                }
            )
        payments = []
        for row in self.rows("payments"):
            if not _is_settlement(row):
                self.skip(f"payments of kind {row['kind']} (kept in their approval requests)")
                continue
            company = self.companies[row["company"]]
            contract = row["contract_no"] or ""
            request = row["approval_request_id"] or ""
            payments.append(
                {
                    "id": self.payments[row["payment_id"]],
                    "company_id": company,
                    "number": row["payment_id"],
                    "direction": row["direction"],
                    "kind": row["kind"],
                    "partner_id": self.partners[row["partner"]],
                    "contract_id": self.contracts.get(contract),
                    "invoice_index": index_of.get(row["invoice_id"] or ""),
                    "amount": row["amount"],
                    "paid_on": row["paid_date"],
                    "status": Approved.POSTED,
                    "approval_request_id": self.requests.get(request),
                    "remarks": row["note"],
                    "created_by_id": self.someone(
                        company,
                        self.request_requester.get(request),
                        self.contract_owner.get(contract),
                    ),
                    "posted_at": _day_start(row["paid_date"]),
                    "source_id": row["payment_id"],
                }
            )
        _invoice_ids, _payment_ids, counts = trading_history.money_history_write(
            invoices, payments, batch_id=self.batch_id
        )
        self.written(counts)

    # ------------------------------------------------------------ credit exposure

    def load_credit(self) -> None:
        """The imported customers' credit exposure rows, from the history just written (in the
        same transaction)."""
        customers = sorted(
            pk for code, pk in self.partners.items() if self.partner_kind[code] != "supplier"
        )
        self.written(
            {"trading.creditexposure": credit_services.exposure_rebuild(partner_ids=customers)}
        )

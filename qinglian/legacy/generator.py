"""Generate realistic history in the legacy interchange format, with planted violations.

`generate(out_dir, rows=N, seed=S)` writes one CSV per table of the format (about N rows in
all) and `planted.json`, which lists every planted case: the supervision rule that should find
it, what it is, and the source identifiers involved. The same seed and size give the same
bytes.

The history is a group — a parent and its subsidiaries, each with departments, people in their
roles, warehouses and a share of the group's commodities — trading with suppliers and customers
over the period (by default 2025-01-01 to 2026-10-31): purchase and sales contracts approved
through their routes, receipts and issues against them (stock never goes negative: issues take
what the warehouse holds), invoices, payments and customer receipts, engineering contracts
paid by progress payments, expense claims, credit exceptions and monthly stocktakes.

Clean noise is kept away from every rule: people never approve their own requests or what
pays them; contracts with one counterparty are more than 30 days apart; amounts stay outside
the band of 10 % below each approval threshold; invoice numbers, phones, bank accounts and
addresses are unique; deliveries stay within their contracts' quantity tolerance and take
place while the contract is in force; weighing and stocktake differences stay within half the
commodity's tolerance; prices stay within a few per cent of the market (sales above cost);
customers pay before their invoices fall due; credit exceptions are rare (for one customer at
most once in 400 days, in one company at most twice in 35 days); decisions are taken on
weekdays between 09:00 and 18:00, at least 20 minutes after the task arrived; the first digits
of expense and engineering amounts follow Benford's law per company and year; purchases are
spread over many suppliers.

The approval thresholds assumed are those of the flows the product ships: contracts above
1,000,000 go to the leader in charge and above 5,000,000 to the general manager, engineering
payments above 1,000,000 to the general manager, expense claims above 5,000 to the leader.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from qinglian.core.uscc import check_character

from .planting import Planter
from .records import (
    BANKS,
    CITIES,
    COMMODITIES,
    CONTRACT_BANDS,
    CONTRACT_THRESHOLDS,
    CONTRACTOR_TRADES,
    CUSTOMER_TRADES,
    DAY,
    DEFAULT_END,
    DEFAULT_START,
    DEPARTMENTS,
    DISTRICTS,
    ENGINEERING_BANDS,
    ENGINEERING_THRESHOLD,
    EXPENSE_BANDS,
    EXPENSE_THRESHOLD,
    FORMAT_VERSION,
    GIVEN,
    MANIFEST,
    MIN_GAP,
    ROADS,
    SUBSIDIARIES,
    SUPPLIER_TRADES,
    SURNAMES,
    TRADE_WORDS,
    WORK_END,
    WORK_START,
    YUAN,
    Claim,
    Commodity,
    Company,
    Contract,
    Department,
    DigitQuota,
    Document,
    DocumentLine,
    Employee,
    Invoice,
    Line,
    Partner,
    Payment,
    Planted,
    Receivable,
    Request,
    Rotation,
    Step,
    Stocktake,
    Summary,
    Warehouse,
    at,
    day,
    digit_amount,
    in_bands,
    line_amount,
    moment,
    money,
    next_month,
    quantity,
    seconds_of,
    workday,
)
from .spec import FORMAT


class HistoryGenerator:
    def __init__(
        self,
        *,
        rows: int,
        seed: int,
        start: dt.date = DEFAULT_START,
        end: dt.date = DEFAULT_END,
    ) -> None:
        if end <= start + dt.timedelta(days=180):
            raise ValueError("the period must be longer than half a year")
        self.target = max(rows, 500)
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - generated history, not security
        self.start = start
        self.end = end
        self.companies: list[Company] = []
        self.employees: list[Employee] = []
        self.partners: list[Partner] = []
        self.commodities: list[Commodity] = []
        self.warehouses: list[Warehouse] = []
        self.opening: list[tuple[Warehouse, Commodity, int, int]] = []
        self.requests: list[Request] = []
        self.contracts: list[Contract] = []
        self.documents: list[Document] = []
        self.invoices: list[Invoice] = []
        self.payments: list[Payment] = []
        self.claims: list[Claim] = []
        self.receivables: list[Receivable] = []
        self.stocktakes: list[Stocktake] = []
        self.planted: list[Planted] = []
        self.skipped: list[dict[str, str]] = []
        self.quota = DigitQuota()
        self.counter = Counter[str]()
        self.used_invoice_numbers: set[str] = set()
        self.invoice_amount_days: set[tuple[int, int, dt.date]] = set()
        self.rotations: dict[tuple[int, str], Rotation] = {}
        self.names: set[str] = set()
        self.stocktake_planted = False
        self.credit_used: dict[int, dt.date] = {}

    # ------------------------------------------------------------ helpers

    def next(self, name: str) -> int:
        self.counter[name] += 1
        return self.counter[name]

    def pick(self, items: Sequence[Any]) -> Any:
        return items[self.rng.randrange(len(items))]

    def person_name(self) -> str:
        return self.pick(SURNAMES) + self.pick(GIVEN)

    def uscc(self, region: str) -> str:
        first17 = f"91{region}MA{self.next('uscc'):07d}"
        return first17 + check_character(first17)

    def address(self, city: tuple[str, str, str, str]) -> str:
        number = self.next("address")
        road = ROADS[number % len(ROADS)]
        return f"{city[0]}{city[1]}{self.pick(DISTRICTS)}{road}{100 + number}号"

    def landline(self, city: tuple[str, str, str, str]) -> str:
        return f"{city[3]}-8{self.next('landline'):07d}"

    def mobile(self) -> str:
        return f"13{self.next('mobile'):09d}"

    def partner_account(self) -> str:
        number = f"{self.next('partner_account'):012d}"
        return f"6217 {number[:4]} {number[4:8]} {number[8:]}"

    def employee_account(self) -> str:
        return f"6222 0212 {self.next('employee_account'):08d}"

    def on_work(
        self, on: dt.date, earliest: int = WORK_START, latest: int = WORK_END
    ) -> dt.datetime:
        return at(workday(on), self.rng.randint(earliest, latest - MIN_GAP))

    def later(self, after: dt.datetime, low: int = MIN_GAP, high: int = 30 * 3600) -> dt.datetime:
        """A working moment at least `low` seconds after `after`."""
        candidate = after + dt.timedelta(seconds=self.rng.randint(low, high))
        seconds = seconds_of(candidate)
        if candidate.weekday() >= 5 or seconds >= WORK_END:
            following = workday(candidate.date() + DAY)
            return at(following, WORK_START + self.rng.randint(0, 3 * 3600))
        if seconds < WORK_START:
            return at(workday(candidate.date()), WORK_START + self.rng.randint(0, 3 * 3600))
        return candidate

    def date_between(self, first: dt.date, last: dt.date) -> dt.date:
        return first + dt.timedelta(days=self.rng.randint(0, max(0, (last - first).days)))

    def role(self, company: Company, role: str, *, besides: Iterable[Employee] = ()) -> Employee:
        excluded = {id(person) for person in besides}
        people = [person for person in company.people[role] if id(person) not in excluded]
        return self.pick(people)

    def head_of(self, person: Employee) -> Employee:
        head = person.department.head if person.department is not None else None
        if head is None or head is person:
            return self.role(person.company, "deputy_gm", besides=[person])
        return head

    # ------------------------------------------------------------ the plan

    def scale(self) -> dict[str, int]:
        target = self.target
        subsidiaries = min(8, max(2, round(math.sqrt(target) / 120)))
        return {
            "subsidiaries": subsidiaries,
            "suppliers": 12 + target // 500,
            "customers": 10 + target // 500,
            "contractors": 4 + target // 5000,
            "purchasers": 2 + target // 60_000,
            "sales": 2 + target // 60_000,
            "engineers": 1 + target // 150_000,
            "clerks": 2 + target // 100_000,
        }

    def run(self) -> None:
        scale = self.scale()
        self.master(scale)
        planter = Planter(self)
        planter.reserve_partners()
        master_rows = self.master_rows()
        budget = max(self.target - master_rows - 450, 0)
        # Monthly counts of every warehouse's commodities come first; the rest of the budget
        # is shared out by activity, at the rows one unit of each makes (measured).
        budget = (budget - self.stocktake_rows()) * 91 // 100
        self.clean_trade(
            purchases=max(round(budget * 0.34 / 18.0), 12 * scale["subsidiaries"]),
            sales=max(round(budget * 0.34 / 15.0), 12 * scale["subsidiaries"]),
            engineering=max(round(budget * 0.09 / 19.0), 2 * scale["subsidiaries"]),
            expenses=max(round(budget * 0.22 / 4.2), 20 * scale["subsidiaries"]),
            credit_exceptions=max(round(budget * 0.01 / 3.0), 2),
        )
        planter.before_simulation()
        self.simulate()
        self.money()
        planter.after_money()
        self.number()

    # ------------------------------------------------------------ master data

    def master(self, scale: dict[str, int]) -> None:
        rng = self.rng
        home = CITIES[0]
        group = Company(
            "QL",
            "青联控股集团有限公司",
            "青联集团",
            None,
            self.uscc(home[2]),
            home[0] + home[1],
            self.address(home),
            "group",
            0,
        )
        self.companies.append(group)
        for index in range(scale["subsidiaries"]):
            code, name, short = SUBSIDIARIES[index]
            city = CITIES[(index + 1) % len(CITIES)]
            self.companies.append(
                Company(
                    code,
                    name,
                    short,
                    group,
                    self.uscc(city[2]),
                    city[0] + city[1],
                    self.address(city),
                    "subsidiary",
                    index + 1,
                )
            )
        for commodity_index, (code, name, spec, tolerance, contract_tolerance, price) in enumerate(
            COMMODITIES
        ):
            self.commodities.append(
                Commodity(
                    code,
                    name,
                    spec,
                    tolerance,
                    contract_tolerance,
                    price * YUAN,
                    commodity_index * 0.7,
                    round(float(tolerance) * 10_000),
                )
            )
        for company in self.companies:
            self.organisation(company, scale)
        for company in self.companies[1:]:
            traded = rng.sample(self.commodities, k=min(len(self.commodities), rng.randint(4, 6)))
            company.commodities = sorted(traded, key=self.commodities.index)
            self.stores(company)
        self.trading_partners(scale)

    def organisation(self, company: Company, scale: dict[str, int]) -> None:
        for code, name in DEPARTMENTS:
            if company.parent is None and code in ("CG", "XS", "CC", "GC"):
                continue
            company.departments[code] = Department(code, company, name)
        roles: list[tuple[str, str, str]] = []  # role, department, title
        if company.parent is None:
            roles += [
                ("chairman", "BGS", "董事长"),
                ("gm", "BGS", "总经理"),
                ("deputy_gm", "BGS", "副总经理"),
                ("deputy_gm", "BGS", "副总经理"),
                ("group_leader", "JJ", "纪委书记"),
                ("inspector", "JJ", "纪检监察员"),
                ("inspector", "JJ", "纪检监察员"),
                ("accountant", "CW", "会计"),
                ("accountant", "CW", "会计"),
                ("risk_officer", "FK", "法务专员"),
                ("cost_auditor", "FK", "造价审核员"),
                ("clerk", "BGS", "文员"),
            ]
        else:
            roles += [
                ("gm", "BGS", "总经理"),
                ("deputy_gm", "BGS", "副总经理"),
                ("deputy_gm", "BGS", "副总经理"),
                ("accountant", "CW", "会计"),
                ("accountant", "CW", "出纳"),
                ("accountant", "CW", "会计"),
                ("risk_officer", "FK", "风控专员"),
                ("cost_auditor", "GC", "造价审核员"),
                ("inspector", "JJ", "纪检监察员"),
            ]
            roles += [("purchaser", "CG", "采购员")] * scale["purchasers"]
            roles += [("sales", "XS", "销售业务员")] * scale["sales"]
            roles += [("engineer", "GC", "工程管理员")] * scale["engineers"]
            roles += [("clerk", "BGS", "文员")] * scale["clerks"]
        heads = [
            ("dept_head", code, f"{department.name}负责人")
            for code, department in company.departments.items()
        ]
        for role, department_code, title in heads + roles:
            department = company.departments.get(department_code)
            person = self.employee(company, department, role, title)
            if role == "dept_head" and department is not None:
                department.head = person

    def employee(
        self, company: Company, department: Department | None, role: str, title: str
    ) -> Employee:
        rng = self.rng
        city = CITIES[company.index % len(CITIES)]
        person = Employee(
            f"E{self.next('employee'):05d}",
            self.person_name(),
            company,
            department,
            role,
            title,
            self.mobile(),
            self.pick(BANKS),
            self.employee_account(),
            self.address(city),
            dt.date(rng.randint(2003, 2023), rng.randint(1, 12), rng.randint(1, 28)),
        )
        self.employees.append(person)
        company.people[role].append(person)
        return person

    def stores(self, company: Company) -> None:
        rng = self.rng
        city = CITIES[company.index % len(CITIES)]
        kinds = ["own", "third_party"] if company.index % 2 else ["own", "own", "third_party"]
        for number, kind in enumerate(kinds, start=1):
            name = (
                f"{company.short_name}{number}号库"
                if kind == "own"
                else f"{city[1]}{self.pick(TRADE_WORDS)}物流园（第三方）"
            )
            keeper = self.employee(company, company.departments.get("CC"), "keeper", "仓管员")
            warehouse = Warehouse(
                f"{company.id}-WH{number:02d}", company, name, kind, self.address(city), keeper
            )
            company.warehouses.append(warehouse)
            self.warehouses.append(warehouse)
            for commodity in company.commodities:
                if kind == "third_party" and rng.random() < 0.4:
                    continue
                tonnes = rng.randint(900, 3200) * 1000 * 3900 * YUAN // commodity.price
                cost = round(commodity.market(self.start) * rng.uniform(0.95, 0.99))
                self.opening.append((warehouse, commodity, tonnes, cost))

    def unique_name(self, city: tuple[str, str, str, str], trades: Sequence[str]) -> str:
        for _attempt in range(50):
            name = f"{city[1][:-1]}{self.pick(TRADE_WORDS)}{self.pick(trades)}有限公司"
            if name not in self.names:
                self.names.add(name)
                return name
        name = (
            f"{city[1][:-1]}{self.pick(TRADE_WORDS)}{self.next('name')}{self.pick(trades)}有限公司"
        )
        self.names.add(name)
        return name

    def trading_partners(self, scale: dict[str, int]) -> None:
        for count, kind, prefix, trades in (
            (scale["suppliers"], "supplier", "GYS", SUPPLIER_TRADES),
            (scale["customers"], "customer", "KH", CUSTOMER_TRADES),
            (scale["contractors"], "supplier", "SG", CONTRACTOR_TRADES),
        ):
            for _number in range(count):
                partner = self.partner(prefix, kind, trades)
                if prefix == "SG":
                    partner.id = f"SG{self.next('SG'):04d}"
        # A few partners are both supplier and customer.
        for partner in self.partners[: max(2, len(self.partners) // 40)]:
            if partner.id.startswith("GYS"):
                partner.kind = "both"

    def partner(
        self,
        prefix: str,
        kind: str,
        trades: Sequence[str],
        *,
        created_on: dt.date | None = None,
        admitted_on: dt.date | None = None,
    ) -> Partner:
        rng = self.rng
        city = self.pick(CITIES)
        name = self.unique_name(city, trades)
        created = created_on or self.date_between(
            dt.date(2016, 1, 1), self.start - dt.timedelta(days=60)
        )
        admitted = admitted_on or created + dt.timedelta(days=rng.randint(5, 40))
        customer = kind == "customer"
        partner = Partner(
            f"{prefix}{self.next(prefix):05d}",
            name,
            self.uscc(city[2]),
            kind,
            f"{self.pick(BANKS)}{city[1][:-1]}分行",
            self.partner_account(),
            self.landline(city),
            self.address(city),
            "admitted",
            admitted,
            None if customer else self.end + dt.timedelta(days=rng.randint(200, 1200)),
            rng.randint(40, 160) * 500_000 * YUAN if kind != "supplier" else None,
            self.pick((30, 45, 60)),
            created,
        )
        if not customer:
            partner.history.append(("pending", created, "提交准入申请"))
        partner.history.append(
            ("admitted", admitted, "准入审核通过" if not customer else "客户建档")
        )
        self.partners.append(partner)
        return partner

    def master_rows(self) -> int:
        return (
            len(self.companies)
            + sum(len(company.departments) for company in self.companies)
            + len(self.employees)
            + len(self.partners)
            + sum(len(partner.history) for partner in self.partners)
            + len(self.commodities)
            + len(self.warehouses)
            + len(self.opening)
        )

    # ------------------------------------------------------------ approvals

    def route(
        self, kind: str, requester: Employee, amount: int | None
    ) -> list[tuple[str, Employee]]:
        company = requester.company
        cents = amount or 0
        if kind == "contract":
            steps = [
                ("dept_head", self.head_of(requester)),
                ("legal", self.role(company, "risk_officer", besides=[requester])),
                ("finance", self.role(company, "accountant", besides=[requester])),
            ]
            if cents > CONTRACT_THRESHOLDS[0] * YUAN:
                steps.append(("leader", self.role(company, "deputy_gm", besides=[requester])))
            if cents > CONTRACT_THRESHOLDS[1] * YUAN:
                steps.append(("gm", self.role(company, "gm", besides=[requester])))
            return steps
        if kind in ("payment", "credit_exception"):
            return [
                ("finance", self.role(company, "accountant", besides=[requester])),
                ("gm", self.role(company, "gm", besides=[requester])),
            ]
        if kind == "engineering_payment":
            steps = [
                ("cost_audit", self.role(company, "cost_auditor", besides=[requester])),
                ("leader", self.role(company, "deputy_gm", besides=[requester])),
            ]
            if cents > ENGINEERING_THRESHOLD * YUAN:
                steps.append(("gm", self.role(company, "gm", besides=[requester])))
            return steps
        steps = [
            ("dept_head", self.head_of(requester)),
            ("finance", self.role(company, "accountant", besides=[requester])),
        ]
        if cents > EXPENSE_THRESHOLD * YUAN:
            steps.append(("leader", self.role(company, "deputy_gm", besides=[requester])))
        return steps

    def request(
        self,
        kind: str,
        requester: Employee,
        submitted: dt.datetime,
        *,
        amount: int | None,
        partner: Partner | None,
        subject_type: str,
        subject: Any,
        title: str,
        route: list[tuple[str, Employee]] | None = None,
        outcome: str = "approved",
        times: dict[int, dt.datetime] | None = None,
    ) -> Request:
        """A request decided along its route; `outcome`: approved, rejected (at a random
        step) or pending (decided only partly); `times`: planted decision moments by step."""
        request = Request(
            kind,
            requester.company,
            requester,
            partner,
            amount,
            subject_type,
            subject,
            title,
            submitted,
        )
        steps = route if route is not None else self.route(kind, requester, amount)
        stop = len(steps)
        if outcome == "rejected":
            stop = self.rng.randint(1, len(steps))
        elif outcome == "pending":
            stop = self.rng.randint(0, len(steps) - 1)
        arrived = submitted
        for index, (node, approver) in enumerate(steps[:stop]):
            decided = (times or {}).get(index) or self.later(arrived)
            rejected = outcome == "rejected" and index == stop - 1
            comment = ""
            if rejected:
                comment = self.pick(
                    ("资料不全，请补充", "金额有误", "不符合制度要求", "请重新报价比选")
                )
            elif self.rng.random() < 0.2:
                comment = self.pick(("同意", "同意，按制度执行", "已核", "请按合同条款执行"))
            request.steps.append(
                Step(node, approver, "rejected" if rejected else "approved", decided, comment)
            )
            arrived = decided
        if outcome == "approved":
            request.status, request.completed = "approved", arrived
        elif outcome == "rejected":
            request.status, request.completed = "rejected", arrived
        self.requests.append(request)
        return request

    # ------------------------------------------------------------ contracts

    def rotation(self, company: Company, kind: str) -> Rotation:
        key = (company.index, kind)
        if key not in self.rotations:
            if kind == "purchase":
                pool = [
                    p
                    for p in self.partners
                    if p.kind in ("supplier", "both") and p.id.startswith("GYS")
                ]
            elif kind == "sales":
                pool = [p for p in self.partners if p.kind in ("customer", "both")]
            else:
                pool = [p for p in self.partners if p.id.startswith("SG")]
            self.rotations[key] = Rotation([p for p in pool if not p.reserved], self.rng)
        return self.rotations[key]

    def goods_lines(
        self,
        company: Company,
        on: dt.date,
        target: int,
        kind: str,
        *,
        commodities: Sequence[Commodity] = (),
    ) -> list[Line]:
        """Contract lines worth about `target` cents at the day's market price."""
        rng = self.rng
        chosen = list(commodities) or rng.sample(
            company.commodities, k=min(len(company.commodities), rng.choice((1, 1, 1, 2, 2, 3)))
        )
        shares = [rng.uniform(0.5, 1.5) for _commodity in chosen]
        lines = []
        for number, (commodity, share) in enumerate(zip(chosen, shares, strict=True), start=1):
            factor = rng.uniform(0.95, 1.0) if kind == "purchase" else rng.uniform(1.06, 1.10)
            price = round(commodity.market(on) * factor / YUAN) * YUAN
            tonnes = max(30, round(target * share / sum(shares) / price))
            kilograms = tonnes * 1000
            lines.append(
                Line(
                    number,
                    commodity,
                    kilograms,
                    price,
                    line_amount(kilograms, price),
                    commodity.contract_tolerance,
                    "0.13",
                )
            )
        return lines

    def clean_amount(self, low: int = 300_000, high: int = 1_800_000) -> int:
        while True:
            cents = round(math.exp(self.rng.uniform(math.log(low), math.log(high)))) * YUAN
            if not in_bands(cents, CONTRACT_BANDS):
                return cents

    def contract(
        self,
        kind: str,
        company: Company,
        partner: Partner,
        owner: Employee,
        signed: dt.date,
        lines: list[Line],
        *,
        outcome: str = "approved",
        times: dict[int, dt.datetime] | None = None,
        route: list[tuple[str, Employee]] | None = None,
        effective_after_days: int | None = None,
    ) -> Contract:
        contract = Contract(kind, company, partner, owner, signed, lines, partner.terms)
        # Keep every contract amount out of the bands (clean lines are scaled down a little).
        while in_bands(contract.amount, CONTRACT_BANDS) and route is None and times is None:
            for line in lines:
                if line.kilograms is not None and line.price is not None:
                    line.kilograms = line.kilograms * 85 // 100 // 1000 * 1000
                    line.amount = line_amount(line.kilograms, line.price)
                else:
                    line.amount = line.amount * 85 // 100
        titles = {"purchase": "采购合同", "sales": "销售合同", "engineering": "施工合同"}
        names = "、".join(line.commodity.name for line in lines if line.commodity)
        submitted = self.on_work(signed)
        contract.request = self.request(
            "contract",
            owner,
            submitted,
            amount=contract.amount,
            partner=partner,
            subject_type="contract",
            subject=contract,
            title=f"{partner.name}{names}{titles[kind]}",
            route=route,
            outcome=outcome,
            times=times,
        )
        if contract.request.status == "approved":
            assert contract.request.completed is not None
            contract.effective = contract.request.completed.date()
            if effective_after_days is not None:
                contract.effective = signed + dt.timedelta(days=effective_after_days)
            contract.status = "effective"
        contract.end = signed + dt.timedelta(days=self.rng.randint(120, 240))
        self.contracts.append(contract)
        return contract

    def deliveries(
        self,
        contract: Contract,
        *,
        first: dt.date | None = None,
        count: int | None = None,
        factor: float | None = None,
        spacing: tuple[int, int] = (6, 40),
    ) -> None:
        """Receipts or issues of the contract's lines, planned (issues are sized to the stock
        when the simulation reaches them)."""
        rng = self.rng
        kind = "receipt" if contract.kind == "purchase" else "issue"
        goods = [line for line in contract.lines if line.commodity is not None]
        smallest = min(line.kilograms or 0 for line in goods)
        if count is None:
            count = 1 if smallest < 90_000 else rng.choice((1, 2, 2, 3, 3, 4))
        day = first or (
            (contract.effective or contract.signed) + dt.timedelta(days=rng.randint(3, 20))
        )
        weights = [rng.uniform(0.6, 1.4) for _number in range(count)]
        totals = {
            id(line): int(
                (line.kilograms or 0) * (factor if factor is not None else rng.uniform(0.96, 1.02))
            )
            for line in goods
        }
        for number in range(count):
            if day > self.end:
                break
            lines = []
            for line in goods:
                assert line.commodity is not None and line.price is not None
                share = int(totals[id(line)] * weights[number] / sum(weights))
                kilograms = max(share, 10_000)
                lines.append(DocumentLine(line, line.commodity, kilograms, None, line.price))
            document = Document(
                kind,
                contract.company,
                contract,
                contract.partner,
                self.on_work(day, WORK_START - 3600, WORK_END),
                lines,
            )
            contract.documents.append(document)
            self.documents.append(document)
            day = day + dt.timedelta(days=rng.randint(*spacing))
        if contract.end is not None and contract.documents:
            contract.end = max(
                contract.end, contract.documents[-1].at.date() + dt.timedelta(days=10)
            )

    def weigh(self, line: DocumentLine) -> None:
        """A weighbridge reading within half the commodity's tolerance (one in ten unweighed)."""
        if self.rng.random() < 0.1:
            return
        half = line.commodity.tolerance_ppm // 2
        line.weighed = line.kilograms + line.kilograms * self.rng.randint(-half, half) // 1_000_000

    # ------------------------------------------------------------ the clean trade

    def deal_days(self, count: int, last_margin: int) -> list[dt.date]:
        first = self.start + dt.timedelta(days=3)
        last = self.end - dt.timedelta(days=last_margin)
        return sorted(self.date_between(first, last) for _number in range(count))

    def clean_trade(
        self, *, purchases: int, sales: int, engineering: int, expenses: int, credit_exceptions: int
    ) -> None:
        rng = self.rng
        subsidiaries = self.companies[1:]
        for kind, count in (("purchase", purchases), ("sales", sales)):
            for signed in self.deal_days(count, 40):
                self.deal(kind, self.pick(subsidiaries), workday(signed))
        self.balance_suppliers()
        for signed in self.deal_days(engineering, 120):
            company = self.pick(subsidiaries)
            signed = workday(signed)
            partner = self.rotation(company, "engineering").take(signed)
            if partner is None:
                continue
            total = self.clean_amount(400_000, 4_000_000)
            parts = rng.choice((1, 2))
            lines = []
            for number in range(1, parts + 1):
                amount = total // parts if number < parts else total - total // parts * (parts - 1)
                lines.append(Line(number, None, None, None, amount, "", "0.09"))
            owner = self.pick(company.people["engineer"])
            self.contract("engineering", company, partner, owner, signed, lines)
        for submitted in self.deal_days(expenses, 0):
            company = self.pick(subsidiaries)
            requester = self.pick(
                company.people["purchaser"]
                + company.people["sales"]
                + company.people["engineer"]
                + company.people["clerk"]
                + company.people["keeper"]
            )
            self.expense(requester, self.on_work(submitted))
        granted: dict[int, list[dt.date]] = defaultdict(list)
        for submitted in self.deal_days(credit_exceptions, 20):
            company = self.pick(subsidiaries)
            customers = [
                partner
                for partner in self.rotation(company, "sales").partners
                if (submitted - self.credit_used.get(id(partner), dt.date.min)).days > 400
            ]
            # Exceptions stay exceptional: a company's general manager (the last approver)
            # grants at most two within any 35 days, planted ones aside.
            recent = [on for on in granted[company.index] if abs((submitted - on).days) <= 35]
            if not customers or len(recent) >= 2:
                continue
            customer = self.pick(customers)
            self.credit_used[id(customer)] = submitted
            granted[company.index].append(submitted)
            self.credit_exception(company, customer, self.on_work(submitted))

    def deal(
        self,
        kind: str,
        company: Company,
        signed: dt.date,
        *,
        target: int | None = None,
        besides: Partner | None = None,
    ) -> Contract | None:
        """A clean purchase or sale with the next partner free that day, delivered."""
        partner = self.rotation(company, kind).take(signed, besides=besides)
        if partner is None:
            return None
        owner = self.pick(company.people["purchaser" if kind == "purchase" else "sales"])
        lines = self.goods_lines(company, signed, target or self.clean_amount(), kind)
        contract = self.contract(kind, company, partner, owner, signed, lines)
        self.deliveries(contract)
        return contract

    def balance_suppliers(self) -> None:
        """Where one supplier would deliver over 40 % of a company's goods in a year (a small
        history has few contracts a year), other suppliers get contracts that year too."""
        first_year, last_year = self.start.year, (self.end - dt.timedelta(days=40)).year
        for company in self.companies[1:]:
            for year in range(first_year, last_year + 1):
                for _round in range(30):
                    shares: Counter[int] = Counter()
                    partners: dict[int, Partner] = {}
                    for document in self.documents:
                        if (
                            document.kind == "receipt"
                            and document.company is company
                            and document.at.year == year
                        ):
                            shares[id(document.partner)] += document.amount
                            partners[id(document.partner)] = document.partner
                    total = sum(shares.values())
                    if not shares or total < 800_000 * YUAN:
                        break
                    top, amount = shares.most_common(1)[0]
                    if amount * 10 <= total * 4:
                        break
                    first = max(dt.date(year, 1, 5), self.start + dt.timedelta(days=3))
                    last = min(dt.date(year, 11, 30), self.end - dt.timedelta(days=40))
                    signed = workday(self.date_between(first, last))
                    target = min(amount, 1_800_000 * YUAN)
                    while in_bands(target, CONTRACT_BANDS):
                        target -= 50_000 * YUAN
                    self.deal("purchase", company, signed, target=target, besides=partners[top])

    def expense(
        self,
        requester: Employee,
        submitted: dt.datetime,
        *,
        amount: int | None = None,
        payee: Employee | None = None,
        route: list[tuple[str, Employee]] | None = None,
        outcome: str | None = None,
        digits: Any = None,
    ) -> Request:
        rng = self.rng
        company = requester.company
        if outcome is None:
            outcome = "approved"
            if (self.end - submitted.date()).days < 4:
                outcome = "pending"
            elif rng.random() < 0.03:
                outcome = "rejected"
        key = (company.id, submitted.year)
        if amount is None:
            amount = self.quota_amount(
                key if outcome == "approved" else None, 50 * YUAN, 20_000 * YUAN, EXPENSE_BANDS
            )
        elif outcome == "approved":
            self.quota.add(key, amount)
        claim = Claim(company, submitted)
        self.claims.append(claim)
        title = self.pick(
            (
                "差旅费报销",
                "业务招待费报销",
                "办公用品采购报销",
                "交通费报销",
                "会议费报销",
                "通讯费报销",
            )
        )
        request = self.request(
            "expense",
            requester,
            submitted,
            amount=amount,
            partner=None,
            subject_type="expense_claim",
            subject=claim,
            title=title,
            route=route,
            outcome=outcome,
        )
        if request.status == "approved":
            assert request.completed is not None
            paid = workday(request.completed.date() + dt.timedelta(days=rng.randint(1, 4)))
            if paid <= self.end:
                self.payments.append(
                    Payment(
                        "out",
                        "expense_reimbursement",
                        company,
                        None,
                        None,
                        None,
                        amount,
                        paid,
                        request,
                        payee or requester,
                        title,
                    )
                )
        return request

    def quota_amount(self, key: Any, low: int, high: int, bands: Iterable[tuple[int, int]]) -> int:
        """An amount whose first digit keeps `key`'s amounts on their target distribution."""
        bands = tuple(bands)
        order = self.quota.order(key) if key is not None else list(range(1, 10))
        if key is None:
            self.rng.shuffle(order)
        for digit in order:
            cents = digit_amount(self.rng, digit, low, high, bands)
            if cents is not None:
                if key is not None:
                    self.quota.add(key, cents)
                return cents
        return low

    def credit_exception(
        self, company: Company, customer: Partner, submitted: dt.datetime, *, route: Any = None
    ) -> Request:
        requester = self.pick(company.people["sales"])
        return self.request(
            "credit_exception",
            requester,
            submitted,
            amount=self.rng.randint(20, 300) * 10_000 * YUAN,
            partner=customer,
            subject_type="customer",
            subject=customer,
            title=f"{customer.name}超信用额度发货申请",
            route=route,
        )

    # ------------------------------------------------------------ stock

    def simulate(self) -> None:
        """Post receipts, issues and stocktakes in time order: issues take at most what the
        warehouse holds (never negative stock), stocktakes count within tolerance."""
        rng = self.rng
        stock: dict[tuple[int, int], int] = defaultdict(int)
        value: dict[tuple[int, int], float] = defaultdict(float)  # cents excl. VAT
        for warehouse, commodity, kilograms, cost in self.opening:
            key = (id(warehouse), id(commodity))
            stock[key] += kilograms
            value[key] += kilograms / 1000 * cost / 1.13
        events: list[tuple[dt.datetime, int, int, Any]] = []
        for order, document in enumerate(self.documents):
            events.append((document.at, 0 if document.kind == "receipt" else 2, order, document))
        for order, count in enumerate(self.stocktake_plan()):
            events.append((count[0], 1, order, count))
        events.sort(key=lambda event: (event[0], event[1], event[2]))
        for _at, kind, _order, item in events:
            if kind == 0:
                document = item
                if document.warehouse is None:
                    own = [w for w in document.company.warehouses if w.kind == "own"]
                    document.warehouse = (
                        own[0] if rng.random() < 0.8 else self.pick(document.company.warehouses)
                    )
                document.keeper = document.warehouse.keeper
                for line in document.lines:
                    key = (id(document.warehouse), id(line.commodity))
                    stock[key] += line.kilograms
                    value[key] += line.kilograms / 1000 * line.price / 1.13
                    self.weigh(line)
            elif kind == 2:
                document = item
                commodity = document.lines[0].commodity
                warehouse = max(
                    document.company.warehouses,
                    key=lambda w: (
                        stock[(id(w), id(commodity))],
                        -document.company.warehouses.index(w),
                    ),
                )
                document.warehouse = warehouse
                document.keeper = warehouse.keeper
                kept = []
                for line in document.lines:
                    key = (id(warehouse), id(line.commodity))
                    available = stock[key] * 8 // 10
                    kilograms = min(line.kilograms, available) // 1000 * 1000
                    if kilograms < 5_000:
                        continue
                    unit_cost = value[key] / stock[key] * 1000  # cents a tonne excl. VAT
                    if document.below_cost:
                        line.price = round(unit_cost * 0.94 * 1.13 / YUAN) * YUAN
                        if line.line is not None:
                            line.line.price = line.price
                            line.line.amount = line_amount(line.line.kilograms or 0, line.price)
                    value[key] -= value[key] * kilograms / stock[key]
                    stock[key] -= kilograms
                    line.kilograms = kilograms
                    self.weigh(line)
                    kept.append(line)
                document.lines = kept
                if not kept:
                    document.dropped = True
            else:
                counted_at, warehouse, commodities = item
                for commodity in commodities:
                    key = (id(warehouse), id(commodity))
                    book = stock[key]
                    if book < 10_000:
                        continue
                    half = commodity.tolerance_ppm // 2
                    counted = book + book * rng.randint(-half, half) // 1_000_000
                    planted = (
                        not self.stocktake_planted
                        and book > 100_000
                        and counted_at.date() >= self.end - dt.timedelta(days=200)
                    )
                    if planted:
                        counted = book * 97 // 100
                    take = Stocktake(
                        warehouse.company,
                        warehouse,
                        commodity,
                        counted_at,
                        book,
                        counted,
                        warehouse.keeper,
                    )
                    self.stocktakes.append(take)
                    if planted:
                        self.stocktake_planted = True
                        self.plant(
                            "quantity_variances",
                            "stocktake",
                            "a count 3 % below the book (tolerance at most 0.5 %)",
                            stocktakes=[take],
                        ).extra = {
                            "commodity": commodity.id,
                            "book_qty": quantity(book),
                            "counted_qty": quantity(counted),
                        }
                    value[key] = value[key] * counted / book
                    stock[key] = counted
        self.documents = [document for document in self.documents if not document.dropped]
        for contract in self.contracts:
            contract.documents = [
                document for document in contract.documents if not document.dropped
            ]

    def months(self) -> list[dt.date]:
        """The first days of the months after the start, up to the end."""
        months = []
        month = next_month(self.start)
        while month <= self.end:
            months.append(month)
            month = next_month(month)
        return months

    def stocktake_rows(self) -> int:
        return len(self.months()) * sum(len(w.company.commodities) for w in self.warehouses)

    def stocktake_plan(self) -> list[tuple[dt.datetime, Warehouse, list[Commodity]]]:
        """Every warehouse counts its company's commodities on the last workday of a month."""
        plan = []
        for month in self.months():
            last = month - DAY
            while last.weekday() >= 5:
                last -= DAY
            for warehouse in self.warehouses:
                counted_at = at(last, 16 * 3600 + self.rng.randint(0, 5400))
                plan.append((counted_at, warehouse, warehouse.company.commodities))
        return plan

    # ------------------------------------------------------------ money

    def invoice_number(self, on: dt.date) -> tuple[str, str]:
        """(number, code): an all-electronic invoice (20 digits, no code) or a paper one."""
        for _attempt in range(100):
            serial = self.next("invoice_serial")
            if self.rng.random() < 0.6:
                number = f"{on.year % 100:02d}{self.rng.randint(11, 65)}2000000{serial:09d}"[:20]
                code = ""
            else:
                number = f"{(serial * 7919) % 100_000_000:08d}"
                region, serial_part = self.rng.randint(31, 65), self.rng.randint(100, 999)
                code = f"0{region}00{on.year % 100:02d}{serial_part}1{self.rng.randint(1, 3)}"
            key = number.lstrip("0")
            if key not in self.used_invoice_numbers:
                self.used_invoice_numbers.add(key)
                return number, code
        raise RuntimeError("no unused invoice number")

    def new_invoice(
        self,
        direction: str,
        company: Company,
        partner: Partner,
        contract: Contract | None,
        amount: int,
        tax: str,
        on: dt.date,
    ) -> Invoice:
        # Never two invoices of one partner with the same amount and date (rule 5's near check).
        while (id(partner), amount, on) in self.invoice_amount_days:
            amount += YUAN
        self.invoice_amount_days.add((id(partner), amount, on))
        number, code = self.invoice_number(on)
        invoice = Invoice(direction, number, code, company, partner, contract, amount, tax, on)
        if direction == "issued":
            invoice.due = on + dt.timedelta(days=partner.terms)
        self.invoices.append(invoice)
        if contract is not None:
            contract.invoices.append(invoice)
        return invoice

    def pay_out(
        self,
        contract: Contract | None,
        invoice: Invoice,
        partner: Partner,
        company: Company,
        *,
        earliest: dt.date,
        kind: str = "supplier_payment",
        fast: bool = False,
    ) -> Payment | None:
        """A payment to a supplier after its approval (None when it would fall after the end)."""
        rng = self.rng
        submitted = self.on_work(earliest)
        requester = (
            contract.owner if contract is not None else self.pick(company.people["purchaser"])
        )
        payment = Payment(
            "out", kind, company, partner, contract, invoice, invoice.amount, earliest
        )
        route = self.route(
            "engineering_payment" if kind == "engineering_payment" else "payment",
            requester,
            invoice.amount,
        )
        times = None
        if fast:
            submitted = at(workday(earliest), 10 * 3600 + rng.randint(0, 3600))
            times = {0: submitted + dt.timedelta(seconds=rng.randint(20, 45))}
        completed_guess = submitted + dt.timedelta(days=5)
        if completed_guess.date() > self.end:
            return None
        request = self.request(
            "engineering_payment" if kind == "engineering_payment" else "payment",
            requester,
            submitted,
            amount=invoice.amount,
            partner=partner,
            subject_type="payment",
            subject=payment,
            title=f"支付{partner.name}{'工程进度款' if kind == 'engineering_payment' else '货款'}",
            route=route,
            times=times,
        )
        assert request.completed is not None
        payment.request = request
        payment.date = workday(request.completed.date() + dt.timedelta(days=rng.randint(0, 2)))
        if payment.date > self.end:
            # Paid after the export: the request stays, without its payment.
            request.subject_type, request.subject = "", None
            return None
        self.payments.append(payment)
        return payment

    def money(self) -> None:
        """Invoices, payments and customer receipts of every contract, in contract order."""
        for contract in list(self.contracts):
            if contract.kind == "purchase":
                self.purchase_money(contract)
            elif contract.kind == "sales":
                self.sales_money(contract)
            else:
                self.engineering_money(contract)
            self.close(contract)

    def purchase_money(self, contract: Contract) -> None:
        rng = self.rng
        for number, document in enumerate(contract.documents):
            on = document.at.date() + dt.timedelta(days=rng.randint(0, 6))
            if on > self.end:
                continue
            invoice = self.new_invoice(
                "received",
                contract.company,
                contract.partner,
                contract,
                document.amount,
                "0.13",
                on,
            )
            if contract.payments == "none":
                continue
            earliest = on + dt.timedelta(days=rng.randint(3, max(4, contract.terms - 12)))
            if contract.payments == "advance" and number == 0:
                earliest = on - dt.timedelta(days=12)
            if contract.effective is not None:
                earliest = (
                    max(earliest, contract.effective + DAY)
                    if contract.payments != "advance"
                    else earliest
                )
            self.pay_out(
                contract,
                invoice,
                contract.partner,
                contract.company,
                earliest=earliest,
                fast=contract.fast_payment and number == 0,
            )

    def sales_money(self, contract: Contract, *, late: set[int] | None = None) -> None:
        rng = self.rng
        for document in contract.documents:
            on = document.at.date() + dt.timedelta(days=rng.randint(0, 4))
            if on > self.end:
                continue
            invoice = self.new_invoice(
                "issued", contract.company, contract.partner, contract, document.amount, "0.13", on
            )
            assert invoice.due is not None
            if late is not None and id(document) in late:
                paid_on = invoice.due + dt.timedelta(days=rng.randint(45, 70))
            else:
                paid_on = on + dt.timedelta(days=rng.randint(5, max(6, contract.partner.terms - 3)))
            self.settle(invoice, paid_on)

    def settle(self, invoice: Invoice, paid_on: dt.date) -> None:
        """The customer pays (sometimes in two parts) on `paid_on`; the receivable follows."""
        rng = self.rng
        parts = [(paid_on, invoice.amount)]
        if invoice.amount > 200_000 * YUAN and rng.random() < 0.3:
            first = invoice.amount * rng.randint(30, 70) // 100
            earlier = paid_on - dt.timedelta(days=rng.randint(2, 4))
            if earlier > invoice.date:
                parts = [(earlier, first), (paid_on, invoice.amount - first)]
        received = 0
        for on, amount in parts:
            if on > self.end:
                break
            self.payments.append(
                Payment(
                    "in",
                    "customer_receipt",
                    invoice.company,
                    invoice.partner,
                    invoice.contract,
                    invoice,
                    amount,
                    on,
                    note="货款回收",
                )
            )
            received += amount
        settled = parts[-1][0] if received == invoice.amount else None
        year_end = dt.date(invoice.date.year, 12, 31)
        paid_by_year_end = sum(amount for on, amount in parts if on <= year_end and on <= self.end)
        self.receivables.append(Receivable(invoice, settled, invoice.amount - paid_by_year_end))

    def engineering_money(self, contract: Contract) -> None:
        rng = self.rng
        if contract.effective is None:
            return
        remaining = contract.amount
        on = contract.effective + dt.timedelta(days=rng.randint(25, 60))
        for _number in range(rng.randint(2, 4)):
            if on > self.end - dt.timedelta(days=10) or remaining < 50_000 * YUAN:
                break
            key = (contract.company.id, on.year)
            upper = min(remaining, contract.amount * 45 // 100)
            amount = self.quota_amount(key, contract.amount // 10, upper, ENGINEERING_BANDS)
            if amount > remaining:
                break
            invoice = self.new_invoice(
                "received", contract.company, contract.partner, contract, amount, "0.09", on
            )
            payment = self.pay_out(
                contract,
                invoice,
                contract.partner,
                contract.company,
                earliest=on + dt.timedelta(days=rng.randint(3, 10)),
                kind="engineering_payment",
            )
            if payment is None:
                break
            remaining -= invoice.amount
            on = on + dt.timedelta(days=rng.randint(45, 90))

    def close(self, contract: Contract) -> None:
        if contract.effective is None:
            return
        if contract.terminated is not None:
            contract.status = "completed"
            return
        assert contract.end is not None
        if contract.end < self.end and contract.terminated is None:
            delivered = all(document.at.date() <= contract.end for document in contract.documents)
            if delivered:
                contract.status = "completed"

    # ------------------------------------------------------------ numbering

    def number(self) -> None:
        """Identifiers in the old systems' styles, in time order."""

        def sequence(
            items: Iterable[Any],
            key: Callable[[Any], Any],
            make: Callable[[Any, int], str],
            group: Callable[[Any], Any],
        ) -> None:
            counters: Counter[Any] = Counter()
            for item in sorted(items, key=key):
                bucket = group(item)
                counters[bucket] += 1
                item.id = make(item, counters[bucket])

        sequence(
            self.requests,
            lambda r: r.submitted,
            lambda r, n: f"OA{r.submitted.year}{n:07d}",
            lambda r: r.submitted.year,
        )
        prefixes = {"purchase": "CG", "sales": "XS", "engineering": "GC"}
        sequence(
            self.contracts,
            lambda c: (c.signed, c.request.submitted if c.request else dt.datetime.min),
            lambda c, n: f"{c.company.id}-{prefixes[c.kind]}-{c.signed.year}-{n:04d}",
            lambda c: (c.company.id, c.kind, c.signed.year),
        )
        sequence(
            self.documents,
            lambda d: d.at,
            lambda d, n: f"{'RK' if d.kind == 'receipt' else 'CK'}{d.company.id}{d.at:%y%m}{n:04d}",
            lambda d: (d.kind, d.company.id, d.at.year, d.at.month),
        )
        sequence(
            self.invoices,
            lambda i: i.date,
            lambda i, n: f"FP{i.date.year}{n:07d}",
            lambda i: i.date.year,
        )
        sequence(
            self.payments,
            lambda p: p.date,
            lambda p, n: f"{'FK' if p.direction == 'out' else 'SK'}{p.date.year}{n:06d}",
            lambda p: (p.direction, p.date.year),
        )
        sequence(
            self.claims,
            lambda c: c.submitted,
            lambda c, n: f"BX{c.company.id}{c.submitted.year}{n:05d}",
            lambda c: (c.company.id, c.submitted.year),
        )
        sequence(
            self.stocktakes,
            lambda s: (s.at, s.warehouse.id),
            lambda s, n: f"PD{s.warehouse.id}-{s.at:%Y%m}",
            lambda s: (s.warehouse.id, s.commodity.id),
        )

    # ------------------------------------------------------------ planted cases

    def plant(self, rule: str, check: str, note: str, **ids: list[Any]) -> Planted:
        planted = Planted(rule, check, note, {table: list(items) for table, items in ids.items()})
        self.planted.append(planted)
        return planted

    def table_rows(self) -> dict[str, list[list[str]]]:
        rows: dict[str, list[list[str]]] = {table.name: [] for table in FORMAT}
        rows["companies"] = [
            [
                c.id,
                c.name,
                c.short_name,
                c.parent.id if c.parent else "",
                c.uscc,
                c.region,
                c.address,
                c.kind,
            ]
            for c in self.companies
        ]
        rows["departments"] = [
            [d.code, c.id, d.name, d.head.id if d.head else ""]
            for c in self.companies
            for d in c.departments.values()
        ]
        rows["employees"] = [
            [
                e.id,
                e.name,
                e.company.id,
                e.department.code if e.department else "",
                e.role,
                e.title,
                e.phone,
                e.bank_name,
                e.bank_account,
                e.home_address,
                day(e.hired_on),
            ]
            for e in self.employees
        ]
        rows["partners"] = [
            [
                p.id,
                p.name,
                p.uscc,
                p.kind,
                p.bank_name,
                p.bank_account,
                p.phone,
                p.address,
                p.admission_status,
                day(p.admission_date),
                day(p.qualification_expiry),
                money(p.credit_limit) if p.credit_limit is not None else "",
                str(p.terms),
                day(p.created_on),
            ]
            for p in self.partners
        ]
        rows["partner_status_history"] = [
            [p.id, status, day(valid_from), reason]
            for p in self.partners
            for status, valid_from, reason in p.history
        ]
        rows["commodities"] = [
            [c.id, c.name, c.spec, "吨", c.tolerance, c.contract_tolerance, "0.13"]
            for c in self.commodities
        ]
        rows["warehouses"] = [
            [w.id, w.company.id, w.name, w.kind, w.address] for w in self.warehouses
        ]
        rows["opening_stock"] = [
            [w.id, c.id, quantity(kilograms), money(cost), day(self.start)]
            for w, c, kilograms, cost in self.opening
        ]
        requests = sorted(self.requests, key=lambda r: r.id)
        rows["approval_requests"] = [
            [
                r.id,
                r.type,
                r.company.id,
                r.requester.department.code if r.requester.department else "",
                r.requester.id,
                r.partner.id if r.partner else "",
                money(r.amount) if r.amount is not None else "",
                r.subject_type if r.subject is not None else "",
                r.subject.id if r.subject is not None else "",
                r.title,
                moment(r.submitted),
                r.status,
                moment(r.completed) if r.completed else "",
            ]
            for r in requests
        ]
        rows["approval_steps"] = [
            [r.id, str(number), s.node, s.approver.id, s.decision, moment(s.decided_at), s.comment]
            for r in requests
            for number, s in enumerate(r.steps, start=1)
        ]
        contracts = sorted(self.contracts, key=lambda c: c.id)
        rows["contracts"] = [
            [
                c.id,
                c.kind,
                c.company.id,
                c.partner.id,
                c.owner.id,
                day(c.signed),
                day(c.effective),
                day(c.end),
                day(c.terminated),
                money(c.amount),
                c.status,
                c.request.id if c.request else "",
                str(c.terms),
            ]
            for c in contracts
        ]
        rows["contract_lines"] = [
            [
                c.id,
                str(line.line_no),
                line.commodity.id if line.commodity else "",
                quantity(line.kilograms) if line.kilograms is not None else "",
                money(line.price) if line.price is not None else "",
                money(line.amount),
                line.tolerance,
                line.tax,
            ]
            for c in contracts
            for line in c.lines
        ]
        documents = sorted(self.documents, key=lambda d: d.id)
        for kind, header, lines_table in (
            ("receipt", "goods_receipts", "goods_receipt_lines"),
            ("issue", "goods_issues", "goods_issue_lines"),
        ):
            chosen = [d for d in documents if d.kind == kind]
            rows[header] = [
                [
                    d.id,
                    d.company.id,
                    d.warehouse.id if d.warehouse else "",
                    d.contract.id if d.contract else "",
                    d.partner.id,
                    moment(d.at),
                    d.keeper.id if d.keeper else "",
                ]
                for d in chosen
            ]
            rows[lines_table] = [
                [
                    d.id,
                    str(number),
                    d.contract.id if d.contract and line.line else "",
                    str(line.line.line_no) if d.contract and line.line else "",
                    line.commodity.id,
                    quantity(line.kilograms),
                    quantity(line.weighed) if line.weighed is not None else "",
                    money(line.price),
                    money(line.amount),
                ]
                for d in chosen
                for number, line in enumerate(d.lines, start=1)
            ]
        invoices = sorted(self.invoices, key=lambda i: i.id)
        rows["invoices"] = [
            [
                i.id,
                i.direction,
                i.number,
                i.code,
                i.company.id,
                i.partner.id,
                i.contract.id if i.contract else "",
                money(i.amount),
                i.tax,
                day(i.date),
                day(i.due),
            ]
            for i in invoices
        ]
        rows["payments"] = [
            [
                p.id,
                p.direction,
                p.kind,
                p.company.id,
                p.partner.id if p.partner else "",
                p.contract.id if p.contract else "",
                p.invoice.id if p.invoice else "",
                money(p.amount),
                day(p.date),
                p.request.id if p.request else "",
                p.payee.id if p.payee else "",
                p.note,
            ]
            for p in sorted(self.payments, key=lambda p: p.id)
        ]
        rows["receivables"] = [
            [
                r.invoice.id,
                r.invoice.number,
                r.invoice.company.id,
                r.invoice.partner.id,
                r.invoice.contract.id if r.invoice.contract else "",
                money(r.invoice.amount),
                day(r.invoice.date),
                day(r.invoice.due),
                day(r.settled),
                money(r.outstanding_at_year_end),
            ]
            for r in sorted(self.receivables, key=lambda r: r.invoice.id)
        ]
        rows["stocktakes"] = [
            [
                s.id,
                s.company.id,
                s.warehouse.id,
                s.commodity.id,
                moment(s.at),
                quantity(s.book),
                quantity(s.counted),
                s.counter.id if s.counter else "",
            ]
            for s in self.stocktakes
        ]
        return rows

    def manifest(self, counts: dict[str, int]) -> dict[str, Any]:
        def identifier(item: Any) -> str:
            return str(item.id if hasattr(item, "id") else item)

        return {
            "format": FORMAT_VERSION,
            "seed": self.seed,
            "rows_requested": self.target,
            "rows": sum(counts.values()),
            "counts": counts,
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "assumed_thresholds": {
                "contract": list(CONTRACT_THRESHOLDS),
                "engineering_payment": [ENGINEERING_THRESHOLD],
                "expense": [EXPENSE_THRESHOLD],
            },
            "planted": [
                {
                    "rule": planted.rule,
                    "check": planted.check,
                    "note": planted.note,
                    "ids": {
                        table: [identifier(item) for item in items]
                        for table, items in planted.ids.items()
                    },
                    **planted.extra,
                }
                for planted in self.planted
            ],
            "skipped": self.skipped,
        }


def generate(
    out_dir: str | Path,
    *,
    rows: int,
    seed: int = 1,
    start: dt.date = DEFAULT_START,
    end: dt.date = DEFAULT_END,
) -> Summary:
    """Write a folder of history (about `rows` rows in all) and its planted.json."""
    started = time.perf_counter()
    generator = HistoryGenerator(rows=rows, seed=seed, start=start, end=end)
    generator.run()
    tables = generator.table_rows()
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in FORMAT:
        with (folder / table.file).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(table.column_names)
            writer.writerows(tables[table.name])
        counts[table.name] = len(tables[table.name])
    manifest = generator.manifest(counts)
    (folder / MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return Summary(
        rows=sum(counts.values()),
        counts=counts,
        seconds=time.perf_counter() - started,
        planted=manifest["planted"],
        skipped=generator.skipped,
    )

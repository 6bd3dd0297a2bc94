"""The planted cases: violations of the supervision rules written into otherwise clean history,
each registered with the rule that should find it and the source identifiers involved (they
end up in planted.json). Partners used by planted cases are reserved: the clean trade never
uses them, so a planted case is found for what it is and nothing else.

`Planter.before_simulation` adds the cases made of contracts, deliveries, approvals and master
data; the stocktake variance is planted by the simulation itself; `Planter.after_money` adds
those made of invoices and payments, and lists the trading warnings the loaded history raises
that rule 16 reports (those of the contracts planted as not in force)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING, Any

from .records import (
    CONTRACT_BANDS,
    CUSTOMER_TRADES,
    DAY,
    SUPPLIER_TRADES,
    UNIFORM_DIGITS,
    YUAN,
    Commodity,
    Company,
    Contract,
    Document,
    Employee,
    Invoice,
    Line,
    Partner,
    at,
    in_bands,
    line_amount,
    month_start,
    workday,
)

if TYPE_CHECKING:
    from .generator import HistoryGenerator

NOT_EFFECTIVE = ("contract_execution", "not_effective")


class Planter:
    def __init__(self, generator: HistoryGenerator) -> None:
        self.g = generator
        self.reserved: dict[str, Partner] = {}
        # Contracts whose money side (paid after the simulation) a planted case adjusts.
        self.over_contract: Contract
        self.advance: Contract
        self.never_effective_purchase: Contract
        self.fast: Contract
        self.overdue_sale: Contract
        self.weighing: Document

    def reserve_partners(self) -> None:
        """Partners set aside for planted cases (new ones: the pools keep their size)."""
        for key, prefix, kind, trades in (
            ("split", "GYS", "supplier", SUPPLIER_TRADES),
            ("related_bank_1", "GYS", "supplier", SUPPLIER_TRADES),
            ("related_bank_2", "GYS", "supplier", SUPPLIER_TRADES),
            ("clustering_1", "GYS", "supplier", SUPPLIER_TRADES),
            ("clustering_2", "GYS", "supplier", SUPPLIER_TRADES),
            ("clustering_3", "GYS", "supplier", SUPPLIER_TRADES),
            ("over_contract", "GYS", "supplier", SUPPLIER_TRADES),
            ("over_invoiced", "GYS", "supplier", SUPPLIER_TRADES),
            ("not_effective", "GYS", "supplier", SUPPLIER_TRADES),
            ("no_contract", "GYS", "supplier", SUPPLIER_TRADES),
            ("not_admitted", "GYS", "supplier", SUPPLIER_TRADES),
            ("suspended", "GYS", "supplier", SUPPLIER_TRADES),
            ("expired", "GYS", "supplier", SUPPLIER_TRADES),
            ("employee_phone", "GYS", "supplier", SUPPLIER_TRADES),
            ("employee_bank", "GYS", "supplier", SUPPLIER_TRADES),
            ("employee_address", "KH", "customer", CUSTOMER_TRADES),
            ("shared_phone_1", "KH", "customer", CUSTOMER_TRADES),
            ("shared_phone_2", "KH", "customer", CUSTOMER_TRADES),
            ("shared_address_1", "GYS", "supplier", SUPPLIER_TRADES),
            ("shared_address_2", "KH", "customer", CUSTOMER_TRADES),
            ("credit", "KH", "customer", CUSTOMER_TRADES),
            ("below_cost", "KH", "customer", CUSTOMER_TRADES),
            ("price", "GYS", "supplier", SUPPLIER_TRADES),
            ("price_companion", "GYS", "supplier", SUPPLIER_TRADES),
            ("timing", "GYS", "supplier", SUPPLIER_TRADES),
            ("weighing", "GYS", "supplier", SUPPLIER_TRADES),
            ("overdue", "KH", "customer", CUSTOMER_TRADES),
            ("before_effective", "GYS", "supplier", SUPPLIER_TRADES),
            ("never_effective", "KH", "customer", CUSTOMER_TRADES),
            ("terminated", "KH", "customer", CUSTOMER_TRADES),
            ("over_executed", "GYS", "supplier", SUPPLIER_TRADES),
            ("self_approved", "GYS", "supplier", SUPPLIER_TRADES),
            ("concentration", "GYS", "supplier", SUPPLIER_TRADES),
        ):
            partner = self.g.partner(prefix, kind, trades)
            partner.reserved = True
            self.reserved[key] = partner

    def busiest(self) -> Company:
        return self.g.companies[1]

    def plant_day(self, months_before_end: float) -> dt.date:
        """A workday so many months before the end (the last year of a long history; scaled
        into a history shorter than a year and two months)."""
        span = min(365, (self.g.end - self.g.start).days - 60)
        return workday(self.g.end - dt.timedelta(days=round(months_before_end / 12 * span)))

    def plant_year(self) -> int:
        """The calendar year with the most days of the history (the later one on a tie)."""
        days: Counter[int] = Counter()
        on = self.g.start
        while on <= self.g.end:
            days[on.year] += 1
            on += DAY
        return max(days, key=lambda year: (days[year], year))

    def purchase(
        self,
        company: Company,
        partner: Partner,
        signed: dt.date,
        target: int,
        *,
        owner: Employee | None = None,
        commodity: Commodity | None = None,
        deliveries: bool = True,
        **options: Any,
    ) -> Contract:
        owner = owner or self.g.pick(company.people["purchaser"])
        commodities = [commodity] if commodity is not None else company.commodities[:1]
        lines = self.g.goods_lines(company, signed, target, "purchase", commodities=commodities)
        contract = self.g.contract("purchase", company, partner, owner, signed, lines, **options)
        if deliveries:
            self.g.deliveries(contract, count=2, factor=1.0)
        return contract

    def sale(
        self,
        company: Company,
        partner: Partner,
        signed: dt.date,
        target: int,
        **options: Any,
    ) -> Contract:
        owner = self.g.pick(company.people["sales"])
        lines = self.g.goods_lines(
            company, signed, target, "sales", commodities=company.commodities[:1]
        )
        return self.g.contract("sales", company, partner, owner, signed, lines, **options)

    def before_simulation(self) -> None:
        company = self.busiest()
        other = self.g.companies[2]
        reserved = self.reserved

        # Rule 1: self-approval and segregation of duties.
        head = company.departments["CG"].head
        assert head is not None
        own = self.g.expense(
            head,
            self.g.on_work(self.plant_day(7)),
            amount=3_280 * YUAN,
            route=[
                ("dept_head", head),
                ("finance", self.g.role(company, "accountant")),
            ],
            outcome="approved",
        )
        self.g.plant(
            "self_approval",
            "self_approved",
            "a department head approved their own expense claim",
            approval_requests=[own],
        )
        purchaser = company.people["purchaser"][0]
        accountant = company.people["accountant"][0]
        named = self.g.expense(
            purchaser,
            self.g.on_work(self.plant_day(6)),
            amount=2_460 * YUAN,
            payee=accountant,
            route=[("dept_head", self.g.head_of(purchaser)), ("finance", accountant)],
            outcome="approved",
        )
        self.g.plant(
            "self_approval",
            "named_person_approved",
            "the accountant who approved the claim is its payee",
            approval_requests=[named],
            employees=[accountant],
        )
        deputy = company.people["deputy_gm"][0]
        route = [
            ("dept_head", self.g.role(company, "dept_head")),
            ("legal", self.g.role(company, "risk_officer")),
            ("finance", self.g.role(company, "accountant")),
            ("leader", deputy),
        ]
        signed = self.plant_day(8)
        contract = self.purchase(
            company, reserved["self_approved"], signed, 1_350_000 * YUAN, owner=deputy, route=route
        )
        self.g.plant(
            "self_approval",
            "self_approved",
            "a deputy general manager requested a contract and approved it as leader in charge",
            approval_requests=[contract.request],
            contracts=[contract],
        )

        # Rule 2: split purchases.
        signed = self.plant_day(9)
        split = []
        for offset, target in ((0, 410_000), (8, 385_000), (17, 395_000)):
            split.append(
                self.purchase(
                    company,
                    reserved["split"],
                    workday(signed + dt.timedelta(days=offset)),
                    target * YUAN,
                )
            )
        self.g.plant(
            "split_purchases",
            "same_supplier",
            "three contracts with one supplier within 17 days, each under 1,000,000, "
            "together over it",
            contracts=split,
            partners=[reserved["split"]],
        )
        signed = self.plant_day(5)
        first = self.purchase(company, reserved["related_bank_1"], signed, 560_000 * YUAN)
        second = self.purchase(
            company,
            reserved["related_bank_2"],
            workday(signed + dt.timedelta(days=11)),
            530_000 * YUAN,
        )
        reserved["related_bank_2"].bank_account = reserved["related_bank_1"].bank_account.replace(
            " ", ""
        )
        reserved["related_bank_2"].bank_name = reserved["related_bank_1"].bank_name
        self.g.plant(
            "split_purchases",
            "related_suppliers",
            "two contracts within 11 days with two suppliers sharing a bank account, "
            "together over 1,000,000",
            contracts=[first, second],
            partners=[reserved["related_bank_1"], reserved["related_bank_2"]],
        )
        self.g.plant(
            "related_parties",
            "partners_share_bank_account",
            "two suppliers with one bank account (written with and without spaces)",
            partners=[reserved["related_bank_1"], reserved["related_bank_2"]],
        )

        # Rule 3: amounts clustered below a threshold.
        requester = company.people["sales"][0]
        start = self.plant_day(4)
        claims = []
        for offset, amount in ((0, 4_620_00), (13, 4_785_50), (29, 4_890_00), (52, 4_968_00)):
            claims.append(
                self.g.expense(
                    requester,
                    self.g.on_work(start + dt.timedelta(days=offset)),
                    amount=amount,
                    outcome="approved",
                )
            )
        self.g.plant(
            "threshold_clustering",
            "expense",
            "four expense claims by one person within 52 days between 4,620 and 4,968 "
            "(threshold 5,000)",
            approval_requests=claims,
            employees=[requester],
        )
        owner = company.people["purchaser"][-1]
        start = self.plant_day(11)
        clustered = []
        for offset, key, amount in (
            (0, "clustering_1", 935_000),
            (24, "clustering_2", 968_000),
            (61, "clustering_3", 992_000),
        ):
            clustered.append(
                self.purchase(
                    company,
                    reserved[key],
                    workday(start + dt.timedelta(days=offset)),
                    amount * YUAN,
                    owner=owner,
                    route=self.g.route("contract", owner, 0),
                )
            )
        for contract, amount in zip(clustered, (935_000, 968_000, 992_000), strict=True):
            self.fit(contract, amount * YUAN)
        self.g.plant(
            "threshold_clustering",
            "contract",
            "three contracts by one purchaser within 61 days between 935,000 and 992,000 "
            "(threshold 1,000,000)",
            approval_requests=[contract.request for contract in clustered],
            contracts=clustered,
            employees=[owner],
        )

        # Rule 4: payments beyond the contract or the invoices, or without one.
        self.over_contract = self.purchase(
            company, reserved["over_contract"], self.plant_day(10), 600_000 * YUAN
        )
        advance = self.purchase(
            company, reserved["over_invoiced"], self.plant_day(7), 520_000 * YUAN, deliveries=False
        )
        assert advance.effective is not None
        self.g.deliveries(
            advance, count=2, factor=1.0, first=advance.effective + dt.timedelta(days=25)
        )
        advance.payments = "advance"
        self.advance = advance
        never = self.purchase(
            other,
            reserved["not_effective"],
            self.plant_day(9),
            450_000 * YUAN,
            outcome="rejected",
            deliveries=False,
        )
        self.g.deliveries(never, count=1, factor=1.0, first=never.signed + dt.timedelta(days=9))
        self.never_effective_purchase = never
        self.g.plant(
            "contract_execution",
            "not_effective",
            "goods received against a purchase contract whose approval was rejected "
            "(never effective)",
            contracts=[never],
        )

        # Rule 6: supplier not admitted, suspended, qualification expired.
        partner = reserved["not_admitted"]
        signed = self.plant_day(12)
        partner.created_on = signed - dt.timedelta(days=20)
        partner.admission_date = signed + dt.timedelta(days=45)
        partner.history = [
            ("pending", partner.created_on, "提交准入申请"),
            ("admitted", partner.admission_date, "准入审核通过"),
        ]
        late = self.purchase(other, partner, signed, 380_000 * YUAN, deliveries=False)
        self.g.deliveries(late, count=1, factor=1.0, first=signed + dt.timedelta(days=12))
        self.g.plant(
            "supplier_not_admitted",
            "not_admitted",
            "contract signed and goods received before the supplier was admitted",
            contracts=[late],
            partners=[partner],
        )
        partner = reserved["suspended"]
        suspended_on = self.plant_day(6)
        partner.history.append(("suspended", suspended_on, "质量问题暂停合作"))
        partner.admission_status = "suspended"
        used = self.purchase(
            other, partner, suspended_on - dt.timedelta(days=30), 420_000 * YUAN, deliveries=False
        )
        self.g.deliveries(
            used, count=2, factor=1.0, first=suspended_on + dt.timedelta(days=8), spacing=(10, 12)
        )
        self.g.plant(
            "supplier_not_admitted",
            "suspended",
            "goods received from and paid to a supplier after it was suspended",
            contracts=[used],
            partners=[partner],
        )
        partner = reserved["expired"]
        expired_on = self.plant_day(8)
        partner.qualification_expiry = expired_on
        expired = self.purchase(other, partner, expired_on + dt.timedelta(days=20), 360_000 * YUAN)
        self.g.plant(
            "supplier_not_admitted",
            "qualification_expired",
            "contract signed with a supplier whose qualification had expired",
            contracts=[expired],
            partners=[partner],
        )

        # Rule 7: related parties.
        self.related()

        # Rule 9: a sale below cost, a purchase far above the month's average.
        sale = self.sale(company, reserved["below_cost"], self.plant_day(5), 300_000 * YUAN)
        self.g.deliveries(sale, count=1, factor=1.0)
        sale.documents[0].below_cost = True
        self.g.plant(
            "price_anomalies",
            "below_cost",
            "goods sold at 94 % of their moving-average cost",
            goods_issues=sale.documents[:1],
            contracts=[sale],
        )
        self.price_outlier(company)

        # Rule 10: a weighing difference (the stocktake variance is set during the simulation).
        weighed = self.purchase(
            company, self.reserved["weighing"], self.plant_day(3), 420_000 * YUAN, deliveries=False
        )
        self.g.deliveries(weighed, count=1, factor=1.0)
        self.weighing = weighed.documents[0]

        # Rule 11: approvals out of hours and within seconds.
        friday = self.plant_day(6)
        while friday.weekday() != 4:
            friday -= DAY
        submitted = at(friday, 17 * 3600 + 10 * 60)
        saturday_night = at(friday + DAY, 23 * 3600 + 12 * 60)
        night = self.purchase(
            company,
            self.reserved["timing"],
            friday,
            1_600_000 * YUAN,
            times={0: submitted + dt.timedelta(minutes=35), 1: saturday_night},
        )
        self.g.plant(
            "unusual_approval_timing",
            "after_hours",
            "a 1,600,000 contract approved on a Saturday at 23:12",
            approval_requests=[night.request],
            contracts=[night],
        )
        night.fast_payment = True
        self.fast = night

        # Rule 12 (overdue customers still shipped to) and rule 13.
        reserved["overdue"].terms = 30
        self.overdue_sale = self.sale(
            company, reserved["overdue"], self.plant_day(9), 900_000 * YUAN - 150_000 * YUAN
        )
        # Deliveries 75 to 80 days apart on 30 days' terms: the second leaves over 40 days
        # after the first invoice fell due (beyond rule 12's 30 days of grace).
        self.g.deliveries(self.overdue_sale, count=3, factor=1.0, spacing=(75, 80))
        early = self.purchase(
            company,
            reserved["before_effective"],
            self.plant_day(10),
            400_000 * YUAN,
            deliveries=False,
            effective_after_days=25,
        )
        self.g.deliveries(early, count=1, factor=1.0, first=early.signed + dt.timedelta(days=12))
        self.g.plant(
            "contract_execution",
            "not_effective",
            "goods received 13 days before the contract took effect",
            contracts=[early],
            goods_receipts=early.documents[:1],
        )
        pending = self.sale(
            company,
            reserved["never_effective"],
            self.plant_day(8),
            350_000 * YUAN,
            outcome="pending",
        )
        self.g.deliveries(pending, count=1, factor=1.0, first=pending.signed + dt.timedelta(days=6))
        self.g.plant(
            "contract_execution",
            "not_effective",
            "goods issued against a sales contract still under approval (never effective)",
            contracts=[pending],
        )
        ended = self.sale(company, reserved["terminated"], self.plant_day(10), 400_000 * YUAN)
        assert ended.effective is not None
        ended.terminated = ended.effective + dt.timedelta(days=30)
        self.g.deliveries(
            ended,
            count=2,
            factor=0.5,
            first=ended.effective + dt.timedelta(days=10),
            spacing=(35, 36),
        )
        self.g.plant(
            "contract_execution",
            "not_effective",
            "goods issued after the contract was terminated",
            contracts=[ended],
        )
        over = self.purchase(
            company, reserved["over_executed"], self.plant_day(9), 300_000 * YUAN, deliveries=False
        )
        self.g.deliveries(over, count=2, factor=1.15)
        over.payments = "none"  # paying the excess too would be rule 4's over_contract
        self.g.plant(
            "contract_execution",
            "over_executed",
            "a contract line received 115 % of its quantity (tolerance at most 5 %)",
            contracts=[over],
        )

        # Rule 14 and rule 15.
        self.benford(self.g.companies[-1] if len(self.g.companies) > 3 else other)
        self.concentration()

    def fit(self, contract: Contract, cents: int) -> None:
        """Set a one-line contract's amount exactly (the unit price absorbs the rounding)."""
        line = contract.lines[0]
        assert line.kilograms is not None
        line.price = cents * 1000 // line.kilograms
        line.amount = line_amount(line.kilograms, line.price)
        if contract.request is not None:
            contract.request.amount = contract.amount
        for document in contract.documents:
            for document_line in document.lines:
                document_line.price = line.price

    def related(self) -> None:
        reserved = self.reserved
        company = self.busiest()
        person = company.people["purchaser"][0]
        partner = reserved["employee_phone"]
        partner.phone = f"+86 {person.phone[:3]}-{person.phone[3:7]}-{person.phone[7:]}"
        self.g.plant(
            "related_parties",
            "employee_phone",
            "a supplier's phone number is a purchaser's mobile number (+86 and dashes)",
            partners=[partner],
            employees=[person],
        )
        person = company.people["sales"][0]
        partner = reserved["employee_bank"]
        partner.bank_account = person.bank_account
        partner.bank_name = person.bank_name
        self.g.plant(
            "related_parties",
            "employee_bank_account",
            "a supplier's bank account is an employee's",
            partners=[partner],
            employees=[person],
        )
        person = company.people["clerk"][0]
        partner = reserved["employee_address"]
        partner.address = person.home_address.replace("号", " 号")
        self.g.plant(
            "related_parties",
            "employee_address",
            "a customer's address is an employee's home address",
            partners=[partner],
            employees=[person],
        )
        one, two = reserved["shared_phone_1"], reserved["shared_phone_2"]
        two.phone = one.phone.replace("-", "")
        self.g.plant(
            "related_parties",
            "partners_share_phone",
            "two customers with one phone number",
            partners=[one, two],
        )
        one, two = reserved["shared_address_1"], reserved["shared_address_2"]
        two.address = one.address.replace("号", "号。")
        self.g.plant(
            "related_parties",
            "partners_share_address",
            "a supplier and a customer at one address (punctuation aside)",
            partners=[one, two],
        )

    def price_outlier(self, company: Company) -> None:
        """A purchase 30 % above the month's average of its commodity, in the month with the
        most receipts of it (at least five others, so the rule has an average to go by)."""
        counts: Counter[tuple[int, dt.date]] = Counter()
        by_key: dict[tuple[int, dt.date], Commodity] = {}
        for document in self.g.documents:
            if document.kind != "receipt":
                continue
            for line in document.lines:
                key = (id(line.commodity), month_start(document.at.date()))
                counts[key] += 1
                by_key[key] = line.commodity
        candidates = [
            (count, key)
            for key, count in counts.items()
            if key[1] <= month_start(self.g.end - dt.timedelta(days=40))
            and by_key[key] in company.commodities
        ]
        if candidates:
            count, key = max(candidates, key=lambda item: (item[0], item[1][1]))
        else:
            commodity = company.commodities[0]
            count, key = 0, (id(commodity), month_start(self.g.end - dt.timedelta(days=120)))
            by_key[key] = commodity
        if count < 5:
            # Too few receipts that month for an average: a supplier delivers a few more.
            companion = self.purchase(
                company,
                self.reserved["price_companion"],
                workday(key[1] - dt.timedelta(days=12)),
                (5 - count) * 50 * by_key[key].price,
                commodity=by_key[key],
                deliveries=False,
            )
            self.g.deliveries(
                companion,
                count=5 - count,
                factor=1.0,
                first=key[1] + dt.timedelta(days=3),
                spacing=(3, 4),
            )
            count = 5
        commodity = by_key[key]
        signed = workday(key[1] + dt.timedelta(days=2))
        price = round(commodity.market(signed) * 1.30 / YUAN) * YUAN
        kilograms = max(20, 60_000 * YUAN // price) * 1000
        contract_line = Line(
            1,
            commodity,
            kilograms,
            price,
            line_amount(kilograms, price),
            commodity.contract_tolerance,
            "0.13",
        )
        owner = self.g.pick(company.people["purchaser"])
        contract = self.g.contract(
            "purchase", company, self.reserved["price"], owner, signed, [contract_line]
        )
        self.g.deliveries(
            contract, count=1, factor=1.0, first=workday(key[1] + dt.timedelta(days=12))
        )
        self.g.plant(
            "price_anomalies",
            "off_average",
            f"a purchase of {commodity.name} at 130 % of the market, in a month with {count} "
            "other receipt lines of it",
            goods_receipts=contract.documents,
            contracts=[contract],
        )

    def benford(self, company: Company) -> None:
        """One company-year whose expense and engineering amounts have uniform first digits."""
        year = self.plant_year()
        key = (company.id, year)
        self.g.quota.targets[key] = UNIFORM_DIGITS
        existing = sum(self.g.quota.counts[key].values())
        needed = max(0, 330 - existing)
        # The company-year's own amounts so far were drawn on Benford's law; the planted ones
        # (at least as many again) pull the mixture off it.
        needed = max(needed, existing)
        if needed * 5 > self.g.target // 4:
            self.g.skipped.append(
                {
                    "rule": "benford_first_digit",
                    "check": "company_year",
                    "reason": "too few rows for 300 amounts",
                }
            )
            del self.g.quota.targets[key]
            return
        first = max(dt.date(year, 1, 1), self.g.start)
        people = (
            company.people["purchaser"]
            + company.people["sales"]
            + company.people["clerk"]
            + company.people["engineer"]
        )
        requests = []
        last = min(dt.date(year, 12, 31), self.g.end - dt.timedelta(days=10))
        days = sorted(self.g.date_between(first, last) for _n in range(needed))
        for on in days:
            requests.append(
                self.g.expense(self.g.pick(people), self.g.on_work(on), outcome="approved")
            )
        self.g.plant(
            "benford_first_digit",
            "company_year",
            f"the approved expense and engineering amounts of {company.name} in {year} have "
            "evenly spread first digits",
            companies=[company],
        ).extra = {"year": year, "planted_requests": len(requests)}

    def concentration(self) -> None:
        """One supplier takes over 60 % of a company's receipts in the last year."""
        year = self.plant_year()
        totals: Counter[int] = Counter()
        for document in self.g.documents:
            if document.kind == "receipt" and document.at.year == year:
                totals[document.company.index] += document.amount
        company = min(
            self.g.companies[2:] or self.g.companies[1:], key=lambda c: (totals[c.index], c.index)
        )
        needed = max(totals[company.index] * 3 // 2, 2_000_000 * YUAN)
        partner = self.reserved["concentration"]
        first = max(dt.date(year, 1, 1), self.g.start) + dt.timedelta(days=5)
        last = min(dt.date(year, 12, 31), self.g.end) - dt.timedelta(days=75)
        slots = max(1, min(8, (last - first).days // 35))
        per = needed // slots
        contracts = []
        for slot in range(slots):
            signed = workday(first + dt.timedelta(days=35 * slot))
            target = per
            contract = self.purchase(
                company,
                partner,
                signed,
                target,
                deliveries=False,
                commodity=company.commodities[-1],
            )
            while in_bands(contract.amount, CONTRACT_BANDS):
                self.fit(contract, contract.amount + 60_000 * YUAN)
            self.g.deliveries(contract, count=2, factor=1.0, spacing=(8, 14))
            contracts.append(contract)
        self.g.plant(
            "supplier_concentration",
            "company_year",
            f"one supplier holds about 60 % of {company.name}'s receipts in {year}",
            partners=[partner],
            companies=[company],
            contracts=contracts,
        ).extra = {"year": year}

    def after_money(self) -> None:
        company = self.busiest()
        reserved = self.reserved
        # Rule 4: over the contract (an extra invoice paid), ahead of the invoices, not
        # effective, and without a contract.
        contract = self.over_contract
        on = max(
            (invoice.date for invoice in contract.invoices), default=contract.signed
        ) + dt.timedelta(days=6)
        extra = self.g.new_invoice(
            "received", company, contract.partner, contract, 96_000 * YUAN, "0.13", on
        )
        payment = self.g.pay_out(
            contract, extra, contract.partner, company, earliest=on + dt.timedelta(days=3)
        )
        self.g.plant(
            "payment_over_contract",
            "over_contract",
            "a further invoice (freight and compensation) paid beyond the contract's ceiling",
            contracts=[contract],
            payments=[payment] if payment else [],
            invoices=[extra],
        )
        self.g.plant(
            "payment_over_contract",
            "over_invoiced",
            "a payment made 12 days before the invoice it pays",
            contracts=[self.advance],
            payments=[p for p in self.g.payments if p.contract is self.advance][:1],
        )
        never = self.never_effective_purchase
        self.g.plant(
            "payment_over_contract",
            "not_effective",
            "a payment under a purchase contract whose approval was rejected",
            contracts=[never],
            payments=[p for p in self.g.payments if p.contract is never],
        )
        partner = reserved["no_contract"]
        on = self.plant_day(4)
        invoice = self.g.new_invoice("received", company, partner, None, 188_000 * YUAN, "0.13", on)
        payment = self.g.pay_out(
            None, invoice, partner, company, earliest=on + dt.timedelta(days=5)
        )
        self.g.plant(
            "payment_over_contract",
            "no_contract",
            "a supplier paid without any contract",
            payments=[payment] if payment else [],
            partners=[partner],
        )
        # Rule 5: duplicate invoices.
        received = [
            invoice
            for invoice in self.g.invoices
            if invoice.direction == "received"
            and invoice.contract is not None
            and not invoice.contract.partner.reserved
            and invoice.contract.kind == "purchase"
            and invoice.date >= self.g.end - dt.timedelta(days=300)
        ]
        received.sort(key=lambda invoice: (invoice.date, invoice.number))
        if len(received) >= 3:
            originals = [
                received[len(received) // 4],
                received[len(received) // 2],
                received[3 * len(received) // 4],
            ]
            exact, near, same = (
                self.duplicate(originals[0], "exact"),
                self.duplicate(originals[1], "near"),
                self.duplicate(originals[2], "amount_and_date"),
            )
            self.g.plant(
                "duplicate_invoices",
                "exact",
                "an invoice booked twice (same code and number)",
                invoices=[originals[0], exact],
            )
            self.g.plant(
                "duplicate_invoices",
                "same_number",
                f"an invoice booked again as “{near.number}” (originally “{originals[1].number}”)",
                invoices=[originals[1], near],
            )
            self.g.plant(
                "duplicate_invoices",
                "amount_and_date",
                "a second invoice of the same supplier with the same amount and date under a "
                "distant number",
                invoices=[originals[2], same],
            )
        # Rule 8: credit exceptions for one customer, again and again.
        customer = reserved["credit"]
        start = self.plant_day(8)
        gm = company.people["gm"][0]
        accountant = company.people["accountant"][1]
        requests = [
            self.g.credit_exception(
                company,
                customer,
                self.g.on_work(start + dt.timedelta(days=offset)),
                route=[("finance", accountant), ("gm", gm)],
            )
            for offset in (0, 26, 55, 83, 118)
        ]
        self.g.plant(
            "credit_exceptions",
            "repeated_customer",
            "five credit exceptions for one customer within 118 days, all approved by the "
            "same two people",
            approval_requests=requests,
            partners=[customer],
            employees=[gm],
        )
        # Rule 10: the weighing difference.
        line = self.weighing.lines[0]
        line.weighed = line.kilograms * 985 // 1000
        self.g.plant(
            "quantity_variances",
            "weighing",
            "a receipt weighed 1.5 % under its document quantity (tolerance at most 0.5 %)",
            goods_receipts=[self.weighing],
        )
        if not self.g.stocktake_planted:
            self.g.skipped.append(
                {
                    "rule": "quantity_variances",
                    "check": "stocktake",
                    "reason": "no stock counted late enough",
                }
            )
        # Rule 11: the fast approval of the night contract's first payment.
        fast = [p for p in self.g.payments if p.contract is self.fast and p.request is not None][:1]
        self.g.plant(
            "unusual_approval_timing",
            "fast",
            "a payment of over 100,000 approved within 45 seconds of its submission",
            approval_requests=[payment.request for payment in fast],
            payments=fast,
        )
        # Rule 12: shipped to a customer whose invoice was overdue. The customer stops paying:
        # every invoice of the sale is paid late, after the last goods left. (Paying the later
        # invoices on time would settle the oldest charge first — receipts go to what fell due
        # first — and nothing would stay overdue.)
        sale = self.overdue_sale
        issues = sale.documents
        if len(issues) >= 2 and sale.invoices:
            first_invoice = sale.invoices[0]
            for invoice in sale.invoices:
                self.rebook_late(invoice, issues[-1].at.date())
            assert first_invoice.due is not None
            after = [d for d in issues if d.at.date() > first_invoice.due]
            self.g.plant(
                "overdue_shipments",
                "shipped_while_overdue",
                "goods issued to a customer while its invoice was overdue and unpaid (the "
                f"last issue {(issues[-1].at.date() - first_invoice.due).days} days after it fell "
                "due)",
                invoices=[first_invoice],
                goods_issues=after,
                partners=[sale.partner],
            )
        # Rule 16: the warnings of the loaded history that inspectors follow at once — goods or
        # money booked against a contract outside the period it was in force (trading's
        # "contract not effective" warning, one per contract): the contracts planted for rule 13
        # as not effective.
        for case in [p for p in self.g.planted if (p.rule, p.check) == NOT_EFFECTIVE]:
            self.g.plant(
                "trading_warnings",
                "contract_not_effective",
                "a contract-not-effective warning, followed at once: " + case.note,
                contracts=case.ids["contracts"],
            )

    def rebook_late(self, invoice: Invoice, after: dt.date) -> None:
        """Pay an issued invoice well after it fell due (and after `after`), not on time."""
        assert invoice.due is not None
        self.g.payments = [p for p in self.g.payments if p.invoice is not invoice]
        self.g.receivables = [r for r in self.g.receivables if r.invoice is not invoice]
        late = invoice.due + dt.timedelta(days=self.g.rng.randint(45, 70))
        self.g.settle(invoice, max(late, after + dt.timedelta(days=self.g.rng.randint(5, 15))))

    def duplicate(self, original: Invoice, kind: str) -> Invoice:
        copy = Invoice(
            original.direction,
            original.number,
            original.code,
            original.company,
            original.partner,
            original.contract,
            original.amount,
            original.tax,
            original.date,
            original.due,
        )
        if kind == "exact":
            copy.date = original.date + dt.timedelta(days=21)
        elif kind == "near":
            # Leading zeros dropped and a dash put in: the same number, written otherwise.
            digits = original.number.lstrip("0") or original.number
            copy.number = f"{digits[:4]}-{digits[4:]}"
            copy.date = original.date + dt.timedelta(days=35)
        else:
            serial = int(original.number) + 5_000
            copy.number = f"{serial:0{len(original.number)}d}"
            self.g.used_invoice_numbers.add(copy.number.lstrip("0"))
        self.g.invoices.append(copy)
        if original.contract is not None:
            original.contract.invoices.append(copy)
        return copy

    # ------------------------------------------------------------ writing

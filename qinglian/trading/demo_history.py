"""A year of trading for the demo company 东港商贸 (DGSM), played forward through the services.

`plan_history(today)` writes the story down without touching the database: about twelve
months of back-to-back trading ending `today`, in two-month cycles per line of business —

- steel: 宁波甬钢 (and, from the spring, 唐山津港) → 中海建设 (rebar) and 宏达船舶 (coil),
- power coal: 晋能煤炭 → 浙能舟山电厂,
- iron ore: 青岛港润 → 甬江特钢 (sales on 20 % prepayment),
- copper: 上海赣铜 (30 % prepayment) → 鑫泰铜材,

each cycle a purchase contract, the sales contract(s) placed against it, goods received and
issued, purchase and sales invoices, payments (through the payment approval flow) and receipts,
and the contracts completed once delivered and invoiced; besides, stocktakes, a supplier
admitted mid-year, a certificate renewed, a credit limit cut, a mistyped receipt and a wrong
invoice corrected by reversal. One seeded random generator picks quantities, prices and days,
so a given `today` always gives the same story. `check_plan` replays it on paper (stock never
negative, nothing refused by a contract's quantity or period, no shipment to a customer the
overdue block stops, credit within the limits, payments within what the contract allows).

`Player.play(plan)` then runs it in date order with the clock (`qinglian.core.clock.now`) set to
each step's business moment — a working day, office hours — so contracts take effect on the day
they are approved, numbers carry their dates, approvals and the audit trail read as they
happened, and no movement is backdated. Every document goes through its service, every
decision through the approvals engine as the real approver.

What the last months leave for the warnings and reports (ages relative to `today`):

- contract warnings: 宁钢 steel purchase and 中海建设 steel sale expire within 30 days; the
  宏达船舶 coil sale (expired a month ago, 82 % issued) and the 港润 ore purchase (expired two weeks
  ago, 75 % received) are under-executed at expiry; 唐山津港's quality certificate expired 12 days
  ago while its rebar contract is still being delivered;
- shipment warnings: the 中海建设 sale's delivery date passed with 83 % issued, the 宏达船舶 sale's
  two months ago (and the 港润 purchase's); 甬江特钢's ore left 8 days before its 20 %
  prepayment arrived;
- overdue receivables: 中海建设 0–30 days, 浙能电厂 31–60, 宏达船舶 61–90 and over 90 (it stopped
  paying four months ago; the overdue block stopped its shipments — until the last weeks);
- credit: 宏达船舶's limit was cut from 3,000,000 to 500,000 after it fell overdue, its
  exposure stays far above it; 鑫泰铜材's extra copper order went over its limit through a
  credit exception (requested by sales, approved by finance and the general manager);
- a favoured customer: 宋佳 sells 宏达船舶 coil again, below what it cost, and three credit
  exceptions in five weeks — each lifting the overdue block, each approved by the general
  manager over finance's warning — let the contract and two deliveries through (what the
  supervision rules on repeated exceptions, overdue shipments and sales below cost find);
- warehouse: a stocktake with a variance beyond tolerance under approval (coal at the port),
  two earlier ones approved and posted, one without variance;
- inboxes: a coal payment and the stocktake under approval, a draft ore contract.
"""

from __future__ import annotations

import datetime
import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol
from unittest import mock

from django.utils import timezone

from qinglian.approvals import services as approval_services
from qinglian.approvals.enums import TaskStatus
from qinglian.approvals.models import ApprovalTask
from qinglian.core import clock
from qinglian.org.models import Company, Department, User

from .costing import amount_of, difference_percent
from .enums import ContractKind, PaymentTerm, StockDocumentKind, StocktakeKind
from .models import Commodity, Partner, Qualification, StockBalance, Warehouse
from .services import contracts, credit, master, money, stock

SEED = 20251201
ZERO = Decimal("0")
CENT = Decimal("0.01")
D = Decimal
OVERDUE_BLOCK_DAYS = 30  # the credit policy's default: debt more than 30 days past due
YEAR_AGO = 362  # the first cycle starts this many days before today
CYCLE_DAYS = 60

OWN, PORT = "SM-WH01", "SM-WH02"
REBAR, COIL, COAL, ORE, COPPER = "RB-HRB400", "HRC-Q235B", "COAL-5500", "ORE-62", "CU-CATH"
FINANCE = "caomin"


# ---------------------------------------------------------------- the calendar


def weekday_on_or_before(day: datetime.date) -> datetime.date:
    while day.weekday() >= 5:
        day -= datetime.timedelta(days=1)
    return day


@dataclass(frozen=True)
class Calendar:
    today: datetime.date

    def ago(self, days: int) -> datetime.date:
        """The working day `days` before today (or the one before it)."""
        return weekday_on_or_before(self.today - datetime.timedelta(days=days))

    def ahead(self, days: int) -> datetime.date:
        """A calendar date after today (an expiry or a deadline, any day of the week)."""
        return self.today + datetime.timedelta(days=days)

    def next(self, day: datetime.date, days: int) -> datetime.date:
        """The first working day at least `days` after `day` (a weekend moves it on)."""
        day += datetime.timedelta(days=days)
        while day.weekday() >= 5:
            day += datetime.timedelta(days=1)
        return day

    def after(self, day: datetime.date, days: int) -> datetime.date:
        """The working day `days` after `day` (or the one before it), never after today."""
        return min(weekday_on_or_before(day + datetime.timedelta(days=days)), self.ago(0))


# ---------------------------------------------------------------- the story, on paper


@dataclass
class DealLine:
    code: str
    quantity: Decimal
    price: Decimal


@dataclass(frozen=True)
class CreditExceptionSpec:
    requester: str
    amount: Decimal
    reason: str
    valid_days: int = 30
    allow_overdue: bool = False  # lifts the overdue block too
    finance_comment: str = "客户无逾期，同意一次性超额。"
    manager_comment: str = "同意，回款由业务部跟踪。"


@dataclass(eq=False)
class Deal:
    """A contract as planned; `contract_id` is filled in when it is signed."""

    kind: str
    owner: str
    partner: str
    lines: list[DealLine]
    signed: datetime.date
    delivery: tuple[datetime.date, datetime.date]
    end_on: datetime.date
    term: str
    remarks: str
    prepayment: Decimal = ZERO
    credit_days: int = 0
    submit: bool = True
    # Signed over the customer's credit limit through an approved credit exception.
    credit_exception: CreditExceptionSpec | None = None
    contract_id: int | None = None

    def price_of(self, code: str) -> Decimal:
        return next(line.price for line in self.lines if line.code == code)

    @property
    def amount(self) -> Decimal:
        return sum((amount_of(line.quantity, line.price) for line in self.lines), ZERO)


@dataclass
class MoveLine:
    code: str
    quantity: Decimal
    weighed: Decimal | None = None
    reason: str = ""


@dataclass(eq=False)
class Bill:
    """An invoice as planned; `invoice_id` is filled in when it is posted."""

    deal: Deal
    day: datetime.date
    amount: Decimal
    number: str
    remarks: str
    invoice_id: int | None = None

    @property
    def due(self) -> datetime.date:
        return self.day + datetime.timedelta(days=self.deal.credit_days)


@dataclass(eq=False)
class Sign:
    deal: Deal


@dataclass(eq=False)
class Move:
    deal: Deal
    keeper: str
    store: str
    lines: list[MoveLine]
    remarks: str
    # Entered first with this quantity on the first line, then reversed and entered again.
    mistyped: Decimal | None = None
    # A goods issue the credit check would stop, let through by an approved credit exception
    # (asked for and approved just before it, for the contract).
    credit_exception: CreditExceptionSpec | None = None

    @property
    def kind(self) -> str:
        return (
            StockDocumentKind.RECEIPT
            if self.deal.kind == ContractKind.PURCHASE
            else StockDocumentKind.ISSUE
        )

    def value(self) -> Decimal:
        return sum(
            (amount_of(line.quantity, self.deal.price_of(line.code)) for line in self.lines), ZERO
        )


@dataclass
class Mistake:
    """An invoice first posted with a wrong amount under `number`, then reversed by the
    red-letter invoice `reversal_number`; the right one follows under the bill's number."""

    amount: Decimal
    number: str
    reversal_number: str


@dataclass(eq=False)
class Invoice:
    bill: Bill
    mistake: Mistake | None = None


@dataclass(eq=False)
class Pay:
    """A payment to a supplier, through the payment approval flow (left pending if asked)."""

    deal: Deal
    amount: Decimal
    remarks: str
    bill: Bill | None = None
    pending: bool = False


@dataclass(eq=False)
class Collect:
    """A receipt from a customer."""

    deal: Deal
    amount: Decimal
    remarks: str


@dataclass(eq=False)
class Complete:
    deal: Deal


@dataclass
class CountLine:
    code: str
    variance_percent: Decimal  # counted = book × (1 + variance %)
    reason: str = ""


@dataclass(eq=False)
class Count:
    counter: str
    store: str
    lines: list[CountLine]
    remarks: str
    kind: str = StocktakeKind.COUNT
    approve: bool = True


@dataclass(eq=False)
class Admit:
    """A supplier registered and admitted mid-year (the partner is described by demo.py)."""

    code: str
    applicant: str
    reason: str
    qualifications: list[dict[str, Any]]


@dataclass(eq=False)
class Renew:
    """A qualification renewed: the same certificate with its new number and dates."""

    partner: str
    actor: str
    number: str
    issued_on: datetime.date
    expires_on: datetime.date


@dataclass(eq=False)
class CreditTerms:
    partner: str
    actor: str
    credit_limit: Decimal
    payment_days: int
    grade: str
    reason: str


Action = Sign | Move | Invoice | Pay | Collect | Complete | Count | Admit | Renew | CreditTerms


@dataclass(order=True)
class Step:
    day: datetime.date
    time: datetime.time
    order: int
    action: Action = field(compare=False)


@dataclass
class Plan:
    today: datetime.date
    steps: list[Step]
    deals: list[Deal]
    # Named deals the tests and the credit scenario look for.
    named: dict[str, Deal]


class PlanError(AssertionError):
    """The story contradicts a rule the services enforce (a bug in the planner)."""


# ---------------------------------------------------------------- the planner


def _q(value: float | Decimal, step: str = "0.001") -> Decimal:
    return Decimal(str(value)).quantize(Decimal(step), rounding=ROUND_HALF_UP)


def _share_out(total: Decimal, shares: list[Decimal]) -> list[Decimal]:
    """`total` in parts by `shares` (to the kilogram; the last part takes the rest)."""
    parts = [_q(total * share) for share in shares[:-1]]
    return [*parts, total - sum(parts, ZERO)]


def _round_to(value: float, unit: int) -> Decimal:
    return Decimal(round(value / unit) * unit)


# Price index per cycle (0…5): seasonal moves of the year, the last cycle at 1.
PRICE_INDEX: dict[str, tuple[float, ...]] = {
    REBAR: (0.99, 0.96, 1.01, 1.03, 0.98, 1.00),
    COIL: (0.98, 0.96, 1.02, 1.04, 0.99, 1.00),
    COAL: (1.07, 1.03, 0.95, 0.93, 0.98, 1.00),
    ORE: (0.99, 1.03, 0.98, 0.95, 1.01, 1.00),
    COPPER: (0.95, 0.97, 1.00, 1.04, 1.02, 1.00),
}
BUY_PRICE = {REBAR: 3650, COIL: 3780, COAL: 860, ORE: 780, COPPER: 72000}
PRICE_UNIT = {REBAR: 10, COIL: 10, COAL: 5, ORE: 5, COPPER: 100}
# Customer payment habits: days after the due date a receipt arrives (low, high).
PAYS = {
    "SM-KH-001": (-3, 6),
    "SM-KH-002": (0, 10),
    "SM-KH-003": (-5, 2),
    "SM-KH-004": (-2, 4),
    "SM-KH-005": (-4, 2),
}
# The customers' credit terms, as demo.py approves them before the year starts.
CREDIT_LIMITS: dict[str, Decimal] = {
    "SM-KH-001": D("5000000.00"),
    "SM-KH-002": D("10000000.00"),
    "SM-KH-003": D("3000000.00"),
    "SM-KH-004": D("3000000.00"),
    "SM-KH-005": D("6000000.00"),
}


INVOICE_REGION = {
    "SM-GYS-001": "3302",
    "SM-GYS-002": "1401",
    "SM-GYS-003": "3702",
    "SM-GYS-004": "3101",
    "SM-GYS-005": "1302",
    "DGSM": "3309",
}
SEA_LOSS = "海运途中水分蒸发及扬尘损耗，港口过磅数少于船板交接数，经商检确认按船板数结算。"
DRAFT_SURVEY = "港口水尺计重与提单数差异，经第三方商检确认。"


@dataclass(frozen=True)
class SaleSpec:
    customer: str
    codes: tuple[str, ...]
    share: tuple[float, float]  # of the purchased quantity
    markup: tuple[float, float]
    term: str = PaymentTerm.CREDIT
    credit_days: int = 30
    prepayment: Decimal = ZERO
    unit: int = 10  # contract quantities rounded to this


@dataclass(frozen=True)
class LineSpec:
    key: str
    supplier: str
    purchaser: str
    seller: str
    keeper: str
    store: str
    goods: tuple[tuple[str, int, int, int], ...]  # code, least, most, rounded to
    term: str
    credit_days: int
    prepayment: Decimal
    receipts: int
    sea: bool  # by ship: the weighbridge shows losses
    sales: tuple[SaleSpec, ...]
    purchase_remarks: str
    sales_remarks: str


STEEL = LineSpec(
    key="steel",
    supplier="SM-GYS-001",
    purchaser="lintao",
    seller="songjia",
    keeper="tangwei",
    store=OWN,
    goods=((REBAR, 550, 700, 10), (COIL, 250, 330, 10)),
    term=PaymentTerm.ON_DELIVERY,
    credit_days=0,
    prepayment=ZERO,
    receipts=3,
    sea=False,
    sales=(
        SaleSpec("SM-KH-001", (REBAR,), (0.90, 0.96), (0.055, 0.075)),
        SaleSpec("SM-KH-004", (COIL,), (0.88, 0.95), (0.050, 0.070)),
    ),
    purchase_remarks="宁钢螺纹钢、热轧卷板双月采购，汽运到定海仓库，货到验收后付款；价格含13%增值税。",
    sales_remarks="送货到工地，按理计重量结算。",
)
COAL_LINE = LineSpec(
    key="coal",
    supplier="SM-GYS-002",
    purchaser="xuqing",
    seller="hanbing",
    keeper="fenggang",
    store=PORT,
    goods=((COAL, 5000, 6000, 100),),
    term=PaymentTerm.CREDIT,
    credit_days=30,
    prepayment=ZERO,
    receipts=3,
    sea=True,
    sales=(SaleSpec("SM-KH-002", (COAL,), (0.88, 0.94), (0.09, 0.12), credit_days=45, unit=100),),
    purchase_remarks="5500大卡动力煤，铁海联运至老塘山港区，以港口过磅数结算，账期30天。",
    sales_remarks="电厂汽运提货，按入厂热值及过磅数结算，账期45天。",
)
ORE_LINE = LineSpec(
    key="ore",
    supplier="SM-GYS-003",
    purchaser="xuqing",
    seller="hanbing",
    keeper="fenggang",
    store=PORT,
    goods=((ORE, 6000, 7000, 100),),
    term=PaymentTerm.ON_DELIVERY,
    credit_days=0,
    prepayment=ZERO,
    receipts=3,
    sea=True,
    sales=(
        SaleSpec(
            "SM-KH-005",
            (ORE,),
            (0.84, 0.90),
            (0.06, 0.09),
            term=PaymentTerm.PREPAYMENT,
            credit_days=15,
            prepayment=D("20.00"),
            unit=100,
        ),
    ),
    purchase_remarks="青岛港现货62% PB粉，水运至老塘山港区，以第三方商检水尺计重为准，货到付款。",
    sales_remarks="预付20%，余款提货后15天内付清；港口提货。",
)
COPPER_LINE = LineSpec(
    key="copper",
    supplier="SM-GYS-004",
    purchaser="lintao",
    seller="hanbing",
    keeper="tangwei",
    store=OWN,
    goods=((COPPER, 25, 30, 1),),
    term=PaymentTerm.PREPAYMENT,
    credit_days=0,
    prepayment=D("30.00"),
    receipts=2,
    sea=False,
    sales=(SaleSpec("SM-KH-003", (COPPER,), (0.90, 0.96), (0.035, 0.050), credit_days=15, unit=1),),
    purchase_remarks="江铜品牌1#电解铜，预付30%，余款按到货发票结算。",
    sales_remarks="1#电解铜，客户自提，账期15天。",
)


class Planner:
    def __init__(self, today: datetime.date, tolerances: Mapping[str, Decimal], seed: int):
        self.cal = Calendar(today)
        self.tolerances = tolerances
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not security
        self.steps: list[Step] = []
        self.deals: list[Deal] = []
        self.named: dict[str, Deal] = {}
        self._order = itertools.count()
        self._invoice_serial = itertools.count(self.rng.randrange(10_000, 90_000) * 1000)
        # The receipts a customer withholds (the overdue scenarios): (customer, cycle, bill #).
        self.withheld: set[tuple[str, int, int]] = {("SM-KH-002", 4, 2)}

    # -------------------------------------------------------------- small helpers

    def at(self, day: datetime.date, hour: int, minute: int, action: Action) -> None:
        self.steps.append(Step(day, datetime.time(hour, minute), next(self._order), action))

    def minute(self) -> int:
        return self.rng.randrange(0, 50)

    def between(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high)

    def days(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def invoice_number(self, issuer: str, day: datetime.date) -> str:
        return f"{day.year % 100:02d}{INVOICE_REGION[issuer]}{next(self._invoice_serial):014d}"

    def price(self, code: str, cycle: int, markup: float = 0.0) -> Decimal:
        raw = BUY_PRICE[code] * PRICE_INDEX[code][cycle] * (1 + self.between(-0.01, 0.01))
        return _round_to(raw * (1 + markup), PRICE_UNIT[code]).quantize(D("0.0001"))

    def deal(self, key: str | None = None, **values: Any) -> Deal:
        deal = Deal(**values)
        self.deals.append(deal)
        if key:
            self.named[key] = deal
        self.at(deal.signed, 9, self.rng.randrange(0, 40), Sign(deal))
        return deal

    def move(
        self,
        day: datetime.date,
        deal: Deal,
        keeper: str,
        store: str,
        lines: list[MoveLine],
        remarks: str = "",
        mistyped: Decimal | None = None,
        credit_exception: CreditExceptionSpec | None = None,
    ) -> Move:
        movement = Move(deal, keeper, store, lines, remarks, mistyped, credit_exception)
        hour = 10 if movement.kind == StockDocumentKind.RECEIPT else 14
        self.at(day, hour, self.minute(), movement)
        return movement

    def bill(
        self,
        day: datetime.date,
        deal: Deal,
        amount: Decimal,
        remarks: str,
        wrong_amount: Decimal | None = None,
    ) -> Bill:
        issuer = deal.partner if deal.kind == ContractKind.PURCHASE else "DGSM"
        mistake = None
        if wrong_amount is not None:
            mistake = Mistake(
                wrong_amount, self.invoice_number(issuer, day), self.invoice_number(issuer, day)
            )
        bill = Bill(deal, day, amount, self.invoice_number(issuer, day), remarks)
        self.at(day, 16, self.minute(), Invoice(bill, mistake))
        return bill

    def pay(
        self,
        day: datetime.date,
        deal: Deal,
        amount: Decimal,
        remarks: str,
        bill: Bill | None = None,
        pending: bool = False,
    ) -> None:
        self.at(day, 13, self.minute(), Pay(deal, amount, remarks, bill, pending))

    def collect(self, day: datetime.date, deal: Deal, amount: Decimal, remarks: str) -> None:
        self.at(day, 11, self.minute(), Collect(deal, amount, remarks))

    def complete(self, day: datetime.date, deal: Deal) -> None:
        self.at(day, 17, self.rng.randrange(0, 20), Complete(deal))

    def weighed(self, quantity: Decimal, code: str, *, sea: bool) -> tuple[Decimal | None, str]:
        """A weighbridge reading and, beyond the tolerance, the reason."""
        tolerance = float(self.tolerances[code])
        if sea:
            reading = _q(float(quantity) * (1 - self.between(0.3, 1.5) * tolerance / 100))
            beyond = difference_percent(quantity, reading) > self.tolerances[code]
            return reading, (SEA_LOSS if code == COAL else DRAFT_SURVEY) if beyond else ""
        if code == COPPER:
            return _q(float(quantity) * (1 + self.between(-0.03, 0.03) / 100)), ""
        return _q(float(quantity) * (1 - self.between(0.0, 0.8) * tolerance / 100)), ""

    def split(self, total: Decimal, parts: int, places: str = "0.001") -> list[Decimal]:
        """`total` in `parts` uneven parts (the last takes the rest)."""
        weights = [self.between(0.8, 1.2) for _ in range(parts)]
        scale = sum(weights)
        pieces = [_q(float(total) * weight / scale, places) for weight in weights[:-1]]
        return [*pieces, total - sum(pieces, ZERO)]

    # -------------------------------------------------------------- money habits

    def settle_purchase(self, deal: Deal, bills: list[Bill]) -> None:
        """Pay a supplier as the contract says (up to today)."""
        paid = ZERO
        if deal.term == PaymentTerm.PREPAYMENT:
            prepayment = (deal.amount * deal.prepayment / 100).quantize(CENT)
            self.pay(
                self.cal.next(deal.signed, 2),
                deal,
                prepayment,
                f"按合同预付{deal.prepayment.normalize()}%货款，电汇。",
            )
            paid = prepayment
        billed = ZERO
        for bill in bills:
            billed += bill.amount
            if deal.term == PaymentTerm.CREDIT:
                day = self.cal.after(bill.due, self.days(-2, 2))
                if bill.due + datetime.timedelta(days=2) > self.cal.today:
                    continue
                amount, remarks = bill.amount, "账期到期付款，电汇。"
            elif deal.term == PaymentTerm.ON_DELIVERY:
                day = self.cal.after(bill.day, self.days(3, 6))
                amount, remarks = bill.amount, "货到验收、发票核对无误后付款，电汇。"
            else:
                day = self.cal.after(bill.day, self.days(3, 5))
                amount, remarks = billed - paid, "按到货发票结清扣除预付款后的货款，电汇。"
            if amount > 0 and day >= bill.day:
                self.pay(day, deal, amount, remarks, bill)
                paid += amount

    def settle_sale(self, deal: Deal, bills: list[Bill], cycle: int) -> None:
        """Collect from a customer as it habitually pays (up to today)."""
        low, high = PAYS[deal.partner]
        received = ZERO
        if deal.term == PaymentTerm.PREPAYMENT:
            prepayment = (deal.amount * deal.prepayment / 100).quantize(CENT)
            self.collect(
                self.cal.next(deal.signed, 1),
                deal,
                prepayment,
                f"合同{deal.prepayment.normalize()}%预付款到账。",
            )
            received = prepayment
        billed = ZERO
        for number, bill in enumerate(bills):
            billed += bill.amount
            if (deal.partner, cycle, number) in self.withheld:
                continue
            due = weekday_on_or_before(bill.due + datetime.timedelta(days=self.days(low, high)))
            if due > self.cal.today or due < bill.day:
                continue
            amount = billed - received
            if amount > 0:
                self.collect(due, deal, amount, "货款到账，电汇。")
                received += amount

    # -------------------------------------------------------------- a cycle of a line

    def cycle(self, line: LineSpec, cycle: int, skip_sales: tuple[str, ...] = ()) -> None:
        """One two-month cycle of a line of business, completed before today."""
        cal = self.cal
        start = cal.ago(YEAR_AGO - CYCLE_DAYS * cycle)
        bought = {
            code: _round_to(self.between(least, most), unit)
            for code, least, most, unit in line.goods
        }
        if line is STEEL and cycle == 3:
            bought[COIL] = D(450)  # the shipyard's big order
        purchase = self.deal(
            kind=ContractKind.PURCHASE,
            owner=line.purchaser,
            partner=line.supplier,
            lines=[DealLine(code, qty, self.price(code, cycle)) for code, qty in bought.items()],
            signed=start,
            delivery=(cal.after(start, 3), cal.after(start, 48)),
            end_on=start + datetime.timedelta(days=75),
            term=line.term,
            prepayment=line.prepayment,
            credit_days=line.credit_days,
            remarks=line.purchase_remarks,
        )
        days = [cal.after(start, 6 + 14 * n + self.days(-1, 1)) for n in range(line.receipts)]
        parts = {code: self.split(qty, line.receipts) for code, qty in bought.items()}
        bills = []
        for n, day in enumerate(days):
            rows = []
            for code in bought:
                weighed, reason = self.weighed(parts[code][n], code, sea=line.sea)
                rows.append(MoveLine(code, parts[code][n], weighed, reason))
            mistyped = None
            if line is ORE_LINE and cycle == 1 and n == 0:  # a typo, reversed and entered again
                mistyped = parts[ORE][0] + D(72)
            movement = self.move(
                day,
                purchase,
                line.keeper,
                line.store,
                rows,
                f"第{n + 1}批到货。",
                mistyped,
            )
            bills.append(
                self.bill(
                    cal.after(day, self.days(2, 4)),
                    purchase,
                    movement.value(),
                    f"第{n + 1}批到货发票。",
                )
            )
        self.settle_purchase(purchase, bills)
        self.complete(cal.after(days[-1], 14), purchase)

        for sale in line.sales:
            if sale.customer in skip_sales:
                continue
            codes = sale.codes
            if line is STEEL and cycle == 4 and sale.customer == "SM-KH-001":
                codes = (REBAR, COIL)  # the shipyard has stopped: 中海建设 takes the coil
            self.sale_cycle(line, sale, cycle, start, codes, bought, parts, days)

    def sale_cycle(
        self,
        line: LineSpec,
        sale: SaleSpec,
        cycle: int,
        start: datetime.date,
        codes: tuple[str, ...],
        bought: Mapping[str, Decimal],
        parts: Mapping[str, list[Decimal]],
        days: list[datetime.date],
    ) -> None:
        cal = self.cal
        sold = {
            code: _round_to(float(bought[code]) * self.between(*sale.share), sale.unit)
            for code in codes
        }
        signed = cal.after(start, 2)
        deal = self.deal(
            kind=ContractKind.SALES,
            owner=line.seller,
            partner=sale.customer,
            lines=[
                DealLine(code, qty, self.price(code, cycle, self.between(*sale.markup)))
                for code, qty in sold.items()
            ],
            signed=signed,
            delivery=(cal.after(start, 4), cal.after(start, 55)),
            end_on=start + datetime.timedelta(days=80),
            term=sale.term,
            prepayment=sale.prepayment,
            credit_days=sale.credit_days,
            remarks=line.sales_remarks,
        )
        pieces = {
            code: _share_out(qty, [part / bought[code] for part in parts[code]])
            for code, qty in sold.items()
        }
        bills = []
        issue_day = signed
        for n, day in enumerate(days):
            rows = []
            for code in sold:
                weighed = self.weighed(pieces[code][n], code, sea=False)[0] if line.sea else None
                rows.append(MoveLine(code, pieces[code][n], weighed))
            issue_day = cal.after(day, self.days(3, 5))
            issue = self.move(issue_day, deal, line.keeper, line.store, rows, "客户提货。")
            wrong = None
            if sale.customer == "SM-KH-001" and cycle == 1 and n == 0:
                wrong = issue.value() + D(2000)  # a wrong unit price on the first invoice
            bills.append(
                self.bill(
                    cal.after(issue_day, self.days(0, 1)),
                    deal,
                    issue.value(),
                    f"第{n + 1}批发货发票。",
                    wrong,
                )
            )
        self.settle_sale(deal, bills, cycle)
        self.complete(cal.after(issue_day, 10), deal)

    # -------------------------------------------------------------- the year

    def history(self) -> Plan:
        for cycle in range(5):
            skip = ("SM-KH-004",) if cycle >= 3 else ()
            self.cycle(STEEL, cycle, skip)
            self.cycle(COAL_LINE, cycle)
            self.cycle(ORE_LINE, cycle)
            self.cycle(COPPER_LINE, cycle)
        self.certificate_renewed()
        self.second_steel_supplier()
        self.shipyard_stops_paying()
        self.stocktakes()
        self.steel_now()
        self.coal_now()
        self.ore_now()
        self.copper_now()
        self.shipyard_favoured()  # last: it draws on the generator after the rest of the story
        self.steps.sort()
        return Plan(self.cal.today, self.steps, self.deals, self.named)

    def certificate_renewed(self) -> None:
        """港润's annual import-ore certificate runs out in the first month: renewed in time."""
        renewed = self.cal.ago(352)
        self.at(
            renewed,
            11,
            20,
            Renew(
                partner="SM-GYS-003",
                actor="xuqing",
                number=f"QDCIQ-{renewed.year}-TK-0931",
                issued_on=renewed,
                expires_on=self.cal.ahead(20),
            ),
        )

    def second_steel_supplier(self) -> None:
        """唐山津港 is admitted in the spring as a second rebar source; its quality certificate
        expires twelve days before today, while its current contract is still delivered."""
        cal = self.cal
        self.at(
            cal.ago(212),
            9,
            30,
            Admit(
                code="SM-GYS-005",
                applicant="lintao",
                reason="第二家螺纹钢货源，唐钢系资源，价格较宁钢低30元/吨，分散单一供应商风险。",
                qualifications=[
                    {
                        "kind": "quality_certificate",
                        "name": "钢筋混凝土用热轧带肋钢筋产品质量认证证书",
                        "number": "CQC-HB-2025-1187",
                        "issued_on": cal.today - datetime.timedelta(days=377),
                        "expires_on": cal.today - datetime.timedelta(days=12),
                    }
                ],
            ),
        )
        first = self.deal(
            kind=ContractKind.PURCHASE,
            owner="lintao",
            partner="SM-GYS-005",
            lines=[DealLine(REBAR, D(300), self.price(REBAR, 3, -0.008))],
            signed=cal.ago(180),
            delivery=(cal.ago(176), cal.ago(140)),
            end_on=cal.ahead(-120),
            term=PaymentTerm.ON_DELIVERY,
            remarks="津港首单螺纹钢，铁路到宁波北仑后汽运，货到验收后付款。",
        )
        parts = self.split(D(300), 2)
        bills = []
        for n, day in enumerate((cal.ago(170), cal.ago(156))):
            weighed, _reason = self.weighed(parts[n], REBAR, sea=False)
            movement = self.move(
                day, first, "tangwei", OWN, [MoveLine(REBAR, parts[n], weighed)], "津港到货。"
            )
            bills.append(self.bill(cal.after(day, 2), first, movement.value(), "津港到货发票。"))
        self.settle_purchase(first, bills)
        self.complete(cal.ago(150), first)

        current = self.deal(
            key="qualification_expired",
            kind=ContractKind.PURCHASE,
            owner="lintao",
            partner="SM-GYS-005",
            lines=[DealLine(REBAR, D(500), D("3610.0000"))],
            signed=cal.ago(100),
            delivery=(cal.ago(95), cal.ahead(20)),
            end_on=cal.ahead(45),
            term=PaymentTerm.ON_DELIVERY,
            remarks="津港螺纹钢四季度合同，分批到货，货到验收后付款。",
        )
        bills = []
        for day, quantity, remarks in (
            (cal.ago(85), D("200.000"), "津港第一批到货。"),
            (cal.ago(45), D("150.000"), "津港第二批到货。"),
            (cal.ago(6), D("100.000"), "津港第三批到货（供方质量认证证书已过期，新证待补）。"),
        ):
            weighed, _reason = self.weighed(quantity, REBAR, sea=False)
            movement = self.move(
                day, current, "tangwei", OWN, [MoveLine(REBAR, quantity, weighed)], remarks
            )
            bills.append(self.bill(cal.after(day, 2), current, movement.value(), "津港到货发票。"))
        self.settle_purchase(current, bills)

    def shipyard_stops_paying(self) -> None:
        """宏达船舶 takes 370 of 450 t of coil, then stops paying: four months overdue, the
        overdue block stops its shipments, its credit limit is cut far below its exposure;
        the contract is past its delivery date and expires under-executed."""
        cal = self.cal
        deal = self.deal(
            key="shipyard",
            kind=ContractKind.SALES,
            owner="songjia",
            partner="SM-KH-004",
            lines=[DealLine(COIL, D(450), D("3950.0000"))],
            signed=cal.ago(178),
            delivery=(cal.ago(172), cal.ago(60)),
            end_on=cal.ahead(-30),
            term=PaymentTerm.CREDIT,
            credit_days=30,
            remarks="宏达船舶分段制作用卷板，分批送厂，账期30天。",
        )
        bills = []
        for day, quantity in (
            (cal.ago(160), D(150)),
            (cal.ago(130), D(120)),
            (cal.ago(105), D(100)),
        ):
            issue = self.move(day, deal, "tangwei", OWN, [MoveLine(COIL, quantity)], "送宏达船舶。")
            bills.append(self.bill(cal.after(day, 1), deal, issue.value(), "卷板发货发票。"))
        self.collect(cal.ago(95), deal, D("200000.00"), "宏达船舶部分回款（银行承兑汇票）。")
        self.at(
            cal.ago(88),
            15,
            10,
            CreditTerms(
                partner="SM-KH-004",
                actor="songjia",
                credit_limit=D("500000.00"),
                payment_days=30,
                grade="C",
                reason="连续逾期未回款，最长逾期已超40天；信用额度由300万元压降至50万元，暂停发货并催收。",
            ),
        )

    def stocktakes(self) -> None:
        cal = self.cal
        self.at(
            cal.ago(272),
            9,
            0,
            Count(
                counter="fenggang",
                store=OWN,
                lines=[
                    CountLine(REBAR, D("-0.12"), "理计与过磅差异。"),
                    CountLine(COIL, D("0.05"), "卷板理计重量尾差。"),
                ],
                remarks="一季度末定海仓库月度盘点。",
            ),
        )
        self.at(
            cal.ago(150),
            9,
            0,
            Count(
                counter="fenggang",
                store=PORT,
                kind=StocktakeKind.STATEMENT,
                lines=[
                    CountLine(COAL, D("-0.60"), "堆存期间水分蒸发，港务公司月度对账单。"),
                    CountLine(ORE, D("-0.20"), "港务公司月度对账单。"),
                ],
                remarks="老塘山港区第三方仓库月度对账。",
            ),
        )
        self.at(
            cal.ago(60),
            9,
            0,
            Count(
                counter="tangwei",
                store=OWN,
                lines=[CountLine(COPPER, ZERO)],
                remarks="电解铜季度盘点，账实相符。",
            ),
        )
        self.at(
            cal.ago(1),
            9,
            0,
            Count(
                counter="fenggang",
                store=PORT,
                lines=[
                    CountLine(
                        COAL,
                        D("-1.50"),
                        "堆场露天存放，雨后自燃点清理及扬尘损耗，经第三方仓库盘点确认。",
                    )
                ],
                remarks="月末老塘山堆场动力煤盘点。",
                approve=False,
            ),
        )

    # -------------------------------------------------------------- the last cycle

    def steel_now(self) -> None:
        cal = self.cal
        buy = self.deal(
            key="steel_in",
            kind=ContractKind.PURCHASE,
            owner="lintao",
            partner="SM-GYS-001",
            lines=[DealLine(REBAR, D(600), D("3650.0000")), DealLine(COIL, D(300), D("3780.0000"))],
            signed=cal.ago(62),
            delivery=(cal.ago(58), cal.ahead(10)),
            end_on=cal.ahead(25),
            term=PaymentTerm.ON_DELIVERY,
            remarks="四季度螺纹钢、热轧卷板采购，货到验收后付款；价格含13%增值税。",
        )
        first = self.move(
            cal.ago(48),
            buy,
            "tangwei",
            OWN,
            [
                MoveLine(REBAR, D("302.360"), D("301.520")),
                MoveLine(
                    COIL,
                    D("150.000"),
                    D("149.180"),
                    "卷板按理计重量交货，地磅复磅少0.82吨，供方确认按理计结算。",
                ),
            ],
            "宁钢第一批到货，汽运。",
        )
        # 302.36 t × 3,650 + 150 t × 3,780 = 1,103,614.00 + 567,000.00
        first_bill = self.bill(cal.ago(45), buy, first.value(), "宁钢第一批到货全额专票。")
        second = self.move(
            cal.ago(24),
            buy,
            "tangwei",
            OWN,
            [MoveLine(REBAR, D("280.000"), D("279.400"))],
            "宁钢第二批到货。",
        )
        self.bill(cal.ago(21), buy, second.value(), "宁钢第二批到货专票。")
        self.pay(cal.ago(9), buy, D("1000000.00"), "宁钢第一批货款（部分），电汇。", first_bill)
        self.move(
            cal.ago(8),
            buy,
            "tangwei",
            OWN,
            [MoveLine(COIL, D("100.000"), D("99.720"))],
            "宁钢第三批到货（卷板）。",
        )

        sell = self.deal(
            key="steel_out",
            kind=ContractKind.SALES,
            owner="songjia",
            partner="SM-KH-001",
            lines=[DealLine(REBAR, D(500), D("3920.0000")), DealLine(COIL, D(200), D("4050.0000"))],
            signed=cal.ago(57),
            delivery=(cal.ago(55), cal.ago(5)),
            end_on=cal.ahead(25),
            term=PaymentTerm.CREDIT,
            credit_days=30,
            remarks="中海建设舟山绿色石化配套项目用钢，送货到工地。",
        )
        for day, rows, remarks in (
            (
                cal.ago(46),
                [MoveLine(REBAR, D(200)), MoveLine(COIL, D(100))],
                "送中海建设项目工地。",
            ),
            (cal.ago(27), [MoveLine(REBAR, D(150))], "送中海建设项目工地。"),
            (cal.ago(12), [MoveLine(REBAR, D(80)), MoveLine(COIL, D(50))], "工地催货，先发一车。"),
        ):
            issue = self.move(day, sell, "tangwei", OWN, rows, remarks)
            self.bill(cal.after(day, 1), sell, issue.value(), "中海建设发货发票。")
        self.collect(cal.ago(4), sell, D("600000.00"), "中海建设银行承兑到账。")

    def coal_now(self) -> None:
        cal = self.cal
        buy = self.deal(
            key="coal_in",
            kind=ContractKind.PURCHASE,
            owner="xuqing",
            partner="SM-GYS-002",
            lines=[DealLine(COAL, D(5000), D("860.0000"))],
            signed=cal.ago(62),
            delivery=(cal.ago(55), cal.ahead(20)),
            end_on=cal.ahead(45),
            term=PaymentTerm.CREDIT,
            credit_days=30,
            remarks="冬储电煤，船板交货，以港口过磅数结算，账期30天。",
        )
        self.move(
            cal.ago(40),
            buy,
            "fenggang",
            PORT,
            [MoveLine(COAL, D("2600.000"), D("2561.400"), SEA_LOSS)],
            "“晋能58”轮到港，卸入老塘山港区堆场。",
        )
        self.bill(cal.ago(35), buy, D("2236000.00"), "2,600吨 × 860元，按船板交接数开票。")
        self.move(
            cal.ago(16),
            buy,
            "fenggang",
            PORT,
            [MoveLine(COAL, D("2400.000"), D("2371.900"), SEA_LOSS)],
            "“晋能61”轮到港。",
        )
        self.bill(cal.ago(13), buy, D("2064000.00"), "2,400吨 × 860元。")
        # Left under approval: the coal payment waits for finance and the general manager.
        self.pay(
            cal.ago(0), buy, D("800000.00"), "晋能第一船煤款（部分），账期内支付。", pending=True
        )

        sell = self.deal(
            key="coal_out",
            kind=ContractKind.SALES,
            owner="hanbing",
            partner="SM-KH-002",
            lines=[DealLine(COAL, D(4000), D("960.0000"))],
            signed=cal.ago(50),
            delivery=(cal.ago(45), cal.ahead(30)),
            end_on=cal.ahead(60),
            term=PaymentTerm.CREDIT,
            credit_days=45,
            remarks="电厂冬季保供，按入厂热值结算。",
        )
        for day, quantity, weighed in (
            (cal.ago(35), D(1500), D("1492.600")),
            (cal.ago(24), D(1200), D("1196.300")),
            (cal.ago(16), D(900), D("897.100")),
        ):
            issue = self.move(
                day,
                sell,
                "fenggang",
                PORT,
                [MoveLine(COAL, quantity, weighed)],
                "电厂汽运提货，入厂过磅。",
            )
            self.bill(cal.after(day, 1), sell, issue.value(), "动力煤发货发票。")

    def ore_now(self) -> None:
        cal = self.cal
        buy = self.deal(
            key="ore_short",
            kind=ContractKind.PURCHASE,
            owner="xuqing",
            partner="SM-GYS-003",
            lines=[DealLine(ORE, D(10000), D("780.0000"))],
            signed=cal.ago(75),
            delivery=(cal.ago(70), cal.ago(25)),
            end_on=cal.ahead(-15),
            term=PaymentTerm.ON_DELIVERY,
            remarks="青岛港现货62% PB粉，分三船交货，货到付款。",
        )
        bills = []
        for day, quantity, remarks in (
            (cal.ago(64), D("4000.000"), "“港润6”轮到港。"),
            (cal.ago(40), D("3500.000"), "“港润9”轮到港；第三船因港口封航未能按期发运。"),
        ):
            weighed, reason = self.weighed(quantity, ORE, sea=True)
            movement = self.move(
                day, buy, "fenggang", PORT, [MoveLine(ORE, quantity, weighed, reason)], remarks
            )
            bills.append(self.bill(cal.after(day, 3), buy, movement.value(), "港润到货发票。"))
        self.settle_purchase(buy, bills)
        # Left as a draft: 许晴 is still negotiating the price of the next contract.
        self.deal(
            key="ore_draft",
            kind=ContractKind.PURCHASE,
            owner="xuqing",
            partner="SM-GYS-003",
            lines=[DealLine(ORE, D(10000), D("780.0000"))],
            signed=cal.ago(3),
            delivery=(cal.ahead(11), cal.ahead(63)),
            end_on=cal.ahead(122),
            term=PaymentTerm.ON_DELIVERY,
            remarks="青岛港现货62% PB粉，价格待确认（草稿）。",
            submit=False,
        )

        sell = self.deal(
            key="prepayment_late",
            kind=ContractKind.SALES,
            owner="hanbing",
            partner="SM-KH-005",
            lines=[DealLine(ORE, D(6000), D("850.0000"))],
            signed=cal.ago(30),
            delivery=(cal.ago(25), cal.ahead(30)),
            end_on=cal.ahead(60),
            term=PaymentTerm.PREPAYMENT,
            prepayment=D("20.00"),
            credit_days=15,
            remarks="预付20%，余款提货后15天内付清；港口提货。",
        )
        weighed, _reason = self.weighed(D(3000), ORE, sea=False)
        issue = self.move(
            cal.ago(12),
            sell,
            "fenggang",
            PORT,
            [MoveLine(ORE, D(3000), weighed)],
            "高炉原料告急，客户承诺三日内付预付款，业务部同意先行放货。",
        )
        self.bill(cal.ago(11), sell, issue.value(), "铁矿石第一批发货发票。")
        self.collect(
            cal.ago(4), sell, (sell.amount * sell.prepayment / 100).quantize(CENT), "预付款到账。"
        )

    def copper_now(self) -> None:
        cal = self.cal
        buy = self.deal(
            key="copper_in",
            kind=ContractKind.PURCHASE,
            owner="lintao",
            partner="SM-GYS-004",
            lines=[DealLine(COPPER, D(50), D("72000.0000"))],
            signed=cal.ago(40),
            delivery=(cal.ago(30), cal.ahead(16)),
            end_on=cal.ahead(63),
            term=PaymentTerm.PREPAYMENT,
            prepayment=D("30.00"),
            remarks="预付30%，余款提货前付清。",
        )
        movement = self.move(
            cal.ago(19),
            buy,
            "tangwei",
            OWN,
            [MoveLine(COPPER, D("25.000"), D("25.006"))],
            "电解铜首批25吨，带质保书。",
        )
        bill = self.bill(cal.ago(17), buy, movement.value(), "电解铜首批25吨专票。")
        self.settle_purchase(buy, [bill])

        sell = self.deal(
            key="copper_out",
            kind=ContractKind.SALES,
            owner="hanbing",
            partner="SM-KH-003",
            lines=[DealLine(COPPER, D(20), D("75500.0000"))],
            signed=cal.ago(26),
            delivery=(cal.ago(19), cal.ahead(32)),
            end_on=cal.ahead(63),
            term=PaymentTerm.CREDIT,
            credit_days=15,
            remarks="1#电解铜，客户自提。",
        )
        issue = self.move(
            cal.ago(11), sell, "tangwei", OWN, [MoveLine(COPPER, D("10.000"))], "客户自提。"
        )
        self.bill(cal.ago(10), sell, issue.value(), "电解铜发货发票。")
        # An extra order beyond the credit limit, let through by an approved credit exception.
        self.deal(
            key="credit_exception",
            kind=ContractKind.SALES,
            owner="hanbing",
            partner="SM-KH-003",
            lines=[DealLine(COPPER, D(25), D("75800.0000"))],
            signed=cal.ago(6),
            delivery=(cal.ahead(10), cal.ahead(40)),
            end_on=cal.ahead(70),
            term=PaymentTerm.CREDIT,
            credit_days=15,
            remarks="鑫泰铜材年底备货追加订单，赣铜第二批到货后发货。",
            credit_exception=CreditExceptionSpec(
                requester="hanbing",
                amount=D("450000.00"),
                reason=(
                    "鑫泰铜材年底备货追加25吨，超出信用额度约40万元；客户历史回款及时、无逾期，"
                    "本批货到后15天内付清，业务部负责跟踪回款。"
                ),
            ),
        )

    def shipyard_favoured(self) -> None:
        """宏达船舶 is four months overdue and far over its cut limit, yet 宋佳 sells it coil
        again — below what the coil cost — and three credit exceptions in five weeks, each
        lifting the overdue block, let the contract and two deliveries through: finance warns
        each time, the general manager approves each time."""
        cal = self.cal
        overrun = (
            "宏达船舶旧欠约126万元已逾期四个月，信用额度已压降至50万元；"
            "本次须解除逾期冻结并超额约151万元。"
        )
        finance = "客户逾期未清、已超额度，财务不建议放货；如业务部坚持，请总经理决定。"
        deal = self.deal(
            key="shipyard_again",
            kind=ContractKind.SALES,
            owner="songjia",
            partner="SM-KH-004",
            lines=[DealLine(COIL, D(120), D("3600.0000"))],
            signed=cal.ago(34),
            delivery=(cal.ago(30), cal.ahead(20)),
            end_on=cal.ahead(50),
            term=PaymentTerm.CREDIT,
            credit_days=30,
            remarks="宏达18号散货船分段抢工用卷板，分批送厂；客户承诺新货按账期付款，旧欠分三期清偿。",
            credit_exception=CreditExceptionSpec(
                requester="songjia",
                amount=D("1600000.00"),
                reason=overrun
                + "客户18号船分段抢工，承诺新货按期付款、旧欠分三期清偿；老客户，请特批签约。",
                allow_overdue=True,
                finance_comment=finance,
                manager_comment="同意签约，旧欠由宋佳负责催收。",
            ),
        )
        for day, quantity, remarks, reason in (
            (
                cal.ago(21),
                D(50),
                "宏达18号船分段抢工，首批送厂。",
                "18号船分段合拢在即，客户催货；首批50吨，旧欠第一期款下周到账。",
            ),
            (
                cal.ago(8),
                D(50),
                "宏达18号船第二批送厂。",
                "客户称第一期旧欠已安排付款，第二批50吨先行发货，避免船台停工。",
            ),
        ):
            issue = self.move(
                day,
                deal,
                "tangwei",
                OWN,
                [MoveLine(COIL, quantity)],
                remarks,
                credit_exception=CreditExceptionSpec(
                    requester="songjia",
                    amount=D("1600000.00"),
                    reason=overrun + reason,
                    valid_days=7,
                    allow_overdue=True,
                    finance_comment=finance,
                    manager_comment="同意发货，宋佳跟踪回款。",
                ),
            )
            self.bill(cal.after(day, 1), deal, issue.value(), "卷板发货发票（宏达18号船）。")


def plan_history(today: datetime.date, tolerances: Mapping[str, Decimal], seed: int = SEED) -> Plan:
    """The year ending `today`, on paper (no database), checked."""
    plan = Planner(today, tolerances, seed).history()
    check_plan(plan, tolerances)
    return plan


# ---------------------------------------------------------------- checking the plan


def _allowance(quantity: Decimal, tolerance: Decimal) -> Decimal:
    return quantity + quantity * tolerance / 100


def check_plan(
    plan: Plan,
    tolerances: Mapping[str, Decimal],
    credit_limits: Mapping[str, Decimal] | None = None,
) -> None:
    """Replay the plan on paper against the rules the services enforce; raise PlanError."""
    limits = dict(credit_limits or CREDIT_LIMITS)
    stock_on_hand: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    executed: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    signed: set[int] = set()
    completed: set[int] = set()
    billed: dict[int, Decimal] = defaultdict(Decimal)
    issued_value: dict[int, Decimal] = defaultdict(Decimal)
    settled: dict[int, Decimal] = defaultdict(Decimal)
    bills: dict[int, list[Bill]] = defaultdict(list)
    problems: list[str] = []

    def problem(step: Step, text: str) -> None:
        problems.append(f"{step.day} {type(step.action).__name__}: {text}")

    def overdue(partner: str, day: datetime.date) -> Decimal:
        """What a customer owes more than OVERDUE_BLOCK_DAYS past due on `day` (per contract,
        first in first out)."""
        total = ZERO
        for deal in plan.deals:
            if deal.partner != partner or id(deal) not in signed:
                continue
            credit = settled[id(deal)]
            for bill in sorted(bills[id(deal)], key=lambda item: item.due):
                used = min(credit, bill.amount)
                credit -= used
                if (day - bill.due).days > OVERDUE_BLOCK_DAYS:
                    total += bill.amount - used
        return total

    def exposure(partner: str) -> Decimal:
        total = ZERO
        for deal in plan.deals:
            if deal.partner != partner or id(deal) not in signed:
                continue
            key = id(deal)
            total += billed[key] - settled[key]
            total += max(ZERO, issued_value[key] - billed[key])
            if key not in completed:
                total += max(ZERO, deal.amount - max(issued_value[key], billed[key]))
        return total

    for step in plan.steps:
        action = step.action
        if step.day > plan.today or step.day.weekday() >= 5:
            problem(step, "not a working day up to today")
        deal = getattr(action, "deal", None)
        if deal is None and isinstance(action, Invoice):
            deal = action.bill.deal
        if isinstance(deal, Deal) and not isinstance(action, Sign):
            if id(deal) not in signed:
                problem(step, f"{deal.partner}: before the contract took effect")
            if isinstance(action, Move) and not deal.signed <= step.day <= deal.end_on:
                problem(step, f"{deal.partner}: goods outside the contract's period")
            if isinstance(action, Move | Invoice) and id(deal) in completed:
                problem(step, f"{deal.partner}: the contract is completed")
        if isinstance(action, Sign):
            if action.deal.submit:
                signed.add(id(action.deal))
                if action.deal.kind == ContractKind.SALES:
                    spec = action.deal.credit_exception
                    limit = limits.get(action.deal.partner, ZERO)
                    if spec is not None:
                        limit += spec.amount
                    if exposure(action.deal.partner) > limit:
                        problem(step, f"{action.deal.partner}: over the credit limit")
                    lifted = spec is not None and spec.allow_overdue
                    if not lifted and overdue(action.deal.partner, step.day) > 0:
                        problem(step, f"{action.deal.partner}: contract while overdue")
        elif isinstance(action, Move):
            deal = action.deal
            sign = 1 if action.kind == StockDocumentKind.RECEIPT else -1
            for line in action.lines:
                key = (action.store, line.code)
                stock_on_hand[key] += sign * line.quantity
                if stock_on_hand[key] < 0:
                    problem(step, f"{line.code} at {action.store} below zero")
                executed[(id(deal), line.code)] += line.quantity
                quantity = next(row.quantity for row in deal.lines if row.code == line.code)
                if executed[(id(deal), line.code)] > _allowance(quantity, tolerances[line.code]):
                    problem(step, f"{deal.partner} {line.code}: beyond the contract")
            if deal.kind == ContractKind.SALES:
                issued_value[id(deal)] += action.value()
                spec = action.credit_exception
                lifted = spec is not None and spec.allow_overdue
                if not lifted and overdue(deal.partner, step.day) > 0:
                    problem(step, f"{deal.partner}: shipment while overdue beyond the block")
                limit = limits.get(deal.partner, ZERO) + (spec.amount if spec else ZERO)
                if exposure(deal.partner) > limit:
                    problem(step, f"{deal.partner}: over the credit limit")
        elif isinstance(action, Invoice):
            deal = action.bill.deal
            billed[id(deal)] += action.bill.amount
            bills[id(deal)].append(action.bill)
            ceiling = sum(
                (
                    amount_of(_allowance(line.quantity, tolerances[line.code]), line.price)
                    for line in deal.lines
                ),
                ZERO,
            )
            if billed[id(deal)] > ceiling:
                problem(step, f"{deal.partner}: invoiced beyond the contract")
        elif isinstance(action, Pay):
            deal = action.deal
            prepayment = (
                (deal.amount * deal.prepayment / 100).quantize(CENT)
                if deal.term == PaymentTerm.PREPAYMENT
                else ZERO
            )
            delivered = (
                sum(
                    (amount_of(executed[(id(deal), line.code)], line.price) for line in deal.lines),
                    ZERO,
                )
                if deal.term == PaymentTerm.ON_DELIVERY
                else ZERO
            )
            allowed = max(billed[id(deal)], prepayment, delivered) - settled[id(deal)]
            if action.amount > allowed:
                problem(step, f"{deal.partner}: payment beyond the allowance")
            if not action.pending:
                settled[id(deal)] += action.amount
        elif isinstance(action, Collect):
            settled[id(action.deal)] += action.amount
        elif isinstance(action, Complete):
            completed.add(id(action.deal))
        elif isinstance(action, CreditTerms):
            limits[action.partner] = action.credit_limit
    if problems:
        raise PlanError("the demo history breaks a rule:\n" + "\n".join(problems[:20]))


# ---------------------------------------------------------------- playing it


class SimulatedClock:
    """The time the story has reached; `qinglian.core.clock.now` reads it while playing. Never
    later than the real time (today's steps, played in the morning, happen "now")."""

    def __init__(self) -> None:
        self.limit = timezone.now()
        self.moment = self.limit

    def now(self) -> datetime.datetime:
        return min(self.moment, self.limit)

    def today(self) -> datetime.date:
        return timezone.localdate(self.now())

    def set(self, day: datetime.date, time: datetime.time) -> None:
        self.moment = timezone.make_aware(datetime.datetime.combine(day, time))

    def advance(self, minutes: int) -> None:
        self.moment += datetime.timedelta(minutes=minutes)


@contextmanager
def simulated_clock() -> Iterator[SimulatedClock]:
    """Run the block with the clock at the simulated moment (set it with `set`)."""
    simulated = SimulatedClock()
    with mock.patch.object(clock, "now", simulated.now):
        yield simulated


def drive(
    request_id: int,
    comments: Mapping[str, str] | None = None,
    pause: Callable[[], None] | None = None,
) -> None:
    """Approve `request_id` to its end, each pending task as its assignee (`pause` runs before
    each decision: the simulated clock moves on)."""
    comments = comments or {}
    for _round in range(20):
        task = (
            ApprovalTask.objects.select_related("assignee", "request")
            .filter(request_id=request_id, status=TaskStatus.PENDING)
            .order_by("pk")
            .first()
        )
        if task is None:
            break
        assert task.assignee is not None
        if pause is not None:
            pause()
        approval_services.task_approve(
            actor=task.assignee,
            task_id=task.pk,
            comment=comments.get(task.assignee.username, "同意。"),
        )
    else:  # pragma: no cover - a flow that never ends is a bug in the demo
        raise RuntimeError(f"approval request {request_id} did not finish")


class Tally(Protocol):
    def add(self, what: str, number: int = 1) -> None: ...


CONTRACT_COMMENTS = {
    "pengli": "合同条款已审查，质量异议及违约责任条款符合公司范本。",
    "caomin": "付款条件在资金计划内。",
    "yuanchao": "同意签订。",
    "dengqiang": "同意。",
}
PAYMENT_COMMENTS = {"caomin": "合同、发票、入库单核对一致。", "dengqiang": "同意支付。"}
STOCKTAKE_COMMENTS = {
    "tangwei": "已复盘，差异属实。",
    "caomin": "按移动加权平均成本调整账面。",
    "yuanchao": "同意。",
}


@dataclass
class Cast:
    """The people, companies and master data the story refers to by code."""

    company: Company
    group: Company
    department: Department
    users: dict[str, User]
    partners: dict[str, Partner]
    goods: dict[str, Commodity]
    stores: dict[str, Warehouse]

    @classmethod
    def load(cls, company_code: str, group_code: str) -> Cast:
        company = Company.objects.get(code=company_code)
        group = Company.objects.get(code=group_code)
        return cls(
            company=company,
            group=group,
            department=Department.objects.get(company=company, code="YW"),
            users={user.username: user for user in User.objects.filter(is_active=True)},
            partners={p.code: p for p in Partner.objects.filter(company=group)},
            goods={c.code: c for c in Commodity.objects.filter(company=group)},
            stores={w.code: w for w in Warehouse.objects.filter(company=company)},
        )


class Player:
    def __init__(
        self,
        cast: Cast,
        simulated: SimulatedClock,
        tally: Tally,
        register: Callable[[str, str], Partner],
    ) -> None:
        self.cast = cast
        self.clock = simulated
        self.tally = tally
        self.register = register  # creates a partner of demo.py's list (by code, applicant)
        self.rng = random.Random(SEED + 1)  # noqa: S311 - demo data, not security

    def user(self, username: str) -> User:
        return self.cast.users[username]

    def pause(self) -> None:
        self.clock.advance(self.rng.randrange(12, 40))

    def play(self, plan: Plan) -> None:
        for step in plan.steps:
            self.clock.set(step.day, step.time)
            handler: Callable[[Any], None] = getattr(self, f"_{type(step.action).__name__}")
            handler(step.action)

    # -------------------------------------------------------------- the steps

    def _Sign(self, action: Sign) -> None:
        deal = action.deal
        owner = self.user(deal.owner)
        draft = contracts.contract_create(
            actor=owner,
            company_id=self.cast.company.pk,
            kind=deal.kind,
            partner_id=self.cast.partners[deal.partner].pk,
            payment_term=deal.term,
            lines=[
                {
                    "commodity_id": self.cast.goods[line.code].pk,
                    "quantity": str(line.quantity),
                    "unit_price": str(line.price),
                }
                for line in deal.lines
            ],
            signed_on=deal.signed,
            delivery_start=deal.delivery[0],
            delivery_end=deal.delivery[1],
            end_on=deal.end_on,
            prepayment_percent=str(deal.prepayment),
            credit_days=deal.credit_days,
            department_id=self.cast.department.pk,
            remarks=deal.remarks,
        )
        deal.contract_id = draft.pk
        self.tally.add("contracts")
        if not deal.submit:
            return
        if deal.credit_exception is not None:
            self.credit_exception(deal, deal.credit_exception, draft.pk)
        self.pause()
        submitted = contracts.contract_submit(actor=owner, contract_id=draft.pk)
        assert submitted.approval_request_id is not None
        drive(submitted.approval_request_id, CONTRACT_COMMENTS, self.pause)

    def credit_exception(self, deal: Deal, spec: CreditExceptionSpec, contract_id: int) -> None:
        """Ask for (and get) the credit exception a sales contract needs before it is sent."""
        self.pause()
        exception = credit.credit_exception_request(
            actor=self.user(spec.requester),
            partner_id=self.cast.partners[deal.partner].pk,
            amount=spec.amount,
            reason=spec.reason,
            valid_until=self.clock.today() + datetime.timedelta(days=spec.valid_days),
            allow_overdue=spec.allow_overdue,
            contract_id=contract_id,
            company_id=self.cast.company.pk,
        )
        assert exception.approval_request_id is not None
        drive(
            exception.approval_request_id,
            {FINANCE: spec.finance_comment, "dengqiang": spec.manager_comment},
            self.pause,
        )
        self.tally.add("credit exceptions")

    def _Move(self, action: Move) -> None:
        deal = action.deal
        assert deal.contract_id is not None
        keeper = self.user(action.keeper)
        lines = [
            {
                "commodity_id": self.cast.goods[line.code].pk,
                "quantity": str(line.quantity),
                "weighed_quantity": str(line.weighed) if line.weighed is not None else "",
                "difference_reason": line.reason,
            }
            for line in action.lines
        ]
        what = "goods receipts" if action.kind == StockDocumentKind.RECEIPT else "goods issues"
        warehouse_id = self.cast.stores[action.store].pk
        day = self.clock.today()
        if action.mistyped is not None:
            wrong = [{**lines[0], "quantity": str(action.mistyped), "weighed_quantity": ""}]
            posted = stock.stock_document_create(
                actor=keeper,
                kind=action.kind,
                contract_id=deal.contract_id,
                warehouse_id=warehouse_id,
                posting_date=day,
                lines=wrong + lines[1:],
                remarks=action.remarks,
                post=True,
            )
            self.pause()
            stock.stock_document_reverse(
                actor=keeper,
                document_id=posted.pk,
                reason=f"数量录入错误（{action.mistyped}应为{action.lines[0].quantity}），红冲后重新入库。",
                posting_date=day,
            )
            self.tally.add(what, 2)
            self.pause()
        if action.credit_exception is not None:
            self.credit_exception(deal, action.credit_exception, deal.contract_id)
            self.pause()
        stock.stock_document_create(
            actor=keeper,
            kind=action.kind,
            contract_id=deal.contract_id,
            warehouse_id=warehouse_id,
            posting_date=day,
            lines=lines,
            remarks=action.remarks,
            post=True,
        )
        self.tally.add(what)

    def _Invoice(self, action: Invoice) -> None:
        bill = action.bill
        assert bill.deal.contract_id is not None
        finance = self.user(FINANCE)
        mistake = action.mistake
        if mistake is not None:
            wrong = money.invoice_create(
                actor=finance,
                contract_id=bill.deal.contract_id,
                invoice_number=mistake.number,
                invoice_date=bill.day,
                amount=mistake.amount,
                remarks=bill.remarks,
            )
            money.invoice_post(actor=finance, invoice_id=wrong.pk)
            self.pause()
            money.invoice_reverse(
                actor=finance,
                invoice_id=wrong.pk,
                invoice_number=mistake.reversal_number,
                reason="单价开错（按上月价格开具），红冲后重开。",
                invoice_date=bill.day,
            )
            self.tally.add("invoices", 2)
            self.pause()
        draft = money.invoice_create(
            actor=finance,
            contract_id=bill.deal.contract_id,
            invoice_number=bill.number,
            invoice_date=bill.day,
            amount=bill.amount,
            remarks=bill.remarks,
        )
        money.invoice_post(actor=finance, invoice_id=draft.pk)
        bill.invoice_id = draft.pk
        self.tally.add("invoices")

    def _Pay(self, action: Pay) -> None:
        assert action.deal.contract_id is not None
        finance = self.user(FINANCE)
        payment = money.payment_create(
            actor=finance,
            contract_id=action.deal.contract_id,
            amount=action.amount,
            paid_on=self.clock.today(),
            invoice_id=action.bill.invoice_id if action.bill is not None else None,
            remarks=action.remarks,
        )
        payment = money.payment_submit(actor=finance, payment_id=payment.pk)
        self.tally.add("payments")
        if action.pending:
            return
        assert payment.approval_request_id is not None
        drive(payment.approval_request_id, PAYMENT_COMMENTS, self.pause)

    def _Collect(self, action: Collect) -> None:
        assert action.deal.contract_id is not None
        finance = self.user(FINANCE)
        receipt = money.payment_create(
            actor=finance,
            contract_id=action.deal.contract_id,
            amount=action.amount,
            paid_on=self.clock.today(),
            remarks=action.remarks,
        )
        money.receipt_post(actor=finance, payment_id=receipt.pk)
        self.tally.add("receipts")

    def _Complete(self, action: Complete) -> None:
        assert action.deal.contract_id is not None
        contracts.contract_complete(
            actor=self.user(action.deal.owner), contract_id=action.deal.contract_id
        )

    def _Count(self, action: Count) -> None:
        counter = self.user(action.counter)
        store = self.cast.stores[action.store]
        lines = []
        for line in action.lines:
            commodity = self.cast.goods[line.code]
            book = (
                StockBalance.objects.filter(
                    company=self.cast.company, warehouse=store, commodity=commodity
                )
                .values_list("quantity", flat=True)
                .first()
                or ZERO
            )
            counted = (book * (1 + line.variance_percent / 100)).quantize(D("0.1"))
            if not line.variance_percent:
                counted = book
            lines.append(
                {
                    "commodity_id": commodity.pk,
                    "counted_quantity": str(counted),
                    "reason": line.reason,
                }
            )
        stocktake = stock.stocktake_create(
            actor=counter,
            warehouse_id=store.pk,
            counted_on=self.clock.today(),
            lines=lines,
            kind=action.kind,
            remarks=action.remarks,
        )
        self.pause()
        stocktake = stock.stocktake_submit(actor=counter, stocktake_id=stocktake.pk)
        self.tally.add("stocktakes")
        if action.approve and stocktake.approval_request_id is not None:
            drive(stocktake.approval_request_id, STOCKTAKE_COMMENTS, self.pause)

    def _Admit(self, action: Admit) -> None:
        applicant = self.user(action.applicant)
        partner = self.register(action.code, action.applicant)
        self.cast.partners[partner.code] = partner
        for row in action.qualifications:
            self.pause()
            master.qualification_add(actor=applicant, partner_id=partner.pk, **row)
            self.tally.add("qualifications")
        admission = master.supplier_admission_create(
            actor=applicant,
            partner_id=partner.pk,
            reason=action.reason,
            company_id=self.cast.company.pk,
        )
        admission = master.supplier_admission_submit(actor=applicant, admission_id=admission.pk)
        assert admission.approval_request_id is not None
        drive(
            admission.approval_request_id,
            {"pengli": "营业执照、资质证书已核验，在有效期内。", "yuanchao": "同意准入。"},
            self.pause,
        )
        self.tally.add("supplier admissions")

    def _Renew(self, action: Renew) -> None:
        qualification = Qualification.objects.get(
            partner=self.cast.partners[action.partner], kind="quality_certificate"
        )
        master.qualification_update(
            actor=self.user(action.actor),
            qualification_id=qualification.pk,
            number=action.number,
            issued_on=action.issued_on,
            expires_on=action.expires_on,
        )

    def _CreditTerms(self, action: CreditTerms) -> None:
        actor = self.user(action.actor)
        change = master.credit_change_create(
            actor=actor,
            partner_id=self.cast.partners[action.partner].pk,
            credit_limit=action.credit_limit,
            payment_days=action.payment_days,
            credit_grade=action.grade,
            reason=action.reason,
            company_id=self.cast.company.pk,
        )
        change = master.credit_change_submit(actor=actor, change_id=change.pk)
        assert change.approval_request_id is not None
        drive(change.approval_request_id, {"caomin": "同意压降额度，财务同步催收。"}, self.pause)
        self.tally.add("credit changes")

"""The records generated history is made of, and the helpers that make them: amounts in cents
and quantities in kilograms written as the format wants them, working hours, names, the
thresholds clean amounts keep away from. Pure: no ORM."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_START = dt.date(2025, 1, 1)
DEFAULT_END = dt.date(2026, 10, 31)
DAY = dt.timedelta(days=1)
MANIFEST = "planted.json"
FORMAT_VERSION = "qinglian-legacy-1"

WORK_START = 9 * 3600  # decisions between 09:00 and 18:00 on weekdays
WORK_END = 18 * 3600
MIN_GAP = 20 * 60  # at least 20 minutes between a task arriving and its decision
YUAN = 100  # amounts are counted in cents, quantities in kilograms

# The thresholds of the shipped flows (yuan) and the bands below them clean amounts avoid.
CONTRACT_THRESHOLDS = (1_000_000, 5_000_000)
ENGINEERING_THRESHOLD = 1_000_000
EXPENSE_THRESHOLD = 5_000
BAND = 0.10
SPLIT_WINDOW_DAYS = 30  # rule 2's window: clean contracts with one partner are further apart
BENFORD = {digit: math.log10(1 + 1 / digit) for digit in range(1, 10)}
UNIFORM_DIGITS = {digit: 1 / 9 for digit in range(1, 10)}


def _band(threshold: int) -> tuple[int, int]:
    """[lower, upper] in cents: the band just below a threshold."""
    return round(threshold * (1 - BAND) * YUAN), threshold * YUAN


CONTRACT_BANDS = tuple(_band(value) for value in CONTRACT_THRESHOLDS)
ENGINEERING_BANDS = (_band(ENGINEERING_THRESHOLD),)
EXPENSE_BANDS = (_band(EXPENSE_THRESHOLD),)


def in_bands(cents: int, bands: Iterable[tuple[int, int]]) -> bool:
    return any(lower <= cents <= upper for lower, upper in bands)


# ---------------------------------------------------------------- formatting


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def quantity(kilograms: int) -> str:
    return f"{kilograms // 1000}.{kilograms % 1000:03d}"


def moment(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds") + "+08:00"


def day(value: dt.date | None) -> str:
    return value.isoformat() if value is not None else ""


def line_amount(kilograms: int, price_cents: int) -> int:
    return (kilograms * price_cents + 500) // 1000


# ---------------------------------------------------------------- time


def workday(value: dt.date) -> dt.date:
    while value.weekday() >= 5:
        value += DAY
    return value


def at(value: dt.date, seconds: int) -> dt.datetime:
    return dt.datetime(value.year, value.month, value.day) + dt.timedelta(seconds=seconds)


def seconds_of(value: dt.datetime) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


def month_start(value: dt.date) -> dt.date:
    return value.replace(day=1)


def next_month(value: dt.date) -> dt.date:
    return (value.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


# ---------------------------------------------------------------- names

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "建国",
    "建华",
    "志强",
    "海燕",
    "晓东",
    "丹",
    "宁",
    "斌",
]
CITIES = (
    ("浙江省", "杭州市", "330100", "0571"),
    ("浙江省", "宁波市", "330200", "0574"),
    ("浙江省", "温州市", "330300", "0577"),
    ("上海市", "上海市", "310000", "021"),
    ("江苏省", "南京市", "320100", "025"),
    ("江苏省", "苏州市", "320500", "0512"),
    ("安徽省", "合肥市", "340100", "0551"),
    ("湖北省", "武汉市", "420100", "027"),
    ("天津市", "天津市", "120000", "022"),
    ("河北省", "唐山市", "130200", "0315"),
)
DISTRICTS = ("经济技术开发区", "高新区", "城东区", "城西区", "港区", "临港新区")
ROADS = [
    "解放路",
    "人民路",
    "中山路",
    "建设路",
    "工业路",
    "滨江路",
    "环城北路",
    "学院路",
    "新华路",
    "长江路",
    "黄河路",
    "和平路",
    "胜利路",
    "文化路",
    "东风路",
    "科技路",
    "港城大道",
    "世纪大道",
    "金融街",
    "物流大道",
]
TRADE_WORDS = [
    "鑫达",
    "恒通",
    "华盛",
    "宏源",
    "金泰",
    "瑞丰",
    "永安",
    "中联",
    "天合",
    "盛世",
    "汇金",
    "远大",
    "国信",
    "长江",
    "东方",
    "新兴",
    "海川",
    "泰和",
    "嘉禾",
    "隆基",
    "正阳",
    "德信",
    "安泰",
    "宝隆",
    "聚源",
    "鼎盛",
    "广源",
    "富华",
    "信达",
    "亿丰",
    "通达",
    "荣昌",
    "万恒",
    "启航",
    "明泰",
    "同创",
    "弘业",
    "佳和",
    "钧联",
    "乾元",
]
SUPPLIER_TRADES = [
    "钢铁贸易",
    "物资",
    "煤炭销售",
    "矿产品",
    "能源",
    "金属材料",
    "钢材加工",
    "石化产品",
    "供应链",
    "实业",
]
CUSTOMER_TRADES = [
    "建设集团",
    "建工材料",
    "机械制造",
    "钢结构",
    "重工",
    "电力燃料",
    "贸易",
    "建材",
    "装备",
    "新材料",
]
CONTRACTOR_TRADES = ["建筑工程", "建设工程", "市政工程", "安装工程"]
BANKS = (
    "中国工商银行",
    "中国建设银行",
    "中国农业银行",
    "中国银行",
    "交通银行",
    "招商银行",
    "浙商银行",
    "兴业银行",
)
DEPARTMENTS = (
    ("BGS", "办公室"),
    ("CW", "财务部"),
    ("CG", "采购部"),
    ("XS", "销售部"),
    ("CC", "仓储物流部"),
    ("GC", "工程部"),
    ("FK", "风控法务部"),
    ("JJ", "纪检监察室"),
)
SUBSIDIARIES = (
    ("QLWZ", "青联物资贸易有限公司", "青联物资"),
    ("QLNY", "青联能源有限公司", "青联能源"),
    ("QLJS", "青联金属材料有限公司", "青联金属"),
    ("QLGY", "青联供应链管理有限公司", "青联供应链"),
    ("QLJC", "青联建材有限公司", "青联建材"),
    ("QLKY", "青联矿业贸易有限公司", "青联矿业"),
    ("QLWL", "青联物流有限公司", "青联物流"),
    ("QLGJ", "青联国际贸易有限公司", "青联国贸"),
)
# code, name, spec, tolerance %, contract quantity tolerance %, market price (yuan per tonne)
COMMODITIES = (
    ("GC-LWG", "螺纹钢", "HRB400E Φ18-25", "0.30", "5.00", 3900),
    ("GC-XC", "高线", "HPB300 Φ8", "0.30", "5.00", 4000),
    ("GC-RJ", "热轧卷板", "Q235B 5.75×1500", "0.30", "5.00", 4100),
    ("GC-LJ", "冷轧卷板", "SPCC 1.0×1250", "0.30", "5.00", 4700),
    ("MT-DL", "动力煤", "Q5500 S≤1%", "0.50", "5.00", 850),
    ("MT-JM", "焦煤", "主焦煤 A≤10%", "0.50", "5.00", 1600),
    ("JT-YJ", "冶金焦", "准一级", "0.50", "5.00", 2100),
    ("TK-FK", "铁矿石", "PB粉 62%", "0.50", "5.00", 900),
    ("YP-CY", "柴油", "0# 国VI", "0.20", "3.00", 7600),
    ("YS-DJ", "电解铜", "Cu-CATH-1", "0.10", "3.00", 72000),
    ("YS-LD", "铝锭", "A00 99.7%", "0.10", "3.00", 19500),
)


# ---------------------------------------------------------------- the records


@dataclass(eq=False, slots=True)
class Company:
    id: str
    name: str
    short_name: str
    parent: Company | None
    uscc: str
    region: str
    address: str
    kind: str
    index: int
    departments: dict[str, Department] = field(default_factory=dict)
    people: dict[str, list[Employee]] = field(default_factory=lambda: defaultdict(list))
    warehouses: list[Warehouse] = field(default_factory=list)
    commodities: list[Commodity] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class Department:
    code: str
    company: Company
    name: str
    head: Employee | None = None


@dataclass(eq=False, slots=True)
class Employee:
    id: str
    name: str
    company: Company
    department: Department | None
    role: str
    title: str
    phone: str
    bank_name: str
    bank_account: str
    home_address: str
    hired_on: dt.date | None


@dataclass(eq=False, slots=True)
class Partner:
    id: str
    name: str
    uscc: str
    kind: str
    bank_name: str
    bank_account: str
    phone: str
    address: str
    admission_status: str
    admission_date: dt.date | None
    qualification_expiry: dt.date | None
    credit_limit: int | None
    terms: int
    created_on: dt.date
    history: list[tuple[str, dt.date, str]] = field(default_factory=list)
    reserved: bool = False  # kept out of the clean trade: a planted case uses it


@dataclass(eq=False, slots=True)
class Commodity:
    id: str
    name: str
    spec: str
    tolerance: str
    contract_tolerance: str
    price: int  # market price, cents per tonne incl. VAT
    phase: float
    tolerance_ppm: int = 0  # tolerance in millionths

    def market(self, on: dt.date) -> float:
        """The market price on a day (cents per tonne incl. VAT): within 2 % of the base."""
        return self.price * (1 + 0.02 * math.sin(on.toordinal() / 58.0 + self.phase))


@dataclass(eq=False, slots=True)
class Warehouse:
    id: str
    company: Company
    name: str
    kind: str
    address: str
    keeper: Employee | None = None


@dataclass(eq=False, slots=True)
class Step:
    node: str
    approver: Employee
    decision: str
    decided_at: dt.datetime
    comment: str


@dataclass(eq=False, slots=True)
class Request:
    type: str
    company: Company
    requester: Employee
    partner: Partner | None
    amount: int | None
    subject_type: str
    subject: Any
    title: str
    submitted: dt.datetime
    status: str = "pending"
    completed: dt.datetime | None = None
    steps: list[Step] = field(default_factory=list)
    id: str = ""


@dataclass(eq=False, slots=True)
class Line:
    line_no: int
    commodity: Commodity | None
    kilograms: int | None
    price: int | None
    amount: int
    tolerance: str
    tax: str


@dataclass(eq=False, slots=True)
class Contract:
    kind: str
    company: Company
    partner: Partner
    owner: Employee
    signed: dt.date
    lines: list[Line]
    terms: int
    effective: dt.date | None = None
    end: dt.date | None = None
    terminated: dt.date | None = None
    status: str = "signed"
    request: Request | None = None
    documents: list[Document] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    id: str = ""
    # How the money side goes (set by planted cases): "normal", "advance", "none".
    payments: str = "normal"
    fast_payment: bool = False

    @property
    def amount(self) -> int:
        return sum(line.amount for line in self.lines)


@dataclass(eq=False, slots=True)
class DocumentLine:
    line: Line | None
    commodity: Commodity
    kilograms: int
    weighed: int | None
    price: int

    @property
    def amount(self) -> int:
        return line_amount(self.kilograms, self.price)


@dataclass(eq=False, slots=True)
class Document:
    kind: str  # receipt, issue
    company: Company
    contract: Contract | None
    partner: Partner
    at: dt.datetime
    lines: list[DocumentLine]
    warehouse: Warehouse | None = None
    keeper: Employee | None = None
    dropped: bool = False
    below_cost: bool = False  # planted: priced under the moving-average cost at issue
    id: str = ""

    @property
    def amount(self) -> int:
        return sum(line.amount for line in self.lines)


@dataclass(eq=False, slots=True)
class Invoice:
    direction: str
    number: str
    code: str
    company: Company
    partner: Partner
    contract: Contract | None
    amount: int
    tax: str
    date: dt.date
    due: dt.date | None = None
    id: str = ""


@dataclass(eq=False, slots=True)
class Payment:
    direction: str
    kind: str
    company: Company
    partner: Partner | None
    contract: Contract | None
    invoice: Invoice | None
    amount: int
    date: dt.date
    request: Request | None = None
    payee: Employee | None = None
    note: str = ""
    id: str = ""


@dataclass(eq=False, slots=True)
class Claim:
    """An expense claim: the subject of an expense request."""

    company: Company
    submitted: dt.datetime
    id: str = ""


@dataclass(eq=False, slots=True)
class Receivable:
    invoice: Invoice
    settled: dt.date | None
    outstanding_at_year_end: int


@dataclass(eq=False, slots=True)
class Stocktake:
    company: Company
    warehouse: Warehouse
    commodity: Commodity
    at: dt.datetime
    book: int
    counted: int
    counter: Employee | None
    id: str = ""


@dataclass
class Planted:
    rule: str
    check: str
    note: str
    ids: dict[str, list[Any]]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Summary:
    rows: int
    counts: dict[str, int]
    seconds: float
    planted: list[dict[str, Any]]
    skipped: list[dict[str, str]]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


class Rotation:
    """Partners taken in turn (each company its own order), skipping those with a contract
    within the split window of the day, so contracts with one partner are more than 30 days
    apart."""

    def __init__(self, partners: Sequence[Partner], rng: random.Random) -> None:
        self.partners = list(partners)
        rng.shuffle(self.partners)
        self.position = 0
        self.used: dict[int, list[dt.date]] = defaultdict(list)

    def take(self, on: dt.date, *, besides: Partner | None = None) -> Partner | None:
        for _attempt in range(len(self.partners)):
            partner = self.partners[self.position % len(self.partners)]
            self.position += 1
            if partner is besides:
                continue
            days = self.used[id(partner)]
            if all(abs((on - used).days) > SPLIT_WINDOW_DAYS + 1 for used in days):
                days.append(on)
                return partner
        return None


class DigitQuota:
    """First digits chosen so that each key's amounts follow a target distribution (Benford's,
    or a planted one): the digit furthest below its share comes next."""

    def __init__(self) -> None:
        self.counts: dict[Any, Counter[int]] = defaultdict(Counter)
        self.targets: dict[Any, dict[int, float]] = {}

    def order(self, key: Any) -> list[int]:
        target = self.targets.get(key, BENFORD)
        counts = self.counts[key]
        total = sum(counts.values()) + 1
        return sorted(target, key=lambda digit: counts[digit] - target[digit] * total)

    def add(self, key: Any, cents: int) -> None:
        self.counts[key][int(str(cents)[0])] += 1


def digit_amount(
    rng: random.Random,
    digit: int,
    lower: int,
    upper: int,
    bands: Iterable[tuple[int, int]] = (),
) -> int | None:
    """An amount in cents within [lower, upper] whose first digit is `digit`, outside the
    bands (None when there is none); whole yuan above 100 yuan."""
    options = []
    for exponent in range(len(str(max(lower, 1))) - 1, len(str(upper))):
        low = max(lower, digit * 10**exponent)
        high = min(upper, (digit + 1) * 10**exponent - 1)
        if low <= high:
            options.append((low, high))
    rng.shuffle(options)
    for low, high in options:
        for _attempt in range(6):
            cents = rng.randint(low, high)
            if cents >= 100 * YUAN:
                cents -= cents % YUAN
                if cents < low or int(str(cents)[0]) != digit:
                    continue
            if not in_bands(cents, bands):
                return cents
    return None

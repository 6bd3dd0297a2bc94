"""The demo purchase–sales–inventory of 东港商贸 (DGSM): group-owned commodities and partners,
DGSM's warehouses, suppliers admitted through the admission flow, customers with approved
credit, then a year of trading up to today (`demo_history`): contracts approved through the
contract flow, goods in and out, invoices, payments through the payment flow, receipts,
stocktakes — and the situations the warnings exist for (overdue customers, a credit limit
overrun, contracts expiring, under-executed or late, a supplier's expired certificate, goods
issued before the prepayment, a stocktake variance under approval). A few documents are left
open (a draft contract, a payment and a stocktake under approval) so the demo users find work
in their inboxes.

Everything goes through the trading services (and the approvals engine for the decisions), so
the audit trail records it; the master data is entered a few weeks before the year starts, with
the clock set to then. Idempotent: when the marker supplier (SUPPLIERS[0]) exists, the demo is
taken as loaded and nothing is created. Run after `qinglian.org.demo.demo_load`.

`project_supply_demo_load` adds 东港建设's own purchases of building materials (below): a
purchaser, his related suppliers and the findings they leave for supervision.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from qinglian.approvals import services as approval_services
from qinglian.approvals.enums import SelfApprovalRule, TaskStatus
from qinglian.approvals.models import ApprovalTask, ApprovalTemplate
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.org.demo import demo_uscc
from qinglian.org.models import Company, Department, User

from .approval_binding import approval_flows
from .demo_history import (
    CREDIT_LIMITS,
    Calendar,
    Cast,
    Player,
    SimulatedClock,
    drive,
    plan_history,
    simulated_clock,
)
from .enums import (
    ContractKind,
    CreditGrade,
    PartnerKind,
    PaymentTerm,
    QualificationKind,
    StockDocumentKind,
    WarehouseKind,
)
from .models import Commodity, Partner
from .services import contracts, master, money, stock, warnings

COMPANY = "DGSM"
GROUP = "DG"
D = datetime.date

# code, name, spec, tolerance % (weighing), tax rate
COMMODITIES = [
    ("RB-HRB400", "螺纹钢", "HRB400E Φ20mm×12m", "0.30", "0.1300"),
    ("HRC-Q235B", "热轧卷板", "Q235B 5.75mm×1500mm", "0.30", "0.1300"),
    ("COAL-5500", "动力煤", "5500大卡 Q≥5500kcal/kg 硫≤0.8%", "1.00", "0.1300"),
    ("ORE-62", "铁矿石", "62% PB粉 Fe≥61.5%", "0.50", "0.1300"),
    ("CU-CATH", "电解铜", "1#铜 Cu≥99.95% GB/T 467", "0.10", "0.1300"),
]
TOLERANCES = {code: Decimal(tolerance) for code, _name, _spec, tolerance, _rate in COMMODITIES}

# code, name, kind, address, keeper
WAREHOUSES = [
    (
        "SM-WH01",
        "东港商贸定海自有仓库",
        WarehouseKind.OWN,
        "舟山市定海区临城新区海天大道288号后场",
        "tangwei",
    ),
    (
        "SM-WH02",
        "舟山港务老塘山第三方仓库",
        WarehouseKind.THIRD_PARTY,
        "舟山市定海区老塘山港区",
        "fenggang",
    ),
]


@dataclass(frozen=True)
class DemoPartner:
    code: str
    name: str
    kind: str
    serial: int  # for the demo credit code
    bank_name: str
    bank_account: str
    phone: str
    address: str
    contact: tuple[str, str, str]  # name, position, phone


SUPPLIERS = [
    DemoPartner(
        "SM-GYS-001",
        "宁波甬钢贸易有限公司",
        PartnerKind.SUPPLIER,
        101,
        "中国工商银行宁波江北支行",
        "3901140009000123456",
        "0574-87651234",
        "浙江省宁波市江北区人民路366号",
        ("周建华", "销售经理", "13805741234"),
    ),
    DemoPartner(
        "SM-GYS-002",
        "山西晋能煤炭销售有限公司",
        PartnerKind.SUPPLIER,
        102,
        "中国建设银行太原迎泽支行",
        "14001710008052501234",
        "0351-4561234",
        "山西省太原市迎泽区并州南路18号",
        ("王晋生", "区域经理", "13903511234"),
    ),
    DemoPartner(
        "SM-GYS-003",
        "青岛港润矿产品贸易有限公司",
        PartnerKind.SUPPLIER,
        103,
        "交通银行青岛市南支行",
        "372005519018010012345",
        "0532-82861234",
        "山东省青岛市市南区香港中路76号",
        ("刘海涛", "业务总监", "13706421234"),
    ),
    DemoPartner(
        "SM-GYS-004",
        "上海赣铜金属材料有限公司",
        PartnerKind.SUPPLIER,
        104,
        "招商银行上海浦东支行",
        "121909876510201",
        "021-58761234",
        "上海市浦东新区张杨路500号",
        ("陈立新", "销售主管", "13916201234"),
    ),
    # Admitted in the spring (demo_history); its quality certificate has expired since.
    DemoPartner(
        "SM-GYS-005",
        "唐山津港钢铁贸易有限公司",
        PartnerKind.SUPPLIER,
        105,
        "中国银行唐山路北支行",
        "101289765432",
        "0315-2851234",
        "河北省唐山市路北区建设北路99号",
        ("赵津生", "销售经理", "13931501234"),
    ),
]

CUSTOMERS = [
    DemoPartner(
        "SM-KH-001",
        "舟山中海建设集团有限公司",
        PartnerKind.CUSTOMER,
        111,
        "中国农业银行舟山定海支行",
        "19510101040012345",
        "0580-2021234",
        "浙江省舟山市定海区解放西路120号",
        ("孙国强", "物资部经理", "13857201234"),
    ),
    DemoPartner(
        "SM-KH-002",
        "浙能舟山燃煤发电有限公司",
        PartnerKind.CUSTOMER,
        112,
        "中国银行舟山分行",
        "375858901234",
        "0580-8061234",
        "浙江省舟山市定海区岑港街道电厂路1号",
        ("郑燃", "燃料部主任", "13967201234"),
    ),
    DemoPartner(
        "SM-KH-003",
        "宁波鑫泰铜材有限公司",
        PartnerKind.CUSTOMER,
        113,
        "宁波银行北仑支行",
        "51010122000123456",
        "0574-86881234",
        "浙江省宁波市北仑区新碶街道明州路88号",
        ("李鑫", "采购经理", "13586601234"),
    ),
    DemoPartner(
        "SM-KH-004",
        "舟山宏达船舶修造有限公司",
        PartnerKind.CUSTOMER,
        114,
        "中国工商银行舟山普陀支行",
        "1207020109200012345",
        "0580-3801234",
        "浙江省舟山市普陀区六横镇船舶工业园区8号",
        ("马海波", "物资部经理", "13857301234"),
    ),
    DemoPartner(
        "SM-KH-005",
        "浙江甬江特钢有限公司",
        PartnerKind.CUSTOMER,
        115,
        "浙商银行宁波镇海支行",
        "3320020110120100012345",
        "0574-86221234",
        "浙江省宁波市镇海区蛟川街道炼钢路6号",
        ("吴立军", "原料部部长", "13805861234"),
    ),
]

MARKER_CODE = SUPPLIERS[0].code


@dataclass
class TradingDemoResult:
    flows: int = 0
    created: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, number: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + number
        self.created += number

    def summary(self) -> str:
        return "，".join(f"{what} {number}" for what, number in self.counts.items())


def flows_load() -> int:
    """Save the trading approval flows not stored as shipped; returns how many were saved (0 on
    a second run). template_save records an audit event on every call, so a flow whose stored
    template already matches is left alone."""
    saved = 0
    for flow in approval_flows():
        template = (
            ApprovalTemplate.objects.select_related("current_version")
            .filter(code=flow["code"])
            .first()
        )
        if template is not None and _is_current(template, flow):
            continue
        approval_services.template_save(actor=SYSTEM_ACTOR, **flow)
        saved += 1
    return saved


def _is_current(template: ApprovalTemplate, flow: dict[str, Any]) -> bool:
    version = template.current_version
    canonical = approval_services.parse_definition(flow["definition"]).model_dump(mode="json")
    return (
        version is not None
        and version.definition == canonical
        and template.name == flow["name"]
        and template.category == flow.get("category", "")
        and template.description == flow.get("description", "")
        and template.document_type == flow.get("document_type", "")
        and template.self_approval_rule == flow.get("self_approval_rule", SelfApprovalRule.SUPERIOR)
        and template.skip_repeated_approver == flow.get("skip_repeated_approver", True)
        and template.resume_at_returning_node == flow.get("resume_at_returning_node", True)
        and template.is_active == flow.get("is_active", True)
    )


def trading_demo_load() -> TradingDemoResult:
    """Load the flows and, unless the marker supplier exists, the demo master data and its year
    of trading (`demo_history`)."""
    result = TradingDemoResult(flows=flows_load())
    group = Company.objects.get(code=GROUP)
    if Partner.objects.filter(company=group, code=MARKER_CODE).exists():
        return result
    today = clock.today()
    plan = plan_history(today, TOLERANCES)  # on paper first: a broken plan writes nothing
    with (
        override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"),
        transaction.atomic(),
        simulated_clock() as simulated,
    ):
        company = Company.objects.get(code=COMPANY)
        _master_data_load(result, simulated, Calendar(today), group, company)
        cast = Cast.load(COMPANY, GROUP)

        def register(code: str, applicant: str) -> Partner:
            return _supplier_register(result, cast.users[applicant], group, code)

        Player(cast, simulated, result, register).play(plan)
    result.add("warnings", _warnings_detect(company))
    return result


def _warnings_detect(company: Company) -> int:
    """Run the daily warning detection once, as of today, so that the warnings page and
    `manage.py trading_warnings --summary` show the demo's warnings on first run; returns how
    many it opened. Its log line is held back: demo_load prints its own summary."""
    log = logging.getLogger(warnings.__name__)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        return warnings.warnings_refresh(company=company).opened
    finally:
        log.setLevel(level)


def _partner(result: TradingDemoResult, actor: User, group: Company, spec: DemoPartner) -> Partner:
    name, position, phone = spec.contact
    partner = master.partner_create(
        actor=actor,
        company_id=group.pk,
        code=spec.code,
        name=spec.name,
        kind=spec.kind,
        uscc=demo_uscc(spec.serial),
        bank_name=spec.bank_name,
        bank_account=spec.bank_account,
        phone=spec.phone,
        address=spec.address,
        contacts=[{"name": name, "position": position, "phone": phone}],
    )
    result.add("partners")
    return partner


def _supplier_register(
    result: TradingDemoResult, applicant: User, group: Company, code: str
) -> Partner:
    """A supplier of SUPPLIERS with its business licence (registered since 2018)."""
    spec = next(spec for spec in SUPPLIERS if spec.code == code)
    partner = _partner(result, applicant, group, spec)
    master.qualification_add(
        actor=applicant,
        partner_id=partner.pk,
        kind=QualificationKind.BUSINESS_LICENCE,
        name="营业执照",
        number=demo_uscc(spec.serial),
        issued_on=D(2018, 5, 8),
    )
    result.add("qualifications")
    return partner


def _master_data_load(
    result: TradingDemoResult,
    simulated: SimulatedClock,
    calendar: Calendar,
    group: Company,
    company: Company,
) -> None:
    """Commodities, warehouses, the first four suppliers admitted and the customers' credit
    approved, a few weeks before the year of trading starts."""
    users = {user.username: user for user in User.objects.filter(is_active=True)}
    lintao, xuqing, tangwei = users["lintao"], users["xuqing"], users["tangwei"]
    day = calendar.ago(385)
    simulated.set(day, datetime.time(9, 0))

    def pause() -> None:
        simulated.advance(17)

    def ago(days: int) -> datetime.date:
        return calendar.today - datetime.timedelta(days=days)

    for code, name, detail, tolerance, rate in COMMODITIES:
        master.commodity_create(
            actor=lintao,
            company_id=group.pk,
            code=code,
            name=name,
            spec=detail,
            unit="t",
            tolerance_percent=Decimal(tolerance),
            tax_rate=Decimal(rate),
        )
        result.add("commodities")
    for code, name, kind, address, keeper in WAREHOUSES:
        master.warehouse_create(
            actor=tangwei,
            company_id=company.pk,
            code=code,
            name=name,
            kind=kind,
            address=address,
            keeper_id=users[keeper].pk,
        )
        result.add("warehouses")

    # Suppliers: business licence (long term) plus an operating permit or quality certificate.
    # 青岛港润's annual import-ore certificate runs out in the first month of the year and is
    # renewed (demo_history) until 20 days after today: the expiry warning.
    qualifications: dict[str, list[dict[str, Any]]] = {
        "SM-GYS-001": [
            {
                "kind": QualificationKind.QUALITY_CERTIFICATE,
                "name": "钢筋混凝土用热轧带肋钢筋产品质量认证证书",
                "number": "CQM-24-0331-01",
                "issued_on": ago(607),
                "expires_on": ago(607) + datetime.timedelta(days=3 * 365),
            },
        ],
        "SM-GYS-002": [
            {
                "kind": QualificationKind.OPERATING_PERMIT,
                "name": "煤炭经营备案证明",
                "number": "晋煤经备〔2024〕0158号",
                "issued_on": ago(546),
                "expires_on": ago(546) + datetime.timedelta(days=3 * 365),
            },
        ],
        "SM-GYS-003": [
            {
                "kind": QualificationKind.QUALITY_CERTIFICATE,
                "name": "进口铁矿石检验检疫证书（年度）",
                "number": "QDCIQ-TK-0931",
                "issued_on": ago(713),
                "expires_on": ago(348),
            },
        ],
        "SM-GYS-004": [
            {
                "kind": QualificationKind.QUALITY_CERTIFICATE,
                "name": "LME注册品牌阴极铜质量证明",
                "number": "GT-CU-2024-066",
                "issued_on": ago(688),
                "expires_on": ago(688) + datetime.timedelta(days=2 * 365 + 60),
            },
        ],
    }
    applicants = {
        "SM-GYS-001": lintao,
        "SM-GYS-002": xuqing,
        "SM-GYS-003": xuqing,
        "SM-GYS-004": lintao,
    }
    reasons = {
        "SM-GYS-001": "宁钢一级代理商，螺纹钢、热轧卷板货源稳定，三家比价价格最低。",
        "SM-GYS-002": "晋能集团直属销售公司，5500大卡动力煤长协货源，铁路直达舟山港。",
        "SM-GYS-003": "青岛港现货铁矿石主要贸易商，可提供港口现货及保税货。",
        "SM-GYS-004": "江铜品牌电解铜授权经销商，可提供上海期货交易所注册品牌。",
    }
    for code, applicant in applicants.items():
        pause()
        partner = _supplier_register(result, applicant, group, code)
        for row in qualifications[code]:
            master.qualification_add(actor=applicant, partner_id=partner.pk, **row)
            result.add("qualifications")
        admission = master.supplier_admission_create(
            actor=applicant, partner_id=partner.pk, reason=reasons[code], company_id=company.pk
        )
        admission = master.supplier_admission_submit(actor=applicant, admission_id=admission.pk)
        assert admission.approval_request_id is not None
        drive(
            admission.approval_request_id,
            {"pengli": "营业执照、资质证书已核验，在有效期内。", "yuanchao": "同意准入。"},
            pause,
        )
        result.add("supplier admissions")

    simulated.set(calendar.after(day, 3), datetime.time(9, 30))
    credit = {
        "SM-KH-001": ("songjia", 30, CreditGrade.A, "合作三年回款及时，年采购螺纹钢约1.2万吨。"),
        "SM-KH-002": ("hanbing", 45, CreditGrade.A, "国有发电企业，按月结算，电煤长协客户。"),
        "SM-KH-003": ("hanbing", 15, CreditGrade.B, "合作第二年，回款及时，额度按月均发货量核定。"),
        "SM-KH-004": ("songjia", 30, CreditGrade.B, "船舶修造企业，按分段制作进度分批采购卷板。"),
        "SM-KH-005": (
            "hanbing",
            15,
            CreditGrade.B,
            "民营特钢企业，首年合作，预付20%后发货，余款15天内结清。",
        ),
    }
    for spec in CUSTOMERS:
        seller, days, grade, reason = credit[spec.code]
        pause()
        partner = _partner(result, users[seller], group, spec)
        change = master.credit_change_create(
            actor=users[seller],
            partner_id=partner.pk,
            credit_limit=CREDIT_LIMITS[spec.code],
            payment_days=days,
            credit_grade=grade,
            reason=reason,
            company_id=company.pk,
        )
        change = master.credit_change_submit(actor=users[seller], change_id=change.pk)
        assert change.approval_request_id is not None
        drive(change.approval_request_id, {"caomin": "额度在公司授信政策内。"}, pause)
        result.add("credit changes")


# ---------------------------------------------------------------- 东港建设's own materials

# 东港建设 (DGJS) buys the rebar for its sites itself. Its materials purchaser 沈俊 brings in two
# local suppliers in the autumn: 舟山恒顺, whose contact's mobile number is 沈俊's own, and 舟山
# 顺鑫, paid into the same bank account as 恒顺. Within two weeks he signs three contracts with
# them, each a little under the 1,000,000 yuan above which the leader in charge approves, at
# prices about 10 % over 宁波甬钢's. 顺鑫 is paid in full before it delivers anything (an
# exception payment approved through the payment flow), 恒顺's first invoice is booked a
# second time under another number, and 恒顺's third lot is unloaded at the site before its
# contract is approved (the receipt is entered afterwards, dated the day the steel arrived).
# 顺鑫's exception payment is approved by the leader in charge at 23:42.
PROJECT_COMPANY = "DGJS"
PROJECT_MARKER_CODE = "JS-GYS-001"
PROJECT_STORE = "JS-WH01"
PROJECT_SUPPLIERS = [
    DemoPartner(
        PROJECT_MARKER_CODE,
        "舟山恒顺建材贸易有限公司",
        PartnerKind.SUPPLIER,
        121,
        "浙江舟山农村商业银行定海支行",
        "201000287654321",
        "0580-2266178",
        "浙江省舟山市定海区盐仓街道新港工业园区12号",
        ("沈建国", "总经理", ""),  # the phone: the purchaser's own mobile (filled in at load)
    ),
    DemoPartner(
        "JS-GYS-002",
        "舟山顺鑫物资有限公司",
        PartnerKind.SUPPLIER,
        122,
        "浙江舟山农村商业银行定海支行",
        "2010-0028-7654-321",  # 恒顺's account, written with dashes
        "0580-2031856",
        "浙江省舟山市普陀区东港街道海华路58号",
        ("王海燕", "销售经理", "13906801856"),
    ),
]
PROJECT_REASONS = {
    "JS-GYS-001": "舟山本地钢筋现货商，可按工地进度随叫随送，省去甬钢汽运周转。",
    "JS-GYS-002": "普陀本地钢材经销商，作为在建项目钢筋的第二货源。",
}
PROJECT_CONTRACT_COMMENTS = {"gaofeng": "合同条款已审查。", "zhuting": "在项目材料预算内。"}
PROJECT_PAYMENT_COMMENTS = {
    "majun": "同意支付。",
    "huangzhiming": "同意。",
    "heping": "同意。",
}


@dataclass
class ProjectSupply:
    """Who and what the project supply story refers to."""

    company: Company
    group: Company
    users: dict[str, User]
    clock: SimulatedClock
    calendar: Calendar
    result: TradingDemoResult
    partners: dict[str, Partner] = field(default_factory=dict)
    warehouse_id: int = 0
    rebar_id: int = 0

    def at(self, day: datetime.date, hour: int, minute: int) -> None:
        self.clock.set(day, datetime.time(hour, minute))

    def pause(self) -> None:
        self.clock.advance(23)

    def decide(self, request_id: int, comments: dict[str, str], late: tuple[str, ...] = ()) -> None:
        """Approve `request_id` to its end; a person in `late` decides at 23:42 (from home,
        on the phone), whoever follows the next morning."""
        for _round in range(20):
            task = (
                ApprovalTask.objects.select_related("assignee")
                .filter(request_id=request_id, status=TaskStatus.PENDING)
                .order_by("pk")
                .first()
            )
            if task is None:
                return
            assert task.assignee is not None
            day = timezone.localdate(self.clock.now())
            if task.assignee.username in late:
                self.at(day, 23, 42)
            elif timezone.localtime(self.clock.now()).hour >= 19:
                self.at(self.calendar.next(day, 1), 8, 50)
            else:
                self.pause()
            approval_services.task_approve(
                actor=task.assignee,
                task_id=task.pk,
                comment=comments.get(task.assignee.username, "同意。"),
            )
        raise RuntimeError(f"approval request {request_id} did not finish")  # pragma: no cover


def project_supply_demo_load() -> TradingDemoResult:
    """Load 东港建设's materials purchasing (above) unless its first supplier exists; returns
    what was created. Run after `trading_demo_load` (the trading flows and commodities)."""
    result = TradingDemoResult()
    group = Company.objects.get(code=GROUP)
    if Partner.objects.filter(company=group, code=PROJECT_MARKER_CODE).exists():
        return result
    with (
        override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"),
        transaction.atomic(),
        simulated_clock() as simulated,
    ):
        company = Company.objects.get(code=PROJECT_COMPANY)
        story = ProjectSupply(
            company=company,
            group=group,
            users={user.username: user for user in User.objects.filter(is_active=True)},
            clock=simulated,
            calendar=Calendar(clock.today()),
            result=result,
        )
        _project_supply_play(story)
    result.add("warnings", _warnings_detect(company))
    return result


def _project_supplier(story: ProjectSupply, spec: DemoPartner, day: datetime.date) -> None:
    shenjun = story.users["shenjun"]
    story.at(day, 9, 10)
    name, position, phone = spec.contact
    partner = master.partner_create(
        actor=shenjun,
        company_id=story.group.pk,
        code=spec.code,
        name=spec.name,
        kind=spec.kind,
        uscc=demo_uscc(spec.serial),
        bank_name=spec.bank_name,
        bank_account=spec.bank_account,
        phone=spec.phone,
        address=spec.address,
        contacts=[{"name": name, "position": position, "phone": phone or shenjun.phone}],
    )
    story.result.add("partners")
    master.qualification_add(
        actor=shenjun,
        partner_id=partner.pk,
        kind=QualificationKind.BUSINESS_LICENCE,
        name="营业执照",
        number=demo_uscc(spec.serial),
        issued_on=story.calendar.today - datetime.timedelta(days=2 * 365 + 40),
    )
    story.result.add("qualifications")
    story.pause()
    admission = master.supplier_admission_create(
        actor=shenjun,
        partner_id=partner.pk,
        reason=PROJECT_REASONS[spec.code],
        company_id=story.company.pk,
    )
    admission = master.supplier_admission_submit(actor=shenjun, admission_id=admission.pk)
    assert admission.approval_request_id is not None
    story.decide(
        admission.approval_request_id,
        {"hujing": "项目用钢量大，同意引入本地货源。", "gaofeng": "营业执照已核验。"},
    )
    story.result.add("supplier admissions")
    story.partners[spec.code] = partner


def _project_contract(
    story: ProjectSupply,
    code: str,
    quantity: str,
    price: str,
    signed: datetime.date,
    remarks: str,
    *,
    approve_on: datetime.date | None = None,
) -> int:
    """A rebar purchase contract signed (and submitted) on `signed`, approved that day or on
    `approve_on`; returns its id."""
    cal = story.calendar
    story.at(signed, 9, 20)
    draft = contracts.contract_create(
        actor=story.users["shenjun"],
        company_id=story.company.pk,
        kind=ContractKind.PURCHASE,
        partner_id=story.partners[code].pk,
        payment_term=PaymentTerm.ON_DELIVERY,
        lines=[{"commodity_id": story.rebar_id, "quantity": quantity, "unit_price": price}],
        signed_on=signed,
        delivery_start=signed,
        delivery_end=cal.ahead(10),
        end_on=cal.ahead(60),
        department_id=Department.objects.get(company=story.company, code="GC").pk,
        remarks=remarks,
    )
    story.result.add("contracts")
    story.pause()
    submitted = contracts.contract_submit(actor=story.users["shenjun"], contract_id=draft.pk)
    assert submitted.approval_request_id is not None
    if approve_on is not None:
        story.at(approve_on, 9, 5)
    story.decide(submitted.approval_request_id, PROJECT_CONTRACT_COMMENTS)
    return draft.pk


def _project_receipt(
    story: ProjectSupply,
    contract_id: int,
    quantity: str,
    day: datetime.date,
    remarks: str,
    *,
    posting_date: datetime.date | None = None,
) -> None:
    story.at(day, 10, 15)
    stock.stock_document_create(
        actor=story.users["fangyong"],
        kind=StockDocumentKind.RECEIPT,
        contract_id=contract_id,
        warehouse_id=story.warehouse_id,
        posting_date=posting_date or day,
        lines=[{"commodity_id": story.rebar_id, "quantity": quantity}],
        remarks=remarks,
        post=True,
    )
    story.result.add("goods receipts")


def _project_invoice(
    story: ProjectSupply,
    contract_id: int,
    number: str,
    amount: str,
    day: datetime.date,
    remarks: str,
    *,
    invoice_date: datetime.date | None = None,
) -> int:
    story.at(day, 15, 30)
    zhuting = story.users["zhuting"]
    invoice = money.invoice_create(
        actor=zhuting,
        contract_id=contract_id,
        invoice_number=number,
        invoice_date=invoice_date or day,
        amount=amount,
        remarks=remarks,
    )
    money.invoice_post(actor=zhuting, invoice_id=invoice.pk)
    story.result.add("invoices")
    return invoice.pk


def _project_payment(
    story: ProjectSupply,
    contract_id: int,
    amount: str,
    day: datetime.date,
    remarks: str,
    *,
    invoice_id: int | None = None,
    exception_reason: str = "",
) -> None:
    story.at(day, 13, 40)
    zhuting = story.users["zhuting"]
    payment = money.payment_create(
        actor=zhuting,
        contract_id=contract_id,
        amount=amount,
        paid_on=day,
        invoice_id=invoice_id,
        is_exception=bool(exception_reason),
        exception_reason=exception_reason,
        remarks=remarks,
    )
    payment = money.payment_submit(actor=zhuting, payment_id=payment.pk)
    assert payment.approval_request_id is not None
    story.decide(
        payment.approval_request_id,
        PROJECT_PAYMENT_COMMENTS,
        late=("huangzhiming", "heping") if exception_reason else (),
    )
    story.result.add("payments")


def _project_supply_play(story: ProjectSupply) -> None:
    cal = story.calendar
    users = story.users
    story.at(cal.ago(80), 9, 0)
    warehouse = master.warehouse_create(
        actor=users["fangyong"],
        company_id=story.company.pk,
        code=PROJECT_STORE,
        name="东港建设六横项目部材料库",
        kind=WarehouseKind.OWN,
        address="舟山市普陀区六横镇港区路3号项目部",
        keeper_id=users["fangyong"].pk,
    )
    story.result.add("warehouses")
    story.warehouse_id = warehouse.pk
    story.rebar_id = Commodity.objects.get(company=story.group, code="RB-HRB400").pk
    _project_supplier(story, PROJECT_SUPPLIERS[0], cal.ago(78))
    _project_supplier(story, PROJECT_SUPPLIERS[1], cal.ago(77))

    # Three contracts in two weeks, each just under the leader in charge's 1,000,000 yuan.
    first = _project_contract(
        story,
        "JS-GYS-001",
        "240",
        "4030.0000",
        cal.ago(60),
        "项目部钢筋，分两批汽运进场，货到验收后付款。",
    )
    _project_receipt(story, first, "120.000", cal.ago(55), "恒顺第一批钢筋进场。")
    invoice_day = cal.ago(53)
    yy = invoice_day.year % 100
    invoice = _project_invoice(
        story, first, f"{yy}33090000003186542", "483600.00", invoice_day, "恒顺第一批钢筋专票。"
    )
    second = _project_contract(
        story,
        "JS-GYS-002",
        "245",
        "3980.0000",
        cal.ago(52),
        "项目部钢筋，一次进场，货到验收后付款。",
    )
    _project_payment(
        story,
        second,
        "975100.00",
        cal.ago(50),
        "顺鑫钢筋全款。",
        exception_reason="钢厂月底调价，顺鑫要求全款到账后锁价发货；项目部急用，先付全款。",
    )
    _project_payment(
        story, first, "483600.00", cal.ago(49), "恒顺第一批钢筋货款。", invoice_id=invoice
    )
    # 恒顺 sends its first invoice again under another number; it is booked a second time.
    _project_invoice(
        story,
        first,
        f"{yy}33090000003191877",
        "483600.00",
        cal.ago(49),
        "恒顺钢筋专票（供方补寄）。",
        invoice_date=invoice_day,
    )
    # The third contract: the steel is at the site before the contract is approved.
    arrived = cal.ago(47)
    approved = cal.next(arrived, 2)
    third = _project_contract(
        story,
        "JS-GYS-001",
        "236",
        "4030.0000",
        cal.ago(48),
        "项目部钢筋补充采购，货到验收后付款。",
        approve_on=approved,
    )
    _project_receipt(
        story,
        third,
        "236.000",
        approved,
        f"恒顺钢筋已于{arrived:%m月%d日}进场卸货，合同审批完成后补录入库。",
        posting_date=arrived,
    )
    third_invoice = _project_invoice(
        story, third, f"{yy}33090000003199034", "951080.00", cal.next(approved, 2), "恒顺专票。"
    )
    _project_receipt(story, first, "120.000", cal.ago(40), "恒顺第二批钢筋进场。")
    _project_receipt(story, second, "245.000", cal.ago(38), "顺鑫钢筋进场。")
    _project_payment(
        story, third, "951080.00", cal.ago(36), "恒顺补充采购钢筋货款。", invoice_id=third_invoice
    )
    _project_invoice(
        story, second, f"{yy}33090000003205521", "975100.00", cal.ago(35), "顺鑫钢筋专票。"
    )

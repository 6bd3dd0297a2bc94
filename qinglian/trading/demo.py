"""The demo purchase–sales–inventory of 东港商贸 (DGSM): group-owned commodities and partners,
DGSM's warehouses, admitted suppliers, customers with approved credit, effective contracts,
goods in and out (some with weighing differences), invoices, a payment and a receipt, and a few
documents left open (a draft contract, a payment and a stocktake under approval) so the demo
users find work in their inboxes.

Everything goes through the trading services (and the approvals engine for the decisions), so
the audit trail records it. Idempotent: when the marker supplier (SUPPLIERS[0]) exists, the
demo is taken as loaded and nothing is created. Run after `qinglian.org.demo.demo_load`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.test.utils import override_settings

from qinglian.approvals import services as approval_services
from qinglian.approvals.enums import SelfApprovalRule, TaskStatus
from qinglian.approvals.models import ApprovalTask, ApprovalTemplate
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.org.demo import demo_uscc
from qinglian.org.models import Company, Department, User

from .approval_binding import approval_flows
from .enums import (
    ContractKind,
    CreditGrade,
    PartnerKind,
    PaymentTerm,
    QualificationKind,
    StockDocumentKind,
    WarehouseKind,
)
from .models import Commodity, Contract, Partner, StockBalance, Warehouse
from .services import contracts, master, money, stock

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


def _user(username: str) -> User:
    return User.objects.get(username=username)


def drive(request_id: int, comments: dict[str, str] | None = None) -> None:
    """Approve `request_id` to its end, each pending task as its assignee."""
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
        approval_services.task_approve(
            actor=task.assignee,
            task_id=task.pk,
            comment=comments.get(task.assignee.username, "同意。"),
        )
    else:  # pragma: no cover - a flow that never ends is a bug in the demo
        raise RuntimeError(f"approval request {request_id} did not finish")


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
    """Load the flows and, unless the marker supplier exists, the demo documents."""
    result = TradingDemoResult(flows=flows_load())
    group = Company.objects.get(code=GROUP)
    if Partner.objects.filter(company=group, code=MARKER_CODE).exists():
        return result
    with (
        override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"),
        transaction.atomic(),
    ):
        _load(result, group, Company.objects.get(code=COMPANY))
    return result


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


def _load(result: TradingDemoResult, group: Company, company: Company) -> None:
    today = clock.today()
    lintao, xuqing = _user("lintao"), _user("xuqing")
    songjia, hanbing = _user("songjia"), _user("hanbing")
    tangwei, fenggang = _user("tangwei"), _user("fenggang")
    caomin = _user("caomin")
    business = Department.objects.get(company=company, code="YW")

    # ------------------------------------------------------------ master data
    goods: dict[str, Commodity] = {}
    for code, name, detail, tolerance, rate in COMMODITIES:
        goods[code] = master.commodity_create(
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
    stores: dict[str, Warehouse] = {}
    for code, name, kind, address, keeper in WAREHOUSES:
        stores[code] = master.warehouse_create(
            actor=tangwei,
            company_id=company.pk,
            code=code,
            name=name,
            kind=kind,
            address=address,
            keeper_id=_user(keeper).pk,
        )
        result.add("warehouses")
    own, third = stores["SM-WH01"], stores["SM-WH02"]

    # Suppliers: business licence (long term) plus an operating permit or quality certificate;
    # 青岛港润's import-ore quality certificate runs out within 30 days (the expiry warning).
    qualifications: dict[str, list[dict[str, Any]]] = {
        "SM-GYS-001": [
            {
                "kind": QualificationKind.QUALITY_CERTIFICATE,
                "name": "钢筋混凝土用热轧带肋钢筋产品质量认证证书",
                "number": "CQM-25-0331-01",
                "issued_on": D(2025, 3, 31),
                "expires_on": D(2028, 3, 30),
            },
        ],
        "SM-GYS-002": [
            {
                "kind": QualificationKind.OPERATING_PERMIT,
                "name": "煤炭经营备案证明",
                "number": "晋煤经备〔2024〕0158号",
                "issued_on": D(2024, 6, 1),
                "expires_on": D(2027, 5, 31),
            },
        ],
        "SM-GYS-003": [
            {
                "kind": QualificationKind.QUALITY_CERTIFICATE,
                "name": "进口铁矿石检验检疫证书（年度）",
                "number": "QDCIQ-2025-TK-0931",
                "issued_on": today - datetime.timedelta(days=345),
                "expires_on": today + datetime.timedelta(days=20),
            },
        ],
        "SM-GYS-004": [
            {
                "kind": QualificationKind.QUALITY_CERTIFICATE,
                "name": "LME注册品牌阴极铜质量证明",
                "number": "GT-CU-2025-066",
                "issued_on": D(2025, 1, 10),
                "expires_on": D(2027, 1, 9),
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
    suppliers: dict[str, Partner] = {}
    for spec in SUPPLIERS:
        applicant = applicants[spec.code]
        partner = _partner(result, applicant, group, spec)
        suppliers[spec.code] = partner
        master.qualification_add(
            actor=applicant,
            partner_id=partner.pk,
            kind=QualificationKind.BUSINESS_LICENCE,
            name="营业执照",
            number=demo_uscc(spec.serial),
            issued_on=D(2018, 5, 8),
        )
        result.add("qualifications")
        for row in qualifications[spec.code]:
            master.qualification_add(actor=applicant, partner_id=partner.pk, **row)
            result.add("qualifications")
        admission = master.supplier_admission_create(
            actor=applicant, partner_id=partner.pk, reason=reasons[spec.code], company_id=company.pk
        )
        admission = master.supplier_admission_submit(actor=applicant, admission_id=admission.pk)
        assert admission.approval_request_id is not None
        drive(
            admission.approval_request_id,
            {"pengli": "营业执照、资质证书已核验，在有效期内。", "yuanchao": "同意准入。"},
        )
        result.add("supplier admissions")

    credit = {
        "SM-KH-001": (
            songjia,
            "3000000.00",
            30,
            CreditGrade.A,
            "合作三年回款及时，年采购螺纹钢约1.2万吨。",
        ),
        "SM-KH-002": (
            hanbing,
            "5000000.00",
            45,
            CreditGrade.A,
            "国有发电企业，按月结算，电煤长协客户。",
        ),
        "SM-KH-003": (
            hanbing,
            "1500000.00",
            15,
            CreditGrade.B,
            "新开发客户，首年额度从严，账期15天。",
        ),
    }
    customers: dict[str, Partner] = {}
    for spec in CUSTOMERS:
        seller, limit, days, grade, reason = credit[spec.code]
        partner = _partner(result, seller, group, spec)
        customers[spec.code] = partner
        change = master.credit_change_create(
            actor=seller,
            partner_id=partner.pk,
            credit_limit=limit,
            payment_days=days,
            credit_grade=grade,
            reason=reason,
            company_id=company.pk,
        )
        change = master.credit_change_submit(actor=seller, change_id=change.pk)
        assert change.approval_request_id is not None
        drive(change.approval_request_id, {"caomin": "额度在公司授信政策内。"})
        result.add("credit changes")

    # ------------------------------------------------------------ contracts
    def contract(
        owner: User,
        kind: str,
        partner: Partner,
        lines: list[tuple[str, str, str]],
        *,
        signed: datetime.date,
        delivery: tuple[datetime.date, datetime.date],
        end: datetime.date,
        term: str,
        remarks: str,
        prepayment: str = "0",
        credit_days: int = 0,
        submit: bool = True,
    ) -> Contract:
        draft = contracts.contract_create(
            actor=owner,
            company_id=company.pk,
            kind=kind,
            partner_id=partner.pk,
            payment_term=term,
            lines=[
                {"commodity_id": goods[code].pk, "quantity": quantity, "unit_price": price}
                for code, quantity, price in lines
            ],
            signed_on=signed,
            delivery_start=delivery[0],
            delivery_end=delivery[1],
            end_on=end,
            prepayment_percent=prepayment,
            credit_days=credit_days,
            department_id=business.pk,
            remarks=remarks,
        )
        result.add("contracts")
        if not submit:
            return draft
        submitted = contracts.contract_submit(actor=owner, contract_id=draft.pk)
        assert submitted.approval_request_id is not None
        drive(
            submitted.approval_request_id,
            {
                "pengli": "合同条款已审查，质量异议及违约责任条款符合公司范本。",
                "caomin": "付款条件在资金计划内。",
                "yuanchao": "同意签订。",
                "dengqiang": "同意。",
            },
        )
        submitted.refresh_from_db()
        return submitted

    steel_in = contract(
        lintao,
        ContractKind.PURCHASE,
        suppliers["SM-GYS-001"],
        [("RB-HRB400", "600", "3650.0000"), ("HRC-Q235B", "300", "3780.0000")],
        signed=D(2026, 9, 22),
        delivery=(D(2026, 10, 1), D(2026, 12, 31)),
        end=D(2027, 3, 31),
        term=PaymentTerm.ON_DELIVERY,
        remarks="四季度螺纹钢、热轧卷板采购，货到验收后付款；价格含13%增值税。",
    )
    coal_in = contract(
        xuqing,
        ContractKind.PURCHASE,
        suppliers["SM-GYS-002"],
        [("COAL-5500", "5000", "860.0000")],
        signed=D(2026, 9, 28),
        delivery=(D(2026, 10, 10), D(2026, 12, 31)),
        end=D(2027, 3, 31),
        term=PaymentTerm.CREDIT,
        credit_days=30,
        remarks="冬储电煤，船板交货，以港口过磅数结算，账期30天。",
    )
    copper_in = contract(
        lintao,
        ContractKind.PURCHASE,
        suppliers["SM-GYS-004"],
        [("CU-CATH", "50", "72000.0000")],
        signed=D(2026, 10, 20),
        delivery=(D(2026, 11, 1), D(2026, 12, 15)),
        end=D(2027, 1, 31),
        term=PaymentTerm.PREPAYMENT,
        prepayment="30.00",
        remarks="预付30%，余款提货前付清。",
    )
    # Left as a draft: 许晴 is still negotiating the ore price.
    contract(
        xuqing,
        ContractKind.PURCHASE,
        suppliers["SM-GYS-003"],
        [("ORE-62", "10000", "780.0000")],
        signed=D(2026, 11, 26),
        delivery=(D(2026, 12, 10), D(2027, 1, 31)),
        end=D(2027, 3, 31),
        term=PaymentTerm.ON_DELIVERY,
        remarks="青岛港现货62% PB粉，价格待确认（草稿）。",
        submit=False,
    )
    steel_out = contract(
        songjia,
        ContractKind.SALES,
        customers["SM-KH-001"],
        [("RB-HRB400", "400", "3920.0000"), ("HRC-Q235B", "150", "4050.0000")],
        signed=D(2026, 10, 8),
        delivery=(D(2026, 10, 15), D(2026, 12, 31)),
        end=D(2027, 3, 31),
        term=PaymentTerm.CREDIT,
        credit_days=30,
        remarks="中海建设舟山绿色石化配套项目用钢，送货到工地。",
    )
    coal_out = contract(
        hanbing,
        ContractKind.SALES,
        customers["SM-KH-002"],
        [("COAL-5500", "3000", "960.0000")],
        signed=D(2026, 10, 12),
        delivery=(D(2026, 10, 20), D(2026, 12, 31)),
        end=D(2027, 3, 31),
        term=PaymentTerm.CREDIT,
        credit_days=45,
        remarks="电厂冬季保供，按入厂热值结算。",
    )
    copper_out = contract(
        hanbing,
        ContractKind.SALES,
        customers["SM-KH-003"],
        [("CU-CATH", "20", "75500.0000")],
        signed=D(2026, 11, 3),
        delivery=(D(2026, 11, 10), D(2026, 12, 31)),
        end=D(2027, 1, 31),
        term=PaymentTerm.CREDIT,
        credit_days=15,
        remarks="1#电解铜，客户自提。",
    )

    # ------------------------------------------------------------ goods in and out
    def move(
        keeper: User,
        kind: str,
        on: Contract,
        store: Warehouse,
        day: datetime.date,
        lines: list[dict[str, Any]],
        remarks: str = "",
    ) -> None:
        stock.stock_document_create(
            actor=keeper,
            kind=kind,
            contract_id=on.pk,
            warehouse_id=store.pk,
            posting_date=day,
            lines=[
                {
                    **{k: v for k, v in row.items() if k != "code"},
                    "commodity_id": goods[row["code"]].pk,
                }
                for row in lines
            ],
            remarks=remarks,
            post=True,
        )
        result.add("goods receipts" if kind == StockDocumentKind.RECEIPT else "goods issues")

    IN, OUT = StockDocumentKind.RECEIPT, StockDocumentKind.ISSUE
    move(
        tangwei,
        IN,
        steel_in,
        own,
        D(2026, 10, 12),
        [
            {"code": "RB-HRB400", "quantity": "302.360", "weighed_quantity": "301.520"},
            {
                "code": "HRC-Q235B",
                "quantity": "150.000",
                "weighed_quantity": "149.180",
                "difference_reason": "卷板按理计重量交货，地磅复磅少0.82吨，供方确认按理计结算。",
            },
        ],
        "宁钢第一批到货，汽运。",
    )
    move(
        fenggang,
        IN,
        coal_in,
        third,
        D(2026, 10, 20),
        [
            {
                "code": "COAL-5500",
                "quantity": "2600.000",
                "weighed_quantity": "2561.400",
                "difference_reason": "海运途中水分蒸发及扬尘损耗，港口过磅数少于船板交接数38.6吨。",
            },
        ],
        "“晋能58”轮到港，卸入老塘山港区堆场。",
    )
    move(
        tangwei,
        IN,
        steel_in,
        own,
        D(2026, 11, 5),
        [
            {"code": "RB-HRB400", "quantity": "280.000", "weighed_quantity": "279.400"},
        ],
        "宁钢第二批到货。",
    )
    move(
        tangwei,
        IN,
        copper_in,
        own,
        D(2026, 11, 10),
        [
            {"code": "CU-CATH", "quantity": "25.000", "weighed_quantity": "25.006"},
        ],
        "电解铜首批25吨，带质保书。",
    )
    move(
        tangwei,
        OUT,
        steel_out,
        own,
        D(2026, 11, 12),
        [
            {"code": "RB-HRB400", "quantity": "200.000"},
            {"code": "HRC-Q235B", "quantity": "100.000"},
        ],
        "送中海建设项目工地。",
    )
    move(
        fenggang,
        OUT,
        coal_out,
        third,
        D(2026, 11, 15),
        [
            {"code": "COAL-5500", "quantity": "1500.000", "weighed_quantity": "1492.600"},
        ],
        "电厂汽运提货，入厂过磅。",
    )
    move(
        tangwei,
        OUT,
        copper_out,
        own,
        D(2026, 11, 18),
        [
            {"code": "CU-CATH", "quantity": "10.000"},
        ],
        "客户自提。",
    )

    # ------------------------------------------------------------ invoices and money
    def invoice(on: Contract, number: str, day: datetime.date, amount: str, remarks: str) -> int:
        draft = money.invoice_create(
            actor=caomin,
            contract_id=on.pk,
            invoice_number=number,
            invoice_code="",
            invoice_date=day,
            amount=amount,
            remarks=remarks,
        )
        money.invoice_post(actor=caomin, invoice_id=draft.pk)
        result.add("invoices")
        return draft.pk

    # 302.36 t × 3,650 + 150 t × 3,780 = 1,103,614.00 + 567,000.00
    steel_invoice = invoice(
        steel_in, "26332000000012345678", D(2026, 10, 15), "1670614.00", "宁钢第一批到货全额专票。"
    )
    invoice(
        coal_in,
        "26142000000087654321",
        D(2026, 10, 25),
        "2236000.00",
        "2,600吨 × 860元，按船板交接数开票。",
    )
    invoice(
        steel_out,
        "26332100000000010001",
        D(2026, 11, 13),
        "1189000.00",
        "200吨螺纹钢 × 3,920 + 100吨卷板 × 4,050。",
    )
    invoice(coal_out, "26332100000000010002", D(2026, 11, 16), "1440000.00", "1,500吨 × 960元。")

    payment = money.payment_create(
        actor=caomin,
        contract_id=steel_in.pk,
        amount="1000000.00",
        paid_on=D(2026, 11, 20),
        invoice_id=steel_invoice,
        remarks="宁钢第一批货款（部分），电汇。",
    )
    payment = money.payment_submit(actor=caomin, payment_id=payment.pk)
    assert payment.approval_request_id is not None
    drive(payment.approval_request_id, {"dengqiang": "同意支付。"})
    result.add("payments")
    # Left under approval: the coal payment waits for finance and the general manager.
    waiting = money.payment_create(
        actor=caomin,
        contract_id=coal_in.pk,
        amount="800000.00",
        paid_on=today,
        remarks="晋能第一船煤款（部分），账期内支付。",
    )
    money.payment_submit(actor=caomin, payment_id=waiting.pk)
    result.add("payments")
    receipt = money.payment_create(
        actor=caomin,
        contract_id=steel_out.pk,
        amount="600000.00",
        paid_on=D(2026, 11, 25),
        remarks="中海建设银行承兑到账。",
    )
    money.receipt_post(actor=caomin, payment_id=receipt.pk)
    result.add("receipts")

    # ------------------------------------------------------------ a stocktake under approval
    counted_on = D(2026, 11, 28)
    book = StockBalance.objects.get(
        company=company, warehouse=third, commodity=goods["COAL-5500"]
    ).quantity
    stocktake = stock.stocktake_create(
        actor=fenggang,
        warehouse_id=third.pk,
        counted_on=counted_on,
        lines=[
            {
                "commodity_id": goods["COAL-5500"].pk,
                "counted_quantity": str(book - Decimal("14.800")),
                "reason": "堆场露天存放，雨后自燃点清理及扬尘损耗，经第三方仓库盘点确认。",
            }
        ],
        remarks="11月末老塘山堆场动力煤盘点。",
    )
    stock.stocktake_submit(actor=fenggang, stocktake_id=stocktake.pk)
    result.add("stocktakes")

"""The demo approval flows of 东港集团 and a handful of demo requests in different states.

Both loaders go through the services (so the audit trail records them) and are idempotent:
a template whose shipped definition and settings are already stored is left alone (no new
version, no audit event); a demo request is submitted once, keyed by its requester and an
idempotency key, and the decisions that follow run only when it is first submitted.
Run them after the demo organisation (`qinglian.org.demo.demo_load`): the requests name its
people and projects. `expense_history_load` adds a year of 东港建设's expense claims (below).
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from unittest import mock

from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.org.enums import RoleCode
from qinglian.org.models import Project, User

from . import services
from .enums import SelfApprovalRule, TaskStatus
from .models import ApprovalRequest, ApprovalTask, ApprovalTemplate

# ---------------------------------------------------------------- the shipped flows


def _field(key: str, label: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "label": label, "type": kind, **extra}


def _node(
    key: str, name: str, approver: dict[str, Any], *, hours: int, **extra: Any
) -> dict[str, Any]:
    return {"key": key, "name": name, "approver": approver, "time_limit_hours": hours, **extra}


def _role(role: str, *, project_company: bool = False) -> dict[str, Any]:
    approver: dict[str, Any] = {"kind": "role", "role": role}
    if project_company:
        approver["scope"] = "project_company"
    return approver


def _above(field_key: str, amount: str) -> dict[str, Any]:
    return {"all": [{"field": field_key, "op": "gt", "value": amount}]}


DEPARTMENT_HEAD = {"kind": "department_head"}
LEADER_IN_CHARGE = {"kind": "leader_in_charge"}

ENGINEERING_PAYMENT = {
    "fields": [
        _field("title", "事由", "text", required=True),
        _field("project", "工程项目", "project", required=True),
        _field("contract_number", "合同编号", "text"),
        _field("amount", "本次支付金额", "money", required=True),
        _field("paid_to_date", "累计已付", "money", help="本次支付前已支付的金额"),
        _field("remarks", "说明", "textarea"),
        _field("attachment", "附件", "attachment", help="计量单、监理确认单、发票"),
    ],
    # The handler (经办人) is the requester; the route starts with the cost auditor.
    "route": [
        _node(
            "cost_audit",
            "造价审核",
            _role(RoleCode.COST_AUDITOR, project_company=True),
            hours=48,
            mode="any",
        ),
        # leader_in_charge with a project field: the project's leader.
        _node("leader", "分管领导", LEADER_IN_CHARGE, hours=48),
        _node(
            "general_manager",
            "总经理",
            _role(RoleCode.GENERAL_MANAGER, project_company=True),
            hours=48,
            condition=_above("amount", "1000000"),
        ),
    ],
    "cc": [{"at": "end", "approver": _role(RoleCode.FINANCE, project_company=True)}],
    "title_field": "title",
    "amount_field": "amount",
}

CONTRACT_APPROVAL = {
    "fields": [
        _field("title", "合同名称", "text", required=True),
        _field(
            "contract_type",
            "合同类型",
            "choice",
            required=True,
            choices=["采购", "销售", "工程", "服务", "其他"],
        ),
        _field("counterparty", "对方单位", "text", required=True),
        _field("amount", "合同金额", "money", required=True),
        _field("signing_date", "签订日期", "date"),
        _field("term", "履行期限", "text"),
        _field("remarks", "说明", "textarea"),
        _field("attachment", "附件", "attachment", help="合同文本、比价或招标资料"),
    ],
    # 初审 (preliminary review) is two checks, business and legal; the engine resolves one
    # approver rule per node, so they are two consecutive nodes. Then 复核 (re-check).
    "route": [
        _node("preliminary_business", "初审·业务", DEPARTMENT_HEAD, hours=48),
        _node("preliminary_legal", "初审·法务", _role(RoleCode.LEGAL_REVIEWER), hours=48),
        _node("recheck_finance", "复核·财务", _role(RoleCode.FINANCE), hours=48),
        _node("recheck_leader", "复核·分管领导", LEADER_IN_CHARGE, hours=48),
        _node(
            "general_manager",
            "总经理",
            _role(RoleCode.GENERAL_MANAGER),
            hours=48,
            condition=_above("amount", "500000"),
        ),
    ],
    "title_field": "title",
    "amount_field": "amount",
}

EXPENSE_CLAIM = {
    "fields": [
        _field("title", "报销事由", "text", required=True),
        _field(
            "expense_type",
            "费用类型",
            "choice",
            required=True,
            choices=["差旅", "招待", "办公", "交通", "其他"],
        ),
        _field("amount", "金额", "money", required=True),
        _field("incurred_on", "发生日期", "date"),
        _field("claimant", "实际报销人", "person", help="代他人报销时填写：费用实际发生人、收款人"),
        _field(
            "items",
            "明细",
            "rows",
            columns=[
                _field("date", "日期", "date"),
                _field("item", "项目", "text"),
                _field("amount", "金额", "money"),
            ],
        ),
        _field("attachment", "附件", "attachment", help="发票、行程单"),
    ],
    "route": [
        _node("department_head", "部门负责人", DEPARTMENT_HEAD, hours=24),
        _node("finance", "财务", _role(RoleCode.FINANCE), hours=48),
        _node(
            "leader",
            "分管领导",
            LEADER_IN_CHARGE,  # no project field: the company's leaders in charge
            hours=48,
            condition=_above("amount", "5000"),
        ),
    ],
    "title_field": "title",
    "amount_field": "amount",
}

SEAL_USE = {
    "fields": [
        _field("title", "用印事由", "text", required=True),
        _field(
            "seal_type",
            "印章类型",
            "choice",
            required=True,
            choices=["公章", "合同章", "财务章", "法人章"],
        ),
        _field("copies", "用印份数", "number", required=True),
        _field("document_name", "文件名称", "text", required=True),
    ],
    "route": [
        _node("department_head", "部门负责人", DEPARTMENT_HEAD, hours=24),
        # The seals are kept by the office (办公室) under the leader in charge.
        _node("office", "办公室", _role(RoleCode.LEADER_IN_CHARGE), hours=24),
    ],
    "cc": [{"at": "end", "approver": DEPARTMENT_HEAD}],
    "title_field": "title",
}

LEAVE = {
    "fields": [
        _field(
            "leave_type",
            "请假类型",
            "choice",
            required=True,
            choices=["年假", "事假", "病假", "婚假", "产假", "丧假"],
        ),
        _field("start_date", "开始日期", "date", required=True),
        _field("end_date", "结束日期", "date", required=True),
        _field("days", "天数", "number", required=True),
        _field("reason", "事由", "textarea", required=True),
    ],
    "route": [
        _node("department_head", "部门负责人", DEPARTMENT_HEAD, hours=24),
        _node("leader", "分管领导", LEADER_IN_CHARGE, hours=24, condition=_above("days", "3")),
    ],
}


@dataclass(frozen=True)
class TemplateSpec:
    code: str
    name: str
    category: str
    description: str
    definition: dict[str, Any]


TEMPLATES = [
    TemplateSpec(
        "engineering_payment",
        "工程款支付",
        "工程管理",
        "工程项目进度款、结算款支付：造价审核、项目分管领导审批，"
        "单笔超过100万元报总经理审批，审批通过后抄送财务。",
        ENGINEERING_PAYMENT,
    ),
    TemplateSpec(
        "contract_approval",
        "合同审批",
        "合同管理",
        "合同初审（业务、法务）+ 审批复核（财务、分管领导），合同金额超过50万元报总经理审批。",
        CONTRACT_APPROVAL,
    ),
    TemplateSpec(
        "expense_claim",
        "费用报销",
        "财务",
        "差旅、招待、办公等费用报销：部门负责人、财务审核，超过5000元报分管领导审批。",
        EXPENSE_CLAIM,
    ),
    TemplateSpec(
        "seal_use",
        "用印申请",
        "行政管理",
        "公章、合同章、财务章、法人章的使用申请，审批通过后抄送部门负责人。",
        SEAL_USE,
    ),
    TemplateSpec(
        "leave",
        "请假",
        "人事",
        "请假申请：部门负责人审批，超过3天报分管领导审批。",
        LEAVE,
    ),
]


def _is_current(template: ApprovalTemplate, spec: TemplateSpec, canonical: dict[str, Any]) -> bool:
    version = template.current_version
    return (
        version is not None
        and version.definition == canonical
        and template.name == spec.name
        and template.category == spec.category
        and template.description == spec.description
        and template.document_type == ""
        and template.self_approval_rule == SelfApprovalRule.SUPERIOR
        and template.skip_repeated_approver
        and template.resume_at_returning_node
        and template.is_active
    )


@transaction.atomic
def approval_templates_load() -> int:
    """Save the shipped flows; returns how many were created or changed (0 on a second run)."""
    stored = {
        template.code: template
        for template in ApprovalTemplate.objects.select_related("current_version").filter(
            code__in=[spec.code for spec in TEMPLATES]
        )
    }
    saved = 0
    for spec in TEMPLATES:
        canonical = services.parse_definition(spec.definition).model_dump(mode="json")
        template = stored.get(spec.code)
        if template is not None and _is_current(template, spec, canonical):
            continue
        services.template_save(
            actor=SYSTEM_ACTOR,
            code=spec.code,
            name=spec.name,
            category=spec.category,
            description=spec.description,
            definition=spec.definition,
        )
        saved += 1
    return saved


# ---------------------------------------------------------------- demo requests

Decision = tuple[str, str, str]  # (verb, username, comment); verb: approve | reject | return


@dataclass(frozen=True)
class DemoRequest:
    key: str  # the idempotency key, unique per requester
    requester: str
    template: str
    form: Callable[[], dict[str, Any]]  # built at load time: dates relative to today
    decisions: list[Decision] = field(default_factory=list)


def _project(code: str) -> int:
    return Project.objects.values_list("pk", flat=True).get(company__code="DGJS", code=code)


def _days(offset: int) -> str:
    return (clock.today() + datetime.timedelta(days=offset)).isoformat()


DEMO_REQUESTS = [
    # Waiting for the cost auditors (郑红, 吴刚); over 1,000,000, so 总经理 follows.
    DemoRequest(
        "demo-payment-waiting",
        "liuyang",
        "engineering_payment",
        lambda: {
            "title": "六横港区3号泊位改造工程第6期进度款",
            "project": _project("GC-2021-001"),
            "contract_number": "DGJS-GC-2021-001-01",
            "amount": "1280000.00",
            "paid_to_date": "15440000.00",
            "remarks": "按监理确认的第6期计量单支付：完成产值1,600,000元，按合同约定支付80%。",
        },
    ),
    # Approved with its full trail: cost audit, the project's leader, cc finance.
    DemoRequest(
        "demo-payment-approved",
        "sunpeng",
        "engineering_payment",
        lambda: {
            "title": "集团综合楼平安楼宇改造工程第3期进度款",
            "project": _project("GC-2021-002"),
            "contract_number": "DGJS-GC-2021-002-01",
            "amount": "460000.00",
            "paid_to_date": "1820000.00",
            "remarks": "监控及门禁系统安装完成，监理已确认计量。",
        },
        [
            ("approve", "wugang", "已审核，工程量与计量单一致，单价符合合同约定。"),
            ("approve", "heping", "同意支付。"),
        ],
    ),
    # A purchase contract through 初审 and 复核 up to the general manager.
    DemoRequest(
        "demo-contract-approved",
        "lintao",
        "contract_approval",
        lambda: {
            "title": "热轧卷板采购合同（一季度）",
            "contract_type": "采购",
            "counterparty": "宁波甬钢贸易有限公司",
            "amount": "2350000.00",
            "signing_date": _days(-3),
            "term": "签订之日起90天",
            "remarks": "Q235B热轧卷板500吨，单价4,700元/吨，三家比价最低；预付30%。",
        },
        [
            ("approve", "dongming", "价格与比价结果一致，同意。"),
            ("approve", "pengli", "已审查，违约责任条款已按法务意见修改。"),
            ("approve", "caomin", "预付款在资金计划内。"),
            ("approve", "yuanchao", "同意。"),
            ("approve", "dengqiang", "同意签订。"),
        ],
    ),
    # Rejected: a guarantee for another company is a 三重一大 matter, not a seal request.
    DemoRequest(
        "demo-seal-rejected",
        "xiefei",
        "seal_use",
        lambda: {
            "title": "为合作方出具履约担保函",
            "seal_type": "法人章",
            "copies": "2",
            "document_name": "关于为舟山顺达货运有限公司提供履约担保的函",
        },
        [
            (
                "reject",
                "dujuan",
                "对外担保属于“三重一大”事项，须经集团集体决策，不予用印。",
            )
        ],
    ),
    # Sent back to the requester to replace an invoice.
    DemoRequest(
        "demo-expense-returned",
        "liuyang",
        "expense_claim",
        lambda: {
            "title": "赴宁波参加港口工程技术交流会差旅费",
            "expense_type": "差旅",
            "amount": "3260.00",
            "incurred_on": _days(-10),
            "items": [
                {"date": _days(-10), "item": "高铁票（往返）", "amount": "460.00"},
                {"date": _days(-10), "item": "住宿费（3晚）", "amount": "1680.00"},
                {"date": _days(-8), "item": "会务费", "amount": "1120.00"},
            ],
        },
        [("return", "hujing", "住宿发票抬头不是公司全称，请更换发票后重新提交。")],
    ),
    # Waiting for the department head; five days, so the leader in charge follows.
    DemoRequest(
        "demo-leave-waiting",
        "panlei",
        "leave",
        lambda: {
            "leave_type": "年假",
            "start_date": _days(7),
            "end_date": _days(11),
            "days": "5",
            "reason": "回老家探亲。",
        },
    ),
]


def _decide(request: ApprovalRequest, verb: str, username: str, comment: str) -> None:
    actor = User.objects.get(username=username)
    task = ApprovalTask.objects.get(request=request, assignee=actor, status=TaskStatus.PENDING)
    if verb == "approve":
        services.task_approve(actor=actor, task_id=task.pk, comment=comment)
    elif verb == "reject":
        services.task_reject(actor=actor, task_id=task.pk, comment=comment)
    elif verb == "return":
        services.task_return(actor=actor, task_id=task.pk, comment=comment)
    else:
        raise ValueError(f"unknown decision {verb}")


def approval_requests_load() -> int:
    """Submit the demo requests not submitted yet and run their decisions; returns how many
    were created. The demo's history is not news: no e-mail goes out while it loads."""
    created = 0
    with (
        override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"),
        transaction.atomic(),
    ):
        for spec in DEMO_REQUESTS:
            requester = User.objects.get(username=spec.requester)
            if ApprovalRequest.objects.filter(
                requester=requester, idempotency_key=spec.key
            ).exists():
                continue
            request = services.request_submit(
                actor=requester,
                template_code=spec.template,
                form_data=spec.form(),
                idempotency_key=spec.key,
            )
            for verb, username, comment in spec.decisions:
                _decide(request, verb, username, comment)
            created += 1
    return created


# ---------------------------------------------------------------- a year of expense claims

# 东港建设's expense claims over the last year, each through the expense flow with the clock
# set to when it happened (so submission times, decision times and the audit trail read as
# they happened). Most amounts arise naturally; two site engineers' travel claims keep landing
# just under 5,000 yuan, where the leader in charge would have to approve — what the
# threshold-clustering and first-digit (Benford) rules look for — and one claim filed for the
# department head was approved by her. About 320 claims fall in one calendar year: the
# first-digit rule needs 300 amounts per company and year.
EXPENSE_HISTORY_KEY = "demo-expense-history"
EXPENSE_HISTORY_COUNT = 320
EXPENSE_HISTORY_SEED = 20260101
EXPENSE_COMPANY = "DGJS"
# Who claims, and how often (weights).
CLAIMANTS = (
    ("liuyang", 5),
    ("sunpeng", 5),
    ("shenjun", 3),
    ("fangyong", 2),
    ("wugang", 2),
    ("zhenghong", 1),
    ("gaofeng", 1),
    ("hujing", 1),
)
# Their travel claims stay just under the 5,000 yuan where the leader in charge approves.
SHAPERS = ("liuyang", "sunpeng")
SHAPED_EVERY = 7  # one claim in seven
CITIES = ("宁波", "杭州", "上海", "温州", "台州", "嘉兴")
TRIP_PURPOSES = (
    "项目部现场协调",
    "参加港口工程技术交流会",
    "钢结构加工厂驻厂监造",
    "业主方图纸会审",
    "材料供应商考察",
    "设计院方案评审",
)
SMALL_ITEMS = (
    ("交通", "六横项目部往返渡轮及出租车费"),
    ("交通", "工地夜间加班打车费"),
    ("办公", "项目部打印耗材及复印费"),
    ("办公", "工程资料装订及晒图费"),
    ("其他", "工地急用五金工具"),
)
MIDDLE_ITEMS = (
    ("招待", "业主方来访工作餐"),
    ("招待", "设计院专家评审工作餐"),
    ("办公", "项目部办公用品采购"),
    ("其他", "安全帽、反光背心等劳保用品"),
)
LARGE_ITEMS = (
    ("其他", "项目部空调维修及配件"),
    ("招待", "质监站竣工验收工作餐"),
    ("办公", "项目部打印机及办公家具购置"),
)


@dataclass(frozen=True)
class DemoClaim:
    key: str
    requester: str
    moment: datetime.datetime  # submitted at
    form: dict[str, Any]


class _SimulatedClock:
    """`qinglian.core.clock.now` while the claims load: the moment set, never later than the
    real time."""

    def __init__(self) -> None:
        self.limit = timezone.now()
        self.moment = self.limit

    def now(self) -> datetime.datetime:
        return min(self.moment, self.limit)


def _working_days(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += datetime.timedelta(days=1)
    return days


def _working_day_before(day: datetime.date) -> datetime.date:
    while day.weekday() >= 5:
        day -= datetime.timedelta(days=1)
    return day


def expense_year(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The part of the last year (up to yesterday) that lies in one calendar year, the larger
    part: the claims of the first-digit rule's company-year fall in it."""
    start, end = today - datetime.timedelta(days=364), today - datetime.timedelta(days=1)
    parts = [
        (max(start, datetime.date(year, 1, 1)), min(end, datetime.date(year, 12, 31)))
        for year in sorted({start.year, end.year})
    ]
    return max(parts, key=lambda part: (part[1] - part[0], part[0]))


def _at(day: datetime.date, minutes_after_nine: int) -> datetime.datetime:
    moment = datetime.datetime.combine(day, datetime.time(9, 0))
    return timezone.make_aware(moment + datetime.timedelta(minutes=minutes_after_nine))


def _money_text(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))


def _trip(rng: random.Random, days: int) -> str:
    return f"赴{rng.choice(CITIES)}{rng.choice(TRIP_PURPOSES)}差旅费（{days}天）"


def _claim_form(
    day: datetime.date, title: str, expense_type: str, amount: Decimal, **extra: Any
) -> dict[str, Any]:
    incurred = _working_day_before(day - datetime.timedelta(days=3))
    return {
        "title": title,
        "expense_type": expense_type,
        "amount": _money_text(amount),
        "incurred_on": incurred.isoformat(),
        "items": [{"date": incurred.isoformat(), "item": title, "amount": _money_text(amount)}],
        **extra,
    }


def plan_expense_claims(today: datetime.date, head_id: int) -> list[DemoClaim]:
    """The claims, on paper (seeded: a given `today` always gives the same claims), oldest
    first. `head_id`: the department head 刘洋 files two claims for."""
    rng = random.Random(EXPENSE_HISTORY_SEED)  # noqa: S311 - demo data, not security
    first, last = expense_year(today)
    working = _working_days(first, last)
    people = [name for name, weight in CLAIMANTS for _ in range(weight)]
    claims: list[tuple[datetime.date, int, str, dict[str, Any]]] = []
    for number, day in enumerate(sorted(rng.choice(working) for _ in range(EXPENSE_HISTORY_COUNT))):
        minutes = rng.randrange(0, 450)
        if number % SHAPED_EVERY == 3:
            requester = SHAPERS[number // SHAPED_EVERY % 2]
            amount = Decimal(rng.randrange(4600_00, 4990_00)) / 100
            form = _claim_form(day, _trip(rng, rng.randint(4, 6)), "差旅", amount)
        else:
            requester = rng.choice(people)
            # Spread evenly over two decades (100–10,000 yuan): first digits as Benford's law has
            # them for amounts that arise naturally.
            amount = Decimal(str(round(10 ** rng.uniform(2, 4), 2)))
            if amount < 300:
                expense_type, title = rng.choice(SMALL_ITEMS)
            elif amount < 1500:
                expense_type, title = rng.choice(SMALL_ITEMS + MIDDLE_ITEMS)
            elif rng.random() < 0.6:
                expense_type, title = "差旅", _trip(rng, rng.randint(1, 4))
            else:
                expense_type, title = rng.choice(MIDDLE_ITEMS + LARGE_ITEMS)
            form = _claim_form(day, title, expense_type, amount)
        claims.append((day, minutes, requester, form))
    # The last three months always hold some of 刘洋's claims just under the threshold …
    for days_ago in (78, 55, 33, 12):
        day = _working_day_before(today - datetime.timedelta(days=days_ago))
        amount = Decimal(rng.randrange(4700_00, 4990_00)) / 100
        claims.append(
            (day, rng.randrange(0, 450), "liuyang", _claim_form(day, _trip(rng, 5), "差旅", amount))
        )
    # … and two claims he filed for his department head, which she approved herself.
    for days_ago, title, amount in (
        (96, "代胡静报销：赴杭州参加省港航工程质量评审会差旅费", Decimal("2864.50")),
        (26, "代胡静报销：赴宁波参加业主方项目协调会差旅费", Decimal("1938.00")),
    ):
        day = _working_day_before(today - datetime.timedelta(days=days_ago))
        form = _claim_form(day, title, "差旅", amount, claimant=head_id)
        claims.append((day, rng.randrange(0, 300), "liuyang", form))
    claims.sort(key=lambda claim: (claim[0], claim[1]))
    return [
        DemoClaim(f"{EXPENSE_HISTORY_KEY}-{number:04d}", requester, _at(day, minutes), form)
        for number, (day, minutes, requester, form) in enumerate(claims, start=1)
    ]


def _next_moment(moment: datetime.datetime, rng: random.Random) -> datetime.datetime:
    """When the next approver gets to it: within a few hours, office hours on working days."""
    later = timezone.localtime(moment) + datetime.timedelta(minutes=rng.randrange(25, 200))
    if later.hour >= 18 or later.weekday() >= 5:
        day = later.date() + datetime.timedelta(days=1)
        while day.weekday() >= 5:
            day += datetime.timedelta(days=1)
        later = _at(day, rng.randrange(0, 90))
    return later


def expense_history_load() -> int:
    """Submit and approve the year of 东港建设's expense claims unless they are loaded; returns
    how many were created (0 on a second run)."""
    if ApprovalRequest.objects.filter(idempotency_key__startswith=EXPENSE_HISTORY_KEY).exists():
        return 0
    users = {
        user.username: user
        for user in User.objects.filter(company__code=EXPENSE_COMPANY, is_active=True)
    }
    simulated = _SimulatedClock()
    claims = plan_expense_claims(timezone.localdate(simulated.limit), users["hujing"].pk)
    rng = random.Random(EXPENSE_HISTORY_SEED + 1)  # noqa: S311 - demo data, not security
    with (
        override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"),
        transaction.atomic(),
        mock.patch.object(clock, "now", simulated.now),
    ):
        for claim in claims:
            simulated.moment = claim.moment
            request = services.request_submit(
                actor=users[claim.requester],
                template_code="expense_claim",
                form_data=claim.form,
                idempotency_key=claim.key,
            )
            for _step in range(10):
                task = (
                    ApprovalTask.objects.select_related("assignee")
                    .filter(request=request, status=TaskStatus.PENDING)
                    .order_by("pk")
                    .first()
                )
                if task is None or task.assignee is None:
                    break
                simulated.moment = _next_moment(simulated.moment, rng)
                services.task_approve(actor=task.assignee, task_id=task.pk, comment="同意。")
    return len(claims)

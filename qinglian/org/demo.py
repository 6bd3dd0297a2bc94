"""The demo organisation: 东港集团 and four subsidiaries, modelled on the source story.

Loaded through the services (so the audit trail records it), idempotent: existing companies,
departments, users and assignments (matched by code / user name) are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction

from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.uscc import check_character

from . import services
from .enums import RoleCode
from .models import Company, Department, Project, RoleAssignment, User

DEMO_PASSWORD = "Qinglian2026"


def demo_uscc(serial: int) -> str:
    first17 = f"91330900MA2D{serial:05d}"
    return first17 + check_character(first17)


# code, name, short name, parent code, address
COMPANIES = [
    ("DG", "东港集团有限公司", "东港集团", None, "浙江省舟山市定海区港口大道1号"),
    ("DGWL", "东港物流有限公司", "东港物流", "DG", "浙江省舟山市定海区港口大道8号"),
    ("DGJS", "东港建设工程有限公司", "东港建设", "DG", "浙江省舟山市普陀区东港路66号"),
    ("DGSM", "东港商贸有限公司", "东港商贸", "DG", "浙江省舟山市定海区临城新区海天大道288号"),
    ("DGWY", "东港物业管理有限公司", "东港物业", "DG", "浙江省舟山市定海区环城北路20号"),
]

# company code -> [(department code, name)]
DEPARTMENTS = {
    "DG": [
        ("JW", "纪委办公室"),
        ("SJ", "审计部"),
        ("XX", "信息中心"),
        ("BGS", "办公室"),
        ("CW", "财务部"),
        ("FW", "法务部"),
    ],
    "DGWL": [("YS", "运输部"), ("DD", "调度中心"), ("CW", "财务部")],
    "DGJS": [("GC", "工程部"), ("ZJ", "造价部"), ("CW", "财务部"), ("ZH", "综合办公室")],
    "DGSM": [("YW", "业务部"), ("CC", "仓储部"), ("CW", "财务部"), ("FK", "风控法务部")],
    "DGWY": [("FW", "物业服务部"), ("TC", "停车管理部"), ("CW", "财务部")],
}


@dataclass(frozen=True)
class DemoUser:
    username: str
    name: str
    company: str
    department: str
    position: str
    roles: tuple[str, ...]
    heads_department: bool = False


R = RoleCode
USERS = [
    # 东港集团 (group): oversight, IT, group executives
    DemoUser("chenjianguo", "陈建国", "DG", "JW", "纪委书记", (R.INSPECTOR,), True),
    DemoUser("linxiaoyan", "林晓燕", "DG", "JW", "纪检监察员", (R.INSPECTOR,)),
    DemoUser("wangli", "王立", "DG", "SJ", "审计部部长", (R.AUDITOR,), True),
    DemoUser("zhoumin", "周敏", "DG", "SJ", "内审专员", (R.AUDITOR,)),
    DemoUser("xuzhiqiang", "徐志强", "DG", "XX", "信息中心主任", (R.IT_ADMIN,), True),
    DemoUser("zhanghaibo", "张海波", "DG", "BGS", "集团总经理", (R.GENERAL_MANAGER,)),
    DemoUser("liweidong", "李卫东", "DG", "BGS", "集团副总经理", (R.LEADER_IN_CHARGE,), True),
    DemoUser("zhaoli", "赵丽", "DG", "CW", "财务部部长", (R.FINANCE, R.DEPARTMENT_HEAD), True),
    DemoUser("guolei", "郭磊", "DG", "FW", "法务主管", (R.LEGAL_REVIEWER,), True),
    # 东港建设 (engineering)
    DemoUser("liuyang", "刘洋", "DGJS", "GC", "工程专员", (R.HANDLER,)),
    DemoUser("sunpeng", "孙鹏", "DGJS", "GC", "项目经理", (R.HANDLER,)),
    DemoUser("hujing", "胡静", "DGJS", "GC", "工程部经理", (R.DEPARTMENT_HEAD,), True),
    DemoUser("zhenghong", "郑红", "DGJS", "ZJ", "造价工程师", (R.COST_AUDITOR,), True),
    DemoUser("wugang", "吴刚", "DGJS", "ZJ", "造价审核员", (R.COST_AUDITOR,)),
    DemoUser("huangzhiming", "黄志明", "DGJS", "ZH", "分管副总", (R.LEADER_IN_CHARGE,)),
    DemoUser("heping", "何平", "DGJS", "ZH", "分管副总", (R.LEADER_IN_CHARGE,)),
    DemoUser("majun", "马骏", "DGJS", "ZH", "总经理", (R.GENERAL_MANAGER,), True),
    DemoUser("zhuting", "朱婷", "DGJS", "CW", "会计", (R.FINANCE,), True),
    DemoUser("gaofeng", "高峰", "DGJS", "ZH", "法务专员", (R.LEGAL_REVIEWER,)),
    # 东港商贸 (commodity trading)
    DemoUser("lintao", "林涛", "DGSM", "YW", "采购员", (R.PURCHASER,)),
    DemoUser("xuqing", "许晴", "DGSM", "YW", "采购员", (R.PURCHASER,)),
    DemoUser("songjia", "宋佳", "DGSM", "YW", "销售员", (R.SALESPERSON,)),
    DemoUser("hanbing", "韩冰", "DGSM", "YW", "销售员", (R.SALESPERSON,)),
    DemoUser("jiangtao", "蒋涛", "DGSM", "YW", "业务专员", (R.HANDLER,)),
    DemoUser("dongming", "董明", "DGSM", "YW", "业务部经理", (R.DEPARTMENT_HEAD,), True),
    DemoUser("tangwei", "唐伟", "DGSM", "CC", "仓库主管", (R.WAREHOUSE_KEEPER,), True),
    DemoUser("fenggang", "冯刚", "DGSM", "CC", "仓管员", (R.WAREHOUSE_KEEPER,)),
    DemoUser("caomin", "曹敏", "DGSM", "CW", "财务经理", (R.FINANCE,), True),
    DemoUser("pengli", "彭丽", "DGSM", "FK", "风控法务", (R.LEGAL_REVIEWER,), True),
    DemoUser("yuanchao", "袁超", "DGSM", "YW", "分管副总", (R.LEADER_IN_CHARGE,)),
    DemoUser("dengqiang", "邓强", "DGSM", "YW", "总经理", (R.GENERAL_MANAGER,)),
    # 东港物流 (logistics)
    DemoUser("xiefei", "谢飞", "DGWL", "YS", "运输专员", (R.HANDLER,)),
    DemoUser("dujuan", "杜娟", "DGWL", "YS", "运输部经理", (R.DEPARTMENT_HEAD,), True),
    DemoUser("yeqing", "叶青", "DGWL", "CW", "会计", (R.FINANCE,), True),
    DemoUser("suchang", "苏畅", "DGWL", "DD", "分管副总", (R.LEADER_IN_CHARGE,), True),
    DemoUser("chengliang", "程亮", "DGWL", "DD", "总经理", (R.GENERAL_MANAGER,)),
    DemoUser("weidong", "魏东", "DGWL", "DD", "信息管理员", (R.IT_ADMIN,)),
    # 东港物业 (property)
    DemoUser("panlei", "潘磊", "DGWY", "FW", "物业专员", (R.HANDLER,)),
    DemoUser("fanwei", "范伟", "DGWY", "FW", "物业服务部经理", (R.DEPARTMENT_HEAD,), True),
    DemoUser("shilei", "石磊", "DGWY", "TC", "停车场管理员", (R.HANDLER,), True),
    DemoUser("tiantian", "田甜", "DGWY", "CW", "会计", (R.FINANCE,), True),
    DemoUser("jiangbo", "姜波", "DGWY", "FW", "总经理", (R.GENERAL_MANAGER, R.LEADER_IN_CHARGE)),
    # 东港建设 buys its own building materials (the trading demo's project supply); listed last
    # so that the employee numbers and phone numbers above stay as they are.
    DemoUser("shenjun", "沈俊", "DGJS", "GC", "材料采购员", (R.PURCHASER,)),
    DemoUser("fangyong", "方勇", "DGJS", "GC", "材料员", (R.WAREHOUSE_KEEPER,)),
]

# Group-level roles cover the whole group; everybody else's cover their own company.
GROUP_WIDE_USERS = {
    "chenjianguo",
    "linxiaoyan",
    "wangli",
    "zhoumin",
    "xuzhiqiang",
    "zhanghaibo",
    "liweidong",
    "zhaoli",
    "guolei",
}

PROJECTS = [
    (
        "DGJS",
        "GC-2021-001",
        "六横港区3号泊位改造工程",
        "huangzhiming",
        "GC",
        Decimal("38600000.00"),
        date(2021, 3, 1),
        date(2022, 12, 31),
    ),
    (
        "DGJS",
        "GC-2021-002",
        "集团综合楼平安楼宇改造工程",
        "heping",
        "GC",
        Decimal("5200000.00"),
        date(2021, 6, 15),
        date(2022, 6, 30),
    ),
]


@dataclass
class DemoResult:
    created: int
    logins: list[tuple[str, str, str, str]]  # role label, user name, name, company


@transaction.atomic
def demo_load() -> DemoResult:
    actor = SYSTEM_ACTOR
    created = services.role_builtin_ensure()
    companies: dict[str, Company] = {c.code: c for c in Company.objects.all()}
    for index, (code, name, short, parent, address) in enumerate(COMPANIES, start=1):
        if code not in companies:
            companies[code] = services.company_create(
                actor=actor,
                code=code,
                name=name,
                short_name=short,
                uscc=demo_uscc(index),
                parent_id=companies[parent].pk if parent else None,
                address=address,
            )
            created += 1
    departments: dict[tuple[str, str], Department] = {
        (d.company.code, d.code): d for d in Department.objects.select_related("company")
    }
    for company_code, rows in DEPARTMENTS.items():
        for code, name in rows:
            if (company_code, code) not in departments:
                departments[company_code, code] = services.department_create(
                    actor=actor, company_id=companies[company_code].pk, code=code, name=name
                )
                created += 1
    users: dict[str, User] = {u.username: u for u in User.objects.all()}
    for number, spec in enumerate(USERS, start=1):
        company = companies[spec.company]
        department = departments[spec.company, spec.department]
        if spec.username not in users:
            users[spec.username] = services.user_create(
                actor=actor,
                username=spec.username,
                employee_number=f"DG{number:04d}",
                name=spec.name,
                company_id=company.pk,
                department_id=department.pk,
                phone=f"1385800{number:04d}",
                email=f"{spec.username}@donggang.example",
                position=spec.position,
                password=DEMO_PASSWORD,
            )
            created += 1
        user = users[spec.username]
        scope_company = companies["DG"] if spec.username in GROUP_WIDE_USERS else company
        for role in spec.roles:
            if not RoleAssignment.objects.filter(
                user=user, role__code=role, company=scope_company
            ).exists():
                services.role_assignment_grant(
                    actor=actor, user_id=user.pk, role_code=role, company_id=scope_company.pk
                )
                created += 1
        if spec.heads_department and department.head_id is None:
            services.department_update(actor=actor, department_id=department.pk, head_id=user.pk)
            department.refresh_from_db()
    for company_code, code, name, leader, dept, budget, start, end in PROJECTS:
        company = companies[company_code]
        if not Project.objects.filter(company=company, code=code).exists():
            services.project_create(
                actor=actor,
                company_id=company.pk,
                code=code,
                name=name,
                leader_id=users[leader].pk,
                department_id=departments[company_code, dept].pk,
                budget=budget,
                start_date=start,
                end_date=end,
            )
            created += 1
    logins = []
    for spec in USERS:
        for role in spec.roles:
            logins.append(
                (
                    str(RoleCode(role).label),
                    spec.username,
                    spec.name,
                    companies[spec.company].short_name,
                )
            )
    return DemoResult(created=created, logins=logins)

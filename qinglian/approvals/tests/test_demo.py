"""The shipped approval flows route for the demo people of 东港集团, and the demo loads once."""

import pytest

from qinglian.approvals import services
from qinglian.approvals.demo import TEMPLATES, approval_templates_load
from qinglian.approvals.enums import (
    RequestStatus,
    StepStatus,
    TaskStatus,
)
from qinglian.approvals.models import (
    ApprovalAction,
    ApprovalRequest,
    ApprovalTask,
    ApprovalTemplate,
    CarbonCopy,
    TemplateVersion,
)
from qinglian.audit.models import AuditEvent
from qinglian.org.demo import demo_load
from qinglian.org.enums import RoleCode
from qinglian.org.models import Project, RoleAssignment, User


@pytest.fixture
def demo(db, shared_layers):
    return shared_layers.get("demo", build_demo)


def build_demo():
    demo_load()
    approval_templates_load()


def user(username):
    return User.objects.get(username=username)


def project(code):
    return Project.objects.get(company__code="DGJS", code=code).pk


def submit(username, template_code, form_data):
    return services.request_submit(
        actor=user(username), template_code=template_code, form_data=form_data
    )


def pending(request):
    return set(
        ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING).values_list(
            "assignee__username", flat=True
        )
    )


def steps(request):
    request.refresh_from_db()
    return [
        (step.name, step.status)
        for step in request.steps.filter(round=request.current_round).order_by("index")
    ]


def walk(request, *expected):
    """Assert who is asked at each step in turn, approve as one of them, end approved."""
    for names in expected:
        assert pending(request) == set(names)
        approver = user(sorted(names)[0])
        task = ApprovalTask.objects.get(
            request=request, assignee=approver, status=TaskStatus.PENDING
        )
        services.task_approve(actor=approver, task_id=task.pk, comment="同意")
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert pending(request) == set()


def cc(request):
    return set(CarbonCopy.objects.filter(request=request).values_list("user__username", "at"))


def payment(code, amount, title="进度款"):
    return {"title": title, "project": project(code), "amount": amount}


def contract(amount):
    return {
        "title": "合同",
        "contract_type": "采购",
        "counterparty": "宁波甬钢贸易有限公司",
        "amount": amount,
    }


def expense(amount):
    return {"title": "差旅费", "expense_type": "差旅", "amount": amount}


def seal():
    return {"title": "投标文件盖章", "seal_type": "公章", "copies": "3", "document_name": "投标书"}


def leave(days):
    return {
        "leave_type": "年假",
        "start_date": "2026-05-11",
        "end_date": "2026-05-15",
        "days": days,
        "reason": "探亲",
    }


# ---------------------------------------------------------------- the templates


def test_templates_load_once_and_a_second_run_changes_nothing(demo):
    assert {t.code: t.name for t in ApprovalTemplate.objects.all()} == {
        "engineering_payment": "工程款支付",
        "contract_approval": "合同审批",
        "expense_claim": "费用报销",
        "seal_use": "用印申请",
        "leave": "请假",
    }
    assert set(TemplateVersion.objects.values_list("template__code", "number")) == {
        (spec.code, 1) for spec in TEMPLATES
    }
    events = AuditEvent.objects.count()
    assert approval_templates_load() == 0
    assert TemplateVersion.objects.count() == len(TEMPLATES)
    assert AuditEvent.objects.count() == events


def test_a_changed_template_is_saved_as_a_new_version(demo):
    ApprovalTemplate.objects.filter(code="leave").update(name="请假申请")
    assert approval_templates_load() == 1
    template = ApprovalTemplate.objects.get(code="leave")
    assert template.name == "请假"
    # only the name changed, not the definition: still one version
    assert list(template.versions.values_list("number", flat=True)) == [1]


def test_every_node_has_a_time_limit(demo):
    for version in TemplateVersion.objects.select_related("template"):
        route = version.definition["route"]
        assert all(node["time_limit_hours"] for node in route), version.template.code


# ---------------------------------------------------------------- 工程款支付


def test_engineering_payment_over_a_million_goes_to_the_general_manager(demo):
    request = submit("liuyang", "engineering_payment", payment("GC-2021-001", "1280000.00"))
    assert steps(request) == [
        ("造价审核", StepStatus.ACTIVE),
        ("分管领导", StepStatus.WAITING),
        ("总经理", StepStatus.WAITING),
    ]
    # any-sign between 东港建设's two cost auditors; the project's leader; its general manager
    walk(request, {"zhenghong", "wugang"}, {"huangzhiming"}, {"majun"})
    assert cc(request) == {("zhuting", "end")}


def test_engineering_payment_asks_the_leader_of_its_own_project(demo):
    request = submit("sunpeng", "engineering_payment", payment("GC-2021-002", "80000.00"))
    assert steps(request)[2] == ("总经理", StepStatus.SKIPPED)
    walk(request, {"zhenghong", "wugang"}, {"heping"})


# ---------------------------------------------------------------- 合同审批


def test_contract_runs_preliminary_review_then_recheck(demo):
    request = submit("lintao", "contract_approval", contract("2350000.00"))
    assert [name for name, _ in steps(request)] == [
        "初审·业务",
        "初审·法务",
        "复核·财务",
        "复核·分管领导",
        "总经理",
    ]
    walk(request, {"dongming"}, {"pengli"}, {"caomin"}, {"yuanchao"}, {"dengqiang"})


def test_a_company_without_a_legal_reviewer_borrows_the_groups(demo):
    """东港物流 has no legal reviewer of its own: the nearest ancestor's (the group's, granted
    for its subsidiaries) takes the step. Its own finance officer is asked, not the group's."""
    logistics = user("xiefei").company
    assert not RoleAssignment.objects.filter(
        company=logistics, role__code=RoleCode.LEGAL_REVIEWER
    ).exists()
    assert RoleAssignment.objects.get(
        user__username="guolei", role__code=RoleCode.LEGAL_REVIEWER
    ).include_subtree
    request = submit("xiefei", "contract_approval", contract("300000.00"))
    assert steps(request)[4] == ("总经理", StepStatus.SKIPPED)
    walk(request, {"dujuan"}, {"guolei"}, {"yeqing"}, {"suchang"})


# ---------------------------------------------------------------- 费用报销


def test_expense_claim_over_five_thousand_asks_the_companys_leaders_in_charge(demo):
    request = submit("liuyang", "expense_claim", expense("6800.00"))
    # no project on an expense claim: 东港建设's two leaders in charge, either may decide
    walk(request, {"hujing"}, {"zhuting"}, {"huangzhiming", "heping"})


def test_small_expense_claim_ends_at_finance(demo):
    form = expense("3000.00") | {
        "items": [{"date": "2026-04-01", "item": "停车场票据打印纸", "amount": "3000.00"}]
    }
    request = submit("panlei", "expense_claim", form)
    assert steps(request)[2] == ("分管领导", StepStatus.SKIPPED)
    walk(request, {"fanwei"}, {"tiantian"})


# ---------------------------------------------------------------- 用印申请


def test_seal_use_goes_to_the_office_and_copies_the_department_head(demo):
    request = submit("xiefei", "seal_use", seal())
    walk(request, {"dujuan"}, {"suchang"})
    assert cc(request) == {("dujuan", "end")}


def test_seal_use_where_one_person_is_general_manager_and_leader_in_charge(demo):
    request = submit("panlei", "seal_use", seal())
    walk(request, {"fanwei"}, {"jiangbo"})


# ---------------------------------------------------------------- 请假


def test_long_leave_goes_to_the_leader_in_charge(demo):
    request = submit("liuyang", "leave", leave("5"))
    assert request.title == "刘洋的请假"
    walk(request, {"hujing"}, {"huangzhiming", "heping"})


def test_short_leave_ends_with_the_department_head(demo):
    request = submit("lintao", "leave", leave("2"))
    walk(request, {"dongming"})


def test_a_group_employee_routes_inside_the_group(demo):
    request = submit("zhoumin", "expense_claim", expense("5200.00"))
    walk(request, {"wangli"}, {"zhaoli"}, {"liweidong"})


def test_a_department_head_asks_for_leave(demo):
    """胡静 heads a top-level department: her superior, the general manager, decides."""
    request = submit("hujing", "leave", leave("2"))
    walk(request, {"majun"})


# ---------------------------------------------------------------- the demo requests


def demo_request(key):
    return ApprovalRequest.objects.get(idempotency_key=key)


def trail(request):
    return [
        (kind, username)
        for kind, username in ApprovalAction.objects.filter(request=request)
        .order_by("created_at", "id")
        .values_list("kind", "actor__username")
    ]

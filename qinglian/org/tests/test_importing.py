import zipfile
from collections.abc import Iterable
from io import BytesIO, StringIO
from typing import Any

import openpyxl
import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation

from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import PermissionDenied, ValidationFailed
from qinglian.core.uscc import check_character
from qinglian.org import importing, services
from qinglian.org.enums import RoleCode
from qinglian.org.factories import grant, make_user
from qinglian.org.importing import (
    COMPANIES,
    DEPARTMENTS,
    MAX_ROWS_PER_SHEET,
    SHEETS,
    USERS,
    SheetSpec,
    org_workbook_apply,
    org_workbook_check,
    org_workbook_import,
    org_workbook_read,
)
from qinglian.org.models import Company, Department, Role, RoleAssignment, User

# The audit app sits above org in the layering (import-linter), so the model is looked up.
AuditEvent = apps.get_model("audit", "AuditEvent")
GOOD_PASSWORD = "Qinglian2026x"
Rows = Iterable[dict[str, Any]]


@pytest.fixture(autouse=True)
def _english():
    """Messages in English (Django's own ones would otherwise come in Chinese)."""
    with translation.override("en"):
        yield


def uscc(serial: int) -> str:
    first17 = f"91330200MA2K{serial:05d}"
    return first17 + check_character(first17)


def bad_uscc(serial: int) -> str:
    good = uscc(serial)
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def row(spec: SheetSpec, **values: Any) -> list[Any]:
    unknown = set(values) - {column.key for column in spec.columns}
    assert not unknown, unknown
    return [values.get(column.key, "") for column in spec.columns]


def workbook(
    companies: Rows = (),
    departments: Rows = (),
    users: Rows = (),
    *,
    headers: dict[str, list[str]] | None = None,
) -> bytes:
    """An .xlsx with the three sheets; each row is a dict of column key -> value."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for spec, rows in ((COMPANIES, companies), (DEPARTMENTS, departments), (USERS, users)):
        sheet = book.create_sheet(spec.name)
        sheet.append((headers or {}).get(spec.key) or [c.header for c in spec.columns])
        for values in rows:
            sheet.append(row(spec, **values))
    book.create_sheet("说明").append(["Other sheets are ignored."])
    output = BytesIO()
    book.save(output)
    return output.getvalue()


def zipped_text() -> bytes:
    output = BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    return output.getvalue()


def good_workbook(org: Any) -> bytes:
    """Rows refer to each other out of order: children before parents, heads defined later."""
    return workbook(
        companies=[
            {"code": "X2", "name": "新能源二公司", "uscc": uscc(2), "parent_code": "X1"},
            {
                "code": "X1",
                "name": "新能源公司",
                "short_name": "新能源",
                "uscc": uscc(1),
                "parent_code": "G",
                "address": "舟山市港口大道18号",
            },
        ],
        departments=[
            {"company_code": "X1", "code": "SUB", "name": "结算组", "parent_code": "CW"},
            {
                "company_code": "X1",
                "code": "CW",
                "name": "财务部",
                "head_employee_number": "N001",
            },
            {
                "company_code": "A",
                "code": "NEWA",
                "name": "甲新部门",
                "parent_code": org.department_a.code,
                "head_employee_number": "N003",
            },
        ],
        users=[
            {
                "employee_number": "N001",
                "username": "zhangsan",
                "name": "张三",
                "phone": "138 0013 8000",
                "email": "zhangsan@example.com",
                "company_code": "X1",
                "department_code": "CW",
                "position": "会计",
                "roles": "finance、经办人",
                "password": GOOD_PASSWORD,
            },
            {
                "employee_number": "N002",
                "username": "lisi",
                "name": "李四",
                "company_code": "X2",
                "roles": "IT administrator",
            },
            {
                "employee_number": "N003",
                "username": "wangwu",
                "name": "王五",
                "company_code": "A",
                "department_code": "NEWA",
                "roles": "handler",
                "role_company_code": "G",
            },
        ],
    )


def counts() -> tuple[int, ...]:
    return (
        Company.objects.count(),
        Department.objects.count(),
        User.objects.count(),
        RoleAssignment.objects.count(),
        AuditEvent.objects.count(),
    )


def messages(result: importing.ImportResult) -> list[str]:
    return [str(problem) for problem in result.problems]


# ---------------------------------------------------------------- the good case


def test_a_valid_workbook_creates_everything_through_the_audited_services(org):
    events_before = AuditEvent.objects.count()
    result = org_workbook_import(actor=org.admin_group, source=good_workbook(org))
    assert messages(result) == []
    assert result.counts == importing.ImportCounts(
        companies=2, departments=3, users=3, role_assignments=4, department_heads=2
    )
    x1, x2 = Company.objects.get(code="X1"), Company.objects.get(code="X2")
    assert (x1.parent, x2.parent) == (org.group, x1)
    assert x2.path == f"{x1.path}{x2.pk}/"
    assert (x1.short_name, x1.address, x1.uscc) == ("新能源", "舟山市港口大道18号", uscc(1))
    finance = Department.objects.get(company=x1, code="CW")
    settlement = Department.objects.get(company=x1, code="SUB")
    new_a = Department.objects.get(company=org.company_a, code="NEWA")
    assert settlement.parent == finance
    assert new_a.parent == org.department_a
    zhangsan = User.objects.get(username="zhangsan")
    assert (zhangsan.company, zhangsan.department, zhangsan.phone) == (x1, finance, "13800138000")
    assert zhangsan.check_password(GOOD_PASSWORD)
    assert not User.objects.get(username="lisi").has_usable_password()
    assert finance.head == zhangsan
    assert new_a.head == User.objects.get(username="wangwu")
    assert set(
        RoleAssignment.objects.filter(user__employee_number__startswith="N").values_list(
            "user__username", "role__code", "company__code"
        )
    ) == {
        ("zhangsan", RoleCode.FINANCE, "X1"),
        ("zhangsan", RoleCode.HANDLER, "X1"),
        ("lisi", RoleCode.IT_ADMIN, "X2"),
        ("wangwu", RoleCode.HANDLER, "G"),
    }
    events = AuditEvent.objects.order_by("id")[events_before:]
    actions = [event.action for event in events]
    assert sorted(actions) == sorted(
        ["org.company.created"] * 2
        + ["org.department.created"] * 3
        + ["org.user.created"] * 3
        + ["org.role_assignment.granted"] * 4
        + ["org.department.updated"] * 2
    )
    assert {event.actor_id for event in events} == {org.admin_group.pk}


def test_a_dry_run_checks_and_writes_nothing(org):
    before = counts()
    result = org_workbook_import(actor=org.admin_group, source=good_workbook(org), dry_run=True)
    assert result.is_success and result.dry_run
    assert result.counts.users == 3
    assert counts() == before


def test_role_names_codes_and_labels_are_all_understood(org):
    source = workbook(
        users=[
            {
                "employee_number": "N010",
                "username": "roles",
                "name": "多角色",
                "company_code": "A",
                "roles": "纪委监督员, Internal auditor；COST_AUDITOR、财务",
            }
        ]
    )
    result = org_workbook_import(actor=SYSTEM_ACTOR, source=source)
    assert messages(result) == []
    assert set(
        RoleAssignment.objects.filter(user__username="roles").values_list("role__code", flat=True)
    ) == {RoleCode.INSPECTOR, RoleCode.AUDITOR, RoleCode.COST_AUDITOR, RoleCode.FINANCE}


# ---------------------------------------------------------------- row problems


def test_every_bad_row_is_reported_with_sheet_row_and_column_and_nothing_is_written(org):
    make_user(company=org.company_a, username="taken", employee_number="T001")
    before = counts()
    source = workbook(
        companies=[
            {"code": "X1", "name": "新能源公司", "uscc": bad_uscc(1), "parent_code": "G"},
        ],
        departments=[
            {"company_code": "X1", "code": "CW", "name": ""},
        ],
        users=[
            {  # row 2: fine apart from the phone
                "employee_number": "N001",
                "username": "zhangsan",
                "name": "张三",
                "phone": "1380013800",
                "company_code": "X1",
            },
            {  # row 3: unknown department, same user name (other case) as row 2
                "employee_number": "N002",
                "username": "ZhangSan",
                "name": "张三二",
                "company_code": "X1",
                "department_code": "NOPE",
            },
            {  # row 4: user name and employee number already in the database, no name
                "employee_number": "T001",
                "username": "taken",
                "name": "",
                "company_code": "A",
                "email": "not-an-email",
            },
            {  # row 5: department of another company, unknown role, weak password
                "employee_number": "N005",
                "username": "zhaoliu",
                "name": "赵六",
                "company_code": "A",
                "department_code": org.department_b.code,
                "roles": "handler、magician",
                "password": "12345",
            },
        ],
    )
    result = org_workbook_import(actor=org.admin_group, source=source)
    assert not result.is_success
    assert messages(result) == [
        "单位 row 2, column D (统一社会信用代码): The check character is wrong: expected "
        f"{uscc(1)[-1]}, got {bad_uscc(1)[-1]}.",
        "部门 row 2, column C (部门名称): This field is required.",
        "人员 row 2, column D (手机): Not an 11-digit mainland mobile number (for example "
        "13800138000).",
        "人员 row 3, column B (登录名): Duplicate: “ZhangSan” is also on row 2.",
        "人员 row 3, column G (部门编码): No department with code “NOPE” in company “X1” (in the "
        "database or the 部门 sheet).",
        "人员 row 4, column A (工号): “T001” already exists; the import only creates new records.",
        "人员 row 4, column B (登录名): “taken” already exists; the import only creates new "
        "records.",
        "人员 row 4, column C (姓名): This field is required.",
        "人员 row 4, column E (邮箱): Enter a valid email address.",
        f"人员 row 5, column G (部门编码): No department with code “{org.department_b.code}” in "
        "company “A” (in the database or the 部门 sheet).",
        "人员 row 5, column I (角色): Unknown role: magician. Use a role code or name, e.g. "
        "handler or 经办人.",
        "人员 row 5, column K (初始密码): This password is too short. It must contain at least "
        "10 characters.",
        "人员 row 5, column K (初始密码): This password is too common.",
        "人员 row 5, column K (初始密码): This password is entirely numeric.",
        "人员 row 5, column K (初始密码): The password must contain both letters and digits.",
    ]
    assert counts() == before


def test_unknown_parents_cycles_and_duplicates_in_the_company_sheet(org):
    before = counts()
    source = workbook(
        companies=[
            {"code": "A", "name": "甲公司二", "uscc": uscc(1), "parent_code": "G"},
            {"code": "X1", "name": "甲公司", "uscc": uscc(2), "parent_code": "NOPE"},
            {"code": "X2", "name": "环一", "uscc": uscc(3), "parent_code": "X3"},
            {"code": "X3", "name": "环二", "uscc": uscc(3), "parent_code": "X2"},
            {"code": "X4", "name": "", "uscc": "", "parent_code": ""},
        ],
    )
    result = org_workbook_import(actor=org.admin_group, source=source)
    found = messages(result)
    assert found == [
        "单位 row 2, column A (编码): “A” already exists; the import only creates new records.",
        "单位 row 3, column B (名称): “甲公司” already exists; the import only creates new "
        "records.",
        "单位 row 3, column E (上级单位编码): No company with code “NOPE” in this workbook or "
        "among the companies you can see.",
        "单位 row 4, column E (上级单位编码): The parent companies form a circle (this row's or "
        "an ancestor's).",
        "单位 row 5, column D (统一社会信用代码): Duplicate: “" + uscc(3) + "” is also on row 4.",
        "单位 row 5, column E (上级单位编码): The parent companies form a circle (this row's or "
        "an ancestor's).",
        "单位 row 6, column B (名称): This field is required.",
        "单位 row 6, column D (统一社会信用代码): This field is required.",
        "单位 row 6, column E (上级单位编码): This field is required.",
    ]
    assert counts() == before


def test_a_department_head_must_work_for_the_company(org):
    source = workbook(
        departments=[
            {"company_code": "A", "code": "H1", "name": "一部", "head_employee_number": "N1"},
            {
                "company_code": "A",
                "code": "H2",
                "name": "二部",
                "head_employee_number": org.handler_b.employee_number,
            },
        ],
        users=[{"employee_number": "N1", "username": "n1", "name": "某", "company_code": "B"}],
    )
    result = org_workbook_import(actor=SYSTEM_ACTOR, source=source)
    assert messages(result) == [
        "部门 row 2, column E (负责人工号): The department head must work for company “A” "
        "(see 人员 row 2).",
        f"部门 row 3, column E (负责人工号): No person with employee number "
        f"“{org.handler_b.employee_number}” in company “A” (in the database or the 人员 sheet).",
    ]


def test_oversight_and_it_administration_do_not_combine(org):
    source = workbook(
        users=[
            {
                "employee_number": "N1",
                "username": "n1",
                "name": "某",
                "company_code": "A",
                "roles": "inspector, it_admin",
            }
        ]
    )
    result = org_workbook_import(actor=SYSTEM_ACTOR, source=source)
    assert messages(result) == [
        "人员 row 2, column I (角色): An oversight role cannot be combined with IT "
        "administration (segregation of duties)."
    ]


# ---------------------------------------------------------------- the file itself


def test_headers_may_carry_labels_and_come_in_any_order_and_blank_rows_are_skipped(org):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "人员"
    sheet.append(["姓名 (name)", "单位编码*", "登录名\n（username）", "employee_number"])
    sheet.append([])
    sheet.append(["某人", "A", "someone", 1001])
    output = BytesIO()
    book.save(output)
    result = org_workbook_import(actor=org.admin_a, source=output.getvalue())
    assert messages(result) == []
    assert User.objects.get(username="someone").employee_number == "1001"


def test_structural_problems_are_reported_before_any_row(org):
    source = workbook(
        headers={
            "users": ["工号", "登录名", "名字", "单位编码", "工号"],
            "departments": ["单位编码", "部门编码"],
        }
    )
    result = org_workbook_import(actor=org.admin_a, source=source)
    assert messages(result) == [
        "部门: The required column “部门名称” is missing from the header row (row 1).",
        "人员 row 1, column C (名字): Unknown column “名字”; see the template for the column "
        "names.",
        "人员 row 1, column E (工号): The column appears twice (also column A).",
        "人员: The required column “姓名” is missing from the header row (row 1).",
    ]


@pytest.mark.parametrize(
    ("source", "filename", "message"),
    [
        (b"a,b\n1,2\n", "people.csv", "Only Excel workbooks (.xlsx) can be imported."),
        (b"\xd0\xcf\x11\xe0 old excel", "people.xlsx", "Only Excel workbooks (.xlsx)"),
        (b"PK\x03\x04 broken", "people.xlsx", "The file could not be read as an Excel workbook."),
        (b"", "people.xlsx", "The file is empty."),
        (zipped_text(), "people.xlsx", "The file could not be read as an Excel workbook."),
    ],
)
def test_files_that_are_not_workbooks_are_refused(org, source, filename, message):
    result = org_workbook_import(actor=org.admin_a, source=source, filename=filename)
    [found] = messages(result)
    assert found.startswith(message)


def test_size_row_count_and_sheet_limits(org, monkeypatch):
    monkeypatch.setattr(importing, "MAX_FILE_BYTES", 100)
    [found] = messages(org_workbook_import(actor=org.admin_a, source=workbook()))
    assert found.startswith("The file is larger than")
    monkeypatch.undo()

    monkeypatch.setattr(importing, "MAX_ROWS_PER_SHEET", 2)
    users = [
        {"employee_number": f"N{i}", "username": f"n{i}", "name": "某", "company_code": "A"}
        for i in range(3)
    ]
    [found] = messages(org_workbook_import(actor=org.admin_a, source=workbook(users=users)))
    assert found == "人员: More than 2 rows; split the workbook into several imports."
    assert MAX_ROWS_PER_SHEET == 5000

    book = openpyxl.Workbook()
    book.active.title = "Sheet1"
    output = BytesIO()
    book.save(output)
    [found] = messages(org_workbook_import(actor=org.admin_a, source=output.getvalue()))
    assert found == "The workbook has none of the sheets 单位、部门、人员."


# ---------------------------------------------------------------- rights


def test_a_company_administrator_cannot_import_into_another_company(org):
    before = counts()
    source = workbook(
        companies=[{"code": "X1", "name": "新公司", "uscc": uscc(1), "parent_code": "G"}],
        departments=[{"company_code": "B", "code": "NB", "name": "乙新部门"}],
        users=[
            {"employee_number": "N1", "username": "n1", "name": "某", "company_code": "A"},
            {
                "employee_number": "N2",
                "username": "n2",
                "name": "某二",
                "company_code": "A",
                "roles": "handler",
                "role_company_code": "B",
            },
            {"employee_number": "N3", "username": "n3", "name": "某三", "company_code": "B"},
        ],
    )
    result = org_workbook_import(actor=org.admin_a, source=source)
    assert messages(result) == [  # companies outside the scope look like missing ones
        "单位 row 2, column E (上级单位编码): No company with code “G” in this workbook or "
        "among the companies you can see.",
        "部门 row 2, column A (单位编码): No company with code “B” in this workbook or among "
        "the companies you can see.",
        "人员 row 3, column J (角色范围单位编码): No company with code “B” in this workbook or "
        "among the companies you can see.",
        "人员 row 4, column F (单位编码): No company with code “B” in this workbook or among "
        "the companies you can see.",
    ]
    assert counts() == before

    grant(org.admin_a, RoleCode.HANDLER, org.company_b)  # now B is seen, not administered
    result = org_workbook_import(actor=User.objects.get(pk=org.admin_a.pk), source=source)
    assert messages(result)[1] == (
        "部门 row 2, column A (单位编码): You are not an IT administrator of company “B”."
    )
    assert counts()[:3] == before[:3]


def test_an_administrator_without_the_subtree_cannot_fill_a_new_subsidiary(org):
    outsider = make_user(company=org.company_b, username="narrow_admin")
    RoleAssignment.objects.create(
        user=outsider,
        role=Role.objects.get(code=RoleCode.IT_ADMIN),
        company=org.company_b,
        include_subtree=False,
    )
    source = workbook(
        companies=[{"code": "BX", "name": "乙子公司", "uscc": uscc(1), "parent_code": "B"}],
        departments=[{"company_code": "BX", "code": "D1", "name": "部一"}],
    )
    result = org_workbook_import(actor=outsider, source=source)
    assert messages(result) == [
        "部门 row 2, column A (单位编码): You are not an IT administrator of company “BX”."
    ]


def test_the_system_actor_imports_anywhere_and_non_administrators_cannot_start(org):
    with pytest.raises(PermissionDenied):
        org_workbook_import(actor=org.handler_a, source=workbook())
    result = org_workbook_import(
        actor=SYSTEM_ACTOR,
        source=workbook(departments=[{"company_code": "B", "code": "NB", "name": "乙新部门"}]),
    )
    assert result.is_success


# ---------------------------------------------------------------- apply-time failures


def test_a_conflict_found_while_writing_rolls_the_whole_import_back(org):
    book = org_workbook_read(good_workbook(org))
    plan = org_workbook_check(actor=org.admin_group, book=book)
    # Someone creates the same user name between the check and the writes.
    make_user(company=org.company_b, username="wangwu", employee_number="OTHER")
    before = counts()
    with pytest.raises(importing.WorkbookRejected) as rejected:
        org_workbook_apply(plan=plan, book=book)
    [problem] = rejected.value.problems
    assert str(problem) == (
        "人员 row 4, column B (登录名): A user with that username already exists."
    )
    assert counts() == before
    assert not Company.objects.filter(code__in=["X1", "X2"]).exists()


def test_a_refusal_at_the_last_step_rolls_back_companies_departments_and_users(org, monkeypatch):
    real_update = services.department_update

    def refuse_second_head(*, actor, department_id, **changes):
        if Department.objects.get(pk=department_id).code == "NEWA":
            raise ValidationFailed(
                "The department head must work for the same company.",
                fields={"head": ["Not an employee of this company."]},
            )
        return real_update(actor=actor, department_id=department_id, **changes)

    monkeypatch.setattr(services, "department_update", refuse_second_head)
    before = counts()
    result = org_workbook_import(actor=org.admin_group, source=good_workbook(org))
    assert messages(result) == [
        "部门 row 4, column E (负责人工号): Not an employee of this company."
    ]
    assert counts() == before


# ---------------------------------------------------------------- pages


def test_the_page_is_for_it_administrators_only(org):
    anonymous = Client()
    response = anonymous.get(reverse("org:import"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert anonymous.get(reverse("org:import_template")).status_code == 302

    for who in ("handler_a", "no_role", "inspector"):
        client = Client()
        client.force_login(getattr(org, who))
        assert client.get(reverse("org:import")).status_code == 403
        assert client.get(reverse("org:import_template")).status_code == 403
        before = counts()
        upload = BytesIO(good_workbook(org))
        upload.name = "org.xlsx"
        assert client.post(reverse("org:import"), {"file": upload}).status_code == 403
        assert counts() == before

    client = Client()
    client.force_login(org.admin_a)
    page = client.get(reverse("org:import"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="import-form"' in html
    assert "统一社会信用代码" in html
    assert reverse("org:import_template") in html


def _upload(client: Client, source: bytes, **data: Any) -> Any:
    upload = BytesIO(source)
    upload.name = "org.xlsx"
    return client.post(reverse("org:import"), {"file": upload, **data})


def test_uploading_a_good_workbook_shows_the_counts(org):
    client = Client()
    client.cookies["qinglian_language"] = "en"
    client.force_login(org.admin_group)
    response = _upload(client, good_workbook(org))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="import-result"' in html
    assert "3 users" in html and "2 companies" in html
    assert User.objects.filter(username="zhangsan").exists()


def test_uploading_a_check_only_writes_nothing(org):
    client = Client()
    client.cookies["qinglian_language"] = "en"
    client.force_login(org.admin_group)
    before = counts()
    response = _upload(client, good_workbook(org), dry_run="on")
    assert 'data-testid="import-result"' in response.content.decode()
    assert "Nothing was imported (check only)" in response.content.decode()
    assert counts() == before


def test_uploading_a_bad_workbook_lists_the_problems(org):
    client = Client()
    client.cookies["qinglian_language"] = "en"
    client.force_login(org.admin_a)
    before = counts()
    source = workbook(
        users=[{"employee_number": "N1", "username": "n1", "name": "", "company_code": "A"}]
    )
    html = _upload(client, source).content.decode()
    assert 'data-testid="import-errors"' in html
    assert "C (姓名)" in html
    assert "This field is required." in html
    assert counts() == before


def test_uploading_something_else_is_refused_clearly(org):
    client = Client()
    client.cookies["qinglian_language"] = "en"
    client.force_login(org.admin_a)
    upload = BytesIO(b"a,b\n")
    upload.name = "people.csv"
    html = client.post(reverse("org:import"), {"file": upload}).content.decode()
    assert "Only Excel workbooks (.xlsx) can be imported." in html


def test_the_template_download_has_the_three_sheets_and_their_headers(org):
    client = Client()
    client.force_login(org.admin_a)
    response = client.get(reverse("org:import_template"))
    assert response.status_code == 200
    assert response["Content-Type"] == importing.XLSX_CONTENT_TYPE
    assert "attachment" in response["Content-Disposition"]
    book = openpyxl.load_workbook(BytesIO(response.content), read_only=True)
    assert book.sheetnames == ["单位", "部门", "人员", "说明"]
    headers = {
        name: [cell for cell in next(book[name].iter_rows(values_only=True))]
        for name in ("单位", "部门", "人员")
    }
    assert headers == {
        "单位": ["编码", "名称", "简称", "统一社会信用代码", "上级单位编码", "地址"],
        "部门": ["单位编码", "部门编码", "部门名称", "上级部门编码", "负责人工号"],
        "人员": [
            "工号",
            "登录名",
            "姓名",
            "手机",
            "邮箱",
            "单位编码",
            "部门编码",
            "职务",
            "角色",
            "角色范围单位编码",
            "初始密码",
        ],
    }
    assert [spec.name for spec in SHEETS] == ["单位", "部门", "人员"]


def test_the_template_examples_import_once_their_parent_exists(org):
    services.company_create(
        actor=SYSTEM_ACTOR, code="DG", name="东港集团", uscc=uscc(99), parent_id=org.group.pk
    )
    result = org_workbook_import(actor=SYSTEM_ACTOR, source=importing.template_workbook())
    assert messages(result) == []
    assert result.counts == importing.ImportCounts(
        companies=1, departments=3, users=2, role_assignments=3, department_heads=1
    )


# ---------------------------------------------------------------- the command


def test_the_command_imports_as_the_system(org, tmp_path):
    path = tmp_path / "org.xlsx"
    path.write_bytes(good_workbook(org))
    before = counts()
    stdout = StringIO()
    call_command("org_import", str(path), "--dry-run", stdout=stdout)
    assert "would create 2 companies, 3 departments, 3 users" in stdout.getvalue()
    assert counts() == before
    call_command("org_import", str(path), stdout=stdout)
    assert "Imported 2 companies" in stdout.getvalue()
    event = AuditEvent.objects.filter(action="org.company.created").latest("id")
    assert (event.actor_id, event.actor_name) == (None, "system")


def test_the_command_lists_the_problems_and_fails(org, tmp_path):
    path = tmp_path / "org.xlsx"
    path.write_bytes(
        workbook(users=[{"employee_number": "N1", "username": "n1", "company_code": "A"}])
    )
    before = counts()
    stderr = StringIO()
    with pytest.raises(CommandError, match="Nothing was imported: 1 problem"):
        call_command("org_import", str(path), stderr=stderr)
    assert "人员 row 2, column C (姓名): This field is required." in stderr.getvalue()
    assert counts() == before
    with pytest.raises(CommandError, match="No such file"):
        call_command("org_import", str(tmp_path / "missing.xlsx"))

"""Import companies, departments and users from an Excel workbook, all or nothing.

Three steps, which `org_workbook_import` runs in a row:

1. `org_workbook_read` turns the upload into rows, or refuses the file (size, type, sheets,
   headers, row count);
2. `org_workbook_check` validates every row against the workbook itself, the database and the
   importer's rights, collecting every problem, and plans the writes;
3. `org_workbook_apply` performs them inside one transaction through the org services, so each
   record is validated again and audited; any refusal rolls the whole import back.

Create-only: a company code, department code, user name or employee number that already exists
is an error; nothing is ever updated. Problems name the sheet, the row and column as Excel shows
them, and the column's header. The workbook layout is documented in docs/import.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from qinglian.core.actors import is_system
from qinglian.core.errors import PermissionDenied
from qinglian.core.uscc import check_character, normalize_uscc, uscc_problem
from qinglian.core.workbook import (
    XLSX_CONTENT_TYPE,
    Column,
    ImportProblem,
    Problems,
    RowFailed,
    SheetRow,
    SheetSpec,
    WorkbookData,
    WorkbookRejected,
    call_for_row,
    read_workbook,
)
from qinglian.core.workbook import template_workbook as write_template

from . import services
from .enums import OVERSIGHT_ROLES, RoleCode
from .models import Company, Department, Role, User
from .scopes import can_administer_org, data_scope, forget_data_scope
from .selectors import own_role_assignments

# The reading, checking and template machinery is generic (qinglian.core.workbook); these names
# stay importable from here for the org import's callers.
__all__ = [
    "COMPANIES",
    "DEPARTMENTS",
    "MAX_FILE_BYTES",
    "MAX_ROWS_PER_SHEET",
    "SHEETS",
    "USERS",
    "XLSX_CONTENT_TYPE",
    "Column",
    "ImportCounts",
    "ImportPlan",
    "ImportProblem",
    "ImportResult",
    "SheetRow",
    "SheetSpec",
    "WorkbookData",
    "WorkbookRejected",
    "can_import_org",
    "org_workbook_apply",
    "org_workbook_check",
    "org_workbook_import",
    "org_workbook_read",
    "role_lookup",
    "template_workbook",
]

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS_PER_SHEET = 5000
PHONE_PATTERN = re.compile(r"1[3-9]\d{9}")
ROLE_SEPARATORS = re.compile(r"[,，、;；\n]+")

# ---------------------------------------------------------------- the workbook layout


def _example_uscc(serial: int) -> str:
    first17 = f"91330900MA2E{serial:05d}"
    return first17 + check_character(first17)


COMPANIES = SheetSpec(
    key="companies",
    name="单位",
    label=gettext_lazy("Companies"),
    columns=(
        Column(
            "code",
            "编码",
            gettext_lazy("Code"),
            gettext_lazy("Unique company code, up to 32 characters."),
            "单位唯一编码，最多 32 个字符。",
            required=True,
            model=Company,
            model_field="code",
        ),
        Column(
            "name",
            "名称",
            gettext_lazy("Name"),
            gettext_lazy("Full registered name, unique, up to 200 characters."),
            "单位全称，唯一，最多 200 个字符。",
            required=True,
            model=Company,
            model_field="name",
        ),
        Column(
            "short_name",
            "简称",
            gettext_lazy("Short name"),
            gettext_lazy("Optional, up to 60 characters."),
            "可选，最多 60 个字符。",
            model=Company,
            model_field="short_name",
        ),
        Column(
            "uscc",
            "统一社会信用代码",
            gettext_lazy("Unified social credit code"),
            gettext_lazy("18 characters including the check character; unique."),
            "18 位，含校验位；不得重复。",
            required=True,  # checked with uscc_problem, which names the precise fault
        ),
        Column(
            "parent_code",
            "上级单位编码",
            gettext_lazy("Parent company code"),
            gettext_lazy(
                "Code of an existing company or of a company in this sheet. You must be an IT "
                "administrator of the parent."
            ),
            "已有单位或本表中单位的编码；导入人须为上级单位的 IT 管理员。",
            required=True,
            max_length=32,
        ),
        Column(
            "address",
            "地址",
            gettext_lazy("Address"),
            gettext_lazy("Optional, up to 255 characters."),
            "可选，最多 255 个字符。",
            model=Company,
            model_field="address",
        ),
    ),
    examples=(
        (
            "DGXN",
            "东港新能源有限公司",
            "东港新能源",
            _example_uscc(1),
            "DG",
            "浙江省舟山市定海区港口大道18号",
        ),
    ),
)

# Departments and people both name their company by code.
COMPANY_CODE_COLUMN = Column(
    "company_code",
    "单位编码",
    gettext_lazy("Company code"),
    gettext_lazy("Code of an existing company or of a company in the 单位 sheet."),
    "已有单位或“单位”表中单位的编码。",
    required=True,
    max_length=32,
)

DEPARTMENTS = SheetSpec(
    key="departments",
    name="部门",
    label=gettext_lazy("Departments"),
    columns=(
        COMPANY_CODE_COLUMN,
        Column(
            "code",
            "部门编码",
            gettext_lazy("Department code"),
            gettext_lazy("Unique within the company, up to 32 characters."),
            "在本单位内唯一，最多 32 个字符。",
            required=True,
            model=Department,
            model_field="code",
        ),
        Column(
            "name",
            "部门名称",
            gettext_lazy("Department name"),
            gettext_lazy("Up to 100 characters; unique under the same parent department."),
            "最多 100 个字符；同一上级部门下不得重名。",
            required=True,
            model=Department,
            model_field="name",
        ),
        Column(
            "parent_code",
            "上级部门编码",
            gettext_lazy("Parent department code"),
            gettext_lazy("Optional: a department of the same company (existing or in this sheet)."),
            "可选：同一单位的部门编码（已有或本表中）。",
            max_length=32,
        ),
        Column(
            "head_employee_number",
            "负责人工号",
            gettext_lazy("Head's employee number"),
            gettext_lazy(
                "Optional: employee number of a person of the same company (existing or in the "
                "人员 sheet)."
            ),
            "可选：同一单位人员的工号（已有或“人员”表中）。",
            max_length=32,
        ),
    ),
    examples=(
        ("DGXN", "ZH", "综合办公室", "", "DGXN001"),
        ("DGXN", "CW", "财务部", "", ""),
        ("DGXN", "CWJS", "结算组", "CW", ""),
    ),
)

USERS = SheetSpec(
    key="users",
    name="人员",
    label=gettext_lazy("Users"),
    columns=(
        Column(
            "employee_number",
            "工号",
            gettext_lazy("Employee number"),
            gettext_lazy("Unique, up to 32 characters."),
            "唯一，最多 32 个字符。",
            required=True,
            model=User,
            model_field="employee_number",
        ),
        Column(
            "username",
            "登录名",
            gettext_lazy("User name"),
            gettext_lazy(
                "Unique (case ignored); letters, digits and @ . + - _ only, up to 150 characters."
            ),
            "唯一（不区分大小写）；仅限字母、数字和 @ . + - _，最多 150 个字符。",
            required=True,
            model=User,
            model_field="username",
        ),
        Column(
            "name",
            "姓名",
            gettext_lazy("Name"),
            gettext_lazy("Up to 60 characters."),
            "最多 60 个字符。",
            required=True,
            model=User,
            model_field="name",
        ),
        Column(
            "phone",
            "手机",
            gettext_lazy("Mobile phone"),
            gettext_lazy("Optional: an 11-digit mainland mobile number."),
            "可选：11 位中国大陆手机号码。",
            model=User,
            model_field="phone",
        ),
        Column(
            "email",
            "邮箱",
            gettext_lazy("Email"),
            gettext_lazy("Optional: a valid email address."),
            "可选：有效的电子邮箱地址。",
            model=User,
            model_field="email",
        ),
        COMPANY_CODE_COLUMN,
        Column(
            "department_code",
            "部门编码",
            gettext_lazy("Department code"),
            gettext_lazy("Optional: a department of the person's company."),
            "可选：本人所在单位的部门编码。",
            max_length=32,
        ),
        Column(
            "position",
            "职务",
            gettext_lazy("Position"),
            gettext_lazy("Optional, up to 60 characters."),
            "可选，最多 60 个字符。",
            model=User,
            model_field="position",
        ),
        Column(
            "roles",
            "角色",
            gettext_lazy("Roles"),
            gettext_lazy(
                "Optional: role codes or names separated by commas or 、 (for example "
                "handler、finance). Discipline inspector and internal auditor do not combine "
                "with IT administrator."
            ),
            "可选：角色代码或名称，以逗号或顿号分隔（例如 经办人、财务）。"
            "纪委监督员、内审员不得与 IT 管理员兼任。",
        ),
        Column(
            "role_company_code",
            "角色范围单位编码",
            gettext_lazy("Role scope company code"),
            gettext_lazy(
                "Optional: the company (and its subsidiaries) the roles cover; default is the "
                "person's own company."
            ),
            "可选：角色覆盖的单位（含下属单位）；默认为本人所在单位。",
            max_length=32,
        ),
        Column(
            "password",
            "初始密码",
            gettext_lazy("Initial password"),
            gettext_lazy(
                "Optional: must meet the password policy. Left blank, the person cannot sign in "
                "until an administrator sets a password."
            ),
            "可选：须符合密码策略。留空则须由管理员设置密码后方可登录。",
        ),
    ),
    examples=(
        (
            "DGXN001",
            "wanghai",
            "王海",
            "13800138001",
            "wanghai@example.com",
            "DGXN",
            "ZH",
            "总经理",
            "总经理、部门负责人",
            "",
            "",
        ),
        ("DGXN002", "lina", "李娜", "13800138002", "", "DGXN", "CW", "会计", "finance", "", ""),
    ),
)

SHEETS: tuple[SheetSpec, ...] = (COMPANIES, DEPARTMENTS, USERS)

# ---------------------------------------------------------------- problems and results


@dataclass(frozen=True)
class ImportCounts:
    companies: int = 0
    departments: int = 0
    users: int = 0
    role_assignments: int = 0
    department_heads: int = 0


@dataclass(frozen=True)
class ImportResult:
    counts: ImportCounts
    problems: list[ImportProblem]
    dry_run: bool = False

    @property
    def is_success(self) -> bool:
        return not self.problems


def can_import_org(user: Any) -> bool:
    """Who may use the import at all: IT administrators of some company (and the system)."""
    return is_system(user) or data_scope(user).has_role(RoleCode.IT_ADMIN)


# ---------------------------------------------------------------- step 1: reading


def org_workbook_read(source: bytes | IO[bytes], *, filename: str = "") -> WorkbookData:
    """The workbook's three sheets as rows of text; raises WorkbookRejected for a bad file."""
    return read_workbook(
        source,
        sheets=SHEETS,
        filename=filename,
        max_bytes=MAX_FILE_BYTES,
        max_rows=MAX_ROWS_PER_SHEET,
    )


# ---------------------------------------------------------------- step 2: checking


@dataclass(frozen=True)
class RoleGrant:
    role_code: str
    company_code: str


@dataclass
class ImportPlan:
    """What `org_workbook_apply` will write, in order. Codes resolve to the database's ids or to
    the records created before them."""

    actor: Any
    companies: list[SheetRow]  # parents before children
    departments: list[SheetRow]  # parents before children
    users: list[SheetRow]
    grants: dict[int, list[RoleGrant]]  # user row number -> roles to grant
    heads: list[SheetRow]  # department rows naming a head
    existing_companies: dict[str, int]
    existing_departments: dict[tuple[str, str], int]
    existing_heads: dict[tuple[str, str], int]  # (company code, employee number) -> user id

    @property
    def counts(self) -> ImportCounts:
        return ImportCounts(
            companies=len(self.companies),
            departments=len(self.departments),
            users=len(self.users),
            role_assignments=sum(len(grants) for grants in self.grants.values()),
            department_heads=len(self.heads),
        )


def _casefold(value: str) -> str:
    """User names compare without case, as the database's LOWER() does."""
    return value.lower()


def role_lookup() -> dict[str, str]:
    """Normalised role code / stored name / label in every language -> role code."""
    lookup: dict[str, str] = {}
    for role in Role.objects.all():
        names = {role.code, role.name}
        if role.code in RoleCode.values:
            for language, _name in settings.LANGUAGES:
                with translation.override(language):
                    names.add(str(RoleCode(role.code).label))
        for name in names:
            lookup[_role_key(name)] = role.code
    return lookup


def _role_key(value: str) -> str:
    return "".join(value.split()).casefold()


def _topological(
    rows: list[SheetRow], key: Callable[[SheetRow], Any], parent: Callable[[SheetRow], Any]
) -> tuple[list[SheetRow], list[SheetRow]]:
    """Rows with parents (inside the list) first, in sheet order otherwise; and rows in cycles."""
    by_key = {key(row): row for row in reversed(rows)}  # the first row wins on duplicates
    ordered: list[SheetRow] = []
    placed: set[Any] = set()
    remaining = [row for row in rows if by_key.get(key(row)) is row]
    progress = True
    while remaining and progress:
        progress = False
        waiting = []
        for row in remaining:
            parent_key = parent(row)
            if parent_key is None or parent_key not in by_key or parent_key in placed:
                ordered.append(row)
                placed.add(key(row))
                progress = True
            else:
                waiting.append(row)
        remaining = waiting
    return ordered, remaining


class _Checker(Problems):
    def __init__(self, actor: Any, book: WorkbookData) -> None:
        super().__init__(book, SHEETS)
        self.actor = actor
        self.system = is_system(actor)
        self.company_rows = book.rows(COMPANIES)
        self.department_rows = book.rows(DEPARTMENTS)
        self.user_rows = book.rows(USERS)
        self.new_companies: dict[str, SheetRow] = {}
        for row in self.company_rows:
            code = row.values.get("code", "")
            if code:
                self.new_companies.setdefault(code, row)
        self.new_departments: dict[tuple[str, str], SheetRow] = {}
        for row in self.department_rows:
            department_key = (row.values.get("company_code", ""), row.values.get("code", ""))
            if all(department_key):
                self.new_departments.setdefault(department_key, row)
        self.new_users: dict[str, SheetRow] = {}
        for row in self.user_rows:
            number = row.values.get("employee_number", "")
            if number:
                self.new_users.setdefault(number, row)
        # Uniqueness is global, so these read past the importer's scope; references to
        # existing companies below only resolve within it.
        self.db_companies = {
            c["code"]: c for c in Company.objects.values("id", "code", "name", "uscc", "path")
        }
        self.db_company_names = {c["name"] for c in self.db_companies.values()}
        self.db_usccs = {c["uscc"] for c in self.db_companies.values()}
        self.subtree_admin_paths: list[str] = (
            []
            if self.system
            else [
                assignment.company.path
                for assignment in own_role_assignments(user=actor).filter(
                    role__code=RoleCode.IT_ADMIN, include_subtree=True, user__is_active=True
                )
            ]
        )
        self.existing_companies: dict[str, int] = {}
        self._load_departments()
        self._load_users()
        self.roles = role_lookup()

    # ------------------------------------------------------------ loading

    def _referenced_company_codes(self) -> set[str]:
        codes = {r.values.get("parent_code", "") for r in self.company_rows}
        codes |= {r.values.get("company_code", "") for r in self.department_rows}
        codes |= {r.values.get("company_code", "") for r in self.user_rows}
        codes |= {r.values.get("role_company_code", "") for r in self.user_rows}
        return {code for code in codes if code and code not in self.new_companies}

    def _load_departments(self) -> None:
        company_ids = {
            self.db_companies[code]["id"]: code
            for code in self._referenced_company_codes()
            if code in self.db_companies
        }
        self.db_departments: dict[tuple[str, str], dict[str, Any]] = {}
        self.db_department_names: set[tuple[str, int | None, str]] = set()
        for department in Department.objects.filter(company_id__in=company_ids).values(
            "id", "company_id", "code", "name", "parent_id"
        ):
            company_code = company_ids[department["company_id"]]
            self.db_departments[company_code, department["code"]] = dict(department)
            self.db_department_names.add(
                (company_code, department["parent_id"], department["name"])
            )
        self.existing_departments: dict[tuple[str, str], int] = {}

    def _load_users(self) -> None:
        numbers = {r.values.get("employee_number", "") for r in self.user_rows} - {""}
        names = {_casefold(r.values.get("username", "")) for r in self.user_rows} - {""}
        self.db_numbers = set(
            User.objects.filter(employee_number__in=numbers).values_list(
                "employee_number", flat=True
            )
        )
        self.db_usernames = set(
            User.objects.annotate(lowered=Lower("username"))
            .filter(lowered__in=names)
            .values_list("lowered", flat=True)
        )
        head_numbers = {r.values.get("head_employee_number", "") for r in self.department_rows}
        self.db_heads: dict[tuple[int | None, str], int] = {
            (user["company_id"], user["employee_number"]): user["id"]
            for user in User.objects.filter(employee_number__in=head_numbers - {""}).values(
                "id", "company_id", "employee_number"
            )
        }
        self.existing_heads: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------ helpers

    def company(self, code: str) -> tuple[str, Any] | None:
        """("new", code) for a company of the 单位 sheet, ("existing", id) for one the importer
        can see, None otherwise (missing and out of scope look the same)."""
        if code in self.new_companies:
            return ("new", code)
        known = self.db_companies.get(code)
        if known is not None and (self.system or data_scope(self.actor).can_read(known["id"])):
            self.existing_companies[code] = known["id"]
            return ("existing", known["id"])
        return None

    def administers(self, reference: tuple[str, Any]) -> bool:
        if self.system:
            return True
        kind, value = reference
        if kind == "existing":
            return can_administer_org(self.actor, value)
        return self.administers_new(value)

    def administers_new(self, code: str) -> bool:
        """Whether the importer will administer a company the workbook creates: an IT
        administrator role covering the subtree of its nearest existing ancestor."""
        seen: set[str] = set()
        while code in self.new_companies and code not in seen:
            seen.add(code)
            code = self.new_companies[code].values.get("parent_code", "")
        known = self.db_companies.get(code)
        if known is None:
            return True  # unresolved parents are reported on their own row
        return any(known["path"].startswith(path) for path in self.subtree_admin_paths)

    def unknown_company(self, code: str) -> str:
        return _(
            "No company with code “%(code)s” in this workbook or among the companies you can see."
        ) % {"code": code}

    def not_administrator(self, code: str) -> str:
        return _("You are not an IT administrator of company “%(code)s”.") % {"code": code}

    def company_reference(self, spec: SheetSpec, row: SheetRow, key: str) -> tuple[str, Any] | None:
        """Resolve a company code column and check the importer may write there."""
        code = row.values.get(key, "")
        if not code:
            return None
        reference = self.company(code)
        if reference is None:
            self.error(spec, row, key, self.unknown_company(code))
        elif not self.administers(reference):
            self.error(spec, row, key, self.not_administrator(code))
            return None
        return reference

    # ------------------------------------------------------------ sheets

    def check_companies(self) -> list[SheetRow]:
        spec, rows = COMPANIES, self.company_rows
        for row in rows:
            values = row.values
            values["uscc"] = normalize_uscc(values.get("uscc", ""))
            self.check_fields(spec, row)
            if values["uscc"]:
                problem = uscc_problem(values["uscc"])
                if problem:
                    self.error(spec, row, "uscc", problem)
            if values.get("code") in self.db_companies:
                self.already_exists(spec, row, "code")
            if values.get("name") in self.db_company_names:
                self.already_exists(spec, row, "name")
            if values["uscc"] in self.db_usccs:
                self.already_exists(spec, row, "uscc")
            parent_code = values.get("parent_code", "")
            if not parent_code:
                continue  # "required" was reported; the group is created at installation
            if parent_code == values.get("code"):
                self.error(spec, row, "parent_code", _("A company cannot be its own parent."))
                continue
            parent = self.company(parent_code)
            if parent is None:
                self.error(spec, row, "parent_code", self.unknown_company(parent_code))
            elif not self.administers(parent):
                self.error(spec, row, "parent_code", self.not_administrator(parent_code))
        for key in ("code", "name", "uscc"):
            self.check_unique_in_file(spec, rows, key)
        ordered, cycles = _topological(
            rows, lambda r: r.values.get("code"), lambda r: r.values.get("parent_code") or None
        )
        for row in cycles:
            if row.values.get("parent_code") != row.values.get("code"):
                self.error(
                    spec,
                    row,
                    "parent_code",
                    _("The parent companies form a circle (this row's or an ancestor's)."),
                )
        return ordered

    def check_departments(self) -> list[SheetRow]:
        spec, rows = DEPARTMENTS, self.department_rows
        for row in rows:
            self.check_fields(spec, row)
            values = row.values
            company_code, code = values.get("company_code", ""), values.get("code", "")
            company = self.company_reference(spec, row, "company_code")
            if company is None:
                continue
            if code and (company_code, code) in self.db_departments:
                self.already_exists(spec, row, "code")
            parent_code = values.get("parent_code", "")
            parent_id: int | None = None
            if parent_code:
                if parent_code == code:
                    self.error(
                        spec, row, "parent_code", _("A department cannot be its own parent.")
                    )
                elif (company_code, parent_code) in self.db_departments:
                    parent_id = self.db_departments[company_code, parent_code]["id"]
                    self.existing_departments[company_code, parent_code] = parent_id
                elif (company_code, parent_code) not in self.new_departments:
                    self.error(
                        spec, row, "parent_code", self.unknown_department(parent_code, company_code)
                    )
            name = values.get("name", "")
            # Under a new parent no name can clash with the database yet.
            parent_in_database = not parent_code or parent_id is not None
            if parent_in_database and (company_code, parent_id, name) in self.db_department_names:
                self.error(
                    spec,
                    row,
                    "name",
                    _("A department “%(name)s” already exists under the same parent.")
                    % {"name": name},
                )
            self.check_head(row, company_code)
        self._check_department_duplicates(rows)
        ordered, cycles = _topological(
            rows,
            lambda r: (r.values.get("company_code"), r.values.get("code")),
            lambda r: (
                (r.values.get("company_code"), r.values["parent_code"])
                if r.values.get("parent_code")
                else None
            ),
        )
        for row in cycles:
            if row.values.get("parent_code") != row.values.get("code"):
                self.error(
                    spec,
                    row,
                    "parent_code",
                    _("The parent departments form a circle (this row's or an ancestor's)."),
                )
        return ordered

    def _check_department_duplicates(self, rows: list[SheetRow]) -> None:
        codes: dict[tuple[str, str], int] = {}
        names: dict[tuple[str, str, str], int] = {}
        for row in rows:
            values = row.values
            company_code = values.get("company_code", "")
            code_key = (company_code, values.get("code", ""))
            if all(code_key):
                if code_key in codes:
                    self.error(
                        DEPARTMENTS,
                        row,
                        "code",
                        _("Duplicate: “%(value)s” is also on row %(row)d.")
                        % {"value": code_key[1], "row": codes[code_key]},
                    )
                else:
                    codes[code_key] = row.number
            name_key = (company_code, values.get("parent_code", ""), values.get("name", ""))
            if name_key[0] and name_key[2]:
                if name_key in names:
                    self.error(
                        DEPARTMENTS,
                        row,
                        "name",
                        _("Duplicate: “%(value)s” is also on row %(row)d.")
                        % {"value": name_key[2], "row": names[name_key]},
                    )
                else:
                    names[name_key] = row.number

    def unknown_department(self, code: str, company_code: str) -> str:
        return _(
            "No department with code “%(code)s” in company “%(company)s” (in the database or "
            "the 部门 sheet)."
        ) % {"code": code, "company": company_code}

    def check_head(self, row: SheetRow, company_code: str) -> None:
        number = row.values.get("head_employee_number", "")
        if not number:
            return
        new_user = self.new_users.get(number)
        if new_user is not None:
            if new_user.values.get("company_code") != company_code:
                self.error(
                    DEPARTMENTS,
                    row,
                    "head_employee_number",
                    _(
                        "The department head must work for company “%(company)s” (see 人员 row "
                        "%(row)d)."
                    )
                    % {"company": company_code, "row": new_user.number},
                )
            return
        company_id = self.existing_companies.get(company_code)
        user_id = self.db_heads.get((company_id, number)) if company_id else None
        if user_id is None:
            self.error(
                DEPARTMENTS,
                row,
                "head_employee_number",
                _(
                    "No person with employee number “%(number)s” in company “%(company)s” (in "
                    "the database or the 人员 sheet)."
                )
                % {"number": number, "company": company_code},
            )
        else:
            self.existing_heads[company_code, number] = user_id

    def check_users(self) -> dict[int, list[RoleGrant]]:
        spec, rows = USERS, self.user_rows
        grants: dict[int, list[RoleGrant]] = {}
        for row in rows:
            values = row.values
            values["phone"] = re.sub(r"[\s-]", "", values.get("phone", ""))
            self.check_fields(spec, row)
            if values["phone"] and not PHONE_PATTERN.fullmatch(values["phone"]):
                self.error(
                    spec,
                    row,
                    "phone",
                    _("Not an 11-digit mainland mobile number (for example 13800138000)."),
                )
            if values.get("employee_number") in self.db_numbers:
                self.already_exists(spec, row, "employee_number")
            if _casefold(values.get("username", "")) in self.db_usernames:
                self.already_exists(spec, row, "username")
            company_code = values.get("company_code", "")
            company = self.company_reference(spec, row, "company_code")
            department_code = values.get("department_code", "")
            if company is not None and department_code:
                if (company_code, department_code) in self.db_departments:
                    self.existing_departments[company_code, department_code] = self.db_departments[
                        company_code, department_code
                    ]["id"]
                elif (company_code, department_code) not in self.new_departments:
                    self.error(
                        spec,
                        row,
                        "department_code",
                        self.unknown_department(department_code, company_code),
                    )
            grants[row.number] = self.check_roles(row, company_code)
            self.check_password(row)
        self.check_unique_in_file(spec, rows, "employee_number")
        self.check_unique_in_file(spec, rows, "username", _casefold)
        return grants

    def check_roles(self, row: SheetRow, company_code: str) -> list[RoleGrant]:
        values = row.values
        scope_code = values.get("role_company_code", "")
        tokens = [t.strip() for t in ROLE_SEPARATORS.split(values.get("roles", "")) if t.strip()]
        if not tokens:
            if scope_code:
                self.error(
                    USERS,
                    row,
                    "role_company_code",
                    _("Name at least one role in the 角色 column, or leave this blank."),
                )
            return []
        codes: list[str] = []
        unknown = []
        for token in tokens:
            code = self.roles.get(_role_key(token))
            if code is None:
                unknown.append(token)
            elif code not in codes:
                codes.append(code)
        if unknown:
            self.error(
                USERS,
                row,
                "roles",
                ngettext(
                    "Unknown role: %(roles)s. Use a role code or name, e.g. handler or 经办人.",
                    "Unknown roles: %(roles)s. Use a role code or name, e.g. handler or 经办人.",
                    len(unknown),
                )
                % {"roles": "、".join(unknown)},
            )
        if RoleCode.IT_ADMIN in codes and any(code in OVERSIGHT_ROLES for code in codes):
            self.error(
                USERS,
                row,
                "roles",
                _(
                    "An oversight role cannot be combined with IT administration (segregation "
                    "of duties)."
                ),
            )
        if scope_code:
            self.company_reference(USERS, row, "role_company_code")
        scope = scope_code or company_code
        return [RoleGrant(code, scope) for code in codes]

    def check_password(self, row: SheetRow) -> None:
        password = row.values.get("password", "")
        if not password:
            return
        values = row.values
        candidate = User(
            username=values.get("username", ""),
            name=values.get("name", ""),
            email=values.get("email", ""),
            employee_number=values.get("employee_number", ""),
        )
        try:
            validate_password(password, candidate)
        except ValidationError as error:
            for message in error.messages:
                self.error(USERS, row, "password", message)

    def plan(self) -> ImportPlan:
        companies = self.check_companies()
        departments = self.check_departments()
        grants = self.check_users()
        if self.problems:
            self.raise_if_any()
        return ImportPlan(
            actor=self.actor,
            companies=companies,
            departments=departments,
            users=list(self.user_rows),
            grants=grants,
            heads=[r for r in departments if r.values.get("head_employee_number")],
            existing_companies=self.existing_companies,
            existing_departments=self.existing_departments,
            existing_heads=self.existing_heads,
        )


def org_workbook_check(*, actor: Any, book: WorkbookData) -> ImportPlan:
    """Validate every row; raises WorkbookRejected with all problems, writes nothing."""
    if not can_import_org(actor):
        raise PermissionDenied(_("Only IT administrators may import the organisation."))
    return _Checker(actor, book).plan()


# ---------------------------------------------------------------- step 3: applying

# service error field -> the column it came from
_FIELD_COLUMNS: dict[str, dict[str, str]] = {
    COMPANIES.key: {"parent": "parent_code"},
    DEPARTMENTS.key: {
        "company": "company_code",
        "parent": "parent_code",
        "head": "head_employee_number",
    },
    USERS.key: {"company": "company_code", "department": "department_code", "role": "roles"},
}


def _run(
    book: WorkbookData,
    spec: SheetSpec,
    row: SheetRow,
    service: Callable[..., Any],
    *,
    default_column: str = "",
    **arguments: Any,
) -> Any:
    """Call a service for one row; a refusal becomes problems naming that row."""
    return call_for_row(
        book,
        spec,
        row,
        service,
        field_columns=_FIELD_COLUMNS[spec.key],
        default_column=default_column,
        **arguments,
    )


def org_workbook_apply(*, plan: ImportPlan, book: WorkbookData) -> ImportCounts:
    """Write the plan in one transaction through the services; all or nothing."""
    try:
        _apply(plan, book)
    except RowFailed as failure:
        raise WorkbookRejected(failure.problems) from failure
    return plan.counts


@transaction.atomic
def _apply(plan: ImportPlan, book: WorkbookData) -> None:
    actor = plan.actor
    companies = dict(plan.existing_companies)
    for row in plan.companies:
        values = row.values
        company = _run(
            book,
            COMPANIES,
            row,
            services.company_create,
            actor=actor,
            code=values["code"],
            name=values["name"],
            uscc=values["uscc"],
            parent_id=companies[values["parent_code"]],
            short_name=values.get("short_name", ""),
            address=values.get("address", ""),
        )
        companies[values["code"]] = company.pk
        forget_data_scope(actor)  # the importer's scope now covers the new company
    departments = dict(plan.existing_departments)
    for row in plan.departments:
        values = row.values
        company_code, parent_code = values["company_code"], values.get("parent_code")
        department = _run(
            book,
            DEPARTMENTS,
            row,
            services.department_create,
            actor=actor,
            company_id=companies[company_code],
            code=values["code"],
            name=values["name"],
            parent_id=departments[company_code, parent_code] if parent_code else None,
        )
        departments[company_code, values["code"]] = department.pk
    users = dict(plan.existing_heads)
    for row in plan.users:
        values = row.values
        company_code, department_code = values["company_code"], values.get("department_code")
        user = _run(
            book,
            USERS,
            row,
            services.user_create,
            actor=actor,
            username=values["username"],
            employee_number=values["employee_number"],
            name=values["name"],
            company_id=companies[company_code],
            department_id=departments[company_code, department_code] if department_code else None,
            phone=values.get("phone", ""),
            email=values.get("email", ""),
            position=values.get("position", ""),
            password=values.get("password") or None,
        )
        users[company_code, values["employee_number"]] = user.pk
        for grant in plan.grants.get(row.number, []):
            _run(
                book,
                USERS,
                row,
                services.role_assignment_grant,
                default_column="roles",
                actor=actor,
                user_id=user.pk,
                role_code=grant.role_code,
                company_id=companies[grant.company_code],
            )
    for row in plan.heads:
        values = row.values
        _run(
            book,
            DEPARTMENTS,
            row,
            services.department_update,
            default_column="head_employee_number",
            actor=actor,
            department_id=departments[values["company_code"], values["code"]],
            head_id=users[values["company_code"], values["head_employee_number"]],
        )


# ---------------------------------------------------------------- all three


def org_workbook_import(
    *, actor: Any, source: bytes | IO[bytes], filename: str = "", dry_run: bool = False
) -> ImportResult:
    """Read, check and (unless `dry_run`) write a workbook. Problems come back in the result;
    when there are any, nothing was written."""
    try:
        book = org_workbook_read(source, filename=filename)
        plan = org_workbook_check(actor=actor, book=book)
        if dry_run:
            return ImportResult(counts=plan.counts, problems=[], dry_run=True)
        counts = org_workbook_apply(plan=plan, book=book)
    except WorkbookRejected as rejected:
        return ImportResult(counts=ImportCounts(), problems=rejected.problems, dry_run=dry_run)
    return ImportResult(counts=counts, problems=[])


# ---------------------------------------------------------------- the template


def template_workbook() -> bytes:
    """The blank template: one sheet per kind with its headers and grey example rows, and a
    说明 sheet describing every column in Chinese and English, then the roles."""
    return write_template(
        SHEETS,
        title="组织导入模板 / Organisation import template",
        notes=[
            "3. 只新增，不更新：已存在的编码、登录名、工号视为错误。 "
            "Create-only: existing codes, user names and employee numbers are errors.",
            "4. 红色表头为必填列；可引用系统中已有的单位、部门，或本文件中定义的单位、部门。 "
            "Red headers are required; codes may refer to existing records or to rows of this "
            "file.",
        ],
        max_bytes=MAX_FILE_BYTES,
        max_rows=MAX_ROWS_PER_SHEET,
        extra=_write_roles,
    )


def _write_roles(sheet: Any, row: int, bold: Any) -> int:
    sheet.write_string(row, 0, "角色 Roles", bold)
    for role_code, role_name in _role_names():
        row += 1
        sheet.write_string(row, 0, role_code)
        sheet.write_string(row, 1, role_name)
        sheet.write_string(
            row, 3, str(RoleCode(role_code).label) if role_code in RoleCode.values else ""
        )
    return row + 1


def _role_names() -> Iterable[tuple[str, str]]:
    return [(role.code, role.name) for role in Role.objects.all()]

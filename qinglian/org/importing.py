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

import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.db.models.functions import Lower
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from qinglian.core.actors import is_system
from qinglian.core.errors import ApplicationError, PermissionDenied, ValidationFailed
from qinglian.core.uscc import check_character, normalize_uscc, uscc_problem

from . import services
from .enums import OVERSIGHT_ROLES, RoleCode
from .models import Company, Department, Role, User
from .scopes import can_administer_org, data_scope, forget_data_scope
from .selectors import own_role_assignments

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS_PER_SHEET = 5000
# Rows scanned per sheet at most, blank ones included (a guard against sheets formatted down
# to row 1,048,576).
MAX_SCANNED_ROWS = 4 * MAX_ROWS_PER_SHEET
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PHONE_PATTERN = re.compile(r"1[3-9]\d{9}")
ROLE_SEPARATORS = re.compile(r"[,，、;；\n]+")

# ---------------------------------------------------------------- the workbook layout


@dataclass(frozen=True)
class Column:
    key: str  # also accepted as a header ("employee_number")
    header: str  # the Chinese header matched in the file
    label: Promise  # English name for pages (translated)
    help: Promise  # English rule for pages (translated)
    help_zh: str  # the rule in Chinese, for the template's 说明 sheet
    required: bool = False
    model: type[Model] | None = None  # the field whose validators (length, format) apply
    model_field: str = ""
    max_length: int | None = None  # for columns without a model field

    def validators_field(self) -> Any:
        return self.model._meta.get_field(self.model_field) if self.model else None


@dataclass(frozen=True)
class SheetSpec:
    key: str  # "companies": also accepted as the sheet name
    name: str  # 单位
    label: Promise
    columns: tuple[Column, ...]
    examples: tuple[tuple[str, ...], ...]

    def column(self, key: str) -> Column:
        return next(column for column in self.columns if column.key == key)

    def match(self, header: str) -> Column | None:
        text = _header_text(header)
        for column in self.columns:
            if text == column.header or text.casefold().replace(" ", "_") == column.key:
                return column
        return None


def _header_text(value: str) -> str:
    """'姓名', '姓名*', '姓名 (name)' and '姓名\\n（name）' all read as '姓名'."""
    text = re.split(r"[（(\n]", value, maxsplit=1)[0]
    return text.strip().strip("*＊").strip()


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
class ImportProblem:
    message: str
    sheet: str = ""
    row: int | None = None
    column: str = ""  # the column letter as Excel shows it
    header: str = ""

    @property
    def location(self) -> str:
        if self.row is not None and self.column:
            return _("%(sheet)s row %(row)d, column %(column)s (%(header)s)") % {
                "sheet": self.sheet,
                "row": self.row,
                "column": self.column,
                "header": self.header,
            }
        if self.row is not None:
            return _("%(sheet)s row %(row)d") % {"sheet": self.sheet, "row": self.row}
        if self.column:
            return _("%(sheet)s column %(column)s (%(header)s)") % {
                "sheet": self.sheet,
                "column": self.column,
                "header": self.header,
            }
        return self.sheet

    def __str__(self) -> str:
        location = self.location
        return f"{location}: {self.message}" if location else self.message


class WorkbookRejected(ValidationFailed):
    """The workbook was refused; `problems` says where and why. Nothing was written."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        super().__init__(
            ngettext(
                "The workbook was not imported: %(count)d problem found.",
                "The workbook was not imported: %(count)d problems found.",
                len(problems),
            )
            % {"count": len(problems)}
        )
        self.problems = problems


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


@dataclass
class SheetRow:
    number: int  # as Excel shows it
    values: dict[str, str]


@dataclass
class SheetData:
    spec: SheetSpec
    letters: dict[str, str]  # column key -> its letter in this file
    rows: list[SheetRow]


@dataclass
class WorkbookData:
    sheets: dict[str, SheetData] = field(default_factory=dict)

    def rows(self, spec: SheetSpec) -> list[SheetRow]:
        sheet = self.sheets.get(spec.key)
        return sheet.rows if sheet else []

    def letter(self, spec: SheetSpec, key: str) -> str:
        sheet = self.sheets.get(spec.key)
        return sheet.letters.get(key, "") if sheet else ""


def _text(value: Any) -> str:
    """A cell as text: numbers typed into text columns lose their '.0', dates read ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _read_bytes(source: bytes | IO[bytes]) -> bytes:
    data = source if isinstance(source, bytes) else source.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise WorkbookRejected(
            [
                ImportProblem(
                    _("The file is larger than %(size)d MB.") % {"size": MAX_FILE_BYTES // 2**20}
                )
            ]
        )
    return data


def _not_xlsx() -> WorkbookRejected:
    return WorkbookRejected(
        [
            ImportProblem(
                _(
                    "Only Excel workbooks (.xlsx) can be imported. Save .xls, .csv or .et files "
                    "as .xlsx first."
                )
            )
        ]
    )


def org_workbook_read(source: bytes | IO[bytes], *, filename: str = "") -> WorkbookData:
    """The workbook's three sheets as rows of text; raises WorkbookRejected for a bad file."""
    if filename and not filename.lower().endswith(".xlsx"):
        raise _not_xlsx()
    data = _read_bytes(source)
    if not data:
        raise WorkbookRejected([ImportProblem(_("The file is empty."))])
    if not data.startswith(b"PK\x03\x04"):
        raise _not_xlsx()
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return _read_sheets(workbook)
        finally:
            workbook.close()
    except WorkbookRejected:
        raise
    except Exception as error:  # whatever breaks on an untrusted file: it is unreadable
        raise WorkbookRejected(
            [ImportProblem(_("The file could not be read as an Excel workbook."))]
        ) from error


def _read_sheets(workbook: Any) -> WorkbookData:
    problems: list[ImportProblem] = []
    book = WorkbookData()
    found: dict[str, str] = {}
    for title in workbook.sheetnames:
        name = title.strip()
        spec = next((s for s in SHEETS if name in (s.name, s.key) or name.lower() == s.key), None)
        if spec is None:
            continue  # 说明 and any other sheet are ignored
        if spec.key in found:
            problems.append(
                ImportProblem(
                    _("The sheet appears twice (“%(first)s” and “%(second)s”).")
                    % {"first": found[spec.key], "second": title},
                    sheet=spec.name,
                )
            )
            continue
        found[spec.key] = title
        book.sheets[spec.key] = _read_sheet(spec, workbook[title], problems)
    if not found:
        problems.append(
            ImportProblem(
                _("The workbook has none of the sheets %(names)s.")
                % {"names": "、".join(s.name for s in SHEETS)}
            )
        )
    if problems:
        raise WorkbookRejected(problems)
    return book


def _read_sheet(spec: SheetSpec, worksheet: Any, problems: list[ImportProblem]) -> SheetData:
    worksheet.reset_dimensions()  # some writers declare a wrong size; read what is there
    rows: Iterator[tuple[Any, ...]] = worksheet.iter_rows(values_only=True)
    header = next(rows, None) or ()
    positions: dict[str, int] = {}
    letters: dict[str, str] = {}
    headerless: set[int] = set()
    for index, cell in enumerate(header):
        text = _text(cell)
        letter = get_column_letter(index + 1)
        if not text:
            headerless.add(index)
            continue
        column = spec.match(text)
        if column is None:
            problems.append(
                ImportProblem(
                    _("Unknown column “%(header)s”; see the template for the column names.")
                    % {"header": text},
                    sheet=spec.name,
                    row=1,
                    column=letter,
                    header=text,
                )
            )
        elif column.key in positions:
            problems.append(
                ImportProblem(
                    _("The column appears twice (also column %(other)s).")
                    % {"other": letters[column.key]},
                    sheet=spec.name,
                    row=1,
                    column=letter,
                    header=column.header,
                )
            )
        else:
            positions[column.key] = index
            letters[column.key] = letter
    for column in spec.columns:
        if column.required and column.key not in positions:
            problems.append(
                ImportProblem(
                    _("The required column “%(header)s” is missing from the header row (row 1).")
                    % {"header": column.header},
                    sheet=spec.name,
                )
            )
    data = SheetData(spec, letters, [])
    if not positions:
        return data
    reported_headerless: set[int] = set()
    for number, values in enumerate(rows, start=2):
        if number > MAX_SCANNED_ROWS + 1:
            problems.append(_too_many_rows(spec))
            break
        texts = {
            key: _text(values[index]) if index < len(values) else ""
            for key, index in positions.items()
        }
        for index, value in enumerate(values):
            outside = index >= len(header) or index in headerless
            if outside and index not in reported_headerless and _text(value):
                reported_headerless.add(index)
                problems.append(
                    ImportProblem(
                        _("This column has data but no header in row 1."),
                        sheet=spec.name,
                        row=number,
                        column=get_column_letter(index + 1),
                        header="",
                    )
                )
        if not any(texts.values()):
            continue  # blank rows are skipped
        if len(data.rows) >= MAX_ROWS_PER_SHEET:
            problems.append(_too_many_rows(spec))
            break
        data.rows.append(SheetRow(number, texts))
    return data


def _too_many_rows(spec: SheetSpec) -> ImportProblem:
    return ImportProblem(
        _("More than %(count)d rows; split the workbook into several imports.")
        % {"count": MAX_ROWS_PER_SHEET},
        sheet=spec.name,
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


class _Checker:
    def __init__(self, actor: Any, book: WorkbookData) -> None:
        self.actor = actor
        self.system = is_system(actor)
        self.book = book
        self.problems: list[ImportProblem] = []
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

    def error(self, spec: SheetSpec, row: SheetRow, key: str, message: str) -> None:
        column = spec.column(key)
        self.problems.append(
            ImportProblem(
                message,
                sheet=spec.name,
                row=row.number,
                column=self.book.letter(spec, key),
                header=column.header,
            )
        )

    def check_fields(self, spec: SheetSpec, row: SheetRow) -> None:
        """Required values, lengths and the model fields' own validators (user name, email)."""
        for column in spec.columns:
            value = row.values.get(column.key, "")
            if not value:
                if column.required:
                    self.error(spec, row, column.key, _("This field is required."))
                continue
            model_field = column.validators_field()
            if model_field is not None:
                try:
                    model_field.run_validators(value)
                except ValidationError as error:
                    for message in error.messages:
                        self.error(spec, row, column.key, message)
            elif column.max_length is not None and len(value) > column.max_length:
                self.error(
                    spec,
                    row,
                    column.key,
                    _("At most %(limit)d characters (this value has %(count)d).")
                    % {"limit": column.max_length, "count": len(value)},
                )

    def check_unique_in_file(
        self,
        spec: SheetSpec,
        rows: list[SheetRow],
        key: str,
        normalise: Callable[[str], Any] = lambda value: value,
    ) -> None:
        seen: dict[Any, int] = {}
        for row in rows:
            value = row.values.get(key, "")
            if not value:
                continue
            normalised = normalise(value)
            if normalised in seen:
                self.error(
                    spec,
                    row,
                    key,
                    _("Duplicate: “%(value)s” is also on row %(row)d.")
                    % {"value": value, "row": seen[normalised]},
                )
            else:
                seen[normalised] = row.number

    def already_exists(self, spec: SheetSpec, row: SheetRow, key: str) -> None:
        self.error(
            spec,
            row,
            key,
            _("“%(value)s” already exists; the import only creates new records.")
            % {"value": row.values[key]},
        )

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
            raise WorkbookRejected(sorted(self.problems, key=_problem_order))
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


def _problem_order(problem: ImportProblem) -> tuple[int, int, int, str]:
    sheet = next((i for i, s in enumerate(SHEETS) if s.name == problem.sheet), -1)
    return (sheet, problem.row or 0, len(problem.column), problem.column)


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


class _ApplyFailed(Exception):
    def __init__(self, problems: list[ImportProblem]) -> None:
        super().__init__("import failed")
        self.problems = problems


def _service_problems(
    spec: SheetSpec, row: SheetRow, book: WorkbookData, error: ApplicationError, default: str
) -> list[ImportProblem]:
    """A service's refusal as problems of the row, in the columns its fields came from."""
    problems = []
    keys = {column.key for column in spec.columns}
    for name, messages in error.fields.items():
        key = _FIELD_COLUMNS[spec.key].get(name.removesuffix("_id"), name.removesuffix("_id"))
        if key not in keys:
            continue
        for message in messages:
            problems.append(
                ImportProblem(
                    message or error.message,
                    sheet=spec.name,
                    row=row.number,
                    column=book.letter(spec, key),
                    header=spec.column(key).header,
                )
            )
    if not problems:
        column = spec.column(default) if default else None
        problems.append(
            ImportProblem(
                error.message,
                sheet=spec.name,
                row=row.number,
                column=book.letter(spec, default) if column else "",
                header=column.header if column else "",
            )
        )
    return problems


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
    try:
        return service(**arguments)
    except ApplicationError as error:
        raise _ApplyFailed(_service_problems(spec, row, book, error, default_column)) from error
    except IntegrityError as error:
        message = _(
            "Conflicts with a record saved by someone else meanwhile; check and import again."
        )
        raise _ApplyFailed([ImportProblem(message, sheet=spec.name, row=row.number)]) from error


def org_workbook_apply(*, plan: ImportPlan, book: WorkbookData) -> ImportCounts:
    """Write the plan in one transaction through the services; all or nothing."""
    try:
        _apply(plan, book)
    except _ApplyFailed as failure:
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
    说明 sheet describing every column in Chinese and English."""
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"in_memory": True})
    header = workbook.add_format(
        {"bold": True, "bg_color": "#DDEBF7", "border": 1, "num_format": "@"}
    )
    required = workbook.add_format(
        {
            "bold": True,
            "bg_color": "#DDEBF7",
            "border": 1,
            "font_color": "#C00000",
            "num_format": "@",
        }
    )
    text = workbook.add_format({"num_format": "@"})
    example = workbook.add_format({"num_format": "@", "italic": True, "font_color": "#808080"})
    with translation.override("en"):
        for spec in SHEETS:
            sheet = workbook.add_worksheet(spec.name)
            for index, column in enumerate(spec.columns):
                width = max(12, 2 * len(column.header) + 4)
                sheet.set_column(index, index, width, text)  # text: keeps 0012 and phone numbers
                sheet.write_string(0, index, column.header, required if column.required else header)
                sheet.write_comment(
                    0,
                    index,
                    f"{'必填 ' if column.required else ''}{column.help_zh}\n"
                    f"{column.label}{' (required)' if column.required else ''}: {column.help}",
                    {"x_scale": 2, "y_scale": 1.5},
                )
            for row_index, values in enumerate(spec.examples, start=1):
                for index, value in enumerate(values):
                    sheet.write_string(row_index, index, value, example)
            sheet.freeze_panes(1, 0)
        _write_explanation(workbook, header, required)
    workbook.close()
    return output.getvalue()


def _write_explanation(workbook: Any, header: Any, required: Any) -> None:
    sheet = workbook.add_worksheet("说明")
    bold = workbook.add_format({"bold": True})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    sheet.set_column(0, 0, 10)
    sheet.set_column(1, 1, 18)
    sheet.set_column(2, 2, 8)
    sheet.set_column(3, 4, 60)
    lines = [
        "组织导入模板 / Organisation import template",
        "1. 第一行为表头，请勿修改；灰色斜体行为示例，导入前请删除。 "
        "Row 1 holds the headers; delete the grey example rows before importing.",
        "2. 全部校验通过才会导入；任何一行有误则不写入任何数据。 "
        "All or nothing: if any row has a problem, nothing is written.",
        "3. 只新增，不更新：已存在的编码、登录名、工号视为错误。 "
        "Create-only: existing codes, user names and employee numbers are errors.",
        "4. 红色表头为必填列；可引用系统中已有的单位、部门，或本文件中定义的单位、部门。 "
        "Red headers are required; codes may refer to existing records or to rows of this file.",
        f"5. 文件不超过 {MAX_FILE_BYTES // 2**20} MB，每个工作表不超过 {MAX_ROWS_PER_SHEET} 行。 "
        f"At most {MAX_FILE_BYTES // 2**20} MB and {MAX_ROWS_PER_SHEET} rows per sheet.",
    ]
    for index, line in enumerate(lines):
        sheet.write_string(index, 0, line, bold if index == 0 else None)
    row = len(lines) + 1
    for index, title in enumerate(
        ("工作表 Sheet", "表头 Header", "必填 Required", "说明", "Description")
    ):
        sheet.write_string(row, index, title, header)
    for spec in SHEETS:
        for column in spec.columns:
            row += 1
            sheet.write_string(row, 0, spec.name)
            sheet.write_string(row, 1, column.header, required if column.required else None)
            sheet.write_string(row, 2, "是 yes" if column.required else "")
            sheet.write_string(row, 3, column.help_zh, wrap)
            sheet.write_string(row, 4, f"{column.label}: {column.help}", wrap)
    row += 2
    sheet.write_string(row, 0, "角色 Roles", bold)
    for role_code, role_name in _role_names():
        row += 1
        sheet.write_string(row, 0, role_code)
        sheet.write_string(row, 1, role_name)
        sheet.write_string(
            row, 3, str(RoleCode(role_code).label) if role_code in RoleCode.values else ""
        )


def _role_names() -> Iterable[tuple[str, str]]:
    return [(role.code, role.name) for role in Role.objects.all()]

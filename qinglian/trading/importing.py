"""Import partners and commodities from an Excel workbook, all or nothing.

The same three steps as every import built on qinglian.core.workbook:

1. `master_workbook_read` turns the upload into rows, or refuses the file;
2. `master_workbook_check` checks every row (values, duplicates in the file and in the
   database, the importer's right to edit the owning company's master data) and collects every
   problem by sheet, row and column;
3. `master_workbook_apply` writes through the master-data services in one transaction, so each
   record is validated again and audited; any refusal rolls the whole import back.

Create-only: a partner or commodity code that already exists for the owning company is an
error. Imported partners are not admitted and have no credit (admission and credit go through
their approvals). The layout is documented in docs/trading-import.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.core.errors import PermissionDenied
from qinglian.core.uscc import check_character
from qinglian.core.workbook import (
    MAX_FILE_BYTES,
    MAX_ROWS_PER_SHEET,
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
from qinglian.org.models import Company

from .enums import PartnerKind
from .models import Commodity, Partner
from .permissions import (
    TradingAction,
    can_edit_master_data,
    companies_for,
    master_data_company_ids,
)
from .services import master as services

# ---------------------------------------------------------------- the workbook layout


def _example_uscc(serial: int) -> str:
    first17 = f"91310115MA1H{serial:05d}"
    return first17 + check_character(first17)


COMPANY_CODE = Column(
    "company_code",
    "所属单位编码",
    gettext_lazy("Owning company code"),
    gettext_lazy(
        "Code of the company that owns the record, normally the group's: it is shared with "
        "every company below it. You must edit master data there."
    ),
    "拥有该记录的单位编码，通常为集团编码：记录由其下属单位共享。导入人须有该单位的主数据维护权限。",
    required=True,
    max_length=32,
)

PARTNERS = SheetSpec(
    key="partners",
    name="合作方",
    label=gettext_lazy("Partners"),
    columns=(
        COMPANY_CODE,
        Column(
            "code",
            "编码",
            gettext_lazy("Code"),
            gettext_lazy("Unique within the owning company; letters, digits and . _ -, ≤ 40."),
            "在所属单位内唯一；字母、数字及 . _ -，最多 40 个字符。",
            required=True,
        ),
        Column(
            "name",
            "名称",
            gettext_lazy("Name"),
            gettext_lazy("Full registered name, up to 200 characters."),
            "单位全称，最多 200 个字符。",
            required=True,
        ),
        Column(
            "kind",
            "类型",
            gettext_lazy("Kind"),
            gettext_lazy("供应商 (supplier), 客户 (customer) or 供应商和客户 (both)."),
            "供应商、客户 或 供应商和客户。",
            required=True,
        ),
        Column(
            "uscc",
            "统一社会信用代码",
            gettext_lazy("Unified social credit code"),
            gettext_lazy(
                "18 characters including the check character; needed before a supplier can "
                "apply for admission. Unique across the group."
            ),
            "18 位，含校验位；供应商申请准入前必须填写。集团内不得重复。",
        ),
        Column(
            "bank_name",
            "开户银行",
            gettext_lazy("Bank"),
            gettext_lazy("Optional, up to 100 characters."),
            "可选，最多 100 个字符。",
        ),
        Column(
            "bank_account",
            "银行账号",
            gettext_lazy("Bank account"),
            gettext_lazy("Optional: 6 to 40 digits (spaces and dashes are removed)."),
            "可选：6 至 40 位数字（空格和短横线会被去除）。",
        ),
        Column(
            "phone",
            "电话",
            gettext_lazy("Phone"),
            gettext_lazy("Optional: digits, spaces, + - ( ) and 转 for an extension."),
            "可选：数字、空格、+ - ( ) 及“转”（分机）。",
        ),
        Column(
            "address",
            "地址",
            gettext_lazy("Address"),
            gettext_lazy("Optional, up to 255 characters."),
            "可选，最多 255 个字符。",
        ),
        Column(
            "contact_name",
            "联系人",
            gettext_lazy("Contact"),
            gettext_lazy("Optional: one contact person (add more on the partner's page)."),
            "可选：一位联系人（更多联系人请在合作方页面添加）。",
        ),
        Column(
            "contact_position",
            "联系人职务",
            gettext_lazy("Contact's position"),
            gettext_lazy("Optional, up to 60 characters; needs a contact."),
            "可选，最多 60 个字符；须同时填写联系人。",
        ),
        Column(
            "contact_phone",
            "联系人电话",
            gettext_lazy("Contact's phone"),
            gettext_lazy("Optional; needs a contact."),
            "可选；须同时填写联系人。",
        ),
        Column(
            "contact_email",
            "联系人邮箱",
            gettext_lazy("Contact's e-mail"),
            gettext_lazy("Optional; needs a contact."),
            "可选；须同时填写联系人。",
        ),
    ),
    examples=(
        (
            "G",
            "S001",
            "华北钢铁贸易有限公司",
            "供应商",
            _example_uscc(1),
            "中国工商银行天津分行",
            "0302 0012 3456 7890 123",
            "022-23456789",
            "天津市河西区友谊路 1 号",
            "张伟",
            "销售经理",
            "13800138001",
            "zhangwei@example.com",
        ),
        ("G", "C001", "东海建材有限公司", "客户", _example_uscc(2), "", "", "", "", "", "", "", ""),
    ),
)

COMMODITIES = SheetSpec(
    key="commodities",
    name="商品",
    label=gettext_lazy("Commodities"),
    columns=(
        COMPANY_CODE,
        Column(
            "code",
            "编码",
            gettext_lazy("Code"),
            gettext_lazy("Unique within the owning company; letters, digits and . _ -, ≤ 40."),
            "在所属单位内唯一；字母、数字及 . _ -，最多 40 个字符。",
            required=True,
        ),
        Column(
            "name",
            "名称",
            gettext_lazy("Name"),
            gettext_lazy("Up to 100 characters."),
            "最多 100 个字符。",
            required=True,
        ),
        Column(
            "spec",
            "规格",
            gettext_lazy("Specification"),
            gettext_lazy("Optional, up to 100 characters (grade, size)."),
            "可选，最多 100 个字符（牌号、规格）。",
        ),
        Column(
            "unit",
            "单位",
            gettext_lazy("Unit"),
            gettext_lazy("Optional; t (tonnes) when blank. Up to 10 characters."),
            "可选；留空为 t（吨）。最多 10 个字符。",
        ),
        Column(
            "tolerance_percent",
            "磅差容差",
            gettext_lazy("Weighing tolerance (%)"),
            gettext_lazy("Optional, in percent from 0 to 100 (0.3 or 0.3%); 0.30 when blank."),
            "可选，百分数，0 至 100（填 0.3 或 0.3%）；留空为 0.30。",
        ),
        Column(
            "quantity_tolerance_percent",
            "数量容差",
            gettext_lazy("Contract quantity tolerance (%)"),
            gettext_lazy("Optional, in percent from 0 to 100 (5 or 5%); 5.00 when blank."),
            "可选，百分数，0 至 100（填 5 或 5%）；留空为 5.00。",
        ),
        Column(
            "tax_rate",
            "税率",
            gettext_lazy("VAT rate"),
            gettext_lazy("Optional: 0.13 or 13%; 13% when blank."),
            "可选：填 0.13 或 13%；留空为 13%。",
        ),
    ),
    examples=(
        ("G", "STEEL-HRB400-20", "螺纹钢", "HRB400 Φ20", "t", "0.3", "5", "13%"),
        ("G", "COAL-5500", "动力煤", "5500 大卡", "t", "0.5", "10", "13%"),
    ),
)

SHEETS: tuple[SheetSpec, ...] = (PARTNERS, COMMODITIES)

KIND_CHOICES: dict[str, str] = {
    "供应商": PartnerKind.SUPPLIER,
    "客户": PartnerKind.CUSTOMER,
    "供应商和客户": PartnerKind.BOTH,
    "供应商及客户": PartnerKind.BOTH,
    "两者": PartnerKind.BOTH,
    "supplier": PartnerKind.SUPPLIER,
    "customer": PartnerKind.CUSTOMER,
    "both": PartnerKind.BOTH,
}
CONTACT_COLUMNS = {
    "contact_name": "name",
    "contact_position": "position",
    "contact_phone": "phone",
    "contact_email": "email",
}

# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class ImportCounts:
    partners: int = 0
    contacts: int = 0
    commodities: int = 0


@dataclass(frozen=True)
class ImportResult:
    counts: ImportCounts
    problems: list[ImportProblem]
    dry_run: bool = False

    @property
    def is_success(self) -> bool:
        return not self.problems


def can_import_master_data(user: Any) -> bool:
    """Who may use the import: whoever edits partners or commodities somewhere."""
    return bool(
        companies_for(user, TradingAction.PARTNER_EDIT)
        or companies_for(user, TradingAction.COMMODITY_EDIT)
    )


# ---------------------------------------------------------------- step 1: reading


def master_workbook_read(source: bytes | IO[bytes], *, filename: str = "") -> WorkbookData:
    return read_workbook(
        source,
        sheets=SHEETS,
        filename=filename,
        max_bytes=MAX_FILE_BYTES,
        max_rows=MAX_ROWS_PER_SHEET,
    )


# ---------------------------------------------------------------- step 2: checking


@dataclass
class PartnerPlan:
    row: SheetRow
    company_id: int
    values: dict[str, Any]
    contact: dict[str, Any] | None


@dataclass
class CommodityPlan:
    row: SheetRow
    company_id: int
    values: dict[str, Any]


@dataclass
class ImportPlan:
    actor: Any
    partners: list[PartnerPlan]
    commodities: list[CommodityPlan]

    @property
    def counts(self) -> ImportCounts:
        return ImportCounts(
            partners=len(self.partners),
            contacts=sum(1 for plan in self.partners if plan.contact),
            commodities=len(self.commodities),
        )


class _Checker(Problems):
    def __init__(self, actor: Any, book: WorkbookData) -> None:
        super().__init__(book, SHEETS)
        self.actor = actor
        self.readable = master_data_company_ids(actor)
        codes = {
            row.values.get("company_code", "")
            for spec in SHEETS
            for row in book.rows(spec)
            if row.values.get("company_code")
        }
        self.companies = dict(
            Company.objects.filter(code__in=codes, pk__in=self.readable).values_list("code", "pk")
        )
        self.editable: dict[tuple[TradingAction, int], bool] = {}

    def problems_at(
        self,
        spec: SheetSpec,
        row: SheetRow,
        found: Mapping[str, list[str]],
        columns: Mapping[str, str],
    ) -> None:
        """A service-style problem dict (field -> messages) on the row's columns."""
        for name, messages in found.items():
            key = columns.get(name, name)
            for message in messages:
                self.error(spec, row, key if key in _keys(spec) else "", message)

    def company(self, spec: SheetSpec, row: SheetRow, action: TradingAction) -> int | None:
        code = row.values.get("company_code", "")
        if not code:
            return None  # reported as required
        company_id = self.companies.get(code)
        if company_id is None:
            self.error(
                spec,
                row,
                "company_code",
                _("No company with code “%(code)s” among those whose master data you see.")
                % {"code": code},
            )
            return None
        allowed = self.editable.get((action, company_id))
        if allowed is None:
            allowed = can_edit_master_data(self.actor, action, company_id)
            self.editable[action, company_id] = allowed
        if not allowed:
            self.error(
                spec,
                row,
                "company_code",
                _("You may not change master data of company “%(code)s”.") % {"code": code},
            )
            return None
        return company_id

    # ------------------------------------------------------------ partners

    def check_partners(self) -> list[PartnerPlan]:
        spec, rows = PARTNERS, self.book.rows(PARTNERS)
        plans: list[PartnerPlan] = []
        for row in rows:
            self.check_fields(spec, row)
            company_id = self.company(spec, row, TradingAction.PARTNER_EDIT)
            kind = self.choice(spec, row, "kind", KIND_CHOICES)
            values = {
                key: row.values.get(key, "")
                for key in ("code", "name", "uscc", "bank_name", "bank_account", "phone", "address")
            }
            clean, found = services.clean_partner_values({**values, "kind": kind or ""})
            found.pop("kind", None)  # the choice above names the accepted words
            for key in ("code", "name"):
                if not values[key]:
                    found.pop(key, None)  # "required" was reported by check_fields
            self.problems_at(spec, row, found, {})
            contact = self.check_contact(spec, row)
            row.values["uscc"] = clean.get("uscc", "")
            if company_id is not None and kind is not None:
                plans.append(PartnerPlan(row, company_id, {**clean, "kind": kind}, contact))
        self.check_unique_in_file(spec, rows, "uscc")
        self.check_partner_codes(spec, rows)
        self.check_existing_partners(spec, plans)
        return plans

    def check_contact(self, spec: SheetSpec, row: SheetRow) -> dict[str, Any] | None:
        values = {target: row.values.get(key, "") for key, target in CONTACT_COLUMNS.items()}
        if not any(values.values()):
            return None
        if not values["name"]:
            self.error(spec, row, "contact_name", _("Name the contact whose details are given."))
            return None
        found: dict[str, list[str]] = {}
        clean = services.clean_contact_values(values, found)
        self.problems_at(spec, row, found, {v: k for k, v in CONTACT_COLUMNS.items()})
        return clean

    def check_partner_codes(self, spec: SheetSpec, rows: list[SheetRow]) -> None:
        seen: dict[tuple[str, str], int] = {}
        for row in rows:
            key = (row.values.get("company_code", ""), row.values.get("code", ""))
            if not all(key):
                continue
            if key in seen:
                self.error(
                    spec,
                    row,
                    "code",
                    _("Duplicate: “%(value)s” is also on row %(row)d.")
                    % {"value": key[1], "row": seen[key]},
                )
            else:
                seen[key] = row.number

    def check_existing_partners(self, spec: SheetSpec, plans: list[PartnerPlan]) -> None:
        if not plans:
            return
        codes = {(plan.company_id, plan.values["code"]) for plan in plans}
        existing = set(
            Partner.objects.filter(
                company_id__in={company for company, _code in codes},
                code__in={code for _company, code in codes},
            ).values_list("company_id", "code")
        )
        usccs = {plan.values["uscc"] for plan in plans if plan.values.get("uscc")}
        registered: dict[str, list[tuple[int, str, str]]] = {}
        for uscc, company_id, code, name in Partner.objects.filter(uscc__in=usccs).values_list(
            "uscc", "company_id", "code", "name"
        ):
            registered.setdefault(uscc, []).append((company_id, code, name))
        families: dict[int, set[int]] = {}
        for plan in plans:
            if (plan.company_id, plan.values["code"]) in existing:
                self.already_exists(spec, plan.row, "code")
            partner_uscc = str(plan.values.get("uscc") or "")
            if not partner_uscc or partner_uscc not in registered:
                continue
            if plan.company_id not in families:
                families[plan.company_id] = services.partner_family_company_ids(plan.company_id)
            family = families[plan.company_id]
            for company_id, code, name in registered[partner_uscc]:
                if company_id in family:
                    self.error(
                        spec,
                        plan.row,
                        "uscc",
                        _("Already registered as partner %(code)s %(name)s.")
                        % {"code": code, "name": name},
                    )
                    break

    # ------------------------------------------------------------ commodities

    def check_commodities(self) -> list[CommodityPlan]:
        spec, rows = COMMODITIES, self.book.rows(COMMODITIES)
        plans: list[CommodityPlan] = []
        for row in rows:
            self.check_fields(spec, row)
            company_id = self.company(spec, row, TradingAction.COMMODITY_EDIT)
            numbers = {
                "tolerance_percent": self.decimal(
                    spec,
                    row,
                    "tolerance_percent",
                    places=2,
                    minimum=Decimal("0"),
                    maximum=Decimal("100"),
                    percent_sign="points",
                ),
                "quantity_tolerance_percent": self.decimal(
                    spec,
                    row,
                    "quantity_tolerance_percent",
                    places=2,
                    minimum=Decimal("0"),
                    maximum=Decimal("100"),
                    percent_sign="points",
                ),
                "tax_rate": self.decimal(
                    spec,
                    row,
                    "tax_rate",
                    places=4,
                    minimum=Decimal("0"),
                    maximum=Decimal("1"),
                    percent_sign="fraction",
                ),
            }
            defaults = {
                "tolerance_percent": Decimal("0.30"),
                "quantity_tolerance_percent": Decimal("5.00"),
                "tax_rate": Decimal("0.1300"),
            }
            failed = any(value is None and row.values.get(key) for key, value in numbers.items())
            values = {
                "code": row.values.get("code", ""),
                "name": row.values.get("name", ""),
                "spec": row.values.get("spec", ""),
                "unit": row.values.get("unit", "") or "t",
                **{
                    key: value if value is not None else defaults[key]
                    for key, value in numbers.items()
                },
            }
            clean, found = services.clean_commodity_values(values)
            for key in ("code", "name"):
                if not values[key]:
                    found.pop(key, None)
            self.problems_at(spec, row, found, {})
            if company_id is not None and not failed:
                plans.append(CommodityPlan(row, company_id, clean))
        self.check_commodity_codes(spec, rows, plans)
        return plans

    def check_commodity_codes(
        self, spec: SheetSpec, rows: list[SheetRow], plans: list[CommodityPlan]
    ) -> None:
        seen: dict[tuple[str, str], int] = {}
        for row in rows:
            key = (row.values.get("company_code", ""), row.values.get("code", ""))
            if not all(key):
                continue
            if key in seen:
                self.error(
                    spec,
                    row,
                    "code",
                    _("Duplicate: “%(value)s” is also on row %(row)d.")
                    % {"value": key[1], "row": seen[key]},
                )
            else:
                seen[key] = row.number
        if not plans:
            return
        existing = set(
            Commodity.objects.filter(
                company_id__in={plan.company_id for plan in plans},
                code__in={plan.values["code"] for plan in plans},
            ).values_list("company_id", "code")
        )
        for plan in plans:
            if (plan.company_id, plan.values["code"]) in existing:
                self.already_exists(spec, plan.row, "code")

    def plan(self) -> ImportPlan:
        partners = self.check_partners()
        commodities = self.check_commodities()
        self.raise_if_any()
        return ImportPlan(actor=self.actor, partners=partners, commodities=commodities)


def _keys(spec: SheetSpec) -> set[str]:
    return {column.key for column in spec.columns}


def master_workbook_check(*, actor: Any, book: WorkbookData) -> ImportPlan:
    """Validate every row; raises WorkbookRejected with all problems, writes nothing."""
    if not can_import_master_data(actor):
        raise PermissionDenied(
            _("Only those who maintain partners or commodities may import them.")
        )
    return _Checker(actor, book).plan()


# ---------------------------------------------------------------- step 3: applying

PARTNER_FIELD_COLUMNS = {
    "company": "company_code",
    **{f"contacts.1.{target}": key for key, target in CONTACT_COLUMNS.items()},
}
COMMODITY_FIELD_COLUMNS = {"company": "company_code"}


def master_workbook_apply(*, plan: ImportPlan, book: WorkbookData) -> ImportCounts:
    """Write the plan in one transaction through the services; all or nothing."""
    try:
        _apply(plan, book)
    except RowFailed as failure:
        raise WorkbookRejected(failure.problems) from failure
    return plan.counts


@transaction.atomic
def _apply(plan: ImportPlan, book: WorkbookData) -> None:
    for partner in plan.partners:
        call_for_row(
            book,
            PARTNERS,
            partner.row,
            services.partner_create,
            field_columns=PARTNER_FIELD_COLUMNS,
            actor=plan.actor,
            company_id=partner.company_id,
            contacts=[partner.contact] if partner.contact else [],
            **partner.values,
        )
    for commodity in plan.commodities:
        call_for_row(
            book,
            COMMODITIES,
            commodity.row,
            services.commodity_create,
            field_columns=COMMODITY_FIELD_COLUMNS,
            actor=plan.actor,
            company_id=commodity.company_id,
            **commodity.values,
        )


# ---------------------------------------------------------------- all three


def master_workbook_import(
    *, actor: Any, source: bytes | IO[bytes], filename: str = "", dry_run: bool = False
) -> ImportResult:
    """Read, check and (unless `dry_run`) write a workbook. Problems come back in the result;
    when there are any, nothing was written."""
    try:
        book = master_workbook_read(source, filename=filename)
        plan = master_workbook_check(actor=actor, book=book)
        if dry_run:
            return ImportResult(counts=plan.counts, problems=[], dry_run=True)
        counts = master_workbook_apply(plan=plan, book=book)
    except WorkbookRejected as rejected:
        return ImportResult(counts=ImportCounts(), problems=rejected.problems, dry_run=dry_run)
    return ImportResult(counts=counts, problems=[])


# ---------------------------------------------------------------- the template


def template_workbook() -> bytes:
    return write_template(
        SHEETS,
        title="合作方与商品导入模板 / Partners and commodities import template",
        notes=[
            "3. 只新增，不更新：所属单位下已存在的编码视为错误。"
            "导入的合作方为“未准入”、无信用额度；准入和信用调整须走审批。 "
            "Create-only: existing codes are errors. Imported partners are not admitted and "
            "have no credit; admission and credit go through approval.",
            "4. 红色表头为必填列；两个工作表可只填其一。 Red headers are required; either sheet "
            "may be left out.",
        ],
        max_bytes=MAX_FILE_BYTES,
        max_rows=MAX_ROWS_PER_SHEET,
    )


__all__ = [
    "COMMODITIES",
    "PARTNERS",
    "SHEETS",
    "ImportCounts",
    "ImportPlan",
    "ImportResult",
    "can_import_master_data",
    "master_workbook_apply",
    "master_workbook_check",
    "master_workbook_import",
    "master_workbook_read",
    "template_workbook",
]

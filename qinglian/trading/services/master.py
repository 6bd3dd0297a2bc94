"""Trading services: master data. Writes only; each service is atomic and audited.

Partners (suppliers, customers, both) and commodities are shared master data owned by a company,
normally the group: whoever holds the action's role in any company the record is shared with
edits it (`permissions.can_edit_master_data`). Warehouses belong to the company that runs them.

Supplier admission (供应商准入) is the only way a partner's `admission_status` moves
(ADMISSION_TRANSITIONS): an application (SupplierAdmission) is submitted to the approval flow
"trading_supplier_admission" (document type "trading.supplier_admission": the applicant's
superior, the legal reviewer, then the leader in charge); the partner is PENDING meanwhile and
becomes ADMITTED when the flow approves, NOT_ADMITTED again when it is rejected or withdrawn.
The sanction roles suspend, blacklist and reinstate, always with a reason.

A customer's credit terms (limit, payment days, grade) change only through an approved
CreditChange (flow "trading_credit_change", document type "trading.credit_change": finance, then
the general manager); the change keeps the values it replaced.

Locks: the partner row (select_for_update) guards every admission and credit move, so two
applications for one partner, or a sanction racing an approval, are serialised.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.approvals import services as approval_services
from qinglian.approvals.models import ApprovalRequest
from qinglian.approvals.registry import DocumentType, register_document_type
from qinglian.core import clock
from qinglian.core.audit import audit_record, diff_fields
from qinglian.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from qinglian.core.uscc import normalize_uscc, uscc_problem
from qinglian.org.enums import RoleCode
from qinglian.org.models import Company, User

from ..enums import (
    AdmissionStatus,
    ApprovalDocumentStatus,
    CreditGrade,
    PartnerKind,
    QualificationKind,
    TradingErrorCode,
    WarehouseKind,
)
from ..links import page_of
from ..models import (
    Commodity,
    CreditChange,
    Partner,
    PartnerContact,
    Qualification,
    SupplierAdmission,
    Warehouse,
)
from ..numbering import next_number
from ..permissions import (
    TradingAction,
    can,
    can_edit_master_data,
    can_read,
    master_data_company_ids,
)
from ..selectors.master import ADMISSION_QUALIFICATION_KIND, REQUIRED_QUALIFICATION_KINDS
from .warnings import warnings_refresh_after_commit

ADMISSION_DOCUMENT_TYPE = "trading.supplier_admission"
ADMISSION_FLOW_CODE = "trading_supplier_admission"
ADMISSION_PREFIX = "ZR"
CREDIT_DOCUMENT_TYPE = "trading.credit_change"
CREDIT_FLOW_CODE = "trading_credit_change"
CREDIT_PREFIX = "XY"
MONEY = Decimal("0.01")
PERCENT = Decimal("0.01")
RATE = Decimal("0.0001")
MAX_PAYMENT_DAYS = 3650
MAX_CREDIT_LIMIT = Decimal("9999999999999999.99")
MAX_SCAN_BYTES = 10 * 1024 * 1024
# Scans of licences and certificates: the extension and the file's first bytes must agree.
SCAN_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    ".pdf": (b"%PDF-",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".png": (b"\x89PNG\r\n\x1a\n",),
}
CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
PHONE_PATTERN = re.compile(r"[0-9+\-()（）\s/,，转]+")
BANK_ACCOUNT_PATTERN = re.compile(r"[0-9]{6,40}")

# ---------------------------------------------------------------- approval flows

SUPPLIER_ADMISSION_FLOW: dict[str, Any] = {
    "fields": [
        {"key": "title", "label": "标题", "type": "text", "required": True},
        {"key": "admission_number", "label": "申请编号", "type": "text", "required": True},
        {"key": "supplier", "label": "供应商", "type": "text", "required": True},
        {"key": "supplier_code", "label": "供应商编码", "type": "text", "required": True},
        {"key": "uscc", "label": "统一社会信用代码", "type": "text", "required": True},
        {"key": "reason", "label": "准入理由", "type": "textarea"},
        {
            "key": "qualifications",
            "label": "资质文件",
            "type": "rows",
            "columns": [
                {"key": "kind", "label": "类别", "type": "text", "required": True},
                {"key": "name", "label": "名称", "type": "text", "required": True},
                {"key": "number", "label": "证书编号", "type": "text"},
                {"key": "expires_on", "label": "有效期至", "type": "date"},
            ],
        },
    ],
    "route": [
        {
            "key": "department_head",
            "name": "采购部门负责人",
            "approver": {"kind": "department_head"},
            "time_limit_hours": 48,
        },
        {
            "key": "legal_review",
            "name": "法务审核",
            "approver": {"kind": "role", "role": RoleCode.LEGAL_REVIEWER.value},
            "time_limit_hours": 48,
        },
        {
            "key": "leader_in_charge",
            "name": "分管领导",
            "approver": {"kind": "leader_in_charge"},
            "time_limit_hours": 48,
        },
    ],
    "title_field": "title",
}

CREDIT_CHANGE_FLOW: dict[str, Any] = {
    "fields": [
        {"key": "title", "label": "标题", "type": "text", "required": True},
        {"key": "change_number", "label": "申请编号", "type": "text", "required": True},
        {"key": "customer", "label": "客户", "type": "text", "required": True},
        {"key": "current_limit", "label": "现信用额度", "type": "money", "required": True},
        {"key": "credit_limit", "label": "新信用额度", "type": "money", "required": True},
        {"key": "current_days", "label": "现账期（天）", "type": "number", "required": True},
        {"key": "payment_days", "label": "新账期（天）", "type": "number", "required": True},
        {"key": "current_grade", "label": "现信用等级", "type": "text"},
        {"key": "credit_grade", "label": "新信用等级", "type": "text"},
        {"key": "reason", "label": "调整理由", "type": "textarea"},
    ],
    "route": [
        {
            "key": "finance",
            "name": "财务审核",
            "approver": {"kind": "role", "role": RoleCode.FINANCE.value},
            "time_limit_hours": 48,
        },
        {
            "key": "general_manager",
            "name": "总经理审批",
            "approver": {"kind": "role", "role": RoleCode.GENERAL_MANAGER.value},
            "time_limit_hours": 48,
        },
    ],
    "title_field": "title",
    "amount_field": "credit_limit",
}

# Approval flows this area ships (kwargs of approvals.services.template_save, minus actor).
APPROVAL_FLOWS: list[dict[str, Any]] = [
    {
        "code": ADMISSION_FLOW_CODE,
        "name": "供应商准入审批",
        "category": "购销存",
        "description": (
            "供应商准入申请（附营业执照等资质文件）：采购部门负责人 → 法务审核 → 分管领导。"
            "审批通过后供应商准入，方可出现在采购合同上。"
        ),
        "document_type": ADMISSION_DOCUMENT_TYPE,
        "definition": SUPPLIER_ADMISSION_FLOW,
    },
    {
        "code": CREDIT_FLOW_CODE,
        "name": "客户信用调整审批",
        "category": "购销存",
        "description": (
            "客户信用额度、账期、信用等级调整：财务审核 → 总经理审批。审批通过后生效，"
            "调整前的数值保留在申请单上。"
        ),
        "document_type": CREDIT_DOCUMENT_TYPE,
        "definition": CREDIT_CHANGE_FLOW,
    },
]

# ---------------------------------------------------------------- transition maps

# The partner's admission status: every move goes through one of the admission services.
ADMISSION_TRANSITIONS: dict[str, frozenset[str]] = {
    AdmissionStatus.NOT_ADMITTED: frozenset({AdmissionStatus.PENDING, AdmissionStatus.BLACKLISTED}),
    AdmissionStatus.PENDING: frozenset(
        {AdmissionStatus.ADMITTED, AdmissionStatus.NOT_ADMITTED, AdmissionStatus.BLACKLISTED}
    ),
    AdmissionStatus.ADMITTED: frozenset({AdmissionStatus.SUSPENDED, AdmissionStatus.BLACKLISTED}),
    AdmissionStatus.SUSPENDED: frozenset({AdmissionStatus.ADMITTED, AdmissionStatus.BLACKLISTED}),
    AdmissionStatus.BLACKLISTED: frozenset({AdmissionStatus.NOT_ADMITTED}),
}

# Applications (admissions, credit changes): draft → pending → approved / rejected; withdrawn
# goes back to draft; a draft can be cancelled.
REQUEST_TRANSITIONS: dict[str, frozenset[str]] = {
    ApprovalDocumentStatus.DRAFT: frozenset(
        {ApprovalDocumentStatus.PENDING, ApprovalDocumentStatus.CANCELLED}
    ),
    ApprovalDocumentStatus.PENDING: frozenset(
        {
            ApprovalDocumentStatus.APPROVED,
            ApprovalDocumentStatus.REJECTED,
            ApprovalDocumentStatus.DRAFT,
        }
    ),
}
OPEN_REQUEST_STATUSES = (ApprovalDocumentStatus.DRAFT, ApprovalDocumentStatus.PENDING)


def _move_admission(partner: Partner, target: str) -> str:
    before = partner.admission_status
    if target not in ADMISSION_TRANSITIONS.get(before, frozenset()):
        raise InvalidTransition(
            _("A supplier that is “%(current)s” cannot become “%(target)s”.")
            % {
                "current": AdmissionStatus(before).label,
                "target": AdmissionStatus(target).label,
            }
        )
    partner.admission_status = target
    return before


def _move_request(document: SupplierAdmission | CreditChange, target: str) -> str:
    before = document.status
    if target not in REQUEST_TRANSITIONS.get(before, frozenset()):
        raise InvalidTransition(
            _("An application that is “%(current)s” cannot become “%(target)s”.")
            % {
                "current": ApprovalDocumentStatus(before).label,
                "target": ApprovalDocumentStatus(target).label,
            }
        )
    document.status = target
    return before


# ---------------------------------------------------------------- helpers


def _invalid(fields: dict[str, list[str]], message: str = "") -> ValidationFailed:
    return ValidationFailed(message or _("Please correct the highlighted fields."), fields=fields)


def _check_version(instance: Any, expected_version: int | None) -> None:
    if expected_version is not None and instance.version != expected_version:
        raise Conflict(
            _("Someone else changed this record meanwhile; reload and try again."),
            code=TradingErrorCode.STALE_VERSION,
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, (Decimal, datetime.date)):
        return str(value)
    return value


def _snapshot(instance: Model, fields: Iterable[str]) -> dict[str, Any]:
    return {name: _jsonable(getattr(instance, name)) for name in fields}


def _user_or_none(actor: Any) -> Any:
    return actor if isinstance(actor, User) else None


def _text(
    values: Mapping[str, Any],
    name: str,
    problems: dict[str, list[str]],
    *,
    limit: int,
    required: bool = False,
) -> str:
    value = str(values.get(name) or "").strip()
    if required and not value:
        problems.setdefault(name, []).append(_("This field is required."))
    elif len(value) > limit:
        problems.setdefault(name, []).append(
            _("At most %(limit)d characters (this value has %(count)d).")
            % {"limit": limit, "count": len(value)}
        )
    return value


def _decimal(
    value: Any,
    name: str,
    problems: dict[str, list[str]],
    *,
    places: Decimal,
    minimum: Decimal,
    maximum: Decimal,
) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        problems.setdefault(name, []).append(_("Not a number."))
        return minimum
    if not number.is_finite():
        problems.setdefault(name, []).append(_("Not a number."))
        return minimum
    if number < minimum or number > maximum:
        problems.setdefault(name, []).append(
            _("Must be between %(minimum)s and %(maximum)s.")
            % {"minimum": minimum, "maximum": maximum}
        )
        return minimum
    if number != number.quantize(places):
        problems.setdefault(name, []).append(
            _("At most %(places)d decimal places.") % {"places": len(str(places).partition(".")[2])}
        )
        return minimum
    return number.quantize(places)


def _date(value: Any, name: str, problems: dict[str, list[str]]) -> datetime.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        problems.setdefault(name, []).append(_("Not a date (YYYY-MM-DD)."))
        return None


def partner_family_company_ids(company_id: int) -> set[int]:
    """The company, its ancestors and its subtree: where one partner must not appear twice."""
    path = Company.objects.filter(pk=company_id).values_list("path", flat=True).first() or ""
    ancestors = {int(part) for part in path.strip("/").split("/") if part}
    below = set(Company.objects.filter(path__startswith=path).values_list("pk", flat=True))
    return ancestors | below | {company_id}


# ---------------------------------------------------------------- partners

PARTNER_FIELDS = (
    "code",
    "name",
    "uscc",
    "kind",
    "bank_name",
    "bank_account",
    "phone",
    "address",
    "is_active",
)


def _require_master_editor(actor: Any, action: TradingAction, owner_company_id: int) -> None:
    if not can_edit_master_data(actor, action, owner_company_id):
        raise PermissionDenied(
            _("You may read this master data but not change it.")
            if owner_company_id in master_data_company_ids(actor)
            else _("You may not change master data of this company.")
        )


def _partner_for(actor: Any, partner_id: int, *, lock: bool = True) -> Partner:
    """A partner the actor reads (else "not found"), locked for the change."""
    partners = Partner.objects.select_for_update() if lock else Partner.objects.all()
    partner = partners.filter(pk=partner_id).first()
    if partner is None or partner.company_id not in master_data_company_ids(actor):
        raise NotFound(_("Partner not found."))
    return partner


def _clean_phone(value: str, name: str, problems: dict[str, list[str]]) -> str:
    if value and (not PHONE_PATTERN.fullmatch(value) or sum(char.isdigit() for char in value) < 5):
        problems.setdefault(name, []).append(
            _("Not a phone number (digits, spaces, + - ( ) and 转 for an extension).")
        )
    return value


def clean_partner_values(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Normalise and check partner fields present in `values`; (clean values, problems)."""
    problems: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    limits = {"code": 40, "name": 200, "bank_name": 100, "address": 255, "phone": 30}
    for name, limit in limits.items():
        if name in values:
            clean[name] = _text(
                values, name, problems, limit=limit, required=name in ("code", "name")
            )
    if clean.get("code") and not CODE_PATTERN.fullmatch(clean["code"]):
        problems.setdefault("code", []).append(
            _("Letters, digits and . _ - only, starting with a letter or digit.")
        )
    if "phone" in clean:
        _clean_phone(clean["phone"], "phone", problems)
    if "uscc" in values:
        clean["uscc"] = normalize_uscc(str(values.get("uscc") or ""))
        if clean["uscc"]:
            problem = uscc_problem(clean["uscc"])
            if problem:
                problems.setdefault("uscc", []).append(problem)
    if "bank_account" in values:
        account = re.sub(r"[\s\-]", "", str(values.get("bank_account") or ""))
        if account and not BANK_ACCOUNT_PATTERN.fullmatch(account):
            problems.setdefault("bank_account", []).append(
                _("A bank account number has 6 to 40 digits.")
            )
        clean["bank_account"] = account
    if "kind" in values:
        clean["kind"] = str(values.get("kind") or "")
        if clean["kind"] not in PartnerKind.values:
            problems.setdefault("kind", []).append(_("Choose supplier, customer or both."))
    if "is_active" in values:
        clean["is_active"] = bool(values.get("is_active"))
    return clean, problems


def _check_partner_unique(
    company_id: int, values: Mapping[str, Any], problems: dict[str, list[str]], *, exclude: int
) -> None:
    code = values.get("code")
    if (
        code
        and Partner.objects.filter(company_id=company_id, code=code).exclude(pk=exclude).exists()
    ):
        problems.setdefault("code", []).append(
            _("A partner with code “%(code)s” already exists.") % {"code": code}
        )
    uscc = values.get("uscc")
    if uscc and "uscc" not in problems:
        other = (
            Partner.objects.filter(uscc=uscc, company_id__in=partner_family_company_ids(company_id))
            .exclude(pk=exclude)
            .first()
        )
        if other is not None:
            problems.setdefault("uscc", []).append(
                _("Already registered as partner %(code)s %(name)s.")
                % {"code": other.code, "name": other.name}
            )


def _duplicate(error: IntegrityError) -> ValidationFailed:
    return ValidationFailed(
        _("A partner with this code or credit code was saved meanwhile."),
        code=TradingErrorCode.DUPLICATE,
        fields={"code": [_("Already exists.")]},
    )


@transaction.atomic
def partner_create(
    *,
    actor: Any,
    company_id: int,
    code: str,
    name: str,
    kind: str,
    uscc: str = "",
    bank_name: str = "",
    bank_account: str = "",
    phone: str = "",
    address: str = "",
    contacts: Iterable[Mapping[str, Any]] = (),
) -> Partner:
    """Register a partner owned by `company_id` (normally the group), not admitted, with no
    credit; `contacts` are added with it."""
    _require_master_editor(actor, TradingAction.PARTNER_EDIT, company_id)
    values = {
        "code": code,
        "name": name,
        "kind": kind,
        "uscc": uscc,
        "bank_name": bank_name,
        "bank_account": bank_account,
        "phone": phone,
        "address": address,
    }
    clean, problems = clean_partner_values(values)
    contact_rows = [
        clean_contact_values(row, problems, prefix=f"contacts.{i}.")
        for i, row in enumerate(contacts, start=1)
    ]
    _check_partner_unique(company_id, clean, problems, exclude=0)
    if problems:
        raise _invalid(problems)
    partner = Partner(company_id=company_id, created_by=_user_or_none(actor), **clean)
    try:
        with transaction.atomic():
            partner.save()
    except IntegrityError as error:
        raise _duplicate(error) from error
    for row in contact_rows:
        PartnerContact.objects.create(partner=partner, **row)
    audit_record(
        actor=actor,
        action="trading.partner.created",
        company_id=company_id,
        target=partner,
        changes={
            **{key: [None, _jsonable(value)] for key, value in clean.items() if value},
            **({"contacts": [None, [row["name"] for row in contact_rows]]} if contact_rows else {}),
        },
    )
    return partner


@transaction.atomic
def partner_update(
    *, actor: Any, partner_id: int, expected_version: int | None = None, **changes: Any
) -> Partner:
    """Change a partner's profile (not its admission or credit: those have their own
    services). `expected_version` is the version the form was drawn from."""
    unknown = set(changes) - set(PARTNER_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown fields: %s") % ", ".join(sorted(unknown)))
    partner = _partner_for(actor, partner_id)
    _require_master_editor(actor, TradingAction.PARTNER_EDIT, partner.company_id)
    _check_version(partner, expected_version)
    clean, problems = clean_partner_values(changes)
    _check_partner_unique(partner.company_id, clean, problems, exclude=partner.pk)
    if (
        clean.get("kind") == PartnerKind.CUSTOMER
        and partner.admission_status == AdmissionStatus.PENDING
    ):
        problems.setdefault("kind", []).append(
            _("An admission application is under way; it must be decided first.")
        )
    if problems:
        raise _invalid(problems)
    before = _snapshot(partner, PARTNER_FIELDS)
    for field, value in clean.items():
        setattr(partner, field, value)
    delta = diff_fields(before, _snapshot(partner, PARTNER_FIELDS))
    if not delta:
        return partner
    partner.version += 1
    try:
        with transaction.atomic():
            partner.save()
    except IntegrityError as error:
        raise _duplicate(error) from error
    audit_record(
        actor=actor,
        action="trading.partner.updated",
        company_id=partner.company_id,
        target=partner,
        changes=delta,
    )
    return partner


# ---------------------------------------------------------------- contacts

CONTACT_FIELDS = ("name", "position", "phone", "email")


def clean_contact_values(
    values: Mapping[str, Any], problems: dict[str, list[str]], *, prefix: str = ""
) -> dict[str, Any]:
    found: dict[str, list[str]] = {}
    clean = {
        "name": _text(values, "name", found, limit=60, required=True),
        "position": _text(values, "position", found, limit=60),
        "phone": _text(values, "phone", found, limit=30),
        "email": _text(values, "email", found, limit=254),
    }
    _clean_phone(clean["phone"], "phone", found)
    if clean["email"]:
        try:
            validate_email(clean["email"])
        except ValidationError:
            found.setdefault("email", []).append(_("Not a valid e-mail address."))
    for name, messages in found.items():
        problems.setdefault(f"{prefix}{name}", []).extend(messages)
    return clean


def _contact_for(actor: Any, contact_id: int) -> tuple[PartnerContact, Partner]:
    contact = PartnerContact.objects.filter(pk=contact_id).first()
    if contact is None:
        raise NotFound(_("Contact not found."))
    partner = _partner_for(actor, contact.partner_id)
    _require_master_editor(actor, TradingAction.PARTNER_EDIT, partner.company_id)
    return contact, partner


@transaction.atomic
def partner_contact_add(
    *,
    actor: Any,
    partner_id: int,
    name: str,
    position: str = "",
    phone: str = "",
    email: str = "",
) -> PartnerContact:
    partner = _partner_for(actor, partner_id)
    _require_master_editor(actor, TradingAction.PARTNER_EDIT, partner.company_id)
    problems: dict[str, list[str]] = {}
    clean = clean_contact_values(
        {"name": name, "position": position, "phone": phone, "email": email}, problems
    )
    if problems:
        raise _invalid(problems)
    contact = PartnerContact.objects.create(partner=partner, **clean)
    audit_record(
        actor=actor,
        action="trading.partner_contact.added",
        company_id=partner.company_id,
        target=contact,
        changes={key: [None, value] for key, value in clean.items() if value},
    )
    return contact


@transaction.atomic
def partner_contact_update(*, actor: Any, contact_id: int, **changes: Any) -> PartnerContact:
    unknown = set(changes) - set(CONTACT_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown fields: %s") % ", ".join(sorted(unknown)))
    contact, partner = _contact_for(actor, contact_id)
    before = _snapshot(contact, CONTACT_FIELDS)
    problems: dict[str, list[str]] = {}
    clean = clean_contact_values({**before, **changes}, problems)
    if problems:
        raise _invalid(problems)
    for field, value in clean.items():
        setattr(contact, field, value)
    delta = diff_fields(before, _snapshot(contact, CONTACT_FIELDS))
    if not delta:
        return contact
    contact.save()
    audit_record(
        actor=actor,
        action="trading.partner_contact.updated",
        company_id=partner.company_id,
        target=contact,
        changes=delta,
    )
    return contact


@transaction.atomic
def partner_contact_remove(*, actor: Any, contact_id: int) -> None:
    contact, partner = _contact_for(actor, contact_id)
    audit_record(
        actor=actor,
        action="trading.partner_contact.removed",
        company_id=partner.company_id,
        target=contact,
        changes={key: [value, None] for key, value in _snapshot(contact, CONTACT_FIELDS).items()},
    )
    contact.delete()


# ---------------------------------------------------------------- qualifications

QUALIFICATION_FIELDS = ("kind", "name", "number", "issued_on", "expires_on")


def _check_scan(file: UploadedFile, problems: dict[str, list[str]]) -> None:
    name = (file.name or "").lower()
    extension = name[name.rfind(".") :] if "." in name else ""
    signatures = SCAN_SIGNATURES.get(extension)
    if signatures is None:
        problems.setdefault("file", []).append(_("Upload a PDF, JPEG or PNG scan."))
        return
    if file.size is not None and file.size > MAX_SCAN_BYTES:
        problems.setdefault("file", []).append(
            _("The scan is larger than %(size)d MB.") % {"size": MAX_SCAN_BYTES // 2**20}
        )
        return
    file.seek(0)
    head = file.read(16)
    file.seek(0)
    if not any(head.startswith(signature) for signature in signatures):
        problems.setdefault("file", []).append(
            _("The file's content does not match its type (%(extension)s).")
            % {"extension": extension}
        )


def _clean_qualification(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    problems: dict[str, list[str]] = {}
    kind = str(values.get("kind") or "")
    if kind not in QualificationKind.values:
        problems["kind"] = [_("Choose the kind of qualification.")]
    name = _text(values, "name", problems, limit=100)
    if not name and kind in QualificationKind.values:
        name = str(QualificationKind(kind).label)
    clean: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "number": _text(values, "number", problems, limit=60),
        "issued_on": _date(values.get("issued_on"), "issued_on", problems),
        "expires_on": _date(values.get("expires_on"), "expires_on", problems),
    }
    issued, expires = clean["issued_on"], clean["expires_on"]
    if issued and expires and expires < issued:
        problems.setdefault("expires_on", []).append(_("Cannot expire before it was issued."))
    return clean, problems


def _refuse_while_pending(partner: Partner) -> None:
    if partner.admission_status == AdmissionStatus.PENDING:
        raise Conflict(
            _(
                "An admission application is under approval with these qualifications; wait "
                "for its decision (or withdraw it) before changing them."
            ),
            code=TradingErrorCode.IMMUTABLE,
        )


@transaction.atomic
def qualification_add(
    *,
    actor: Any,
    partner_id: int,
    kind: str,
    name: str = "",
    number: str = "",
    issued_on: datetime.date | None = None,
    expires_on: datetime.date | None = None,
    file: UploadedFile | None = None,
) -> Qualification:
    partner = _partner_for(actor, partner_id)
    _require_master_editor(actor, TradingAction.PARTNER_EDIT, partner.company_id)
    clean, problems = _clean_qualification(
        {
            "kind": kind,
            "name": name,
            "number": number,
            "issued_on": issued_on,
            "expires_on": expires_on,
        }
    )
    if file is not None:
        _check_scan(file, problems)
    if problems:
        raise _invalid(problems)
    _refuse_while_pending(partner)
    qualification = Qualification(partner=partner, **clean)
    if file is not None:
        qualification.file.save(file.name or "scan", file, save=False)
    qualification.save()
    audit_record(
        actor=actor,
        action="trading.qualification.added",
        company_id=partner.company_id,
        target=qualification,
        changes={
            **{key: [None, _jsonable(value)] for key, value in clean.items() if value},
            **({"file": [None, qualification.file.name]} if file is not None else {}),
        },
    )
    warnings_refresh_after_commit(partner_ids=[partner.pk])
    return qualification


@transaction.atomic
def qualification_update(
    *,
    actor: Any,
    qualification_id: int,
    file: UploadedFile | None = None,
    remove_file: bool = False,
    **changes: Any,
) -> Qualification:
    unknown = set(changes) - set(QUALIFICATION_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown fields: %s") % ", ".join(sorted(unknown)))
    qualification = Qualification.objects.filter(pk=qualification_id).first()
    if qualification is None:
        raise NotFound(_("Qualification not found."))
    partner = _partner_for(actor, qualification.partner_id)
    _require_master_editor(actor, TradingAction.PARTNER_EDIT, partner.company_id)
    before = _snapshot(qualification, QUALIFICATION_FIELDS)
    clean, problems = _clean_qualification({**before, **changes})
    if file is not None:
        _check_scan(file, problems)
    if problems:
        raise _invalid(problems)
    _refuse_while_pending(partner)
    for field, value in clean.items():
        setattr(qualification, field, value)
    delta = diff_fields(before, _snapshot(qualification, QUALIFICATION_FIELDS))
    old_file = qualification.file.name or None
    if file is not None:
        qualification.file.save(file.name or "scan", file, save=False)
        delta["file"] = [old_file, qualification.file.name]
    elif remove_file and old_file:
        qualification.file = None
        delta["file"] = [old_file, None]
    if not delta:
        return qualification
    qualification.save()
    audit_record(
        actor=actor,
        action="trading.qualification.updated",
        company_id=partner.company_id,
        target=qualification,
        changes=delta,
    )
    warnings_refresh_after_commit(partner_ids=[partner.pk])
    return qualification


@transaction.atomic
def qualification_remove(*, actor: Any, qualification_id: int) -> None:
    """Delete a qualification record (its scan stays in storage for the audit trail)."""
    qualification = Qualification.objects.filter(pk=qualification_id).first()
    if qualification is None:
        raise NotFound(_("Qualification not found."))
    partner = _partner_for(actor, qualification.partner_id)
    _require_master_editor(actor, TradingAction.PARTNER_EDIT, partner.company_id)
    _refuse_while_pending(partner)
    audit_record(
        actor=actor,
        action="trading.qualification.removed",
        company_id=partner.company_id,
        target=qualification,
        changes={
            **{
                key: [value, None]
                for key, value in _snapshot(qualification, QUALIFICATION_FIELDS).items()
            },
            "file": [qualification.file.name or None, None],
        },
    )
    qualification.delete()
    warnings_refresh_after_commit(partner_ids=[partner.pk])


# ---------------------------------------------------------------- supplier admission


def _admission_for(actor: Any, admission_id: int) -> SupplierAdmission:
    admission = SupplierAdmission.objects.select_for_update().filter(pk=admission_id).first()
    if admission is None or not can_read(actor, admission.company_id):
        raise NotFound(_("Supplier admission not found."))
    if not can(actor, TradingAction.SUPPLIER_ADMISSION, admission.company_id):
        raise PermissionDenied(_("Only a purchaser of the applying company may do this."))
    return admission


def _applying_company(actor: Any, action: TradingAction, company_id: int | None) -> int:
    company_id = company_id if company_id is not None else getattr(actor, "company_id", None)
    if company_id is None or not can(actor, action, company_id):
        raise PermissionDenied(
            _("Only a purchaser of the applying company may apply for admission.")
            if action == TradingAction.SUPPLIER_ADMISSION
            else _("Only sales or finance staff of the company may propose credit terms.")
        )
    return company_id


def _partner_visible_to(partner: Partner, company_id: int) -> bool:
    """Is `partner` master data of `company_id` (owned by it or one of its ancestors)?"""
    path = Company.objects.filter(pk=company_id).values_list("path", flat=True).first() or ""
    return str(partner.company_id) in path.strip("/").split("/")


def _set_admission(
    partner: Partner,
    target: str,
    *,
    actor: Any,
    action: str,
    reason: str = "",
    today: datetime.date | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    before = _move_admission(partner, target)
    previous_reason = partner.admission_reason
    partner.admission_reason = reason[:255]
    if target == AdmissionStatus.ADMITTED:
        partner.admitted_on = today or clock.today()
    elif target == AdmissionStatus.NOT_ADMITTED:
        partner.admitted_on = None
    partner.version += 1
    partner.save(
        update_fields=[
            "admission_status",
            "admission_reason",
            "admitted_on",
            "version",
            "updated_at",
        ]
    )
    changes: dict[str, Any] = {"admission_status": [before, target]}
    if previous_reason != partner.admission_reason:
        changes["reason"] = [previous_reason or None, partner.admission_reason or None]
    if target == AdmissionStatus.ADMITTED:
        changes["admitted_on"] = [None, str(partner.admitted_on)]
    changes.update(extra or {})
    audit_record(
        actor=actor,
        action=action,
        company_id=partner.company_id,
        target=partner,
        changes=changes,
    )


@transaction.atomic
def supplier_admission_create(
    *, actor: Any, partner_id: int, reason: str = "", company_id: int | None = None
) -> SupplierAdmission:
    """A draft application to admit `partner_id`, made by a purchaser for their company."""
    company_id = _applying_company(actor, TradingAction.SUPPLIER_ADMISSION, company_id)
    partner = _partner_for(actor, partner_id)
    problems: dict[str, list[str]] = {}
    reason = _text({"reason": reason}, "reason", problems, limit=2000)
    if not _partner_visible_to(partner, company_id):
        raise NotFound(_("Partner not found."))
    if not partner.is_supplier:
        problems.setdefault("partner", []).append(_("Not a supplier."))
    elif partner.admission_status != AdmissionStatus.NOT_ADMITTED:
        problems.setdefault("partner", []).append(
            _("The supplier is “%(status)s”; only a supplier not admitted can apply.")
            % {"status": AdmissionStatus(partner.admission_status).label}
        )
    if not partner.is_active:
        problems.setdefault("partner", []).append(_("The partner is inactive."))
    if problems:
        raise _invalid(problems)
    _refuse_second_open(SupplierAdmission, partner)
    today = clock.today()
    admission = SupplierAdmission.objects.create(
        company_id=company_id,
        number=next_number(company_id=company_id, prefix=ADMISSION_PREFIX, day=today),
        partner=partner,
        reason=reason,
        applicant=actor,
    )
    audit_record(
        actor=actor,
        action="trading.supplier_admission.created",
        company_id=company_id,
        target=admission,
        changes={"partner": [None, partner.pk], "reason": [None, reason or None]},
    )
    return admission


def _refuse_second_open(
    model: type[SupplierAdmission] | type[CreditChange], partner: Partner
) -> None:
    """One open application of a kind per partner (the partner row is locked by the caller)."""
    other = model.objects.filter(partner=partner, status__in=OPEN_REQUEST_STATUSES).first()
    if other is not None:
        raise Conflict(
            _("Application %(number)s for this partner is still open.") % {"number": other.number},
            code=TradingErrorCode.DUPLICATE,
        )


@transaction.atomic
def supplier_admission_update(*, actor: Any, admission_id: int, reason: str) -> SupplierAdmission:
    """Change the reason of a draft application."""
    admission = _admission_for(actor, admission_id)
    if admission.status != ApprovalDocumentStatus.DRAFT:
        raise InvalidTransition(_("Only a draft application can be changed."))
    problems: dict[str, list[str]] = {}
    reason = _text({"reason": reason}, "reason", problems, limit=2000)
    if problems:
        raise _invalid(problems)
    if reason == admission.reason:
        return admission
    before = admission.reason
    admission.reason = reason
    admission.save(update_fields=["reason", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.supplier_admission.updated",
        company_id=admission.company_id,
        target=admission,
        changes={"reason": [before or None, reason or None]},
    )
    return admission


def _admission_problems(partner: Partner, today: datetime.date) -> dict[str, list[str]]:
    """What keeps an application from being submitted: a supplier without a credit code or a
    business licence on file, or with a required qualification already expired."""
    problems: dict[str, list[str]] = {}
    if not partner.uscc:
        problems["uscc"] = [_("Record the supplier's unified social credit code before applying.")]
    qualifications = list(partner.qualifications.all())
    if not any(q.kind == ADMISSION_QUALIFICATION_KIND for q in qualifications):
        problems.setdefault("qualifications", []).append(
            _("Add the supplier's business licence to its qualifications before applying.")
        )
    for qualification in qualifications:
        if (
            qualification.kind in REQUIRED_QUALIFICATION_KINDS
            and qualification.expires_on is not None
            and qualification.expires_on < today
        ):
            problems.setdefault("qualifications", []).append(
                _("“%(name)s” expired on %(date)s; renew it first.")
                % {"name": qualification.name, "date": qualification.expires_on.isoformat()}
            )
    return problems


def _admission_form(admission: SupplierAdmission, partner: Partner) -> dict[str, Any]:
    return {
        "title": f"供应商准入：{partner.name}"[:200],
        "admission_number": admission.number,
        "supplier": partner.name[:200],
        "supplier_code": partner.code,
        "uscc": partner.uscc,
        "reason": admission.reason[:5000],
        "qualifications": [
            {
                "kind": str(QualificationKind(q.kind).label)[:200],
                "name": q.name,
                "number": q.number,
                "expires_on": q.expires_on.isoformat() if q.expires_on else None,
            }
            for q in partner.qualifications.order_by("expires_on", "id")
        ],
    }


@transaction.atomic
def supplier_admission_submit(*, actor: Any, admission_id: int) -> SupplierAdmission:
    """Send a draft application to the supplier-admission flow; the supplier is PENDING until
    the flow decides."""
    admission = _admission_for(actor, admission_id)
    partner = _partner_for(actor, admission.partner_id)
    before = _move_request(admission, ApprovalDocumentStatus.PENDING)
    today = clock.today()
    problems = _admission_problems(partner, today)
    if not partner.is_active or not partner.is_supplier:
        problems.setdefault("partner", []).append(_("Not an active supplier."))
    if problems:
        raise _invalid(problems, _("The application cannot be submitted yet."))
    _set_admission(
        partner,
        AdmissionStatus.PENDING,
        actor=actor,
        action="trading.partner.admission_requested",
        reason=partner.admission_reason,
        extra={"application": [None, admission.number]},
    )
    admission.submitted_at = clock.now()
    admission.save(update_fields=["status", "submitted_at", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.supplier_admission.submitted",
        company_id=admission.company_id,
        target=admission,
        changes={"status": [before, admission.status]},
    )
    request = approval_services.request_submit(
        actor=actor,
        template_code=ADMISSION_FLOW_CODE,
        form_data=_admission_form(admission, partner),
        document_type=ADMISSION_DOCUMENT_TYPE,
        document_id=str(admission.pk),
    )
    # Every step may have been skipped, so the callback may already have decided the row.
    SupplierAdmission.objects.filter(pk=admission.pk).update(approval_request=request)
    admission.refresh_from_db()
    return admission


@transaction.atomic
def supplier_admission_cancel(*, actor: Any, admission_id: int) -> SupplierAdmission:
    admission = _admission_for(actor, admission_id)
    before = _move_request(admission, ApprovalDocumentStatus.CANCELLED)
    admission.decided_at = clock.now()
    admission.save(update_fields=["status", "decided_at", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.supplier_admission.cancelled",
        company_id=admission.company_id,
        target=admission,
        changes={"status": [before, admission.status]},
    )
    return admission


def _document_pk(request: ApprovalRequest) -> int:
    return int(request.document_id)


def _admission_decided(request: ApprovalRequest, actor: Any, target: str) -> None:
    """The engine's final decision on an application, inside its transaction."""
    admission = (
        SupplierAdmission.objects.select_for_update().filter(pk=_document_pk(request)).first()
    )
    if admission is None or admission.status != ApprovalDocumentStatus.PENDING:
        return
    partner = Partner.objects.select_for_update().get(pk=admission.partner_id)
    before = _move_request(admission, target)
    admission.approval_request = request
    if target != ApprovalDocumentStatus.DRAFT:
        admission.decided_at = clock.now()
    admission.save(update_fields=["status", "approval_request", "decided_at", "updated_at"])
    verb = {
        ApprovalDocumentStatus.APPROVED: "approved",
        ApprovalDocumentStatus.REJECTED: "rejected",
        ApprovalDocumentStatus.DRAFT: "withdrawn",
    }[ApprovalDocumentStatus(target)]
    audit_record(
        actor=actor,
        action=f"trading.supplier_admission.{verb}",
        company_id=admission.company_id,
        target=admission,
        changes={"status": [before, admission.status], "approval_request": [None, request.pk]},
    )
    # The supplier moves only if it is still waiting for this decision: a blacklisting in the
    # meantime stands.
    if partner.admission_status != AdmissionStatus.PENDING:
        return
    application = {"application": [None, admission.number]}
    if target == ApprovalDocumentStatus.APPROVED:
        _set_admission(
            partner,
            AdmissionStatus.ADMITTED,
            actor=actor,
            action="trading.partner.admitted",
            extra=application,
        )
    else:
        _set_admission(
            partner,
            AdmissionStatus.NOT_ADMITTED,
            actor=actor,
            action="trading.partner.admission_refused",
            reason=partner.admission_reason,
            extra=application,
        )


def _admission_approved(*, request: ApprovalRequest, actor: Any) -> None:
    _admission_decided(request, actor, ApprovalDocumentStatus.APPROVED)


def _admission_rejected(*, request: ApprovalRequest, actor: Any) -> None:
    _admission_decided(request, actor, ApprovalDocumentStatus.REJECTED)


def _admission_withdrawn(*, request: ApprovalRequest, actor: Any) -> None:
    _admission_decided(request, actor, ApprovalDocumentStatus.DRAFT)


def _admission_company(*, document_id: str) -> int | None:
    try:
        pk = int(document_id)
    except (TypeError, ValueError):
        return None
    return SupplierAdmission.objects.filter(pk=pk).values_list("company_id", flat=True).first()


# ---------------------------------------------------------------- sanctions


def _sanction(actor: Any, partner_id: int, reason: str, target: str, action: str) -> Partner:
    partner = _partner_for(actor, partner_id)
    if not can_edit_master_data(actor, TradingAction.SUPPLIER_SANCTION, partner.company_id):
        raise PermissionDenied(
            _(
                "Only the general manager or the leader in charge may suspend, blacklist or "
                "reinstate a supplier."
            )
        )
    problems: dict[str, list[str]] = {}
    reason = _text({"reason": reason}, "reason", problems, limit=255, required=True)
    if problems:
        raise _invalid(problems)
    _set_admission(partner, target, actor=actor, action=action, reason=reason)
    warnings_refresh_after_commit(partner_ids=[partner.pk])
    return partner


@transaction.atomic
def partner_suspend(*, actor: Any, partner_id: int, reason: str) -> Partner:
    """Suspend an admitted supplier: it may not supply until reinstated."""
    return _sanction(
        actor, partner_id, reason, AdmissionStatus.SUSPENDED, "trading.partner.suspended"
    )


@transaction.atomic
def partner_blacklist(*, actor: Any, partner_id: int, reason: str) -> Partner:
    """Blacklist a partner, whatever its admission (an application under way stays without
    effect on it)."""
    return _sanction(
        actor, partner_id, reason, AdmissionStatus.BLACKLISTED, "trading.partner.blacklisted"
    )


@transaction.atomic
def partner_reinstate(*, actor: Any, partner_id: int, reason: str) -> Partner:
    """A suspended supplier is admitted again; a blacklisted one goes back to not admitted (and
    must apply for admission anew)."""
    partner = Partner.objects.filter(pk=partner_id).only("admission_status").first()
    target = (
        AdmissionStatus.NOT_ADMITTED
        if partner is not None and partner.admission_status == AdmissionStatus.BLACKLISTED
        else AdmissionStatus.ADMITTED
    )
    return _sanction(actor, partner_id, reason, target, "trading.partner.reinstated")


# ---------------------------------------------------------------- customer credit

CREDIT_FIELDS = ("credit_limit", "payment_days", "credit_grade")


def _credit_change_for(actor: Any, change_id: int) -> CreditChange:
    change = CreditChange.objects.select_for_update().filter(pk=change_id).first()
    if change is None or not can_read(actor, change.company_id):
        raise NotFound(_("Credit change not found."))
    if not can(actor, TradingAction.CREDIT_CHANGE, change.company_id):
        raise PermissionDenied(
            _("Only sales or finance staff of the company may propose credit terms.")
        )
    return change


def _clean_credit(
    credit_limit: Any, payment_days: Any, credit_grade: Any, reason: Any
) -> tuple[Decimal, int, str, str, dict[str, list[str]]]:
    problems: dict[str, list[str]] = {}
    limit = _decimal(
        credit_limit,
        "credit_limit",
        problems,
        places=MONEY,
        minimum=Decimal("0"),
        maximum=MAX_CREDIT_LIMIT,
    )
    days = 0
    try:
        days = int(str(payment_days).strip())
        if not 0 <= days <= MAX_PAYMENT_DAYS:
            raise ValueError(days)
    except ValueError:
        problems["payment_days"] = [
            _("A whole number of days from 0 to %(days)d.") % {"days": MAX_PAYMENT_DAYS}
        ]
    grade = str(credit_grade or "")
    if grade and grade not in CreditGrade.values:
        problems["credit_grade"] = [_("Choose a grade from A to D.")]
    text = _text({"reason": reason}, "reason", problems, limit=2000, required=True)
    return limit, days, grade, text, problems


@transaction.atomic
def credit_change_create(
    *,
    actor: Any,
    partner_id: int,
    credit_limit: Decimal | str,
    payment_days: int | str,
    credit_grade: str = "",
    reason: str,
    company_id: int | None = None,
) -> CreditChange:
    """A draft proposal of new credit terms for a customer."""
    company_id = _applying_company(actor, TradingAction.CREDIT_CHANGE, company_id)
    partner = _partner_for(actor, partner_id)
    if not _partner_visible_to(partner, company_id):
        raise NotFound(_("Partner not found."))
    limit, days, grade, text, problems = _clean_credit(
        credit_limit, payment_days, credit_grade, reason
    )
    if not partner.is_customer:
        problems.setdefault("partner", []).append(_("Not a customer."))
    elif not partner.is_active:
        problems.setdefault("partner", []).append(_("The partner is inactive."))
    if not problems and (limit, days, grade) == (
        partner.credit_limit,
        partner.payment_days,
        partner.credit_grade,
    ):
        problems["credit_limit"] = [_("These are the customer's current terms.")]
    if problems:
        raise _invalid(problems)
    _refuse_second_open(CreditChange, partner)
    today = clock.today()
    change = CreditChange.objects.create(
        company_id=company_id,
        number=next_number(company_id=company_id, prefix=CREDIT_PREFIX, day=today),
        partner=partner,
        previous_limit=partner.credit_limit,
        previous_days=partner.payment_days,
        previous_grade=partner.credit_grade,
        credit_limit=limit,
        payment_days=days,
        credit_grade=grade,
        reason=text,
        requested_by=actor,
    )
    audit_record(
        actor=actor,
        action="trading.credit_change.created",
        company_id=company_id,
        target=change,
        changes={
            "partner": [None, partner.pk],
            "credit_limit": [str(partner.credit_limit), str(limit)],
            "payment_days": [partner.payment_days, days],
            "credit_grade": [partner.credit_grade or None, grade or None],
        },
    )
    return change


def _credit_form(change: CreditChange, partner: Partner) -> dict[str, Any]:
    return {
        "title": f"客户信用调整：{partner.name}"[:200],
        "change_number": change.number,
        "customer": partner.name[:200],
        "current_limit": str(partner.credit_limit),
        "credit_limit": str(change.credit_limit),
        "current_days": str(partner.payment_days),
        "payment_days": str(change.payment_days),
        "current_grade": partner.credit_grade or None,
        "credit_grade": change.credit_grade or None,
        "reason": change.reason[:5000],
    }


@transaction.atomic
def credit_change_submit(*, actor: Any, change_id: int) -> CreditChange:
    change = _credit_change_for(actor, change_id)
    partner = _partner_for(actor, change.partner_id)
    before = _move_request(change, ApprovalDocumentStatus.PENDING)
    change.previous_limit = partner.credit_limit
    change.previous_days = partner.payment_days
    change.previous_grade = partner.credit_grade
    change.save(
        update_fields=["status", "previous_limit", "previous_days", "previous_grade", "updated_at"]
    )
    audit_record(
        actor=actor,
        action="trading.credit_change.submitted",
        company_id=change.company_id,
        target=change,
        changes={"status": [before, change.status]},
    )
    request = approval_services.request_submit(
        actor=actor,
        template_code=CREDIT_FLOW_CODE,
        form_data=_credit_form(change, partner),
        document_type=CREDIT_DOCUMENT_TYPE,
        document_id=str(change.pk),
    )
    CreditChange.objects.filter(pk=change.pk).update(approval_request=request)
    change.refresh_from_db()
    return change


@transaction.atomic
def credit_change_cancel(*, actor: Any, change_id: int) -> CreditChange:
    change = _credit_change_for(actor, change_id)
    before = _move_request(change, ApprovalDocumentStatus.CANCELLED)
    change.decided_at = clock.now()
    change.save(update_fields=["status", "decided_at", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.credit_change.cancelled",
        company_id=change.company_id,
        target=change,
        changes={"status": [before, change.status]},
    )
    return change


def _credit_decided(request: ApprovalRequest, actor: Any, target: str) -> None:
    change = CreditChange.objects.select_for_update().filter(pk=_document_pk(request)).first()
    if change is None or change.status != ApprovalDocumentStatus.PENDING:
        return
    partner = Partner.objects.select_for_update().get(pk=change.partner_id)
    before = _move_request(change, target)
    change.approval_request = request
    if target == ApprovalDocumentStatus.APPROVED:
        # The values replaced are those in force at the decision.
        change.previous_limit = partner.credit_limit
        change.previous_days = partner.payment_days
        change.previous_grade = partner.credit_grade
    if target != ApprovalDocumentStatus.DRAFT:
        change.decided_at = clock.now()
    change.save()
    verb = {
        ApprovalDocumentStatus.APPROVED: "approved",
        ApprovalDocumentStatus.REJECTED: "rejected",
        ApprovalDocumentStatus.DRAFT: "withdrawn",
    }[ApprovalDocumentStatus(target)]
    audit_record(
        actor=actor,
        action=f"trading.credit_change.{verb}",
        company_id=change.company_id,
        target=change,
        changes={"status": [before, change.status], "approval_request": [None, request.pk]},
    )
    if target != ApprovalDocumentStatus.APPROVED:
        return
    old = _snapshot(partner, CREDIT_FIELDS)
    partner.credit_limit = change.credit_limit
    partner.payment_days = change.payment_days
    partner.credit_grade = change.credit_grade
    partner.version += 1
    partner.save(update_fields=[*CREDIT_FIELDS, "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.partner.credit_changed",
        company_id=partner.company_id,
        target=partner,
        changes={
            **diff_fields(old, _snapshot(partner, CREDIT_FIELDS)),
            "credit_change": [None, change.number],
        },
    )
    warnings_refresh_after_commit(partner_ids=[partner.pk])


def _credit_approved(*, request: ApprovalRequest, actor: Any) -> None:
    _credit_decided(request, actor, ApprovalDocumentStatus.APPROVED)


def _credit_rejected(*, request: ApprovalRequest, actor: Any) -> None:
    _credit_decided(request, actor, ApprovalDocumentStatus.REJECTED)


def _credit_withdrawn(*, request: ApprovalRequest, actor: Any) -> None:
    _credit_decided(request, actor, ApprovalDocumentStatus.DRAFT)


def _credit_company(*, document_id: str) -> int | None:
    try:
        pk = int(document_id)
    except (TypeError, ValueError):
        return None
    return CreditChange.objects.filter(pk=pk).values_list("company_id", flat=True).first()


# ---------------------------------------------------------------- commodities

COMMODITY_FIELDS = (
    "code",
    "name",
    "spec",
    "unit",
    "tolerance_percent",
    "quantity_tolerance_percent",
    "tax_rate",
    "is_active",
)


def clean_commodity_values(
    values: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    problems: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name, limit in {"code": 40, "name": 100, "spec": 100, "unit": 10}.items():
        if name in values:
            clean[name] = _text(
                values, name, problems, limit=limit, required=name in ("code", "name", "unit")
            )
    if clean.get("code") and not CODE_PATTERN.fullmatch(clean["code"]):
        problems.setdefault("code", []).append(
            _("Letters, digits and . _ - only, starting with a letter or digit.")
        )
    for name in ("tolerance_percent", "quantity_tolerance_percent"):
        if name in values:
            clean[name] = _decimal(
                values[name],
                name,
                problems,
                places=PERCENT,
                minimum=Decimal("0"),
                maximum=Decimal("100"),
            )
    if "tax_rate" in values:
        clean["tax_rate"] = _decimal(
            values["tax_rate"],
            "tax_rate",
            problems,
            places=RATE,
            minimum=Decimal("0"),
            maximum=Decimal("1"),
        )
    if "is_active" in values:
        clean["is_active"] = bool(values["is_active"])
    return clean, problems


def _commodity_code_taken(company_id: int, code: str, exclude: int) -> bool:
    return Commodity.objects.filter(company_id=company_id, code=code).exclude(pk=exclude).exists()


@transaction.atomic
def commodity_create(
    *,
    actor: Any,
    company_id: int,
    code: str,
    name: str,
    spec: str = "",
    unit: str = "t",
    tolerance_percent: Decimal | str = Decimal("0.30"),
    quantity_tolerance_percent: Decimal | str = Decimal("5.00"),
    tax_rate: Decimal | str = Decimal("0.1300"),
) -> Commodity:
    _require_master_editor(actor, TradingAction.COMMODITY_EDIT, company_id)
    clean, problems = clean_commodity_values(
        {
            "code": code,
            "name": name,
            "spec": spec,
            "unit": unit,
            "tolerance_percent": tolerance_percent,
            "quantity_tolerance_percent": quantity_tolerance_percent,
            "tax_rate": tax_rate,
        }
    )
    if clean.get("code") and _commodity_code_taken(company_id, clean["code"], 0):
        problems.setdefault("code", []).append(
            _("A commodity with code “%(code)s” already exists.") % {"code": clean["code"]}
        )
    if problems:
        raise _invalid(problems)
    commodity = Commodity(company_id=company_id, **clean)
    try:
        with transaction.atomic():
            commodity.save()
    except IntegrityError as error:
        raise ValidationFailed(
            _("A commodity with this code was saved meanwhile."),
            code=TradingErrorCode.DUPLICATE,
            fields={"code": [_("Already exists.")]},
        ) from error
    audit_record(
        actor=actor,
        action="trading.commodity.created",
        company_id=company_id,
        target=commodity,
        changes={key: [None, _jsonable(value)] for key, value in clean.items()},
    )
    return commodity


def _commodity_in_use(commodity: Commodity) -> bool:
    from ..models import ContractLine, StockDocumentLine

    return (
        ContractLine.objects.filter(commodity=commodity).exists()
        or StockDocumentLine.objects.filter(commodity=commodity).exists()
    )


@transaction.atomic
def commodity_update(
    *, actor: Any, commodity_id: int, expected_version: int | None = None, **changes: Any
) -> Commodity:
    unknown = set(changes) - set(COMMODITY_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown fields: %s") % ", ".join(sorted(unknown)))
    commodity = Commodity.objects.select_for_update().filter(pk=commodity_id).first()
    if commodity is None or commodity.company_id not in master_data_company_ids(actor):
        raise NotFound(_("Commodity not found."))
    _require_master_editor(actor, TradingAction.COMMODITY_EDIT, commodity.company_id)
    _check_version(commodity, expected_version)
    clean, problems = clean_commodity_values(changes)
    if (
        clean.get("code")
        and clean["code"] != commodity.code
        and _commodity_code_taken(commodity.company_id, clean["code"], commodity.pk)
    ):
        problems.setdefault("code", []).append(
            _("A commodity with code “%(code)s” already exists.") % {"code": clean["code"]}
        )
    if (
        clean.get("unit")
        and clean["unit"] != commodity.unit
        and "unit" not in problems
        and _commodity_in_use(commodity)
    ):
        problems.setdefault("unit", []).append(
            _("Contracts or stock documents already use this commodity; its unit stays.")
        )
    if problems:
        raise _invalid(problems)
    before = _snapshot(commodity, COMMODITY_FIELDS)
    for field, value in clean.items():
        setattr(commodity, field, value)
    delta = diff_fields(before, _snapshot(commodity, COMMODITY_FIELDS))
    if not delta:
        return commodity
    commodity.version += 1
    commodity.save()
    audit_record(
        actor=actor,
        action="trading.commodity.updated",
        company_id=commodity.company_id,
        target=commodity,
        changes=delta,
    )
    return commodity


# ---------------------------------------------------------------- warehouses

WAREHOUSE_FIELDS = ("code", "name", "kind", "address", "keeper_id", "is_active")


def _clean_warehouse(
    values: Mapping[str, Any], company_id: int
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    problems: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name, limit in {"code": 40, "name": 100, "address": 255}.items():
        if name in values:
            clean[name] = _text(
                values, name, problems, limit=limit, required=name in ("code", "name")
            )
    if clean.get("code") and not CODE_PATTERN.fullmatch(clean["code"]):
        problems.setdefault("code", []).append(
            _("Letters, digits and . _ - only, starting with a letter or digit.")
        )
    if "kind" in values:
        clean["kind"] = str(values.get("kind") or "")
        if clean["kind"] not in WarehouseKind.values:
            problems["kind"] = [_("Choose own or third-party.")]
    if "keeper_id" in values:
        keeper_id = values.get("keeper_id")
        clean["keeper_id"] = keeper_id or None
        if (
            keeper_id
            and not User.objects.filter(
                pk=keeper_id, company_id=company_id, is_active=True
            ).exists()
        ):
            problems["keeper"] = [_("Choose an active person of the warehouse's company.")]
    if "is_active" in values:
        clean["is_active"] = bool(values["is_active"])
    return clean, problems


def _warehouse_code_taken(company_id: int, code: str, exclude: int) -> bool:
    return Warehouse.objects.filter(company_id=company_id, code=code).exclude(pk=exclude).exists()


def _require_warehouse_editor(actor: Any, company_id: int) -> None:
    if not can(actor, TradingAction.WAREHOUSE_EDIT, company_id):
        raise PermissionDenied(_("Only a warehouse keeper of the company may do this."))


@transaction.atomic
def warehouse_create(
    *,
    actor: Any,
    company_id: int,
    code: str,
    name: str,
    kind: str = WarehouseKind.OWN,
    address: str = "",
    keeper_id: int | None = None,
) -> Warehouse:
    _require_warehouse_editor(actor, company_id)
    clean, problems = _clean_warehouse(
        {"code": code, "name": name, "kind": kind, "address": address, "keeper_id": keeper_id},
        company_id,
    )
    if clean.get("code") and _warehouse_code_taken(company_id, clean["code"], 0):
        problems.setdefault("code", []).append(
            _("A warehouse with code “%(code)s” already exists.") % {"code": clean["code"]}
        )
    if problems:
        raise _invalid(problems)
    warehouse = Warehouse(company_id=company_id, **clean)
    try:
        with transaction.atomic():
            warehouse.save()
    except IntegrityError as error:
        raise ValidationFailed(
            _("A warehouse with this code was saved meanwhile."),
            code=TradingErrorCode.DUPLICATE,
            fields={"code": [_("Already exists.")]},
        ) from error
    audit_record(
        actor=actor,
        action="trading.warehouse.created",
        company_id=company_id,
        target=warehouse,
        changes={key: [None, value] for key, value in clean.items() if value},
    )
    return warehouse


@transaction.atomic
def warehouse_update(
    *, actor: Any, warehouse_id: int, expected_version: int | None = None, **changes: Any
) -> Warehouse:
    unknown = set(changes) - set(WAREHOUSE_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown fields: %s") % ", ".join(sorted(unknown)))
    warehouse = Warehouse.objects.select_for_update().filter(pk=warehouse_id).first()
    if warehouse is None or not can_read(actor, warehouse.company_id):
        raise NotFound(_("Warehouse not found."))
    _require_warehouse_editor(actor, warehouse.company_id)
    _check_version(warehouse, expected_version)
    clean, problems = _clean_warehouse(changes, warehouse.company_id)
    if (
        clean.get("code")
        and clean["code"] != warehouse.code
        and _warehouse_code_taken(warehouse.company_id, clean["code"], warehouse.pk)
    ):
        problems.setdefault("code", []).append(
            _("A warehouse with code “%(code)s” already exists.") % {"code": clean["code"]}
        )
    if problems:
        raise _invalid(problems)
    before = _snapshot(warehouse, WAREHOUSE_FIELDS)
    for field, value in clean.items():
        setattr(warehouse, field, value)
    delta = diff_fields(before, _snapshot(warehouse, WAREHOUSE_FIELDS))
    if not delta:
        return warehouse
    warehouse.version += 1
    warehouse.save()
    audit_record(
        actor=actor,
        action="trading.warehouse.updated",
        company_id=warehouse.company_id,
        target=warehouse,
        changes=delta,
    )
    return warehouse


# ---------------------------------------------------------------- registration

ADMISSION_DOCUMENT = DocumentType(
    key=ADMISSION_DOCUMENT_TYPE,
    label=gettext_lazy("Supplier admission"),
    on_approved=_admission_approved,
    on_rejected=_admission_rejected,
    on_withdrawn=_admission_withdrawn,
    company_of=_admission_company,
    url_of=page_of("trading:admission_detail"),
)
CREDIT_DOCUMENT = DocumentType(
    key=CREDIT_DOCUMENT_TYPE,
    label=gettext_lazy("Customer credit change"),
    on_approved=_credit_approved,
    on_rejected=_credit_rejected,
    on_withdrawn=_credit_withdrawn,
    company_of=_credit_company,
    url_of=page_of("trading:credit_change_detail"),
)


def register_document_types() -> None:
    """Register this area's approval-bound document types (called from AppConfig.ready)."""
    register_document_type(ADMISSION_DOCUMENT)
    register_document_type(CREDIT_DOCUMENT)

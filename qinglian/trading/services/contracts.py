"""Trading services: contracts. Writes only; each service is atomic and audited.

Lifecycle (CONTRACT_TRANSITIONS): a draft is edited (optimistic version check) and submitted to
the contract approval flow (初审 + 复核, document type "trading.contract"); it takes effect only
in `_on_approved`. A rejected or withdrawn contract is a draft again. A draft can be cancelled,
an effective contract terminated (with a reason) or completed. An amendment is a new revision
copied from the effective one; when it is approved it takes effect and the revision it amends
is superseded, handing over its execution figures.

Locks: the contract row first (then, in the posting services, the partner or stock balances;
a sales contract's customer credit exposure row last, after the audit record: services.credit).
Other areas book goods and money through `contract_lock_for_execution`, which follows an
amendment to the revision in force.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.approvals import services as approval_services
from qinglian.approvals.models import ApprovalRequest
from qinglian.approvals.registry import DocumentType, register_document_type
from qinglian.core import clock
from qinglian.core.audit import audit_record
from qinglian.core.db import retry_on_conflict
from qinglian.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from qinglian.org.enums import RoleCode
from qinglian.org.models import Department, User

from ..enums import ContractKind, ContractStatus, PaymentTerm, TradingErrorCode
from ..links import page_of
from ..models import Commodity, Contract, ContractLine, Partner
from ..numbering import next_number
from ..permissions import TradingAction, can, can_read
from ..selectors import contracts as selectors
from . import credit as credit_services
from .warnings import warnings_refresh_after_commit

DOCUMENT_TYPE = "trading.contract"
FLOW_CODE = "trading_contract"
MONEY = Decimal("0.01")
QUANTITY = Decimal("0.001")
PRICE = Decimal("0.0001")
RATE = Decimal("0.0001")
PERCENT = Decimal("0.01")

# ---------------------------------------------------------------- the approval flow

# The shipped contract flow (approvals.demo "contract_approval"), bound to the document:
# 初审 by the legal reviewer, 复核 by finance, the leader in charge above 1,000,000 and the
# general manager above 5,000,000 (bulk-commodity contracts run to millions).
CONTRACT_FLOW: dict[str, Any] = {
    "fields": [
        {"key": "title", "label": "合同名称", "type": "text", "required": True},
        {
            "key": "contract_type",
            "label": "合同类型",
            "type": "choice",
            "required": True,
            "choices": ["采购", "销售"],
        },
        {"key": "contract_number", "label": "合同编号", "type": "text", "required": True},
        {"key": "revision", "label": "版次", "type": "number"},
        {"key": "counterparty", "label": "对方单位", "type": "text", "required": True},
        {"key": "amount", "label": "合同金额", "type": "money", "required": True},
        {"key": "signing_date", "label": "签订日期", "type": "date"},
        {"key": "term", "label": "履行期限", "type": "text"},
        {"key": "payment_terms", "label": "付款方式", "type": "text"},
        {"key": "remarks", "label": "说明", "type": "textarea"},
    ],
    "route": [
        {
            "key": "preliminary_legal",
            "name": "初审·法务",
            "approver": {"kind": "role", "role": RoleCode.LEGAL_REVIEWER.value},
            "time_limit_hours": 48,
        },
        {
            "key": "recheck_finance",
            "name": "复核·财务",
            "approver": {"kind": "role", "role": RoleCode.FINANCE.value},
            "time_limit_hours": 48,
        },
        {
            "key": "recheck_leader",
            "name": "复核·分管领导",
            "approver": {"kind": "leader_in_charge"},
            "time_limit_hours": 48,
            "condition": {"all": [{"field": "amount", "op": "gt", "value": "1000000"}]},
        },
        {
            "key": "general_manager",
            "name": "总经理",
            "approver": {"kind": "role", "role": RoleCode.GENERAL_MANAGER.value},
            "time_limit_hours": 48,
            "condition": {"all": [{"field": "amount", "op": "gt", "value": "5000000"}]},
        },
    ],
    "title_field": "title",
    "amount_field": "amount",
}

# Approval flows this area ships (kwargs of approvals.services.template_save, minus actor).
APPROVAL_FLOWS: list[dict[str, Any]] = [
    {
        "code": FLOW_CODE,
        "name": "购销合同审批",
        "category": "购销存",
        "description": (
            "采购、销售合同（含变更）生效审批：初审（法务）+ 复核（财务），"
            "合同金额超过100万元报分管领导、超过500万元报总经理审批。审批通过后合同生效。"
        ),
        "document_type": DOCUMENT_TYPE,
        "definition": CONTRACT_FLOW,
    }
]

# ---------------------------------------------------------------- lifecycle

CONTRACT_TRANSITIONS: dict[str, frozenset[str]] = {
    ContractStatus.DRAFT: frozenset({ContractStatus.PENDING, ContractStatus.CANCELLED}),
    ContractStatus.PENDING: frozenset({ContractStatus.EFFECTIVE, ContractStatus.DRAFT}),
    ContractStatus.EFFECTIVE: frozenset(
        {ContractStatus.TERMINATED, ContractStatus.COMPLETED, ContractStatus.SUPERSEDED}
    ),
}


def _move(contract: Contract, target: str) -> None:
    if target not in CONTRACT_TRANSITIONS.get(contract.status, frozenset()):
        raise InvalidTransition(
            _("A contract that is “%(current)s” cannot become “%(target)s”.")
            % {
                "current": ContractStatus(contract.status).label,
                "target": ContractStatus(target).label,
            }
        )
    contract.status = target


# ---------------------------------------------------------------- pure calculations


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return (quantity * unit_price).quantize(MONEY, rounding=ROUND_HALF_UP)


def tax_included(amount: Decimal, tax_rate: Decimal) -> Decimal:
    """The VAT inside an amount that includes it."""
    return (amount - amount / (1 + tax_rate)).quantize(MONEY, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CleanLine:
    line_number: int
    commodity_id: int
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    quantity_tolerance_percent: Decimal
    amount: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Totals:
    quantity: Decimal
    amount: Decimal
    tax: Decimal


def contract_totals(lines: Iterable[CleanLine]) -> Totals:
    listed = list(lines)
    return Totals(
        quantity=sum((line.quantity for line in listed), Decimal("0")),
        amount=sum((line.amount for line in listed), Decimal("0")),
        tax=sum((line.tax for line in listed), Decimal("0")),
    )


def contract_amount_ceiling(lines: Iterable[ContractLine]) -> Decimal:
    """The most that may be invoiced against a contract: each line's amount plus its quantity
    tolerance."""
    return sum(
        (
            (line.amount * (1 + line.quantity_tolerance_percent / 100)).quantize(MONEY)
            for line in lines
        ),
        Decimal("0"),
    )


# ---------------------------------------------------------------- input checking


def _decimal(
    value: Any, places: Decimal, field: str, problems: dict[str, list[str]]
) -> Decimal | None:
    if value in (None, ""):
        problems.setdefault(field, []).append(_("This field is required."))
        return None
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        problems.setdefault(field, []).append(_("Not a number."))
        return None
    if not number.is_finite():
        problems.setdefault(field, []).append(_("Not a number."))
        return None
    if number != number.quantize(places):
        problems.setdefault(field, []).append(
            _("At most %(places)d decimal places.") % {"places": len(str(places).split(".")[-1])}
        )
        return None
    return number.quantize(places)


def _invalid(problems: dict[str, list[str]]) -> ValidationFailed:
    return ValidationFailed(_("Please correct the highlighted fields."), fields=problems)


def _clean_lines(company_id: int, lines: Iterable[Mapping[str, Any]]) -> list[CleanLine]:
    """Check each line (errors named `lines.<n>.<field>`, n from 1) and compute its amounts."""
    listed = list(lines)
    commodity_ids = set()
    for raw in listed:
        try:
            commodity_ids.add(int(raw.get("commodity_id") or 0))
        except (TypeError, ValueError):
            continue
    commodities = {
        commodity.pk: commodity
        for commodity in Commodity.objects.filter(
            pk__in=commodity_ids,
            company_id__in=selectors.master_company_ids(company_id),
            is_active=True,
        )
    }
    given: set[int] = set()
    for raw in listed:
        try:
            given.add(int(raw.get("line_number") or 0))
        except (TypeError, ValueError):
            continue
    next_free = max(given, default=0) + 1
    line_numbers: list[int] = []
    for raw in listed:
        try:
            line_numbers.append(int(raw.get("line_number") or 0) or 0)
        except (TypeError, ValueError):
            line_numbers.append(0)
        if not line_numbers[-1]:  # a new line: after the highest number kept
            line_numbers[-1] = next_free
            next_free += 1
    problems: dict[str, list[str]] = {}
    clean: list[CleanLine] = []
    for number, raw in enumerate(listed, start=1):
        prefix = f"lines.{number}."
        try:
            commodity = commodities.get(int(raw.get("commodity_id") or 0))
        except (TypeError, ValueError):
            commodity = None
        if commodity is None:
            problems[prefix + "commodity"] = [_("Choose a commodity.")]
        quantity = _decimal(raw.get("quantity"), QUANTITY, prefix + "quantity", problems)
        if quantity is not None and quantity <= 0:
            problems[prefix + "quantity"] = [_("Must be more than zero.")]
        price = _decimal(raw.get("unit_price"), PRICE, prefix + "unit_price", problems)
        if price is not None and price < 0:
            problems[prefix + "unit_price"] = [_("Must not be negative.")]
        rate_input = raw.get("tax_rate")
        rate = (
            _decimal(rate_input, RATE, prefix + "tax_rate", problems)
            if rate_input not in (None, "")
            else (commodity.tax_rate if commodity else None)
        )
        if rate is not None and not Decimal("0") <= rate < Decimal("1"):
            problems[prefix + "tax_rate"] = [_("A VAT rate between 0 and 1 (0.13 for 13 %).")]
        tolerance_input = raw.get("quantity_tolerance_percent")
        tolerance = (
            _decimal(tolerance_input, PERCENT, prefix + "quantity_tolerance_percent", problems)
            if tolerance_input not in (None, "")
            else (commodity.quantity_tolerance_percent if commodity else None)
        )
        if tolerance is not None and not Decimal("0") <= tolerance <= Decimal("100"):
            problems[prefix + "quantity_tolerance_percent"] = [_("Between 0 and 100.")]
        if any(key.startswith(prefix) for key in problems):
            continue
        assert commodity is not None and quantity is not None and price is not None
        assert rate is not None and tolerance is not None
        amount = line_amount(quantity, price)
        clean.append(
            CleanLine(
                line_number=line_numbers[number - 1],
                commodity_id=commodity.pk,
                quantity=quantity,
                unit_price=price,
                tax_rate=rate,
                quantity_tolerance_percent=tolerance,
                amount=amount,
                tax=tax_included(amount, rate),
            )
        )
    numbers = [line.line_number for line in clean]
    if len(numbers) != len(set(numbers)):
        problems["lines"] = [_("Two lines have the same line number.")]
    if problems:
        raise _invalid(problems)
    return clean


HEADER_FIELDS = (
    "partner_id",
    "signed_on",
    "delivery_start",
    "delivery_end",
    "end_on",
    "payment_term",
    "prepayment_percent",
    "credit_days",
    "owner_id",
    "department_id",
    "remarks",
)


def _check_header(contract: Contract) -> None:
    problems: dict[str, list[str]] = {}
    if contract.payment_term not in PaymentTerm.values:
        problems["payment_term"] = [_("Choose the payment terms.")]
    percent = Decimal(str(contract.prepayment_percent or 0))
    if contract.payment_term == PaymentTerm.PREPAYMENT:
        if not Decimal("0") < percent <= Decimal("100"):
            problems["prepayment_percent"] = [
                _("Prepayment terms need a prepayment percentage above 0 and at most 100.")
            ]
    elif percent:
        problems["prepayment_percent"] = [_("A prepayment percentage needs prepayment terms.")]
    if percent != percent.quantize(PERCENT):
        problems["prepayment_percent"] = [_("At most 2 decimal places.")]
    if contract.credit_days is None or int(contract.credit_days) < 0:
        problems["credit_days"] = [_("Must not be negative.")]
    elif int(contract.credit_days) > 3650:
        problems["credit_days"] = [_("At most 3650 days.")]
    if (
        contract.delivery_start
        and contract.delivery_end
        and contract.delivery_end < contract.delivery_start
    ):
        problems["delivery_end"] = [_("The delivery period ends before it starts.")]
    if contract.signed_on and contract.end_on and contract.end_on < contract.signed_on:
        problems["end_on"] = [_("The contract expires before it is signed.")]
    if contract.delivery_end and contract.end_on and contract.end_on < contract.delivery_end:
        problems["end_on"] = [_("The contract expires before the delivery period ends.")]
    owner = User.objects.filter(pk=contract.owner_id, is_active=True).first()
    if owner is None or not can_read(owner, contract.company_id):
        problems["owner"] = [_("Choose an active person of this company.")]
    if (
        contract.department_id
        and not Department.objects.filter(
            pk=contract.department_id, company_id=contract.company_id
        ).exists()
    ):
        problems["department"] = [_("Choose a department of this company.")]
    if problems:
        raise _invalid(problems)


def _check_counterparty(contract: Contract, on_date: datetime.date) -> Partner:
    """A purchase contract's counterparty is a supplier that may supply on `on_date`; a sales
    contract's is a customer. Either comes from master data the company may use."""
    partner = Partner.objects.filter(
        pk=contract.partner_id,
        company_id__in=selectors.master_company_ids(contract.company_id),
    ).first()
    if partner is None:
        raise _invalid({"partner": [_("Choose a counterparty.")]})
    if not partner.is_active:
        raise _invalid({"partner": [_("This partner is inactive.")]})
    if contract.kind == ContractKind.PURCHASE:
        may_supply, reason = selectors.supplier_can_supply(partner, on_date)
        if not may_supply:
            raise ValidationFailed(
                _(
                    "%(partner)s may not supply: a purchase contract needs an admitted supplier "
                    "whose qualifications are valid."
                )
                % {"partner": partner.name},
                code=TradingErrorCode.NOT_ADMITTED,
                fields={"partner": [reason]},
            )
    elif not partner.is_customer:
        raise _invalid({"partner": [_("A sales contract's counterparty must be a customer.")]})
    return partner


def _check_version(contract: Contract, expected_version: int | None) -> None:
    if expected_version is not None and contract.version != expected_version:
        raise Conflict(
            _("Someone else changed this contract meanwhile; reload and try again."),
            code=TradingErrorCode.STALE_VERSION,
        )


def _action_for(kind: str) -> TradingAction:
    return (
        TradingAction.PURCHASE_CONTRACT
        if kind == ContractKind.PURCHASE
        else TradingAction.SALES_CONTRACT
    )


def _require_writer(actor: Any, kind: str, company_id: int) -> None:
    if not can(actor, _action_for(kind), company_id):
        raise PermissionDenied(
            _("Only a purchaser of this company writes its purchase contracts.")
            if kind == ContractKind.PURCHASE
            else _("Only a salesperson of this company writes its sales contracts.")
        )


def _lock(actor: Any, contract_id: int) -> Contract:
    """Lock a contract the actor reads (else "not found") and may write (else "forbidden")."""
    contract = Contract.objects.select_for_update().filter(pk=contract_id).first()
    if contract is None or not can_read(actor, contract.company_id):
        raise NotFound(_("Contract not found."))
    _require_writer(actor, contract.kind, contract.company_id)
    if contract.import_batch:  # imported history (legacy intake) is read-only
        raise Conflict(_("Imported history is read-only."), code=TradingErrorCode.IMMUTABLE)
    return contract


def _snapshot(contract: Contract) -> dict[str, Any]:
    return {
        "status": contract.status,
        "partner": contract.partner_id,
        "total_amount": str(contract.total_amount),
        "payment_term": contract.payment_term,
        "prepayment_percent": str(contract.prepayment_percent),
        "credit_days": contract.credit_days,
        "delivery_start": contract.delivery_start,
        "delivery_end": contract.delivery_end,
        "end_on": contract.end_on,
        "signed_on": contract.signed_on,
        "owner": contract.owner_id,
        "department": contract.department_id,
    }


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {
        key: [_plain(before.get(key)), _plain(value)]
        for key, value in after.items()
        if before.get(key) != value
    }


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime.date, Decimal)):
        return str(value)
    return value


def _write_lines(contract: Contract, lines: list[CleanLine]) -> None:
    contract.lines.all().delete()
    ContractLine.objects.bulk_create(
        ContractLine(
            contract=contract,
            line_number=line.line_number,
            commodity_id=line.commodity_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
            amount=line.amount,
            quantity_tolerance_percent=line.quantity_tolerance_percent,
        )
        for line in lines
    )
    totals = contract_totals(lines)
    contract.total_quantity = totals.quantity
    contract.total_amount = totals.amount
    contract.total_tax = totals.tax


def _apply_header(contract: Contract, changes: Mapping[str, Any]) -> None:
    unknown = set(changes) - set(HEADER_FIELDS)
    if unknown:
        raise ValidationFailed(
            _("Unknown fields."), fields={name: [_("Not a field.")] for name in sorted(unknown)}
        )
    for name, value in changes.items():
        if name == "prepayment_percent":
            value = Decimal(str(value if value not in (None, "") else 0))
        elif name == "credit_days":
            value = int(value or 0)
        elif name == "remarks":
            value = (value or "").strip()
        setattr(contract, name, value)


# ---------------------------------------------------------------- drafts


@retry_on_conflict()
@transaction.atomic
def contract_create(
    *,
    actor: Any,
    company_id: int,
    kind: str,
    partner_id: int,
    payment_term: str,
    lines: Iterable[Mapping[str, Any]] = (),
    number: str = "",
    **header: Any,
) -> Contract:
    """A draft contract with its lines; the number is generated unless one is given."""
    if kind not in ContractKind.values:
        raise _invalid({"kind": [_("Choose purchase or sales.")]})
    if not can_read(actor, company_id):
        raise NotFound(_("Company not found."))
    _require_writer(actor, kind, company_id)
    header.setdefault("owner_id", getattr(actor, "pk", None))
    contract = Contract(
        company_id=company_id,
        kind=kind,
        status=ContractStatus.DRAFT,
        created_by=actor,
    )
    _apply_header(contract, {"partner_id": partner_id, "payment_term": payment_term, **header})
    _check_header(contract)
    _check_counterparty(contract, clock.today())
    clean = _clean_lines(company_id, lines)
    number = number.strip()
    if not number:
        number = next_number(
            company_id=company_id,
            prefix="CG" if kind == ContractKind.PURCHASE else "XS",
            day=clock.today(),
        )
    elif Contract.objects.filter(company_id=company_id, number=number).exists():
        raise Conflict(
            _("Contract number %(number)s is already used in this company.") % {"number": number},
            code=TradingErrorCode.DUPLICATE,
            fields={"number": [_("Already used.")]},
        )
    contract.number = number
    try:
        with transaction.atomic():
            contract.save()
    except IntegrityError as error:  # a concurrent twin took the number
        raise Conflict(
            _("Contract number %(number)s is already used in this company.") % {"number": number},
            code=TradingErrorCode.DUPLICATE,
            fields={"number": [_("Already used.")]},
        ) from error
    contract.original = contract
    _write_lines(contract, clean)
    contract.save()
    audit_record(
        actor=actor,
        action="trading.contract.created",
        company_id=company_id,
        target=contract,
        changes={**_changes({}, _snapshot(contract)), "lines": [None, len(clean)]},
    )
    return contract


@retry_on_conflict()
@transaction.atomic
def contract_update(
    *,
    actor: Any,
    contract_id: int,
    expected_version: int | None = None,
    lines: Iterable[Mapping[str, Any]] | None = None,
    **changes: Any,
) -> Contract:
    """Edit a draft (header and, when given, the whole set of lines)."""
    contract = _lock(actor, contract_id)
    _check_version(contract, expected_version)
    if contract.status != ContractStatus.DRAFT:
        raise Conflict(
            _("Only a draft can be edited; this contract is “%(status)s”.")
            % {"status": ContractStatus(contract.status).label},
            code=TradingErrorCode.IMMUTABLE,
        )
    if (
        contract.amends_id
        and "partner_id" in changes
        and changes["partner_id"] != contract.partner_id
    ):
        raise _invalid({"partner": [_("An amendment keeps the counterparty.")]})
    before = _snapshot(contract)
    _apply_header(contract, changes)
    _check_header(contract)
    if "partner_id" in changes:
        _check_counterparty(contract, clock.today())
    line_count = None
    if lines is not None:
        clean = _clean_lines(contract.company_id, lines)
        _write_lines(contract, clean)
        line_count = len(clean)
    contract.version += 1
    contract.save()
    delta: dict[str, Any] = _changes(before, _snapshot(contract))
    if line_count is not None:
        delta["lines"] = [None, line_count]
    audit_record(
        actor=actor,
        action="trading.contract.updated",
        company_id=contract.company_id,
        target=contract,
        changes=delta,
    )
    return contract


def _approval_form(contract: Contract, partner: Partner) -> dict[str, Any]:
    kind = "采购" if contract.kind == ContractKind.PURCHASE else "销售"
    term = ""
    if contract.delivery_start or contract.delivery_end:
        term = f"{contract.delivery_start or ''} ~ {contract.delivery_end or ''}"
    # Form data is data, in the flow's language (like its labels), not the reader's.
    payment = {
        PaymentTerm.PREPAYMENT: f"预付{contract.prepayment_percent}%",
        PaymentTerm.ON_DELIVERY: "货到付款",
        PaymentTerm.CREDIT: "赊销",
    }.get(PaymentTerm(contract.payment_term), "")
    if contract.credit_days:
        payment = f"{payment}，账期{contract.credit_days}天"
    title = f"{kind}合同 {contract.number}"
    if contract.revision:
        title = f"{title}（变更{contract.revision}）"
    return {
        "title": f"{title} {partner.name}"[:200],
        "contract_type": kind,
        "contract_number": contract.number,
        "revision": str(contract.revision),
        "counterparty": partner.name,
        "amount": str(contract.total_amount),
        "signing_date": contract.signed_on.isoformat() if contract.signed_on else None,
        "term": term,
        "payment_terms": str(payment)[:200],
        "remarks": contract.remarks[:5000],
    }


def _check_amendment_lines(contract: Contract, amended: Contract) -> None:
    """Lines already executed on the revision being amended stay, with their commodity and at
    least their executed quantity."""
    new_lines = {line.line_number: line for line in contract.lines.all()}
    problems: dict[str, list[str]] = {}
    for old in amended.lines.all():
        if not old.executed_quantity:
            continue
        new = new_lines.get(old.line_number)
        key = f"lines.{old.line_number}"
        if new is None or new.commodity_id != old.commodity_id:
            problems[key] = [
                _("Line %(line)s has been executed; it stays, with the same commodity.")
                % {"line": old.line_number}
            ]
        elif new.quantity < old.executed_quantity:
            problems[f"{key}.quantity"] = [
                _("Not below the %(executed)s already executed.")
                % {"executed": old.executed_quantity}
            ]
    if problems:
        raise _invalid(problems)


@retry_on_conflict()
@transaction.atomic
def contract_submit(
    *, actor: Any, contract_id: int, expected_version: int | None = None
) -> Contract:
    """Send a draft to the contract approval flow."""
    contract = _lock(actor, contract_id)
    _check_version(contract, expected_version)
    _move(contract, ContractStatus.PENDING)
    problems: dict[str, list[str]] = {}
    if not contract.lines.exists():
        problems["lines"] = [_("Add at least one line.")]
    if contract.delivery_end is None:
        problems["delivery_end"] = [_("This field is required.")]
    if contract.end_on is None:
        problems["end_on"] = [_("This field is required.")]
    if problems:
        raise _invalid(problems)
    _check_header(contract)
    partner = _check_counterparty(contract, clock.today())
    if contract.amends_id:
        amended = Contract.objects.get(pk=contract.amends_id)
        if amended.status != ContractStatus.EFFECTIVE:
            raise Conflict(
                _("The revision this amends is no longer effective."),
                code=TradingErrorCode.NOT_EFFECTIVE,
            )
        _check_amendment_lines(contract, amended)
    credit_services.sales_contract_check(contract=contract)
    contract.version += 1
    contract.save(update_fields=["status", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.contract.submitted",
        company_id=contract.company_id,
        target=contract,
        changes={"status": [ContractStatus.DRAFT, ContractStatus.PENDING]},
    )
    request = approval_services.request_submit(
        actor=actor,
        template_code=FLOW_CODE,
        form_data=_approval_form(contract, partner),
        document_type=DOCUMENT_TYPE,
        document_id=str(contract.pk),
    )
    # The route may already have finished (every step skipped): the callback has then
    # changed the row, so only the link is written here.
    Contract.objects.filter(pk=contract.pk).update(approval_request=request)
    contract.refresh_from_db()
    return contract


@retry_on_conflict()
@transaction.atomic
def contract_cancel(
    *, actor: Any, contract_id: int, reason: str = "", expected_version: int | None = None
) -> Contract:
    """Cancel a draft (never submitted, or rejected, or withdrawn)."""
    contract = _lock(actor, contract_id)
    _check_version(contract, expected_version)
    before = contract.status
    _move(contract, ContractStatus.CANCELLED)
    contract.status_reason = reason.strip()[:255]
    contract.version += 1
    contract.save(update_fields=["status", "status_reason", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.contract.cancelled",
        company_id=contract.company_id,
        target=contract,
        changes={"status": [before, contract.status], "reason": [None, contract.status_reason]},
    )
    warnings_refresh_after_commit(contract_ids=[contract.pk])
    return contract


def _refuse_live(live: selectors.LiveDocuments, *, blocked: bool) -> None:
    if not blocked:
        return
    parts = []
    if live.stock_drafts:
        parts.append(_("%(count)d goods receipt or issue drafts") % {"count": live.stock_drafts})
    if live.invoice_drafts:
        parts.append(_("%(count)d invoice drafts") % {"count": live.invoice_drafts})
    if live.open_payments:
        parts.append(_("%(count)d open payments or receipts") % {"count": live.open_payments})
    if live.open_amendments:
        parts.append(_("an amendment under way"))
    raise Conflict(
        _("Documents still point at this contract: %(documents)s. Post or cancel them first.")
        % {"documents": ", ".join(str(part) for part in parts)},
        code=TradingErrorCode.IMMUTABLE,
    )


@retry_on_conflict()
@transaction.atomic
def contract_terminate(
    *,
    actor: Any,
    contract_id: int,
    reason: str,
    terminated_on: datetime.date | None = None,
    expected_version: int | None = None,
) -> Contract:
    """End an effective contract early. Delivery stops; invoices and payments for what was
    delivered may still be booked."""
    contract = _lock(actor, contract_id)
    _check_version(contract, expected_version)
    if not reason.strip():
        raise _invalid({"reason": [_("Say why the contract is terminated.")]})
    terminated_on = terminated_on or clock.today()
    if contract.effective_on and terminated_on < contract.effective_on:
        raise _invalid({"terminated_on": [_("Not before the contract took effect.")]})
    _move(contract, ContractStatus.TERMINATED)
    live = selectors.contract_live_documents(contract)
    _refuse_live(live, blocked=live.blocks_termination)
    contract.terminated_on = terminated_on
    contract.status_reason = reason.strip()[:255]
    contract.version += 1
    contract.save(
        update_fields=["status", "terminated_on", "status_reason", "version", "updated_at"]
    )
    audit_record(
        actor=actor,
        action="trading.contract.terminated",
        company_id=contract.company_id,
        target=contract,
        changes={
            "status": [ContractStatus.EFFECTIVE, ContractStatus.TERMINATED],
            "terminated_on": [None, terminated_on.isoformat()],
            "reason": [None, contract.status_reason],
        },
    )
    credit_services.sales_contract_changed(contract=contract, actor=actor)
    warnings_refresh_after_commit(contract_ids=[contract.pk])
    return contract


@retry_on_conflict()
@transaction.atomic
def contract_complete(
    *, actor: Any, contract_id: int, expected_version: int | None = None
) -> Contract:
    """Close an effective contract as fulfilled; nothing may still be open against it."""
    contract = _lock(actor, contract_id)
    _check_version(contract, expected_version)
    _move(contract, ContractStatus.COMPLETED)
    live = selectors.contract_live_documents(contract)
    _refuse_live(live, blocked=live.blocks_completion)
    contract.completed_on = clock.today()
    contract.version += 1
    contract.save(update_fields=["status", "completed_on", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.contract.completed",
        company_id=contract.company_id,
        target=contract,
        changes={"status": [ContractStatus.EFFECTIVE, ContractStatus.COMPLETED]},
    )
    credit_services.sales_contract_changed(contract=contract, actor=actor)
    warnings_refresh_after_commit(contract_ids=[contract.pk])
    return contract


@retry_on_conflict()
@transaction.atomic
def contract_amend(*, actor: Any, contract_id: int) -> Contract:
    """Start an amendment: a draft revision copied from the effective one."""
    contract = _lock(actor, contract_id)
    if contract.status != ContractStatus.EFFECTIVE:
        raise InvalidTransition(_("Only an effective contract can be amended."))
    original_id = contract.original_id or contract.pk
    chain = Contract.objects.filter(Q(pk=original_id) | Q(original_id=original_id))
    if chain.filter(amends=contract, status__in=selectors.OPEN_STATUSES).exists():
        raise Conflict(
            _("An amendment of this contract is already under way."),
            code=TradingErrorCode.DUPLICATE,
        )
    revision = (chain.aggregate(top=Max("revision"))["top"] or 0) + 1
    amendment = Contract(
        company_id=contract.company_id,
        number=contract.number,
        revision=revision,
        original_id=original_id,
        amends=contract,
        kind=contract.kind,
        partner_id=contract.partner_id,
        status=ContractStatus.DRAFT,
        signed_on=contract.signed_on,
        delivery_start=contract.delivery_start,
        delivery_end=contract.delivery_end,
        end_on=contract.end_on,
        payment_term=contract.payment_term,
        prepayment_percent=contract.prepayment_percent,
        credit_days=contract.credit_days,
        total_quantity=contract.total_quantity,
        total_amount=contract.total_amount,
        total_tax=contract.total_tax,
        owner_id=contract.owner_id,
        department_id=contract.department_id,
        remarks=contract.remarks,
        created_by=actor,
    )
    try:
        with transaction.atomic():
            amendment.save()
    except IntegrityError as error:
        raise Conflict(
            _("An amendment of this contract is already under way."),
            code=TradingErrorCode.DUPLICATE,
        ) from error
    ContractLine.objects.bulk_create(
        ContractLine(
            contract=amendment,
            line_number=line.line_number,
            commodity_id=line.commodity_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_rate=line.tax_rate,
            amount=line.amount,
            quantity_tolerance_percent=line.quantity_tolerance_percent,
        )
        for line in contract.lines.all()
    )
    audit_record(
        actor=actor,
        action="trading.contract.amendment_started",
        company_id=contract.company_id,
        target=amendment,
        changes={"amends": [None, contract.pk], "revision": [None, revision]},
    )
    return amendment


# ---------------------------------------------------------------- execution (other areas)


@transaction.atomic
def contract_lock_for_execution(*, contract_id: int) -> Contract:
    """Lock the revision in force of the contract `contract_id` (following an approved
    amendment) for booking goods or money against it; refuse one not (or no longer) in force.
    Callers check the user's permission themselves; call inside their transaction."""
    contract = Contract.objects.select_for_update().filter(pk=contract_id).first()
    if contract is None:
        raise NotFound(_("Contract not found."))
    if contract.status == ContractStatus.SUPERSEDED:
        current_id = selectors.contract_current_revision_id(contract)
        contract = Contract.objects.select_for_update().get(pk=current_id)
    if contract.status not in selectors.EXECUTABLE_STATUSES:
        raise Conflict(
            _("Contract %(contract)s is not in force (%(status)s).")
            % {"contract": contract, "status": ContractStatus(contract.status).label},
            code=TradingErrorCode.NOT_EFFECTIVE,
            fields={"contract": [_("Not in force.")]},
        )
    return contract


# ---------------------------------------------------------------- approval callbacks


def _document(request: ApprovalRequest) -> Contract:
    contract = Contract.objects.select_for_update().filter(pk=int(request.document_id)).first()
    if contract is None:
        raise NotFound(_("Contract not found."))
    return contract


def _on_approved(*, request: ApprovalRequest, actor: Any) -> None:
    contract = _document(request)
    if contract.status != ContractStatus.PENDING:
        raise Conflict(_("The contract is not waiting for approval."))
    today = clock.today()
    _check_counterparty(contract, today)
    changes: dict[str, Any] = {"status": [ContractStatus.PENDING, ContractStatus.EFFECTIVE]}
    if contract.amends_id:
        previous = Contract.objects.select_for_update().get(pk=contract.amends_id)
        if previous.status != ContractStatus.EFFECTIVE:
            raise Conflict(
                _("The revision this amends is no longer effective."),
                code=TradingErrorCode.NOT_EFFECTIVE,
            )
        _check_amendment_lines(contract, previous)
        executed = {
            line.line_number: line.executed_quantity
            for line in previous.lines.all()
            if line.executed_quantity
        }
        for line in contract.lines.filter(line_number__in=executed):
            line.executed_quantity = executed[line.line_number]
            line.save(update_fields=["executed_quantity"])
        contract.invoiced_amount = previous.invoiced_amount
        contract.settled_amount = previous.settled_amount
        previous.status = ContractStatus.SUPERSEDED
        previous.version += 1
        previous.save(update_fields=["status", "version", "updated_at"])
        audit_record(
            actor=actor,
            action="trading.contract.superseded",
            company_id=previous.company_id,
            target=previous,
            changes={
                "status": [ContractStatus.EFFECTIVE, ContractStatus.SUPERSEDED],
                "superseded_by": [None, contract.pk],
            },
        )
        changes["carried_over"] = [
            None,
            {
                "executed_lines": len(executed),
                "invoiced_amount": str(previous.invoiced_amount),
                "settled_amount": str(previous.settled_amount),
            },
        ]
    contract.status = ContractStatus.EFFECTIVE
    contract.effective_on = today
    contract.approval_request = request
    contract.version += 1
    contract.save()
    audit_record(
        actor=actor,
        action="trading.contract.approved",
        company_id=contract.company_id,
        target=contract,
        changes=changes,
    )
    credit_services.sales_contract_changed(contract=contract, actor=actor)
    warnings_refresh_after_commit(contract_ids=[contract.pk])


def _back_to_draft(request: ApprovalRequest, actor: Any, action: str) -> None:
    contract = _document(request)
    if contract.status != ContractStatus.PENDING:
        return
    contract.status = ContractStatus.DRAFT
    contract.version += 1
    contract.save(update_fields=["status", "version", "updated_at"])
    audit_record(
        actor=actor,
        action=action,
        company_id=contract.company_id,
        target=contract,
        changes={"status": [ContractStatus.PENDING, ContractStatus.DRAFT]},
    )


def _on_rejected(*, request: ApprovalRequest, actor: Any) -> None:
    _back_to_draft(request, actor, "trading.contract.rejected")


def _on_withdrawn(*, request: ApprovalRequest, actor: Any) -> None:
    _back_to_draft(request, actor, "trading.contract.withdrawn")


def _company_of(*, document_id: str) -> int | None:
    try:
        pk = int(document_id)
    except (TypeError, ValueError):
        return None
    return Contract.objects.filter(pk=pk).values_list("company_id", flat=True).first()


CONTRACT_DOCUMENT = DocumentType(
    key=DOCUMENT_TYPE,
    label=gettext_lazy("Trading contract"),
    on_approved=_on_approved,
    on_rejected=_on_rejected,
    on_withdrawn=_on_withdrawn,
    company_of=_company_of,
    url_of=page_of("trading:contract_detail"),
)


def register_document_types() -> None:
    """Register this area's approval-bound document types (called from AppConfig.ready)."""
    register_document_type(CONTRACT_DOCUMENT)

"""Trading services: stock. Writes only; each service is atomic and audited.

Goods receipts (入库, against an effective purchase contract) and goods issues (出库, against an
effective sales contract): draft → posted (immutable) → reversed (红冲: a new posted document with
`reverses` set and negated lines; the original becomes "reversed"). A draft can be cancelled;
a correction after posting is a reversal plus a new document. Stocktakes and third-party
warehouse statements post their variances only when approved. Opening stock is posted per
warehouse and commodity.

Every posting goes through the one ledger writer (`stock_ledger.LedgerPosting`): lock the
balance rows of the touched series in (warehouse, commodity) order — after the contract row,
whose lock guards the contract lines' executed quantities — value the movements under
moving-average costing (`qinglian.trading.costing`), append the ledger entries, update the
balances and the monthly totals. A movement dated before the latest entry of its series is
backdated: it is valued at the average of its own date, the quantity is checked at every
later point, and the later entries whose cost changes get revaluation entries — one pass over
the series, written set-wise.

Lock order, everywhere: stock document → contract → stock balances (warehouse, commodity) →
document counter → audit chain head → (goods issues) the customer's credit exposure row
(services.credit, which may refuse the issue).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.approvals import services as approval_services
from qinglian.approvals.registry import DocumentType, register_document_type
from qinglian.core import clock
from qinglian.core.audit import audit_record
from qinglian.core.db import retry_on_conflict
from qinglian.core.errors import (
    ApplicationError,
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from qinglian.core.workbook import (
    Column,
    ImportProblem,
    Problems,
    RowFailed,
    SheetRow,
    SheetSpec,
    WorkbookData,
    WorkbookRejected,
    read_workbook,
    service_problems,
)
from qinglian.core.workbook import template_workbook as write_template
from qinglian.org.models import Company

from .. import costing
from ..costing import ZERO, Valuation
from ..enums import (
    ApprovedPostingStatus,
    ContractKind,
    ContractStatus,
    PostingStatus,
    StockDocumentKind,
    StockEntryKind,
    StocktakeKind,
    TradingErrorCode,
)
from ..links import page_of
from ..models import Commodity, ContractLine, Warehouse
from ..models.stock import (
    StockBalance,
    StockDocument,
    StockDocumentLine,
    StockLedgerEntry,
    StockOpening,
    Stocktake,
    StocktakeLine,
)
from ..numbering import next_number
from ..permissions import TradingAction, can, can_read, companies_for
from ..selectors.stock import series_state_at
from . import credit as credit_services
from .stock_ledger import (
    ContractLineRow,
    LedgerMovement,
    LedgerPosting,
    SeriesKey,
    insert_instance,
    insert_rows,
    locked_contract_lines,
    quantity_text,
    update_rows,
)
from .warnings import warnings_refresh_after_commit

PREFIXES: dict[str, str] = {
    StockDocumentKind.RECEIPT: "RK",
    StockDocumentKind.ISSUE: "CK",
    "stocktake": "PD",
    "opening": "QC",
}
ACTION_FOR: dict[str, TradingAction] = {
    StockDocumentKind.RECEIPT: TradingAction.GOODS_RECEIPT,
    StockDocumentKind.ISSUE: TradingAction.GOODS_ISSUE,
}
CONTRACT_KIND_FOR: dict[str, str] = {
    StockDocumentKind.RECEIPT: ContractKind.PURCHASE,
    StockDocumentKind.ISSUE: ContractKind.SALES,
}
TRANSITIONS: dict[str, frozenset[str]] = {
    PostingStatus.DRAFT: frozenset({PostingStatus.POSTED, PostingStatus.CANCELLED}),
    PostingStatus.POSTED: frozenset({PostingStatus.REVERSED}),
}
STOCKTAKE_TRANSITIONS: dict[str, frozenset[str]] = {
    ApprovedPostingStatus.DRAFT: frozenset(
        {ApprovedPostingStatus.PENDING, ApprovedPostingStatus.CANCELLED}
    ),
    ApprovedPostingStatus.PENDING: frozenset(
        {
            ApprovedPostingStatus.POSTED,
            ApprovedPostingStatus.REJECTED,
            ApprovedPostingStatus.DRAFT,  # withdrawn by the requester
        }
    ),
    ApprovedPostingStatus.REJECTED: frozenset(
        {ApprovedPostingStatus.PENDING, ApprovedPostingStatus.CANCELLED}
    ),
}
STOCKTAKE_DOCUMENT_TYPE = "trading.stocktake"
STOCKTAKE_TEMPLATE = "trading_stocktake"
MAX_LINES = 200
LARGEST = Decimal(10) ** 15  # no quantity column holds more (18 digits, 3 after the point)


# ---------------------------------------------------------------- approval flows

# Approval flows this area ships (kwargs of approvals.services.template_save, minus actor).
# A stocktake variance (盘点差异) is posted only after the keeper's department head (or the
# company's general manager when the keeper has no department head), finance and the leader in
# charge have agreed.
STOCKTAKE_FLOW: dict[str, Any] = {
    "code": STOCKTAKE_TEMPLATE,
    "name": "库存盘点差异",
    "category": "购销存",
    "description": "盘点或第三方仓库对账单与账面不符时，差异经审批后方可入账。",
    "document_type": STOCKTAKE_DOCUMENT_TYPE,
    "definition": {
        "fields": [
            {"key": "title", "label": "事由", "type": "text", "required": True},
            {"key": "warehouse", "label": "仓库", "type": "text", "required": True},
            {"key": "counted_on", "label": "盘点日期", "type": "date", "required": True},
            {"key": "variance_value", "label": "差异金额（绝对值）", "type": "money"},
            {
                "key": "lines",
                "label": "差异明细",
                "type": "rows",
                "columns": [
                    {"key": "commodity", "label": "商品", "type": "text"},
                    {"key": "book", "label": "账面数量", "type": "number"},
                    {"key": "counted", "label": "实盘数量", "type": "number"},
                    {"key": "variance", "label": "差异", "type": "number"},
                    {"key": "reason", "label": "原因", "type": "text"},
                ],
            },
        ],
        "route": [
            {
                "key": "warehouse_head",
                "name": "仓储部门负责人",
                "approver": {"kind": "department_head"},
                "time_limit_hours": 48,
            },
            {
                "key": "finance",
                "name": "财务审核",
                "approver": {"kind": "role", "role": "finance"},
                "time_limit_hours": 48,
            },
            {
                "key": "leader",
                "name": "分管领导",
                "approver": {"kind": "leader_in_charge"},
                "time_limit_hours": 72,
            },
        ],
        "title_field": "title",
        "amount_field": "variance_value",
    },
}
APPROVAL_FLOWS: list[dict[str, Any]] = [STOCKTAKE_FLOW]


def register_document_types() -> None:
    """Register this area's approval-bound document types (called from AppConfig.ready)."""
    register_document_type(
        DocumentType(
            key=STOCKTAKE_DOCUMENT_TYPE,
            label=gettext_lazy("Stocktake"),
            on_approved=_stocktake_approved,
            on_rejected=_stocktake_rejected,
            on_withdrawn=_stocktake_withdrawn,
            company_of=_stocktake_company,
            url_of=page_of("trading:stocktake_detail"),
        )
    )


# ---------------------------------------------------------------- small helpers


def _today() -> datetime.date:
    return clock.today()


def _decimal(value: Any) -> Decimal | None:
    """A number from input, or None for anything else — and for more than 15 digits before
    the point, which no quantity, price or amount column holds."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or (number and number.adjusted() >= 15):
        return None
    return number


def _check_transition(current: str, target: str, transitions: Mapping[str, frozenset[str]]) -> None:
    if target not in transitions.get(current, frozenset()):
        raise InvalidTransition(
            _("Cannot move from %(current)s to %(target)s.")
            % {"current": current, "target": target}
        )


def _require_write(actor: Any, action: TradingAction, company_id: int) -> None:
    """Out of the actor's read scope the document does not exist; in it, writing needs the
    action's role in that company."""
    if not can_read(actor, company_id):
        raise NotFound(_("Not found."))
    if not can(actor, action, company_id):
        raise PermissionDenied(_("You may not do this for this company."))


def _line_label(number: int) -> str:
    """How errors name a line: "lines.2" (1-based), its fields "lines.2.quantity"."""
    return f"lines.{number}"


def _line_field(number: int, name: str) -> str:
    return f"{_line_label(number)}.{name}"


def _problems() -> defaultdict[str, list[str]]:
    return defaultdict(list)


def _raise_problems(problems: Mapping[str, list[str]], code: str | None = None) -> None:
    if problems:
        raise ValidationFailed(
            _("Please correct the highlighted fields."), code=code, fields=dict(problems)
        )


def _commodity_shared_with(commodity_company_path: str, company: Company) -> bool:
    """Master data owned by a company is shared with every company below it."""
    return company.path.startswith(commodity_company_path)


# ---------------------------------------------------------------- receipts and issues


@dataclass(frozen=True)
class StockLineInput:
    """One line of a receipt or issue as the user gives it: the contract line (or just the
    commodity, when the contract has it once), the document quantity, the weighbridge reading
    and, when they differ beyond the commodity's tolerance, the reason."""

    quantity: Decimal
    contract_line_id: int | None = None
    commodity_id: int | None = None
    weighed_quantity: Decimal | None = None
    difference_reason: str = ""


@dataclass
class _Line:
    number: int
    contract_line: ContractLineRow
    quantity: Decimal
    weighed_quantity: Decimal | None
    difference_reason: str
    amount: Decimal = ZERO


def _optional_id(
    raw: Mapping[str, Any], name: str, number: int, problems: dict[str, list[str]]
) -> int | None:
    value: Any = raw.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        problems[_line_field(number, name.removesuffix("_id"))].append(_("Not a valid choice."))
        return None


def _line_inputs(lines: Sequence[StockLineInput | Mapping[str, Any]]) -> list[StockLineInput]:
    problems = _problems()
    parsed: list[StockLineInput] = []
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, StockLineInput):
            parsed.append(raw)
            continue
        quantity = _decimal(raw.get("quantity"))
        weighed_raw = raw.get("weighed_quantity")
        weighed = _decimal(weighed_raw)
        if quantity is None:
            problems[_line_field(number, "quantity")].append(_("Enter a number."))
        if weighed_raw not in (None, "") and weighed is None:
            problems[_line_field(number, "weighed_quantity")].append(_("Enter a number."))

        parsed.append(
            StockLineInput(
                quantity=quantity if quantity is not None else ZERO,
                contract_line_id=_optional_id(raw, "contract_line_id", number, problems),
                commodity_id=_optional_id(raw, "commodity_id", number, problems),
                weighed_quantity=weighed,
                difference_reason=str(raw.get("difference_reason") or "").strip(),
            )
        )
    _raise_problems(problems)
    return parsed


def _resolve_lines(
    kind: str, contract_lines: list[ContractLineRow], inputs: list[StockLineInput]
) -> list[_Line]:
    problems = _problems()
    if not inputs:
        problems["lines"].append(_("Add at least one line."))
    if len(inputs) > MAX_LINES:
        problems["lines"].append(_("At most %(count)d lines.") % {"count": MAX_LINES})
    by_id = {line.pk: line for line in contract_lines}
    by_commodity: dict[int, list[ContractLineRow]] = defaultdict(list)
    for line in contract_lines:
        by_commodity[line.commodity_id].append(line)
    resolved: list[_Line] = []
    for number, given in enumerate(inputs, start=1):
        contract_line: ContractLineRow | None = None
        if given.contract_line_id is not None:
            contract_line = by_id.get(given.contract_line_id)
            if contract_line is None:
                problems[_line_field(number, "contract_line")].append(
                    _("Not a line of this contract.")
                )
        elif given.commodity_id is not None:
            candidates = by_commodity.get(given.commodity_id, [])
            if len(candidates) == 1:
                contract_line = candidates[0]
            elif not candidates:
                problems[_line_field(number, "commodity")].append(
                    _("This commodity is not on the contract.")
                )
            else:
                problems[_line_field(number, "contract_line")].append(
                    _("The contract has this commodity on several lines: choose the line.")
                )
        else:
            problems[_line_field(number, "contract_line")].append(_("This field is required."))
        if given.quantity <= 0:
            problems[_line_field(number, "quantity")].append(_("Must be more than zero."))
        elif given.quantity >= LARGEST:
            problems[_line_field(number, "quantity")].append(_("Too large."))
        elif given.quantity != given.quantity.quantize(costing.MILLI):
            problems[_line_field(number, "quantity")].append(_("At most three decimal places."))
        weighed = given.weighed_quantity
        if weighed is not None:
            if weighed < 0:
                problems[_line_field(number, "weighed_quantity")].append(_("Must not be negative."))
            elif weighed >= LARGEST:
                problems[_line_field(number, "weighed_quantity")].append(_("Too large."))
            elif weighed != weighed.quantize(costing.MILLI):
                problems[_line_field(number, "weighed_quantity")].append(
                    _("At most three decimal places.")
                )
            else:
                weighed = weighed.quantize(costing.MILLI)
            if _line_field(number, "weighed_quantity") in problems:
                weighed = None
        if len(given.difference_reason) > 255:
            problems[_line_field(number, "difference_reason")].append(
                _("At most %(limit)d characters.") % {"limit": 255}
            )
        if contract_line is None:
            continue
        tolerance = contract_line.tolerance_percent
        if (
            weighed is not None
            and 0 < given.quantity < LARGEST
            and not given.difference_reason
            and costing.difference_percent(given.quantity, weighed) > tolerance
        ):
            problems[_line_field(number, "difference_reason")].append(
                _(
                    "Line %(line)d: the weighed quantity differs from the document quantity by "
                    "%(percent)s %%, beyond the tolerance of %(tolerance)s %%: give a reason."
                )
                % {
                    "line": number,
                    "percent": costing.difference_percent(given.quantity, weighed).quantize(
                        Decimal("0.01")
                    ),
                    "tolerance": tolerance,
                }
            )
        resolved.append(
            _Line(
                number=number,
                contract_line=contract_line,
                quantity=given.quantity.quantize(costing.MILLI)
                if given.quantity < LARGEST
                else given.quantity,
                weighed_quantity=weighed,
                difference_reason=given.difference_reason,
                amount=costing.amount_of(given.quantity, contract_line.unit_price),
            )
        )
    code = None
    if problems and all(name.endswith("difference_reason") for name in problems):
        code = TradingErrorCode.TOLERANCE
    _raise_problems(problems, code)
    return resolved


def check_contract_execution(changes: Sequence[tuple[str, ContractLineRow, Decimal]]) -> None:
    """Refuse executing a contract line beyond its quantity plus its tolerance.

    `changes`: (input field naming the line, the locked contract line, quantity added). This is
    the one place the rule lives; part 2 turns it into warnings and approved exceptions."""
    added: dict[int, Decimal] = defaultdict(Decimal)
    fields: dict[int, list[str]] = defaultdict(list)
    lines: dict[int, ContractLineRow] = {}
    for label, contract_line, quantity in changes:
        added[contract_line.pk] += quantity
        fields[contract_line.pk].append(label)
        lines[contract_line.pk] = contract_line
    problems = _problems()
    for line_id, quantity in added.items():
        line = lines[line_id]
        if quantity <= 0:
            continue
        allowance = costing.contract_allowance(line.quantity, line.quantity_tolerance_percent)
        room = allowance - line.executed_quantity
        if quantity > room:
            message = _(
                "Contract line %(line)d (%(commodity)s): %(executed)s of %(quantity)s already "
                "executed, at most %(allowance)s with the tolerance: %(room)s left, %(wanted)s "
                "asked."
            ) % {
                "line": line.line_number,
                "commodity": line.commodity,
                "executed": quantity_text(line.executed_quantity),
                "quantity": quantity_text(line.quantity),
                "allowance": quantity_text(allowance),
                "room": quantity_text(max(room, ZERO)),
                "wanted": quantity_text(quantity),
            }
            for label in fields[line_id]:
                problems[f"{label}.quantity"].append(message)
    if problems:
        raise ValidationFailed(
            next(iter(problems.values()))[0],
            code=TradingErrorCode.OVER_CONTRACT,
            fields=dict(problems),
        )


def _execute_contract(changes: Iterable[tuple[ContractLineRow, Decimal]]) -> None:
    """Move the executed quantities of locked contract lines."""
    touched: dict[int, ContractLineRow] = {}
    for contract_line, quantity in changes:
        contract_line.executed_quantity += quantity
        touched[contract_line.pk] = contract_line
    if touched:
        update_rows(ContractLine, list(touched.values()), ["executed_quantity"])


def _document_context(
    *,
    actor: Any,
    kind: str,
    contract_id: int,
    warehouse_id: int,
    posting_date: datetime.date,
) -> tuple[list[ContractLineRow], int]:
    """Lock the contract, check who may write and what the header points at; the contract's
    lines and the warehouse id."""
    if kind not in ACTION_FOR:
        raise ValidationFailed(_("Unknown document kind."), fields={"kind": [str(kind)]})
    contract_lines = locked_contract_lines(contract_id, warehouse_id)
    if not contract_lines:
        raise NotFound(_("Contract not found."))
    contract = contract_lines[0].contract
    _require_write(actor, ACTION_FOR[kind], contract.company_id)
    problems = _problems()
    if contract.kind != CONTRACT_KIND_FOR[kind]:
        problems["contract"].append(
            _("A goods receipt needs a purchase contract.")
            if kind == StockDocumentKind.RECEIPT
            else _("A goods issue needs a sales contract.")
        )
    code = None
    if contract.status != ContractStatus.EFFECTIVE:
        code = TradingErrorCode.NOT_EFFECTIVE
        problems["contract"].append(
            _("Contract %(number)s is not effective (%(status)s).")
            % {"number": contract, "status": contract.get_status_display()}
        )
    warehouse = contract_lines[0].warehouse
    if warehouse is None or warehouse[0] != contract.company_id:
        problems["warehouse"].append(_("Choose a warehouse of the contract's company."))
    elif not warehouse[1]:
        problems["warehouse"].append(_("This warehouse is closed."))
    if posting_date > _today():
        problems["posting_date"].append(_("The date cannot be in the future."))
    _raise_problems(problems, code)
    return contract_lines, warehouse_id


def _movement_for(kind: str, line: _Line, warehouse_id: int) -> LedgerMovement:
    contract_line = line.contract_line
    if kind == StockDocumentKind.RECEIPT:
        return LedgerMovement(
            warehouse_id=warehouse_id,
            commodity_id=contract_line.commodity_id,
            kind=StockEntryKind.RECEIPT,
            quantity=line.quantity,
            valuation=Valuation.FIXED,
            own_value=costing.net_value(
                line.quantity, contract_line.unit_price, contract_line.tax_rate
            ),
            label=_line_label(line.number),
        )
    return LedgerMovement(
        warehouse_id=warehouse_id,
        commodity_id=contract_line.commodity_id,
        kind=StockEntryKind.ISSUE,
        quantity=-line.quantity,
        valuation=Valuation.AVERAGE,
        own_value=ZERO,
        label=_line_label(line.number),
    )


def _names(lines: Iterable[ContractLineRow], warehouse_id: int) -> dict[SeriesKey, str]:
    return {(warehouse_id, line.commodity_id): str(line.commodity) for line in lines}


def _line_cost(kind: str, value: Decimal) -> Decimal:
    """A line's stock value as the document shows it: what came in, or what went out."""
    return value if kind == StockDocumentKind.RECEIPT else -value


def _document_summary(document: StockDocument) -> dict[str, Any]:
    return {
        "number": [None, document.number],
        "kind": [None, document.kind],
        "contract": [None, document.contract_id],
        "warehouse": [None, document.warehouse_id],
        "posting_date": [None, document.posting_date.isoformat()],
        "total_quantity": [None, str(document.total_quantity)],
        "total_amount": [None, str(document.total_amount)],
    }


_DOCUMENT_FIELDS = (
    "created_at",
    "updated_at",
    "company_id",
    "number",
    "kind",
    "status",
    "warehouse_id",
    "contract_id",
    "partner_id",
    "posting_date",
    "reverses_id",
    "keeper_id",
    "total_quantity",
    "total_amount",
    "total_cost",
    "remarks",
    "created_by_id",
    "posted_by_id",
    "posted_at",
    "idempotency_key",
    "version",
)
_LINE_COLUMNS = (
    "document_id",
    "line_number",
    "contract_line_id",
    "commodity_id",
    "quantity",
    "weighed_quantity",
    "difference_reason",
    "unit_price",
    "amount",
    "cost",
)


def _insert_document(document: StockDocument) -> None:
    now = clock.now()
    document.created_at = document.updated_at = now
    insert_instance(document, _DOCUMENT_FIELDS)


def _insert_lines(document_id: int, lines: Sequence[tuple[Any, ...]]) -> list[int]:
    """lines: (line number, contract line id, commodity id, quantity, weighed quantity,
    difference reason, unit price, amount, cost)."""
    return insert_rows(StockDocumentLine, _LINE_COLUMNS, [(document_id, *line) for line in lines])


def _actor_id(actor: Any) -> int | None:
    return getattr(actor, "pk", None)


@retry_on_conflict()
@transaction.atomic
def stock_document_create(
    *,
    actor: Any,
    kind: str,
    contract_id: int,
    warehouse_id: int,
    posting_date: datetime.date,
    lines: Sequence[StockLineInput | Mapping[str, Any]],
    remarks: str = "",
    post: bool = False,
    idempotency_key: str = "",
) -> StockDocument:
    """A goods receipt or issue against an effective contract: a draft, or — with `post` —
    created and posted in one transaction ("save and post")."""
    if idempotency_key:
        earlier = StockDocument.objects.filter(
            created_by_id=_actor_id(actor), idempotency_key=idempotency_key
        ).first()
        if earlier is not None:
            return earlier
    inputs = _line_inputs(lines)
    contract_lines, warehouse_id = _document_context(
        actor=actor,
        kind=kind,
        contract_id=contract_id,
        warehouse_id=warehouse_id,
        posting_date=posting_date,
    )
    contract = contract_lines[0].contract
    resolved = _resolve_lines(kind, contract_lines, inputs)
    check_contract_execution(
        [(_line_label(line.number), line.contract_line, line.quantity) for line in resolved]
    )
    ledger: LedgerPosting | None = None
    if post:
        ledger = LedgerPosting(
            company_id=contract.company_id,
            posting_date=posting_date,
            movements=[_movement_for(kind, line, warehouse_id) for line in resolved],
            names=_names(contract_lines, warehouse_id),
        )
        ledger.lock()
        ledger.value()
    costs = (
        [_line_cost(kind, movement.value) for movement in ledger.movements]
        if ledger is not None
        else [ZERO] * len(resolved)
    )
    document = StockDocument(
        company_id=contract.company_id,
        number=next_number(company_id=contract.company_id, prefix=PREFIXES[kind], day=_today()),
        kind=kind,
        status=PostingStatus.POSTED if post else PostingStatus.DRAFT,
        warehouse_id=warehouse_id,
        contract_id=contract.pk,
        partner_id=contract.partner_id,
        posting_date=posting_date,
        keeper_id=_actor_id(actor),
        total_quantity=sum((line.quantity for line in resolved), ZERO),
        total_amount=sum((line.amount for line in resolved), ZERO),
        total_cost=sum(costs, ZERO),
        remarks=remarks,
        created_by_id=actor.pk,
        posted_by_id=actor.pk if post else None,
        posted_at=clock.now() if post else None,
        idempotency_key=idempotency_key,
    )
    _insert_document(document)
    line_ids = _insert_lines(
        document.pk,
        [
            (
                line.number,
                line.contract_line.pk,
                line.contract_line.commodity_id,
                line.quantity,
                line.weighed_quantity,
                line.difference_reason,
                line.contract_line.unit_price,
                line.amount,
                cost,
            )
            for line, cost in zip(resolved, costs, strict=True)
        ],
    )
    if ledger is not None:
        for movement, line_id in zip(ledger.movements, line_ids, strict=True):
            movement.voucher_line_id = line_id
        ledger.write(voucher_type=kind, voucher_id=document.pk)
        _execute_contract((line.contract_line, line.quantity) for line in resolved)
    summary = _document_summary(document)
    if post:
        summary["total_cost"] = [None, str(document.total_cost)]
    audit_record(
        actor=actor,
        action="trading.stock_document.posted" if post else "trading.stock_document.created",
        company_id=document.company_id,
        target=document,
        changes=summary,
    )
    if post:
        credit_services.stock_document_posted(document=document, actor=actor, contract=contract)
        warnings_refresh_after_commit(contract_ids=[document.contract_id])
    return document


def _locked_document(actor: Any, document_id: int) -> StockDocument:
    document = (
        StockDocument.objects.select_for_update(of=("self",))
        .select_related("warehouse")
        .filter(pk=document_id)
        .first()
    )
    if document is None:
        raise NotFound(_("Document not found."))
    _require_write(actor, ACTION_FOR[StockDocumentKind(document.kind)], document.company_id)
    if document.import_batch:  # imported history (legacy intake) is read-only
        raise Conflict(_("Imported history is read-only."), code=TradingErrorCode.IMMUTABLE)
    return document


def _check_version(document: Any, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != document.version:
        raise Conflict(
            _("Someone else changed this document meanwhile: reload it and try again."),
            code=TradingErrorCode.STALE_VERSION,
        )


@retry_on_conflict()
@transaction.atomic
def stock_document_update(
    *,
    actor: Any,
    document_id: int,
    warehouse_id: int,
    posting_date: datetime.date,
    lines: Sequence[StockLineInput | Mapping[str, Any]],
    remarks: str = "",
    expected_version: int | None = None,
) -> StockDocument:
    """Change a draft: its warehouse, date, remarks and lines (replaced as a whole)."""
    document = _locked_document(actor, document_id)
    if document.status != PostingStatus.DRAFT:
        raise Conflict(
            _("Only a draft can be changed; correct a posted document by reversing it."),
            code=TradingErrorCode.IMMUTABLE,
        )
    _check_version(document, expected_version)
    inputs = _line_inputs(lines)
    contract_lines, warehouse_id = _document_context(
        actor=actor,
        kind=document.kind,
        contract_id=document.contract_id or 0,
        warehouse_id=warehouse_id,
        posting_date=posting_date,
    )
    resolved = _resolve_lines(document.kind, contract_lines, inputs)
    check_contract_execution(
        [(_line_label(line.number), line.contract_line, line.quantity) for line in resolved]
    )
    before = {
        "warehouse": document.warehouse_id,
        "posting_date": document.posting_date.isoformat(),
        "total_quantity": str(document.total_quantity),
        "remarks": document.remarks,
    }
    document.warehouse_id = warehouse_id
    document.posting_date = posting_date
    document.remarks = remarks
    document.total_quantity = sum((line.quantity for line in resolved), ZERO)
    document.total_amount = sum((line.amount for line in resolved), ZERO)
    document.version += 1
    document.save()
    document.lines.all().delete()
    _insert_lines(
        document.pk,
        [
            (
                line.number,
                line.contract_line.pk,
                line.contract_line.commodity_id,
                line.quantity,
                line.weighed_quantity,
                line.difference_reason,
                line.contract_line.unit_price,
                line.amount,
                ZERO,
            )
            for line in resolved
        ],
    )
    after = {
        "warehouse": document.warehouse_id,
        "posting_date": document.posting_date.isoformat(),
        "total_quantity": str(document.total_quantity),
        "remarks": document.remarks,
    }
    audit_record(
        actor=actor,
        action="trading.stock_document.updated",
        company_id=document.company_id,
        target=document,
        changes={
            name: [before[name], value] for name, value in after.items() if before[name] != value
        }
        | {"lines": [None, len(resolved)]},
    )
    return document


@retry_on_conflict()
@transaction.atomic
def stock_document_post(
    *, actor: Any, document_id: int, expected_version: int | None = None
) -> StockDocument:
    """Post a draft: it executes the contract and moves stock; afterwards it is immutable."""
    document = _locked_document(actor, document_id)
    _check_transition(document.status, PostingStatus.POSTED, TRANSITIONS)
    _check_version(document, expected_version)
    kind = document.kind
    contract_lines, warehouse_id = _document_context(
        actor=actor,
        kind=kind,
        contract_id=document.contract_id or 0,
        warehouse_id=document.warehouse_id,
        posting_date=document.posting_date,
    )
    rows = list(document.lines.order_by("line_number"))
    inputs = [
        StockLineInput(
            quantity=row.quantity,
            contract_line_id=row.contract_line_id,
            weighed_quantity=row.weighed_quantity,
            difference_reason=row.difference_reason,
        )
        for row in rows
    ]
    resolved = _resolve_lines(kind, contract_lines, inputs)
    check_contract_execution(
        [(_line_label(line.number), line.contract_line, line.quantity) for line in resolved]
    )
    ledger = LedgerPosting(
        company_id=document.company_id,
        posting_date=document.posting_date,
        movements=[_movement_for(kind, line, warehouse_id) for line in resolved],
        names=_names(contract_lines, warehouse_id),
    )
    ledger.lock()
    ledger.value()
    for movement, row, line in zip(ledger.movements, rows, resolved, strict=True):
        movement.voucher_line_id = row.pk
        row.cost = _line_cost(kind, movement.value)
        row.unit_price = line.contract_line.unit_price
        row.amount = line.amount
    update_rows(StockDocumentLine, rows, ["cost", "unit_price", "amount"])
    document.status = PostingStatus.POSTED
    document.posted_by = actor
    document.posted_at = clock.now()
    document.total_amount = sum((line.amount for line in resolved), ZERO)
    document.total_cost = sum((row.cost for row in rows), ZERO)
    document.version += 1
    document.save(
        update_fields=[
            "status",
            "posted_by",
            "posted_at",
            "total_amount",
            "total_cost",
            "version",
            "updated_at",
        ]
    )
    ledger.write(voucher_type=kind, voucher_id=document.pk)
    _execute_contract((line.contract_line, line.quantity) for line in resolved)
    audit_record(
        actor=actor,
        action="trading.stock_document.posted",
        company_id=document.company_id,
        target=document,
        changes={
            "status": [PostingStatus.DRAFT.value, PostingStatus.POSTED.value],
            "total_cost": [None, str(document.total_cost)],
        },
    )
    credit_services.stock_document_posted(
        document=document, actor=actor, contract=contract_lines[0].contract
    )
    warnings_refresh_after_commit(contract_ids=[document.contract_id])
    return document


@transaction.atomic
def stock_document_cancel(
    *, actor: Any, document_id: int, expected_version: int | None = None
) -> StockDocument:
    """Cancel a draft (a posted document is reversed instead)."""
    document = _locked_document(actor, document_id)
    if document.status == PostingStatus.POSTED:
        raise Conflict(
            _("A posted document cannot be cancelled: reverse it."),
            code=TradingErrorCode.IMMUTABLE,
        )
    _check_transition(document.status, PostingStatus.CANCELLED, TRANSITIONS)
    _check_version(document, expected_version)
    document.status = PostingStatus.CANCELLED
    document.version += 1
    document.save(update_fields=["status", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.stock_document.cancelled",
        company_id=document.company_id,
        target=document,
        changes={"status": [PostingStatus.DRAFT.value, PostingStatus.CANCELLED.value]},
    )
    return document


@retry_on_conflict()
@transaction.atomic
def stock_document_reverse(
    *,
    actor: Any,
    document_id: int,
    reason: str,
    posting_date: datetime.date | None = None,
    expected_version: int | None = None,
) -> StockDocument:
    """Reverse (红冲) a posted receipt or issue: a new posted document of the same kind with
    negated lines, dated `posting_date` (default today); the original becomes "reversed".
    Reversed receipts take their goods out at the moving average; reversed issues bring theirs
    back at the cost they left with. Returns the reversal."""
    original = _locked_document(actor, document_id)
    if original.reverses_id is not None:
        raise Conflict(
            _("A reversal cannot itself be reversed: post a new document instead."),
            code=TradingErrorCode.IMMUTABLE,
        )
    _check_transition(original.status, PostingStatus.REVERSED, TRANSITIONS)
    _check_version(original, expected_version)
    on = posting_date or _today()
    reason = (reason or "").strip()
    problems = _problems()
    if not reason:
        problems["reason"].append(_("Say why the document is reversed."))
    elif len(reason) > 500:
        problems["reason"].append(_("At most %(limit)d characters.") % {"limit": 500})
    if on < original.posting_date:
        problems["posting_date"].append(
            _("A reversal cannot be dated before the document it reverses (%(date)s).")
            % {"date": original.posting_date.isoformat()}
        )
    if on > _today():
        problems["posting_date"].append(_("The date cannot be in the future."))
    _raise_problems(problems)
    kind = original.kind
    contract_lines = locked_contract_lines(original.contract_id)
    by_line = {line.pk: line for line in contract_lines}
    rows = list(original.lines.select_related("commodity").order_by("line_number"))
    entries = {  # found through the series index: company, warehouse, commodity, date
        entry.voucher_line_id: entry
        for entry in StockLedgerEntry.objects.filter(
            company_id=original.company_id,
            warehouse_id=original.warehouse_id,
            commodity_id__in=[row.commodity_id for row in rows],
            posting_date=original.posting_date,
            voucher_type=kind,
            voucher_id=original.pk,
            kind=kind,
        )
    }
    # a revaluation shares its entry's series and date (the partial index finds it)
    revalued = dict(
        StockLedgerEntry.objects.filter(
            company_id=original.company_id,
            warehouse_id=original.warehouse_id,
            commodity_id__in=[entry.commodity_id for entry in entries.values()],
            posting_date=original.posting_date,
            kind=StockEntryKind.REVALUATION,
            revalues_id__in=[entry.pk for entry in entries.values()],
        )
        .values_list("revalues_id")
        .annotate(total=Sum("value"))
        .order_by()
    )
    movements = []
    for row in rows:
        entry = entries[row.pk]
        current = entry.value + revalued.get(entry.pk, ZERO)
        movements.append(
            LedgerMovement(
                warehouse_id=original.warehouse_id,
                commodity_id=row.commodity_id,
                kind=entry.kind,
                quantity=-entry.quantity,
                valuation=Valuation.AVERAGE
                if kind == StockDocumentKind.RECEIPT
                else Valuation.RETURN,
                own_value=-current,
                label=_line_label(row.line_number),
                reverses_id=entry.pk,
            )
        )
    ledger = LedgerPosting(
        company_id=original.company_id,
        posting_date=on,
        movements=movements,
        names={(original.warehouse_id, row.commodity_id): str(row.commodity) for row in rows},
    )
    ledger.lock()
    ledger.value()
    now = clock.now()
    reversal = StockDocument(
        company_id=original.company_id,
        number=next_number(company_id=original.company_id, prefix=PREFIXES[kind], day=_today()),
        kind=kind,
        status=PostingStatus.POSTED,
        warehouse_id=original.warehouse_id,
        contract_id=original.contract_id,
        partner_id=original.partner_id,
        posting_date=on,
        reverses=original,
        keeper=actor if getattr(actor, "pk", None) else None,
        total_quantity=-original.total_quantity,
        total_amount=-original.total_amount,
        total_cost=sum((_line_cost(kind, m.value) for m in movements), ZERO),
        remarks=reason,
        created_by=actor,
        posted_by=actor,
        posted_at=now,
    )
    reversal.save(force_insert=True)
    reversal_rows = [
        StockDocumentLine(
            document=reversal,
            line_number=row.line_number,
            contract_line_id=row.contract_line_id,
            commodity_id=row.commodity_id,
            quantity=-row.quantity,
            weighed_quantity=-row.weighed_quantity if row.weighed_quantity is not None else None,
            difference_reason=row.difference_reason,
            unit_price=row.unit_price,
            amount=-row.amount,
            cost=_line_cost(kind, movement.value),
        )
        for row, movement in zip(rows, movements, strict=True)
    ]
    StockDocumentLine.objects.bulk_create(reversal_rows)
    for movement, reversal_row in zip(movements, reversal_rows, strict=True):
        movement.voucher_line_id = reversal_row.pk
    ledger.write(voucher_type=kind, voucher_id=reversal.pk)
    _execute_contract(
        (by_line[row.contract_line_id], -row.quantity)
        for row in rows
        if row.contract_line_id in by_line
    )
    original.status = PostingStatus.REVERSED
    original.version += 1
    original.save(update_fields=["status", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.stock_document.reversed",
        company_id=original.company_id,
        target=original,
        changes={
            "status": [PostingStatus.POSTED.value, PostingStatus.REVERSED.value],
            "reversal": [None, reversal.number],
            "reversal_date": [None, on.isoformat()],
            "reason": [None, reason],
        },
    )
    credit_services.stock_document_posted(document=reversal, actor=actor)
    warnings_refresh_after_commit(contract_ids=[reversal.contract_id])
    return reversal


# ---------------------------------------------------------------- stocktakes


@dataclass
class _CountLine:
    number: int
    commodity: Commodity
    counted_quantity: Decimal
    reason: str
    unit_cost: Decimal | None
    book_quantity: Decimal = ZERO


def _shared_commodities(company: Company, ids: Iterable[int]) -> dict[int, Commodity]:
    """The commodities among `ids` that `company` may use (owned by it or an ancestor)."""
    found = Commodity.objects.select_related("company").filter(pk__in=set(ids), is_active=True)
    return {c.pk: c for c in found if _commodity_shared_with(c.company.path, company)}


def _count_lines(company: Company, lines: Sequence[Mapping[str, Any]]) -> list[_CountLine]:
    problems = _problems()
    if not lines:
        problems["lines"].append(_("Add at least one line."))
    if len(lines) > MAX_LINES:
        problems["lines"].append(_("At most %(count)d lines.") % {"count": MAX_LINES})
    ids = []
    for raw in lines:
        try:
            ids.append(int(raw.get("commodity_id") or 0))
        except (TypeError, ValueError):
            ids.append(0)
    commodities = _shared_commodities(company, ids)
    seen: set[int] = set()
    parsed: list[_CountLine] = []
    for number, (raw, commodity_id) in enumerate(zip(lines, ids, strict=True), start=1):
        commodity = commodities.get(commodity_id)
        if commodity is None:
            problems[_line_field(number, "commodity")].append(_("Choose a commodity."))
        elif commodity_id in seen:
            problems[_line_field(number, "commodity")].append(
                _("This commodity is counted on another line already.")
            )
        seen.add(commodity_id)
        counted = _decimal(raw.get("counted_quantity"))
        if counted is None:
            problems[_line_field(number, "counted_quantity")].append(_("Enter a number."))
        elif counted < 0:
            problems[_line_field(number, "counted_quantity")].append(_("Must not be negative."))
        elif counted != counted.quantize(costing.MILLI):
            problems[_line_field(number, "counted_quantity")].append(
                _("At most three decimal places.")
            )
        unit_cost_raw = raw.get("unit_cost")
        unit_cost = _decimal(unit_cost_raw)
        if unit_cost_raw not in (None, "") and (unit_cost is None or unit_cost < 0):
            problems[_line_field(number, "unit_cost")].append(_("Enter a price of zero or more."))
            unit_cost = None
        reason = str(raw.get("reason") or "").strip()
        if len(reason) > 255:
            problems[_line_field(number, "reason")].append(
                _("At most %(limit)d characters.") % {"limit": 255}
            )
        if commodity is not None and counted is not None:
            parsed.append(
                _CountLine(
                    number=number,
                    commodity=commodity,
                    counted_quantity=counted.quantize(costing.MILLI),
                    reason=reason,
                    unit_cost=unit_cost.quantize(costing.PRICE) if unit_cost is not None else None,
                )
            )
    _raise_problems(problems)
    return parsed


def _book_quantities(
    company_id: int, warehouse_id: int, counted_on: datetime.date, lines: Iterable[_CountLine]
) -> None:
    for line in lines:
        line.book_quantity, _value = series_state_at(
            company_id, (warehouse_id, line.commodity.pk), counted_on
        )


def _check_variances(lines: Iterable[_CountLine]) -> None:
    """A variance beyond the commodity's tolerance needs a reason; goods found where the book
    is empty need a unit cost (there is no average to value them at)."""
    problems = _problems()
    for line in lines:
        variance = line.counted_quantity - line.book_quantity
        if variance == 0:
            continue
        if not line.reason and (
            costing.difference_percent(line.book_quantity, line.counted_quantity)
            > line.commodity.tolerance_percent
        ):
            problems[_line_field(line.number, "reason")].append(
                _("Line %(line)d: %(book)s on the books, %(counted)s counted: give a reason.")
                % {
                    "line": line.number,
                    "book": quantity_text(line.book_quantity),
                    "counted": quantity_text(line.counted_quantity),
                }
            )
        if line.book_quantity <= 0 and variance > 0 and line.unit_cost is None:
            problems[_line_field(line.number, "unit_cost")].append(
                _("Line %(line)d: nothing is on the books: give the unit cost of the goods found.")
                % {"line": line.number}
            )
    _raise_problems(problems, TradingErrorCode.TOLERANCE if problems else None)


def _stocktake_warehouse(actor: Any, warehouse_id: int) -> Warehouse:
    warehouse = Warehouse.objects.select_related("company").filter(pk=warehouse_id).first()
    if warehouse is None:
        raise NotFound(_("Warehouse not found."))
    _require_write(actor, TradingAction.STOCKTAKE, warehouse.company_id)
    if not warehouse.is_active:
        raise ValidationFailed(
            _("This warehouse is closed."), fields={"warehouse": [_("This warehouse is closed.")]}
        )
    return warehouse


def _check_counted_on(counted_on: datetime.date) -> None:
    if counted_on > _today():
        raise ValidationFailed(
            _("The date cannot be in the future."),
            fields={"counted_on": [_("The date cannot be in the future.")]},
        )


def _save_count_lines(stocktake: Stocktake, lines: list[_CountLine]) -> None:
    StocktakeLine.objects.bulk_create(
        StocktakeLine(
            stocktake=stocktake,
            commodity=line.commodity,
            book_quantity=line.book_quantity,
            counted_quantity=line.counted_quantity,
            reason=line.reason,
            unit_cost=line.unit_cost,
        )
        for line in lines
    )


@transaction.atomic
def stocktake_create(
    *,
    actor: Any,
    warehouse_id: int,
    counted_on: datetime.date,
    lines: Sequence[Mapping[str, Any]],
    kind: str = StocktakeKind.COUNT,
    remarks: str = "",
) -> Stocktake:
    """Record a physical count (or a third-party warehouse's statement) against the books at
    `counted_on`; its variances post only when approved (`stocktake_submit`)."""
    warehouse = _stocktake_warehouse(actor, warehouse_id)
    if kind not in StocktakeKind.values:
        raise ValidationFailed(_("Unknown stocktake kind."), fields={"kind": [str(kind)]})
    _check_counted_on(counted_on)
    parsed = _count_lines(warehouse.company, lines)
    _book_quantities(warehouse.company_id, warehouse.pk, counted_on, parsed)
    _check_variances(parsed)
    stocktake = Stocktake.objects.create(
        company_id=warehouse.company_id,
        number=next_number(
            company_id=warehouse.company_id, prefix=PREFIXES["stocktake"], day=_today()
        ),
        kind=kind,
        warehouse=warehouse,
        counted_on=counted_on,
        counter=actor,
        remarks=remarks,
    )
    _save_count_lines(stocktake, parsed)
    audit_record(
        actor=actor,
        action="trading.stocktake.created",
        company_id=stocktake.company_id,
        target=stocktake,
        changes={
            "number": [None, stocktake.number],
            "warehouse": [None, warehouse.pk],
            "counted_on": [None, counted_on.isoformat()],
            "lines": [None, len(parsed)],
        },
    )
    warnings_refresh_after_commit(stocktake_ids=[stocktake.pk])
    return stocktake


def _locked_stocktake(actor: Any, stocktake_id: int) -> Stocktake:
    stocktake = (
        Stocktake.objects.select_for_update(of=("self",))
        .select_related("warehouse", "warehouse__company")
        .filter(pk=stocktake_id)
        .first()
    )
    if stocktake is None:
        raise NotFound(_("Stocktake not found."))
    if actor is not None:
        _require_write(actor, TradingAction.STOCKTAKE, stocktake.company_id)
    return stocktake


@transaction.atomic
def stocktake_update(
    *,
    actor: Any,
    stocktake_id: int,
    counted_on: datetime.date,
    lines: Sequence[Mapping[str, Any]],
    remarks: str = "",
    expected_version: int | None = None,
) -> Stocktake:
    """Change a draft (or rejected) stocktake; the book quantities are read again."""
    stocktake = _locked_stocktake(actor, stocktake_id)
    if stocktake.status not in (ApprovedPostingStatus.DRAFT, ApprovedPostingStatus.REJECTED):
        raise Conflict(
            _("Only a draft or rejected stocktake can be changed."),
            code=TradingErrorCode.IMMUTABLE,
        )
    _check_version(stocktake, expected_version)
    _check_counted_on(counted_on)
    parsed = _count_lines(stocktake.warehouse.company, lines)
    _book_quantities(stocktake.company_id, stocktake.warehouse_id, counted_on, parsed)
    _check_variances(parsed)
    before = stocktake.counted_on.isoformat()
    stocktake.counted_on = counted_on
    stocktake.remarks = remarks
    stocktake.version += 1
    stocktake.save()
    stocktake.lines.all().delete()
    _save_count_lines(stocktake, parsed)
    audit_record(
        actor=actor,
        action="trading.stocktake.updated",
        company_id=stocktake.company_id,
        target=stocktake,
        changes={"counted_on": [before, counted_on.isoformat()], "lines": [None, len(parsed)]},
    )
    warnings_refresh_after_commit(stocktake_ids=[stocktake.pk])
    return stocktake


def _refresh_book(stocktake: Stocktake) -> list[StocktakeLine]:
    """The lines with their book quantities read again at the count date."""
    rows = list(stocktake.lines.select_related("commodity").order_by("id"))
    for row in rows:
        row.book_quantity, _value = series_state_at(
            stocktake.company_id, (stocktake.warehouse_id, row.commodity_id), stocktake.counted_on
        )
    return rows


@transaction.atomic
def stocktake_submit(
    *, actor: Any, stocktake_id: int, expected_version: int | None = None
) -> Stocktake:
    """Send the variances for approval (盘点差异审批). A count without any variance needs no
    approval: it is confirmed at once."""
    stocktake = _locked_stocktake(actor, stocktake_id)
    _check_transition(stocktake.status, ApprovedPostingStatus.PENDING, STOCKTAKE_TRANSITIONS)
    _check_version(stocktake, expected_version)
    rows = _refresh_book(stocktake)
    update_rows(StocktakeLine, rows, ["book_quantity"])
    before = stocktake.status
    variances = [row for row in rows if row.counted_quantity != row.book_quantity]
    if not variances:
        stocktake.status = ApprovedPostingStatus.POSTED
        stocktake.posted_at = clock.now()
        stocktake.version += 1
        stocktake.save(update_fields=["status", "posted_at", "version", "updated_at"])
        audit_record(
            actor=actor,
            action="trading.stocktake.posted",
            company_id=stocktake.company_id,
            target=stocktake,
            changes={"status": [before, stocktake.status], "variances": [None, 0]},
        )
        warnings_refresh_after_commit(stocktake_ids=[stocktake.pk])
        return stocktake
    estimate = ZERO
    for row in variances:
        balance = StockBalance.objects.filter(
            company_id=stocktake.company_id,
            warehouse_id=stocktake.warehouse_id,
            commodity_id=row.commodity_id,
        ).first()
        average = (
            balance.value / balance.quantity
            if balance is not None and balance.quantity > 0
            else (row.unit_cost or ZERO)
        )
        estimate += abs((row.counted_quantity - row.book_quantity) * average)
    request = approval_services.request_submit(
        actor=actor,
        template_code=STOCKTAKE_TEMPLATE,
        form_data={
            "title": f"{stocktake.number} {stocktake.warehouse.name} 盘点差异",
            "warehouse": stocktake.warehouse.name,
            "counted_on": stocktake.counted_on.isoformat(),
            "variance_value": str(costing.money(estimate)),
            "lines": [
                {
                    "commodity": str(row.commodity),
                    "book": str(row.book_quantity),
                    "counted": str(row.counted_quantity),
                    "variance": str(row.counted_quantity - row.book_quantity),
                    "reason": row.reason,
                }
                for row in variances
            ],
        },
        document_type=STOCKTAKE_DOCUMENT_TYPE,
        document_id=str(stocktake.pk),
    )
    stocktake.status = ApprovedPostingStatus.PENDING
    stocktake.approval_request = request
    stocktake.version += 1
    stocktake.save(update_fields=["status", "approval_request", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.stocktake.submitted",
        company_id=stocktake.company_id,
        target=stocktake,
        changes={"status": [before, stocktake.status], "approval": [None, request.serial]},
    )
    warnings_refresh_after_commit(stocktake_ids=[stocktake.pk])
    return stocktake


@transaction.atomic
def stocktake_cancel(
    *, actor: Any, stocktake_id: int, expected_version: int | None = None
) -> Stocktake:
    stocktake = _locked_stocktake(actor, stocktake_id)
    _check_transition(stocktake.status, ApprovedPostingStatus.CANCELLED, STOCKTAKE_TRANSITIONS)
    _check_version(stocktake, expected_version)
    before = stocktake.status
    stocktake.status = ApprovedPostingStatus.CANCELLED
    stocktake.version += 1
    stocktake.save(update_fields=["status", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.stocktake.cancelled",
        company_id=stocktake.company_id,
        target=stocktake,
        changes={"status": [before, stocktake.status]},
    )
    warnings_refresh_after_commit(stocktake_ids=[stocktake.pk])
    return stocktake


def _stocktake_post(stocktake: Stocktake, actor: Any) -> None:
    """Post the variances at the count date, valued at moving-average cost (inside the
    approval's transaction)."""
    rows = list(stocktake.lines.select_related("commodity").order_by("id"))
    keys = [(stocktake.warehouse_id, row.commodity_id) for row in rows]
    ledger = LedgerPosting(
        company_id=stocktake.company_id,
        posting_date=stocktake.counted_on,
        movements=[],
        names={(stocktake.warehouse_id, row.commodity_id): str(row.commodity) for row in rows},
    )
    ledger.lock(keys)  # the book cannot move between reading it and posting against it
    posted: list[tuple[StocktakeLine, LedgerMovement]] = []
    for number, row in enumerate(rows, start=1):
        row.book_quantity, _value = series_state_at(
            stocktake.company_id, (stocktake.warehouse_id, row.commodity_id), stocktake.counted_on
        )
        variance = row.counted_quantity - row.book_quantity
        if variance == 0:
            row.cost = ZERO
            continue
        movement = LedgerMovement(
            warehouse_id=stocktake.warehouse_id,
            commodity_id=row.commodity_id,
            kind=StockEntryKind.STOCKTAKE,
            quantity=variance,
            valuation=Valuation.GAIN if variance > 0 else Valuation.AVERAGE,
            own_value=costing.money(variance * (row.unit_cost or ZERO)) if variance > 0 else ZERO,
            label=_line_label(number),
            voucher_line_id=row.pk,
        )
        posted.append((row, movement))
    ledger.movements = [movement for _row, movement in posted]
    if ledger.movements:
        ledger.value()
        for row, movement in posted:
            row.cost = movement.value
        ledger.write(voucher_type=StockEntryKind.STOCKTAKE, voucher_id=stocktake.pk)
    update_rows(StocktakeLine, rows, ["book_quantity", "cost"])
    stocktake.status = ApprovedPostingStatus.POSTED
    stocktake.posted_at = clock.now()
    stocktake.version += 1
    stocktake.save(update_fields=["status", "posted_at", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.stocktake.posted",
        company_id=stocktake.company_id,
        target=stocktake,
        changes={
            "status": [ApprovedPostingStatus.PENDING.value, ApprovedPostingStatus.POSTED.value],
            "variances": [None, len(posted)],
            "value": [None, str(sum((m.value for _r, m in posted), ZERO))],
        },
    )
    warnings_refresh_after_commit(stocktake_ids=[stocktake.pk])


def _bound_stocktake(request: Any) -> Stocktake | None:
    stocktake = _locked_stocktake(None, int(request.document_id))
    if stocktake.status != ApprovedPostingStatus.PENDING:
        return None  # decided already (a repeated callback changes nothing)
    return stocktake


def _stocktake_approved(*, request: Any, actor: Any) -> None:
    stocktake = _bound_stocktake(request)
    if stocktake is not None:
        _stocktake_post(stocktake, actor)


def _stocktake_decided(request: Any, actor: Any, status: str, verb: str) -> None:
    stocktake = _bound_stocktake(request)
    if stocktake is None:
        return
    stocktake.status = status
    stocktake.version += 1
    stocktake.save(update_fields=["status", "version", "updated_at"])
    audit_record(
        actor=actor,
        action=f"trading.stocktake.{verb}",
        company_id=stocktake.company_id,
        target=stocktake,
        changes={"status": [ApprovedPostingStatus.PENDING.value, status]},
    )
    warnings_refresh_after_commit(stocktake_ids=[stocktake.pk])


def _stocktake_rejected(*, request: Any, actor: Any) -> None:
    _stocktake_decided(request, actor, ApprovedPostingStatus.REJECTED, "rejected")


def _stocktake_withdrawn(*, request: Any, actor: Any) -> None:
    _stocktake_decided(request, actor, ApprovedPostingStatus.DRAFT, "withdrawn")


def _stocktake_company(*, document_id: str) -> int | None:
    try:
        key = int(document_id)
    except (TypeError, ValueError):
        return None
    return Stocktake.objects.filter(pk=key).values_list("company_id", flat=True).first()


# ---------------------------------------------------------------- opening stock


@dataclass(frozen=True)
class OpeningLineInput:
    warehouse_id: int
    commodity_id: int
    quantity: Decimal
    unit_cost: Decimal


def _opening_lines(
    company: Company, lines: Sequence[OpeningLineInput | Mapping[str, Any]]
) -> list[OpeningLineInput]:
    problems = _problems()
    if not lines:
        problems["lines"].append(_("Add at least one line."))
    parsed: list[OpeningLineInput] = []
    raw_ids: list[tuple[int, int]] = []
    for raw in lines:
        if isinstance(raw, OpeningLineInput):
            raw_ids.append((raw.warehouse_id, raw.commodity_id))
            continue
        try:
            raw_ids.append((int(raw.get("warehouse_id") or 0), int(raw.get("commodity_id") or 0)))
        except (TypeError, ValueError):
            raw_ids.append((0, 0))
    warehouses = {
        w.pk: w
        for w in Warehouse.objects.filter(
            pk__in={w for w, _c in raw_ids}, company_id=company.pk, is_active=True
        )
    }
    commodities = _shared_commodities(company, (c for _w, c in raw_ids))
    seen: set[tuple[int, int]] = set()
    for number, (raw, (warehouse_id, commodity_id)) in enumerate(
        zip(lines, raw_ids, strict=True), start=1
    ):
        if isinstance(raw, OpeningLineInput):
            quantity: Decimal | None = raw.quantity
            unit_cost: Decimal | None = raw.unit_cost
        else:
            quantity = _decimal(raw.get("quantity"))
            unit_cost = _decimal(raw.get("unit_cost"))
        if warehouse_id not in warehouses:
            problems[_line_field(number, "warehouse")].append(_("Not a warehouse of this company."))
        if commodity_id not in commodities:
            problems[_line_field(number, "commodity")].append(_("Choose a commodity."))
        if (warehouse_id, commodity_id) in seen:
            problems[_line_field(number, "commodity")].append(
                _("This warehouse and commodity appear on another line already.")
            )
        seen.add((warehouse_id, commodity_id))
        if quantity is None or quantity <= 0:
            problems[_line_field(number, "quantity")].append(_("Must be more than zero."))
        elif quantity != quantity.quantize(costing.MILLI):
            problems[_line_field(number, "quantity")].append(_("At most three decimal places."))
        if unit_cost is None or unit_cost < 0:
            problems[_line_field(number, "unit_cost")].append(_("Enter a price of zero or more."))
        elif unit_cost != unit_cost.quantize(costing.PRICE):
            problems[_line_field(number, "unit_cost")].append(_("At most four decimal places."))
        if quantity is not None and unit_cost is not None:
            parsed.append(
                OpeningLineInput(
                    warehouse_id,
                    commodity_id,
                    quantity.quantize(costing.MILLI),
                    unit_cost.quantize(costing.PRICE),
                )
            )
    _raise_problems(problems)
    return parsed


@retry_on_conflict()
@transaction.atomic
def stock_opening_post(
    *,
    actor: Any,
    company_id: int,
    posting_date: datetime.date,
    lines: Sequence[OpeningLineInput | Mapping[str, Any]],
    source: str = "",
) -> StockOpening:
    """Post opening stock (期初库存): per warehouse and commodity a quantity at a unit cost
    (excl. VAT). A series that already has entries refuses an opening."""
    company = Company.objects.filter(pk=company_id).first()
    if company is None:
        raise NotFound(_("Company not found."))
    _require_write(actor, TradingAction.OPENING_BALANCES, company.pk)
    if posting_date > _today():
        raise ValidationFailed(
            _("The date cannot be in the future."),
            fields={"posting_date": [_("The date cannot be in the future.")]},
        )
    parsed = _opening_lines(company, lines)
    commodities = {
        c.pk: c for c in Commodity.objects.filter(pk__in={p.commodity_id for p in parsed})
    }
    movements = [
        LedgerMovement(
            warehouse_id=line.warehouse_id,
            commodity_id=line.commodity_id,
            kind=StockEntryKind.OPENING,
            quantity=line.quantity,
            valuation=Valuation.FIXED,
            own_value=costing.money(line.quantity * line.unit_cost),
            label=_line_label(number),
        )
        for number, line in enumerate(parsed, start=1)
    ]
    ledger = LedgerPosting(
        company_id=company.pk,
        posting_date=posting_date,
        movements=movements,
        names={m.key: str(commodities[m.commodity_id]) for m in movements},
    )
    ledger.lock()
    problems = _problems()
    for movement in movements:
        balance = ledger.balances.get(movement.key)
        if balance is not None and balance.last_posting_date is not None:
            problems[f"{movement.label}.commodity"].append(
                _("This warehouse already keeps stock of this commodity: no opening any more.")
            )
    _raise_problems(problems, TradingErrorCode.DUPLICATE if problems else None)
    ledger.value()
    opening = StockOpening.objects.create(
        company=company,
        number=next_number(company_id=company.pk, prefix=PREFIXES["opening"], day=_today()),
        posting_date=posting_date,
        source=source[:255],
        total_quantity=sum((m.quantity for m in movements), ZERO),
        total_value=sum((m.value for m in movements), ZERO),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    ledger.write(voucher_type=StockEntryKind.OPENING, voucher_id=opening.pk)
    audit_record(
        actor=actor,
        action="trading.stock_opening.posted",
        company_id=company.pk,
        target=opening,
        changes={
            "number": [None, opening.number],
            "posting_date": [None, posting_date.isoformat()],
            "lines": [None, len(movements)],
            "total_quantity": [None, str(opening.total_quantity)],
            "total_value": [None, str(opening.total_value)],
            "source": [None, source[:255]],
        },
    )
    return opening


# ---------------------------------------------------------------- opening stock from Excel

OPENING_SHEET = SheetSpec(
    key="opening_stock",
    name="期初库存",
    label=gettext_lazy("Opening stock"),
    columns=(
        Column(
            "company_code",
            "单位编码",
            gettext_lazy("Company code"),
            gettext_lazy("The company whose warehouse holds the goods; you must be its finance."),
            "持有该库存的单位编码；导入人须为该单位的财务。",
            required=True,
            max_length=32,
        ),
        Column(
            "warehouse_code",
            "仓库编码",
            gettext_lazy("Warehouse code"),
            gettext_lazy("A warehouse of that company."),
            "该单位的仓库编码。",
            required=True,
            max_length=40,
        ),
        Column(
            "commodity_code",
            "商品编码",
            gettext_lazy("Commodity code"),
            gettext_lazy(
                "A commodity the company uses (its own or an ancestor's, normally the group's)."
            ),
            "该单位可用的商品编码（本单位或上级单位的，通常为集团的）。",
            required=True,
            max_length=40,
        ),
        Column(
            "quantity",
            "数量",
            gettext_lazy("Quantity"),
            gettext_lazy("More than zero, three decimals at most, in the commodity's unit."),
            "大于 0，最多三位小数，按商品的计量单位。",
            required=True,
        ),
        Column(
            "unit_cost",
            "单位成本",
            gettext_lazy("Unit cost excl. VAT"),
            gettext_lazy("Zero or more, four decimals at most: the moving average starts here."),
            "不含税单位成本，0 或以上，最多四位小数；移动加权平均成本由此起算。",
            required=True,
        ),
        Column(
            "posting_date",
            "期初日期",
            gettext_lazy("Opening date"),
            gettext_lazy("The date the stock stands at, e.g. 2026-01-01; not in the future."),
            "库存所在日期，如 2026-01-01；不得晚于今天。",
            required=True,
        ),
    ),
    examples=(
        ("A", "WA", "STEEL", "120", "3980.50", "2026-01-01"),
        ("A", "WA", "COAL", "35.5", "700", "2026-01-01"),
    ),
)
OPENING_FIELD_COLUMNS = {
    "warehouse": "warehouse_code",
    "commodity": "commodity_code",
    "quantity": "quantity",
    "unit_cost": "unit_cost",
    "posting_date": "posting_date",
}


@dataclass
class OpeningImportCounts:
    rows: int = 0
    batches: int = 0
    quantity: Decimal = ZERO
    value: Decimal = ZERO


@dataclass
class OpeningImportResult:
    counts: OpeningImportCounts
    problems: list[ImportProblem]
    dry_run: bool = False

    @property
    def is_success(self) -> bool:
        return not self.problems


@dataclass
class _OpeningRow:
    row: SheetRow
    company: Company
    posting_date: datetime.date
    line: OpeningLineInput


def can_import_opening_stock(user: Any) -> bool:
    return bool(companies_for(user, TradingAction.OPENING_BALANCES))


def _check_opening_rows(actor: Any, book: WorkbookData) -> list[_OpeningRow]:
    spec = OPENING_SHEET
    found = Problems(book, (spec,))
    rows = book.rows(spec)
    companies = {
        c.code: c for c in Company.objects.filter(code__in={r.values["company_code"] for r in rows})
    }
    warehouses = {
        (w.company_id, w.code): w
        for w in Warehouse.objects.filter(
            company__in=companies.values(), code__in={r.values["warehouse_code"] for r in rows}
        )
    }
    commodities: dict[tuple[int, str], Commodity] = {
        (item.company_id, item.code): item
        for item in Commodity.objects.filter(
            code__in={r.values["commodity_code"] for r in rows}, is_active=True
        )
    }
    planned: list[_OpeningRow] = []
    for row in rows:
        found.check_fields(spec, row)
        company = companies.get(row.values["company_code"])
        if company is not None and not can_read(actor, company.pk):
            company = None
        if company is None and row.values["company_code"]:
            found.error(spec, row, "company_code", _("Unknown company."))
        elif company is not None and not can(actor, TradingAction.OPENING_BALANCES, company.pk):
            found.error(
                spec, row, "company_code", _("Only this company's finance posts its opening stock.")
            )
            company = None
        warehouse = warehouses.get((company.pk, row.values["warehouse_code"])) if company else None
        if company is not None and warehouse is None and row.values["warehouse_code"]:
            found.error(spec, row, "warehouse_code", _("Not a warehouse of this company."))
        commodity: Commodity | None = None
        if company is not None:
            # the nearest owner wins: the company's own code, else its parent's, …
            for owner in reversed([int(p) for p in company.path.strip("/").split("/") if p]):
                commodity = commodities.get((owner, row.values["commodity_code"]))
                if commodity is not None:
                    break
            if commodity is None and row.values["commodity_code"]:
                found.error(spec, row, "commodity_code", _("Unknown commodity."))
        quantity = found.decimal(spec, row, "quantity", places=3, minimum=Decimal("0.001"))
        unit_cost = found.decimal(spec, row, "unit_cost", places=4, minimum=ZERO)
        posting_date = found.date(spec, row, "posting_date")
        if posting_date is not None and posting_date > _today():
            found.error(spec, row, "posting_date", _("The date cannot be in the future."))
            posting_date = None
        if (
            company is not None
            and warehouse is not None
            and commodity is not None
            and quantity is not None
            and unit_cost is not None
            and posting_date is not None
        ):
            planned.append(
                _OpeningRow(
                    row,
                    company,
                    posting_date,
                    OpeningLineInput(warehouse.pk, commodity.pk, quantity, unit_cost),
                )
            )
    seen: dict[tuple[int, int, int], int] = {}
    for plan in planned:
        key = (plan.company.pk, plan.line.warehouse_id, plan.line.commodity_id)
        if key in seen:
            found.error(
                spec,
                plan.row,
                "commodity_code",
                _("This warehouse and commodity are also on row %(row)d.") % {"row": seen[key]},
            )
        else:
            seen[key] = plan.row.number
    started = set(
        StockBalance.objects.filter(last_posting_date__isnull=False)
        .filter(company_id__in={k[0] for k in seen}, warehouse_id__in={k[1] for k in seen})
        .values_list("company_id", "warehouse_id", "commodity_id")
    )
    for plan in planned:
        key = (plan.company.pk, plan.line.warehouse_id, plan.line.commodity_id)
        if key in started:
            found.error(
                spec,
                plan.row,
                "commodity_code",
                _("This warehouse already keeps stock of this commodity: no opening any more."),
            )
    found.raise_if_any()
    return planned


@transaction.atomic
def _apply_opening_rows(
    actor: Any, book: WorkbookData, planned: list[_OpeningRow], source: str
) -> int:
    """One opening batch per company and date; a refusal names its row."""
    batches: dict[tuple[int, datetime.date], list[_OpeningRow]] = defaultdict(list)
    for plan in planned:
        batches[(plan.company.pk, plan.posting_date)].append(plan)
    for (company_id, posting_date), plans in batches.items():
        try:
            stock_opening_post(
                actor=actor,
                company_id=company_id,
                posting_date=posting_date,
                lines=[plan.line for plan in plans],
                source=source,
            )
        except ApplicationError as error:
            problems: list[ImportProblem] = []
            for name, messages in error.fields.items():
                parts = name.split(".")
                if parts[0] == "lines" and len(parts) == 3 and parts[1].isdigit():
                    plan = plans[int(parts[1]) - 1]
                    narrowed = type(error)(
                        error.message, code=error.code, fields={parts[2]: messages}
                    )
                    problems += service_problems(
                        OPENING_SHEET, plan.row, book, narrowed, field_columns=OPENING_FIELD_COLUMNS
                    )
            if not problems:
                problems = service_problems(OPENING_SHEET, plans[0].row, book, error)
            raise RowFailed(problems) from error
    return len(batches)


def stock_opening_import(
    *, actor: Any, source: bytes | IO[bytes], filename: str = "", dry_run: bool = False
) -> OpeningImportResult:
    """Read, check and (unless `dry_run`) post a workbook of opening stock, all or nothing: one
    opening batch per company and date. Problems come back in the result, by row and column;
    when there are any, nothing was written."""
    if not can_import_opening_stock(actor):
        raise PermissionDenied(_("Only finance enters opening stock."))
    try:
        book = read_workbook(source, sheets=(OPENING_SHEET,), filename=filename)
        planned = _check_opening_rows(actor, book)
        batches = len({(p.company.pk, p.posting_date) for p in planned})
        if not dry_run:
            try:
                batches = _apply_opening_rows(actor, book, planned, filename or "workbook.xlsx")
            except RowFailed as failure:
                raise WorkbookRejected(failure.problems) from failure
    except WorkbookRejected as rejected:
        return OpeningImportResult(OpeningImportCounts(), rejected.problems, dry_run=dry_run)
    return OpeningImportResult(
        OpeningImportCounts(
            rows=len(planned),
            batches=batches,
            quantity=sum((p.line.quantity for p in planned), ZERO),
            value=sum((costing.money(p.line.quantity * p.line.unit_cost) for p in planned), ZERO),
        ),
        [],
        dry_run=dry_run,
    )


def stock_opening_template() -> bytes:
    return write_template(
        (OPENING_SHEET,),
        title="期初库存导入模板 / Opening stock import template",
        notes=[
            "3. 每行为一个仓库中一种商品的期初数量和不含税单位成本；"
            "同一单位、同一日期的各行形成一批期初。"
            "已有出入库记录的仓库和商品不能再录期初。 One row per warehouse and commodity: the "
            "opening quantity and unit cost excl. VAT; the rows of one company and date form one "
            "opening batch. A warehouse and commodity with entries already cannot take an opening.",
        ],
    )

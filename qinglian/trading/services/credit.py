"""Trading services: customer credit control (信用超额、逾期控制). Writes only; atomic, audited.

The exposure row. Each customer has one CreditExposure row (group-wide: the credit limit lives
on the shared partner). Every transaction that changes one of its sources — a sales contract
taking effect, amended, terminated or completed (services.contracts), a goods issue posted or
reversed (services.stock), a sales invoice, customer receipt or opening receivable posted or
reversed (services.money) — calls in here at its end: the row is locked (select_for_update,
created on first use) and its components recomputed from their sources *after* the lock is
held, so under READ COMMITTED the recomputation sees every other transaction that went
through the lock before and the row always ends equal to its sources. The credit checks run
under the same lock: check and change are one step (a sum-then-compare check outside the lock
would let two documents pass a limit that only one of them fits).

The blocks. A goods issue being posted, or a sales contract taking effect (and, as an early
refusal, being submitted for approval), is refused with ValidationFailed when after it
- the exposure (the policy's formula) exceeds the credit limit, where the limit applies
  (`selectors.credit.credit_limit_applies`: a limit of 0 means "no limit set", except for
  grade D), or
- the customer's debt more than the policy's `overdue_block_days` past due exceeds its
  `overdue_block_amount` (policy `overdue_block_enabled`),
unless an approved, unused, unexpired credit exception of the document's company covers it
(its amount ≥ the overrun; `allow_overdue` for the overdue block; for the document's contract
or goods issue if it names one). The exception is then used up by that document, which is
recorded on the exception (and audited on both). An amendment that does not raise the
contract's amount is never blocked; reversals, terminations, invoices and receipts are never
blocked (they only move the row).

Lock order, everywhere: the document → the contract → partner and stock balances → document
counter → audit chain head → the customer's exposure row → the credit exception being used.
The hooks are therefore called last, after the calling service's own audit record; the
approvals engine writes its audit event before calling back, which keeps the same order.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
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
from qinglian.core.rows import row_update, rows_read, rows_save, select_list
from qinglian.org.enums import RoleCode
from qinglian.org.models import Company
from qinglian.org.scopes import data_scope

from ..enums import (
    ContractKind,
    ContractStatus,
    CreditGrade,
    PartnerAccount,
    PostingStatus,
    StockDocumentKind,
    TradingErrorCode,
)
from ..links import page_of
from ..models import (
    Contract,
    CreditDocumentKind,
    CreditException,
    CreditExceptionStatus,
    CreditExposure,
    CreditPolicy,
    Partner,
    PartnerBalance,
    StockDocument,
)
from ..numbering import next_number
from ..permissions import TradingAction, can, can_read
from ..selectors import credit as selectors
from ..selectors.contracts import master_company_ids
from .stock_ledger import ContractRow
from .warnings import warnings_refresh_after_commit

DOCUMENT_TYPE = "trading.credit_exception"
FLOW_CODE = "trading_credit_exception"
PREFIX = "XE"
MONEY = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999999999.99")
MAX_VALID_DAYS = 366
MAX_OVERDUE_DAYS = 3650
YES, NO = "是", "否"
EXPOSURE_FIELDS = ("receivable", "uninvoiced", "open_orders", "updated_at")
REBUILD_CHUNK = 500  # customers per transaction of exposure_rebuild
REBUILD_WRITE_CHUNK = 100  # rows per UPDATE statement

# Error codes of the credit blocks (ValidationFailed.code).
CREDIT_LIMIT_CODE = "trading.credit_limit"
OVERDUE_CODE = "trading.overdue"

# ---------------------------------------------------------------- the approval flow

CREDIT_EXCEPTION_FLOW: dict[str, Any] = {
    "fields": [
        {"key": "title", "label": "标题", "type": "text", "required": True},
        {"key": "exception_number", "label": "申请编号", "type": "text", "required": True},
        {"key": "customer", "label": "客户", "type": "text", "required": True},
        {"key": "credit_limit", "label": "信用额度", "type": "money", "required": True},
        {"key": "exposure", "label": "当前信用占用", "type": "money", "required": True},
        {"key": "overdue_amount", "label": "逾期欠款", "type": "money"},
        {"key": "amount", "label": "允许超额金额", "type": "money", "required": True},
        {
            "key": "allow_overdue",
            "label": "解除逾期冻结",
            "type": "choice",
            "required": True,
            "choices": [NO, YES],
        },
        {"key": "document", "label": "适用单据", "type": "text"},
        {"key": "valid_until", "label": "有效期至", "type": "date", "required": True},
        {"key": "reason", "label": "例外理由", "type": "textarea", "required": True},
    ],
    "route": [
        {
            "key": "finance",
            "name": "财务审核",
            "approver": {"kind": "role", "role": RoleCode.FINANCE.value},
            "time_limit_hours": 24,
        },
        {
            "key": "general_manager",
            "name": "总经理审批",
            "approver": {"kind": "role", "role": RoleCode.GENERAL_MANAGER.value},
            "time_limit_hours": 24,
        },
    ],
    "title_field": "title",
    "amount_field": "amount",
}

# Approval flows this area ships (kwargs of approvals.services.template_save, minus actor).
APPROVAL_FLOWS: list[dict[str, Any]] = [
    {
        "code": FLOW_CODE,
        "name": "客户信用例外审批",
        "category": "购销存",
        "description": (
            "客户超出信用额度或存在逾期欠款时，发货或销售合同须先申请信用例外："
            "财务审核 → 总经理审批。审批通过的例外在有效期内使用一次，使用的单据记录在案。"
        ),
        "document_type": DOCUMENT_TYPE,
        "definition": CREDIT_EXCEPTION_FLOW,
    }
]

# draft → pending → approved → used; pending → rejected, or back to draft when withdrawn;
# a draft or an approved, unused exception can be cancelled.
TRANSITIONS: dict[str, frozenset[str]] = {
    CreditExceptionStatus.DRAFT: frozenset(
        {CreditExceptionStatus.PENDING, CreditExceptionStatus.CANCELLED}
    ),
    CreditExceptionStatus.PENDING: frozenset(
        {
            CreditExceptionStatus.APPROVED,
            CreditExceptionStatus.REJECTED,
            CreditExceptionStatus.DRAFT,
        }
    ),
    CreditExceptionStatus.APPROVED: frozenset(
        {CreditExceptionStatus.USED, CreditExceptionStatus.CANCELLED}
    ),
}


def _move(exception: CreditException, target: str) -> str:
    before = exception.status
    if target not in TRANSITIONS.get(before, frozenset()):
        raise InvalidTransition(
            _("A credit exception that is “%(current)s” cannot become “%(target)s”.")
            % {
                "current": CreditExceptionStatus(before).label,
                "target": CreditExceptionStatus(target).label,
            }
        )
    exception.status = target
    return before


# ---------------------------------------------------------------- the exposure row


def _lock_exposure(partner_id: int) -> CreditExposure:
    """The customer's exposure row, created on first use, locked."""
    locking = selectors.plain_statement(
        "lock_exposure",
        lambda table: (
            f"SELECT {select_list(CreditExposure, 'x')} "  # noqa: S608
            f"FROM {table(CreditExposure)} x WHERE x.partner_id = %s"
            + (" FOR UPDATE" if connection.features.has_select_for_update else "")
        ),
    )
    found = rows_read(locking, [partner_id], [CreditExposure])
    if found:
        row: CreditExposure = found[0][0]
        return row
    CreditExposure.objects.bulk_create(
        [CreditExposure(partner_id=partner_id)], ignore_conflicts=True
    )
    return CreditExposure.objects.select_for_update().get(partner_id=partner_id)


def _store(row: CreditExposure, components: selectors.Components) -> None:
    row.receivable = components.receivable
    row.uninvoiced = components.uninvoiced
    row.open_orders = components.open_orders
    row_update(row, EXPOSURE_FIELDS)


@transaction.atomic
def exposure_refresh(*, partner_id: int) -> CreditExposure:
    """Lock the customer's row and bring it up to its sources (call inside the transaction
    that changed them, after the change)."""
    row = _lock_exposure(partner_id)
    _store(row, selectors.exposure_components(partner_id=partner_id))
    return row


def exposure_rebuild(*, partner_ids: list[int] | None = None) -> int:
    """Bring the rows of customers with sales contracts or receivables up to their sources
    (after an import or data made outside the services, and at installation: customers get
    their row on their first posting otherwise). Set-wise, `REBUILD_CHUNK` customers per
    transaction: their rows created where missing, locked in partner order, computed from
    their sources once the locks are held and written, as `exposure_refresh` does one
    customer at a time. Returns how many customers were brought up to date."""
    if partner_ids is None:
        with_contracts = Contract.objects.filter(kind=ContractKind.SALES).values_list(
            "partner_id", flat=True
        )
        with_balances = PartnerBalance.objects.exclude(receivable=0).values_list(
            "partner_id", flat=True
        )
        partner_ids = sorted(set(with_contracts) | set(with_balances))
    ordered = sorted(set(partner_ids))
    for start in range(0, len(ordered), REBUILD_CHUNK):
        _exposure_rebuild_chunk(ordered[start : start + REBUILD_CHUNK])
    return len(partner_ids)


@transaction.atomic
def _exposure_rebuild_chunk(partner_ids: list[int]) -> None:
    CreditExposure.objects.bulk_create(
        [CreditExposure(partner_id=partner_id) for partner_id in partner_ids],
        ignore_conflicts=True,
    )
    rows = list(
        CreditExposure.objects.select_for_update()
        .filter(partner_id__in=partner_ids)
        .order_by("partner_id")
    )
    components = selectors.exposure_components_of(partner_ids)
    for row in rows:
        wanted = components[row.partner_id]
        row.receivable = wanted.receivable
        row.uninvoiced = wanted.uninvoiced
        row.open_orders = wanted.open_orders
    for start in range(0, len(rows), REBUILD_WRITE_CHUNK):
        rows_save([(row, EXPOSURE_FIELDS) for row in rows[start : start + REBUILD_WRITE_CHUNK]])


def receivable_posted(*, partner_id: int, account: str) -> None:
    """Hook for services.money: a posting moved a partner ledger account."""
    if account == PartnerAccount.RECEIVABLE:
        exposure_refresh(partner_id=partner_id)


# ---------------------------------------------------------------- the checks


@dataclass(frozen=True)
class CreditDocument:
    """The document a credit check is about."""

    kind: str  # CreditDocumentKind
    company_id: int
    partner_id: int
    document_id: int
    number: str
    amount: Decimal
    contract_chain_id: int | None = None
    stock_document_id: int | None = None

    @property
    def label(self) -> str:
        if self.kind == CreditDocumentKind.GOODS_ISSUE:
            return _("goods issue %(number)s") % {"number": self.number}
        return _("sales contract %(number)s") % {"number": self.number}


@dataclass(frozen=True)
class Verdict:
    limit_applies: bool
    credit_limit: Decimal
    exposure_before: Decimal
    exposure_after: Decimal
    overrun: Decimal  # how far past the limit after the document (0: within)
    overdue_amount: Decimal
    overdue_days: int
    overdue_blocked: bool

    @property
    def is_blocked(self) -> bool:
        return self.overrun > 0 or self.overdue_blocked


def _verdict(
    partner: Partner,
    policy: selectors.PolicyValues,
    before: selectors.Components,
    after: selectors.Components,
    on: datetime.date,
) -> Verdict:
    applies = selectors.credit_limit_applies(partner)
    exposure_after = after.exposure(policy)
    overrun = (
        exposure_after - partner.credit_limit
        if applies and exposure_after > partner.credit_limit
        else Decimal("0")
    )
    overdue = Decimal("0")
    blocked = False
    if policy.overdue_block_enabled:
        overdue = selectors.overdue_amount(
            partner_id=partner.pk, more_than_days=policy.overdue_block_days, as_of=on
        )
        blocked = overdue > policy.overdue_block_amount
    return Verdict(
        limit_applies=applies,
        credit_limit=partner.credit_limit,
        exposure_before=before.exposure(policy),
        exposure_after=exposure_after,
        overrun=overrun,
        overdue_amount=overdue,
        overdue_days=policy.overdue_block_days,
        overdue_blocked=blocked,
    )


def _refusal(partner: Partner, document: CreditDocument, verdict: Verdict) -> ValidationFailed:
    reasons = []
    fields: dict[str, list[str]] = {}
    if verdict.overrun > 0:
        reasons.append(
            _(
                "%(customer)s would be over the credit limit: limit %(limit)s, current "
                "exposure %(exposure)s, this %(document)s %(amount)s, exposure after it "
                "%(after)s (%(overrun)s over)."
            )
            % {
                "customer": partner.name,
                "limit": verdict.credit_limit,
                "exposure": verdict.exposure_before,
                "document": document.label,
                "amount": document.amount,
                "after": verdict.exposure_after,
                "overrun": verdict.overrun,
            }
        )
        fields["credit_limit"] = [
            _("Over the credit limit by %(amount)s.") % {"amount": verdict.overrun}
        ]
    if verdict.overdue_blocked:
        reasons.append(
            _(
                "%(customer)s owes %(overdue)s more than %(days)d days past due (credit limit "
                "%(limit)s, current exposure %(exposure)s, this %(document)s %(amount)s)."
            )
            % {
                "customer": partner.name,
                "overdue": verdict.overdue_amount,
                "days": verdict.overdue_days,
                "limit": verdict.credit_limit,
                "exposure": verdict.exposure_before,
                "document": document.label,
                "amount": document.amount,
            }
        )
        fields["overdue"] = [_("Overdue debt: %(amount)s.") % {"amount": verdict.overdue_amount}]
    reasons.append(_("An approved credit exception is needed."))
    return ValidationFailed(
        " ".join(str(reason) for reason in reasons),
        code=CREDIT_LIMIT_CODE if verdict.overrun > 0 else OVERDUE_CODE,
        fields=fields,
    )


def _covering_exception(
    document: CreditDocument, verdict: Verdict, on: datetime.date, *, lock: bool
) -> CreditException | None:
    candidates = selectors.usable_credit_exceptions(
        company_id=document.company_id,
        partner_id=document.partner_id,
        on=on,
        contract_chain_id=document.contract_chain_id,
        stock_document_id=document.stock_document_id,
    ).filter(amount__gte=verdict.overrun)
    if verdict.overdue_blocked:
        candidates = candidates.filter(allow_overdue=True)
    if lock:
        candidates = candidates.select_for_update(of=("self",))
    return candidates.first()


def _use_exception(
    exception: CreditException, document: CreditDocument, verdict: Verdict, actor: Any
) -> None:
    before = _move(exception, CreditExceptionStatus.USED)
    exception.used_at = clock.now()
    exception.used_by = actor if getattr(actor, "pk", None) else None
    exception.used_document_kind = document.kind
    exception.used_document_id = document.document_id
    exception.used_document_number = document.number[:80]
    exception.used_document_amount = document.amount
    exception.used_exposure = verdict.exposure_after
    exception.used_limit = verdict.credit_limit
    exception.used_overdue_amount = verdict.overdue_amount
    exception.version += 1
    exception.save()
    changes = {
        "status": [before, exception.status],
        "document": [None, f"{document.kind}:{document.document_id}"],
        "document_number": [None, document.number],
        "document_amount": [None, str(document.amount)],
        "exposure_after": [None, str(verdict.exposure_after)],
        "credit_limit": [None, str(verdict.credit_limit)],
        "overrun": [None, str(verdict.overrun)],
        "overdue_amount": [None, str(verdict.overdue_amount)],
    }
    audit_record(
        actor=actor,
        action="trading.credit_exception.used",
        company_id=exception.company_id,
        target=exception,
        changes=changes,
    )
    # On the document's own trail too: which exception let it through.
    audit_record(
        actor=actor,
        action="trading.credit.exception_applied",
        company_id=document.company_id,
        object_type=(
            "trading.stockdocument"
            if document.kind == CreditDocumentKind.GOODS_ISSUE
            else "trading.contract"
        ),
        object_id=str(document.document_id),
        object_repr=document.number,
        changes={
            "credit_exception": [None, exception.number],
            "exposure_after": [None, str(verdict.exposure_after)],
            "credit_limit": [None, str(verdict.credit_limit)],
            "overrun": [None, str(verdict.overrun)],
            "overdue_amount": [None, str(verdict.overdue_amount)],
        },
    )


def _enforce(
    *,
    partner: Partner,
    document: CreditDocument,
    before: selectors.Components,
    after: selectors.Components,
    actor: Any,
    consume: bool,
) -> CreditException | None:
    """Refuse the document, or let it through (using a covering exception if it needs one).
    Returns the exception used (or, when not consuming, the one that would be)."""
    on = clock.today()
    policy = selectors.credit_policy_for(
        company_id=partner.company_id, company_path=partner.company.path
    )
    verdict = _verdict(partner, policy, before, after, on)
    if not verdict.is_blocked:
        return None
    exception = _covering_exception(document, verdict, on, lock=consume)
    if exception is None:
        raise _refusal(partner, document, verdict)
    if consume:
        _use_exception(exception, document, verdict, actor)
    return exception


def _customer(partner_id: int) -> Partner:
    """The customer with its company (whose path picks the credit policy), one plain read."""
    statement = selectors.plain_statement(
        "customer",
        lambda table: (
            f"SELECT {select_list(Partner, 'p')}, {select_list(Company, 'c')} "  # noqa: S608
            f"FROM {table(Partner)} p JOIN {table(Company)} c ON c.id = p.company_id "
            "WHERE p.id = %s"
        ),
    )
    found = rows_read(statement, [partner_id], [Partner, Company])
    if not found:
        raise Partner.DoesNotExist(partner_id)
    partner, company = found[0]
    partner.company = company
    return partner


def _stored(row: CreditExposure) -> selectors.Components:
    return selectors.Components(row.receivable, row.uninvoiced, row.open_orders)


def _chain_id(contract: Contract | ContractRow) -> int:
    return contract.original_id or contract.pk


def _amount_added(contract: Contract) -> Decimal:
    """What a sales contract adds to the amount in force: its amount, or for an amendment
    the increase over the revision it amends (0 or less: it adds nothing)."""
    if not contract.amends_id:
        return contract.total_amount
    previous = (
        Contract.objects.filter(pk=contract.amends_id)
        .values_list("total_amount", flat=True)
        .first()
    )
    return contract.total_amount - (previous or Decimal("0"))


def _contract_document(contract: Contract) -> CreditDocument:
    return CreditDocument(
        kind=CreditDocumentKind.SALES_CONTRACT,
        company_id=contract.company_id,
        partner_id=contract.partner_id,
        document_id=contract.pk,
        number=str(contract),
        amount=_amount_added(contract),
        contract_chain_id=_chain_id(contract),
    )


def _amendment_raises(contract: Contract) -> bool:
    """A first revision always adds; an amendment only when it raises the amount."""
    return not contract.amends_id or _amount_added(contract) > 0


def sales_contract_check(*, contract: Contract) -> None:
    """Hook for contract_submit: refuse early a sales contract that could not take effect on
    today's figures (no lock, nothing used: the decision is taken when it takes effect)."""
    if contract.kind != ContractKind.SALES or not _amendment_raises(contract):
        return
    partner = _customer(contract.partner_id)
    row = CreditExposure.objects.filter(partner_id=partner.pk).first()
    before = (
        _stored(row) if row is not None else selectors.exposure_components(partner_id=partner.pk)
    )
    assume = selectors.ContractFigures(
        contract_id=contract.pk,
        amount=contract.total_amount,
        issued=Decimal("0"),
        invoiced=Decimal("0"),
        is_open=True,
    )
    if contract.amends_id:
        previous = Contract.objects.get(pk=contract.amends_id)
        figures = selectors.sales_contract_figures(previous)
        assume = selectors.ContractFigures(
            contract_id=contract.pk,
            amount=contract.total_amount,
            issued=figures.issued,
            invoiced=figures.invoiced,
            is_open=True,
        )
    after = selectors.exposure_components(
        partner_id=partner.pk, assume=assume, replacing=contract.amends_id
    )
    _enforce(
        partner=partner,
        document=_contract_document(contract),
        before=before,
        after=after,
        actor=None,
        consume=False,
    )


def sales_contract_changed(*, contract: Contract, actor: Any) -> None:
    """Hook for services.contracts after a contract took effect (approved, an amendment
    superseding the revision it amends), was terminated or completed. A sales contract that
    took effect is checked (and may use an exception); the others only move the row."""
    if contract.kind != ContractKind.SALES:
        return
    row = _lock_exposure(contract.partner_id)
    before = _stored(row)
    after = selectors.exposure_components(partner_id=contract.partner_id)
    if contract.status == ContractStatus.EFFECTIVE and _amendment_raises(contract):
        _enforce(
            partner=_customer(contract.partner_id),
            document=_contract_document(contract),
            before=before,
            after=after,
            actor=actor,
            consume=True,
        )
    _store(row, after)


def stock_document_posted(
    *, document: StockDocument, actor: Any, contract: Contract | ContractRow | None = None
) -> None:
    """Hook for services.stock after a goods issue was posted (checked; may use an exception)
    or reversed (`document` is then the reversal: only moves the row). Receipts: nothing.
    `contract`: the document's contract when the caller holds it already."""
    if document.kind != StockDocumentKind.ISSUE or document.contract_id is None:
        return
    row = _lock_exposure(document.partner_id)
    before = _stored(row)
    after = selectors.exposure_components(partner_id=document.partner_id)
    if document.reverses_id is None and document.status == PostingStatus.POSTED:
        if contract is None or contract.pk != document.contract_id:
            contract = Contract.objects.get(pk=document.contract_id)
        _enforce(
            partner=_customer(document.partner_id),
            document=CreditDocument(
                kind=CreditDocumentKind.GOODS_ISSUE,
                company_id=document.company_id,
                partner_id=document.partner_id,
                document_id=document.pk,
                number=document.number,
                amount=document.total_amount,
                contract_chain_id=_chain_id(contract),
                stock_document_id=document.pk,
            ),
            before=before,
            after=after,
            actor=actor,
            consume=True,
        )
    _store(row, after)


# ---------------------------------------------------------------- the credit policy

POLICY_FIELDS = (
    "include_receivables",
    "include_uninvoiced",
    "include_open_orders",
    "overdue_block_enabled",
    "overdue_block_days",
    "overdue_block_amount",
)


def can_edit_credit_policy(user: Any, company_id: int | None) -> bool:
    """The general manager of a company sets its credit policy (never an oversight role)."""
    scope = data_scope(user)
    return (
        company_id is not None
        and not scope.is_oversight
        and scope.has_role(RoleCode.GENERAL_MANAGER, company_id)
    )


def _invalid(problems: dict[str, list[str]]) -> ValidationFailed:
    return ValidationFailed(_("Please correct the highlighted fields."), fields=problems)


def _money(value: Any, name: str, problems: dict[str, list[str]]) -> Decimal:
    try:
        number = Decimal(str(value if value not in (None, "") else "0").replace(",", "").strip())
    except InvalidOperation:
        problems[name] = [_("Not a number.")]
        return Decimal("0")
    if not number.is_finite():
        problems[name] = [_("Not a number.")]
        return Decimal("0")
    if number != number.quantize(MONEY):
        problems[name] = [_("At most 2 decimal places.")]
    elif number < 0:
        problems[name] = [_("Must not be negative.")]
    elif number > MAX_AMOUNT:
        problems[name] = [_("Too large.")]
    return number.quantize(MONEY) if name not in problems else Decimal("0")


@retry_on_conflict()
@transaction.atomic
def credit_policy_save(
    *,
    actor: Any,
    company_id: int,
    include_receivables: bool,
    include_uninvoiced: bool,
    include_open_orders: bool,
    overdue_block_enabled: bool,
    overdue_block_days: int | str,
    overdue_block_amount: Decimal | str,
    expected_version: int | None = None,
) -> CreditPolicy:
    """Set the credit policy for the customers a company owns (and those of companies below it
    without their own). The components stay on every exposure row, so no row is rewritten."""
    if not can_read(actor, company_id):
        raise NotFound(_("Company not found."))
    if not can_edit_credit_policy(actor, company_id):
        raise PermissionDenied(_("Only the general manager of the company sets its credit policy."))
    problems: dict[str, list[str]] = {}
    days = 0
    try:
        days = int(str(overdue_block_days).strip())
        if not 0 <= days <= MAX_OVERDUE_DAYS:
            raise ValueError(days)
    except ValueError:
        problems["overdue_block_days"] = [
            _("A whole number of days from 0 to %(days)d.") % {"days": MAX_OVERDUE_DAYS}
        ]
    amount = _money(overdue_block_amount, "overdue_block_amount", problems)
    if not (include_receivables or include_uninvoiced or include_open_orders):
        problems["include_receivables"] = [_("The exposure needs at least one component.")]
    if problems:
        raise _invalid(problems)
    company = Company.objects.select_for_update().get(pk=company_id)
    policy = CreditPolicy.objects.select_for_update().filter(company_id=company_id).first()
    if policy is not None and expected_version is not None and policy.version != expected_version:
        raise Conflict(
            _("Someone else changed this policy meanwhile; reload and try again."),
            code=TradingErrorCode.STALE_VERSION,
        )
    created = policy is None
    old = selectors.credit_policy_for(company_id=company_id)
    if policy is None:
        policy = CreditPolicy(company_id=company_id)
    else:
        policy.version += 1
    policy.include_receivables = bool(include_receivables)
    policy.include_uninvoiced = bool(include_uninvoiced)
    policy.include_open_orders = bool(include_open_orders)
    policy.overdue_block_enabled = bool(overdue_block_enabled)
    policy.overdue_block_days = days
    policy.overdue_block_amount = amount
    policy.updated_by = actor if getattr(actor, "pk", None) else None
    policy.save()
    changes = {
        name: [_plain(getattr(old, name)), _plain(getattr(policy, name))]
        for name in POLICY_FIELDS
        if created or getattr(old, name) != getattr(policy, name)
    }
    audit_record(
        actor=actor,
        action="trading.credit_policy.created" if created else "trading.credit_policy.updated",
        company_id=company_id,
        target=policy,
        changes=changes,
    )
    if changes.keys() & {"include_receivables", "include_uninvoiced", "include_open_orders"}:
        # The exposure's formula changed for the customers owned here or below (the nearest
        # policy up the tree applies): their credit warnings measure it anew.
        warnings_refresh_after_commit(
            partner_ids=Partner.objects.filter(
                Q(credit_limit__gt=0) | Q(credit_grade=CreditGrade.D),
                company__path__startswith=company.path,
            ).values_list("pk", flat=True)
        )
    return policy


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


# ---------------------------------------------------------------- credit exceptions


def _requesting_company(actor: Any, company_id: int | None) -> int:
    company_id = company_id if company_id is not None else getattr(actor, "company_id", None)
    if company_id is None or not can(actor, TradingAction.CREDIT_CHANGE, company_id):
        raise PermissionDenied(
            _("Only sales or finance staff of the company may request a credit exception.")
        )
    return company_id


def _lock_exception(actor: Any, exception_id: int) -> CreditException:
    exception = CreditException.objects.select_for_update().filter(pk=exception_id).first()
    if exception is None or not can_read(actor, exception.company_id):
        raise NotFound(_("Credit exception not found."))
    if not can(actor, TradingAction.CREDIT_CHANGE, exception.company_id):
        raise PermissionDenied(
            _("Only sales or finance staff of the company may request a credit exception.")
        )
    if exception.import_batch:  # imported history (legacy intake) is read-only
        raise Conflict(_("Imported history is read-only."), code=TradingErrorCode.IMMUTABLE)
    return exception


def _clean_date(value: Any, problems: dict[str, list[str]]) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value or "").strip())
    except ValueError:
        problems["valid_until"] = [_("Enter a date (YYYY-MM-DD).")]
        return None


def _form(exception: CreditException, partner: Partner) -> dict[str, Any]:
    document = ""
    if exception.stock_document_id:
        document = f"出库单 {exception.stock_document}"
    elif exception.contract_id:
        document = f"销售合同 {exception.contract}"
    return {
        "title": f"信用例外：{partner.name} {exception.amount}"[:200],
        "exception_number": exception.number,
        "customer": partner.name[:200],
        "credit_limit": str(exception.credit_limit),
        "exposure": str(exception.exposure),
        "overdue_amount": str(exception.overdue_amount),
        "amount": str(exception.amount),
        "allow_overdue": YES if exception.allow_overdue else NO,
        "document": document[:200],
        "valid_until": exception.valid_until.isoformat(),
        "reason": exception.reason[:5000],
    }


def _snapshot_standing(exception: CreditException, partner: Partner) -> None:
    standing = selectors.credit_standing(partner=partner)
    exception.credit_limit = standing.credit_limit
    exception.exposure = standing.exposure
    exception.overdue_amount = standing.overdue_amount


def _submit(exception: CreditException, partner: Partner, actor: Any) -> CreditException:
    before = _move(exception, CreditExceptionStatus.PENDING)
    _snapshot_standing(exception, partner)
    exception.submitted_at = clock.now()
    exception.version += 1
    exception.save()
    audit_record(
        actor=actor,
        action="trading.credit_exception.submitted",
        company_id=exception.company_id,
        target=exception,
        changes={
            "status": [before, exception.status],
            "exposure": [None, str(exception.exposure)],
            "credit_limit": [None, str(exception.credit_limit)],
            "overdue_amount": [None, str(exception.overdue_amount)],
        },
    )
    request = approval_services.request_submit(
        actor=actor,
        template_code=FLOW_CODE,
        form_data=_form(exception, partner),
        document_type=DOCUMENT_TYPE,
        document_id=str(exception.pk),
    )
    # The route may have finished already (every step skipped): only the link is written.
    CreditException.objects.filter(pk=exception.pk).update(approval_request=request)
    exception.refresh_from_db()
    return exception


@retry_on_conflict()
@transaction.atomic
def credit_exception_create(
    *,
    actor: Any,
    partner_id: int,
    amount: Decimal | str,
    reason: str,
    valid_until: datetime.date | str,
    allow_overdue: bool = False,
    contract_id: int | None = None,
    stock_document_id: int | None = None,
    company_id: int | None = None,
) -> CreditException:
    """A draft credit exception for a customer, optionally only for one sales contract or one
    draft goods issue of the company (`credit_exception_submit` sends it to approval)."""
    company_id = _requesting_company(actor, company_id)
    partner = Partner.objects.filter(
        pk=partner_id or 0, company_id__in=master_company_ids(company_id)
    ).first()
    problems: dict[str, list[str]] = {}
    if partner is None or not partner.is_customer:
        problems["partner"] = [_("Choose a customer.")]
    value = _money(amount, "amount", problems)
    if not value and not allow_overdue and "amount" not in problems:
        problems["amount"] = [
            _("Allow an amount over the limit, or lift the overdue block, or both.")
        ]
    text = (reason or "").strip()
    if not text:
        problems["reason"] = [_("Say why the exception is needed.")]
    elif len(text) > 2000:
        problems["reason"] = [_("At most %(limit)d characters.") % {"limit": 2000}]
    today = clock.today()
    until = _clean_date(valid_until, problems)
    if until is not None and not today <= until <= today + datetime.timedelta(MAX_VALID_DAYS):
        problems["valid_until"] = [
            _("From today to at most %(days)d days ahead.") % {"days": MAX_VALID_DAYS}
        ]
    contract = None
    if contract_id:
        contract = Contract.objects.filter(
            pk=contract_id,
            company_id=company_id,
            partner_id=partner_id,
            kind=ContractKind.SALES,
            status__in=[ContractStatus.DRAFT, ContractStatus.PENDING, ContractStatus.EFFECTIVE],
        ).first()
        if contract is None:
            problems["contract"] = [
                _("Choose a sales contract of this company and customer that is still open.")
            ]
    document = None
    if stock_document_id:
        document = StockDocument.objects.filter(
            pk=stock_document_id,
            company_id=company_id,
            partner_id=partner_id,
            kind=StockDocumentKind.ISSUE,
            status=PostingStatus.DRAFT,
        ).first()
        if document is None:
            problems["stock_document"] = [
                _("Choose a draft goods issue of this company and customer.")
            ]
        elif contract is not None and document.contract_id != contract.pk:
            problems["stock_document"] = [_("This goods issue is not against that contract.")]
    if problems:
        raise _invalid(problems)
    assert partner is not None and until is not None
    exception = CreditException.objects.create(
        company_id=company_id,
        number=next_number(company_id=company_id, prefix=PREFIX, day=today),
        partner=partner,
        contract=contract,
        stock_document=document,
        amount=value,
        allow_overdue=bool(allow_overdue),
        reason=text,
        valid_until=until,
        requested_by=actor,
    )
    audit_record(
        actor=actor,
        action="trading.credit_exception.created",
        company_id=company_id,
        target=exception,
        changes={
            "partner": [None, partner.pk],
            "amount": [None, str(value)],
            "allow_overdue": [None, exception.allow_overdue],
            "contract": [None, contract.pk if contract else None],
            "stock_document": [None, document.pk if document else None],
            "valid_until": [None, until.isoformat()],
            "reason": [None, text],
        },
    )
    return exception


@retry_on_conflict()
@transaction.atomic
def credit_exception_request(
    *,
    actor: Any,
    partner_id: int,
    amount: Decimal | str,
    reason: str,
    valid_until: datetime.date | str,
    allow_overdue: bool = False,
    contract_id: int | None = None,
    stock_document_id: int | None = None,
    company_id: int | None = None,
) -> CreditException:
    """Create and submit in one step (the request form)."""
    exception = credit_exception_create(
        actor=actor,
        partner_id=partner_id,
        amount=amount,
        reason=reason,
        valid_until=valid_until,
        allow_overdue=allow_overdue,
        contract_id=contract_id,
        stock_document_id=stock_document_id,
        company_id=company_id,
    )
    return credit_exception_submit(actor=actor, exception_id=exception.pk)


@retry_on_conflict()
@transaction.atomic
def credit_exception_submit(
    *, actor: Any, exception_id: int, expected_version: int | None = None
) -> CreditException:
    """Send a draft exception (new, or withdrawn from approval) to the approval flow."""
    exception = _lock_exception(actor, exception_id)
    _check_version(exception, expected_version)
    if exception.valid_until < clock.today():
        raise _invalid({"valid_until": [_("Already expired: request a new exception.")]})
    partner = Partner.objects.get(pk=exception.partner_id)
    return _submit(exception, partner, actor)


@retry_on_conflict()
@transaction.atomic
def credit_exception_cancel(
    *, actor: Any, exception_id: int, reason: str = "", expected_version: int | None = None
) -> CreditException:
    """Cancel a draft, or give back an approved exception that has not been used."""
    exception = _lock_exception(actor, exception_id)
    _check_version(exception, expected_version)
    before = _move(exception, CreditExceptionStatus.CANCELLED)
    exception.decided_at = exception.decided_at or clock.now()
    exception.version += 1
    exception.save()
    audit_record(
        actor=actor,
        action="trading.credit_exception.cancelled",
        company_id=exception.company_id,
        target=exception,
        changes={"status": [before, exception.status], "reason": [None, reason.strip()[:255]]},
    )
    return exception


def _check_version(exception: CreditException, expected_version: int | None) -> None:
    if expected_version is not None and exception.version != expected_version:
        raise Conflict(
            _("Someone else changed this exception meanwhile; reload and try again."),
            code=TradingErrorCode.STALE_VERSION,
        )


# ---------------------------------------------------------------- approval callbacks


def _decided(request: ApprovalRequest, actor: Any, target: str) -> None:
    exception = (
        CreditException.objects.select_for_update().filter(pk=int(request.document_id)).first()
    )
    if exception is None or exception.status != CreditExceptionStatus.PENDING:
        return
    before = _move(exception, target)
    exception.approval_request = request
    if target != CreditExceptionStatus.DRAFT:
        exception.decided_at = clock.now()
    if target == CreditExceptionStatus.APPROVED:
        exception.approved_by = actor if getattr(actor, "pk", None) else None
    exception.version += 1
    exception.save()
    verb = {
        CreditExceptionStatus.APPROVED: "approved",
        CreditExceptionStatus.REJECTED: "rejected",
        CreditExceptionStatus.DRAFT: "withdrawn",
    }[CreditExceptionStatus(target)]
    audit_record(
        actor=actor,
        action=f"trading.credit_exception.{verb}",
        company_id=exception.company_id,
        target=exception,
        changes={
            "status": [before, exception.status],
            "approval_request": [None, request.pk],
            "approved_by": [None, exception.approved_by_id],
        },
    )


def _on_approved(*, request: ApprovalRequest, actor: Any) -> None:
    _decided(request, actor, CreditExceptionStatus.APPROVED)


def _on_rejected(*, request: ApprovalRequest, actor: Any) -> None:
    _decided(request, actor, CreditExceptionStatus.REJECTED)


def _on_withdrawn(*, request: ApprovalRequest, actor: Any) -> None:
    _decided(request, actor, CreditExceptionStatus.DRAFT)


def _company_of(*, document_id: str) -> int | None:
    try:
        pk = int(document_id)
    except (TypeError, ValueError):
        return None
    return CreditException.objects.filter(pk=pk).values_list("company_id", flat=True).first()


CREDIT_EXCEPTION_DOCUMENT = DocumentType(
    key=DOCUMENT_TYPE,
    label=gettext_lazy("Customer credit exception"),
    on_approved=_on_approved,
    on_rejected=_on_rejected,
    on_withdrawn=_on_withdrawn,
    company_of=_company_of,
    url_of=page_of("trading:credit_exception_detail"),
)


def register_document_types() -> None:
    """Register this area's approval-bound document types (called from AppConfig.ready)."""
    register_document_type(CREDIT_EXCEPTION_DOCUMENT)

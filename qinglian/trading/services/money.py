"""Trading services: money. Writes only; each service is atomic and audited.

Invoices (purchase received / sales issued) go draft → posted → reversed (红冲: a new invoice
that `reverses` the posted one with the negated amount). Payments to suppliers go through the
payment approval flow (document type "trading.payment") and post when it approves; receipts
from customers are posted directly by finance (money coming in adds no risk to approve, and
the overdue and credit warnings must see it the day it arrives). A posted payment or receipt
is corrected by a reversal.

Every posting appends to the partner ledger (PartnerLedgerEntry, append-only) and changes the
partner's balance row (PartnerBalance) under its row lock; a posting against a contract first
locks the contract's revision in force and keeps its invoiced and settled figures there.
Lock order: the document, then the contract, then the partner balance (then the audit chain,
written last; then, for receivables, the customer's credit exposure row: services.credit).
The approvals engine writes its audit event before it calls back, so a payment's
approval can deadlock with a posting on the same contract; PostgreSQL breaks the tie and the
services here retry the losing transaction (`retry_on_conflict`).

Payments are limited by `selectors.money.payment_allowance` (the one rule), checked under the
contract's row lock when a payment is submitted (payments under approval count as reserved, so
two concurrent submissions cannot together pass it) and again when it posts.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.db import IntegrityError, transaction
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
from qinglian.org.enums import RoleCode
from qinglian.org.models import Company

from ..enums import (
    ApprovedPostingStatus,
    ContractKind,
    InvoiceDirection,
    PartnerAccount,
    PartnerEntryKind,
    PaymentDirection,
    PaymentKind,
    PostingStatus,
    TradingErrorCode,
)
from ..links import page_of
from ..models import Contract, Invoice, Partner, PartnerBalance, PartnerLedgerEntry, Payment
from ..models.money import OpeningBalance
from ..numbering import next_number
from ..permissions import TradingAction, can, can_read, companies_for
from ..selectors import contracts as contract_selectors
from ..selectors import money as selectors
from . import contracts as contract_services
from . import credit as credit_services
from .warnings import warnings_refresh_after_commit

PAYMENT_DOCUMENT_TYPE = "trading.payment"
PAYMENT_FLOW_CODE = "trading_payment"
MONEY = Decimal("0.01")
RATE = Decimal("0.0001")
YES, NO = "是", "否"

# ---------------------------------------------------------------- the approval flow

# Finance checks the payment, the general manager decides; a payment beyond what the contract
# and invoices allow (is_exception) also needs the leader in charge before the general
# manager. Flows are data: a group may point that node higher.
PAYMENT_FLOW: dict[str, Any] = {
    "fields": [
        {"key": "title", "label": "事由", "type": "text", "required": True},
        {"key": "payee", "label": "收款单位", "type": "text", "required": True},
        {"key": "contract_number", "label": "合同编号", "type": "text"},
        {"key": "invoice_number", "label": "发票号码", "type": "text"},
        {"key": "amount", "label": "本次付款金额", "type": "money", "required": True},
        {
            "key": "allowed_amount",
            "label": "可付金额",
            "type": "money",
            "help": "按合同及发票计算的可付金额（不含本次）",
        },
        {
            "key": "is_exception",
            "label": "超额例外付款",
            "type": "choice",
            "required": True,
            "choices": [NO, YES],
        },
        {"key": "exception_reason", "label": "例外理由", "type": "textarea"},
        {"key": "bank_account", "label": "收款账号", "type": "text"},
        {"key": "remarks", "label": "说明", "type": "textarea"},
    ],
    "route": [
        {
            "key": "finance",
            "name": "财务审核",
            "approver": {"kind": "role", "role": RoleCode.FINANCE.value},
            "time_limit_hours": 24,
        },
        {
            "key": "exception_leader",
            "name": "分管领导（超额例外）",
            "approver": {"kind": "leader_in_charge"},
            "time_limit_hours": 48,
            "condition": {"all": [{"field": "is_exception", "op": "eq", "value": YES}]},
        },
        {
            "key": "general_manager",
            "name": "总经理",
            "approver": {"kind": "role", "role": RoleCode.GENERAL_MANAGER.value},
            "time_limit_hours": 48,
        },
    ],
    "title_field": "title",
    "amount_field": "amount",
}

# Approval flows this area ships (kwargs of approvals.services.template_save, minus actor).
APPROVAL_FLOWS: list[dict[str, Any]] = [
    {
        "code": PAYMENT_FLOW_CODE,
        "name": "供应商付款审批",
        "category": "购销存",
        "description": (
            "向供应商付款：财务审核、总经理审批；超出合同及发票允许金额的例外付款须说明理由，"
            "并增加分管领导审批。审批通过后付款过账。"
        ),
        "document_type": PAYMENT_DOCUMENT_TYPE,
        "definition": PAYMENT_FLOW,
    }
]

# ---------------------------------------------------------------- helpers


def _invalid(problems: dict[str, list[str]]) -> ValidationFailed:
    return ValidationFailed(_("Please correct the highlighted fields."), fields=problems)


def _money(value: Any, field: str, *, positive: bool = True) -> Decimal:
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, AttributeError):
        raise _invalid({field: [_("Not a number.")]}) from None
    if not number.is_finite():
        raise _invalid({field: [_("Not a number.")]})
    if number != number.quantize(MONEY):
        raise _invalid({field: [_("At most two decimal places.")]})
    if positive and number <= 0:
        raise _invalid({field: [_("Must be more than zero.")]})
    if not number:
        raise _invalid({field: [_("Must not be zero.")]})
    return number.quantize(MONEY)


def _date(value: Any, field: str) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise _invalid({field: [_("Not a date (YYYY-MM-DD).")]}) from None


def _not_future(day: datetime.date, field: str) -> None:
    if day > clock.today():
        raise _invalid({field: [_("Not in the future.")]})


def _require(actor: Any, action: TradingAction, company_id: int) -> None:
    if not can(actor, action, company_id):
        raise PermissionDenied(
            _("Only finance of this company records invoices.")
            if action == TradingAction.INVOICE
            else _("Only finance of this company records payments and receipts.")
            if action == TradingAction.PAYMENT
            else _("Only finance of this company enters opening balances.")
        )


def _readable_contract(actor: Any, contract_id: Any) -> Contract:
    try:
        pk = int(contract_id)
    except (TypeError, ValueError):
        raise _invalid({"contract": [_("Choose a contract.")]}) from None
    contract = Contract.objects.filter(pk=pk).first()
    if contract is None or not can_read(actor, contract.company_id):
        raise NotFound(_("Contract not found."))
    return contract


def _current(contract: Contract) -> Contract:
    """The revision in force (an invoice or payment always books against it)."""
    current_id = contract_selectors.contract_current_revision_id(contract)
    current = contract if current_id == contract.pk else Contract.objects.get(pk=current_id)
    if current.status not in contract_selectors.EXECUTABLE_STATUSES:
        raise Conflict(
            _("Contract %(contract)s is not in force.") % {"contract": current},
            code=TradingErrorCode.NOT_EFFECTIVE,
            fields={"contract": [_("Not in force.")]},
        )
    return current


def _actor_or_none(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _lock_balance(company_id: int, partner_id: int) -> PartnerBalance:
    """The partner's balance row with this company, created on first use, locked."""
    PartnerBalance.objects.bulk_create(
        [PartnerBalance(company_id=company_id, partner_id=partner_id)], ignore_conflicts=True
    )
    return PartnerBalance.objects.select_for_update().get(
        company_id=company_id, partner_id=partner_id
    )


def _post_entry(
    *,
    company_id: int,
    partner_id: int,
    contract_id: int | None,
    account: str,
    kind: str,
    amount: Decimal,
    posting_date: datetime.date,
    due_date: datetime.date | None,
    voucher_type: str,
    voucher_id: int,
    balance: PartnerBalance | None = None,
) -> PartnerLedgerEntry:
    """Append one ledger entry and move the locked balance by the same amount."""
    balance = balance or _lock_balance(company_id, partner_id)
    entry = PartnerLedgerEntry.objects.create(
        company_id=company_id,
        partner_id=partner_id,
        contract_id=contract_id,
        account=account,
        kind=kind,
        amount=amount,
        posting_date=posting_date,
        due_date=due_date,
        voucher_type=voucher_type,
        voucher_id=voucher_id,
    )
    if account == PartnerAccount.RECEIVABLE:
        balance.receivable += amount
        balance.save(update_fields=["receivable", "updated_at"])
    else:
        balance.payable += amount
        balance.save(update_fields=["payable", "updated_at"])
    return entry


def _check_version(document: Invoice | Payment, expected_version: int | None) -> None:
    if expected_version is not None and document.version != expected_version:
        raise Conflict(
            _("Someone else changed this document meanwhile; reload and try again."),
            code=TradingErrorCode.STALE_VERSION,
        )


# ---------------------------------------------------------------- invoices

INVOICE_FIELDS = ("invoice_number", "invoice_code", "invoice_date", "amount", "tax_rate", "remarks")


def _lock_invoice(actor: Any, invoice_id: int) -> Invoice:
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
    if invoice is None or not can_read(actor, invoice.company_id):
        raise NotFound(_("Invoice not found."))
    _require(actor, TradingAction.INVOICE, invoice.company_id)
    if invoice.import_batch:  # imported history (legacy intake) is read-only
        raise Conflict(_("Imported history is read-only."), code=TradingErrorCode.IMMUTABLE)
    return invoice


def _clean_number(number: Any, code: Any) -> tuple[str, str]:
    number = str(number or "").strip()
    code = str(code or "").strip()
    problems: dict[str, list[str]] = {}
    if not number:
        problems["invoice_number"] = [_("This field is required.")]
    elif len(number) > 40:
        problems["invoice_number"] = [_("At most 40 characters.")]
    if len(code) > 20:
        problems["invoice_code"] = [_("At most 20 characters.")]
    if problems:
        raise _invalid(problems)
    return number, code


def _refuse_duplicate(direction: str, code: str, number: str, exclude_id: int | None) -> str:
    key = selectors.invoice_number_key(code, number)
    clash = Invoice.objects.filter(direction=direction, number_key=key).exclude(
        status=PostingStatus.CANCELLED
    )
    if exclude_id is not None:
        clash = clash.exclude(pk=exclude_id)
    if clash.exists():
        raise _duplicate(direction, code, number)
    return key


def _duplicate(direction: str, code: str, number: str) -> Conflict:
    return Conflict(
        _(
            "%(direction)s with code “%(code)s” and number “%(number)s” is already recorded; "
            "an invoice is entered once."
        )
        % {
            "direction": InvoiceDirection(direction).label,
            "code": code or "—",
            "number": number,
        },
        code=TradingErrorCode.DUPLICATE,
        fields={"invoice_number": [_("Already recorded.")]},
    )


def _save_invoice(invoice: Invoice) -> None:
    try:
        with transaction.atomic():
            invoice.save()
    except IntegrityError as error:  # a concurrent twin with the same number won
        raise _duplicate(invoice.direction, invoice.invoice_code, invoice.invoice_number) from error


def _default_tax_rate(contract: Contract) -> Decimal | None:
    rates = set(contract.lines.values_list("tax_rate", flat=True))
    return rates.pop() if len(rates) == 1 else None


def _apply_invoice_fields(invoice: Invoice, contract: Contract, values: dict[str, Any]) -> None:
    unknown = set(values) - set(INVOICE_FIELDS)
    if unknown:
        raise _invalid({name: [_("Not a field.")] for name in sorted(unknown)})
    number, code = _clean_number(
        values.get("invoice_number", invoice.invoice_number),
        values.get("invoice_code", invoice.invoice_code),
    )
    invoice.invoice_number, invoice.invoice_code = number, code
    if "invoice_date" in values:
        invoice.invoice_date = _date(values["invoice_date"], "invoice_date")
    _not_future(invoice.invoice_date, "invoice_date")
    if "amount" in values:
        invoice.amount = _money(values["amount"], "amount")
    rate = values.get("tax_rate", invoice.tax_rate)
    if rate in (None, ""):
        rate = _default_tax_rate(contract)
        if rate is None:
            raise _invalid({"tax_rate": [_("The contract's lines have different VAT rates.")]})
    try:
        rate = Decimal(str(rate)).quantize(RATE)
    except InvalidOperation:
        raise _invalid({"tax_rate": [_("Not a number.")]}) from None
    if not Decimal("0") <= rate < Decimal("1"):
        raise _invalid({"tax_rate": [_("A VAT rate between 0 and 1 (0.13 for 13 %).")]})
    invoice.tax_rate = rate
    invoice.tax_amount = contract_services.tax_included(invoice.amount, rate)
    if "remarks" in values:
        invoice.remarks = str(values["remarks"] or "").strip()


@retry_on_conflict()
@transaction.atomic
def invoice_create(
    *,
    actor: Any,
    contract_id: int,
    invoice_number: str,
    invoice_date: datetime.date | str,
    amount: Decimal | str,
    invoice_code: str = "",
    tax_rate: Decimal | str | None = None,
    remarks: str = "",
) -> Invoice:
    """A draft invoice against a contract in force: received for a purchase contract, issued
    for a sales contract. The number is kept as entered; a duplicate is refused."""
    contract = _readable_contract(actor, contract_id)
    _require(actor, TradingAction.INVOICE, contract.company_id)
    contract = _current(contract)
    invoice = Invoice(
        company_id=contract.company_id,
        direction=selectors.invoice_direction_for(contract.kind),
        partner_id=contract.partner_id,
        contract=contract,
        status=PostingStatus.DRAFT,
        created_by=actor,
    )
    _apply_invoice_fields(
        invoice,
        contract,
        {
            "invoice_number": invoice_number,
            "invoice_code": invoice_code,
            "invoice_date": invoice_date,
            "amount": amount,
            "tax_rate": tax_rate,
            "remarks": remarks,
        },
    )
    invoice.number_key = _refuse_duplicate(
        invoice.direction, invoice.invoice_code, invoice.invoice_number, None
    )
    _save_invoice(invoice)
    audit_record(
        actor=actor,
        action="trading.invoice.created",
        company_id=invoice.company_id,
        target=invoice,
        changes={
            "contract": [None, contract.pk],
            "amount": [None, str(invoice.amount)],
            "invoice_number": [None, invoice.invoice_number],
        },
    )
    return invoice


@retry_on_conflict()
@transaction.atomic
def invoice_update(
    *, actor: Any, invoice_id: int, expected_version: int | None = None, **changes: Any
) -> Invoice:
    invoice = _lock_invoice(actor, invoice_id)
    _check_version(invoice, expected_version)
    if invoice.status != PostingStatus.DRAFT:
        raise Conflict(
            _("Posted documents cannot be changed; reverse it instead."),
            code=TradingErrorCode.IMMUTABLE,
        )
    before = {name: str(getattr(invoice, name)) for name in INVOICE_FIELDS}
    assert invoice.contract is not None
    _apply_invoice_fields(invoice, invoice.contract, changes)
    invoice.number_key = _refuse_duplicate(
        invoice.direction, invoice.invoice_code, invoice.invoice_number, invoice.pk
    )
    invoice.version += 1
    _save_invoice(invoice)
    after = {name: str(getattr(invoice, name)) for name in INVOICE_FIELDS}
    audit_record(
        actor=actor,
        action="trading.invoice.updated",
        company_id=invoice.company_id,
        target=invoice,
        changes={k: [before[k], v] for k, v in after.items() if before[k] != v},
    )
    return invoice


@retry_on_conflict()
@transaction.atomic
def invoice_cancel(*, actor: Any, invoice_id: int, expected_version: int | None = None) -> Invoice:
    invoice = _lock_invoice(actor, invoice_id)
    _check_version(invoice, expected_version)
    if invoice.status != PostingStatus.DRAFT:
        raise InvalidTransition(_("Only a draft invoice can be cancelled; reverse a posted one."))
    invoice.status = PostingStatus.CANCELLED
    invoice.version += 1
    invoice.save(update_fields=["status", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.invoice.cancelled",
        company_id=invoice.company_id,
        target=invoice,
        changes={"status": [PostingStatus.DRAFT, PostingStatus.CANCELLED]},
    )
    return invoice


def _invoice_account(invoice: Invoice) -> str:
    return (
        PartnerAccount.PAYABLE
        if invoice.direction == InvoiceDirection.RECEIVED
        else PartnerAccount.RECEIVABLE
    )


@retry_on_conflict()
@transaction.atomic
def invoice_post(*, actor: Any, invoice_id: int, expected_version: int | None = None) -> Invoice:
    """Post a draft: a sales invoice becomes a receivable falling due after the credit days, a
    purchase invoice a payable; the contract's invoiced amount grows (never beyond the contract
    amount plus its quantity tolerance)."""
    invoice = _lock_invoice(actor, invoice_id)
    _check_version(invoice, expected_version)
    if invoice.status != PostingStatus.DRAFT:
        raise InvalidTransition(_("Only a draft invoice can be posted."))
    assert invoice.contract_id is not None
    contract = contract_services.contract_lock_for_execution(contract_id=invoice.contract_id)
    ceiling = contract_services.contract_amount_ceiling(contract.lines.all())
    if contract.invoiced_amount + invoice.amount > ceiling:
        raise ValidationFailed(
            _(
                "Invoiced would reach %(total)s, beyond the contract's %(ceiling)s (amount plus "
                "quantity tolerance). Amend the contract first."
            )
            % {"total": contract.invoiced_amount + invoice.amount, "ceiling": ceiling},
            code=TradingErrorCode.OVER_CONTRACT,
            fields={"amount": [_("Beyond the contract.")]},
        )
    partner = Partner.objects.get(pk=invoice.partner_id)
    invoice.contract = contract
    invoice.due_date = selectors.due_date_for(
        invoice.invoice_date, credit_days=contract.credit_days, partner_days=partner.payment_days
    )
    invoice.status = PostingStatus.POSTED
    invoice.posted_at = clock.now()
    invoice.posted_by = _actor_or_none(actor)
    invoice.version += 1
    invoice.save()
    _post_entry(
        company_id=invoice.company_id,
        partner_id=invoice.partner_id,
        contract_id=contract.pk,
        account=_invoice_account(invoice),
        kind=PartnerEntryKind.INVOICE,
        amount=invoice.amount,
        posting_date=invoice.invoice_date,
        due_date=invoice.due_date,
        voucher_type="invoice",
        voucher_id=invoice.pk,
    )
    contract.invoiced_amount += invoice.amount
    contract.save(update_fields=["invoiced_amount", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.invoice.posted",
        company_id=invoice.company_id,
        target=invoice,
        changes={
            "status": [PostingStatus.DRAFT, PostingStatus.POSTED],
            "amount": [None, str(invoice.amount)],
            "due_date": [None, invoice.due_date.isoformat()],
            "contract_invoiced": [
                str(contract.invoiced_amount - invoice.amount),
                str(contract.invoiced_amount),
            ],
        },
    )
    credit_services.receivable_posted(
        partner_id=invoice.partner_id, account=_invoice_account(invoice)
    )
    warnings_refresh_after_commit(contract_ids=[contract.pk])
    return invoice


@retry_on_conflict()
@transaction.atomic
def invoice_reverse(
    *,
    actor: Any,
    invoice_id: int,
    invoice_number: str,
    reason: str,
    invoice_code: str = "",
    invoice_date: datetime.date | str | None = None,
) -> Invoice:
    """红冲: record the red-letter invoice (its own code and number) that cancels a posted one;
    the ledger and the contract's invoiced amount go back by the original amount. Returns the
    reversal."""
    original = _lock_invoice(actor, invoice_id)
    if original.status != PostingStatus.POSTED or original.reverses_id is not None:
        raise InvalidTransition(_("Only a posted invoice that is not a reversal can be reversed."))
    if not reason.strip():
        raise _invalid({"reason": [_("Say why the invoice is reversed.")]})
    number, code = _clean_number(invoice_number, invoice_code)
    day = _date(invoice_date, "invoice_date") if invoice_date else clock.today()
    _not_future(day, "invoice_date")
    if day < original.invoice_date:
        raise _invalid({"invoice_date": [_("Not before the invoice it reverses.")]})
    assert original.contract_id is not None
    contract = contract_services.contract_lock_for_execution(contract_id=original.contract_id)
    reversal = Invoice(
        company_id=original.company_id,
        direction=original.direction,
        invoice_number=number,
        invoice_code=code,
        number_key=_refuse_duplicate(original.direction, code, number, None),
        partner_id=original.partner_id,
        contract=contract,
        amount=-original.amount,
        tax_rate=original.tax_rate,
        tax_amount=-original.tax_amount,
        invoice_date=day,
        due_date=original.due_date,
        status=PostingStatus.POSTED,
        reverses=original,
        reason=reason.strip()[:255],
        created_by=actor,
        posted_by=_actor_or_none(actor),
        posted_at=clock.now(),
    )
    _save_invoice(reversal)
    _post_entry(
        company_id=original.company_id,
        partner_id=original.partner_id,
        contract_id=contract.pk,
        account=_invoice_account(original),
        kind=PartnerEntryKind.INVOICE,
        amount=reversal.amount,
        posting_date=day,
        due_date=original.due_date,
        voucher_type="invoice",
        voucher_id=reversal.pk,
    )
    contract.invoiced_amount += reversal.amount
    contract.save(update_fields=["invoiced_amount", "updated_at"])
    original.status = PostingStatus.REVERSED
    original.version += 1
    original.save(update_fields=["status", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.invoice.reversed",
        company_id=original.company_id,
        target=original,
        changes={
            "status": [PostingStatus.POSTED, PostingStatus.REVERSED],
            "reversed_by": [None, reversal.pk],
            "reversal_number": [None, reversal.invoice_number],
            "amount": [None, str(reversal.amount)],
            "reason": [None, reversal.reason],
        },
    )
    credit_services.receivable_posted(
        partner_id=original.partner_id, account=_invoice_account(original)
    )
    warnings_refresh_after_commit(contract_ids=[contract.pk])
    return reversal


# ---------------------------------------------------------------- payments and receipts

PAYMENT_FIELDS = (
    "amount",
    "paid_on",
    "invoice_id",
    "is_exception",
    "exception_reason",
    "bank_account",
    "remarks",
)


def _lock_payment(actor: Any, payment_id: int) -> Payment:
    payment = Payment.objects.select_for_update().filter(pk=payment_id).first()
    if payment is None or not can_read(actor, payment.company_id):
        raise NotFound(_("Payment not found."))
    _require(actor, TradingAction.PAYMENT, payment.company_id)
    if payment.import_batch:  # imported history (legacy intake) is read-only
        raise Conflict(_("Imported history is read-only."), code=TradingErrorCode.IMMUTABLE)
    return payment


def _word(payment: Payment) -> str:
    return _("payment") if payment.direction == PaymentDirection.OUT else _("receipt")


def _apply_payment_fields(payment: Payment, values: dict[str, Any]) -> None:
    unknown = set(values) - set(PAYMENT_FIELDS)
    if unknown:
        raise _invalid({name: [_("Not a field.")] for name in sorted(unknown)})
    if "amount" in values:
        payment.amount = _money(values["amount"], "amount")
    if "paid_on" in values:
        payment.paid_on = _date(values["paid_on"], "paid_on")
    if payment.direction == PaymentDirection.IN:
        _not_future(payment.paid_on, "paid_on")
    if "invoice_id" in values:
        payment.invoice_id = values["invoice_id"] or None
    if payment.invoice_id:
        invoice = Invoice.objects.filter(pk=payment.invoice_id).first()
        expected = (
            InvoiceDirection.RECEIVED
            if payment.direction == PaymentDirection.OUT
            else InvoiceDirection.ISSUED
        )
        same_contract = invoice is not None and (
            payment.contract_id is None
            or (
                invoice.contract_id is not None
                and Contract.objects.filter(pk=invoice.contract_id)
                .values_list("original_id", flat=True)
                .first()
                == Contract.objects.filter(pk=payment.contract_id)
                .values_list("original_id", flat=True)
                .first()
            )
        )
        if (
            invoice is None
            or invoice.company_id != payment.company_id
            or invoice.partner_id != payment.partner_id
            or invoice.direction != expected
            or invoice.status != PostingStatus.POSTED
            or not same_contract
        ):
            raise _invalid(
                {"invoice": [_("Choose a posted invoice of this counterparty and contract.")]}
            )
    if "is_exception" in values:
        payment.is_exception = bool(values["is_exception"])
    if "exception_reason" in values:
        payment.exception_reason = str(values["exception_reason"] or "").strip()
    if payment.is_exception and payment.direction != PaymentDirection.OUT:
        raise _invalid({"is_exception": [_("Only a payment to a supplier can be an exception.")]})
    if not payment.is_exception:
        payment.exception_reason = ""
    if "bank_account" in values:
        payment.bank_account = str(values["bank_account"] or "").strip()[:40]
    if "remarks" in values:
        payment.remarks = str(values["remarks"] or "").strip()


@retry_on_conflict()
@transaction.atomic
def payment_create(
    *,
    actor: Any,
    amount: Decimal | str,
    paid_on: datetime.date | str,
    contract_id: int | None = None,
    company_id: int | None = None,
    partner_id: int | None = None,
    direction: str | None = None,
    invoice_id: int | None = None,
    is_exception: bool = False,
    exception_reason: str = "",
    bank_account: str = "",
    remarks: str = "",
) -> Payment:
    """A draft payment (to a supplier) or receipt (from a customer). Against a contract in
    force — the usual case — its company, counterparty and direction come from the contract;
    without one (settling opening balances) they are given."""
    if contract_id:
        contract = _readable_contract(actor, contract_id)
        _require(actor, TradingAction.PAYMENT, contract.company_id)
        contract = _current(contract)
        company_id, partner_id = contract.company_id, contract.partner_id
        direction = selectors.payment_direction_for(contract.kind)
        current: Contract | None = contract
    else:
        if not company_id or not can_read(actor, company_id):
            raise NotFound(_("Company not found."))
        _require(actor, TradingAction.PAYMENT, company_id)
        if direction not in PaymentDirection.values:
            raise _invalid({"direction": [_("Choose payment or receipt.")]})
        partner = Partner.objects.filter(
            pk=partner_id or 0,
            company_id__in=contract_selectors.master_company_ids(company_id),
        ).first()
        if partner is None:
            raise _invalid({"partner": [_("Choose a counterparty.")]})
        if (direction == PaymentDirection.OUT and not partner.is_supplier) or (
            direction == PaymentDirection.IN and not partner.is_customer
        ):
            raise _invalid(
                {
                    "partner": [
                        _("Pay suppliers and receive from customers; this partner is neither.")
                    ]
                }
            )
        current = None
    assert company_id is not None and partner_id is not None and direction is not None
    payment = Payment(
        company_id=company_id,
        direction=direction,
        kind=(
            PaymentKind.SUPPLIER_PAYMENT
            if direction == PaymentDirection.OUT
            else PaymentKind.CUSTOMER_RECEIPT
        ),
        partner_id=partner_id,
        contract=current,
        status=ApprovedPostingStatus.DRAFT,
        created_by=actor,
    )
    _apply_payment_fields(
        payment,
        {
            "amount": amount,
            "paid_on": paid_on,
            "invoice_id": invoice_id,
            "is_exception": is_exception,
            "exception_reason": exception_reason,
            "bank_account": bank_account,
            "remarks": remarks,
        },
    )
    if not payment.bank_account and direction == PaymentDirection.OUT:
        payment.bank_account = (
            Partner.objects.filter(pk=partner_id).values_list("bank_account", flat=True).first()
            or ""
        )
    payment.number = next_number(
        company_id=company_id,
        prefix="FK" if direction == PaymentDirection.OUT else "SK",
        day=clock.today(),
    )
    payment.save()
    audit_record(
        actor=actor,
        action="trading.payment.created",
        company_id=company_id,
        target=payment,
        changes={
            "direction": [None, direction],
            "contract": [None, current.pk if current else None],
            "amount": [None, str(payment.amount)],
            "is_exception": [None, payment.is_exception],
        },
    )
    return payment


@retry_on_conflict()
@transaction.atomic
def payment_update(
    *, actor: Any, payment_id: int, expected_version: int | None = None, **changes: Any
) -> Payment:
    payment = _lock_payment(actor, payment_id)
    _check_version(payment, expected_version)
    if payment.status != ApprovedPostingStatus.DRAFT:
        raise Conflict(
            _("Only a draft can be edited; this one is “%(status)s”.")
            % {"status": ApprovedPostingStatus(payment.status).label},
            code=TradingErrorCode.IMMUTABLE,
        )
    before = {name: str(getattr(payment, name)) for name in PAYMENT_FIELDS}
    _apply_payment_fields(payment, changes)
    payment.version += 1
    payment.save()
    after = {name: str(getattr(payment, name)) for name in PAYMENT_FIELDS}
    audit_record(
        actor=actor,
        action="trading.payment.updated",
        company_id=payment.company_id,
        target=payment,
        changes={k: [before[k], v] for k, v in after.items() if before[k] != v},
    )
    return payment


@retry_on_conflict()
@transaction.atomic
def payment_cancel(*, actor: Any, payment_id: int, expected_version: int | None = None) -> Payment:
    payment = _lock_payment(actor, payment_id)
    _check_version(payment, expected_version)
    if payment.status != ApprovedPostingStatus.DRAFT:
        raise InvalidTransition(
            _("Only a draft can be cancelled; withdraw one under approval, reverse a posted one.")
        )
    payment.status = ApprovedPostingStatus.CANCELLED
    payment.version += 1
    payment.save(update_fields=["status", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.payment.cancelled",
        company_id=payment.company_id,
        target=payment,
        changes={"status": [ApprovedPostingStatus.DRAFT, ApprovedPostingStatus.CANCELLED]},
    )
    return payment


def _guard(payment: Payment) -> tuple[Contract | None, PartnerBalance | None]:
    """Lock what guards a payment's allowance: the contract's revision in force, or (without a
    contract) the partner's balance row."""
    if payment.contract_id:
        contract = contract_services.contract_lock_for_execution(contract_id=payment.contract_id)
        payment.contract = contract
        return contract, None
    return None, _lock_balance(payment.company_id, payment.partner_id)


def _allowance(
    payment: Payment, contract: Contract | None, *, include_reserved: bool
) -> selectors.Allowance:
    if contract is not None:
        return selectors.contract_payment_allowance(
            contract, exclude_payment_id=payment.pk, include_reserved=include_reserved
        )
    return selectors.partner_payment_allowance(
        company_id=payment.company_id,
        partner_id=payment.partner_id,
        exclude_payment_id=payment.pk,
        include_reserved=include_reserved,
    )


def _over_allowance(payment: Payment, allowance: selectors.Allowance) -> ValidationFailed:
    return ValidationFailed(
        _(
            "%(amount)s is more than the %(allowed)s the contract and invoices allow now "
            "(ceiling %(ceiling)s, paid %(settled)s, under approval %(reserved)s). Reduce it, "
            "or mark it as an exception and give the reason."
        )
        % {
            "amount": payment.amount,
            "allowed": allowance.allowed,
            "ceiling": allowance.ceiling,
            "settled": allowance.settled,
            "reserved": allowance.reserved,
        },
        code=TradingErrorCode.OVER_PAYABLE,
        fields={"amount": [_("Beyond what may be paid.")]},
    )


def _payment_form(payment: Payment, partner: Partner, contract: Contract | None) -> dict[str, Any]:
    invoice_number = (
        Invoice.objects.filter(pk=payment.invoice_id)
        .values_list("invoice_number", flat=True)
        .first()
        if payment.invoice_id
        else ""
    )
    title = f"付款 {partner.name} {payment.amount}"
    if contract is not None:
        title = f"{title}（合同 {contract.number}）"
    return {
        "title": title[:200],
        "payee": partner.name,
        "contract_number": contract.number if contract else "",
        "invoice_number": invoice_number or "",
        "amount": str(payment.amount),
        "allowed_amount": str(payment.allowed_amount or Decimal("0.00")),
        "is_exception": YES if payment.is_exception else NO,
        "exception_reason": payment.exception_reason[:5000],
        "bank_account": payment.bank_account,
        "remarks": payment.remarks[:5000],
    }


@retry_on_conflict()
@transaction.atomic
def payment_submit(*, actor: Any, payment_id: int, expected_version: int | None = None) -> Payment:
    """Send a draft payment to the payment approval flow. Refused beyond the allowance unless
    it is marked as an exception with a reason (which the flow then routes higher)."""
    payment = _lock_payment(actor, payment_id)
    _check_version(payment, expected_version)
    if payment.direction != PaymentDirection.OUT:
        raise InvalidTransition(_("A receipt is posted directly, not sent for approval."))
    if payment.status != ApprovedPostingStatus.DRAFT:
        raise InvalidTransition(_("Only a draft payment can be submitted."))
    if payment.is_exception and not payment.exception_reason:
        raise _invalid({"exception_reason": [_("Say why this payment is an exception.")]})
    contract, _balance = _guard(payment)
    allowance = _allowance(payment, contract, include_reserved=True)
    if payment.amount > allowance.allowed and not payment.is_exception:
        raise _over_allowance(payment, allowance)
    payment.allowed_amount = allowance.allowed
    payment.status = ApprovedPostingStatus.PENDING
    payment.version += 1
    payment.save()
    audit_record(
        actor=actor,
        action="trading.payment.submitted",
        company_id=payment.company_id,
        target=payment,
        changes={
            "status": [ApprovedPostingStatus.DRAFT, ApprovedPostingStatus.PENDING],
            "amount": [None, str(payment.amount)],
            "allowed_amount": [None, str(allowance.allowed)],
            "is_exception": [None, payment.is_exception],
        },
    )
    partner = Partner.objects.get(pk=payment.partner_id)
    request = approval_services.request_submit(
        actor=actor,
        template_code=PAYMENT_FLOW_CODE,
        form_data=_payment_form(payment, partner, contract),
        document_type=PAYMENT_DOCUMENT_TYPE,
        document_id=str(payment.pk),
    )
    Payment.objects.filter(pk=payment.pk).update(approval_request=request)
    payment.refresh_from_db()
    return payment


def _settle(
    payment: Payment, contract: Contract | None, balance: PartnerBalance | None, actor: Any
) -> None:
    """Post a payment or receipt: the ledger moves by −amount, the contract's settled amount
    grows."""
    _post_entry(
        company_id=payment.company_id,
        partner_id=payment.partner_id,
        contract_id=contract.pk if contract else None,
        account=(
            PartnerAccount.PAYABLE
            if payment.direction == PaymentDirection.OUT
            else PartnerAccount.RECEIVABLE
        ),
        kind=PartnerEntryKind.PAYMENT,
        amount=-payment.amount,
        posting_date=payment.paid_on,
        due_date=None,
        voucher_type="payment",
        voucher_id=payment.pk,
        balance=balance,
    )
    if contract is not None:
        contract.settled_amount += payment.amount
        contract.save(update_fields=["settled_amount", "updated_at"])
    payment.status = ApprovedPostingStatus.POSTED
    payment.posted_at = clock.now()
    payment.posted_by = _actor_or_none(actor)
    payment.version += 1
    payment.save()


@retry_on_conflict()
@transaction.atomic
def receipt_post(*, actor: Any, payment_id: int, expected_version: int | None = None) -> Payment:
    """Finance posts a customer's receipt directly (no approval)."""
    payment = _lock_payment(actor, payment_id)
    _check_version(payment, expected_version)
    if payment.direction != PaymentDirection.IN:
        raise InvalidTransition(_("A payment to a supplier is posted through its approval."))
    if payment.status != ApprovedPostingStatus.DRAFT:
        raise InvalidTransition(_("Only a draft receipt can be posted."))
    _not_future(payment.paid_on, "paid_on")
    contract, balance = _guard(payment)
    _settle(payment, contract, balance, actor)
    audit_record(
        actor=actor,
        action="trading.payment.posted",
        company_id=payment.company_id,
        target=payment,
        changes={
            "status": [ApprovedPostingStatus.DRAFT, ApprovedPostingStatus.POSTED],
            "amount": [None, str(payment.amount)],
        },
    )
    credit_services.receivable_posted(
        partner_id=payment.partner_id, account=PartnerAccount.RECEIVABLE
    )
    warnings_refresh_after_commit(
        contract_ids=[contract.pk if contract else None], partner_ids=[payment.partner_id]
    )
    return payment


@retry_on_conflict()
@transaction.atomic
def payment_reverse(
    *,
    actor: Any,
    payment_id: int,
    reason: str,
    reversed_on: datetime.date | str | None = None,
) -> Payment:
    """Reverse a posted payment or receipt (the transfer came back, it was booked twice):
    a new document with the negated amount undoes its ledger entry and the contract's
    settled amount. Returns the reversal."""
    original = _lock_payment(actor, payment_id)
    if original.status != ApprovedPostingStatus.POSTED or original.reverses_id is not None:
        raise InvalidTransition(
            _("Only a posted payment or receipt that is not a reversal can be reversed.")
        )
    if not reason.strip():
        raise _invalid({"reason": [_("Say why it is reversed.")]})
    day = _date(reversed_on, "reversed_on") if reversed_on else clock.today()
    _not_future(day, "reversed_on")
    if day < original.paid_on:
        raise _invalid({"reversed_on": [_("Not before the payment it reverses.")]})
    contract, balance = _guard(original)
    reversal = Payment.objects.create(
        company_id=original.company_id,
        number=next_number(
            company_id=original.company_id,
            prefix="FK" if original.direction == PaymentDirection.OUT else "SK",
            day=clock.today(),
        ),
        direction=original.direction,
        kind=original.kind,
        partner_id=original.partner_id,
        contract=contract,
        invoice_id=original.invoice_id,
        amount=-original.amount,
        paid_on=day,
        status=ApprovedPostingStatus.POSTED,
        is_exception=False,
        bank_account=original.bank_account,
        reverses=original,
        reason=reason.strip()[:255],
        created_by=actor,
        posted_by=_actor_or_none(actor),
        posted_at=clock.now(),
    )
    _post_entry(
        company_id=original.company_id,
        partner_id=original.partner_id,
        contract_id=contract.pk if contract else None,
        account=(
            PartnerAccount.PAYABLE
            if original.direction == PaymentDirection.OUT
            else PartnerAccount.RECEIVABLE
        ),
        kind=PartnerEntryKind.PAYMENT,
        amount=original.amount,
        posting_date=day,
        due_date=None,
        voucher_type="payment",
        voucher_id=reversal.pk,
        balance=balance,
    )
    if contract is not None:
        contract.settled_amount -= original.amount
        contract.save(update_fields=["settled_amount", "updated_at"])
    original.status = ApprovedPostingStatus.REVERSED
    original.version += 1
    original.save(update_fields=["status", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.payment.reversed",
        company_id=original.company_id,
        target=original,
        changes={
            "status": [ApprovedPostingStatus.POSTED, ApprovedPostingStatus.REVERSED],
            "reversed_by": [None, reversal.pk],
            "amount": [None, str(reversal.amount)],
            "reason": [None, reversal.reason],
        },
    )
    if original.direction == PaymentDirection.IN:
        credit_services.receivable_posted(
            partner_id=original.partner_id, account=PartnerAccount.RECEIVABLE
        )
    warnings_refresh_after_commit(
        contract_ids=[contract.pk if contract else None], partner_ids=[original.partner_id]
    )
    return reversal


# ---------------------------------------------------------------- payment approval callbacks


def _payment_document(request: ApprovalRequest) -> Payment:
    payment = Payment.objects.select_for_update().filter(pk=int(request.document_id)).first()
    if payment is None:
        raise NotFound(_("Payment not found."))
    return payment


def _on_payment_approved(*, request: ApprovalRequest, actor: Any) -> None:
    payment = _payment_document(request)
    if payment.status != ApprovedPostingStatus.PENDING:
        raise Conflict(_("The payment is not waiting for approval."))
    contract, balance = _guard(payment)
    if not payment.is_exception:
        # Re-checked against what is posted now: an invoice reversed meanwhile lowers it.
        allowance = _allowance(payment, contract, include_reserved=False)
        if payment.amount > allowance.allowed:
            raise _over_allowance(payment, allowance)
    _settle(payment, contract, balance, actor)
    audit_record(
        actor=actor,
        action="trading.payment.approved",
        company_id=payment.company_id,
        target=payment,
        changes={
            "status": [ApprovedPostingStatus.PENDING, ApprovedPostingStatus.POSTED],
            "amount": [None, str(payment.amount)],
            "is_exception": [None, payment.is_exception],
        },
    )
    warnings_refresh_after_commit(
        contract_ids=[contract.pk if contract else None], partner_ids=[payment.partner_id]
    )


def _payment_closed(request: ApprovalRequest, actor: Any, status: str, action: str) -> None:
    payment = _payment_document(request)
    if payment.status != ApprovedPostingStatus.PENDING:
        return
    payment.status = status
    payment.version += 1
    payment.save(update_fields=["status", "version", "updated_at"])
    audit_record(
        actor=actor,
        action=action,
        company_id=payment.company_id,
        target=payment,
        changes={"status": [ApprovedPostingStatus.PENDING, status]},
    )


def _on_payment_rejected(*, request: ApprovalRequest, actor: Any) -> None:
    _payment_closed(request, actor, ApprovedPostingStatus.REJECTED, "trading.payment.rejected")


def _on_payment_withdrawn(*, request: ApprovalRequest, actor: Any) -> None:
    _payment_closed(request, actor, ApprovedPostingStatus.DRAFT, "trading.payment.withdrawn")


def _payment_company(*, document_id: str) -> int | None:
    try:
        pk = int(document_id)
    except (TypeError, ValueError):
        return None
    return Payment.objects.filter(pk=pk).values_list("company_id", flat=True).first()


PAYMENT_DOCUMENT = DocumentType(
    key=PAYMENT_DOCUMENT_TYPE,
    label=gettext_lazy("Supplier payment"),
    on_approved=_on_payment_approved,
    on_rejected=_on_payment_rejected,
    on_withdrawn=_on_payment_withdrawn,
    company_of=_payment_company,
    url_of=page_of("trading:payment_detail"),
)


def register_document_types() -> None:
    """Register this area's approval-bound document types (called from AppConfig.ready)."""
    register_document_type(PAYMENT_DOCUMENT)


# ---------------------------------------------------------------- opening balances


def _opening_contract_figures(contract: Contract, amount: Decimal) -> None:
    """An opening balance on a contract is what was invoiced and not yet settled before the
    system took over (a negative one: settled and not yet invoiced); the contract's figures
    carry it so the payment allowance and the over-invoicing check see it."""
    if amount > 0:
        contract.invoiced_amount += amount
    else:
        contract.settled_amount -= amount
    contract.save(update_fields=["invoiced_amount", "settled_amount", "updated_at"])


@retry_on_conflict()
@transaction.atomic
def opening_balance_post(
    *,
    actor: Any,
    company_id: int,
    partner_id: int,
    account: str,
    amount: Decimal | str,
    posting_date: datetime.date | str,
    due_date: datetime.date | str | None = None,
    contract_id: int | None = None,
    reference: str = "",
    import_batch: str = "",
) -> OpeningBalance:
    """Post an opening receivable or payable (negative: an advance) of a partner with a
    company, optionally against a contract, with its due date."""
    if not can_read(actor, company_id):
        raise NotFound(_("Company not found."))
    _require(actor, TradingAction.OPENING_BALANCES, company_id)
    problems: dict[str, list[str]] = {}
    if account not in PartnerAccount.values:
        problems["account"] = [_("Choose receivable or payable.")]
    partner = Partner.objects.filter(
        pk=partner_id or 0, company_id__in=contract_selectors.master_company_ids(company_id)
    ).first()
    if partner is None:
        problems["partner"] = [_("Choose a counterparty.")]
    if problems:
        raise _invalid(problems)
    assert partner is not None
    value = _money(amount, "amount", positive=False)
    day = _date(posting_date, "posting_date")
    due = _date(due_date, "due_date") if due_date else None
    contract: Contract | None = None
    if contract_id:
        found = Contract.objects.filter(pk=contract_id, company_id=company_id).first()
        expected_kind = (
            ContractKind.SALES if account == PartnerAccount.RECEIVABLE else ContractKind.PURCHASE
        )
        if found is None or found.partner_id != partner.pk or found.kind != expected_kind:
            raise _invalid(
                {
                    "contract": [
                        _(
                            "Choose a contract of this company and counterparty: a sales "
                            "contract for a receivable, a purchase contract for a payable."
                        )
                    ]
                }
            )
        contract = contract_services.contract_lock_for_execution(contract_id=found.pk)
    opening = OpeningBalance.objects.create(
        company_id=company_id,
        partner=partner,
        contract=contract,
        account=account,
        amount=value,
        posting_date=day,
        due_date=due,
        reference=reference.strip()[:100],
        import_batch=import_batch,
        created_by=_actor_or_none(actor),
    )
    _post_entry(
        company_id=company_id,
        partner_id=partner.pk,
        contract_id=contract.pk if contract else None,
        account=account,
        kind=PartnerEntryKind.OPENING,
        amount=value,
        posting_date=day,
        due_date=due,
        voucher_type="opening",
        voucher_id=opening.pk,
    )
    if contract is not None:
        _opening_contract_figures(contract, value)
    audit_record(
        actor=actor,
        action="trading.opening_balance.posted",
        company_id=company_id,
        target=opening,
        changes={
            "partner": [None, partner.pk],
            "account": [None, account],
            "amount": [None, str(value)],
            "contract": [None, contract.pk if contract else None],
            "due_date": [None, due.isoformat() if due else None],
        },
    )
    credit_services.receivable_posted(partner_id=partner.pk, account=account)
    warnings_refresh_after_commit(
        contract_ids=[contract.pk if contract else None], partner_ids=[partner.pk]
    )
    return opening


@retry_on_conflict()
@transaction.atomic
def opening_balance_reverse(*, actor: Any, opening_id: int, reason: str) -> OpeningBalance:
    """Take back an opening balance entered wrongly; returns the reversal."""
    original = OpeningBalance.objects.select_for_update().filter(pk=opening_id).first()
    if original is None or not can_read(actor, original.company_id):
        raise NotFound(_("Opening balance not found."))
    _require(actor, TradingAction.OPENING_BALANCES, original.company_id)
    if (
        original.reverses_id is not None
        or OpeningBalance.objects.filter(reverses=original).exists()
    ):
        raise InvalidTransition(_("This opening balance is a reversal or already reversed."))
    if not reason.strip():
        raise _invalid({"reason": [_("Say why it is reversed.")]})
    contract = (
        contract_services.contract_lock_for_execution(contract_id=original.contract_id)
        if original.contract_id
        else None
    )
    reversal = OpeningBalance.objects.create(
        company_id=original.company_id,
        partner_id=original.partner_id,
        contract=contract,
        account=original.account,
        amount=-original.amount,
        posting_date=original.posting_date,
        due_date=original.due_date,
        reference=reason.strip()[:100],
        reverses=original,
        created_by=_actor_or_none(actor),
    )
    _post_entry(
        company_id=original.company_id,
        partner_id=original.partner_id,
        contract_id=contract.pk if contract else None,
        account=original.account,
        kind=PartnerEntryKind.OPENING,
        amount=reversal.amount,
        posting_date=original.posting_date,
        due_date=original.due_date,
        voucher_type="opening",
        voucher_id=reversal.pk,
    )
    if contract is not None:
        # Undo exactly what the original did to the contract's figures.
        if original.amount > 0:
            contract.invoiced_amount -= original.amount
        else:
            contract.settled_amount += original.amount
        contract.save(update_fields=["invoiced_amount", "settled_amount", "updated_at"])
    audit_record(
        actor=actor,
        action="trading.opening_balance.reversed",
        company_id=original.company_id,
        target=original,
        changes={"reversed_by": [None, reversal.pk], "reason": [None, reason.strip()[:100]]},
    )
    credit_services.receivable_posted(partner_id=original.partner_id, account=original.account)
    warnings_refresh_after_commit(
        contract_ids=[contract.pk if contract else None], partner_ids=[original.partner_id]
    )
    return reversal


# ---------------------------------------------------------------- opening balances from Excel
# One sheet, all or nothing (qinglian.core.workbook): read, check every row, then post every
# row through `opening_balance_post` in one transaction. The same file (by its SHA-256) is not
# imported twice. The layout is documented in docs/trading-import.md ("Opening balances").

ACCOUNT_CHOICES: dict[str, str] = {
    "应收": PartnerAccount.RECEIVABLE,
    "应收账款": PartnerAccount.RECEIVABLE,
    "receivable": PartnerAccount.RECEIVABLE,
    "应付": PartnerAccount.PAYABLE,
    "应付账款": PartnerAccount.PAYABLE,
    "payable": PartnerAccount.PAYABLE,
}

OPENING_SHEET = SheetSpec(
    key="opening_balances",
    name="期初余额",
    label=gettext_lazy("Opening balances"),
    columns=(
        Column(
            "company_code",
            "单位编码",
            gettext_lazy("Company code"),
            gettext_lazy("The company that holds the balance; you must be its finance."),
            "持有该余额的单位编码；导入人须为该单位财务。",
            required=True,
            max_length=32,
        ),
        Column(
            "partner_code",
            "合作方编码",
            gettext_lazy("Partner code"),
            gettext_lazy(
                "A partner the company uses (its own or an ancestor's, normally the group's)."
            ),
            "该单位可用的合作方编码（本单位或上级单位的，通常为集团的）。",
            required=True,
            max_length=40,
        ),
        Column(
            "account",
            "科目",
            gettext_lazy("Account"),
            gettext_lazy("应收 (receivable) or 应付 (payable)."),
            "应收 或 应付。",
            required=True,
        ),
        Column(
            "amount",
            "金额",
            gettext_lazy("Amount"),
            gettext_lazy(
                "Owed at the opening date, two decimals at most, not zero; negative for an "
                "advance (paid or received before invoicing)."
            ),
            "期初日所欠金额，最多两位小数，不能为 0；预付或预收款填负数。",
            required=True,
        ),
        Column(
            "posting_date",
            "期初日期",
            gettext_lazy("Opening date"),
            gettext_lazy("The date the balance stands at, as 2026-01-01."),
            "余额所在日期，如 2026-01-01。",
            required=True,
        ),
        Column(
            "due_date",
            "到期日",
            gettext_lazy("Due date"),
            gettext_lazy("Optional: when it falls due (ageing counts from it)."),
            "可选：到期日（账龄自此计算）。",
        ),
        Column(
            "contract_number",
            "合同编号",
            gettext_lazy("Contract number"),
            gettext_lazy(
                "Optional: an effective contract of the company with this partner — a sales "
                "contract for a receivable, a purchase contract for a payable."
            ),
            "可选：该单位与该合作方已生效的合同——应收对应销售合同，应付对应采购合同。",
            max_length=60,
        ),
        Column(
            "reference",
            "摘要",
            gettext_lazy("Reference"),
            gettext_lazy("Optional: the voucher or invoice it comes from, up to 100 characters."),
            "可选：来源凭证或发票号，最多 100 个字符。",
            max_length=100,
        ),
    ),
    examples=(
        (
            "A",
            "C001",
            "应收",
            "1,280,000.00",
            "2026-01-01",
            "2026-02-15",
            "XS20251102-0003",
            "2025年12月销售发票",
        ),
        ("A", "S001", "应付", "-200,000.00", "2026-01-01", "", "", "预付货款"),
    ),
)
OPENING_SHEETS: tuple[SheetSpec, ...] = (OPENING_SHEET,)
OPENING_TEMPLATE_FILENAME = "qinglian-trading-opening-balances-template.xlsx"


@dataclass(frozen=True)
class OpeningImportCounts:
    rows: int = 0
    receivable: Decimal = Decimal("0.00")
    payable: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class OpeningImportResult:
    counts: OpeningImportCounts
    problems: list[ImportProblem]
    dry_run: bool = False

    @property
    def is_success(self) -> bool:
        return not self.problems


@dataclass
class _OpeningPlan:
    row: SheetRow
    values: dict[str, Any]


def can_import_opening_balances(user: Any) -> bool:
    return bool(companies_for(user, TradingAction.OPENING_BALANCES))


def _partner_index(company_ids: set[int]) -> dict[tuple[int, str], int]:
    """(company, partner code) → partner, for partners each company may use: its own first,
    then the nearest ancestor's."""
    index: dict[tuple[int, str], int] = {}
    for company_id in company_ids:
        chain = list(reversed(contract_selectors.master_company_ids(company_id)))  # nearest first
        rank = {owner: position for position, owner in enumerate(chain)}
        best: dict[str, tuple[int, int]] = {}
        for partner_id, owner_id, code in Partner.objects.filter(
            company_id__in=chain, is_active=True
        ).values_list("pk", "company_id", "code"):
            if code not in best or rank[owner_id] < best[code][0]:
                best[code] = (rank[owner_id], partner_id)
        for code, (_rank, partner_id) in best.items():
            index[company_id, code] = partner_id
    return index


def _check_opening_rows(actor: Any, book: WorkbookData, file_hash: str) -> list[_OpeningPlan]:
    spec = OPENING_SHEET
    rows = book.rows(spec)
    problems = Problems(book, OPENING_SHEETS)
    if not rows:
        problems.error(spec, None, "", _("The sheet has no rows to import."))
    earlier = OpeningBalance.objects.filter(import_batch=file_hash).order_by("created_at").first()
    if earlier is not None:
        problems.error(
            spec,
            None,
            "",
            _("This workbook was already imported on %(date)s; it is not imported twice.")
            % {"date": earlier.created_at.date().isoformat()},
        )
    allowed = set(companies_for(actor, TradingAction.OPENING_BALANCES))
    codes = {row.values.get("company_code", "") for row in rows}
    companies = dict(
        Company.objects.filter(code__in=codes, pk__in=allowed).values_list("code", "pk")
    )
    partners = _partner_index(set(companies.values()))
    numbers = {row.values.get("contract_number", "") for row in rows} - {""}
    contracts: dict[tuple[int, str], Contract] = {}
    for contract in Contract.objects.filter(
        company_id__in=companies.values(),
        number__in=numbers,
        status__in=contract_selectors.EXECUTABLE_STATUSES,
    ):
        contracts[contract.company_id, contract.number] = contract
    plans: list[_OpeningPlan] = []
    for row in rows:
        problems.check_fields(spec, row)
        code = row.values.get("company_code", "")
        company_id = companies.get(code)
        if code and company_id is None:
            problems.error(
                spec,
                row,
                "company_code",
                _("No company with code “%(code)s” where you enter opening balances.")
                % {"code": code},
            )
        partner_code = row.values.get("partner_code", "")
        partner_id = partners.get((company_id, partner_code)) if company_id else None
        if company_id and partner_code and partner_id is None:
            problems.error(
                spec,
                row,
                "partner_code",
                _("No active partner with code “%(code)s” that this company uses.")
                % {"code": partner_code},
            )
        account = problems.choice(spec, row, "account", ACCOUNT_CHOICES)
        amount = problems.decimal(spec, row, "amount", places=2)
        if amount is not None and not amount:
            problems.error(spec, row, "amount", _("Must not be zero."))
        posting_date = problems.date(spec, row, "posting_date")
        due_date = problems.date(spec, row, "due_date")
        contract_id = None
        number = row.values.get("contract_number", "")
        if number and company_id:
            named = contracts.get((company_id, number))
            expected = (
                ContractKind.SALES
                if account == PartnerAccount.RECEIVABLE
                else ContractKind.PURCHASE
            )
            if named is None:
                problems.error(
                    spec,
                    row,
                    "contract_number",
                    _("No contract %(number)s in force in this company.") % {"number": number},
                )
            elif partner_id and (named.partner_id != partner_id or named.kind != expected):
                problems.error(
                    spec,
                    row,
                    "contract_number",
                    _(
                        "Contract %(number)s is not with this partner, or not of the kind the "
                        "account needs (sales for a receivable, purchase for a payable)."
                    )
                    % {"number": number},
                )
            else:
                contract_id = named.pk
        if (
            company_id
            and partner_id
            and account
            and amount
            and posting_date
            and not (number and contract_id is None)
            and not (row.values.get("due_date") and due_date is None)
        ):
            plans.append(
                _OpeningPlan(
                    row,
                    {
                        "company_id": company_id,
                        "partner_id": partner_id,
                        "account": account,
                        "amount": amount,
                        "posting_date": posting_date,
                        "due_date": due_date,
                        "contract_id": contract_id,
                        "reference": row.values.get("reference", ""),
                    },
                )
            )
    problems.raise_if_any()
    return plans


OPENING_FIELD_COLUMNS = {
    "company": "company_code",
    "partner": "partner_code",
    "contract": "contract_number",
}


@transaction.atomic
def _apply_opening_rows(
    actor: Any, book: WorkbookData, plans: list[_OpeningPlan], file_hash: str
) -> None:
    for plan in plans:
        call_for_row(
            book,
            OPENING_SHEET,
            plan.row,
            opening_balance_post,
            field_columns=OPENING_FIELD_COLUMNS,
            actor=actor,
            import_batch=file_hash,
            **plan.values,
        )


def _counts(plans: list[_OpeningPlan]) -> OpeningImportCounts:
    total = {PartnerAccount.RECEIVABLE: Decimal("0.00"), PartnerAccount.PAYABLE: Decimal("0.00")}
    for plan in plans:
        total[plan.values["account"]] += plan.values["amount"]
    return OpeningImportCounts(
        rows=len(plans),
        receivable=total[PartnerAccount.RECEIVABLE],
        payable=total[PartnerAccount.PAYABLE],
    )


def opening_balances_import(
    *, actor: Any, source: bytes | IO[bytes], filename: str = "", dry_run: bool = False
) -> OpeningImportResult:
    """Read, check and (unless `dry_run`) post a workbook of opening balances, all or nothing.
    Problems come back in the result; when there are any, nothing was written."""
    if not can_import_opening_balances(actor):
        raise PermissionDenied(_("Only finance enters opening balances."))
    data = source if isinstance(source, bytes) else source.read(MAX_FILE_BYTES + 1)
    file_hash = hashlib.sha256(data).hexdigest()
    try:
        book = read_workbook(
            data,
            sheets=OPENING_SHEETS,
            filename=filename,
            max_bytes=MAX_FILE_BYTES,
            max_rows=MAX_ROWS_PER_SHEET,
        )
        plans = _check_opening_rows(actor, book, file_hash)
        if not dry_run:
            try:
                _apply_opening_rows(actor, book, plans, file_hash)
            except RowFailed as failure:
                raise WorkbookRejected(failure.problems) from failure
    except WorkbookRejected as rejected:
        return OpeningImportResult(
            counts=OpeningImportCounts(), problems=rejected.problems, dry_run=dry_run
        )
    return OpeningImportResult(counts=_counts(plans), problems=[], dry_run=dry_run)


def opening_balances_template() -> bytes:
    return write_template(
        OPENING_SHEETS,
        title="期初余额导入模板 / Opening balances import template",
        notes=[
            "3. 每行一笔期初应收或应付；同一合作方可有多行（按到期日分列便于账龄分析）。"
            "同一文件不能重复导入。 One opening receivable or payable per row; a partner may "
            "have several rows (one per due date gives a true ageing). The same file is not "
            "imported twice.",
            "4. 填写合同编号时，余额计入该合同：正数视为已开票未结算，负数视为已结算未开票。 "
            "With a contract number the balance counts on that contract: positive as invoiced "
            "and not settled, negative as settled and not invoiced.",
        ],
        max_bytes=MAX_FILE_BYTES,
        max_rows=MAX_ROWS_PER_SHEET,
    )

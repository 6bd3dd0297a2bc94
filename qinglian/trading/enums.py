"""Status and kind enums of the trading app, and its error codes."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PartnerKind(models.TextChoices):
    SUPPLIER = "supplier", _("Supplier")
    CUSTOMER = "customer", _("Customer")
    BOTH = "both", _("Supplier and customer")


class AdmissionStatus(models.TextChoices):
    """A supplier's admission (供应商准入). Only ADMITTED suppliers appear on purchase contracts."""

    NOT_ADMITTED = "not_admitted", _("Not admitted")
    PENDING = "pending", _("Admission under review")
    ADMITTED = "admitted", _("Admitted")
    SUSPENDED = "suspended", _("Suspended")
    BLACKLISTED = "blacklisted", _("Blacklisted")


class CreditGrade(models.TextChoices):
    A = "A", _("A (excellent)")
    B = "B", _("B (good)")
    C = "C", _("C (watch)")
    D = "D", _("D (no credit)")


class QualificationKind(models.TextChoices):
    BUSINESS_LICENCE = "business_licence", _("Business licence")
    OPERATING_PERMIT = "operating_permit", _("Operating permit")
    QUALITY_CERTIFICATE = "quality_certificate", _("Quality certificate")
    OTHER = "other", _("Other certificate")


class WarehouseKind(models.TextChoices):
    OWN = "own", _("Own warehouse")
    THIRD_PARTY = "third_party", _("Third-party warehouse")


class ApprovalDocumentStatus(models.TextChoices):
    """Documents that are only requests (supplier admission, credit change)."""

    DRAFT = "draft", _("Draft")
    PENDING = "pending", _("Under approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    CANCELLED = "cancelled", _("Cancelled")


class ContractKind(models.TextChoices):
    PURCHASE = "purchase", _("Purchase contract")
    SALES = "sales", _("Sales contract")


class ContractStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING = "pending", _("Under approval")
    EFFECTIVE = "effective", _("Effective")
    COMPLETED = "completed", _("Completed")
    TERMINATED = "terminated", _("Terminated")
    SUPERSEDED = "superseded", _("Superseded by an amendment")
    CANCELLED = "cancelled", _("Cancelled")


class PaymentTerm(models.TextChoices):
    PREPAYMENT = "prepayment", _("Prepayment")
    ON_DELIVERY = "on_delivery", _("Payment on delivery")
    CREDIT = "credit", _("Credit (days after invoice)")


class PostingStatus(models.TextChoices):
    """Goods receipts and issues, invoices: draft → posted → (reversed)."""

    DRAFT = "draft", _("Draft")
    POSTED = "posted", _("Posted")
    REVERSED = "reversed", _("Reversed")
    CANCELLED = "cancelled", _("Cancelled")


class ApprovedPostingStatus(models.TextChoices):
    """Payments and stocktakes: draft → approval → posted (→ reversed)."""

    DRAFT = "draft", _("Draft")
    PENDING = "pending", _("Under approval")
    POSTED = "posted", _("Posted")
    REJECTED = "rejected", _("Rejected")
    REVERSED = "reversed", _("Reversed")
    CANCELLED = "cancelled", _("Cancelled")


class StockDocumentKind(models.TextChoices):
    RECEIPT = "receipt", _("Goods receipt")
    ISSUE = "issue", _("Goods issue")


class StocktakeKind(models.TextChoices):
    COUNT = "count", _("Physical count")
    STATEMENT = "statement", _("Third-party warehouse statement")


class StockEntryKind(models.TextChoices):
    OPENING = "opening", _("Opening stock")
    RECEIPT = "receipt", _("Goods receipt")
    ISSUE = "issue", _("Goods issue")
    STOCKTAKE = "stocktake", _("Stocktake variance")
    REVALUATION = "revaluation", _("Revaluation")


class InvoiceDirection(models.TextChoices):
    RECEIVED = "received", _("Purchase invoice (received)")
    ISSUED = "issued", _("Sales invoice (issued)")


class PaymentDirection(models.TextChoices):
    OUT = "out", _("Payment")
    IN = "in", _("Receipt")


class PaymentKind(models.TextChoices):
    SUPPLIER_PAYMENT = "supplier_payment", _("Payment to supplier")
    CUSTOMER_RECEIPT = "customer_receipt", _("Receipt from customer")


class PartnerAccount(models.TextChoices):
    RECEIVABLE = "receivable", _("Receivable")
    PAYABLE = "payable", _("Payable")


class PartnerEntryKind(models.TextChoices):
    OPENING = "opening", _("Opening balance")
    INVOICE = "invoice", _("Invoice")
    PAYMENT = "payment", _("Payment or receipt")


class TradingErrorCode(models.TextChoices):
    NOT_ADMITTED = "trading.not_admitted", _("Supplier not admitted")
    INSUFFICIENT_STOCK = "trading.insufficient_stock", _("Not enough stock")
    OVER_CONTRACT = "trading.over_contract", _("Beyond the contract")
    OVER_PAYABLE = "trading.over_payable", _("Payment beyond what the contract and invoices allow")
    TOLERANCE = "trading.tolerance", _("Weighing difference beyond tolerance")
    NOT_EFFECTIVE = "trading.not_effective", _("Contract not effective")
    STALE_VERSION = "trading.stale_version", _("Changed by someone else")
    DUPLICATE = "trading.duplicate", _("Already exists")
    IMMUTABLE = "trading.immutable", _("Posted documents cannot be changed")


class StockDirection(models.TextChoices):
    """Which column of the purchase–sales–inventory summary a stock ledger entry counts in:
    receipts and opening stock (reversals included, negative) and stocktake gains are "in";
    issues (reversals included) and stocktake losses are "out"; a revaluation counts where the
    entry it revalues counts."""

    IN = "in", _("In")
    OUT = "out", _("Out")

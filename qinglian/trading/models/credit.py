"""Customer credit control (信用控制): the credit policy (which components make up the exposure,
when overdue debt blocks new business), the per-customer exposure row, and credit exceptions.

The exposure row (CreditExposure) is one row per customer, group-wide — the credit limit lives
on the (shared) partner, so the exposure it is compared with sums every company's business with
the customer. Every transaction that changes a component locks the row and recomputes the
components from their sources before it commits (`services.credit`); a goods issue or sales
contract is checked against the limit under that lock, so two concurrent documents cannot both
pass a check that only one of them may pass.

The components are kept separately, whatever the policy says; the policy only chooses which of
them the exposure sums, so changing the formula needs no rewrite of the rows.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from qinglian.core.models import Imported, TimeStampedModel


class CreditPolicy(TimeStampedModel):
    """The credit rules for the customers owned by a company (and by the companies below it
    that have no policy of their own). Without any policy row the defaults in
    `services.credit.DEFAULT_POLICY` apply. Changed only through `credit_policy_save`
    (audited)."""

    company = models.OneToOneField(
        "org.Company", verbose_name=_("company"), on_delete=models.PROTECT, related_name="+"
    )
    include_receivables = models.BooleanField(_("count open receivables"), default=True)
    include_uninvoiced = models.BooleanField(_("count goods issued but not invoiced"), default=True)
    include_open_orders = models.BooleanField(
        _("count open sales orders (effective contracts not yet issued)"), default=True
    )
    overdue_block_enabled = models.BooleanField(
        _("block customers with overdue debt"), default=True
    )
    # Blocked when the debt more than `overdue_block_days` days past due exceeds
    # `overdue_block_amount`.
    overdue_block_days = models.PositiveIntegerField(_("days past due"), default=30)
    overdue_block_amount = models.DecimalField(
        _("overdue amount tolerated"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        verbose_name = _("credit policy")
        constraints = [
            models.CheckConstraint(
                condition=Q(overdue_block_amount__gte=0), name="trading_credit_policy_amount"
            )
        ]

    def __str__(self) -> str:
        return f"{self.company_id}"


class CreditExposure(models.Model):
    """A customer's credit exposure, group-wide, by component (amounts incl. VAT):

    - receivable: the partner ledger's receivable balance (invoices, opening balances, less
      receipts; negative when the customer has paid in advance);
    - uninvoiced: goods issued and not yet invoiced, per sales contract, valued at the
      contract price;
    - open_orders: what effective sales contracts still promise to deliver beyond what was
      issued or invoiced.

    Locked (select_for_update) by every transaction that changes one of them."""

    partner = models.OneToOneField(
        "trading.Partner", on_delete=models.PROTECT, related_name="credit_exposure"
    )
    receivable = models.DecimalField(default=Decimal("0"), max_digits=18, decimal_places=2)
    uninvoiced = models.DecimalField(default=Decimal("0"), max_digits=18, decimal_places=2)
    open_orders = models.DecimalField(default=Decimal("0"), max_digits=18, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("credit exposure")

    def __str__(self) -> str:
        return f"{self.partner_id}"


class CreditExceptionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING = "pending", _("Under approval")
    APPROVED = "approved", _("Approved, not yet used")
    USED = "used", _("Used")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class CreditDocumentKind(models.TextChoices):
    """The documents the credit checks guard (and an exception is used by)."""

    SALES_CONTRACT = "sales_contract", _("Sales contract")
    GOODS_ISSUE = "goods_issue", _("Goods issue")


class CreditException(Imported, TimeStampedModel):
    """An approved permission to go over a customer's credit limit by up to `amount`, and/or
    past the overdue block, once, until `valid_until`: optionally only for one sales contract
    (any of its revisions) or one goods issue. Requested by sales or finance, decided by the
    credit-exception approval flow, consumed by the first document it lets through.
    Imported ones (legacy intake: the old platform's credit-exception requests) are history:
    read-only, and never usable by a document booked here."""

    company = models.ForeignKey(
        "org.Company", verbose_name=_("company"), on_delete=models.PROTECT, related_name="+"
    )
    number = models.CharField(_("number"), max_length=40, unique=True)
    partner = models.ForeignKey(
        "trading.Partner",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="credit_exceptions",
    )
    contract = models.ForeignKey(
        "trading.Contract",
        verbose_name=_("sales contract"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    stock_document = models.ForeignKey(
        "trading.StockDocument",
        verbose_name=_("goods issue"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=CreditExceptionStatus.choices,
        default=CreditExceptionStatus.DRAFT,
    )
    amount = models.DecimalField(
        _("amount allowed over the limit"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    allow_overdue = models.BooleanField(_("lift the overdue block"), default=False)
    reason = models.TextField(_("reason"))
    valid_until = models.DateField(_("valid until"))
    # The customer's standing when it was requested (kept for supervision).
    credit_limit = models.DecimalField(
        _("credit limit"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    exposure = models.DecimalField(
        _("exposure"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    overdue_amount = models.DecimalField(
        _("overdue"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    approval_request = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    # Who gave the final approval (the whole route is on the approval request).
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The document it let through, and the figures at that moment.
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("used by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    used_document_kind = models.CharField(
        _("used for"), max_length=16, choices=CreditDocumentKind.choices, blank=True
    )
    used_document_id = models.BigIntegerField(null=True, blank=True)
    used_document_number = models.CharField(_("document"), max_length=80, blank=True)
    used_document_amount = models.DecimalField(
        _("document amount"), null=True, blank=True, max_digits=18, decimal_places=2
    )
    used_exposure = models.DecimalField(
        _("exposure after the document"), null=True, blank=True, max_digits=18, decimal_places=2
    )
    used_limit = models.DecimalField(
        _("credit limit then"), null=True, blank=True, max_digits=18, decimal_places=2
    )
    used_overdue_amount = models.DecimalField(
        _("overdue then"), null=True, blank=True, max_digits=18, decimal_places=2
    )
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("credit exception")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="trading_credit_exception_amount"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0) | Q(allow_overdue=True),
                name="trading_credit_exception_allows_something",
            ),
            models.UniqueConstraint(
                fields=["source_id"],
                condition=~Q(source_id=""),
                name="trading_credit_exception_source_id",
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "status", "valid_until"], name="trading_cex_usable")
        ]

    def __str__(self) -> str:
        return self.number

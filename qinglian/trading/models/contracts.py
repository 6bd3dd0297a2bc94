"""Purchase and sales contracts. A contract takes effect only through the contract approval flow
(初审 + 复核); an amendment is a new revision linked to the original, which it supersedes when
it takes effect."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from qinglian.core.models import Imported, TimeStampedModel

from ..enums import ContractKind, ContractStatus, PaymentTerm


class Contract(Imported, TimeStampedModel):
    company = models.ForeignKey(
        "org.Company", verbose_name=_("company"), on_delete=models.PROTECT, related_name="+"
    )
    number = models.CharField(_("contract number"), max_length=60)
    revision = models.PositiveSmallIntegerField(_("revision"), default=0)
    # The first revision of this contract (itself for revision 0) and the one this amends.
    original = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions"
    )
    # A foreign key, not one-to-one: a cancelled amendment draft must not block the next one;
    # the constraint below allows one open (draft or pending) amendment per revision.
    amends = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="amendments"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=ContractKind.choices)
    partner = models.ForeignKey(
        "trading.Partner",
        verbose_name=_("counterparty"),
        on_delete=models.PROTECT,
        related_name="contracts",
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ContractStatus.choices, default=ContractStatus.DRAFT
    )
    signed_on = models.DateField(_("signed on"), null=True, blank=True)
    effective_on = models.DateField(_("effective on"), null=True, blank=True)
    delivery_start = models.DateField(_("delivery from"), null=True, blank=True)
    delivery_end = models.DateField(_("delivery until"), null=True, blank=True)
    end_on = models.DateField(_("expires on"), null=True, blank=True, db_index=True)
    terminated_on = models.DateField(_("terminated on"), null=True, blank=True)
    completed_on = models.DateField(_("completed on"), null=True, blank=True)
    # Why it was cancelled or terminated.
    status_reason = models.CharField(_("reason"), max_length=255, blank=True)
    payment_term = models.CharField(_("payment terms"), max_length=16, choices=PaymentTerm.choices)
    prepayment_percent = models.DecimalField(
        _("prepayment (%)"), default=Decimal("0"), max_digits=6, decimal_places=2
    )
    credit_days = models.PositiveIntegerField(_("credit days"), default=0)
    total_quantity = models.DecimalField(
        _("quantity"), default=Decimal("0"), max_digits=18, decimal_places=3
    )
    total_amount = models.DecimalField(
        _("amount incl. VAT"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    total_tax = models.DecimalField(_("VAT"), default=Decimal("0"), max_digits=18, decimal_places=2)
    # Execution, kept by the posting services under the contract's row lock.
    invoiced_amount = models.DecimalField(
        _("invoiced"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    settled_amount = models.DecimalField(
        _("paid or received"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person responsible"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    department = models.ForeignKey(
        "org.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approval_request = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    remarks = models.TextField(_("remarks"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("contract")
        constraints = [
            models.UniqueConstraint(
                fields=["company", "number", "revision"], name="trading_contract_number"
            ),
            models.CheckConstraint(
                condition=Q(delivery_end__isnull=True)
                | Q(delivery_start__isnull=True)
                | Q(delivery_end__gte=F("delivery_start")),
                name="trading_contract_delivery_period",
            ),
            models.CheckConstraint(
                condition=Q(prepayment_percent__gte=0, prepayment_percent__lte=100),
                name="trading_contract_prepayment",
            ),
            models.UniqueConstraint(
                fields=["amends"],
                condition=Q(status__in=["draft", "pending"]),
                name="trading_contract_one_open_amendment",
            ),
            models.UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name="trading_contract_source_id"
            ),
        ]
        indexes = [models.Index(fields=["company", "kind", "status"])]

    def __str__(self) -> str:
        return self.number if not self.revision else f"{self.number} ({self.revision})"


class ContractLine(models.Model):
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveSmallIntegerField(_("line"))
    commodity = models.ForeignKey(
        "trading.Commodity",
        verbose_name=_("commodity"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    quantity = models.DecimalField(_("quantity"), max_digits=18, decimal_places=3)
    unit_price = models.DecimalField(_("unit price incl. VAT"), max_digits=18, decimal_places=4)
    tax_rate = models.DecimalField(_("VAT rate"), max_digits=5, decimal_places=4)
    amount = models.DecimalField(_("amount incl. VAT"), max_digits=18, decimal_places=2)
    quantity_tolerance_percent = models.DecimalField(
        _("quantity tolerance (%)"), default=Decimal("0"), max_digits=6, decimal_places=2
    )
    # Received (purchase) or issued (sales) quantity, kept by the stock posting services
    # under the contract's row lock.
    executed_quantity = models.DecimalField(
        _("executed quantity"), default=Decimal("0"), max_digits=18, decimal_places=3
    )

    class Meta:
        ordering = ["contract_id", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "line_number"], name="trading_contract_line_number"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0, unit_price__gte=0, tax_rate__gte=0),
                name="trading_contract_line_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract_id}/{self.line_number}"

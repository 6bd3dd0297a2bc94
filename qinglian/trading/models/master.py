"""Master data: partners (suppliers and customers) with their admission, qualifications and
credit terms; commodities; warehouses.

Partners and commodities are owned by a company — normally the group — and shared with every
company below it (the legacy interchange format keeps them group-wide too); warehouses belong
to the company that runs them.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from qinglian.core.models import Imported, TimeStampedModel

from ..enums import (
    AdmissionStatus,
    ApprovalDocumentStatus,
    CreditGrade,
    PartnerKind,
    QualificationKind,
    WarehouseKind,
)

# Precision everywhere in trading: money 18.2 (CNY), quantities 18.3 (tonnes), unit prices and
# costs 18.4, percentages 6.2, VAT rates 5.4 (0.1300).


class Partner(Imported, TimeStampedModel):
    company = models.ForeignKey(
        "org.Company", verbose_name=_("owning company"), on_delete=models.PROTECT, related_name="+"
    )
    code = models.CharField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=200)
    uscc = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=PartnerKind.choices)
    bank_name = models.CharField(_("bank"), max_length=100, blank=True)
    bank_account = models.CharField(_("bank account"), max_length=40, blank=True, db_index=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True, db_index=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    # Supplier admission (供应商准入): changed only by the admission services.
    admission_status = models.CharField(
        _("admission"),
        max_length=16,
        choices=AdmissionStatus.choices,
        default=AdmissionStatus.NOT_ADMITTED,
    )
    admission_reason = models.CharField(_("reason"), max_length=255, blank=True)
    admitted_on = models.DateField(_("admitted on"), null=True, blank=True)
    # Customer credit: changed only through an approved credit change.
    credit_limit = models.DecimalField(
        _("credit limit"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    payment_days = models.PositiveIntegerField(_("payment terms (days)"), default=0)
    credit_grade = models.CharField(
        _("credit grade"), max_length=1, choices=CreditGrade.choices, blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("partner")
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="trading_partner_code"),
            models.UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name="trading_partner_source_id"
            ),
            models.UniqueConstraint(
                fields=["company", "uscc"], condition=~Q(uscc=""), name="trading_partner_uscc"
            ),
            models.CheckConstraint(
                condition=Q(credit_limit__gte=0), name="trading_partner_credit_limit"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_supplier(self) -> bool:
        return self.kind in (PartnerKind.SUPPLIER, PartnerKind.BOTH)

    @property
    def is_customer(self) -> bool:
        return self.kind in (PartnerKind.CUSTOMER, PartnerKind.BOTH)


class PartnerContact(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(_("contact"), max_length=60)
    position = models.CharField(_("position"), max_length=60, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)

    class Meta:
        ordering = ["partner_id", "id"]

    def __str__(self) -> str:
        return self.name


class Qualification(models.Model):
    """A licence or certificate of a supplier, with its expiry date."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="qualifications")
    kind = models.CharField(_("kind"), max_length=24, choices=QualificationKind.choices)
    name = models.CharField(_("name"), max_length=100)
    number = models.CharField(_("certificate number"), max_length=60, blank=True)
    issued_on = models.DateField(_("issued on"), null=True, blank=True)
    expires_on = models.DateField(_("expires on"), null=True, blank=True, db_index=True)
    file = models.FileField(_("scan"), upload_to="trading/qualifications/%Y/%m", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["partner_id", "expires_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True)
                | Q(issued_on__isnull=True)
                | Q(expires_on__gte=models.F("issued_on")),
                name="trading_qualification_dates",
            )
        ]

    def __str__(self) -> str:
        return self.name


class PartnerStatusChange(Imported, models.Model):
    """A partner's admission status from a day on, as an old system recorded it (legacy
    intake: `partner_status_history`). The status on a day is that of the last change on or
    before it; before the first, the partner was pending. Moves made here are in the audit
    trail instead (the admission services' events); imported history is read-only."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="status_changes")
    status = models.CharField(_("admission"), max_length=16, choices=AdmissionStatus.choices)
    valid_from = models.DateField(_("valid from"))
    reason = models.CharField(_("reason"), max_length=255, blank=True)

    class Meta:
        ordering = ["partner_id", "valid_from", "id"]
        verbose_name = _("partner status change")
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "valid_from"], name="trading_partner_status_change_day"
            ),
            models.UniqueConstraint(
                fields=["source_id"],
                condition=~Q(source_id=""),
                name="trading_partner_status_change_source_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.status} {self.valid_from}"


class SupplierAdmission(TimeStampedModel):
    """An application to admit a supplier, decided by the supplier-admission approval flow."""

    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    number = models.CharField(_("number"), max_length=40, unique=True)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="admissions")
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ApprovalDocumentStatus.choices,
        default=ApprovalDocumentStatus.DRAFT,
    )
    reason = models.TextField(_("why this supplier"), blank=True)
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approval_request = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("supplier admission")

    def __str__(self) -> str:
        return self.number


class CreditChange(TimeStampedModel):
    """A change of a customer's credit limit, payment terms or grade, through approval."""

    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    number = models.CharField(_("number"), max_length=40, unique=True)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="credit_changes")
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ApprovalDocumentStatus.choices,
        default=ApprovalDocumentStatus.DRAFT,
    )
    previous_limit = models.DecimalField(
        _("previous credit limit"), max_digits=18, decimal_places=2
    )
    previous_days = models.PositiveIntegerField(_("previous payment terms (days)"))
    previous_grade = models.CharField(_("previous grade"), max_length=1, blank=True)
    credit_limit = models.DecimalField(_("credit limit"), max_digits=18, decimal_places=2)
    payment_days = models.PositiveIntegerField(_("payment terms (days)"))
    credit_grade = models.CharField(
        _("credit grade"), max_length=1, choices=CreditGrade.choices, blank=True
    )
    reason = models.TextField(_("reason"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approval_request = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("credit change")
        constraints = [
            models.CheckConstraint(
                condition=Q(credit_limit__gte=0), name="trading_credit_change_limit"
            )
        ]

    def __str__(self) -> str:
        return self.number


class Commodity(Imported, TimeStampedModel):
    company = models.ForeignKey(
        "org.Company", verbose_name=_("owning company"), on_delete=models.PROTECT, related_name="+"
    )
    code = models.CharField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    spec = models.CharField(_("specification"), max_length=100, blank=True)
    unit = models.CharField(_("unit"), max_length=10, default="t")
    # Weighing and stocktake tolerance: a difference within it needs no reason.
    tolerance_percent = models.DecimalField(
        _("weighing tolerance (%)"), default=Decimal("0.30"), max_digits=6, decimal_places=2
    )
    # A contract line may be executed up to its quantity plus this percentage.
    quantity_tolerance_percent = models.DecimalField(
        _("contract quantity tolerance (%)"),
        default=Decimal("5.00"),
        max_digits=6,
        decimal_places=2,
    )
    tax_rate = models.DecimalField(
        _("VAT rate"), default=Decimal("0.1300"), max_digits=5, decimal_places=4
    )
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("commodity")
        verbose_name_plural = _("commodities")
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="trading_commodity_code"),
            models.UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name="trading_commodity_source_id"
            ),
            models.CheckConstraint(
                condition=Q(tolerance_percent__gte=0, quantity_tolerance_percent__gte=0),
                name="trading_commodity_tolerance",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.spec}".strip()


class Warehouse(Imported, TimeStampedModel):
    company = models.ForeignKey(
        "org.Company", verbose_name=_("company"), on_delete=models.PROTECT, related_name="+"
    )
    code = models.CharField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=WarehouseKind.choices)
    address = models.CharField(_("address"), max_length=255, blank=True)
    keeper = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("warehouse keeper"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["company_id", "code"]
        verbose_name = _("warehouse")
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="trading_warehouse_code"),
            models.UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name="trading_warehouse_source_id"
            ),
        ]

    def __str__(self) -> str:
        return self.name

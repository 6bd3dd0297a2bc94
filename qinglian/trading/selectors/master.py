"""Trading selectors: master data. Reads, always scoped to the user.

Partners and commodities are shared master data: a user reads those owned by a company in their
scope or by any ancestor of one (`permissions.master_data_company_ids`) — a purchaser of a
subsidiary reads the group's suppliers. Warehouses, supplier admissions and credit changes are
documents of one company and are read through the ordinary company scope.

The supply rule (who may appear on a purchase contract) is here too, as a pure function
(`supply_refusal`) and its ORM wrapper (`partner_can_supply`): the contract services call the
latter when a purchase contract is created, changed or submitted.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from qinglian.core.errors import NotFound

from ..enums import AdmissionStatus, ApprovalDocumentStatus, PartnerKind, QualificationKind
from ..models import (
    Commodity,
    CreditChange,
    Partner,
    PartnerContact,
    Qualification,
    SupplierAdmission,
    Warehouse,
)
from ..permissions import master_data_company_ids, scoped

OPEN_REQUEST_STATUSES = (ApprovalDocumentStatus.DRAFT, ApprovalDocumentStatus.PENDING)

# ---------------------------------------------------------------- the supply rule (pure)

# The qualifications a supplier's admission rests on: one of these expired and the supplier may
# not supply until it is renewed. Other certificates are kept and warned about, not enforced.
REQUIRED_QUALIFICATION_KINDS = frozenset(
    {
        QualificationKind.BUSINESS_LICENCE,
        QualificationKind.OPERATING_PERMIT,
        QualificationKind.QUALITY_CERTIFICATE,
    }
)
# Applying for admission needs at least a business licence on file.
ADMISSION_QUALIFICATION_KIND = QualificationKind.BUSINESS_LICENCE


@dataclass(frozen=True)
class QualificationFact:
    kind: str
    name: str
    expires_on: datetime.date | None


def is_expired(expires_on: datetime.date | None, on_date: datetime.date) -> bool:
    """A qualification is valid up to and including its expiry date."""
    return expires_on is not None and expires_on < on_date


def supply_refusal(
    *,
    kind: str,
    is_active: bool,
    admission_status: str,
    qualifications: Iterable[QualificationFact],
    on_date: datetime.date,
) -> str:
    """Why a partner may not supply on `on_date`, or "" when it may. Pure: no database.

    A partner may supply when it is an active supplier (or both), admitted (not pending,
    suspended or blacklisted), and none of its required qualifications
    (REQUIRED_QUALIFICATION_KINDS) has expired by `on_date`."""
    if kind not in (PartnerKind.SUPPLIER, PartnerKind.BOTH):
        return _("Not a supplier.")
    if not is_active:
        return _("The partner is inactive.")
    if admission_status != AdmissionStatus.ADMITTED:
        return _("The supplier is not admitted (admission: %(status)s).") % {
            "status": AdmissionStatus(admission_status).label
        }
    expired = sorted(
        (fact for fact in qualifications if fact.kind in REQUIRED_QUALIFICATION_KINDS),
        key=lambda fact: (fact.expires_on or datetime.date.max, fact.name),
    )
    for fact in expired:
        if is_expired(fact.expires_on, on_date):
            return _("The qualification “%(name)s” expired on %(date)s.") % {
                "name": fact.name,
                "date": fact.expires_on.isoformat() if fact.expires_on else "",
            }
    return ""


def partner_can_supply(partner: Partner, on_date: datetime.date) -> tuple[bool, str]:
    """(True, "") when `partner` may appear on a purchase contract on `on_date`, else (False,
    the reason, translated). Reads the partner's qualifications (prefetched ones when present);
    the rule itself is `supply_refusal`."""
    facts = [
        QualificationFact(q.kind, q.name, q.expires_on)
        for q in partner.qualifications.all()
        if q.kind in REQUIRED_QUALIFICATION_KINDS
    ]
    reason = supply_refusal(
        kind=partner.kind,
        is_active=partner.is_active,
        admission_status=partner.admission_status,
        qualifications=facts,
        on_date=on_date,
    )
    return (not reason, reason)


# ---------------------------------------------------------------- partners


def partner_list(
    *,
    user: Any,
    search: str = "",
    kind: str | None = None,
    admission_status: str | None = None,
    company_id: int | None = None,
    active_only: bool = False,
) -> QuerySet[Partner]:
    """Partners the user reads (own scope's and its ancestors'), by code."""
    partners = Partner.objects.filter(company_id__in=master_data_company_ids(user)).select_related(
        "company"
    )
    if search:
        partners = partners.filter(
            Q(name__icontains=search)
            | Q(code__icontains=search)
            | Q(uscc__icontains=search.upper())
            | Q(phone__icontains=search)
        )
    if kind == PartnerKind.SUPPLIER:
        partners = partners.filter(kind__in=(PartnerKind.SUPPLIER, PartnerKind.BOTH))
    elif kind == PartnerKind.CUSTOMER:
        partners = partners.filter(kind__in=(PartnerKind.CUSTOMER, PartnerKind.BOTH))
    elif kind:
        partners = partners.filter(kind=kind)
    if admission_status:
        partners = partners.filter(admission_status=admission_status)
    if company_id is not None:
        partners = partners.filter(company_id=company_id)
    if active_only:
        partners = partners.filter(is_active=True)
    return partners.order_by("code", "id")


def partner_access(*, user: Any, id: int) -> Partner:
    """One partner with its contacts and qualifications; NotFound when missing or out of scope."""
    partner = (
        partner_list(user=user)
        .prefetch_related(
            Prefetch("contacts", queryset=PartnerContact.objects.order_by("id")),
            Prefetch("qualifications", queryset=Qualification.objects.order_by("expires_on", "id")),
        )
        .filter(pk=id)
        .first()
    )
    if partner is None:
        raise NotFound(_("Partner not found."))
    return partner


def contact_access(*, user: Any, id: int) -> PartnerContact:
    contact = (
        PartnerContact.objects.filter(pk=id, partner__company_id__in=master_data_company_ids(user))
        .select_related("partner")
        .first()
    )
    if contact is None:
        raise NotFound(_("Contact not found."))
    return contact


def qualification_access(*, user: Any, id: int) -> Qualification:
    qualification = (
        Qualification.objects.filter(pk=id, partner__company_id__in=master_data_company_ids(user))
        .select_related("partner")
        .first()
    )
    if qualification is None:
        raise NotFound(_("Qualification not found."))
    return qualification


def qualification_expiring_list(
    *, user: Any, within_days: int, today: datetime.date, include_expired: bool = True
) -> QuerySet[Qualification]:
    """Qualifications of active partners the user reads that expire within `within_days` of
    `today` (expiry date ≤ today + within_days), soonest first; with `include_expired` (the
    default) those already expired too, else only those still valid today."""
    limit = today + datetime.timedelta(days=max(within_days, 0))
    qualifications = Qualification.objects.filter(
        partner__company_id__in=master_data_company_ids(user),
        partner__is_active=True,
        expires_on__isnull=False,
        expires_on__lte=limit,
    )
    if not include_expired:
        qualifications = qualifications.filter(expires_on__gte=today)
    return qualifications.select_related("partner", "partner__company").order_by(
        "expires_on", "partner__code", "id"
    )


# ---------------------------------------------------------------- admissions and credit


def supplier_admission_list(
    *,
    user: Any,
    status: str | None = None,
    partner_id: int | None = None,
    search: str = "",
) -> QuerySet[SupplierAdmission]:
    admissions = scoped(SupplierAdmission.objects.all(), user).select_related(
        "partner", "company", "applicant"
    )
    if status:
        admissions = admissions.filter(status=status)
    if partner_id is not None:
        admissions = admissions.filter(partner_id=partner_id)
    if search:
        admissions = admissions.filter(
            Q(number__icontains=search) | Q(partner__name__icontains=search)
        )
    return admissions.order_by("-id")


def supplier_admission_access(*, user: Any, id: int) -> SupplierAdmission:
    admission = supplier_admission_list(user=user).filter(pk=id).first()
    if admission is None:
        raise NotFound(_("Supplier admission not found."))
    return admission


def credit_change_list(
    *,
    user: Any,
    status: str | None = None,
    partner_id: int | None = None,
    search: str = "",
) -> QuerySet[CreditChange]:
    changes = scoped(CreditChange.objects.all(), user).select_related(
        "partner", "company", "requested_by"
    )
    if status:
        changes = changes.filter(status=status)
    if partner_id is not None:
        changes = changes.filter(partner_id=partner_id)
    if search:
        changes = changes.filter(Q(number__icontains=search) | Q(partner__name__icontains=search))
    return changes.order_by("-id")


def credit_change_access(*, user: Any, id: int) -> CreditChange:
    change = credit_change_list(user=user).filter(pk=id).first()
    if change is None:
        raise NotFound(_("Credit change not found."))
    return change


# ---------------------------------------------------------------- commodities and warehouses


def commodity_list(
    *,
    user: Any,
    search: str = "",
    company_id: int | None = None,
    active_only: bool = False,
) -> QuerySet[Commodity]:
    commodities = Commodity.objects.filter(
        company_id__in=master_data_company_ids(user)
    ).select_related("company")
    if search:
        commodities = commodities.filter(
            Q(name__icontains=search) | Q(code__icontains=search) | Q(spec__icontains=search)
        )
    if company_id is not None:
        commodities = commodities.filter(company_id=company_id)
    if active_only:
        commodities = commodities.filter(is_active=True)
    return commodities.order_by("code", "id")


def commodity_access(*, user: Any, id: int) -> Commodity:
    commodity = commodity_list(user=user).filter(pk=id).first()
    if commodity is None:
        raise NotFound(_("Commodity not found."))
    return commodity


def warehouse_list(
    *,
    user: Any,
    search: str = "",
    company_id: int | None = None,
    kind: str | None = None,
    active_only: bool = False,
) -> QuerySet[Warehouse]:
    warehouses = scoped(Warehouse.objects.all(), user).select_related("company", "keeper")
    if search:
        warehouses = warehouses.filter(
            Q(name__icontains=search) | Q(code__icontains=search) | Q(address__icontains=search)
        )
    if company_id is not None:
        warehouses = warehouses.filter(company_id=company_id)
    if kind:
        warehouses = warehouses.filter(kind=kind)
    if active_only:
        warehouses = warehouses.filter(is_active=True)
    return warehouses.order_by("company_id", "code", "id")


def warehouse_access(*, user: Any, id: int) -> Warehouse:
    warehouse = warehouse_list(user=user).filter(pk=id).first()
    if warehouse is None:
        raise NotFound(_("Warehouse not found."))
    return warehouse

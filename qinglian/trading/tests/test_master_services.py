"""Master-data services: partners (profile, contacts, qualifications), supplier admission through
its approval flow, sanctions, customer credit changes, commodities and warehouses — each
lifecycle, and each refusal leaving nothing changed and no audit event."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from qinglian.approvals import services as approval_services
from qinglian.approvals.enums import RequestStatus, TaskStatus
from qinglian.approvals.models import ApprovalRequest, ApprovalTask
from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from qinglian.core.uscc import check_character
from qinglian.trading.enums import (
    AdmissionStatus,
    ApprovalDocumentStatus,
    PartnerKind,
    QualificationKind,
    TradingErrorCode,
)
from qinglian.trading.factories import make_partner
from qinglian.trading.models import (
    Commodity,
    CreditChange,
    Partner,
    PartnerContact,
    Qualification,
    SupplierAdmission,
    Warehouse,
)
from qinglian.trading.selectors import master as selectors
from qinglian.trading.services import master as services

TODAY = clock.today()
DAY = datetime.timedelta(days=1)
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"


def uscc(serial: int) -> str:
    first17 = f"91120101MA0{serial:06d}"
    return first17 + check_character(first17)


def events(action: str | None = None) -> int:
    queryset = AuditEvent.objects.all()
    return queryset.filter(action=action).count() if action else queryset.count()


class Unchanged:
    """Asserts a refusal left the row and the audit trail as they were."""

    def __init__(self, instance):
        self.instance = instance

    def __enter__(self):
        self.instance.refresh_from_db()
        self.before = {
            f.attname: getattr(self.instance, f.attname) for f in self.instance._meta.fields
        }
        self.events = events()
        return self

    def __exit__(self, *exc):
        self.instance.refresh_from_db()
        after = {f.attname: getattr(self.instance, f.attname) for f in self.instance._meta.fields}
        assert after == self.before
        assert events() == self.events
        return False


def new_supplier(org, trading, **extra):
    values = {
        "company_id": org.group.pk,
        "code": "S100",
        "name": "渤海钢材供应有限公司",
        "kind": PartnerKind.SUPPLIER,
        "uscc": uscc(1),
    }
    values.update(extra)
    return services.partner_create(actor=trading.purchaser_a, **values)


def licence(partner, actor, *, expires_on=None, kind=QualificationKind.BUSINESS_LICENCE):
    return services.qualification_add(
        actor=actor,
        partner_id=partner.pk,
        kind=kind,
        number="BL-001",
        issued_on=TODAY - 400 * DAY,
        expires_on=expires_on if expires_on is not None else TODAY + 365 * DAY,
    )


def pending_tasks(request):
    return list(ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING))


def approve_all(request):
    for _ in range(10):
        request.refresh_from_db()
        if request.status != RequestStatus.IN_PROGRESS:
            return request
        for task in pending_tasks(request):
            approval_services.task_approve(actor=task.assignee, task_id=task.pk)
    request.refresh_from_db()
    return request


# ---------------------------------------------------------------- partners


def test_partner_create_records_everything_and_audits(org, trading):
    partner = new_supplier(
        org,
        trading,
        uscc=uscc(2).lower(),
        bank_name="中国银行",
        bank_account="6222 0210-0112 3456",
        phone="022-12345678 转 8001",
        address="天津市",
        contacts=[{"name": "李明", "phone": "13800000001", "email": "li@example.com"}],
    )
    assert partner.company_id == org.group.pk
    assert partner.uscc == uscc(2)
    assert partner.bank_account == "622202100112345" + "6"
    assert partner.admission_status == AdmissionStatus.NOT_ADMITTED
    assert partner.credit_limit == Decimal("0")
    assert partner.created_by == trading.purchaser_a
    assert list(partner.contacts.values_list("name", "email")) == [("李明", "li@example.com")]
    event = AuditEvent.objects.get(action="trading.partner.created")
    assert event.chain.company_id == org.group.pk
    assert event.changes["code"] == [None, "S100"]
    assert event.changes["contacts"] == [None, ["李明"]]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"uscc": "91120101MA0000001X"}, "uscc"),
        ({"code": ""}, "code"),
        ({"code": "S 1"}, "code"),
        ({"name": ""}, "name"),
        ({"kind": "agent"}, "kind"),
        ({"bank_account": "12ab"}, "bank_account"),
        ({"phone": "call me"}, "phone"),
        ({"contacts": [{"name": "", "email": "x"}]}, "contacts.1.name"),
        ({"contacts": [{"name": "王", "email": "not-an-email"}]}, "contacts.1.email"),
    ],
)
def test_partner_create_refuses_bad_values(org, trading, values, field):
    before = (Partner.objects.count(), events())
    with pytest.raises(ValidationFailed) as refused:
        new_supplier(org, trading, **values)
    assert field in refused.value.fields
    assert (Partner.objects.count(), events()) == before


def test_partner_code_and_credit_code_are_unique_in_the_group(org, trading):
    new_supplier(org, trading)
    with pytest.raises(ValidationFailed) as refused:
        new_supplier(org, trading, name="另一家", uscc=uscc(3))
    assert set(refused.value.fields) == {"code"}
    # The same credit code registered by a subsidiary clashes with the group's partner.
    with pytest.raises(ValidationFailed) as refused:
        services.partner_create(
            actor=trading.purchaser_a,
            company_id=org.company_a.pk,
            code="A-S1",
            name="渤海钢材",
            kind=PartnerKind.SUPPLIER,
            uscc=uscc(1),
        )
    assert set(refused.value.fields) == {"uscc"}


def test_partner_create_needs_a_role_where_it_is_shared(org, trading):
    before = (Partner.objects.count(), events())
    for actor in (org.no_role, org.inspector, trading.keeper_a):
        with pytest.raises(PermissionDenied):
            services.partner_create(
                actor=actor, company_id=org.group.pk, code="X", name="X", kind="supplier"
            )
    # A purchaser of B may not register partners owned by A.
    with pytest.raises(PermissionDenied):
        services.partner_create(
            actor=trading.purchaser_b,
            company_id=org.company_a.pk,
            code="X",
            name="X",
            kind=PartnerKind.SUPPLIER,
        )
    assert (Partner.objects.count(), events()) == before


def test_partner_update_with_version_check(org, trading):
    partner = new_supplier(org, trading)
    updated = services.partner_update(
        actor=trading.purchaser_b,  # shared with B: B's purchaser edits it too
        partner_id=partner.pk,
        expected_version=1,
        phone="0411-88886666",
        kind=PartnerKind.BOTH,
    )
    assert (updated.version, updated.phone, updated.kind) == (2, "0411-88886666", "both")
    event = AuditEvent.objects.get(action="trading.partner.updated")
    assert event.changes == {"phone": ["", "0411-88886666"], "kind": ["supplier", "both"]}
    with Unchanged(partner), pytest.raises(Conflict) as refused:
        services.partner_update(
            actor=trading.purchaser_a, partner_id=partner.pk, expected_version=1, name="旧表单"
        )
    assert refused.value.code == TradingErrorCode.STALE_VERSION
    # Nothing changed: no new version, no event.
    services.partner_update(actor=trading.purchaser_a, partner_id=partner.pk, phone=updated.phone)
    partner.refresh_from_db()
    assert partner.version == 2


def test_partner_update_refusals(org, trading):
    partner = new_supplier(org, trading)
    with Unchanged(partner):
        with pytest.raises(ValidationFailed):
            services.partner_update(
                actor=trading.purchaser_a, partner_id=partner.pk, admission_status="admitted"
            )
        with pytest.raises(ValidationFailed):
            services.partner_update(actor=trading.purchaser_a, partner_id=partner.pk, uscc="1")
        with pytest.raises(PermissionDenied):
            services.partner_update(actor=org.inspector, partner_id=partner.pk, name="改名")
        with pytest.raises(NotFound):
            services.partner_update(actor=org.no_role, partner_id=partner.pk, name="改名")
    b_partner = make_partner(company=org.company_b)
    with Unchanged(b_partner), pytest.raises(NotFound):
        services.partner_update(actor=trading.purchaser_a, partner_id=b_partner.pk, name="改名")


# ---------------------------------------------------------------- contacts


def test_contacts_add_edit_remove(org, trading):
    partner = new_supplier(org, trading)
    contact = services.partner_contact_add(
        actor=trading.salesperson_a, partner_id=partner.pk, name="张三", phone="13900000000"
    )
    services.partner_contact_update(
        actor=trading.salesperson_a, contact_id=contact.pk, position="经理"
    )
    contact.refresh_from_db()
    assert (contact.name, contact.position) == ("张三", "经理")
    services.partner_contact_remove(actor=trading.salesperson_a, contact_id=contact.pk)
    assert not PartnerContact.objects.filter(pk=contact.pk).exists()
    assert [
        e.action
        for e in AuditEvent.objects.filter(action__startswith="trading.partner_contact").order_by(
            "id"
        )
    ] == [
        "trading.partner_contact.added",
        "trading.partner_contact.updated",
        "trading.partner_contact.removed",
    ]


def test_contact_refusals(org, trading):
    partner = new_supplier(org, trading)
    contact = services.partner_contact_add(
        actor=trading.purchaser_a, partner_id=partner.pk, name="甲"
    )
    with Unchanged(contact):
        with pytest.raises(ValidationFailed):
            services.partner_contact_update(
                actor=trading.purchaser_a, contact_id=contact.pk, email="bad"
            )
        with pytest.raises(PermissionDenied):
            services.partner_contact_remove(actor=org.inspector, contact_id=contact.pk)
        with pytest.raises(NotFound):
            services.partner_contact_remove(actor=org.no_role, contact_id=contact.pk)


# ---------------------------------------------------------------- qualifications


def test_qualification_with_a_scan(org, trading):
    partner = new_supplier(org, trading)
    scan = SimpleUploadedFile("营业执照.pdf", PDF, content_type="application/pdf")
    qualification = services.qualification_add(
        actor=trading.purchaser_a,
        partner_id=partner.pk,
        kind=QualificationKind.BUSINESS_LICENCE,
        expires_on=TODAY + 30 * DAY,
        file=scan,
    )
    assert qualification.name == "Business licence" or qualification.name == "营业执照"
    assert qualification.file.name.startswith("trading/qualifications/")
    assert qualification.file.read() == PDF
    services.qualification_update(
        actor=trading.purchaser_a, qualification_id=qualification.pk, remove_file=True
    )
    qualification.refresh_from_db()
    assert not qualification.file
    actions = list(
        AuditEvent.objects.filter(action__startswith="trading.qualification")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["trading.qualification.added", "trading.qualification.updated"]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("licence.exe", PDF, "Upload a PDF, JPEG or PNG scan."),
        ("licence.png", PDF, "The file's content does not match its type (.png)."),
    ],
)
def test_qualification_scan_is_checked(org, trading, english, name, content, problem):
    partner = new_supplier(org, trading)
    before = events()
    with pytest.raises(ValidationFailed) as refused:
        services.qualification_add(
            actor=trading.purchaser_a,
            partner_id=partner.pk,
            kind=QualificationKind.OTHER,
            file=SimpleUploadedFile(name, content),
        )
    assert refused.value.fields == {"file": [problem]}
    assert not Qualification.objects.exists()
    assert events() == before


def test_qualification_dates_must_be_in_order(org, trading):
    partner = new_supplier(org, trading)
    with pytest.raises(ValidationFailed) as refused:
        services.qualification_add(
            actor=trading.purchaser_a,
            partner_id=partner.pk,
            kind=QualificationKind.OTHER,
            issued_on=TODAY,
            expires_on=TODAY - DAY,
        )
    assert set(refused.value.fields) == {"expires_on"}


# ---------------------------------------------------------------- the supply rule


def test_supply_rule_pure():
    fact = selectors.QualificationFact
    good: dict[str, Any] = {"kind": "supplier", "is_active": True, "admission_status": "admitted"}
    assert selectors.supply_refusal(**good, qualifications=[], on_date=TODAY) == ""
    on_expiry = [fact(QualificationKind.BUSINESS_LICENCE, "执照", TODAY)]
    assert selectors.supply_refusal(**good, qualifications=on_expiry, on_date=TODAY) == ""
    assert selectors.supply_refusal(**good, qualifications=on_expiry, on_date=TODAY + DAY)
    other = [fact(QualificationKind.OTHER, "荣誉证书", TODAY - DAY)]
    assert selectors.supply_refusal(**good, qualifications=other, on_date=TODAY) == ""
    assert selectors.supply_refusal(
        **{**good, "kind": "customer"}, qualifications=[], on_date=TODAY
    )
    assert selectors.supply_refusal(
        **{**good, "is_active": False}, qualifications=[], on_date=TODAY
    )
    for status in ("not_admitted", "pending", "suspended", "blacklisted"):
        assert selectors.supply_refusal(
            **{**good, "admission_status": status}, qualifications=[], on_date=TODAY
        )


def test_partner_can_supply(org, trading, english):
    supplier = trading.supplier  # admitted by the factory
    assert selectors.partner_can_supply(supplier, TODAY) == (True, "")
    Qualification.objects.create(
        partner=supplier,
        kind=QualificationKind.OPERATING_PERMIT,
        name="经营许可证",
        expires_on=TODAY - DAY,
    )
    may, reason = selectors.partner_can_supply(supplier, TODAY)
    assert not may
    assert reason == f"The qualification “经营许可证” expired on {(TODAY - DAY).isoformat()}."
    assert selectors.partner_can_supply(supplier, TODAY - DAY) == (True, "")
    assert selectors.partner_can_supply(trading.customer, TODAY) == (False, "Not a supplier.")


def test_expiring_list_is_scoped_and_ordered(org, trading):
    group_partner = trading.supplier
    b_partner = make_partner(company=org.company_b)
    soon = Qualification.objects.create(
        partner=group_partner, kind="other", name="soon", expires_on=TODAY + 10 * DAY
    )
    expired = Qualification.objects.create(
        partner=group_partner, kind="other", name="expired", expires_on=TODAY - DAY
    )
    Qualification.objects.create(
        partner=group_partner, kind="other", name="later", expires_on=TODAY + 60 * DAY
    )
    Qualification.objects.create(partner=group_partner, kind="other", name="never")
    b_soon = Qualification.objects.create(
        partner=b_partner, kind="other", name="b", expires_on=TODAY + DAY
    )

    def names(user, **extra):
        rows = selectors.qualification_expiring_list(
            user=user, within_days=30, today=TODAY, **extra
        )
        return [q.pk for q in rows]

    assert names(trading.purchaser_a) == [expired.pk, soon.pk]
    assert names(trading.purchaser_a, include_expired=False) == [soon.pk]
    assert names(trading.purchaser_b) == [expired.pk, b_soon.pk, soon.pk]
    assert names(org.inspector) == [expired.pk, b_soon.pk, soon.pk]
    assert names(org.no_role) == []


# ---------------------------------------------------------------- supplier admission


@pytest.fixture
def applicant(org, trading, master_flows):
    """A registered supplier with its business licence, and a draft application for it."""
    partner = new_supplier(org, trading)
    licence(partner, trading.purchaser_a)
    admission = services.supplier_admission_create(
        actor=trading.purchaser_a, partner_id=partner.pk, reason="价格优、运距短"
    )
    return partner, admission


def test_admission_approved_admits_the_supplier(org, trading, master_flows, applicant):
    partner, admission = applicant
    assert admission.number.startswith(f"ZR{TODAY:%Y%m%d}-")
    assert admission.company_id == org.company_a.pk
    services.supplier_admission_submit(actor=trading.purchaser_a, admission_id=admission.pk)
    admission.refresh_from_db()
    partner.refresh_from_db()
    assert admission.status == ApprovalDocumentStatus.PENDING
    assert partner.admission_status == AdmissionStatus.PENDING
    request = admission.approval_request
    assert (request.document_type, request.document_id) == (
        "trading.supplier_admission",
        str(admission.pk),
    )
    assert request.form_data["qualifications"][0]["number"] == "BL-001"
    assert [t.assignee for t in pending_tasks(request)] == [trading.manager_a]
    approve_all(request)
    admission.refresh_from_db()
    partner.refresh_from_db()
    assert admission.status == ApprovalDocumentStatus.APPROVED
    assert admission.decided_at is not None
    assert partner.admission_status == AdmissionStatus.ADMITTED
    assert partner.admitted_on == TODAY
    deciders = set(
        ApprovalTask.objects.filter(request=request, status=TaskStatus.APPROVED).values_list(
            "assignee__username", flat=True
        )
    )
    assert deciders == {"manager_a", "master_legal_a", "master_leader_a"}
    assert selectors.partner_can_supply(partner, TODAY) == (True, "")
    assert [
        e.action
        for e in AuditEvent.objects.filter(action__startswith="trading.").order_by("id")
        if e.action.startswith(("trading.supplier_admission", "trading.partner.admi"))
    ] == [
        "trading.supplier_admission.created",
        "trading.partner.admission_requested",
        "trading.supplier_admission.submitted",
        "trading.supplier_admission.approved",
        "trading.partner.admitted",
    ]


@pytest.mark.parametrize("decision", ["reject", "withdraw"])
def test_admission_rejected_or_withdrawn(org, trading, master_flows, applicant, decision):
    partner, admission = applicant
    services.supplier_admission_submit(actor=trading.purchaser_a, admission_id=admission.pk)
    admission.refresh_from_db()
    request = admission.approval_request
    if decision == "reject":
        [task] = pending_tasks(request)
        approval_services.task_reject(actor=task.assignee, task_id=task.pk, comment="资质不全")
    else:
        approval_services.request_withdraw(actor=trading.purchaser_a, request_id=request.pk)
    admission.refresh_from_db()
    partner.refresh_from_db()
    assert partner.admission_status == AdmissionStatus.NOT_ADMITTED
    assert partner.admitted_on is None
    assert admission.status == (
        ApprovalDocumentStatus.REJECTED if decision == "reject" else ApprovalDocumentStatus.DRAFT
    )
    assert events("trading.partner.admission_refused") == 1
    if decision == "withdraw":  # a withdrawn application can be submitted again
        services.supplier_admission_submit(actor=trading.purchaser_a, admission_id=admission.pk)
        admission.refresh_from_db()
        assert admission.status == ApprovalDocumentStatus.PENDING


def test_admission_cancel(org, trading, master_flows, applicant):
    partner, admission = applicant
    services.supplier_admission_cancel(actor=trading.purchaser_a, admission_id=admission.pk)
    admission.refresh_from_db()
    assert admission.status == ApprovalDocumentStatus.CANCELLED
    with Unchanged(admission), pytest.raises(InvalidTransition):
        services.supplier_admission_submit(actor=trading.purchaser_a, admission_id=admission.pk)
    # A new application may be made once the old one is closed.
    services.supplier_admission_create(actor=trading.purchaser_a, partner_id=partner.pk)


def test_admission_refusals(org, trading, master_flows, applicant):
    partner, admission = applicant
    before = (SupplierAdmission.objects.count(), events())
    with pytest.raises(Conflict):  # one open application per supplier
        services.supplier_admission_create(actor=trading.purchaser_a, partner_id=partner.pk)
    with pytest.raises(PermissionDenied):  # only purchasers apply
        services.supplier_admission_create(actor=trading.salesperson_a, partner_id=partner.pk)
    with pytest.raises(PermissionDenied):
        services.supplier_admission_create(actor=org.inspector, partner_id=partner.pk)
    with pytest.raises(ValidationFailed) as refused:
        services.supplier_admission_create(
            actor=trading.purchaser_a, partner_id=trading.customer.pk
        )
    assert set(refused.value.fields) == {"partner"}
    with pytest.raises(ValidationFailed):  # already admitted
        services.supplier_admission_create(
            actor=trading.purchaser_a, partner_id=trading.supplier.pk
        )
    assert (SupplierAdmission.objects.count(), events()) == before
    with Unchanged(admission), pytest.raises(NotFound):  # B does not read A's application
        services.supplier_admission_submit(actor=trading.purchaser_b, admission_id=admission.pk)
    with Unchanged(partner), pytest.raises(PermissionDenied):
        services.supplier_admission_submit(actor=trading.keeper_a, admission_id=admission.pk)


def test_admission_needs_a_valid_licence_and_credit_code(org, trading, master_flows):
    partner = new_supplier(org, trading, uscc="")
    admission = services.supplier_admission_create(actor=trading.purchaser_a, partner_id=partner.pk)
    with Unchanged(partner), Unchanged(admission), pytest.raises(ValidationFailed) as refused:
        services.supplier_admission_submit(actor=trading.purchaser_a, admission_id=admission.pk)
    assert set(refused.value.fields) == {"uscc", "qualifications"}
    services.partner_update(actor=trading.purchaser_a, partner_id=partner.pk, uscc=uscc(9))
    licence(partner, trading.purchaser_a, expires_on=TODAY - DAY)
    partner.refresh_from_db()
    with Unchanged(partner), pytest.raises(ValidationFailed) as refused:
        services.supplier_admission_submit(actor=trading.purchaser_a, admission_id=admission.pk)
    assert set(refused.value.fields) == {"qualifications"}
    assert not ApprovalRequest.objects.exists()


def test_qualifications_frozen_while_the_application_is_pending(
    org, trading, master_flows, applicant
):
    partner, admission = applicant
    services.supplier_admission_submit(actor=trading.purchaser_a, admission_id=admission.pk)
    qualification = partner.qualifications.get()
    before = events()
    with pytest.raises(Conflict):
        services.qualification_remove(actor=trading.purchaser_a, qualification_id=qualification.pk)
    with pytest.raises(Conflict):
        licence(partner, trading.purchaser_a, kind=QualificationKind.OTHER)
    assert partner.qualifications.count() == 1
    assert events() == before


# ---------------------------------------------------------------- sanctions


def test_suspend_reinstate_blacklist(org, trading, english):
    supplier = trading.supplier
    manager = trading.manager_a
    services.partner_suspend(actor=manager, partner_id=supplier.pk, reason="质量问题")
    supplier.refresh_from_db()
    assert (supplier.admission_status, supplier.admission_reason) == ("suspended", "质量问题")
    assert selectors.partner_can_supply(supplier, TODAY)[0] is False
    services.partner_reinstate(actor=manager, partner_id=supplier.pk, reason="整改完成")
    supplier.refresh_from_db()
    assert supplier.admission_status == AdmissionStatus.ADMITTED
    services.partner_blacklist(actor=manager, partner_id=supplier.pk, reason="围标串标")
    supplier.refresh_from_db()
    assert supplier.admission_status == AdmissionStatus.BLACKLISTED
    services.partner_reinstate(actor=manager, partner_id=supplier.pk, reason="处分期满")
    supplier.refresh_from_db()
    assert supplier.admission_status == AdmissionStatus.NOT_ADMITTED  # must apply again
    assert [
        (e.action, e.changes["admission_status"], e.changes["reason"][1])
        for e in AuditEvent.objects.filter(
            object_type="trading.partner", object_id=str(supplier.pk)
        ).order_by("id")
    ] == [
        ("trading.partner.suspended", ["admitted", "suspended"], "质量问题"),
        ("trading.partner.reinstated", ["suspended", "admitted"], "整改完成"),
        ("trading.partner.blacklisted", ["admitted", "blacklisted"], "围标串标"),
        ("trading.partner.reinstated", ["blacklisted", "not_admitted"], "处分期满"),
    ]


def test_sanction_refusals(org, trading):
    supplier = trading.supplier
    with Unchanged(supplier):
        for actor in (trading.purchaser_a, org.inspector, trading.finance_a):
            with pytest.raises(PermissionDenied):
                services.partner_suspend(actor=actor, partner_id=supplier.pk, reason="x")
        with pytest.raises(ValidationFailed):  # a reason is required
            services.partner_suspend(actor=trading.manager_a, partner_id=supplier.pk, reason=" ")
        with pytest.raises(InvalidTransition):  # an admitted supplier is not reinstated
            services.partner_reinstate(actor=trading.manager_a, partner_id=supplier.pk, reason="x")
        with pytest.raises(NotFound):
            services.partner_suspend(actor=org.no_role, partner_id=supplier.pk, reason="x")


def test_blacklisting_during_an_application_stands(org, trading, master_flows, applicant):
    partner, admission = applicant
    services.supplier_admission_submit(actor=trading.purchaser_a, admission_id=admission.pk)
    services.partner_blacklist(actor=trading.manager_a, partner_id=partner.pk, reason="失信")
    admission.refresh_from_db()
    approve_all(admission.approval_request)
    admission.refresh_from_db()
    partner.refresh_from_db()
    assert admission.status == ApprovalDocumentStatus.APPROVED
    assert partner.admission_status == AdmissionStatus.BLACKLISTED
    assert events("trading.partner.admitted") == 0


# ---------------------------------------------------------------- customer credit


def test_credit_change_approved_applies_and_keeps_the_old_terms(org, trading, master_flows):
    customer = trading.customer
    change = services.credit_change_create(
        actor=trading.salesperson_a,
        partner_id=customer.pk,
        credit_limit="2000000.00",
        payment_days=45,
        credit_grade="A",
        reason="年度合作量增加",
    )
    assert change.number.startswith(f"XY{TODAY:%Y%m%d}-")
    assert (change.previous_limit, change.previous_days) == (Decimal("0.00"), 30)
    services.credit_change_submit(actor=trading.salesperson_a, change_id=change.pk)
    change.refresh_from_db()
    request = change.approval_request
    assert request.amount == Decimal("2000000.00")
    assert [t.assignee for t in pending_tasks(request)] == [trading.finance_a]
    customer.refresh_from_db()
    assert customer.credit_limit == Decimal("0")  # nothing applies before approval
    approve_all(request)
    change.refresh_from_db()
    customer.refresh_from_db()
    assert change.status == ApprovalDocumentStatus.APPROVED
    assert (customer.credit_limit, customer.payment_days, customer.credit_grade) == (
        Decimal("2000000.00"),
        45,
        "A",
    )
    assert (change.previous_limit, change.previous_days, change.previous_grade) == (
        Decimal("0.00"),
        30,
        "",
    )
    event = AuditEvent.objects.get(action="trading.partner.credit_changed")
    assert event.changes["credit_limit"] == ["0.00", "2000000.00"]
    assert event.changes["credit_change"] == [None, change.number]


@pytest.mark.parametrize("decision", ["reject", "withdraw"])
def test_credit_change_rejected_or_withdrawn_changes_nothing(org, trading, master_flows, decision):
    customer = trading.customer
    change = services.credit_change_create(
        actor=trading.finance_a,
        partner_id=customer.pk,
        credit_limit="100000",
        payment_days=30,
        reason="首次授信",
    )
    services.credit_change_submit(actor=trading.finance_a, change_id=change.pk)
    change.refresh_from_db()
    request = change.approval_request
    terms = (customer.credit_limit, customer.payment_days, customer.credit_grade, customer.version)
    if decision == "reject":
        [task] = pending_tasks(request)
        approval_services.task_reject(actor=task.assignee, task_id=task.pk, comment="风险高")
    else:
        approval_services.request_withdraw(actor=trading.finance_a, request_id=request.pk)
    customer.refresh_from_db()
    assert (
        customer.credit_limit,
        customer.payment_days,
        customer.credit_grade,
        customer.version,
    ) == terms
    change.refresh_from_db()
    assert change.status == (
        ApprovalDocumentStatus.REJECTED if decision == "reject" else ApprovalDocumentStatus.DRAFT
    )
    assert events("trading.partner.credit_changed") == 0


def test_credit_change_refusals(org, trading, master_flows):
    customer = trading.customer
    before = (CreditChange.objects.count(), events())
    with pytest.raises(ValidationFailed) as refused:
        services.credit_change_create(
            actor=trading.salesperson_a,
            partner_id=trading.supplier.pk,
            credit_limit="1",
            payment_days=1,
            reason="x",
        )
    assert set(refused.value.fields) == {"partner"}
    with pytest.raises(ValidationFailed) as refused:
        services.credit_change_create(
            actor=trading.salesperson_a,
            partner_id=customer.pk,
            credit_limit="-1",
            payment_days=99999,
            credit_grade="Z",
            reason="",
        )
    assert set(refused.value.fields) == {"credit_limit", "payment_days", "credit_grade", "reason"}
    with pytest.raises(ValidationFailed) as refused:  # the current terms again
        services.credit_change_create(
            actor=trading.salesperson_a,
            partner_id=customer.pk,
            credit_limit="0",
            payment_days=30,
            reason="x",
        )
    assert set(refused.value.fields) == {"credit_limit"}
    for actor in (trading.purchaser_a, org.inspector, trading.keeper_a):
        with pytest.raises(PermissionDenied):
            services.credit_change_create(
                actor=actor, partner_id=customer.pk, credit_limit="5", payment_days=1, reason="x"
            )
    assert (CreditChange.objects.count(), events()) == before
    change = services.credit_change_create(
        actor=trading.salesperson_a,
        partner_id=customer.pk,
        credit_limit="5",
        payment_days=1,
        reason="x",
    )
    with Unchanged(change):
        with pytest.raises(Conflict):  # one open change per customer
            services.credit_change_create(
                actor=trading.finance_a,
                partner_id=customer.pk,
                credit_limit="6",
                payment_days=1,
                reason="y",
            )
        with pytest.raises(PermissionDenied):
            services.credit_change_submit(actor=trading.purchaser_a, change_id=change.pk)
        with pytest.raises(NotFound):
            services.credit_change_submit(actor=trading.purchaser_b, change_id=change.pk)


# ---------------------------------------------------------------- commodities and warehouses


def test_commodity_create_and_update(org, trading):
    commodity = services.commodity_create(
        actor=trading.keeper_a,
        company_id=org.group.pk,
        code="ORE-62",
        name="铁矿石",
        spec="62% Fe",
        tolerance_percent="0.5",
        tax_rate="0.13",
    )
    assert (commodity.unit, commodity.tolerance_percent, commodity.version) == (
        "t",
        Decimal("0.50"),
        1,
    )
    updated = services.commodity_update(
        actor=trading.purchaser_b,
        commodity_id=commodity.pk,
        expected_version=1,
        quantity_tolerance_percent="10",
    )
    assert (updated.quantity_tolerance_percent, updated.version) == (Decimal("10.00"), 2)
    assert events("trading.commodity.created") == events("trading.commodity.updated") == 1
    with Unchanged(commodity), pytest.raises(Conflict):
        services.commodity_update(
            actor=trading.keeper_a, commodity_id=commodity.pk, expected_version=1, name="x"
        )


def test_commodity_refusals(org, trading, stock):
    before = (Commodity.objects.count(), events())
    with pytest.raises(ValidationFailed) as refused:
        services.commodity_create(
            actor=trading.keeper_a,
            company_id=org.group.pk,
            code="STEEL",  # taken
            name="",
            tolerance_percent="101",
            tax_rate="13",
        )
    assert set(refused.value.fields) == {"code", "name", "tolerance_percent", "tax_rate"}
    for actor in (trading.finance_a, org.inspector, org.no_role):
        with pytest.raises(PermissionDenied):
            services.commodity_create(actor=actor, company_id=org.group.pk, code="NEW", name="新品")
    assert (Commodity.objects.count(), events()) == before
    steel = trading.steel  # on the fixture's contracts: its unit stays
    with Unchanged(steel), pytest.raises(ValidationFailed) as refused:
        services.commodity_update(actor=trading.keeper_a, commodity_id=steel.pk, unit="kg")
    assert set(refused.value.fields) == {"unit"}


def test_warehouse_create_and_update(org, trading):
    warehouse = services.warehouse_create(
        actor=trading.keeper_a,
        company_id=org.company_a.pk,
        code="WA2",
        name="甲二号库",
        kind="third_party",
        keeper_id=trading.keeper_a.pk,
    )
    assert (warehouse.kind, warehouse.keeper_id) == ("third_party", trading.keeper_a.pk)
    services.warehouse_update(
        actor=trading.keeper_a, warehouse_id=warehouse.pk, expected_version=1, is_active=False
    )
    warehouse.refresh_from_db()
    assert (warehouse.is_active, warehouse.version) == (False, 2)


def test_warehouse_refusals(org, trading):
    warehouse = trading.warehouse_a
    before = (Warehouse.objects.count(), events())
    with pytest.raises(ValidationFailed) as refused:
        services.warehouse_create(
            actor=trading.keeper_a,
            company_id=org.company_a.pk,
            code="WA",
            name="重复",
            kind="cave",
            keeper_id=trading.keeper_b.pk,  # not a person of A
        )
    assert set(refused.value.fields) == {"code", "kind", "keeper"}
    for actor in (trading.purchaser_a, org.inspector, trading.keeper_b):
        with pytest.raises(PermissionDenied):
            services.warehouse_create(actor=actor, company_id=org.company_a.pk, code="W9", name="x")
    assert (Warehouse.objects.count(), events()) == before
    with Unchanged(warehouse):
        with pytest.raises(NotFound):
            services.warehouse_update(actor=trading.keeper_b, warehouse_id=warehouse.pk, name="x")
        with pytest.raises(PermissionDenied):
            services.warehouse_update(actor=org.inspector, warehouse_id=warehouse.pk, name="x")

"""Authorization matrix over every master-data page (anonymous, no role, wrong company, right
company, group-wide inspector), the writes through the pages, and list query budgets."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.trading.enums import AdmissionStatus, PartnerKind, QualificationKind
from qinglian.trading.factories import make_commodity, make_partner
from qinglian.trading.models import (
    CreditChange,
    Partner,
    PartnerContact,
    Qualification,
    SupplierAdmission,
    Warehouse,
)
from qinglian.trading.services import master as services

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"


@dataclass
class World:
    a_partner: Partner  # owned by A: not shared with B
    a_customer: Partner
    contact: PartnerContact
    qualification: Qualification
    admission: SupplierAdmission
    change: CreditChange
    a_commodity: object
    warehouse: Warehouse


@pytest.fixture
def world(org, trading, master_flows, shared_layers) -> World:
    return shared_layers.get("world", build_world, org, trading, master_flows)


def build_world(org, trading, master_flows) -> World:
    a_partner = make_partner(
        company=org.company_a, kind=PartnerKind.SUPPLIER, admission_status="not_admitted"
    )
    a_customer = make_partner(company=org.company_a, kind=PartnerKind.CUSTOMER)
    contact = services.partner_contact_add(
        actor=trading.purchaser_a, partner_id=a_partner.pk, name="联系人甲"
    )
    qualification = services.qualification_add(
        actor=trading.purchaser_a,
        partner_id=a_partner.pk,
        kind=QualificationKind.BUSINESS_LICENCE,
        file=SimpleUploadedFile("licence.pdf", PDF),
    )
    admission = services.supplier_admission_create(
        actor=trading.purchaser_a, partner_id=a_partner.pk
    )
    change = services.credit_change_create(
        actor=trading.salesperson_a,
        partner_id=a_customer.pk,
        credit_limit="50000",
        payment_days=15,
        reason="试单",
    )
    return World(
        a_partner=a_partner,
        a_customer=a_customer,
        contact=contact,
        qualification=qualification,
        admission=admission,
        change=change,
        a_commodity=make_commodity(company=org.company_a),
        warehouse=trading.warehouse_a,
    )


def _user(org, trading, name):
    if name is None:
        return None
    return getattr(trading, name, None) or getattr(org, name)


# name, target, right user, wrong-company user, {who: expected status}
READ = {"anonymous": 302, "no_role": 200, "wrong": 200, "right": 200, "inspector": 200}
DETAIL = {"anonymous": 302, "no_role": 404, "wrong": 404, "right": 200, "inspector": 200}
WRITE_FORM = {"anonymous": 302, "no_role": 404, "wrong": 404, "right": 200, "inspector": 403}
CREATE_FORM = {"anonymous": 302, "no_role": 403, "wrong": 200, "right": 200, "inspector": 403}
PAGES = [
    ("partner_list", None, "purchaser_a", "purchaser_b", READ),
    ("partner_detail", "a_partner", "purchaser_a", "purchaser_b", DETAIL),
    ("partner_edit", "a_partner", "purchaser_a", "purchaser_b", WRITE_FORM),
    ("partner_create", None, "purchaser_a", "purchaser_b", CREATE_FORM),
    ("partner_contact_add", "a_partner", "purchaser_a", "purchaser_b", WRITE_FORM),
    ("partner_contact_edit", "contact", "purchaser_a", "purchaser_b", WRITE_FORM),
    ("qualification_add", "a_partner", "purchaser_a", "purchaser_b", WRITE_FORM),
    ("qualification_edit", "qualification", "purchaser_a", "purchaser_b", WRITE_FORM),
    ("qualification_file", "qualification", "purchaser_a", "purchaser_b", DETAIL),
    ("qualification_expiring", None, "purchaser_a", "purchaser_b", READ),
    ("partner_suspend", "a_partner", "manager_a", "purchaser_b", WRITE_FORM),
    ("partner_blacklist", "a_partner", "manager_a", "purchaser_b", WRITE_FORM),
    ("partner_reinstate", "a_partner", "manager_a", "purchaser_b", WRITE_FORM),
    ("admission_list", None, "purchaser_a", "purchaser_b", READ),
    ("admission_detail", "admission", "purchaser_a", "purchaser_b", DETAIL),
    ("admission_edit", "admission", "purchaser_a", "purchaser_b", WRITE_FORM),
    ("admission_create", "a_partner", "purchaser_a", "purchaser_b", WRITE_FORM),
    ("credit_change_list", None, "salesperson_a", "purchaser_b", READ),
    ("credit_change_detail", "change", "salesperson_a", "purchaser_b", DETAIL),
    ("credit_change_create", "a_customer", "salesperson_a", "purchaser_b", WRITE_FORM),
    ("commodity_list", None, "keeper_a", "keeper_b", READ),
    ("commodity_detail", "a_commodity", "keeper_a", "keeper_b", DETAIL),
    ("commodity_edit", "a_commodity", "keeper_a", "keeper_b", WRITE_FORM),
    ("commodity_create", None, "keeper_a", "keeper_b", CREATE_FORM),
    ("warehouse_list", None, "keeper_a", "keeper_b", READ),
    ("warehouse_detail", "warehouse", "keeper_a", "keeper_b", DETAIL),
    ("warehouse_edit", "warehouse", "keeper_a", "keeper_b", WRITE_FORM),
    ("warehouse_create", None, "keeper_a", "keeper_b", CREATE_FORM),
]
WHO = ["anonymous", "no_role", "wrong", "right", "inspector"]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("page", "target", "right", "wrong", "expected"), PAGES)
def test_page_matrix(client, org, trading, world, page, target, right, wrong, expected, who):
    user = {
        "anonymous": None,
        "no_role": org.no_role,
        "wrong": _user(org, trading, wrong),
        "right": _user(org, trading, right),
        "inspector": org.inspector,
    }[who]
    if user is not None:
        client.force_login(user)
    args = [getattr(world, target).pk] if target else []
    response = client.get(reverse(f"trading:{page}", args=args))
    assert response.status_code == expected[who], (page, who)
    if expected[who] == 302:
        assert response["Location"].startswith(reverse("login"))


# ---------------------------------------------------------------- writes through the pages


def _post_matrix(client, org, trading, url, data, *, right, wrong, forbidden=("inspector",)):
    """Every non-right user is refused and nothing is written; returns the right user's
    response."""
    outcomes = {}
    for who, user in (
        ("anonymous", None),
        ("no_role", org.no_role),
        ("wrong", _user(org, trading, wrong)),
        ("inspector", org.inspector),
    ):
        client.logout()
        if user is not None:
            client.force_login(user)
        events = AuditEvent.objects.count()
        outcomes[who] = client.post(url, data).status_code
        assert AuditEvent.objects.count() == events, who
    client.logout()
    client.force_login(_user(org, trading, right))
    return outcomes, client.post(url, data)


def test_partner_edit_through_the_page(client, org, trading, world):
    partner = world.a_partner
    url = reverse("trading:partner_edit", args=[partner.pk])
    data = {
        "code": partner.code,
        "name": "改名后的供应商",
        "kind": partner.kind,
        "uscc": partner.uscc,
        "is_active": "on",
        "version": partner.version,
    }
    outcomes, response = _post_matrix(
        client, org, trading, url, data, right="purchaser_a", wrong="purchaser_b"
    )
    assert outcomes == {"anonymous": 302, "no_role": 404, "wrong": 404, "inspector": 403}
    assert response.status_code == 302
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("改名后的供应商", 2)
    # The same (now stale) form again: a conflict shown on the form, nothing saved.
    response = client.post(url, {**data, "name": "过期表单"})
    assert response.status_code == 200
    partner.refresh_from_db()
    assert partner.name == "改名后的供应商"


def test_partner_create_through_the_page(client, org, trading):
    client.force_login(trading.purchaser_a)
    response = client.post(
        reverse("trading:partner_create"),
        {"company": org.group.pk, "code": "WEB1", "name": "网页登记", "kind": "customer"},
    )
    partner = Partner.objects.get(code="WEB1")
    assert response["Location"] == reverse("trading:partner_detail", args=[partner.pk])
    assert partner.company_id == org.group.pk
    # A company the user may not write under is not a choice.
    response = client.post(
        reverse("trading:partner_create"),
        {"company": org.company_b.pk, "code": "WEB2", "name": "x", "kind": "customer"},
    )
    assert response.status_code == 200
    assert not Partner.objects.filter(code="WEB2").exists()


def test_admission_submit_through_the_page(client, org, trading, world):
    admission = world.admission
    url = reverse("trading:admission_submit", args=[admission.pk])
    outcomes, response = _post_matrix(
        client, org, trading, url, {}, right="purchaser_a", wrong="purchaser_b"
    )
    assert outcomes == {"anonymous": 302, "no_role": 404, "wrong": 404, "inspector": 403}
    assert response.status_code == 302
    admission.refresh_from_db()
    world.a_partner.refresh_from_db()
    assert admission.status == "pending"
    assert world.a_partner.admission_status == AdmissionStatus.PENDING
    page = client.get(reverse("trading:admission_detail", args=[admission.pk]))
    assert b'data-testid="approval-link"' in page.content


def test_credit_change_submit_and_cancel_through_the_page(client, org, trading, world):
    change = world.change
    url = reverse("trading:credit_change_cancel", args=[change.pk])
    outcomes, response = _post_matrix(
        client, org, trading, url, {}, right="salesperson_a", wrong="purchaser_b"
    )
    assert outcomes == {"anonymous": 302, "no_role": 404, "wrong": 404, "inspector": 403}
    change.refresh_from_db()
    assert change.status == "cancelled"
    # Submitting a cancelled change: the refusal is a message, nothing changes.
    response = client.post(reverse("trading:credit_change_submit", args=[change.pk]), follow=True)
    assert response.status_code == 200
    change.refresh_from_db()
    assert change.status == "cancelled"


def test_sanction_through_the_page(client, org, trading):
    supplier = trading.supplier
    url = reverse("trading:partner_suspend", args=[supplier.pk])
    outcomes, response = _post_matrix(
        client, org, trading, url, {"reason": "质量问题"}, right="manager_a", wrong="keeper_b"
    )
    # The group's supplier is shared: B's keeper reads it but may not sanction it.
    assert outcomes == {"anonymous": 302, "no_role": 404, "wrong": 403, "inspector": 403}
    assert response.status_code == 302
    supplier.refresh_from_db()
    assert supplier.admission_status == AdmissionStatus.SUSPENDED


def test_contact_and_qualification_removal_through_the_page(client, org, trading, world):
    url = reverse("trading:partner_contact_remove", args=[world.contact.pk])
    outcomes, _response = _post_matrix(
        client, org, trading, url, {}, right="purchaser_a", wrong="purchaser_b"
    )
    assert outcomes == {"anonymous": 302, "no_role": 404, "wrong": 404, "inspector": 403}
    assert not PartnerContact.objects.filter(pk=world.contact.pk).exists()
    url = reverse("trading:qualification_remove", args=[world.qualification.pk])
    outcomes, _response = _post_matrix(
        client, org, trading, url, {}, right="purchaser_a", wrong="purchaser_b"
    )
    assert outcomes == {"anonymous": 302, "no_role": 404, "wrong": 404, "inspector": 403}
    assert not Qualification.objects.filter(pk=world.qualification.pk).exists()


def test_qualification_upload_and_download(client, org, trading, world):
    client.force_login(trading.purchaser_a)
    response = client.post(
        reverse("trading:qualification_add", args=[world.a_partner.pk]),
        {
            "kind": QualificationKind.QUALITY_CERTIFICATE,
            "name": "ISO 9001",
            "expires_on": "2030-12-31",
            "file": SimpleUploadedFile("iso.png", b"\x89PNG\r\n\x1a\n" + b"0" * 20),
        },
    )
    assert response.status_code == 302
    qualification = Qualification.objects.get(name="ISO 9001")
    client.force_login(org.inspector)
    response = client.get(reverse("trading:qualification_file", args=[qualification.pk]))
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_commodity_and_warehouse_through_the_pages(client, org, trading):
    client.force_login(trading.keeper_a)
    response = client.post(
        reverse("trading:commodity_create"),
        {
            "company": org.group.pk,
            "code": "ORE",
            "name": "铁矿石",
            "unit": "t",
            "tolerance_percent": "0.5",
            "quantity_tolerance_percent": "5",
            "tax_rate": "0.13",
        },
    )
    assert response.status_code == 302
    response = client.post(
        reverse("trading:warehouse_create"),
        {"company": org.company_a.pk, "code": "W2", "name": "二号库", "kind": "own"},
    )
    assert response.status_code == 302
    warehouse = Warehouse.objects.get(code="W2")
    response = client.post(
        reverse("trading:warehouse_edit", args=[warehouse.pk]),
        {
            "code": "W2",
            "name": "二号库（改）",
            "kind": "third_party",
            "keeper": trading.keeper_a.pk,
            "is_active": "on",
            "version": 1,
        },
    )
    assert response.status_code == 302
    warehouse.refresh_from_db()
    assert (warehouse.kind, warehouse.keeper_id, warehouse.version) == (
        "third_party",
        trading.keeper_a.pk,
        2,
    )
    steel = trading.steel
    response = client.post(
        reverse("trading:commodity_edit", args=[steel.pk]),
        {
            "code": steel.code,
            "name": steel.name,
            "spec": steel.spec,
            "unit": "t",
            "tolerance_percent": "0.40",
            "quantity_tolerance_percent": "5",
            "tax_rate": "0.13",
            "is_active": "on",
            "version": steel.version,
        },
    )
    assert response.status_code == 302
    steel.refresh_from_db()
    assert steel.tolerance_percent == Decimal("0.40")


# ---------------------------------------------------------------- phone layout and queries


def test_pages_are_phone_friendly(client, trading, world):
    client.force_login(trading.purchaser_a)
    for name, args in (
        ("partner_list", []),
        ("partner_detail", [world.a_partner.pk]),
        ("admission_detail", [world.admission.pk]),
    ):
        content = client.get(reverse(f"trading:{name}", args=args)).content.decode()
        assert 'name="viewport"' in content
        assert "table-responsive-stack" in content


@pytest.mark.parametrize(
    "page",
    [
        "partner_list",
        "commodity_list",
        "warehouse_list",
        "admission_list",
        "credit_change_list",
        "qualification_expiring",
    ],
)
def test_list_pages_do_not_grow_with_the_rows(client, org, trading, world, page):
    client.force_login(org.inspector)
    url = reverse(f"trading:{page}")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    def grow(start, count):
        for index in range(start, start + count):
            partner = make_partner(company=org.group, kind=PartnerKind.BOTH)
            Qualification.objects.create(
                partner=partner, kind="other", name=f"q{index}", expires_on=clock.today()
            )
            make_commodity(company=org.group)
            Warehouse.objects.create(company=org.company_b, code=f"X{index}", name="x", kind="own")
            SupplierAdmission.objects.create(
                company=org.company_b,
                number=f"T-{index}",
                partner=partner,
                applicant=trading.purchaser_b,
            )
            CreditChange.objects.create(
                company=org.company_b,
                number=f"T-{index}",
                partner=partner,
                previous_limit=0,
                previous_days=0,
                credit_limit=1,
                payment_days=1,
                requested_by=trading.purchaser_b,
            )

    grow(0, 1)  # one row of each, so the baseline renders a filled table
    queries()  # the first request of a session also refreshes the session
    baseline = queries()
    assert baseline <= 12
    grow(1, 8)
    assert queries() == baseline

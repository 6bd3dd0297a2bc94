"""Authorization matrix over every master-data API endpoint (anonymous, no role, wrong company,
right company, inspector), the error shape, and the writes through the API."""

from __future__ import annotations

import json
from io import BytesIO

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from qinglian.audit.models import AuditEvent
from qinglian.trading.enums import AdmissionStatus, PartnerKind, QualificationKind
from qinglian.trading.factories import make_commodity, make_partner
from qinglian.trading.importing import PARTNERS
from qinglian.trading.models import Partner, Qualification
from qinglian.trading.services import master as services

API = "/api/trading"
WHO = ["anonymous", "no_role", "wrong", "right", "inspector"]


@pytest.fixture
def world(org, trading, master_flows, shared_layers):
    return shared_layers.get("world", build_world, org, trading, master_flows)


def build_world(org, trading, master_flows):
    a_partner = make_partner(
        company=org.company_a, kind=PartnerKind.SUPPLIER, admission_status="not_admitted"
    )
    a_customer = make_partner(company=org.company_a, kind=PartnerKind.CUSTOMER)
    return {
        "a_partner": a_partner,
        "a_admitted": make_partner(company=org.company_a, kind=PartnerKind.SUPPLIER),
        "a_customer": a_customer,
        "contact": services.partner_contact_add(
            actor=trading.purchaser_a, partner_id=a_partner.pk, name="联系人"
        ),
        "qualification": services.qualification_add(
            actor=trading.purchaser_a,
            partner_id=a_partner.pk,
            kind=QualificationKind.BUSINESS_LICENCE,
        ),
        "admission": services.supplier_admission_create(
            actor=trading.purchaser_a, partner_id=a_partner.pk
        ),
        "change": services.credit_change_create(
            actor=trading.salesperson_a,
            partner_id=a_customer.pk,
            credit_limit="1000",
            payment_days=10,
            reason="试单",
        ),
        "a_commodity": make_commodity(company=org.company_a),
        "warehouse": trading.warehouse_a,
    }


def client_for(org, trading, who, right, wrong):
    client = Client()
    user = {
        "anonymous": None,
        "no_role": org.no_role,
        "wrong": getattr(trading, wrong),
        "right": getattr(trading, right),
        "inspector": org.inspector,
    }[who]
    if user is not None:
        client.force_login(user)
    return client


def call(client, method, url, body=None):
    kwargs = {}
    if body is not None:
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
    return getattr(client, method)(url, **kwargs)


def assert_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["message"]


LIST = {"anonymous": 401, "no_role": 200, "wrong": 200, "right": 200, "inspector": 200}
DETAIL = {"anonymous": 401, "no_role": 404, "wrong": 404, "right": 200, "inspector": 200}
READS = [
    ("partners", None, "purchaser_a", "purchaser_b", LIST),
    ("partners/{}", "a_partner", "purchaser_a", "purchaser_b", DETAIL),
    ("partners/{}/supply-check", "a_partner", "purchaser_a", "purchaser_b", DETAIL),
    ("qualifications/expiring", None, "purchaser_a", "purchaser_b", LIST),
    ("admissions", None, "purchaser_a", "purchaser_b", LIST),
    ("admissions/{}", "admission", "purchaser_a", "purchaser_b", DETAIL),
    ("credit-changes", None, "salesperson_a", "purchaser_b", LIST),
    ("credit-changes/{}", "change", "salesperson_a", "purchaser_b", DETAIL),
    ("commodities", None, "keeper_a", "keeper_b", LIST),
    ("commodities/{}", "a_commodity", "keeper_a", "keeper_b", DETAIL),
    ("warehouses", None, "keeper_a", "keeper_b", LIST),
    ("warehouses/{}", "warehouse", "keeper_a", "keeper_b", DETAIL),
]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("path", "target", "right", "wrong", "expected"), READS)
def test_read_matrix(org, trading, world, path, target, right, wrong, expected, who):
    client = client_for(org, trading, who, right, wrong)
    url = f"{API}/{path.format(world[target].pk if target else '')}"
    response = client.get(url)
    if expected[who] != 200:
        assert_error(response, expected[who])
    else:
        assert response.status_code == 200, response.content


def test_lists_are_scoped(org, trading, world):
    def codes(user, path="partners"):
        client = Client()
        client.force_login(user)
        return {row["code"] for row in client.get(f"{API}/{path}").json()["items"]}

    a_codes = {world[key].code for key in ("a_partner", "a_admitted", "a_customer")}
    group_codes = {trading.supplier.code, trading.customer.code}
    assert codes(trading.purchaser_a) == a_codes | group_codes
    assert codes(trading.purchaser_b) == group_codes
    assert codes(org.inspector) == a_codes | group_codes
    assert codes(org.no_role) == set()
    assert codes(trading.keeper_b, "warehouses") == {"WB"}


# method, path, target, body, right, wrong, {who: status}
WRITE = {"anonymous": 401, "no_role": 404, "wrong": 404, "inspector": 403}
CREATE = {"anonymous": 401, "no_role": 403, "inspector": 403}
WRITES = [
    ("patch", "partners/{}", "a_partner", {"phone": "010-12345678"}, "purchaser_a", "purchaser_b"),
    ("post", "partners/{}/suspend", "a_admitted", {"reason": "x"}, "manager_a", "purchaser_b"),
    ("post", "partners/{}/blacklist", "a_partner", {"reason": "x"}, "manager_a", "purchaser_b"),
    ("post", "partners/{}/contacts", "a_partner", {"name": "新"}, "purchaser_a", "purchaser_b"),
    ("patch", "contacts/{}", "contact", {"position": "经理"}, "purchaser_a", "purchaser_b"),
    ("delete", "contacts/{}", "contact", None, "purchaser_a", "purchaser_b"),
    ("patch", "qualifications/{}", "qualification", {"number": "N1"}, "purchaser_a", "purchaser_b"),
    ("delete", "qualifications/{}", "qualification", None, "purchaser_a", "purchaser_b"),
    ("patch", "admissions/{}", "admission", {"reason": "新理由"}, "purchaser_a", "purchaser_b"),
    ("post", "admissions/{}/cancel", "admission", None, "purchaser_a", "purchaser_b"),
    ("post", "credit-changes/{}/cancel", "change", None, "salesperson_a", "purchaser_b"),
    ("patch", "commodities/{}", "a_commodity", {"spec": "新规格"}, "keeper_a", "keeper_b"),
    ("patch", "warehouses/{}", "warehouse", {"address": "新地址"}, "keeper_a", "keeper_b"),
]


@pytest.mark.parametrize(("method", "path", "target", "body", "right", "wrong"), WRITES)
def test_write_matrix(org, trading, world, method, path, target, body, right, wrong):
    url = f"{API}/{path.format(world[target].pk)}"
    for who, status in WRITE.items():
        client = client_for(org, trading, who, right, wrong)
        events = AuditEvent.objects.count()
        assert_error(call(client, method, url, body), status)
        assert AuditEvent.objects.count() == events, who
    client = client_for(org, trading, "right", right, wrong)
    events = AuditEvent.objects.count()
    response = call(client, method, url, body)
    assert response.status_code in (200, 201, 204), response.content
    assert AuditEvent.objects.count() > events


CREATES = [
    (
        "partners",
        lambda org, world: {
            "company_id": org.group.pk,
            "code": "API1",
            "name": "接口",
            "kind": "customer",
        },
        "purchaser_a",
    ),
    (
        "admissions",
        lambda org, world: {
            "partner_id": make_partner(company=org.group, admission_status="not_admitted").pk
        },
        "purchaser_a",
    ),
    (
        "credit-changes",
        lambda org, world: {
            "partner_id": make_partner(company=org.group, kind="customer").pk,
            "credit_limit": "10",
            "payment_days": 5,
            "reason": "接口",
        },
        "salesperson_a",
    ),
    (
        "commodities",
        lambda org, world: {"company_id": org.group.pk, "code": "API-C", "name": "接口商品"},
        "keeper_a",
    ),
    (
        "warehouses",
        lambda org, world: {"company_id": org.company_a.pk, "code": "API-W", "name": "接口库"},
        "keeper_a",
    ),
]


@pytest.mark.parametrize(("path", "body", "right"), CREATES)
def test_create_matrix(org, trading, world, path, body, right):
    url = f"{API}/{path}"
    payload = body(org, world)
    for who, status in CREATE.items():
        client = client_for(org, trading, who, right, right)
        events = AuditEvent.objects.count()
        assert_error(call(client, "post", url, payload), status)
        assert AuditEvent.objects.count() == events, who
    client = client_for(org, trading, "right", right, right)
    response = call(client, "post", url, payload)
    assert response.status_code == 201, response.content


def test_partner_create_and_stale_update(org, trading):
    client = Client()
    client.force_login(trading.purchaser_a)
    response = call(
        client,
        "post",
        f"{API}/partners",
        {
            "company_id": org.group.pk,
            "code": "API2",
            "name": "接口供应商",
            "kind": "supplier",
            "contacts": [{"name": "甲", "phone": "13800000000"}],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["admission_status"] == AdmissionStatus.NOT_ADMITTED
    assert [c["name"] for c in body["contacts"]] == ["甲"]
    url = f"{API}/partners/{body['id']}"
    assert call(client, "patch", url, {"version": 1, "name": "改"}).json()["version"] == 2
    response = call(client, "patch", url, {"version": 1, "name": "旧"})
    assert_error(response, 409)
    assert response.json()["error"]["code"] == "trading.stale_version"
    response = call(client, "post", f"{API}/partners", {**body, "uscc": "bad", "code": "API3"})
    assert_error(response, 422)
    assert "uscc" in response.json()["error"]["fields"]


def test_admission_lifecycle_through_the_api(org, trading, world):
    client = Client()
    client.force_login(trading.purchaser_a)
    admission = world["admission"]
    response = call(client, "post", f"{API}/admissions/{admission.pk}/submit")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "pending"
    assert response.json()["approval_request_id"]
    supply = client.get(f"{API}/partners/{world['a_partner'].pk}/supply-check").json()
    assert supply["may_supply"] is False


def test_qualification_upload_through_the_api(org, trading, world):
    client = Client()
    client.force_login(trading.purchaser_a)
    partner = world["a_partner"]
    response = client.post(
        f"{API}/partners/{partner.pk}/qualifications",
        {
            "kind": "quality_certificate",
            "name": "ISO",
            "expires_on": "2031-01-01",
            "file": SimpleUploadedFile("iso.pdf", b"%PDF-1.7 test"),
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["has_file"] is True
    assert Qualification.objects.get(name="ISO").file
    client.force_login(org.inspector)
    response = client.post(
        f"{API}/partners/{partner.pk}/qualifications", {"kind": "other", "name": "x"}
    )
    assert_error(response, 403)


def test_import_through_the_api(org, trading):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = PARTNERS.name
    sheet.append(["所属单位编码", "编码", "名称", "类型"])
    sheet.append(["G", "API-IMP", "接口导入", "客户"])
    sheet.append(["G", "", "缺编码", "客户"])
    output = BytesIO()
    book.save(output)
    client = Client()
    client.force_login(trading.salesperson_a)
    upload = SimpleUploadedFile("p.xlsx", output.getvalue())
    body = client.post(f"{API}/master-data/import", {"file": upload}).json()
    assert body["is_success"] is False
    assert [(p["row"], p["column"]) for p in body["problems"]] == [(3, "B")]
    assert not Partner.objects.filter(code="API-IMP").exists()
    client.force_login(org.inspector)
    upload = SimpleUploadedFile("p.xlsx", output.getvalue())
    assert_error(client.post(f"{API}/master-data/import", {"file": upload}), 403)
    assert_error(client.get(f"{API}/master-data/import/template"), 403)

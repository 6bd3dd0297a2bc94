"""Authorization matrix over every org endpoint: anonymous, no role, other company, own company
(read-only role), own company administrator, group-wide inspector."""

import json

import pytest
from django.test import Client

from qinglian.audit.models import AuditEvent
from qinglian.org.factories import make_uscc
from qinglian.org.models import Company
from qinglian.org.services import api_token_create

WHO = ["anonymous", "no_role", "handler_b", "handler_a", "admin_a", "inspector"]


def client_for(org, who):
    client = Client()
    if who != "anonymous":
        client.force_login(getattr(org, who))
    return client


def call(client, method, url, body=None):
    kwargs = {}
    if body is not None:
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
    return getattr(client, method)(url, **kwargs)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response["X-Request-ID"]


LIST_EXPECTATIONS = {
    # who: (companies, users visible) in the org fixture
    "no_role": (set(), 0),
    "handler_b": ({"B"}, 1),
    "handler_a": ({"A"}, 3),
    "admin_a": ({"A"}, 3),
    "inspector": ({"A", "B", "G"}, 7),
}


@pytest.mark.parametrize("who", WHO)
def test_lists(org, who):
    client = client_for(org, who)
    for path in ["companies", "departments", "users", "projects", "role-assignments", "roles"]:
        response = client.get(f"/api/org/{path}")
        if who == "anonymous":
            assert_error(response, 401, "not_authenticated")
            continue
        assert response.status_code == 200, (path, response.content)
    if who == "anonymous":
        return
    companies, users = LIST_EXPECTATIONS[who]
    body = client.get("/api/org/companies").json()
    assert {c["code"] for c in body["items"]} == companies
    assert body["count"] == len(companies)
    assert client.get("/api/org/users").json()["count"] == users
    projects = client.get("/api/org/projects").json()["items"]
    assert [p["id"] for p in projects] == ([org.project_a.pk] if "A" in companies else [])
    assert len(client.get("/api/org/roles").json()) == 13


DETAIL_STATUS = {
    "anonymous": 401,
    "no_role": 404,
    "handler_b": 404,
    "handler_a": 200,
    "admin_a": 200,
    "inspector": 200,
}


@pytest.mark.parametrize("who", WHO)
def test_details_of_company_a_objects(org, who):
    client = client_for(org, who)
    urls = [
        f"/api/org/companies/{org.company_a.pk}",
        f"/api/org/departments/{org.department_a.pk}",
        f"/api/org/users/{org.handler_a.pk}",
        f"/api/org/projects/{org.project_a.pk}",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == DETAIL_STATUS[who], url
        if response.status_code == 404:
            missing = client.get(url.rsplit("/", 1)[0] + "/999999")
            assert response.json()["error"]["message"] == missing.json()["error"]["message"]


WRITE_STATUS = {
    "anonymous": 401,
    "no_role": 404,
    "handler_b": 404,
    "handler_a": 403,
    "inspector": 403,
}


def _writes(org):
    return [
        (
            "post",
            "/api/org/companies",
            {
                "code": "A1",
                "name": "甲子公司",
                "uscc": make_uscc(950),
                "parent_id": org.company_a.pk,
            },
        ),
        ("patch", f"/api/org/companies/{org.company_a.pk}", {"address": "新址"}),
        (
            "post",
            "/api/org/departments",
            {"company_id": org.company_a.pk, "code": "NEW", "name": "新部门"},
        ),
        ("patch", f"/api/org/departments/{org.department_a.pk}", {"name": "改名"}),
        (
            "post",
            "/api/org/users",
            {
                "username": "newbie",
                "employee_number": "N1",
                "name": "新人",
                "company_id": org.company_a.pk,
            },
        ),
        ("patch", f"/api/org/users/{org.handler_a.pk}", {"phone": "13800000000"}),
        (
            "post",
            "/api/org/role-assignments",
            {"user_id": org.handler_a.pk, "role": "finance", "company_id": org.company_a.pk},
        ),
        ("delete", f"/api/org/role-assignments/{org.handler_a.role_assignments.get().pk}", None),
        (
            "post",
            "/api/org/projects",
            {
                "company_id": org.company_a.pk,
                "code": "PN",
                "name": "新项目",
                "leader_id": org.handler_a.pk,
            },
        ),
        ("patch", f"/api/org/projects/{org.project_a.pk}", {"name": "改名项目"}),
    ]


@pytest.mark.parametrize("who", list(WRITE_STATUS))
def test_refused_writes_change_nothing(org, who):
    client = client_for(org, who)
    events = AuditEvent.objects.count()
    for method, url, body in _writes(org):
        response = call(client, method, url, body)
        expected = WRITE_STATUS[who]
        assert response.status_code == expected, (method, url, response.content)
        assert set(response.json()) == {"error"}
    assert AuditEvent.objects.count() == events
    org.company_a.refresh_from_db()
    assert org.company_a.address == ""


def test_admin_of_a_can_write_a(org):
    client = client_for(org, "admin_a")
    expected = [201, 200, 201, 200, 201, 200, 201, 204, 201, 200]
    for (method, url, body), status in zip(_writes(org), expected, strict=True):
        response = call(client, method, url, body)
        assert response.status_code == status, (method, url, response.content)
    assert Company.objects.filter(code="A1", parent=org.company_a).exists()
    assert AuditEvent.objects.filter(action="org.project.updated").count() == 1


def test_admin_of_a_cannot_write_b(org):
    client = client_for(org, "admin_a")
    response = call(client, "patch", f"/api/org/companies/{org.company_b.pk}", {"address": "x"})
    assert_error(response, 404, "not_found")


def test_validation_errors_name_the_field(org):
    client = client_for(org, "admin_a")
    bad = make_uscc(951)[:-1] + ("0" if make_uscc(951)[-1] != "0" else "1")
    response = call(
        client,
        "post",
        "/api/org/companies",
        {"code": "A1", "name": "甲子公司", "uscc": bad, "parent_id": org.company_a.pk},
    )
    assert_error(response, 422, "invalid")
    assert list(response.json()["error"]["fields"]) == ["uscc"]
    response = call(client, "post", "/api/org/companies", {"code": "A1"})
    assert_error(response, 422, "invalid")
    assert {"name", "uscc", "parent_id"} <= set(response.json()["error"]["fields"])


def test_stale_version_is_a_conflict(org):
    client = client_for(org, "admin_a")
    url = f"/api/org/companies/{org.company_a.pk}"
    assert call(client, "patch", url, {"version": 1, "address": "一"}).status_code == 200
    assert_error(
        call(client, "patch", url, {"version": 1, "address": "二"}), 409, "org.stale_version"
    )


def test_session_writes_need_the_csrf_token(org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org.admin_a)
    response = call(client, "patch", f"/api/org/companies/{org.company_a.pk}", {"address": "x"})
    assert response.status_code == 403
    org.company_a.refresh_from_db()
    assert org.company_a.address == ""


def test_bearer_token_authenticates_without_csrf(org):
    secret = api_token_create(actor=org.admin_a, name="OA").secret
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {secret}"})
    assert client.get("/api/org/me").json()["user"]["username"] == "admin_a"
    response = call(client, "patch", f"/api/org/companies/{org.company_a.pk}", {"address": "OA"})
    assert response.status_code == 200
    bad = Client(headers={"Authorization": "Bearer ql_wrong"})
    assert_error(bad.get("/api/org/me"), 401, "not_authenticated")


def test_token_endpoints_issue_once_and_revoke(org):
    client = client_for(org, "handler_a")
    issued = call(client, "post", "/api/org/tokens", {"name": "脚本"})
    assert issued.status_code == 201
    secret = issued.json()["secret"]
    listed = client.get("/api/org/tokens").json()
    assert "secret" not in listed[0]
    assert listed[0]["prefix"] == secret[:8]
    assert call(client, "delete", f"/api/org/tokens/{listed[0]['id']}").status_code == 204
    other = client_for(org, "handler_b")
    assert call(other, "delete", f"/api/org/tokens/{listed[0]['id']}").status_code == 404


def test_unknown_api_paths_answer_in_the_error_shape(org):
    assert_error(client_for(org, "inspector").get("/api/no/such/thing"), 404, "not_found")


def test_openapi_schema_and_docs_are_served_locally(org):
    client = client_for(org, "inspector")
    schema = client.get("/api/openapi.json").json()
    assert "/api/org/companies" in schema["paths"]
    assert "/api/audit/verify" in schema["paths"]
    docs = client.get("/api/docs").content.decode()
    assert "cdn" not in docs.lower()
    assert "https://" not in docs
